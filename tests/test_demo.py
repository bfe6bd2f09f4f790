"""``make demo`` (``python -m vesselnet.demo --out results``) with its own defaults, end to end.

What the user runs is what is tested: :func:`run_demo` with no argument but the output folder
(``make demo`` passes ``--out results`` only). The claims of the demo are checked against its
own files, not only against its summary: every training step held every scale and a non-zero
contrastive term (``train/steps.csv``), the held-out phantom is larger than the training
volumes (sliding windows), and the prediction is a learned one (DSC well above an empty or
full mask). One run, about 1.5 min on 2 idle cores (1 torch thread).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from vesselnet.demo import run_demo

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("demo") / "results"
    return out, run_demo(out)


def test_demo_writes_what_it_lists(demo):
    out, summary = demo
    assert json.loads((out / "demo_summary.json").read_text()) == summary
    assert len(summary["figures"]) >= 5
    for f in summary["figures"] + [summary["table"], summary["prediction"]["mask"]]:
        assert Path(f).is_file() and Path(f).resolve().is_relative_to(out.resolve()), f
    table = (out / "demo_table.md").read_text()
    assert "DSC" in table and "Recall s1" in table and "multitask-contrastive" in table


def test_every_training_batch_holds_all_scales_and_a_contrastive_term(demo):
    from vesselnet.data import PreparedDataset
    from vesselnet.demo import DEFAULTS

    out, summary = demo
    steps = pd.read_csv(out / "train" / "steps.csv")
    assert len(steps) == DEFAULTS["epochs"] * (DEFAULTS["n_train"] // 2) == summary["training"]["steps"]
    assert steps["missing_scales"].isna().all()
    assert (steps["contrastive"] > 0).all()
    assert summary["training"]["steps_without_contrast"] == summary["training"]["steps_missing_a_scale"] == 0
    ds = PreparedDataset(out / "prepared")
    for cid in summary["scale_targets"]["cases_used"]:
        assert (ds[cid].scales.reshape(3, -1).sum(1) > 0).all(), cid


def test_heldout_phantom_is_predicted_with_sliding_windows_and_learned(demo):
    from vesselnet.demo import DEFAULTS
    from vesseltree.io import load_volume

    out, summary = demo
    pred = load_volume(summary["prediction"]["mask"])
    gt = load_volume(out / "heldout" / "gt" / "heldout.nii.gz")
    assert pred.shape == gt.shape == tuple(DEFAULTS["test_shape"])
    assert any(t > s for t, s in zip(DEFAULTS["test_shape"], DEFAULTS["train_shape"]))
    assert summary["prediction"]["windows"] > 1
    p, g = np.asarray(pred.data) > 0, np.asarray(gt.data) > 0
    dsc = 2 * (p & g).sum() / (p.sum() + g.sum())
    assert dsc == pytest.approx(summary["metrics"]["dsc"], abs=1e-4)
    full = 2 * g.sum() / (g.size + g.sum())  # DSC of predicting everything
    assert dsc > 0.4 > 10 * full  # a learned segmentation, not a trivial mask
    assert summary["training"]["last_epoch_mean"]["total"] < summary["training"]["first_step"]["total"]


def test_radius_of_the_heldout_tree_matches_the_phantom(demo):
    _, summary = demo
    acc = summary["scale_targets"]["heldout_radius_accuracy"]
    assert acc["branches_compared"] >= 5
    assert acc["median_abs_error_voxels"] <= 0.3


def test_demo_bad_arguments_exit_2(tmp_path, capsys):
    from vesselnet.demo import main

    assert main(["--out", str(tmp_path), "--n-train", "1", "--epochs", "1"]) == 2
    assert "n_train" in capsys.readouterr().err

"""The demo (``make demo``) runs end to end on a small phantom and writes what it lists."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vesselnet.demo import main, run_demo


def test_demo_small_phantom(tmp_path):
    pytest.importorskip("torch")
    summary = run_demo(tmp_path, shape=(40, 64, 64), seed=3, train_steps=1, crop=32)
    assert json.loads((tmp_path / "demo_summary.json").read_text()) == summary
    for rel in ("phantom/mask.nii.gz", "phantom/ct.nii.gz", "analysis/vessels/branches.csv",
                "analysis/vessels/scales.nii.gz", "evaluation/metrics.csv", "evaluation/summary.md"):
        assert (tmp_path / rel).is_file(), rel
    # the corrected radius estimator is checked against the phantom's ground truth
    acc = summary["radius_accuracy"]
    assert acc["branches_compared"] >= 1
    assert acc["corrected_median_abs_error_voxels"] <= 0.3
    steps = summary["training_smoke"]["loss_terms_per_step"]
    assert len(steps) == 1 and np.isfinite(steps[0]["total"])
    assert steps[0]["contrastive"] > 0  # Eq. 7-8 active even with a batch of one


def test_demo_bad_mask_path_exits_2(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--mask", str(tmp_path / "missing.nii.gz")]) == 2
    assert "missing.nii.gz" in capsys.readouterr().err

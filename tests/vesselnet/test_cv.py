"""``vesselnet cv``: saved splits, per-fold training/prediction/evaluation, the Table-1 report,
failed folds, resuming, bad splits (vesselnet.cv)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import vesselnet.train.trainer as trainer_mod
from vesselnet.cli import main
from vesselnet.cv import build_report, check_splits, load_splits, make_splits, run_cv, save_splits
from vesselnet.data import PrepareConfig, SyntheticSource
from vesselnet.train.config import PRESETS

torch.set_num_threads(1)

TINY = {"model": {"depth": 1, "base_channels": 2, "proj_dim": 4}, "data": {"augment": None},
        "optim": {"lr": 3e-3}, "run": {"epochs": 2, "progress": False, "tensorboard": False,
                                       "val_every": 0}}
PREP = PrepareConfig(crop="none", target_shape=(16, 16, 16))
REAL_TRAIN = trainer_mod.train


def source(n=4, seed=0):
    return SyntheticSource(n_cases=n, shape=(20, 20, 20), seed=seed)


@pytest.fixture(scope="module")
def four_presets(tmp_path_factory):
    out = tmp_path_factory.mktemp("cv") / "cv"
    res = run_cv(source(6), out, PRESETS, folds=3, overrides=TINY, prepare_config=PREP, device="cpu",
                 quiet=True)
    return out, res


# ---------------------------------------------------------------------------------------------
# the report


def test_four_presets_give_the_table1_layout(four_presets):
    out, res = four_presets
    assert not res.failed and len(res.done) == 4 * 3
    md = (out / "report" / "table1.md").read_text()
    table = md.split("### Table 1")[1].split("###")[0]
    lines = [ln for ln in table.splitlines() if ln.startswith("|")]
    header = lines[0]
    for col in ("DSC ↑ (%)", "Jacc ↑ (%)", "clDSC ↑ (%)", "HD ↓ (mm)", "HD95 ↓ (mm)", "Recall s1 ↑ (%)",
                "Recall s3 ↑ (%)"):
        assert col in header
    rows = lines[2:]
    assert [r.split("|")[1].strip() for r in rows] == list(PRESETS)
    for r in rows:
        cells = [c.strip().strip("*") for c in r.split("|")[2:-1]]
        assert len(cells) == 8 and all(" ± " in c or c.startswith("n/a") for c in cells), r
    assert (out / "report" / "figures" / "fig5_multitask-contrastive.png").is_file()


def test_table1_numbers_are_the_fold_means_of_the_per_case_tables(four_presets):
    out, _ = four_presets
    cases = pd.read_csv(out / "report" / "cases.csv")
    table = pd.read_csv(out / "report" / "table1.csv", index_col="preset")
    splits = load_splits(out / "splits.json")
    for preset in PRESETS:
        mine = cases[cases["preset"] == preset]
        # every case held out exactly once, in the fold the splits file says
        assert sorted(mine["case"]) == sorted(c for f in splits for c in f)
        for k, fold in enumerate(splits):
            assert sorted(mine[mine["fold"] == k]["case"]) == sorted(fold)
        for col in ("dsc", "cldice", "hd95", "recall_s2"):
            per_fold = mine.groupby("fold")[col].mean().to_numpy()
            assert table.loc[preset, f"{col}_mean"] == pytest.approx(per_fold.mean(), rel=1e-9, abs=1e-12)
            assert table.loc[preset, f"{col}_std"] == pytest.approx(per_fold.std(ddof=0), rel=1e-9, abs=1e-12)
        for k in range(3):
            res = json.loads((out / preset / f"fold_{k}" / "result.json").read_text())
            assert res["test"] == splits[k] and not set(res["train"]) & set(splits[k])


def test_report_is_rebuilt_from_saved_results(four_presets, tmp_path):
    out, res = four_presets
    again = build_report(out, figures=False)
    assert again["markdown"].split("### Fig. 5")[0].rstrip() == res.report["markdown"].split("### Fig. 5")[0].rstrip()


# ---------------------------------------------------------------------------------------------
# failures and resuming


def _spy(monkeypatch, fail=None, interrupt_at=None, stop_after_epoch=None):
    """Wrap the trainer: record calls, fail one (preset, fold), or stop the n-th call."""
    real = REAL_TRAIN
    calls, fired = [], []

    def wrapped(config, train_ds, val_ds, out_dir, **kw):
        calls.append((config.name, kw.get("resume")))
        if fail and config.name == fail:
            raise trainer_mod.TrainingError(f"non-finite loss at step 1 (injected) in {config.name}")
        if interrupt_at is not None and len(calls) == interrupt_at and not fired:
            fired.append(True)  # once: a rerun that retrains everything must fail, not stop
            if stop_after_epoch:
                real(config.replace({"run": {"epochs": stop_after_epoch}}), train_ds, val_ds, out_dir, **kw)
            raise KeyboardInterrupt
        return real(config, train_ds, val_ds, out_dir, **kw)

    monkeypatch.setattr(trainer_mod, "train", wrapped)
    return calls


def test_failed_fold_is_reported_and_rerun(tmp_path, monkeypatch, capsys):
    calls = _spy(monkeypatch, fail="multitask-fold1")
    res = run_cv(source(), tmp_path / "cv", ["resunet-binary", "multitask"], folds=2, overrides=TINY,
                 prepare_config=PREP, device="cpu", quiet=True, figures=False)
    assert res.failed == [("multitask", 1)] and len(res.done) == 3
    md = (tmp_path / "cv" / "report" / "table1.md").read_text()
    assert "multitask (fold 1 failed)" in md and "injected" in md
    summary = pd.read_csv(tmp_path / "cv" / "report" / "table1.csv", index_col="preset")
    assert summary.loc["multitask", "folds_done"] == 1 and summary.loc["multitask", "folds_failed"] == 1
    # run again: only the failed fold is trained
    calls = _spy(monkeypatch)
    res = run_cv(source(), tmp_path / "cv", ["resunet-binary", "multitask"], folds=2, overrides=TINY,
                 prepare_config=PREP, device="cpu", quiet=True, figures=False)
    assert calls == [("multitask-fold1", False)] and not res.failed


def test_stopped_cv_resumes_where_it_stopped(tmp_path, monkeypatch):
    presets = ["resunet-binary", "multitask-contrastive"]
    calls = _spy(monkeypatch, interrupt_at=3, stop_after_epoch=1)
    with pytest.raises(KeyboardInterrupt):
        run_cv(source(), tmp_path / "cv", presets, folds=2, overrides=TINY, prepare_config=PREP,
               device="cpu", quiet=True, figures=False)
    assert [c[0] for c in calls] == ["resunet-binary-fold0", "multitask-contrastive-fold0", "resunet-binary-fold1"]
    run_dir = tmp_path / "cv" / "resunet-binary" / "fold_1" / "run"
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert not (tmp_path / "cv" / "resunet-binary" / "fold_1" / "result.json").exists()
    calls.clear()
    res = run_cv(source(), tmp_path / "cv", presets, overrides=TINY, prepare_config=PREP, device="cpu",
                 quiet=True, figures=False)
    # the stopped training continues from its checkpoint; finished folds are not retrained
    assert calls == [("resunet-binary-fold1", True), ("multitask-contrastive-fold1", False)]
    assert not res.failed and len(res.done) == 4
    steps = pd.read_csv(run_dir / "steps.csv")
    assert steps["epoch"].max() == 1  # epochs 0 and 1: the second one after the resume


def test_other_settings_in_the_same_folder_are_refused(tmp_path):
    kw = dict(prepare_config=PREP, device="cpu", quiet=True, figures=False)
    run_cv(source(), tmp_path / "cv", ["resunet-binary"], folds=2, overrides=TINY, **kw)
    other = {**TINY, "run": {**TINY["run"], "epochs": 3}}
    with pytest.raises(ValueError, match=r"other settings \(differs at presets.resunet-binary\)"):
        run_cv(source(), tmp_path / "cv", ["resunet-binary"], overrides=other, **kw)
    with pytest.raises(ValueError, match="folds: 3 requested"):
        run_cv(source(), tmp_path / "cv", ["resunet-binary"], folds=3, overrides=TINY, **kw)
    res = run_cv(source(), tmp_path / "cv", ["resunet-binary"], folds=2, overrides=other, overwrite=True, **kw)
    assert len(res.done) == 2


# ---------------------------------------------------------------------------------------------
# splits


@given(n=st.integers(2, 60), k=st.integers(2, 10), seed=st.integers(0, 2**32 - 1))
def test_make_splits_is_a_seeded_balanced_partition(n, k, seed):
    ids = [f"c{i:03d}" for i in range(n)]
    if k > n:
        with pytest.raises(ValueError, match=f"{k} folds need at least {k} cases"):
            make_splits(ids, k, seed)
        return
    folds = make_splits(ids, k, seed)
    flat = [c for f in folds for c in f]
    assert sorted(flat) == ids and len(folds) == k
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    assert folds == make_splits(ids, k, seed)


def test_bad_splits_are_clear_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match="disjoint"):
        check_splits([["a", "b"], ["b"]])
    with pytest.raises(ValueError, match="fold 1 is empty"):
        check_splits([["a"], []])
    save_splits(tmp_path / "s.json", [["synthetic_000", "ghost_7"], ["synthetic_001"]])
    with pytest.raises(ValueError, match="names 1 case.*ghost_7"):
        run_cv(source(), tmp_path / "cv", ["resunet-binary"], splits=tmp_path / "s.json", overrides=TINY,
               prepare_config=PREP, device="cpu", quiet=True)
    assert not (tmp_path / "cv" / "cv.json").exists()
    # through the command line: one line, exit code 2
    (tmp_path / "p.yaml").write_text("crop: none\ntarget_shape: [16, 16, 16]\n")
    code = main(["cv", "--data", "synthetic:3", "--out", str(tmp_path / "cv2"), "--folds", "5",
                 "--presets", "resunet-binary", "--prepare-config", str(tmp_path / "p.yaml"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "5 folds need at least 5 cases" in err and "has 3" in err


def test_reusing_another_cvs_splits(tmp_path, four_presets):
    out, _ = four_presets
    folds = load_splits(out / "splits.json")
    res = run_cv(source(6), tmp_path / "cv", ["resunet-binary"], splits=out / "splits.json",
                 overrides=TINY, prepare_config=PREP, device="cpu", quiet=True, figures=False)
    assert res.folds == folds and load_splits(tmp_path / "cv" / "splits.json") == folds
    a = pd.read_csv(out / "report" / "cases.csv")
    b = pd.read_csv(tmp_path / "cv" / "report" / "cases.csv")
    a = a[a["preset"] == "resunet-binary"].set_index("case")["dsc"].sort_index()
    np.testing.assert_allclose(b.set_index("case")["dsc"].sort_index(), a, rtol=1e-9)  # same seed, same result

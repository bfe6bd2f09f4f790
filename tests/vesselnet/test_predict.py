"""``vesselnet predict`` and its library (vesselnet.predict.pipeline / inputs): geometry back to
the input's shape and affine, failures isolated, clear errors, nothing half-written, safe names."""
from __future__ import annotations

import json
import os
import pickle

import nibabel as nib
import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from vesselnet.cli import main
from vesselnet.data import PrepareConfig, SyntheticSource, prepare
from vesselnet.data.case import Case, check_case_id
from vesselnet.data.preprocess import preprocess
from vesselnet.metrics import compute_dice
from vesselnet.predict.inputs import discover_inputs, safe_case_id
from vesselnet.predict.pipeline import CheckpointPredictor, predict_files
from vesselnet.train.checkpoint import CheckpointError, save_checkpoint
from vesselnet.train.config import TrainConfig
from vesseltree.io import load_volume, save_volume

torch.set_num_threads(1)

TINY = {"model": {"depth": 2, "base_channels": 2, "proj_dim": 4}, "data": {"augment": None},
        "run": {"epochs": 1, "progress": False, "tensorboard": False, "val_every": 0}}
PREP = PrepareConfig(crop="none", target_shape=(16, 16, 16))


def make_checkpoint(path, prepare: PrepareConfig | None = PREP, preset="multitask", seed=0, **extra):
    """A checkpoint as the trainer writes it, with an untrained (seeded) network."""
    cfg = TrainConfig.from_preset(preset, TINY)
    torch.manual_seed(seed)
    state = {"config": cfg.to_dict(), "model": cfg.build_model().state_dict(), "epoch": 0, "step": 0,
             "prepare": None if prepare is None else prepare.to_dict(), **extra}
    return save_checkpoint(state, path)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ck") / "model.pt")


@pytest.fixture(scope="module")
def phantom():
    src = SyntheticSource(n_cases=1, shape=(20, 28, 24), spacing=(1.5, 0.8, 0.9), seed=2)
    return src.load(src.case_ids[0])


def _oblique_affine(spacing, angle=0.3) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ np.array([[1, 0, 0], [0, c, s], [0, -s, c]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.array([[0, 0, spacing[2]], [0, spacing[1], 0], [spacing[0], 0, 0]])
    aff[:3, 3] = (-12.5, 30.0, 7.25)
    return aff


def _flipped(image, affine, axis: int):
    """The same voxels stored in reverse along ``axis``: same world positions."""
    n = image.shape[axis]
    flip = np.eye(4)
    flip[axis, axis] = -1.0
    flip[axis, 3] = n - 1
    return np.flip(image, axis).copy(), affine @ flip


# ---------------------------------------------------------------------------------------------
# geometry


@pytest.mark.parametrize("geometry", ["axis-aligned", "oblique", "flipped-x", "flipped-z"])
def test_written_nifti_has_the_input_shape_and_affine(tmp_path, ckpt, phantom, geometry):
    aff = np.asarray(phantom.affine, float)
    image = phantom.image
    if geometry == "oblique":
        aff = _oblique_affine(phantom.spacing)
    elif geometry.startswith("flipped"):
        image, aff = _flipped(image, aff, 2 if geometry.endswith("x") else 0)
    src = save_volume(tmp_path / "in" / "ct.nii.gz", image, phantom.spacing, aff)
    assert main(["predict", str(ckpt), str(src), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    ref = nib.load(str(src))
    for sub in ("probabilities", "masks"):
        out = nib.load(str(tmp_path / "out" / sub / "ct.nii.gz"))
        assert out.shape == ref.shape
        np.testing.assert_allclose(out.affine, ref.affine, atol=1e-5)
    prob = load_volume(tmp_path / "out" / "probabilities" / "ct.nii.gz").data
    mask = load_volume(tmp_path / "out" / "masks" / "ct.nii.gz").data
    assert prob.dtype == np.float32 and prob.min() >= 0 and prob.max() <= 1
    np.testing.assert_array_equal(mask.astype(bool), prob >= 0.5)
    summary = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert summary["failed"] == [] and summary["cases"][0]["shape"] == list(phantom.image.shape)


def test_flipped_storage_gives_the_flipped_prediction_with_tta(ckpt, phantom):
    """With flips over all axes the predictor is flip-equivariant, and the prepared grid is
    centred on the volume: storing the CT reversed must give the reversed probability map."""
    pred = CheckpointPredictor(ckpt, tta=True, device="cpu")
    a = pred.predict_case(phantom)
    img_f, aff_f = _flipped(phantom.image, phantom.affine, 1)
    b = pred.predict_case(Case("c", img_f, None, None, phantom.spacing, aff_f))
    np.testing.assert_allclose(b.probability, np.flip(a.probability, 1), atol=1e-5)
    np.testing.assert_allclose(b.affine, aff_f)
    assert a.probability.std() > 1e-3  # not a constant map


def test_resampling_is_undone(ckpt):
    """An oracle network that returns the prepared vessel label: the restored mask must be the
    original mask (anisotropic voxels, liver crop, isotropic prepared grid of another shape)."""
    src = SyntheticSource(n_cases=1, shape=(24, 48, 40), spacing=(1.6, 0.7, 0.8), seed=5)
    case = src.load(src.case_ids[0])
    prep = PrepareConfig(crop="liver", margin_mm=3.0, target_shape=(32, 40, 40))  # 1.2 mm isotropic
    ck = make_checkpoint(ckpt.parent / "liver.pt", prep)
    pred = CheckpointPredictor(ck, device="cpu")
    label = preprocess(case, prep).vessel[0].astype(np.float32)
    pred.predict_prepared_image = lambda image, classes=False: label
    out = pred.predict_case(Case(case.case_id, case.image, None, case.liver, case.spacing, case.affine))
    assert out.prepared_shape == label.shape != case.image.shape
    assert out.mask.shape == case.vessel.shape
    # the label's own round trip through the 1.2 mm grid; the same mask shifted by one voxel
    # along any axis scores below 0.72 against the truth (thin vessels)
    assert compute_dice(out.mask, case.vessel) > 0.85
    # the crop is undone: nothing predicted outside the liver box
    box = np.zeros_like(case.liver)
    lo = np.argwhere(case.liver).min(0)
    hi = np.argwhere(case.liver).max(0) + 1
    box[tuple(slice(max(0, a - 3), b + 3) for a, b in zip(lo, hi))] = True
    assert not out.mask[~box].any()


def test_multiclass_mask_is_the_argmax_and_the_map_one_minus_background(tmp_path, phantom):
    """The multi-class baseline decides as the trainer's validation does: a scale class beats
    the background (argmax > 0); the probability map is 1 - p(background)."""
    prep = PrepareConfig(crop="none", target_shape=None)  # the prepared grid is the original one
    ck = make_checkpoint(tmp_path / "mc.pt", prep, preset="resunet-multiclass", seed=4)
    pred = CheckpointPredictor(ck, device="cpu")
    out = pred.predict_case(phantom)
    x = torch.from_numpy(preprocess(phantom, prep).image)[None]
    with torch.no_grad():
        probs = torch.softmax(pred.model(x), 1)[0].numpy()
    np.testing.assert_allclose(out.probability, 1 - probs[0], atol=1e-5)
    argmax = probs.argmax(0) > 0
    np.testing.assert_array_equal(out.mask, argmax)
    assert (argmax != (1 - probs[0] >= 0.5)).any()  # the two rules differ on this net


def test_prepared_folder_input_is_restored_to_the_original_grid(tmp_path, ckpt):
    src = SyntheticSource(n_cases=2, shape=(18, 20, 22), seed=1)
    prepare(src, tmp_path / "prep", PREP, progress=False)
    report = predict_files(ckpt, [tmp_path / "prep"], tmp_path / "out", device="cpu", progress=False)
    assert [r["case_id"] for r in report.written] == src.case_ids and not report.failed
    for cid in src.case_ids:
        vol = load_volume(tmp_path / "out" / "masks" / f"{cid}.nii.gz")
        assert vol.shape == (18, 20, 22)
        np.testing.assert_allclose(vol.affine, src.load(cid).affine)
    # prepared with other settings than the checkpoint's: a clear failure, not a silent result
    prepare(src, tmp_path / "other", PrepareConfig(crop="none", target_shape=(8, 8, 8)), progress=False)
    report = predict_files(ckpt, [tmp_path / "other"], tmp_path / "out2", device="cpu", progress=False)
    assert not report.written and len(report.failed) == 2
    assert "another preprocessing" in report.failed[0]["error"] and "target_shape" in report.failed[0]["error"]


def test_a_checkpoint_from_the_trainer_predicts(tmp_path):
    from vesselnet.data import PreparedDataset
    from vesselnet.train import train

    src = SyntheticSource(n_cases=2, shape=(16, 16, 16), seed=0)
    ds = PreparedDataset.from_cases([preprocess(c, PREP) for c in src], PREP)
    cfg = TrainConfig.from_preset("multitask-contrastive", TINY)
    res = train(cfg, ds, None, tmp_path / "run")
    case = src.load(src.case_ids[0])
    save_volume(tmp_path / "ct.nii.gz", case.image, case.spacing, case.affine)
    assert main(["predict", str(res.last_checkpoint), str(tmp_path / "ct.nii.gz"), "--out",
                 str(tmp_path / "out"), "--quiet", "--tta"]) == 0
    assert load_volume(tmp_path / "out" / "masks" / "ct.nii.gz").shape == (16, 16, 16)


# ---------------------------------------------------------------------------------------------
# failures and bad input


def test_unreadable_input_among_several(tmp_path, ckpt, phantom, capsys):
    good = save_volume(tmp_path / "in" / "good.nii.gz", phantom.image, phantom.spacing, phantom.affine)
    bad = tmp_path / "in" / "broken.nii.gz"
    bad.write_bytes(b"not a nifti")
    code = main(["predict", str(ckpt), str(bad), str(good), str(tmp_path / "missing.nii.gz"),
                 "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "2 input(s) failed" in err and "broken.nii.gz" in err and "missing.nii.gz" in err
    assert sorted(os.listdir(tmp_path / "out" / "masks")) == ["good.nii.gz"]
    summary = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert [c["case_id"] for c in summary["cases"]] == ["good"]
    assert {f["case_id"] for f in summary["failed"]} == {"broken", "missing"}
    assert not [p for p in (tmp_path / "out").rglob("*") if ".tmp" in p.name]


def test_input_without_spacing(tmp_path, ckpt, phantom, capsys):
    np.save(tmp_path / "ct.npy", phantom.image)
    assert main(["predict", str(ckpt), str(tmp_path / "ct.npy"), "--out", str(tmp_path / "o1"), "--quiet"]) == 1
    assert "no voxel size" in capsys.readouterr().err
    np.savez(tmp_path / "ct2.npz", data=phantom.image)
    assert main(["predict", str(ckpt), str(tmp_path / "ct2.npz"), "--out", str(tmp_path / "o1"), "--quiet"]) == 1
    assert "no voxel size" in capsys.readouterr().err
    assert main(["predict", str(ckpt), str(tmp_path / "ct.npy"), "--out", str(tmp_path / "o2"), "--quiet",
                 "--spacing", "1.5", "0.8", "0.9"]) == 0
    vol = load_volume(tmp_path / "o2" / "masks" / "ct.nii.gz")
    assert vol.shape == phantom.image.shape and vol.spacing == pytest.approx((1.5, 0.8, 0.9))


def test_checkpoint_without_preprocessing_record(tmp_path, phantom, capsys):
    ck = make_checkpoint(tmp_path / "noprep.pt", prepare=None)
    src = save_volume(tmp_path / "ct.nii.gz", phantom.image, phantom.spacing)
    assert main(["predict", str(ck), str(src), "--out", str(tmp_path / "out")]) == 2
    assert "no preprocessing record" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_checkpoint_config_mismatch(tmp_path, phantom):
    cfg = TrainConfig.from_preset("multitask", TINY)
    other = TrainConfig.from_preset("multitask", {**TINY, "model": {**TINY["model"], "base_channels": 3}})
    state = {"config": cfg.to_dict(), "model": other.build_model().state_dict(), "epoch": 0, "step": 0,
             "prepare": PREP.to_dict()}
    path = save_checkpoint(state, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not fit the network of its config"):
        CheckpointPredictor(path)
    bad_prep = make_checkpoint(tmp_path / "badprep.pt", prepare=None)
    ck = torch.load(bad_prep, weights_only=True)
    ck["prepare"] = {"target_shape": [16, 16, 16], "no_such_option": 1}
    torch.save(ck, tmp_path / "badprep.pt")
    with pytest.raises(CheckpointError, match="no_such_option"):
        CheckpointPredictor(tmp_path / "badprep.pt")
    with pytest.raises(ValueError, match="roi_size"):
        CheckpointPredictor(make_checkpoint(tmp_path / "ok.pt"), roi_size=(6, 8, 8))


class _CreatesFile:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path, phantom, capsys):
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump({"format": "vesselnet-checkpoint", "x": _CreatesFile(tmp_path / "pwned")}, fh)
    src = save_volume(tmp_path / "ct.nii.gz", phantom.image, phantom.spacing)
    assert main(["predict", str(evil), str(src), "--out", str(tmp_path / "out")]) == 2
    assert "not a vesselnet checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "pwned").exists()


def test_nothing_half_written_when_a_write_fails(tmp_path, ckpt, phantom, monkeypatch):
    import vesseltree.io as vio

    src = save_volume(tmp_path / "ct.nii.gz", phantom.image, phantom.spacing)
    real = vio.save_volume
    calls = []

    def failing(path, data, *a, **k):
        calls.append(path)
        if len(calls) == 2:  # the mask, after the probability map was written to its temp file
            raise OSError("disk full")
        return real(path, data, *a, **k)

    monkeypatch.setattr(vio, "save_volume", failing)
    report = predict_files(ckpt, [src], tmp_path / "out", device="cpu", progress=False)
    assert report.failed and "disk full" in report.failed[0]["error"]
    left = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert [p.name for p in left] == ["predictions.json"]


def test_bad_options_are_clear_errors(tmp_path, ckpt, phantom, capsys):
    src = save_volume(tmp_path / "ct.nii.gz", phantom.image, phantom.spacing)
    for opts, word in ((["--overlap", "1.5"], "overlap"), (["--threshold", "0"], "threshold"),
                       (["--batch-size", "0"], "batch_size"), (["--device", "tpu"], "device")):
        assert main(["predict", str(ckpt), str(src), "--out", str(tmp_path / "o"), *opts]) == 2
        assert word in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["predict", str(ckpt), str(src), "--out", str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# names


@given(st.text(min_size=0, max_size=200))
@example("../../x")
@example("a..b")
@example("..")
@example("x/..\\y")
def test_safe_case_id_is_a_plain_file_name(name):
    cid = safe_case_id(name)
    assert check_case_id(cid) == cid
    assert "/" not in cid and "\\" not in cid and cid not in (".", "..")


def test_case_ids_from_file_names_stay_inside_out(tmp_path, ckpt, phantom):
    d = tmp_path / "in"
    names = ["..nii.gz", "a b;rm -rf.nii.gz", "ct.nii.gz", "CT.nii", ".hidden.nii.gz"]
    paths = [save_volume(d / n, phantom.image, phantom.spacing) for n in names]
    items = discover_inputs(paths)
    ids = [i.case_id for i in items]
    assert len(set(i.lower() for i in ids)) == len(ids)
    report = predict_files(ckpt, paths, tmp_path / "out", device="cpu", progress=False)
    assert not report.failed
    out = (tmp_path / "out").resolve()
    for row in report.written:
        for key in ("mask", "probability"):
            p = os.path.realpath(row[key])
            assert p.startswith(str(out) + os.sep)
    assert sorted(os.listdir(tmp_path)) == ["in", "out"]


# ---------------------------------------------------------------------------------------------
# 3D-IRCADb


@pytest.mark.slow
@pytest.mark.data
def test_ircadb_patient_folder(tmp_path, ircadb):
    prep = PrepareConfig(crop="liver", target_shape=(16, 32, 32))
    ck = make_checkpoint(tmp_path / "m.pt", prep)
    report = predict_files(ck, [ircadb / "3Dircadb1.1"], tmp_path / "out", device="cpu", progress=False)
    assert not report.failed, report.failed
    row = report.written[0]
    assert row["case_id"] == "3Dircadb1.1" and row["prepared_shape"] == [16, 32, 32]
    ct = load_volume(ircadb / "3Dircadb1.1" / "PATIENT_DICOM.zip")
    out = load_volume(row["mask"])
    assert out.shape == ct.shape
    np.testing.assert_allclose(out.affine, ct.affine, atol=1e-4)
    assert "no_liver" not in row["flags"]

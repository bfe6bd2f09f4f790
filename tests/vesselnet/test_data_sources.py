"""Sources: synthetic, 3D-IRCADb layout (tiny DICOM zips written here, and the real data),
MSD / nnU-Net NIfTI; geometry, round trips and every bad input named."""
from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vesselnet.data import (IrcadbSource, NiftiSource, PrepareConfig, SyntheticSource, open_source,
                            preprocess, restore_mask)
from vesselnet.data._files import check_zip

from ..vesseltree.dicom_files import dicom_slice

pydicom = pytest.importorskip("pydicom")


# ---------------------------------------------------------------------------- synthetic
def test_synthetic_is_seeded_and_described():
    a = SyntheticSource(2, shape=(32, 32, 32), seed=3)
    b = SyntheticSource(2, shape=(32, 32, 32), seed=3)
    c0, c0b = a.load("synthetic_000"), b.load("synthetic_000")
    assert np.array_equal(c0.image, c0b.image) and np.array_equal(c0.vessel, c0b.vessel)
    assert not np.array_equal(c0.vessel, a.load("synthetic_001").vessel)
    assert c0.image.dtype == np.float32 and c0.vessel.dtype == bool and c0.liver.any()
    json.dumps(a.record()), json.dumps(a.case_record("synthetic_000"))
    assert len(a) == 2 and [c.case_id for c in a] == a.case_ids
    with pytest.raises(KeyError, match="no case 'x'"):
        a.load("x")


def test_synthetic_thinnest_vessels_about_one_voxel():
    from vesseltree.synthetic import make_phantom

    src = SyntheticSource(1, shape=(48, 48, 48), spacing=(1.0, 1.0, 1.0))
    ph = make_phantom((48, 48, 48), (1.0, 1.0, 1.0), seed=0, min_radius=src.min_radius, depth=src.depth)
    assert np.array_equal(ph.mask, src.load("synthetic_000").vessel)
    assert ph.segments["radius_end_mm"].min() < 1.0  # diameter < 2 voxels


def test_open_source_specs(tmp_path):
    assert len(open_source("synthetic:3")) == 3 and len(open_source("synthetic")) == 4
    with pytest.raises(ValueError, match="neither 'synthetic\\[:N\\]' nor an existing folder"):
        open_source("synthetc")
    with pytest.raises(ValueError, match="not a dataset this layer reads"):
        open_source(tmp_path)


# ---------------------------------------------------------------------------- DICOM helpers
def _dcm(pix: np.ndarray, z: float, ps=(0.7, 0.8), slope=None, intercept=None) -> bytes:
    return dicom_slice(pix, z, pixel_spacing=ps, slope=slope, intercept=intercept)


def _zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, raw in members.items():
            zf.writestr(name, raw)
    return path


N, ROWS = 6, 16
PERM = [3, 0, 5, 1, 4, 2]  # file image_k holds the slice at position PERM[k]: order by position


def _phantom():
    z, y, x = np.indices((N, ROWS, ROWS))
    liver = ((y - 8) ** 2 + (x - 8) ** 2) <= 36
    pv = liver & (np.abs(y - 8) <= 1) & (x < 8) & (z >= 2)  # varies along z: order matters
    vs = liver & (np.abs(x - 9) <= 1) & (y > 8)
    hu = (np.where(liver, 100, -50) + 7 * z).astype(np.int16)
    hu[pv | vs] = 200
    return hu, {"portalvein": pv, "venoussystem": vs, "liver": liver}


def _ircadb(root: Path, patient="3Dircadb1.1", ct_rows=ROWS) -> Path:
    hu, structs = _phantom()
    d = root / patient
    d.mkdir(parents=True)
    ct = {}
    for k, zi in enumerate(PERM):
        raw = (hu[zi] + 1024).astype(np.int16)
        if ct_rows != ROWS:
            raw = np.zeros((ct_rows, ROWS), np.int16)
        ct[f"PATIENT_DICOM/image_{k}"] = _dcm(raw, 10.0 + 2.5 * zi, slope=1, intercept=-1024)
    _zip(d / "PATIENT_DICOM.zip", ct)
    masks = {f"MASKS_DICOM/{name}/image_{k}": _dcm(m[zi].astype(np.uint8) * 255, 10.0 + 2.5 * zi)
             for name, m in structs.items() for k, zi in enumerate(PERM)}
    _zip(d / "MASKS_DICOM.zip", masks)
    return root


def test_ircadb_layout_hu_order_spacing_union(tmp_path):
    src = IrcadbSource(_ircadb(tmp_path))
    assert src.case_ids == ["3Dircadb1.1"]
    c = src.load("3Dircadb1.1")
    hu, structs = _phantom()
    assert np.array_equal(c.image, hu.astype(np.float32))  # slope/intercept, position order
    assert np.array_equal(c.vessel, structs["portalvein"] | structs["venoussystem"])
    assert np.array_equal(c.liver, structs["liver"])
    assert np.allclose(c.spacing, (2.5, 0.7, 0.8))
    assert c.source["files"]["masks"]["sha256"] and c.source["patient"] == "1.1"
    json.dumps(c.source)
    p = preprocess(c, PrepareConfig(target_shape=(8, 12, 12), margin_mm=1.0))
    assert np.array_equal(p.scales.sum(0), p.vessel[0])


def test_ircadb_structure_choice_and_errors(tmp_path):
    root = _ircadb(tmp_path)
    c = IrcadbSource(root, structures=["portalvein"]).load("3Dircadb1.1")
    assert np.array_equal(c.vessel, _phantom()[1]["portalvein"])
    with pytest.raises(ValueError, match="no structure named 'artery'.*available: liver, portalvein, venoussystem"):
        IrcadbSource(root, structures=["portalvein", "artery"]).load("3Dircadb1.1")
    with pytest.raises(ValueError, match=r"patients: \['3Dircadb1.2'\] not found"):
        IrcadbSource(root, patients=[2])
    with pytest.raises(FileNotFoundError, match="root: no such folder"):
        IrcadbSource(tmp_path / "nowhere")


def test_ircadb_ct_and_masks_of_different_shape(tmp_path):
    with pytest.raises(ValueError, match="shape mismatch: .*PATIENT_DICOM.zip.*MASKS_DICOM.zip"):
        IrcadbSource(_ircadb(tmp_path, ct_rows=14)).load("3Dircadb1.1")


def test_ircadb_truncated_and_corrupt_zips(tmp_path):
    root = _ircadb(tmp_path)
    z = root / "3Dircadb1.1" / "MASKS_DICOM.zip"
    data = z.read_bytes()
    z.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="MASKS_DICOM.zip"):
        IrcadbSource(root).load("3Dircadb1.1")
    z.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="MASKS_DICOM.zip.*(zip|corrupt)"):
        IrcadbSource(root).load("3Dircadb1.1")
    z.unlink()
    with pytest.raises(ValueError, match="no patient folder with PATIENT_DICOM and MASKS_DICOM"):
        IrcadbSource(root)


@pytest.mark.parametrize("name", ["../evil", "/abs/evil", "MASKS_DICOM/../../evil"])
def test_unsafe_member_names_are_refused_and_nothing_is_written(tmp_path, name):
    root = _ircadb(tmp_path / "data")
    z = root / "3Dircadb1.1" / "MASKS_DICOM.zip"
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr(name, b"x")
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(ValueError, match="(unsafe name|outside)"):
        IrcadbSource(root).load("3Dircadb1.1")
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / "evil").exists()


def test_zip_bomb_is_refused_before_inflating(tmp_path):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("PATIENT_DICOM/image_0", b"\0" * (8 * 2 ** 20))
    assert z.stat().st_size < 64 * 1024  # highly compressed
    with pytest.raises(ValueError, match="bomb.zip"):
        check_zip(z, max_bytes=2 ** 20)


# ---------------------------------------------------------------------------- NIfTI
SPACING = (1.5, 1.0, 1.0)


def _affine():
    from vesseltree.io import default_affine

    a = default_affine(SPACING)
    a[:3, 3] = (-20.0, 10.0, 5.0)
    return a


@pytest.fixture(scope="module")
def phantoms():
    src = SyntheticSource(2, shape=(24, 36, 36), spacing=SPACING, seed=7)
    return [src.load(c) for c in src.case_ids]


def _msd(root: Path, phantoms, layout="msd") -> Path:
    from vesseltree.io import save_volume

    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    training = []
    for k, c in enumerate(phantoms):
        cid = f"hepaticvessel_{k:03d}"
        lab = np.where(c.vessel, 1, np.where(c.liver, 2, 0)).astype(np.uint8)
        img_name = f"{cid}.nii.gz" if layout == "msd" else f"{cid}_0000.nii.gz"
        save_volume(root / "imagesTr" / img_name, c.image, SPACING, _affine())
        save_volume(root / "labelsTr" / f"{cid}.nii.gz", lab, SPACING, _affine())
        training.append({"image": f"./imagesTr/{img_name}", "label": f"./labelsTr/{cid}.nii.gz"})
    if layout == "msd":
        meta = {"name": "test", "labels": {"0": "background", "1": "Vessel", "2": "Liver"}, "training": training}
    else:
        meta = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "vessel": 1, "liver": 2},
                "file_ending": ".nii.gz", "numTraining": len(phantoms)}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


@pytest.mark.parametrize("layout", ["msd", "nnunet"])
def test_nifti_dataset_round_trip(tmp_path, phantoms, layout):
    """Written from phantoms, read back, prepared and mapped back: Dice >= 0.95, same affine."""
    root = _msd(tmp_path / layout, phantoms, layout)
    src = open_source(root)
    assert isinstance(src, NiftiSource) and src.case_ids == ["hepaticvessel_000", "hepaticvessel_001"]
    c = src.load("hepaticvessel_001")
    ref = phantoms[1]
    assert np.array_equal(c.vessel, ref.vessel) and np.array_equal(c.image, ref.image)
    assert np.array_equal(c.liver, ref.liver & ~ref.vessel)
    assert np.allclose(c.spacing, SPACING) and np.allclose(c.affine, _affine())
    p = preprocess(c, PrepareConfig(target_shape=None, target_spacing=(0.75, 0.75, 0.75), margin_mm=3.0))
    back = restore_mask(p.vessel[0], p.transform)
    dice = 2 * (back & ref.vessel).sum() / (back.sum() + ref.vessel.sum())
    assert dice >= 0.95
    assert np.allclose(np.asarray(p.transform.original_affine), _affine())


def test_nifti_bad_inputs_name_the_file(tmp_path, phantoms):
    import nibabel as nib
    from vesseltree.io import save_volume

    root = _msd(tmp_path / "d", phantoms[:1])
    src = NiftiSource(root)
    lab = root / "labelsTr" / "hepaticvessel_000.nii.gz"
    img = root / "imagesTr" / "hepaticvessel_000.nii.gz"
    good = nib.load(str(lab)).get_fdata().astype(np.uint8).transpose(2, 1, 0)

    save_volume(lab, np.where(good == 2, 5, good).astype(np.uint8), SPACING, _affine())
    with pytest.raises(ValueError, match=r"hepaticvessel_000.nii.gz' holds values \[5\] outside the label set \[0, 1, 2\]"):
        src.load("hepaticvessel_000")
    save_volume(lab, good[:-1], SPACING, _affine())
    with pytest.raises(ValueError, match="shape mismatch: image .*imagesTr.*label .*labelsTr"):
        src.load("hepaticvessel_000")
    save_volume(lab, good, (2.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="spacing mismatch"):
        src.load("hepaticvessel_000")
    save_volume(lab, good, SPACING, _affine())
    image = phantoms[0].image.copy()
    image[3, 4, 5] = np.inf
    save_volume(img, image, SPACING, _affine())
    with pytest.raises(ValueError, match="image: .*hepaticvessel_000.nii.gz' holds 1 NaN/inf"):
        src.load("hepaticvessel_000")
    save_volume(img, phantoms[0].image, SPACING, _affine())
    data = lab.read_bytes()
    lab.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="labelsTr/hepaticvessel_000.nii.gz"):
        src.load("hepaticvessel_000")
    lab.unlink()
    with pytest.raises(FileNotFoundError, match="hepaticvessel_000.nii.gz"):
        src.load("hepaticvessel_000")


def test_nifti_label_names_and_unsafe_paths(tmp_path, phantoms):
    root = _msd(tmp_path / "d", phantoms[:1])
    with pytest.raises(ValueError, match=r"vessel_labels: no label named \['artery'\].*labels: \['background', 'liver', 'vessel'\]"):
        NiftiSource(root, vessel_labels=("artery",))
    src = NiftiSource(root, vessel_labels=("vessel", "liver"), liver_labels=None)
    c = src.load("hepaticvessel_000")
    assert np.array_equal(c.vessel, phantoms[0].liver | phantoms[0].vessel) and c.liver is None
    meta = json.loads((root / "dataset.json").read_text())
    meta["training"][0]["label"] = "../outside.nii.gz"
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="leaves"):
        NiftiSource(root)
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        NiftiSource(root)


# ---------------------------------------------------------------------------- real data
@pytest.mark.data
@pytest.mark.slow
def test_ircadb_ct_patients_load_aligned_with_spacing_from_tags(ircadb):
    src = IrcadbSource(ircadb)
    assert src.case_ids == ["3Dircadb1.1", "3Dircadb1.7"]
    for cid in src.case_ids:
        c = src.load(cid)
        # spacing from the tags, read independently
        with zipfile.ZipFile(ircadb / cid / "PATIENT_DICOM.zip") as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            dss = [pydicom.dcmread(io.BytesIO(zf.read(n)), stop_before_pixels=True) for n in names]
        z = np.sort([float(d.ImagePositionPatient[2]) for d in dss])
        assert np.isclose(c.spacing[0], np.median(np.diff(z)), rtol=1e-3)
        assert np.allclose(c.spacing[1:], [float(v) for v in dss[0].PixelSpacing], rtol=1e-5)
        assert c.image.shape == c.vessel.shape == c.liver.shape and c.image.shape[0] == len(names)
        parenchyma = c.liver & ~c.vessel
        assert np.median(c.image[c.vessel & c.liver]) > np.median(c.image[parenchyma])
        p = preprocess(c)
        assert p.image.shape == (1, 128, 256, 256) and np.allclose(p.spacing, p.spacing[0])
        assert p.vessel.any() and np.array_equal(p.scales.sum(0), p.vessel[0])
        assert p.flags == ()


@pytest.mark.data
def test_ircadb_missing_structure_lists_the_real_ones(ircadb, tmp_path):
    root = tmp_path / "ircadb"
    (root / "3Dircadb1.2").mkdir(parents=True)
    shutil.copy(ircadb / "3Dircadb1.2" / "MASKS_DICOM.zip", root / "3Dircadb1.2")
    src = IrcadbSource(root, structures=("portalvein", "kidney"), require_image=False)
    with pytest.raises(ValueError, match="no structure named 'kidney'.*available: .*liver.*portalvein"):
        src.load("3Dircadb1.2")

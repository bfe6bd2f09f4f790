"""Tests of vesseltree.io: NIfTI / NumPy round trips, DICOM zips (synthetic and 3D-IRCADb)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vesseltree.io import Volume, list_structures, load_volume, save_volume

from .dicom_files import dicom_slice

SPACING = (2.5, 0.7, 0.9)  # anisotropic, z, y, x


# ------------------------------------------------------------------------------------------
# NIfTI / NumPy


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
@pytest.mark.parametrize("dtype", [np.float32, np.int16, bool])
def test_nifti_round_trip(tmp_path, ext, dtype):
    rng = np.random.default_rng(0)
    data = (rng.random((5, 6, 7)) * 100).astype(dtype)
    p = save_volume(tmp_path / f"v{ext}", data, SPACING)
    vol = load_volume(p)
    assert isinstance(vol, Volume)
    assert vol.data.shape == (5, 6, 7)
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_allclose(vol.spacing, SPACING, rtol=1e-6)
    # the peer's view (nibabel, x y z order): transposed array, reversed zooms, RAS affine
    img = nib.load(str(p))
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), data.transpose(2, 1, 0))
    np.testing.assert_allclose(img.header.get_zooms(), SPACING[::-1], rtol=1e-6)
    np.testing.assert_allclose(img.affine, np.diag([0.9, 0.7, 2.5, 1.0]), rtol=1e-6)
    assert list(tmp_path.iterdir()) == [p]  # atomic write leaves no temporary file


@given(
    shape=st.tuples(*[st.integers(1, 6)] * 3),
    spacing=st.tuples(*[st.floats(0.1, 5.0, allow_nan=False)] * 3),
    dtype=st.sampled_from([np.uint8, np.int16, np.int32, np.float32, np.float64, bool]),
    ext=st.sampled_from([".nii.gz", ".npz"]),
    seed=st.integers(0, 2**16),
)
def test_round_trip_property(tmp_path_factory, shape, spacing, dtype, ext, seed):
    data = (np.random.default_rng(seed).random(shape) * 50).astype(dtype)
    before = data.copy()
    p = save_volume(tmp_path_factory.mktemp("rt") / f"v{ext}", data, spacing)
    vol = load_volume(p)
    np.testing.assert_array_equal(data, before)  # input untouched
    assert vol.data.shape == shape
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_allclose(vol.spacing, spacing, rtol=1e-6)


def test_nifti_round_trip_keeps_oblique_affine(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    c, s = np.cos(0.3), np.sin(0.3)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag(SPACING)
    aff[:3, 3] = (-10.0, 20.0, 5.5)
    p = save_volume(tmp_path / "o.nii.gz", data, SPACING, affine=aff)
    vol = load_volume(p)
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_allclose(vol.affine, aff, atol=1e-5)
    np.testing.assert_allclose(vol.spacing, SPACING, rtol=1e-6)
    # world position of voxel (iz, iy, ix) agrees with nibabel's own (ix, iy, iz) mapping
    img = nib.load(str(p))
    idx = np.array([3, 1, 4])
    np.testing.assert_allclose(
        vol.affine @ np.r_[idx, 1], img.affine @ np.r_[idx[::-1], 1], atol=1e-5
    )


def test_npz_round_trip(tmp_path):
    data = np.random.default_rng(1).random((3, 4, 5)) > 0.5
    p = save_volume(tmp_path / "v.npz", data, SPACING)
    vol = load_volume(p)
    np.testing.assert_array_equal(vol.data, data)
    assert vol.data.dtype == bool
    assert vol.spacing == SPACING


def test_npz_key_choice_and_spacing(tmp_path):
    a = np.zeros((2, 3, 4), np.uint8)
    np.savez(tmp_path / "m.npz", mask=a, other=a + 1, spacing=np.array([3.0, 1.0, 0.5]))
    vol = load_volume(tmp_path / "m.npz")
    np.testing.assert_array_equal(vol.data, a)
    assert vol.spacing == (3.0, 1.0, 0.5)
    np.savez(tmp_path / "only.npz", a + 1)
    np.testing.assert_array_equal(load_volume(tmp_path / "only.npz").data, a + 1)
    np.savez(tmp_path / "two.npz", x=a, y=a)
    with pytest.raises(ValueError, match="'mask' or 'data'"):
        load_volume(tmp_path / "two.npz")


def test_npy_spacing_default_and_override(tmp_path):
    a = np.ones((2, 3, 4), bool)
    p = save_volume(tmp_path / "a.npy", a, 1.0)
    assert load_volume(p).spacing == (1.0, 1.0, 1.0)
    vol = load_volume(p, spacing=(2, 0.5, 0.5))
    assert vol.spacing == (2.0, 0.5, 0.5)
    np.testing.assert_allclose(np.linalg.norm(vol.affine[:3, :3], axis=0), (2, 0.5, 0.5))
    with pytest.raises(ValueError, match="spacing"):
        load_volume(p, spacing=(1, -1, 1))


def test_save_overwrites_atomically_and_validates(tmp_path):
    p = tmp_path / "x.nii.gz"
    save_volume(p, np.zeros((2, 2, 2), np.uint8), 1.0)
    save_volume(p, np.ones((2, 2, 2), np.uint8), 1.0)
    np.testing.assert_array_equal(load_volume(p).data, 1)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["x.nii.gz"]
    with pytest.raises(ValueError, match="3D"):
        save_volume(p, np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match="norms"):
        save_volume(p, np.zeros((2, 2, 2)), (1, 1, 1), affine=np.diag([2.0, 1, 1, 1]))
    with pytest.raises(ValueError, match="supported: .nii"):
        save_volume(tmp_path / "x.tif", np.zeros((2, 2, 2)), 1.0)
    np.testing.assert_array_equal(load_volume(p).data, 1)  # failed writes left it alone
    assert sorted(f.name for f in tmp_path.iterdir()) == ["x.nii.gz"]


def test_load_does_not_share_or_modify_saved_input(tmp_path):
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    before = data.copy()
    save_volume(tmp_path / "d.nii", data, SPACING)
    np.testing.assert_array_equal(data, before)


def test_unknown_extension_and_missing_file(tmp_path):
    f = tmp_path / "vol.mha"
    f.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"extension '\.mha'\); supported: .*\.nii\.gz.*\.npy.*\.npz"):
        load_volume(f)
    with pytest.raises(ValueError, match=r"unsupported extension '\.mha' for writing"):
        save_volume(f, np.zeros((2, 2, 2)), 1.0)
    with pytest.raises(ValueError, match=r"unsupported extension '\(none\)'"):
        save_volume(tmp_path / "noext", np.zeros((2, 2, 2)), 1.0)
    with pytest.raises(FileNotFoundError, match="nope.nii"):
        load_volume(tmp_path / "nope.nii")
    save_volume(tmp_path / "a.npy", np.zeros((2, 2, 2)), 1.0)
    with pytest.raises(ValueError, match="only meaningful for 3D-IRCADb"):
        load_volume(tmp_path / "a.npy", structures="liver")


# ------------------------------------------------------------------------------------------
# synthetic DICOM zips (4 slices of 8x8, written here with pydicom)

PS = (0.7, 0.8)  # PixelSpacing: rows (y), columns (x)
Z0, DZ = 10.0, 2.5


def _dicom_bytes(pix: np.ndarray, z: float, *, ps=PS, slope=None, intercept=None) -> bytes:
    return dicom_slice(pix, z, pixel_spacing=ps, slope=slope, intercept=intercept)


def _structure_volume(seed: int, n: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 8, 8)) > 0.6


STRUCTS = {"portalvein": 1, "venoussystem": 2, "liver": 3, "artery": 4}
# file names deliberately out of position order: image_k holds the slice at position PERM[k]
PERM = [2, 0, 3, 1]


def _masks_members(structs=STRUCTS, *, drop=None, resize=None, dup=None, perm=PERM):
    members = {}
    for name, seed in structs.items():
        vol = _structure_volume(seed)
        for k, z_index in enumerate(perm):
            pix = vol[z_index].astype(np.uint8) * 255
            if resize is not None and (name, k) == resize:
                pix = np.zeros((8, 9), np.uint8)
            if drop is not None and (name, z_index) == drop:
                continue
            z = Z0 + DZ * (perm[0] if dup is not None and (name, k) == dup else z_index)
            members[f"MASKS_DICOM/{name}/image_{k}"] = _dicom_bytes(pix, z)
    return members


def _write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted({m.rsplit("/", 1)[0] + "/" for m in members}):
            zf.writestr(name, b"")
        for name, raw in members.items():
            zf.writestr(name, raw)
    return path


@pytest.fixture
def masks_zip(tmp_path) -> Path:
    return _write_zip(tmp_path / "MASKS_DICOM.zip", _masks_members())


def test_dicom_zip_order_spacing_and_default_structures(masks_zip):
    assert list_structures(masks_zip) == sorted(STRUCTS)
    vol = load_volume(masks_zip)
    expected = _structure_volume(1) | _structure_volume(2)  # portal vein + venous system
    assert vol.data.dtype == bool
    np.testing.assert_array_equal(vol.data, expected)  # slices in position order
    np.testing.assert_allclose(vol.spacing, (DZ, PS[0], PS[1]))
    # geometry: first slice's position (LPS -5, 7, Z0) -> RAS (5, -7, Z0)
    np.testing.assert_allclose(vol.affine[:3, 3], (5.0, -7.0, Z0))
    np.testing.assert_allclose(vol.affine @ [3, 0, 0, 1], (5.0, -7.0, Z0 + 3 * DZ, 1))
    np.testing.assert_allclose(vol.affine @ [0, 1, 1, 1], (5.0 - PS[1], -7.0 - PS[0], Z0, 1))


def test_dicom_structures_by_name_case_insensitive_and_restrict(masks_zip):
    art = load_volume(masks_zip, structures="ARTERY")
    np.testing.assert_array_equal(art.data, _structure_volume(4))
    both = load_volume(masks_zip, structures=["Artery", "portalVein"], restrict_to="Liver")
    expected = (_structure_volume(4) | _structure_volume(1)) & _structure_volume(3)
    np.testing.assert_array_equal(both.data, expected)
    assert "in liver" in both.source


def test_dicom_missing_structure_lists_available(masks_zip):
    with pytest.raises(ValueError, match="available: artery, liver, portalvein, venoussystem"):
        load_volume(masks_zip, structures=["portalvein", "hepaticvein"])
    with pytest.raises(ValueError, match="'kidney'.*available: artery"):
        load_volume(masks_zip, restrict_to="kidney")


def test_dicom_portalvein1_and_venacava_fallback(tmp_path):
    # patient 1.10 style: portalvein1 and venacava, no venoussystem
    p = _write_zip(tmp_path / "m.zip", _masks_members({"portalvein1": 5, "venacava": 6, "liver": 3}))
    vol = load_volume(p)
    np.testing.assert_array_equal(vol.data, _structure_volume(5) | _structure_volume(6))
    np.testing.assert_array_equal(load_volume(p, structures="portalvein").data, _structure_volume(5))
    p2 = _write_zip(tmp_path / "n.zip", _masks_members({"portalvein": 5, "liver": 3}))
    with pytest.raises(ValueError, match="neither 'venoussystem' nor 'venacava'.*available: liver, portalvein"):
        load_volume(p2)


def test_dicom_folder_equals_zip(tmp_path, masks_zip):
    root = tmp_path / "patient"
    with zipfile.ZipFile(masks_zip) as zf:
        zf.extractall(root)
    from_dir = load_volume(root / "MASKS_DICOM", structures="artery")
    from_patient = load_volume(root, structures="artery")  # patient folder -> its masks
    from_zip = load_volume(masks_zip, structures="artery")
    np.testing.assert_array_equal(from_dir.data, from_zip.data)
    np.testing.assert_array_equal(from_patient.data, from_zip.data)
    assert from_dir.spacing == from_zip.spacing
    assert list_structures(root / "MASKS_DICOM") == sorted(STRUCTS)


def test_dicom_ct_series_rescaled_to_hu(tmp_path):
    rng = np.random.default_rng(3)
    stored = rng.integers(0, 2000, (4, 8, 8)).astype(np.int16)
    members = {
        f"PATIENT_DICOM/image_{k}": _dicom_bytes(stored[z], Z0 + DZ * z, slope=2, intercept=-1024)
        for k, z in enumerate(PERM)
    }
    vol = load_volume(_write_zip(tmp_path / "PATIENT_DICOM.zip", members))
    np.testing.assert_array_equal(vol.data, stored.astype(np.float32) * 2 - 1024)
    assert vol.data.dtype == np.float32


def test_dicom_single_slice_spacing_from_thickness(tmp_path):
    raw = _dicom_bytes(np.full((8, 8), 255, np.uint8), Z0)
    ds = pydicom.dcmread(io.BytesIO(raw))
    ds.SliceThickness = "3.5"
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    p = _write_zip(tmp_path / "m.zip", {"MASKS_DICOM/liver/image_0": buf.getvalue(),
                                        "MASKS_DICOM/skin/image_0": raw})
    vol = load_volume(p, structures="liver")
    assert vol.data.shape == (1, 8, 8) and vol.data.all()
    np.testing.assert_allclose(vol.spacing, (3.5, PS[0], PS[1]))


def test_dicom_not_a_zip(tmp_path):
    p = tmp_path / "MASKS_DICOM.zip"
    p.write_bytes(b"this is not a zip file at all" * 10)
    with pytest.raises(ValueError, match=r"MASKS_DICOM\.zip.*not a readable zip"):
        load_volume(p)


def test_dicom_truncated_zip(tmp_path, masks_zip):
    raw = masks_zip.read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"cut\.zip.*corrupt or not a zip"):
        load_volume(cut)


def test_dicom_corrupt_member(tmp_path, masks_zip):
    raw = bytearray(masks_zip.read_bytes())
    with zipfile.ZipFile(masks_zip) as zf:
        info = zf.getinfo("MASKS_DICOM/portalvein/image_2")
    # flip bytes inside that member's compressed data (after its 30-byte local header + name)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 5, start + 25):
        raw[i] ^= 0xFF
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"portalvein/image_2"):
        load_volume(bad)
    # other structures of the same zip are still readable
    np.testing.assert_array_equal(load_volume(bad, structures="artery").data, _structure_volume(4))


def test_dicom_member_not_dicom(tmp_path):
    members = _masks_members()
    members["MASKS_DICOM/venoussystem/image_3"] = b"garbage" * 50
    p = _write_zip(tmp_path / "m.zip", members)
    with pytest.raises(ValueError, match=r"venoussystem/image_3.*not a readable DICOM"):
        load_volume(p)


def test_dicom_missing_slice_in_one_structure_of_union(tmp_path):
    # an end slice missing in one structure: uniform by itself, but not on the others' grid
    p = _write_zip(tmp_path / "m.zip", _masks_members(drop=("venoussystem", 3)))
    assert load_volume(p, structures="venoussystem").data.shape == (3, 8, 8)
    with pytest.raises(ValueError, match="'portalvein' and 'venoussystem'.*same slice grid"):
        load_volume(p)


@pytest.mark.parametrize("damage, structures, match", [
    ({"drop": ("portalvein", 1)}, None,
     r"non-uniform slice gaps.*missing slices.*gap of 5 mm.*expected 2.5 mm"),
    ({"resize": ("portalvein", 2)}, None, r"inconsistent slice sizes.*portalvein/image_2.*8x9"),
    ({"dup": ("liver", 2)}, "liver", "duplicate slice position"),
], ids=["missing_slice", "inconsistent_slice_sizes", "duplicate_position"])
def test_dicom_damaged_series_refused(tmp_path, damage, structures, match):
    p = _write_zip(tmp_path / "m.zip", _masks_members(**damage))
    with pytest.raises(ValueError, match=match):
        load_volume(p, structures=structures)


# ------------------------------------------------------------------------------------------
# 3D-IRCADb (real data)


@pytest.mark.data
def test_ircadb_patient_1_1_masks(ircadb):
    path = ircadb / "3Dircadb1.1" / "MASKS_DICOM.zip"
    names = list_structures(path)
    assert {"portalvein", "venoussystem", "liver", "artery"} <= set(names)
    # independent reading of the tags with pydicom
    with zipfile.ZipFile(path) as zf:
        files = [n for n in zf.namelist() if n.startswith("MASKS_DICOM/portalvein/") and not n.endswith("/")]
        heads = {n: pydicom.dcmread(io.BytesIO(zf.read(n))) for n in files}
    z = {n: float(d.ImagePositionPatient[2]) for n, d in heads.items()}
    ordered = sorted(files, key=z.get)
    ds0 = heads[ordered[0]]
    vol = load_volume(path, structures="portalvein")
    assert vol.data.shape == (129, 512, 512)
    np.testing.assert_allclose(
        vol.spacing,
        (z[ordered[1]] - z[ordered[0]], float(ds0.PixelSpacing[0]), float(ds0.PixelSpacing[1])),
    )
    # slices in position order, not in file-name order (image_10 sorts before image_2 by name)
    for k in (0, 2, 10, 64, 128):
        np.testing.assert_array_equal(vol.data[k], heads[ordered[k]].pixel_array != 0)
    assert sorted(files)[2] != ordered[2]
    union = load_volume(path)
    assert union.data.sum() >= vol.data.sum()
    liver_only = load_volume(path, restrict_to="liver")
    assert liver_only.data.sum() < union.data.sum()
    assert not (liver_only.data & ~union.data).any()


@pytest.mark.data
def test_ircadb_patient_1_1_ct_matches_mask_grid(ircadb):
    ct_path = ircadb / "3Dircadb1.1" / "PATIENT_DICOM.zip"
    if not ct_path.is_file():
        pytest.skip(f"no CT at {ct_path}")
    ct = load_volume(ct_path)
    liver = load_volume(ircadb / "3Dircadb1.1" / "MASKS_DICOM.zip", structures="liver")
    assert ct.data.dtype == np.float32 and ct.data.shape == liver.data.shape
    np.testing.assert_allclose(ct.affine, liver.affine, atol=1e-4)
    # HU from the tags, checked on one slice read independently
    with zipfile.ZipFile(ct_path) as zf:
        heads = [pydicom.dcmread(io.BytesIO(zf.read(n))) for n in zf.namelist() if not n.endswith("/")]
    heads.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    d = heads[40]
    np.testing.assert_array_equal(
        ct.data[40], d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept)
    )
    # anatomy: the liver is soft tissue (median roughly 0-200 HU), the corners are air
    assert -50 < np.median(ct.data[liver.data]) < 250
    assert ct.data[:, :5, :5].mean() < -500


# ------------------------------------------------------------------ as_binary_mask


@pytest.mark.parametrize(
    "values, expected",
    [
        ([0, 1, 1, 0], [False, True, True, False]),
        ([0.0, 1.0, 0.0, 1.0], [False, True, False, True]),
        ([0, 255, 255, 0], [False, True, True, False]),
        ([255, 255, 255, 255], [True, True, True, True]),
        ([0, 0, 0, 0], [False, False, False, False]),
    ],
)
def test_as_binary_mask_accepts_stored_masks(values, expected):
    from vesseltree.io import as_binary_mask

    data = np.array(values).reshape(1, 2, 2)
    before = data.copy()
    out = as_binary_mask(data, "m")
    assert out.dtype == bool and out.ravel().tolist() == expected
    np.testing.assert_array_equal(data, before)


@pytest.mark.parametrize(
    "values",
    [[0, 1, 2, 0], [0.0, 0.7, 0.7, 0.0], [0.7, 0.7, 0.7, 0.7], [0, -1, 0, -1], [0.0, np.nan, 1.0, 0.0]],
)
def test_as_binary_mask_rejects_non_masks_naming_the_input(values):
    from vesseltree.io import as_binary_mask

    with pytest.raises(ValueError, match="labels.npy"):
        as_binary_mask(np.array(values).reshape(1, 2, 2), "labels.npy")

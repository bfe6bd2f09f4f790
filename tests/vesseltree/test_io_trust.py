"""vesseltree.io against untrusted or inconsistent files (issues 9 and 16).

Archives: ``..`` and absolute member names, zip bombs, headers that lie about sizes (the
reader never extracts outside the intended folder nor reads past its bound). NIfTI: the best
affine by nibabel's rule (sform, else qform, else pixdim), kept on output, warnings when
sform/qform/pixdim disagree, a sheared sform written with a consistent qform. Grids: two
affines that differ by axis flips/permutations map one array onto the other's grid.
"""
from __future__ import annotations

import io as _io
import os
import struct
import warnings
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from vesseltree import io as vio
from vesseltree.io import load_volume, open_zip_safely, save_volume

from .test_io import _masks_members, _write_zip


# ------------------------------------------------------------------------------------------
# archives


def _zip_with(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, raw in members.items():
            info = zipfile.ZipInfo(name)  # ZipInfo keeps the name as given ('..', '/')
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, raw)
    return path


@pytest.mark.parametrize("member", ["../evil.txt", "MASKS_DICOM/../../evil.txt", "/tmp/evil.txt",
                                    "C:/evil.txt", "a/../../evil.txt", "..\\evil.txt"])
def test_zip_member_escaping_the_folder_is_refused(tmp_path, member):
    z = _zip_with(tmp_path / "x.zip", {"ok/a.txt": b"1", member: b"2"})
    dest = tmp_path / "dest" / "sub"
    with pytest.raises(ValueError, match="member"):
        with open_zip_safely(z) as zf:
            zf.extract_all(dest)
    assert not dest.exists()  # refused before anything is written
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "dest" / "evil.txt").exists()
    with pytest.raises(ValueError, match="member"):
        load_volume(z)


def test_zip_bomb_is_bounded(tmp_path):
    big = 30 * 2**20  # 30 MiB of zeros, about 30 KiB compressed
    z = _zip_with(tmp_path / "bomb.zip", {"MASKS_DICOM/portalvein/image_0": bytes(big)})
    assert z.stat().st_size < big // 100
    with pytest.raises(ValueError, match=r"uncompressed.*max_total_bytes"):
        open_zip_safely(z, max_total_bytes=2**20)
    # the readers use the module bound
    old = vio.MAX_ZIP_BYTES
    try:
        vio.MAX_ZIP_BYTES = 2**20
        with pytest.raises(ValueError, match="uncompressed"):
            load_volume(z)
    finally:
        vio.MAX_ZIP_BYTES = old
    with open_zip_safely(z, max_total_bytes=2 * big) as zf:  # within the bound: fine
        assert zf.members == ["MASKS_DICOM/portalvein/image_0"]
        assert len(zf.read("MASKS_DICOM/portalvein/image_0")) == big


def _lie_about_size(path: Path, declared: int) -> None:
    """Rewrite the uncompressed size of the only member in both headers."""
    raw = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = raw.find(sig)
        raw[i + off:i + off + 4] = struct.pack("<I", declared)
    path.write_bytes(bytes(raw))


def test_zip_header_lying_about_size_never_reads_more(tmp_path):
    z = _zip_with(tmp_path / "liar.zip", {"a/b": bytes(4 * 2**20)})
    _lie_about_size(z, 100)
    with open_zip_safely(z, max_total_bytes=1000) as zf:  # declared 100 bytes: accepted
        with pytest.raises(ValueError, match="corrupt member"):
            zf.read("a/b")  # but the data do not match the header: refused, not 4 MiB


def test_zip_extract_and_read_stay_in_the_folder(tmp_path, monkeypatch):
    z = _write_zip(tmp_path / "MASKS_DICOM.zip", _masks_members())
    dest = tmp_path / "out"
    with open_zip_safely(z) as zf:
        written = zf.extract_all(dest)
        assert len(written) == len(zf.members) and zf.total_bytes > 0
        for p in written:
            assert Path(p).resolve().is_relative_to(dest.resolve())
    assert load_volume(dest).shape == load_volume(z).shape
    with open_zip_safely(z) as zf, pytest.raises(ValueError, match="member"):
        zf.read("MASKS_DICOM/nothere")


def test_zip_symlink_member_is_refused(tmp_path):
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("a/link")
        info.external_attr = (0o120777 << 16)  # a symbolic link to /etc/passwd
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ValueError, match="link"):
        open_zip_safely(z)


# ------------------------------------------------------------------------------------------
# NIfTI geometry


def _nifti(path, data_xyz, *, sform=None, scode=1, qform=None, qcode=1, pixdim=None):
    img = nib.Nifti1Image(data_xyz, None)
    if qform is not None:
        img.set_qform(qform, code=qcode)
    else:
        img.header.set_qform(None, code=0)
    if sform is not None:
        img.set_sform(sform, code=scode)
    else:
        img.header.set_sform(None, code=0)
    if pixdim is not None:
        img.header.set_zooms(pixdim)
    nib.save(img, str(path))
    return path


def test_nifti_sform_wins_over_pixdim_and_is_kept(tmp_path):
    """Issue 9.4: sform diag(2, 2, 2) with pixdim (1, 1, 1): measured at 2 mm, with a warning,
    and written back with the 2 mm affine."""
    data = np.zeros((4, 5, 6), np.uint8)  # x, y, z
    data[1:3, 1:4, 2:5] = 1
    p = _nifti(tmp_path / "s.nii.gz", data, sform=np.diag([2.0, 2.0, 2.0, 1.0]), pixdim=(1, 1, 1))
    with pytest.warns(UserWarning, match="pixdim"):
        vol = load_volume(p)
    assert vol.spacing == (2.0, 2.0, 2.0)
    np.testing.assert_allclose(vol.affine[:3, :3], np.diag([2.0, 2.0, 2.0])[:, ::-1])
    out = save_volume(tmp_path / "o.nii.gz", vol.data, vol.spacing, vol.affine)
    img = nib.load(str(out))
    np.testing.assert_allclose(img.affine, np.diag([2.0, 2.0, 2.0, 1.0]))
    np.testing.assert_allclose(img.header.get_zooms(), (2, 2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_volume(out)  # consistent now: no warning
    np.testing.assert_allclose(again.affine, vol.affine)


def test_nifti_qform_sform_disagreement_warns(tmp_path):
    data = np.zeros((4, 5, 6), np.uint8)
    q = np.diag([1.0, 1.0, 1.0, 1.0])
    s = np.diag([1.0, 1.0, 1.0, 1.0])
    s[:3, 3] = (30.0, 0.0, 0.0)  # shifted by 30 mm
    p = _nifti(tmp_path / "qs.nii.gz", data, sform=s, qform=q)
    with pytest.warns(UserWarning, match="qform"):
        vol = load_volume(p)
    np.testing.assert_allclose(vol.affine[:3, 3], (30.0, 0.0, 0.0))  # nibabel's rule: sform


def test_nifti_without_sform_uses_qform(tmp_path):
    c, s = np.cos(0.3), np.sin(0.3)
    q = np.eye(4)
    q[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([0.8, 0.8, 2.0])
    q[:3, 3] = (1.0, 2.0, 3.0)
    p = _nifti(tmp_path / "q.nii.gz", np.zeros((3, 4, 5), np.uint8), qform=q)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vol = load_volume(p)
    np.testing.assert_allclose(vol.affine[:, [2, 1, 0, 3]], q, atol=1e-5)
    np.testing.assert_allclose(vol.spacing, (2.0, 0.8, 0.8), rtol=1e-5)
    assert vol.has_affine


def test_nifti_sheared_sform_written_with_consistent_qform(tmp_path):
    aff = np.diag([0.8, 0.9, 2.0, 1.0])
    aff[0, 1] = 0.3  # shear: not representable by a qform
    aff[:3, 3] = (5.0, -3.0, 12.0)
    data = np.zeros((4, 5, 6), np.uint8)  # x, y, z
    data[1, 2, 3] = 1
    zyx = np.ascontiguousarray(data.transpose(2, 1, 0))
    p = save_volume(tmp_path / "sh.nii.gz", zyx, vio.spacing_from_affine(aff[:, [2, 1, 0, 3]]),
                    aff[:, [2, 1, 0, 3]])
    img = nib.load(str(p))
    hdr = img.header
    np.testing.assert_allclose(hdr.get_sform(), aff, atol=1e-5)  # the sform is the affine
    # the qform is nibabel's nearest representable affine, and pixdim are its zooms
    ref = nib.Nifti1Header()
    ref.set_data_shape(data.shape)
    ref.set_qform(aff, code=1)
    np.testing.assert_allclose(hdr.get_qform(), ref.get_qform(), atol=1e-5)
    np.testing.assert_allclose(hdr.get_zooms(), ref.get_zooms(), atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = load_volume(p)
    np.testing.assert_allclose(back.affine[:, [2, 1, 0, 3]], aff, atol=1e-5)


def test_has_affine_tells_files_with_orientation(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 3, 4)))
    np.savez(tmp_path / "b.npz", mask=np.zeros((2, 3, 4)), spacing=np.ones(3))
    save_volume(tmp_path / "c.npz", np.zeros((2, 3, 4)), (1, 1, 1))
    save_volume(tmp_path / "d.nii.gz", np.zeros((2, 3, 4)), (1, 1, 1))
    _nifti(tmp_path / "e.nii.gz", np.zeros((4, 3, 2), np.uint8))  # no sform, no qform
    got = {n: load_volume(tmp_path / n).has_affine for n in ("a.npy", "b.npz", "c.npz", "d.nii.gz", "e.nii.gz")}
    assert got == {"a.npy": False, "b.npz": False, "c.npz": True, "d.nii.gz": True, "e.nii.gz": False}


# ------------------------------------------------------------------------------------------
# grids


def test_align_to_grid_undoes_flips_and_permutations():
    rng = np.random.default_rng(0)
    g = rng.random((4, 5, 6)) > 0.5
    sp = (2.0, 0.7, 0.9)
    ref = vio.default_affine(sp)
    ref[:3, 3] = (10.0, -5.0, 3.0)
    # the same voxels stored with x reversed, its affine's x column negated (issue 9.3)
    flipped = g[:, :, ::-1]
    aff = ref.copy()
    aff[:3, 2] = -ref[:3, 2]
    aff[:3, 3] = ref[:3, 3] + ref[:3, 2] * (g.shape[2] - 1)
    np.testing.assert_array_equal(vio.align_to_grid(flipped, aff, ref, g.shape), g)
    # transposed (z, x, y) storage
    perm = g.transpose(0, 2, 1)
    aff2 = ref[:, [0, 2, 1, 3]]
    np.testing.assert_array_equal(vio.align_to_grid(perm, aff2, ref, g.shape), g)
    # identical grids: the same array back
    assert vio.align_to_grid(g, ref, ref, g.shape) is g
    # a shift of half a voxel, a rotation, other voxel sizes: refused, naming the grids
    shifted = ref.copy()
    shifted[:3, 3] += (0.35, 0, 0)
    rot = ref.copy()
    c, s = np.cos(0.2), np.sin(0.2)
    rot[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ ref[:3, :3]
    other = vio.default_affine((1.0, 0.7, 0.9))
    for bad in (shifted, rot, other):
        with pytest.raises(ValueError, match="grid"):
            vio.align_to_grid(g, bad, ref, g.shape, name="pred")
    with pytest.raises(ValueError, match="shape"):
        vio.align_to_grid(g[:3], ref, ref, g.shape)


# ------------------------------------------------------------------------------------------
# output names


@pytest.mark.parametrize("bad", ["../x", "../../x", "a/b", "a\\b", "..", ".", "", "/abs", ".hidden", "x\0y"])
def test_output_names_cannot_escape(bad):
    with pytest.raises(ValueError, match="name"):
        vio.check_output_name(bad)
    safe = vio.safe_output_name(bad)
    assert safe and "/" not in safe and "\\" not in safe and not safe.startswith(".")
    assert Path(safe).name == safe
    assert vio.check_output_name(safe) == safe

"""NIfTI and NumPy readers behind :func:`vesseltree.io.load_volume` (the DICOM reader:
:mod:`vesseltree._dicom`). Geometry convention and NIfTI header rules: :mod:`vesseltree.io`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._validation import check_spacing
from .geometry import check_affine, default_affine, spacing_from_affine, with_spacing
from .io import Volume
from ._warnings import warn

# relative tolerance between NIfTI geometries (headers store float32)
_NIFTI_RTOL = 1e-4


def load_nifti(p: Path) -> Volume:
    import nibabel as nib

    try:
        img = nib.load(str(p))
        raw = np.asanyarray(img.dataobj)
    except Exception as exc:
        raise ValueError(f"path: cannot read NIfTI file {str(p)!r}: {exc}") from exc
    if raw.ndim == 4 and raw.shape[3] == 1:
        raw = raw[..., 0]
    if raw.ndim != 3:
        raise ValueError(f"path: expected a 3D NIfTI image, got shape {raw.shape} in {str(p)!r}")
    data = np.ascontiguousarray(raw.transpose(2, 1, 0))
    best, oriented = _nifti_affine(img, p.name)
    affine = np.asarray(best, dtype=float)[:, [2, 1, 0, 3]]
    spacing = check_spacing(spacing_from_affine(affine), f"voxel size of {p.name}")
    pixdim = tuple(float(z) for z in img.header.get_zooms()[:3])[::-1]
    if np.allclose(pixdim, spacing, rtol=_NIFTI_RTOL, atol=1e-6):
        # they agree: the header's voxel size, not the float32 round-off of the column norms
        spacing = check_spacing(pixdim, f"voxel size of {p.name}")
        affine = with_spacing(affine, spacing)
    return Volume(data, spacing, affine, str(p), oriented)


def _nifti_affine(img, name: str) -> tuple[np.ndarray, bool]:
    """nibabel's best affine of a NIfTI image (x, y, z columns) and whether the header
    carries an orientation; warns when sform, qform and pixdim disagree."""
    import nibabel as nib

    hdr = img.header
    sform, scode = hdr.get_sform(coded=True)
    qform, qcode = hdr.get_qform(coded=True)
    best = np.asarray(img.affine, dtype=float)  # sform, else qform, else pixdim (nibabel)
    used = "sform" if scode else "qform" if qcode else "pixdim"
    near = nib.Nifti1Header()
    near.set_data_shape(img.shape[:3])
    near.set_qform(best, code=1)  # the nearest rigid form of best, and its zooms
    if scode and qcode and not np.allclose(qform, near.get_qform(), rtol=_NIFTI_RTOL, atol=1e-3):
        warn(
            f"{name}: the NIfTI qform and sform describe different geometries (voxel (0,0,0) at "
            f"{np.round(qform[:3, 3], 3).tolist()} vs {np.round(sform[:3, 3], 3).tolist()} mm); "
            "using the sform (nibabel's rule)", UserWarning)
    pixdim = np.asarray(hdr.get_zooms()[:3], dtype=float)
    zooms = np.asarray(near.get_zooms()[:3], dtype=float)
    if used != "pixdim" and not np.allclose(pixdim, zooms, rtol=_NIFTI_RTOL, atol=1e-6):
        warn(
            f"{name}: NIfTI pixdim {np.round(pixdim, 6).tolist()} disagree with the voxel size "
            f"{np.round(zooms, 6).tolist()} of its {used}; using the {used} (nibabel's rule)",
            UserWarning)
    return best, bool(scode or qcode)


def load_npy(p: Path) -> Volume:
    try:
        data = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"path: cannot read .npy file {str(p)!r}: {exc}") from exc
    if data.ndim != 3:
        raise ValueError(f"path: expected a 3D array (z, y, x) in {str(p)!r}, got shape {data.shape}")
    sp = (1.0, 1.0, 1.0)
    return Volume(data, sp, default_affine(sp), str(p), has_affine=False)


def load_npz(p: Path) -> Volume:
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise ValueError(f"path: cannot read .npz file {str(p)!r}: {exc}") from exc
    meta = {"spacing", "affine"}
    if "mask" in arrays:
        key = "mask"
    elif "data" in arrays:
        key = "data"
    else:
        rest = [k for k in arrays if k not in meta]
        if len(rest) != 1:
            raise ValueError(
                f"path: {str(p)!r} holds arrays {sorted(arrays)}; expected one named 'mask' or "
                "'data', or a single array"
            )
        key = rest[0]
    data = arrays[key]
    if data.ndim != 3:
        raise ValueError(f"path: expected a 3D array (z, y, x) in {str(p)!r}[{key!r}], got shape {data.shape}")
    if "spacing" in arrays:
        sp = check_spacing(arrays["spacing"], f"spacing stored in {p.name}")
    elif "affine" in arrays:
        sp = spacing_from_affine(np.asarray(arrays["affine"], dtype=float))
    else:
        sp = (1.0, 1.0, 1.0)
    has = "affine" in arrays
    aff = check_affine(arrays["affine"], sp) if has else default_affine(sp)
    return Volume(data, sp, aff, f"{p}[{key}]", has_affine=has)

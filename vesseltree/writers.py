"""Writing files atomically: :func:`atomic_write` (any file) and :func:`save_volume`
(NIfTI, ``.npy``, ``.npz``, with the geometry convention of :mod:`vesseltree.io`, whose
reading it inverts). Both are also importable from :mod:`vesseltree.io`.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from ._validation import check_spacing
from .file_kinds import volume_suffix
from .geometry import check_affine, default_affine

__all__ = ["atomic_write", "save_volume"]


@contextlib.contextmanager
def atomic_write(path, suffix: str = ""):
    """Yield a temporary path in ``path``'s folder; on success move it over ``path``.

    The temporary file ends with ``suffix`` (writers that pick the format from the name, such
    as nibabel, need the real extension). On error it is removed and ``path`` is untouched.
    The final file gets the usual permissions (``0o666`` minus the umask).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp" + suffix, dir=p.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_volume(path, data, spacing, affine=None) -> Path:
    """Write ``data`` (axes z, y, x) with its geometry, atomically.

    ``.nii`` / ``.nii.gz``: NIfTI-1 with the sform set to the affine and the qform to its
    nearest rigid form, pixdim its zooms (the inverse of the reading convention, so that
    loading gives back ``data``, ``spacing`` and ``affine``);
    ``bool`` data are stored as ``uint8``. ``.npy``: the array only. ``.npz``: arrays ``data``,
    ``spacing`` and ``affine``.

    The file is first written under a temporary name in the same folder, then moved over
    ``path`` with :func:`os.replace`, so a reader never sees a half-written file.

    Parameters
    ----------
    path : str or path-like
        Output file; its extension selects the format.
    data : array_like
        3D array ``(z, y, x)``.
    spacing : float or 3 floats
        Voxel size in mm along ``(z, y, x)``.
    affine : (4, 4) array_like, optional
        Index ``(iz, iy, ix, 1)`` -> RAS+ mm; its column norms must equal ``spacing``. Default:
        axis-aligned, origin 0.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    p = Path(path)
    arr = np.asarray(data)
    if arr.ndim != 3:
        raise ValueError(f"data: expected a 3D array (z, y, x), got shape {arr.shape}")
    sp = check_spacing(spacing, "spacing")
    aff = default_affine(sp) if affine is None else check_affine(affine, sp)
    suffix = volume_suffix(p)
    if suffix not in {".nii", ".nii.gz", ".npy", ".npz"}:
        raise ValueError(
            f"path: unsupported extension {suffix or '(none)'!r} for writing {str(p)!r}; "
            "supported: .nii, .nii.gz, .npy, .npz"
        )
    with atomic_write(p, suffix) as tmp:
        if suffix in {".nii", ".nii.gz"}:
            import nibabel as nib

            out = arr.astype(np.uint8) if arr.dtype == bool else arr
            nifti_affine = aff[:, [2, 1, 0, 3]]
            img = nib.Nifti1Image(np.ascontiguousarray(out.transpose(2, 1, 0)), nifti_affine)
            # qform: the nearest rigid form (shears stripped), which also sets pixdim to its
            # zooms; sform: the affine itself (vesseltree.io module docstring)
            img.set_qform(nifti_affine, code=1)
            img.set_sform(nifti_affine, code=1)
            img.header.set_xyzt_units("mm")
            nib.save(img, str(tmp))
        elif suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
        else:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, data=arr, spacing=np.asarray(sp), affine=aff)
    return p

"""Voxel grids in world space: affines, voxel sizes and aligning one grid onto another.

An *affine* here is the 4x4 matrix of :class:`vesseltree.io.Volume`: it maps an array index
``(iz, iy, ix, 1)`` to RAS+ world coordinates ``(x, y, z, 1)`` in mm, so its first three
columns are the world steps of one voxel along z, y and x and their norms are the voxel size
``spacing`` (:mod:`vesseltree.io`, "Geometry convention").

:func:`align_to_grid` puts an array stored on one grid onto another when both grids hold the
same voxel centres, i.e. when the two affines differ by axis permutations and flips only
(a mask saved with one axis reversed and that axis' affine column negated is the same
physical object): the array is transposed and flipped, never resampled. Any other
difference (a shift that is not a whole voxel, a rotation, other voxel sizes) is an error.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._validation import check_spacing

__all__ = ["default_affine", "spacing_from_affine", "check_affine", "with_spacing",
           "align_to_grid", "GRID_ATOL_VOXELS"]

#: two grids coincide when every voxel centre of one lies within this fraction of a voxel of
#: a voxel centre of the other (headers store float32: about 1e-5 mm on 500 mm)
GRID_ATOL_VOXELS = 1e-2


def default_affine(spacing: Sequence[float]) -> np.ndarray:
    """Affine of an axis-aligned volume: world x, y, z = ix*sx, iy*sy, iz*sz (RAS+).

    Parameters
    ----------
    spacing : 3 floats
        Voxel size in mm along (z, y, x).

    Returns
    -------
    numpy.ndarray, shape (4, 4)
    """
    sz, sy, sx = check_spacing(spacing)
    aff = np.zeros((4, 4))
    aff[0, 2] = sx
    aff[1, 1] = sy
    aff[2, 0] = sz
    aff[3, 3] = 1.0
    return aff


def spacing_from_affine(affine) -> tuple[float, float, float]:
    """Voxel size (mm, z, y, x): the norms of the first three columns of ``affine``."""
    aff = np.asarray(affine, dtype=float)
    return tuple(float(v) for v in np.linalg.norm(aff[:3, :3], axis=0))


def check_affine(affine, spacing: tuple[float, float, float], name: str = "affine") -> np.ndarray:
    """A finite 4x4 copy of ``affine`` whose column norms equal ``spacing``, or ValueError."""
    aff = np.asarray(affine, dtype=float)
    if aff.shape != (4, 4) or not np.all(np.isfinite(aff)):
        raise ValueError(f"{name}: expected a finite 4x4 matrix, got shape {aff.shape}")
    norms = spacing_from_affine(aff)
    if not np.allclose(norms, spacing, rtol=1e-4, atol=1e-6):
        raise ValueError(
            f"{name}: the norms of its first three columns (voxel steps along z, y, x) must equal "
            f"spacing {tuple(spacing)}, got {tuple(round(n, 6) for n in norms)}"
        )
    return aff.copy()


def with_spacing(affine: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """A copy of ``affine`` whose voxel steps (columns) are rescaled to norms ``spacing``."""
    aff = np.array(affine, dtype=float)
    norms = np.linalg.norm(aff[:3, :3], axis=0)
    norms[norms == 0] = 1.0
    aff[:3, :3] = aff[:3, :3] / norms * np.asarray(spacing)
    return aff


def align_to_grid(data: np.ndarray, affine, ref_affine, ref_shape: Sequence[int], *,
                  name: str = "data", ref_name: str = "reference") -> np.ndarray:
    """``data`` (on the grid of ``affine``) on the grid of ``ref_affine``/``ref_shape``.

    Parameters
    ----------
    data : numpy.ndarray, 3D
        Array indexed (z, y, x) on its own grid.
    affine, ref_affine : (4, 4) array_like
        Index -> world affines of ``data`` and of the reference grid.
    ref_shape : 3 ints
        Shape of the reference grid.
    name, ref_name : str
        How to name the two in error messages.

    Returns
    -------
    numpy.ndarray
        ``data`` itself when the grids are the same; else a transposed and flipped view of
        it, of shape ``ref_shape``, whose voxel ``i`` sits at the world position of the
        reference's voxel ``i``.

    Raises
    ------
    ValueError
        When the grids do not hold the same voxel centres (naming both): a shift that is not
        a whole voxel, a rotation or another voxel size, or a box that does not coincide.
    """
    a = np.asarray(affine, dtype=float)
    r = np.asarray(ref_affine, dtype=float)
    ref_shape = tuple(int(s) for s in ref_shape)
    arr = np.asarray(data)
    if arr.ndim != 3:
        raise ValueError(f"{name}: expected a 3D array (z, y, x), got shape {arr.shape}")
    # t maps an index of data to an index of the reference grid
    t = np.linalg.solve(r, a)
    lin = t[:3, :3]
    perm = np.argmax(np.abs(lin), axis=1)  # reference axis i <- data axis perm[i]
    sign = np.sign(lin[np.arange(3), perm])
    expected = np.zeros((3, 3))
    expected[np.arange(3), perm] = sign
    if sorted(perm.tolist()) != [0, 1, 2] or not np.allclose(lin, expected, atol=1e-3):
        raise ValueError(
            f"{name}, {ref_name}: the two grids differ by more than axis flips/permutations "
            f"(rotation or other voxel sizes; voxel steps {_steps(a)} vs {_steps(r)} mm); "
            "resample one onto the other first")
    moved = np.transpose(arr, perm)
    if moved.shape != ref_shape:
        raise ValueError(f"{name}, {ref_name}: shapes differ on a common grid: {arr.shape} "
                         f"(as {moved.shape} on the {ref_name}'s axes) vs {ref_shape}")
    # where data's first and last voxels land: 0 (kept) or n - 1 (flipped), along each axis
    offset = t[:3, 3]
    target = np.where(sign > 0, 0.0, np.asarray(ref_shape) - 1.0)
    if not np.allclose(offset, target, atol=GRID_ATOL_VOXELS):
        raise ValueError(
            f"{name}, {ref_name}: the grids do not cover the same voxels (origin off by "
            f"{np.round(offset - target, 3).tolist()} voxels of the {ref_name}'s grid)")
    if (perm == np.arange(3)).all() and (sign > 0).all():
        return data if isinstance(data, np.ndarray) else arr
    flips = tuple(int(i) for i in np.flatnonzero(sign < 0))
    return np.flip(moved, axis=flips) if flips else moved


def _steps(affine: np.ndarray) -> list[float]:
    return [round(v, 4) for v in spacing_from_affine(affine)]

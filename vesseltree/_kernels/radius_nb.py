"""Numba kernels for the local radius (Sadikine et al. 2023, Eq. 1) and its corrected variant.

Preconditions (checked by :mod:`vesseltree.radius`, trusted here):

- ``mask`` is a C-contiguous ``bool`` 3D array; ``coords`` a C-contiguous ``int64`` (n, 3)
  array of voxel coordinates inside ``mask``'s shape.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["surface_flags", "length_elements"]


@njit(cache=True, parallel=True)
def surface_flags(mask, coords):
    """For each voxel ``coords[i]`` (a mask voxel), True if one of its 6 face neighbours is
    background or lies outside the volume (the border counts as background)."""
    n = coords.shape[0]
    nz, ny, nx = mask.shape
    out = np.zeros(n, dtype=np.bool_)
    for i in prange(n):
        z, y, x = coords[i, 0], coords[i, 1], coords[i, 2]
        if z == 0 or y == 0 or x == 0 or z == nz - 1 or y == ny - 1 or x == nx - 1:
            out[i] = True
        elif not (mask[z - 1, y, x] and mask[z + 1, y, x] and mask[z, y - 1, x]
                  and mask[z, y + 1, x] and mask[z, y, x - 1] and mask[z, y, x + 1]):
            out[i] = True
    return out


@njit(cache=True, inline="always")
def _distance_mm(coords, a, b, spacing):
    # Euclidean distance (mm) between voxels coords[a] and coords[b]
    acc = 0.0
    for ax in range(3):
        d = (coords[a, ax] - coords[b, ax]) * spacing[ax]
        acc += d * d
    return np.sqrt(acc)


@njit(cache=True)
def length_elements(coords, nbr_ptr, nbr_idx, spacing):
    """Centerline length (mm) carried by each skeleton voxel.

    ``nbr_ptr``/``nbr_idx`` (CSR) list the 26-neighbours of each voxel within the skeleton.
    A voxel with exactly two neighbours a, b carries half the chord |p_a - p_b| (the
    central difference, which removes most of the 1 / sqrt(2) / sqrt(3) staircase bias of
    summing steps); any other voxel carries half the sum of its steps to its neighbours
    (an endpoint half a step, a junction voxel half of each of its arms' first steps).
    """
    n = coords.shape[0]
    out = np.zeros(n, dtype=np.float64)
    for i in range(n):
        s, e = nbr_ptr[i], nbr_ptr[i + 1]
        if e - s == 2:
            out[i] = 0.5 * _distance_mm(coords, nbr_idx[s], nbr_idx[s + 1], spacing)
        else:
            tot = 0.0
            for p in range(s, e):
                tot += _distance_mm(coords, i, nbr_idx[p], spacing)
            out[i] = 0.5 * tot
    return out

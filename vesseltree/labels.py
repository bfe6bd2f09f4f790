"""Nearest-branch labelling of the vessel mask (Sadikine et al., ISBI 2023, Eq. 3).

.. math:: B_j(\\nu) = j \\;\\text{ s.t. }\\; \\min_{\\nu \\notin \\Gamma'}
          \\lVert \\gamma_k'^j - \\nu \\rVert \\quad \\forall k, \\; y(\\nu) = 1

Every vessel voxel :math:`\\nu` receives the branch id ``j`` of the labelled skeleton voxel
:math:`\\gamma'^j_k` nearest to it, in physical distance (mm, with the voxel ``spacing``);
voxels outside the mask get 0. Ties at exactly equal distance go to the **smallest branch
id**, then to the seed voxel first in raster (C) order, so the result never depends on the
search order.

Only the mask voxels and the seed voxels are visited (a bucket-grid nearest-neighbour search,
:mod:`vesseltree._kernels.labels_nb`): no dense distance transform of the bounding box, so the
cost follows the vessel volume, not the image volume.

Junction voxels of the skeleton belong to no branch in the branch graph; they are given one
fixed owner by the same rule (:func:`skeleton_owner`): the branch of the nearest branch voxel,
ties to the smallest branch id.
"""
from __future__ import annotations

import warnings

import numpy as np

from ._kernels import labels_nb
from ._validation import check_mask, check_spacing

__all__ = ["nearest_branch_labels", "skeleton_owner", "nearest_seed"]


def nearest_seed(query: np.ndarray, seeds: np.ndarray, seed_label: np.ndarray,
                 spacing: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest seed of each query voxel (ties: smallest label, then the
    smallest seed index) and the distance in mm. Arrays already validated: (n, 3) int64
    coordinates inside ``shape``, ``seeds`` non-empty, ``seed_label`` int64 >= 0."""
    n = len(seeds)
    key = np.asarray(seed_label, dtype=np.int64) * np.int64(n) + np.arange(n, dtype=np.int64)
    unit, scale = labels_nb.unit_spacing(spacing)
    grid = labels_nb.build_grid(seeds, unit, shape)
    idx, d2 = labels_nb.nearest_keyed(query, seeds, key, unit, *grid)
    return idx, np.sqrt(d2) * scale


def skeleton_owner(coords: np.ndarray, branch: np.ndarray, spacing, shape) -> np.ndarray:
    """Give every skeleton voxel one branch: voxels with ``branch == 0`` (junction or
    isolated voxels) take the branch of the nearest voxel with ``branch > 0`` (mm; ties
    to the smallest branch id, then raster order). If no voxel has a branch, the result
    is all zeros.

    Parameters
    ----------
    coords : (n, 3) int array of skeleton voxel coordinates.
    branch : (n,) int array, branch id of each voxel (0 = none).
    spacing : 3 floats (mm).
    shape : the volume shape.

    Returns
    -------
    (n,) int64 array of branch ids.
    """
    coords = np.ascontiguousarray(coords, dtype=np.int64)
    branch = np.asarray(branch, dtype=np.int64).copy()
    sp = np.asarray(check_spacing(spacing), dtype=np.float64)
    has = branch > 0
    if has.all() or not has.any():
        return branch
    seeds = np.ascontiguousarray(coords[has])
    idx, _ = nearest_seed(np.ascontiguousarray(coords[~has]), seeds, branch[has], sp, shape)
    branch[~has] = branch[has][idx]
    return branch


def nearest_branch_labels(mask, seed_labels, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Label every vessel voxel with the id of its nearest seed (Eq. 3).

    Parameters
    ----------
    mask : array_like of bool or 0/1, shape (z, y, x)
        Vessel mask.
    seed_labels : array_like of int, shape (z, y, x)
        Labelled skeleton :math:`\\Gamma'`: branch id (> 0) on seed voxels, 0 elsewhere.
        Seeds are usually inside the mask but need not be.
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).

    Returns
    -------
    numpy.ndarray of int32, shape (z, y, x)
        Branch id of the nearest seed on mask voxels (ties: smallest id), 0 elsewhere.
        With no seed at all the result is all zeros and a ``UserWarning`` is issued.
    """
    msk = check_mask(mask, "mask")
    sp = np.asarray(check_spacing(spacing, "spacing"), dtype=np.float64)
    lab = np.asarray(seed_labels)
    if lab.shape != msk.shape:
        raise ValueError(f"seed_labels: expected the shape of mask {msk.shape}, got {lab.shape}")
    if lab.dtype == bool or not np.issubdtype(lab.dtype, np.integer):
        raise TypeError(f"seed_labels: expected an integer array, got dtype {lab.dtype}")
    if lab.size and lab.min() < 0:
        raise ValueError(f"seed_labels: expected labels >= 0, got {int(lab.min())}")
    if lab.size and lab.max() > np.iinfo(np.int32).max:
        raise ValueError(f"seed_labels: expected labels that fit int32, got {int(lab.max())}")
    out = np.zeros(msk.shape, dtype=np.int32)
    seeds = np.ascontiguousarray(np.argwhere(lab > 0), dtype=np.int64)
    if not msk.any():
        return out
    if not len(seeds):
        warnings.warn("seed_labels has no seed (> 0): every label is 0", UserWarning, stacklevel=2)
        return out
    sl = lab[seeds[:, 0], seeds[:, 1], seeds[:, 2]].astype(np.int64)
    q = np.ascontiguousarray(np.argwhere(msk), dtype=np.int64)
    idx, _ = nearest_seed(q, seeds, sl, sp, msk.shape)
    out[q[:, 0], q[:, 1], q[:, 2]] = sl[idx]
    return out

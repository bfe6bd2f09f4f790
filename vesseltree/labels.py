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

:func:`vesseltree.analyze` restricts the search to the 26-connected component of the mask
that holds the voxel (``within_components=True``, the default here): a label never crosses from one
vessel component to another, and a component whose skeleton has no branch gets a branch of
its own (a zero-length ``'point'`` branch, see :mod:`vesseltree.analysis`).

Junction voxels of the skeleton belong to no branch in the branch graph; they are given one
fixed owner by the same rule (:func:`skeleton_owner`): the branch of the nearest branch voxel,
ties to the smallest branch id.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._kernels import labels_nb
from ._validation import check_mask, check_spacing
from ._warnings import warn

__all__ = ["nearest_branch_labels", "skeleton_owner", "nearest_seed"]


def nearest_seed(query: np.ndarray, seeds: np.ndarray, seed_label: np.ndarray,
                 spacing: np.ndarray, shape, query_group: np.ndarray | None = None,
                 seed_group: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest seed of each query voxel and the distance in mm.

    Low-level layer over :mod:`vesseltree._kernels.labels_nb`: arrays must already be
    validated (no checks here).

    Parameters
    ----------
    query : numpy.ndarray of int64, shape (n, 3)
        C-contiguous voxel coordinates inside ``shape``.
    seeds : numpy.ndarray of int64, shape (k, 3)
        C-contiguous voxel coordinates inside ``shape``, k >= 1.
    seed_label : numpy.ndarray of int, shape (k,)
        Label (>= 0) of each seed; ties at equal distance go to the smallest label, then
        to the smallest seed index.
    spacing : numpy.ndarray of float64, shape (3,)
        Voxel size in mm (z, y, x).
    shape : tuple of 3 ints
        Volume shape.
    query_group, seed_group : numpy.ndarray of int, shapes (n,) and (k,), optional
        Group ids (>= 0, e.g. 26-connected components of the mask): a query only
        considers seeds of its own group.

    Returns
    -------
    idx : numpy.ndarray of int64, shape (n,)
        Index into ``seeds`` (-1 where the query's group holds no seed).
    dist : numpy.ndarray of float64, shape (n,)
        Distance in mm (inf where ``idx`` is -1).
    """
    n = len(seeds)
    key = np.asarray(seed_label, dtype=np.int64) * np.int64(n) + np.arange(n, dtype=np.int64)
    unit, scale = labels_nb.unit_spacing(spacing)
    grid = labels_nb.build_grid(seeds, unit, shape)
    if query_group is None:
        idx, d2 = labels_nb.nearest_keyed(query, seeds, key, unit, *grid)
        return idx, np.sqrt(d2) * scale
    qg = np.ascontiguousarray(query_group, dtype=np.int64)
    sg = np.ascontiguousarray(seed_group, dtype=np.int64)
    idx = np.full(len(query), -1, dtype=np.int64)
    d2 = np.full(len(query), np.inf)
    # queries of groups without a seed would scan the whole grid: leave them out
    has = np.zeros(int(max(qg.max(initial=0), sg.max(initial=0))) + 1, dtype=bool)
    has[sg] = True
    ok = has[qg]
    if ok.any():
        q = query if ok.all() else np.ascontiguousarray(query[ok])
        i, d = labels_nb.nearest_keyed_grouped(q, seeds, key, unit, *grid,
                                               np.ascontiguousarray(qg[ok]), sg)
        idx[ok], d2[ok] = i, d
    return idx, np.sqrt(d2) * scale


def skeleton_owner(coords: npt.ArrayLike, branch: npt.ArrayLike, spacing, shape,
                   group: npt.ArrayLike | None = None) -> np.ndarray:
    """Give every skeleton voxel one branch: voxels with ``branch == 0`` (junction or
    isolated voxels) take the branch of the nearest voxel with ``branch > 0`` (mm; ties
    to the smallest branch id, then raster order). Voxels with no candidate keep 0 (all
    zeros when no voxel has a branch).

    Parameters
    ----------
    coords : array_like of int, shape (n, 3)
        Skeleton voxel coordinates.
    branch : array_like of int, shape (n,)
        Branch id of each voxel (0 = none).
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    shape : tuple of 3 ints
        The volume shape.
    group : array_like of int, shape (n,), optional
        Group of each voxel (e.g. the 26-connected component of the mask it lies in): a
        voxel only takes the branch of a voxel of its own group.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Branch id of each voxel.
    """
    coords = np.ascontiguousarray(coords, dtype=np.int64)
    branch = np.asarray(branch, dtype=np.int64).copy()
    sp = np.asarray(check_spacing(spacing), dtype=np.float64)
    has = branch > 0
    if has.all() or not has.any():
        return branch
    seeds = np.ascontiguousarray(coords[has])
    if group is None:
        qg = sg = None
    else:
        g = np.asarray(group, dtype=np.int64)
        if g.shape != branch.shape:
            raise ValueError(f"group: expected the shape of branch {branch.shape}, got {g.shape}")
        qg, sg = g[~has], g[has]
    idx, _ = nearest_seed(np.ascontiguousarray(coords[~has]), seeds, branch[has], sp, shape,
                          qg, sg)
    branch[~has] = np.where(idx >= 0, branch[has][np.maximum(idx, 0)], 0)
    return branch


def nearest_branch_labels(mask: npt.ArrayLike, seed_labels: npt.ArrayLike,
                          spacing=(1.0, 1.0, 1.0), *,
                          within_components: bool = True) -> np.ndarray:
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
    within_components : bool
        ``True`` (default, what :func:`vesseltree.analyze` does): a voxel only takes a seed
        of its own 26-connected component of ``mask``; seeds must then lie inside ``mask``,
        and the voxels of a component without seed stay 0 (with a ``UserWarning``).
        ``False``: Eq. 3 as written, the nearest seed anywhere (seeds may lie outside
        ``mask``).

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
    if not isinstance(within_components, (bool, np.bool_)):
        raise TypeError(f"within_components: expected a bool, got {within_components!r}")
    out = np.zeros(msk.shape, dtype=np.int32)
    seeds = np.ascontiguousarray(np.argwhere(lab > 0), dtype=np.int64)
    if not msk.any():
        return out
    if not len(seeds):
        warn("seed_labels has no seed (> 0): every label is 0", UserWarning)
        return out
    sl = lab[seeds[:, 0], seeds[:, 1], seeds[:, 2]].astype(np.int64)
    q = np.ascontiguousarray(np.argwhere(msk), dtype=np.int64)
    if within_components:
        if not msk[seeds[:, 0], seeds[:, 1], seeds[:, 2]].all():
            raise ValueError("seed_labels: with within_components=True (the default), expected "
                             "seeds inside mask, got seeds outside it (within_components=False "
                             "takes the nearest seed anywhere)")
        comp = labels_nb.components26(msk, q)
        sg = comp[np.searchsorted(np.ravel_multi_index(q.T, msk.shape),
                                  np.ravel_multi_index(seeds.T, msk.shape))]
        idx, _ = nearest_seed(q, seeds, sl, sp, msk.shape, comp, sg)
        if (idx < 0).any():
            warn(f"seed_labels: {len(np.unique(comp[idx < 0]))} component(s) of mask "
                 "hold no seed: their voxels are 0", UserWarning)
        out[q[:, 0], q[:, 1], q[:, 2]] = np.where(idx >= 0, sl[np.maximum(idx, 0)], 0)
        return out
    idx, _ = nearest_seed(q, seeds, sl, sp, msk.shape)
    out[q[:, 0], q[:, 1], q[:, 2]] = sl[idx]
    return out

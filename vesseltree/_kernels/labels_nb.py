"""Numba kernels: exact nearest-neighbour searches between voxel sets, on a bucket grid.

Both searches work on *integer voxel coordinates* (z, y, x) and measure distances in mm
with a per-axis ``spacing``. Reference points are bucketed into a coarse grid of cells;
a query scans cells ring by ring (Chebyshev rings in cell units) and stops as soon as the
lower bound on the distance to any point in the next ring exceeds the best distance found.
Only the reference set and the query set are touched: no dense volume, no distance
transform. Results are exact, deterministic and independent of thread scheduling.

Preconditions (the friendly layers in ``vesseltree.labels`` / ``vesseltree.radius``
check them, the kernels trust them):

- ``query`` and ``ref`` are C-contiguous ``int64`` arrays of shape (n, 3), coordinates
  ``>= 0`` and ``< shape``; ``ref`` is not empty.
- ``spacing`` is a C-contiguous ``float64`` array of 3 finite positive values.
- ``order``/``start``/``cell``/``gshape`` come from :func:`build_grid` on the same ``ref``.
- Grouped searches (:func:`nearest_keyed_grouped`, :func:`knn_grouped`): ``qgroup`` and
  ``rgroup`` are C-contiguous ``int64`` group ids (>= 0) of the query and reference voxels;
  only references of the query's own group are candidates. For
  :func:`nearest_keyed_grouped` every query group holds at least one reference (otherwise
  the search scans the whole grid and returns -1 / inf); :func:`knn_grouped` takes
  ``gcount[g]`` = number of references of group ``g`` and stops at ``min(k, gcount[g])``.
  Either all of ``qgroup``/``rgroup`` (/``gcount``) are such arrays, or all are ``None``:
  no grouping, every reference is a candidate.

All four searches are one kernel, :func:`_nearest_k` (the k nearest, sorted by distance
then a tie key: the reference index, or ``key``): :func:`nearest_keyed` is ``k = 1`` with
a key, :func:`knn` has no key. Numba compiles each ``None`` case (no key, no groups) as a
separate specialisation with that test pruned.

:func:`components26` labels the 26-connected components of a mask from its voxel list.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .borrowing import borrowing

__all__ = ["unit_spacing", "build_grid", "nearest_keyed", "knn", "nearest_keyed_grouped",
           "knn_grouped", "components26"]


def unit_spacing(spacing) -> tuple[np.ndarray, float]:
    """``spacing / min(spacing)`` and ``min(spacing)``.

    The kernels run on the normalised spacing so that axes with the smallest spacing have
    a weight of exactly 1.0: squared distances along them are exact integers and ties at
    equal distance are exact ties (no rounding noise), whatever the voxel size. Multiply
    the kernels' distances by the returned scale to get mm.
    """
    sp = np.asarray(spacing, dtype=np.float64)
    s = float(sp.min())
    return np.ascontiguousarray(sp / s), s


def build_grid(ref: np.ndarray, spacing: np.ndarray, shape, cell_mm: float | None = None):
    """Bucket ``ref`` voxels into a grid of cells (numpy, O(n log n)).

    Returns ``order`` (ref indices sorted by cell, stable so that indices rise within a
    cell), ``start`` (CSR offsets, length n_cells + 1), ``cell`` (cell size in voxels per
    axis, int64) and ``gshape`` (grid shape, int64).
    """
    spacing = np.asarray(spacing, dtype=np.float64)
    if cell_mm is None:
        cell_mm = 6.0 * float(spacing.min())
    cell = np.maximum(1, np.round(cell_mm / spacing)).astype(np.int64)
    gshape = (np.asarray(shape, dtype=np.int64) + cell - 1) // cell
    c = ref // cell
    cid = (c[:, 0] * gshape[1] + c[:, 1]) * gshape[2] + c[:, 2]
    order = np.argsort(cid, kind="stable").astype(np.int64)
    counts = np.bincount(cid, minlength=int(np.prod(gshape)))
    start = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    return order, start, cell, gshape


@njit(cache=True, inline="always")
def _ring_bound(r, cell, spacing):
    # smallest possible distance (mm) from a query to any voxel of a cell at ring r >= 1
    best = np.inf
    for a in range(3):
        v = ((r - 1) * cell[a] + 1) * spacing[a]
        if v < best:
            best = v
    return best


@njit(cache=True, inline="always")
def _tie_key(key, j):
    """Tie-break key of reference ``j``: ``key[j]``, or ``j`` itself when ``key`` is None."""
    if key is None:
        return j
    return key[j]


@borrowing
def _insert(bd, bi, key, d2, j):
    """Insert reference ``j`` at squared distance ``d2`` into the sorted best list.

    ``bd``/``bi`` (k,) hold the best squared distances and reference indices so far, sorted
    by (distance, tie key); the last entry is dropped. Returns the new last distance (the
    one a candidate must reach to enter).
    """
    t = bd.shape[0] - 1
    kj = _tie_key(key, j)
    while t > 0 and (d2 < bd[t - 1] or (d2 == bd[t - 1] and kj < _tie_key(key, bi[t - 1]))):
        bd[t] = bd[t - 1]
        bi[t] = bi[t - 1]
        t -= 1
    bd[t] = d2
    bi[t] = j
    return bd[bd.shape[0] - 1]


@njit(cache=True, parallel=True)
def _nearest_k(query, ref, key, k, spacing, order, start, cell, gshape, qgroup, rgroup, gcount):
    """The ``k`` nearest reference voxels of each query voxel, sorted by (distance, tie key).

    The one search behind :func:`knn_grouped` (``key = None``: ties by reference index) and
    :func:`nearest_keyed_grouped` (``k = 1``, ties by ``key``). Rings of grid cells are
    scanned outwards until the next ring cannot hold a voxel nearer than the ``kk``-th
    found. With groups only references with ``rgroup == qgroup[i]`` are candidates, and
    ``gcount`` (or None) stops query ``i`` at ``kk = min(k, gcount[qgroup[i]])``
    neighbours. Returns ``idx`` (n, k) int64 and ``d2`` (n, k) mm^2; empty slots hold -1 / inf.
    """
    n = query.shape[0]
    out_idx = np.full((n, k), -1, dtype=np.int64)
    out_d2 = np.full((n, k), np.inf, dtype=np.float64)
    gz, gy, gx = gshape[0], gshape[1], gshape[2]
    rmax = max(gz, max(gy, gx))
    for i in prange(n):
        bd = out_d2[i]
        bi = out_idx[i]
        kk = k
        g = np.int64(0)
        if qgroup is not None:
            g = qgroup[i]
            if gcount is not None:
                kk = min(k, gcount[g])
                if kk == 0:
                    continue
        qz, qy, qx = query[i, 0], query[i, 1], query[i, 2]
        cz, cy, cx = qz // cell[0], qy // cell[1], qx // cell[2]
        worst = np.inf  # bd[k - 1]: the distance a candidate must reach to enter
        for r in range(rmax + 1):
            if r > 0:
                lb = _ring_bound(r, cell, spacing)
                if bd[kk - 1] < lb * lb:
                    break
            for dz in range(-r, r + 1):
                z = cz + dz
                if z < 0 or z >= gz:
                    continue
                for dy in range(-r, r + 1):
                    y = cy + dy
                    if y < 0 or y >= gy:
                        continue
                    inner = abs(dz) < r and abs(dy) < r
                    step = 2 * r if (inner and r > 0) else 1
                    for dx in range(-r, r + 1, step):
                        x = cx + dx
                        if x < 0 or x >= gx:
                            continue
                        c = (z * gy + y) * gx + x
                        for p in range(start[c], start[c + 1]):
                            j = order[p]
                            if rgroup is not None:
                                if rgroup[j] != g:
                                    continue
                            a = (qz - ref[j, 0]) * spacing[0]
                            b = (qy - ref[j, 1]) * spacing[1]
                            e = (qx - ref[j, 2]) * spacing[2]
                            d2 = a * a + b * b + e * e
                            if d2 < worst or (d2 == worst and _tie_key(key, j) < _tie_key(key, bi[k - 1])):
                                worst = _insert(bd, bi, key, d2, j)
    return out_idx, out_d2


def nearest_keyed_grouped(query, ref, key, spacing, order, start, cell, gshape, qgroup, rgroup):
    """Index (into ``ref``) of the nearest reference voxel of each query voxel among the
    references with ``rgroup == qgroup[i]``, and its squared distance (mm^2). Ties at equal
    distance go to the smallest ``key`` (``key``: int64 per ref voxel, all distinct).

    Returns ``idx`` (-1 where the query's group has no reference) and ``d2`` (mm^2, inf there).
    ``qgroup = rgroup = None``: no grouping (:func:`nearest_keyed`). The search of
    :func:`_nearest_k` with ``k = 1``.
    """
    idx, d2 = _nearest_k(query, ref, key, 1, spacing, order, start, cell, gshape, qgroup,
                         rgroup, None)
    return idx.reshape(-1), d2.reshape(-1)


def knn_grouped(query, ref, k, spacing, order, start, cell, gshape, qgroup, rgroup, gcount):
    """The ``k`` nearest reference voxels of each query voxel among the references with
    ``rgroup == qgroup[i]``, sorted by (distance, index).

    Returns ``idx`` (n, k) int64 and ``d2`` (n, k) float64 squared distances in mm^2. The
    search for query ``i`` stops once it holds ``min(k, gcount[qgroup[i]])`` neighbours
    (the other slots hold -1 / inf). ``qgroup = rgroup = gcount = None``: no grouping,
    the search stops at ``k`` neighbours (:func:`knn`).
    """
    return _nearest_k(query, ref, None, k, spacing, order, start, cell, gshape, qgroup, rgroup,
                      gcount)


def nearest_keyed(query, ref, key, spacing, order, start, cell, gshape):
    """Index (into ``ref``) of the nearest reference voxel of each query voxel, and its
    squared distance (mm^2). Ties at equal distance go to the smallest ``key``
    (``key``: int64 per ref voxel, all distinct).

    :func:`nearest_keyed_grouped` without groups (same preconditions).
    """
    return nearest_keyed_grouped(query, ref, key, spacing, order, start, cell, gshape,
                                 None, None)


def knn(query, ref, k, spacing, order, start, cell, gshape):
    """The ``k`` nearest reference voxels of each query voxel, sorted by (distance, index).

    Returns ``idx`` (n, k) int64 and ``d2`` (n, k) float64 squared distances in mm^2; when
    ``ref`` holds fewer than ``k`` voxels the missing slots hold -1 and ``inf``.

    :func:`knn_grouped` without groups (same preconditions).
    """
    return knn_grouped(query, ref, k, spacing, order, start, cell, gshape, None, None, None)


@njit(cache=True, inline="always")
def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]  # path halving
        i = parent[i]
    return i


@njit(cache=True)
def components26(mask, coords):
    """26-connected component (1..K) of every mask voxel, numbered in raster order of each
    component's first voxel (the numbering of ``scipy.ndimage.label``).

    Preconditions: ``mask`` C-contiguous bool 3D; ``coords`` = ``argwhere(mask)`` (all mask
    voxels, raster order), C-contiguous int64. Union-find over the 13 neighbours that precede
    a voxel in raster order; neighbours are found by binary search in the voxel list, so
    only mask voxels are visited.
    """
    n = coords.shape[0]
    nz, ny, nx = mask.shape
    lin = (coords[:, 0] * ny + coords[:, 1]) * nx + coords[:, 2]
    parent = np.arange(n)
    for i in range(n):
        z, y, x = coords[i, 0], coords[i, 1], coords[i, 2]
        for dz in range(-1, 1):
            zz = z + dz
            if zz < 0:
                continue
            for dy in range(-1, 2):
                if dz == 0 and dy > 0:
                    break
                yy = y + dy
                if yy < 0 or yy >= ny:
                    continue
                for dx in range(-1, 2):
                    if dz == 0 and dy == 0 and dx >= 0:
                        break
                    xx = x + dx
                    if xx < 0 or xx >= nx:
                        continue
                    if not mask[zz, yy, xx]:
                        continue
                    t = (zz * ny + yy) * nx + xx
                    j = np.searchsorted(lin[:i], t)
                    a = _find(parent, i)
                    b = _find(parent, j)
                    if a != b:
                        if a < b:
                            parent[b] = a
                        else:
                            parent[a] = b
    out = np.zeros(n, dtype=np.int64)
    root_label = np.zeros(n, dtype=np.int64)
    nxt = 0
    for i in range(n):
        r = _find(parent, i)
        if root_label[r] == 0:
            nxt += 1
            root_label[r] = nxt
        out[i] = root_label[r]
    return out

"""Numba kernels behind :mod:`vesselnet.metrics.surface`: surface voxels of a mask, and the
exact distance from each point of one set to the nearest point of another.

Private: arrays in, arrays out, no validation (the caller in ``surface.py`` checks).

Nearest neighbours: both point sets are bucketed on one regular grid of cells. For a query
cell, any of its points has a target within the smallest *largest* distance between its
bounding box and a target cell's box, so only target cells whose box is nearer than that
can hold a nearest neighbour; they are found ring by ring around the query cell (or by one
scan of all target cells when the nearest ones are far) and visited nearest box first,
skipping a cell whose box is farther from the point than the best distance so far. Every
distance is computed exactly (float64, no approximation), from point to point.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["surface_points", "squared_nearest_by_cells"]


# --------------------------------------------------------------------------- sparse surfaces
@njit(cache=True, nogil=True)
def surface_points(flat_index, mask):
    """Surface voxels of a mask among its foreground voxels.

    Preconditions: ``mask`` a C-contiguous boolean 3D array, ``flat_index`` the int64 flat
    indices of its ``True`` voxels in increasing order (``np.flatnonzero(mask)``).

    Returns an int64 array (n, 3) of the (z, y, x) indices of the voxels with at least one
    6-neighbour outside the mask, voxels outside the array counting as background, in C
    order.
    """
    nz, ny, nx = mask.shape
    out = np.empty((flat_index.size, 3), np.int64)
    n = 0
    for f in flat_index:
        z = f // (ny * nx)
        y = (f // nx) % ny
        x = f % nx
        if (z == 0 or z == nz - 1 or y == 0 or y == ny - 1 or x == 0 or x == nx - 1
                or not mask[z - 1, y, x] or not mask[z + 1, y, x] or not mask[z, y - 1, x]
                or not mask[z, y + 1, x] or not mask[z, y, x - 1] or not mask[z, y, x + 1]):
            out[n, 0] = z
            out[n, 1] = y
            out[n, 2] = x
            n += 1
    return out[:n]


@njit(cache=True, nogil=True)
def _cell_boxes(pts, start, stop):
    """Tight bounding box (lo, hi), per cell, of the points ``pts[start[c]:stop[c]]``."""
    nc = start.size
    lo = np.empty((nc, 3), np.float64)
    hi = np.empty((nc, 3), np.float64)
    for c in range(nc):
        for a in range(3):
            lo[c, a] = np.inf
            hi[c, a] = -np.inf
        for i in range(start[c], stop[c]):
            for a in range(3):
                v = pts[i, a]
                if v < lo[c, a]:
                    lo[c, a] = v
                if v > hi[c, a]:
                    hi[c, a] = v
    return lo, hi


@njit(cache=True, nogil=True)
def _box_bounds(qlo, qhi, tlo, thi, k):
    """Smallest and largest squared distance between the query box and target box ``k``."""
    lo2 = 0.0
    hi2 = 0.0
    for a in range(3):
        d = max(tlo[k, a] - qhi[a], qlo[a] - thi[k, a])
        if d > 0.0:
            lo2 += d * d
        e = max(thi[k, a] - qlo[a], qhi[a] - tlo[k, a])
        hi2 += e * e
    return lo2, hi2


@njit(cache=True, nogil=True)
def _ring_cells(grid, g, r, out):
    """Target cells at Chebyshev distance ``r`` (in cells) from grid cell ``g`` (their
    indices in ``grid``, -1 = empty, skipped), written to ``out``; returns their number."""
    nbz, nby, nbx = grid.shape
    n = 0
    for dz in range(-r, r + 1):
        z = g[0] + dz
        if z < 0 or z >= nbz:
            continue
        for dy in range(-r, r + 1):
            y = g[1] + dy
            if y < 0 or y >= nby:
                continue
            step = 1 if (abs(dz) == r or abs(dy) == r) else max(2 * r, 1)
            for dx in range(-r, r + 1, step):
                x = g[2] + dx
                if 0 <= x < nbx and grid[z, y, x] >= 0:
                    out[n] = grid[z, y, x]
                    n += 1
    return n


@njit(cache=True, nogil=True)
def _candidate_cells(qlo, qhi, tlo, thi, g, grid, edge, mind, ring):
    """Target cells that may hold the nearest target of some point of one query box
    (``qlo``, ``qhi``, in grid cell ``g``), nearest box first; ``mind`` receives their
    boxes' squared distances to the query box.

    Any point of the query box has a target within the smallest squared *largest*
    box-to-box distance ``ub``, so only boxes within ``ub`` qualify. Target cells are
    visited ring by ring around ``g`` until a ring's lower bound, ``(r - 1) * edge``,
    exceeds ``ub``, or, when the rings would hold more cells than there are targets, all
    at once.
    """
    nt = tlo.shape[0]
    ub = np.inf
    n = 0
    r = 0
    while True:
        if (2 * r + 1) ** 3 > nt:  # the rings cost more than a full scan: scan everything
            n = 0
            for k in range(nt):
                mind[k], hi2 = _box_bounds(qlo, qhi, tlo, thi, k)
                ub = min(ub, hi2)
                ring[n] = k
                n += 1
            break
        lb = max(r - 1, 0) * edge
        if lb * lb > ub:
            break
        m = _ring_cells(grid, g, r, ring[n:])
        for i in range(n, n + m):
            mind[ring[i]], hi2 = _box_bounds(qlo, qhi, tlo, thi, ring[i])
            ub = min(ub, hi2)
        n += m
        r += 1
    cells = ring[:n]
    keep = cells[mind[cells] <= ub]
    return keep[np.argsort(mind[keep])]


@njit(cache=True, nogil=True)
def _nearest_in_cells(q, t, tstart, tstop, tlo, thi, cells, mind):
    """Squared distance from point ``q`` to the nearest target of the candidate ``cells``
    (nearest box first: stop at the first box farther than the best distance)."""
    best = np.inf
    for k in cells:
        if mind[k] >= best:
            break
        lb = 0.0
        for a in range(3):
            d = max(tlo[k, a] - q[a], q[a] - thi[k, a])
            if d > 0.0:
                lb += d * d
        if lb >= best:
            continue
        for j in range(tstart[k], tstop[k]):
            dz = q[0] - t[j, 0]
            dy = q[1] - t[j, 1]
            dx = q[2] - t[j, 2]
            s = dz * dz + dy * dy + dx * dx
            if s < best:
                best = s
    return best


@njit(cache=True, nogil=True)
def squared_nearest_by_cells(q, qcell, qstart, qstop, t, tcell, tstart, tstop, grid_shape, edge):
    """Exact squared Euclidean distance from every query point to the nearest target point.

    Preconditions: ``q`` (nq, 3) and ``t`` (nt, 3) float64 coordinates (mm), each sorted by
    cell of one regular grid of shape ``grid_shape``; query cell ``c`` (grid coordinates
    ``qcell[c]``, int64 (3,)) holds ``q[qstart[c]:qstop[c]]``, non-empty; the same for the
    targets (``tcell``, ``tstart``, ``tstop``), ``nt >= 1``; ``edge`` (mm) is the smallest
    cell edge.

    Per query cell, the candidate target cells (:func:`_candidate_cells`) are visited nearest
    box first, each skipped when its box is farther from the point than the best distance
    so far. Work: the query points times the points of the few cells each visits, plus the
    cells around each query cell (all target cells when the nearest ones are far). Returns
    float64 (nq,), in the order of ``q``.
    """
    qlo, qhi = _cell_boxes(q, qstart, qstop)
    tlo, thi = _cell_boxes(t, tstart, tstop)
    grid = np.full((grid_shape[0], grid_shape[1], grid_shape[2]), -1, np.int64)
    for k in range(tstart.size):
        grid[tcell[k, 0], tcell[k, 1], tcell[k, 2]] = k
    out = np.empty(q.shape[0], np.float64)
    mind = np.empty(tstart.size, np.float64)
    ring = np.empty(tstart.size, np.int64)
    for c in range(qstart.size):
        cells = _candidate_cells(qlo[c], qhi[c], tlo, thi, qcell[c], grid, edge, mind, ring)
        for i in range(qstart[c], qstop[c]):
            out[i] = _nearest_in_cells(q[i], t, tstart, tstop, tlo, thi, cells, mind)
    return out

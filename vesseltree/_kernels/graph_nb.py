"""Numba kernels of the skeleton branch graph (arrays in, arrays out).

Every kernel works on the list of skeleton voxels, never on the volume: the skeleton is
given as ``flat``, the strictly increasing raveled (C order, axes z, y, x) indices of its
voxels in a volume of shape ``shape``, so that the voxel order is the lexicographic
(z, y, x) order. Neighbours in 26-connectivity are found by binary search in ``flat``:
the work is O(n log n) in the number n of skeleton voxels, whatever the size of the box.

Voxel ``i`` below always means "the i-th skeleton voxel" (an index into ``flat``).
The kernels trust their caller (:mod:`vesseltree.graph`), which validates the input.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .borrowing import borrowing

__all__ = [
    "neighbour_table",
    "label_clusters",
    "absorb_triangles",
    "trace_branches",
    "path_lengths",
]

END_JUNCTION = 0
END_ENDPOINT = 1
END_CYCLE = 2


@njit(cache=True, inline="always")
def _lower_bound(a, lo, hi, value):
    # first index in a[lo:hi] with a[index] >= value (hi if none)
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def neighbour_table(flat, shape):
    """26-connected neighbours of every skeleton voxel.

    Parameters
    ----------
    flat : int64 array (n,)
        Strictly increasing raveled C-order indices of the skeleton voxels.
    shape : int64 array (3,)
        Shape (Z, Y, X) of the volume; every ``flat`` value is < Z*Y*X.

    Returns
    -------
    nbr : int32 array (n, 26)
        Row i lists the indices (into ``flat``) of the neighbours of voxel i in increasing
        order, padded with -1.
    degree : int32 array (n,)
        Number of neighbours of each voxel (0..26).
    """
    n = flat.shape[0]
    ny = shape[1]
    nx = shape[2]
    nz = shape[0]
    plane = ny * nx
    nbr = np.full((n, 26), -1, dtype=np.int32)
    degree = np.zeros(n, dtype=np.int32)
    for i in range(n):
        f = flat[i]
        z = f // plane
        rem = f - z * plane
        y = rem // nx
        x = rem - y * nx
        x0 = x - 1 if x > 0 else x
        x1 = x + 1 if x < nx - 1 else x
        d = 0
        for dz in range(-1, 2):
            zz = z + dz
            if zz < 0 or zz >= nz:
                continue
            for dy in range(-1, 2):
                yy = y + dy
                if yy < 0 or yy >= ny:
                    continue
                base = zz * plane + yy * nx
                lo = base + x0
                hi = base + x1
                # rows above come before i, rows below after it (raster order)
                if dz < 0 or (dz == 0 and dy < 0):
                    k = _lower_bound(flat, 0, i, lo)
                elif dz == 0 and dy == 0:
                    k = i - 1 if (x > 0 and i > 0 and flat[i - 1] == f - 1) else i
                else:
                    k = _lower_bound(flat, i + 1, n, lo)
                while k < n and flat[k] <= hi:
                    if k != i:
                        nbr[i, d] = k
                        d += 1
                    k += 1
        degree[i] = d
    return nbr, degree


@njit(cache=True)
def label_clusters(nbr, member):
    """Label the 26-connected clusters of the voxels with ``member[i]`` true.

    Parameters
    ----------
    nbr : int32 array (n, 26)
        Neighbour table from :func:`neighbour_table`.
    member : bool array (n,)
        Which voxels take part; edges to non-members are ignored.

    Returns
    -------
    labels : int32 array (n,)
        Cluster id (0..k-1) of each member voxel, -1 for the others. Clusters are numbered
        in the order of their smallest voxel index (raster order, as ``scipy.ndimage.label``).
    anchor : int64 array (k,)
        Smallest voxel index of each cluster.
    """
    n = nbr.shape[0]
    labels = np.full(n, -1, dtype=np.int32)
    anchor = np.empty(n, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    k = 0
    for i in range(n):
        if not member[i] or labels[i] >= 0:
            continue
        labels[i] = k
        anchor[k] = i
        top = 0
        stack[top] = i
        top += 1
        while top > 0:
            top -= 1
            v = stack[top]
            for a in range(26):
                w = nbr[v, a]
                if w < 0:
                    break
                if member[w] and labels[w] < 0:
                    labels[w] = k
                    stack[top] = w
                    top += 1
        k += 1
    return labels, anchor[:k].copy()


@njit(cache=True)
def _adjacent(nbr, u, v):
    for a in range(26):
        w = nbr[u, a]
        if w < 0:
            return False
        if w == v:
            return True
    return False


@njit(cache=True)
def absorb_triangles(nbr, degree, junction, junction_anchor):
    """Give to a junction cluster the degree-2 voxels that close a 26-triangle on it.

    A voxel of degree 2 whose two neighbours belong to the same junction cluster and are
    adjacent to each other forms with them three mutually adjacent voxels: no hole is
    enclosed, so it is part of the junction rather than a one-voxel self-loop branch.

    Parameters
    ----------
    nbr, degree : arrays from :func:`neighbour_table`.
    junction : int32 array (n,)
        Junction cluster ids (-1 elsewhere); updated IN PLACE.
    junction_anchor : int64 array (k,)
        Smallest voxel of each cluster; updated IN PLACE.

    Returns
    -------
    int
        Number of voxels absorbed.
    """
    n = nbr.shape[0]
    count = 0
    for v in range(n):
        if degree[v] != 2 or junction[v] >= 0:
            continue
        a = nbr[v, 0]
        c = nbr[v, 1]
        k = junction[a]
        if k < 0 or junction[c] != k or not _adjacent(nbr, a, c):
            continue
        junction[v] = k
        if v < junction_anchor[k]:
            junction_anchor[k] = v
        count += 1
    return count


@borrowing
def _next_voxel(nbr, degree, cur, prev):
    """The neighbour of chain voxel ``cur`` (degree 1 or 2) that is not ``prev``.

    At the start of a chain (``prev < 0``) the smaller of the two (rows of ``nbr`` are
    sorted), which is what starts a cycle towards the smaller neighbour of its first voxel.
    """
    n0 = nbr[cur, 0]
    if degree[cur] == 1 or prev < 0:
        return n0
    n1 = nbr[cur, 1]
    return n1 if n0 == prev else n0


@borrowing
def _follow_chain(nbr, degree, junction, junction_anchor, visited, path, m, cur, prev, cycle_start):
    """Walk a chain of degree-1/2 voxels from ``cur`` (entered from ``prev``, -1 at an end).

    Appends the voxels to ``path`` from index ``m`` and marks them ``visited`` (both IN
    PLACE). The walk stops at an endpoint, before a junction voxel, or (``cycle_start``
    >= 0) before stepping back onto ``cycle_start``.

    Returns
    -------
    m : int
        Index after the chain's last voxel in ``path``.
    anchor, kind : int, int
        The node at the far end: its anchor voxel and END_* kind.
    """
    while True:
        visited[cur] = True
        path[m] = cur
        m += 1
        if degree[cur] == 1 and prev >= 0:
            return m, cur, END_ENDPOINT
        nxt = _next_voxel(nbr, degree, cur, prev)
        if junction[nxt] >= 0:
            return m, junction_anchor[junction[nxt]], END_JUNCTION
        if nxt == cycle_start:
            return m, cycle_start, END_CYCLE
        prev = cur
        cur = nxt


@borrowing
def _reverse(path, start, stop):
    """Reverse ``path[start:stop]`` IN PLACE."""
    i = start
    j = stop - 1
    while i < j:
        t = path[i]
        path[i] = path[j]
        path[j] = t
        i += 1
        j -= 1


@borrowing
def _add_branch(nbr, degree, junction, junction_anchor, visited, out, b, m, cur, prev,
                a_src, k_src, cycle_start):
    """Trace one branch from ``cur`` and store it as branch ``b`` in ``out``.

    ``out`` is the tuple (path, ptr, src_anchor, dst_anchor, src_kind, dst_kind) of
    :func:`trace_branches`, filled IN PLACE; the branch's own voxels go to ``path[m:]``.
    Orientation is canonical: first voxel < last voxel, ties (one-voxel paths) by node
    anchor; a cycle starts at its smallest voxel, so it is never reversed.

    Returns
    -------
    b, m : int, int
        The next branch index and the next free index of ``path``.
    """
    path, ptr, src_anchor, dst_anchor, src_kind, dst_kind = out
    stop, a_dst, k_dst = _follow_chain(nbr, degree, junction, junction_anchor, visited, path,
                                       m, cur, prev, cycle_start)
    first = path[m]
    last = path[stop - 1]
    if last < first or (last == first and a_dst < a_src):
        _reverse(path, m, stop)
        a_src, a_dst = a_dst, a_src
        k_src, k_dst = k_dst, k_src
    src_anchor[b] = a_src
    dst_anchor[b] = a_dst
    src_kind[b] = k_src
    dst_kind[b] = k_dst
    ptr[b + 1] = stop
    return b + 1, stop


@njit(cache=True)
def trace_branches(nbr, degree, junction, junction_anchor):
    """Split the skeleton into branches (ordered voxel chains between nodes).

    Junction voxels have more than 2 neighbours, endpoints exactly 1; each 26-connected
    cluster of junction voxels is one node. Every voxel of degree 1 or 2 ends up in
    exactly one branch unless :func:`absorb_triangles` gave it to a cluster (run it first).
    Junction and isolated (degree 0) voxels belong to no branch.

    Parameters
    ----------
    nbr, degree : arrays from :func:`neighbour_table`.
    junction : int32 array (n,)
        Junction cluster id of each voxel (-1 if not a junction voxel), from
        :func:`label_clusters` with ``member = degree > 2``.
    junction_anchor : int64 array (k,)
        Smallest voxel index of each junction cluster.

    Returns
    -------
    path : int64 array (m,)
        Concatenated voxel indices of the branches, each branch in path order.
    ptr : int64 array (b + 1,)
        Branch j owns ``path[ptr[j]:ptr[j + 1]]``.
    src_anchor, dst_anchor : int64 arrays (b,)
        The node at each end, named by its anchor voxel: the smallest voxel of a junction
        cluster, the endpoint voxel itself, or for an isolated cycle its first voxel.
    src_kind, dst_kind : int8 arrays (b,)
        0 junction, 1 endpoint, 2 cycle.

    Notes
    -----
    Orientation is canonical: the first voxel index of a path is smaller than its last;
    one-voxel paths go from the smaller to the larger node anchor. A cycle starts at its
    smallest voxel and steps first to the smaller of its two neighbours. Branches come out
    in tracing order (from junctions, then from endpoints, then isolated cycles); the
    caller sorts them.
    """
    n = nbr.shape[0]
    visited = np.zeros(n, dtype=np.bool_)
    out = (np.empty(n, dtype=np.int64), np.zeros(n + 1, dtype=np.int64),
           np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64),
           np.empty(n, dtype=np.int8), np.empty(n, dtype=np.int8))
    b = 0
    m = 0
    for i in range(n):  # branches leaving a junction, one per free neighbour
        if junction[i] < 0:
            continue
        for s in range(degree[i]):
            cur = nbr[i, s]
            if junction[cur] < 0 and not visited[cur]:
                b, m = _add_branch(nbr, degree, junction, junction_anchor, visited, out, b, m,
                                   cur, i, junction_anchor[junction[i]], END_JUNCTION, -1)
    for i in range(n):  # chains between two endpoints
        if degree[i] == 1 and not visited[i]:
            b, m = _add_branch(nbr, degree, junction, junction_anchor, visited, out, b, m,
                               i, -1, i, END_ENDPOINT, -1)
    for i in range(n):  # isolated cycles: what is left of degree 2
        if degree[i] == 2 and not visited[i] and junction[i] < 0:
            b, m = _add_branch(nbr, degree, junction, junction_anchor, visited, out, b, m,
                               i, -1, i, END_CYCLE, i)
    path, ptr, src_anchor, dst_anchor, src_kind, dst_kind = out
    return (path[:m].copy(), ptr[: b + 1].copy(), src_anchor[:b].copy(),
            dst_anchor[:b].copy(), src_kind[:b].copy(), dst_kind[:b].copy())


@njit(cache=True)
def path_lengths(points, ptr, src_point, dst_point):
    """Polyline length of each branch, including the steps from/to its end nodes.

    Parameters
    ----------
    points : float64 array (m, 3)
        Concatenated path points in mm.
    ptr : int64 array (b + 1,)
        Branch j is ``points[ptr[j]:ptr[j + 1]]`` (at least one point).
    src_point, dst_point : float64 arrays (b, 3)
        Position (mm) of the source and destination node of each branch.

    Returns
    -------
    length : float64 array (b,)
        ``|src - p_0| + sum_i |p_{i+1} - p_i| + |p_last - dst|``.
    """
    nb = ptr.shape[0] - 1
    out = np.zeros(nb, dtype=np.float64)
    for j in range(nb):
        a = ptr[j]
        e = ptr[j + 1]
        total = 0.0
        d0 = points[a, 0] - src_point[j, 0]
        d1 = points[a, 1] - src_point[j, 1]
        d2 = points[a, 2] - src_point[j, 2]
        total += np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        for k in range(a, e - 1):
            d0 = points[k + 1, 0] - points[k, 0]
            d1 = points[k + 1, 1] - points[k, 1]
            d2 = points[k + 1, 2] - points[k, 2]
            total += np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        d0 = dst_point[j, 0] - points[e - 1, 0]
        d1 = dst_point[j, 1] - points[e - 1, 1]
        d2 = dst_point[j, 2] - points[e - 1, 2]
        total += np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        out[j] = total
    return out

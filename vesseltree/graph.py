"""Skeleton to branch graph: junction clusters as nodes, ordered voxel paths as branches.

This is the step of Sect. 2.1 of Sadikine et al. (ISBI 2023) that splits the skeleton
Gamma into its branches {B_j}, j = 1..n_b (the clusterized skeleton Gamma'); the radii of
Eq. 2 and the labels of Eq. 3 are computed per branch by :mod:`vesseltree.radius` and
:mod:`vesseltree.labels`.

Definitions (26-connectivity, see ``docs/graph.md``):

* the *degree* of a skeleton voxel is its number of skeleton neighbours;
* a *junction voxel* has degree > 2; each 26-connected cluster of junction voxels is ONE
  ``'junction'`` node, which owns those voxels;
* an *endpoint* voxel has degree 1; it belongs to its branch, and its ``'endpoint'`` node
  owns no voxel (the node sits on that voxel);
* a voxel of degree 0 is an ``'isolated'`` node owning it, with no branch;
* a *branch* is a maximal chain of voxels of degree 1 or 2; its ends are the nodes it
  touches; a closed chain touching no node is an isolated cycle: one branch with
  ``src == dst`` on a ``'cycle'`` node that owns no voxel and sits on the path's first voxel.

So every skeleton voxel belongs to exactly one branch or one node (junction or isolated).
Parallel edges and self-loops are kept. Unlike skan, junction clusters are collapsed: skan
keeps every junction voxel as a node and produces one-step junction-to-junction branches
inside a cluster; here they do not exist.

The heavy lifting is done by the Numba kernels of :mod:`vesseltree._kernels.graph_nb`,
which work on the list of skeleton voxels, never on the whole volume.

This module builds the graph; the type lives in :mod:`vesseltree.branch_graph`, its tables
in :mod:`vesseltree.graph_tables` and spur pruning in :mod:`vesseltree.spur_pruning`.
:class:`BranchGraph` is importable from here as before.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from vesseltree._kernels import graph_nb
from vesseltree._validation import check_mask, check_spacing

from .branch_graph import BranchGraph  # re-exported: vesseltree.graph.BranchGraph
from .graph_tables import BRANCH_COLUMNS, NODE_COLUMNS  # noqa: F401  (re-exported)
from .graph_tables import EMPTY_VOXELS, GraphParts, graph_tables
from ._warnings import warn

__all__ = ["BranchGraph", "build_graph", "warn_thick_clusters", "MAX_JUNCTION_VOXELS"]

#: a junction cluster of a one-voxel-thin curve skeleton fits in a 3x3x3 block; bigger ones
#: are sheets, surfaces around cavities or skeletons that are not thin (a warning)
MAX_JUNCTION_VOXELS = 27


def build_graph(skeleton: ArrayLike, spacing: Sequence[float] | float = (1.0, 1.0, 1.0)) -> "BranchGraph":
    """Build the branch graph of a 3D skeleton.

    Parameters
    ----------
    skeleton : array-like (Z, Y, X) of bool or 0/1
        One-voxel-thin skeleton, e.g. from :func:`vesseltree.skeletonize`. Any binary
        volume is accepted (a thick blob becomes one junction node, with a warning). Not
        modified.
    spacing : 3 floats or float, optional
        Voxel size in mm along (z, y, x).

    Returns
    -------
    BranchGraph
        Empty (no nodes, no branches) when the skeleton is empty.

    Raises
    ------
    TypeError, ValueError
        If ``skeleton`` is not a 3D binary array or ``spacing`` is not 3 positive numbers.

    Warns
    -----
    UserWarning
        When a junction cluster holds more than :data:`MAX_JUNCTION_VOXELS` voxels: the
        skeleton is not a set of curves there (a 2-voxel-thick line, a sheet, the closed
        surface the thinning keeps around a cavity, e.g. of a hollow sphere), so the graph
        has no meaningful branch there.

    Notes
    -----
    Run time is O(n log n) in the number n of skeleton voxels (plus one pass over the
    volume to list them). See :class:`BranchGraph` for the definitions.
    """
    skel = check_mask(skeleton, "skeleton")
    sp = check_spacing(spacing, "spacing")
    shape = tuple(int(s) for s in skel.shape)
    flat = np.flatnonzero(skel).astype(np.int64, copy=False)
    graph = _graph_from_flat(flat, shape, sp)
    warn_thick_clusters(graph)
    return graph


def warn_thick_clusters(graph: "BranchGraph") -> int:
    """Warn when junction clusters of ``graph`` exceed :data:`MAX_JUNCTION_VOXELS` voxels.

    Parameters
    ----------
    graph : BranchGraph

    Returns
    -------
    int
        The number of such clusters (0: nothing said).
    """
    sizes = np.array([len(v) for v in graph.node_voxels], dtype=np.int64)
    big = np.flatnonzero((sizes > MAX_JUNCTION_VOXELS) & (graph.nodes["kind"].to_numpy() == "junction"))
    if big.size:
        k = int(big[np.argmax(sizes[big])])
        where = tuple(int(c) for c in graph.node_voxels[k][0])
        warn(
            f"skeleton: {big.size} junction cluster(s) of more than {MAX_JUNCTION_VOXELS} voxels "
            f"(largest: {int(sizes[k])} voxels, at voxel {where}): the skeleton is not a set of "
            "curves there (a sheet, the surface around a cavity, or not one voxel thick), so "
            "the branches, lengths and radii there are not vessel measurements",
            UserWarning)
    return int(big.size)



def _graph_from_flat(flat: np.ndarray, shape: tuple[int, int, int], sp) -> BranchGraph:
    """Branch graph of the skeleton voxels ``flat`` (strictly increasing raveled indices)."""
    n = flat.size
    if n == 0:
        return BranchGraph.empty(shape, sp)
    coords = np.stack(np.unravel_index(flat, shape), axis=1).astype(np.int64)
    nbr, degree = graph_nb.neighbour_table(flat, np.asarray(shape, dtype=np.int64))
    junction, janchor = graph_nb.label_clusters(nbr, degree > 2)
    graph_nb.absorb_triangles(nbr, degree, junction, janchor)
    comp, _ = graph_nb.label_clusters(nbr, np.ones(n, dtype=np.bool_))
    path, ptr, sa, da, sk, _dk = graph_nb.trace_branches(nbr, degree, junction, janchor)
    kinds, anchors, pos, node_voxels = _nodes(coords, degree, junction, janchor,
                                              sa[sk == graph_nb.END_CYCLE])
    node_of_anchor = np.full(n, -1, dtype=np.int64)
    node_of_anchor[anchors] = np.arange(anchors.size)
    src = node_of_anchor[sa]
    dst = node_of_anchor[da]
    sp_arr = np.asarray(sp, dtype=float)
    lengths = graph_nb.path_lengths(
        coords[path] * sp_arr, ptr, pos[src] * sp_arr, pos[dst] * sp_arr
    )
    parts = GraphParts(kinds, pos, node_voxels, anchors, comp[anchors] + 1, src, dst,
                       _split(coords[path], ptr), lengths)
    return BranchGraph(**graph_tables(parts, shape, sp))


def _nodes(coords: np.ndarray, degree: np.ndarray, junction: np.ndarray, janchor: np.ndarray,
           cycles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Kind, anchor, position and owned voxels of every node, named by its anchor voxel.

    Parameters
    ----------
    coords : (n, 3) int64 array
        Skeleton voxels (raster order).
    degree, junction, janchor : arrays of :mod:`vesseltree._kernels.graph_nb`
        Neighbour counts, junction cluster of each voxel (-1: none), smallest voxel of each
        cluster.
    cycles : int64 array
        First voxel of each isolated cycle.

    Returns
    -------
    kinds : object array (k,)
        Junctions, then endpoints, isolated voxels and cycles.
    anchors : int64 array (k,)
        Anchor voxel of each node (index into ``coords``).
    pos : float array (k, 3)
        Voxel position: the centroid of a junction's voxels, the anchor voxel otherwise.
    node_voxels : list of (m, 3) int64 arrays
        Voxels owned (junction cluster, isolated voxel; none for endpoints and cycles).
    """
    nj = janchor.size
    endpoints = np.flatnonzero(degree == 1)
    isolated = np.flatnonzero(degree == 0)
    anchors = np.concatenate([janchor, endpoints, isolated, cycles]).astype(np.int64)
    kinds = np.array(
        ["junction"] * nj
        + ["endpoint"] * endpoints.size
        + ["isolated"] * isolated.size
        + ["cycle"] * cycles.size,
        dtype=object,
    )
    pos = coords[anchors].astype(float)
    node_voxels: list[np.ndarray] = [EMPTY_VOXELS] * anchors.size
    if nj:
        jv = np.flatnonzero(junction >= 0)
        lab = junction[jv]
        count = np.bincount(lab, minlength=nj)
        for a in range(3):
            pos[:nj, a] = np.bincount(lab, weights=coords[jv, a], minlength=nj) / count
        jv_sorted = jv[np.argsort(lab, kind="stable")]
        node_voxels[:nj] = _split(coords[jv_sorted], np.concatenate([[0], np.cumsum(count)]))
    for k, v in enumerate(isolated):
        node_voxels[nj + endpoints.size + k] = coords[v : v + 1]
    return kinds, anchors, pos, node_voxels


def _split(arr: np.ndarray, ptr: np.ndarray) -> list[np.ndarray]:
    """``[arr[ptr[j]:ptr[j + 1]] for j]`` (faster than ``np.split`` for many pieces)."""
    bounds = np.asarray(ptr).tolist()
    return [arr[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


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
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from vesseltree._kernels import graph_nb
from vesseltree._validation import check_mask, check_positive, check_spacing

if TYPE_CHECKING:  # networkx is imported on first use of to_networkx (import time)
    import networkx as nx

__all__ = ["BranchGraph", "build_graph", "warn_thick_clusters", "MAX_JUNCTION_VOXELS"]

NODE_COLUMNS = ["kind", "z", "y", "x", "z_mm", "y_mm", "x_mm", "degree", "n_voxels", "component"]
BRANCH_COLUMNS = [
    "src",
    "dst",
    "kind",
    "n_voxels",
    "length_mm",
    "euclidean_mm",
    "tortuosity",
    "component",
]
_EMPTY_VOXELS = np.zeros((0, 3), dtype=np.int64)
#: a junction cluster of a one-voxel-thin curve skeleton fits in a 3x3x3 block; bigger ones
#: are sheets, surfaces around cavities or skeletons that are not thin (a warning)
MAX_JUNCTION_VOXELS = 27
_RESERVED_EDGE_ATTRS = {"branch_id", "path", "key"}


def _branch_kind(src_kind: np.ndarray, dst_kind: np.ndarray, same: np.ndarray) -> np.ndarray:
    kind = np.full(src_kind.shape, "internal", dtype=object)
    src_end = src_kind == "endpoint"
    dst_end = dst_kind == "endpoint"
    kind[src_end ^ dst_end] = "terminal"
    kind[src_end & dst_end] = "isolated"
    kind[same] = "loop"
    kind[src_kind == "cycle"] = "cycle"
    return kind


def _finish(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    node_kind: np.ndarray,
    node_pos: np.ndarray,
    node_voxels: list[np.ndarray],
    node_anchor: np.ndarray,
    node_component: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    paths: list[np.ndarray],
    lengths: np.ndarray,
) -> "BranchGraph":
    """Sort nodes by anchor voxel and branches by first voxel, then build the tables.

    ``src``/``dst`` index the node arrays as given; paths must already be oriented.
    """
    sp = np.asarray(spacing, dtype=float)
    order = np.argsort(node_anchor, kind="stable")
    new_id = np.empty(order.size, dtype=np.int64)
    new_id[order] = np.arange(order.size)
    node_kind = np.asarray(node_kind, dtype=object)[order]
    node_pos = np.asarray(node_pos, dtype=float).reshape(-1, 3)[order]
    node_voxels = [node_voxels[i] for i in order]
    node_component = np.asarray(node_component, dtype=np.int64)[order]
    src = new_id[np.asarray(src, dtype=np.int64)]
    dst = new_id[np.asarray(dst, dtype=np.int64)]

    nb = len(paths)
    if nb:
        first = np.array([p[0] for p in paths], dtype=np.int64).reshape(nb, 3)
        first_lin = np.ravel_multi_index(tuple(first.T), shape)
        border = np.argsort(first_lin, kind="stable")
    else:
        border = np.zeros(0, dtype=np.int64)
    paths = [paths[i] for i in border]
    src = src[border]
    dst = dst[border]
    lengths = np.asarray(lengths, dtype=float)[border]

    n_nodes = node_kind.size
    degree = np.bincount(src, minlength=n_nodes) + np.bincount(dst, minlength=n_nodes)
    pos_mm = node_pos * sp
    nodes = pd.DataFrame(
        {
            "kind": node_kind,
            "z": node_pos[:, 0],
            "y": node_pos[:, 1],
            "x": node_pos[:, 2],
            "z_mm": pos_mm[:, 0],
            "y_mm": pos_mm[:, 1],
            "x_mm": pos_mm[:, 2],
            "degree": degree.astype(np.int64),
            "n_voxels": np.array([len(v) for v in node_voxels], dtype=np.int64),
            "component": node_component,
        },
        index=pd.RangeIndex(n_nodes, name="node_id"),
        columns=NODE_COLUMNS,
    )
    euclid = np.linalg.norm(pos_mm[dst] - pos_mm[src], axis=1) if nb else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tort = np.where(euclid > 0, lengths / np.where(euclid > 0, euclid, 1.0), np.nan)
    branches = pd.DataFrame(
        {
            "src": src,
            "dst": dst,
            "kind": _branch_kind(node_kind[src], node_kind[dst], src == dst),
            "n_voxels": np.array([len(p) for p in paths], dtype=np.int64),
            "length_mm": lengths,
            "euclidean_mm": euclid,
            "tortuosity": tort,
            "component": node_component[src],
        },
        index=pd.RangeIndex(1, nb + 1, name="branch_id"),
        columns=BRANCH_COLUMNS,
    )
    return BranchGraph(
        shape=shape,
        spacing=spacing,
        nodes=nodes,
        node_voxels=node_voxels,
        branches=branches,
        paths={i + 1: p for i, p in enumerate(paths)},
    )


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
    warn_thick_clusters(graph, stacklevel=3)
    return graph


def warn_thick_clusters(graph: "BranchGraph", stacklevel: int = 2) -> int:
    """Warn when junction clusters of ``graph`` exceed :data:`MAX_JUNCTION_VOXELS` voxels.

    Parameters
    ----------
    graph : BranchGraph
    stacklevel : int
        Passed to :func:`warnings.warn`.

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
        warnings.warn(
            f"skeleton: {big.size} junction cluster(s) of more than {MAX_JUNCTION_VOXELS} voxels "
            f"(largest: {int(sizes[k])} voxels, at voxel {where}): the skeleton is not a set of "
            "curves there (a sheet, the surface around a cavity, or not one voxel thick), so "
            "the branches, lengths and radii there are not vessel measurements",
            UserWarning, stacklevel=stacklevel)
    return int(big.size)


def _graph_from_flat(flat: np.ndarray, shape: tuple[int, int, int], sp) -> "BranchGraph":
    n = flat.size
    if n == 0:
        return BranchGraph.empty(shape, sp)
    coords = np.stack(np.unravel_index(flat, shape), axis=1).astype(np.int64)
    nbr, degree = graph_nb.neighbour_table(flat, np.asarray(shape, dtype=np.int64))
    junction, janchor = graph_nb.label_clusters(nbr, degree > 2)
    graph_nb.absorb_triangles(nbr, degree, junction, janchor)
    comp, _ = graph_nb.label_clusters(nbr, np.ones(n, dtype=np.bool_))
    path, ptr, sa, da, sk, _dk = graph_nb.trace_branches(nbr, degree, junction, janchor)

    # nodes, named by their anchor voxel (index into flat)
    nj = janchor.size
    endpoints = np.flatnonzero(degree == 1)
    isolated = np.flatnonzero(degree == 0)
    cycles = sa[sk == graph_nb.END_CYCLE]
    anchors = np.concatenate([janchor, endpoints, isolated, cycles]).astype(np.int64)
    kinds = np.array(
        ["junction"] * nj
        + ["endpoint"] * endpoints.size
        + ["isolated"] * isolated.size
        + ["cycle"] * cycles.size,
        dtype=object,
    )
    node_of_anchor = np.full(n, -1, dtype=np.int64)
    node_of_anchor[anchors] = np.arange(anchors.size)
    pos = coords[anchors].astype(float)
    node_voxels: list[np.ndarray] = [_EMPTY_VOXELS] * anchors.size
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

    src = node_of_anchor[sa]
    dst = node_of_anchor[da]
    sp_arr = np.asarray(sp, dtype=float)
    lengths = graph_nb.path_lengths(
        coords[path] * sp_arr, ptr, pos[src] * sp_arr, pos[dst] * sp_arr
    )
    paths = _split(coords[path], ptr)
    return _finish(
        shape, sp, kinds, pos, node_voxels, anchors, comp[anchors] + 1, src, dst, paths, lengths
    )


def _split(arr: np.ndarray, ptr: np.ndarray) -> list[np.ndarray]:
    """``[arr[ptr[j]:ptr[j + 1]] for j]`` (faster than ``np.split`` for many pieces)."""
    bounds = np.asarray(ptr).tolist()
    return [arr[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


class BranchGraph:
    """Branch graph of a skeleton: nodes (junction clusters, endpoints, ...) and branches.

    Build it with :func:`build_graph` or :meth:`BranchGraph.from_skeleton`.

    Attributes
    ----------
    shape : tuple of 3 ints
        Shape (z, y, x) of the skeleton volume.
    spacing : tuple of 3 floats
        Voxel size in mm (z, y, x).
    nodes : pandas.DataFrame
        Indexed by ``node_id`` (0..n_nodes-1, ordered by the node's anchor voxel in raster
        order: a junction's smallest voxel, an endpoint's or isolated node's voxel, a
        cycle's first voxel). Columns:

        - ``kind``: ``'junction'``, ``'endpoint'``, ``'isolated'`` or ``'cycle'``;
        - ``z, y, x``: voxel position (centroid of the owned voxels for a junction);
        - ``z_mm, y_mm, x_mm``: the same times ``spacing``;
        - ``degree``: number of branch ends at the node (a self-loop counts twice, as in
          networkx);
        - ``n_voxels``: voxels the node owns (junction: its cluster; isolated: 1;
          endpoint and cycle: 0);
        - ``component``: 26-connected component of the skeleton (1..K, numbered in raster
          order of their first voxel, as ``scipy.ndimage.label``).
    node_voxels : list of (k, 3) int64 arrays
        ``node_voxels[node_id]``: voxels owned by the node (raster order).
    branches : pandas.DataFrame
        Indexed by ``branch_id`` (1..n_branches, ordered by the raster order of the first
        voxel of each path, hence stable for a given skeleton). Columns:

        - ``src, dst``: node ids at the two ends (``src`` at ``paths[b][0]``);
        - ``kind``: ``'terminal'`` (endpoint-junction), ``'internal'`` (junction-junction,
          distinct nodes), ``'loop'`` (junction self-loop), ``'isolated'``
          (endpoint-endpoint), ``'cycle'`` (isolated cycle);
        - ``n_voxels``: voxels owned by the branch (its path);
        - ``length_mm``: polyline length in mm, from the src node position through every
          path voxel to the dst node position. The steps into junction centroids at both
          ends are included; at an endpoint the node sits on the path's end voxel (step 0);
          a cycle's length includes the closing step back to its first voxel;
        - ``euclidean_mm``: distance in mm between the src and dst node positions;
        - ``tortuosity``: ``length_mm / euclidean_mm``; NaN when ``euclidean_mm == 0``
          (isolated cycles and junction self-loops);
        - ``component``: 26-connected component id (as in ``nodes``).

        Columns added by :meth:`with_branch_columns` (e.g. ``radius_mm``) follow.
    paths : dict int -> (n, 3) int64 array
        ``paths[branch_id]``: the branch's own voxels, ordered from the src side to the dst
        side. Paths are oriented so that the first voxel precedes the last in raster order
        (one-voxel paths: src is the node with the smaller anchor); a cycle starts at its
        smallest voxel and steps first to the smaller of its two neighbours.

    Notes
    -----
    Ownership: every skeleton voxel belongs to exactly one branch path or to the voxels of
    exactly one junction or isolated node.

    Tip shortening: the graph measures the skeleton it is given; it adds nothing beyond the
    last voxel of a branch at an endpoint. Thinning itself stops short of a vessel's tip
    (see ``docs/graph.md``).
    """

    def __init__(
        self,
        *,
        shape: tuple[int, int, int],
        spacing: tuple[float, float, float],
        nodes: pd.DataFrame,
        node_voxels: list[np.ndarray],
        branches: pd.DataFrame,
        paths: dict[int, np.ndarray],
    ) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.spacing = tuple(float(s) for s in spacing)
        self.nodes = nodes
        self.node_voxels = node_voxels
        self.branches = branches
        self.paths = paths

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_skeleton(
        cls, skeleton: ArrayLike, spacing: Sequence[float] | float = (1.0, 1.0, 1.0)
    ) -> "BranchGraph":
        """Same as :func:`build_graph`.

        Parameters
        ----------
        skeleton : array-like (Z, Y, X) of bool or 0/1
            One-voxel-thin skeleton; not modified.
        spacing : 3 floats or float, optional
            Voxel size in mm along (z, y, x).

        Returns
        -------
        BranchGraph

        Raises
        ------
        TypeError, ValueError
            Naming ``skeleton`` or ``spacing``.
        """
        return build_graph(skeleton, spacing)

    @classmethod
    def empty(
        cls, shape: Sequence[int], spacing: Sequence[float] = (1.0, 1.0, 1.0)
    ) -> "BranchGraph":
        """A graph with no node and no branch.

        Parameters
        ----------
        shape : 3 ints
            Volume shape (z, y, x).
        spacing : 3 floats
            Voxel size in mm (z, y, x); not validated (internal constructor).

        Returns
        -------
        BranchGraph
            Empty ``nodes`` and ``branches`` tables with the usual columns.
        """
        return _finish(
            tuple(int(s) for s in shape),
            tuple(float(s) for s in spacing),
            np.zeros(0, dtype=object),
            np.zeros((0, 3)),
            [],
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            [],
            np.zeros(0),
        )

    # ------------------------------------------------------------------ sizes
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.nodes)

    @property
    def n_branches(self) -> int:
        """Number of branches."""
        return len(self.branches)

    @property
    def n_components(self) -> int:
        """Number of 26-connected components of the skeleton."""
        return int(self.nodes["component"].nunique())

    def __repr__(self) -> str:
        kinds = self.nodes["kind"].value_counts()
        parts = ", ".join(f"{k}={int(kinds.get(k, 0))}" for k in ("junction", "endpoint", "isolated", "cycle"))
        return (
            f"BranchGraph(shape={self.shape}, spacing={self.spacing}, "
            f"n_branches={self.n_branches}, n_nodes={self.n_nodes} ({parts}), "
            f"n_components={self.n_components})"
        )

    # ------------------------------------------------------------------ volumes
    def _concat_paths(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.paths:
            return _EMPTY_VOXELS, np.zeros(0, dtype=np.int32)
        ids = np.fromiter(self.paths.keys(), dtype=np.int32, count=len(self.paths))
        vox = np.concatenate([self.paths[i] for i in ids.tolist()])
        lab = np.repeat(ids, [len(self.paths[i]) for i in ids.tolist()])
        return vox, lab

    def branch_labels(self) -> np.ndarray:
        """Volume of branch ids.

        Returns
        -------
        numpy.ndarray of int32, shape :attr:`shape`
            The branch id (>= 1) on the voxels of each branch path, 0 elsewhere (junction
            and isolated node voxels included).
        """
        out = np.zeros(self.shape, dtype=np.int32)
        vox, lab = self._concat_paths()
        if len(vox):
            out[vox[:, 0], vox[:, 1], vox[:, 2]] = lab
        return out

    def node_labels(self) -> np.ndarray:
        """Volume of node ids.

        Returns
        -------
        numpy.ndarray of int32, shape :attr:`shape`
            ``node_id + 1`` on the voxels owned by junction / isolated nodes, 0 elsewhere.
        """
        out = np.zeros(self.shape, dtype=np.int32)
        for nid, vox in enumerate(self.node_voxels):
            if len(vox):
                out[vox[:, 0], vox[:, 1], vox[:, 2]] = nid + 1
        return out

    @property
    def skeleton(self) -> np.ndarray:
        """Skeleton described by the graph.

        Returns
        -------
        numpy.ndarray of bool, shape :attr:`shape`
            The owned voxels, ``branch_labels() > 0 | node_labels() > 0`` (after
            :meth:`prune`, the pruned skeleton).
        """
        out = np.zeros(self.shape, dtype=bool)
        vox, _ = self._concat_paths()
        if len(vox):
            out[vox[:, 0], vox[:, 1], vox[:, 2]] = True
        for v in self.node_voxels:
            if len(v):
                out[v[:, 0], v[:, 1], v[:, 2]] = True
        return out

    # ------------------------------------------------------------------ export
    def to_networkx(self) -> "nx.MultiGraph":
        """The graph as an ``nx.MultiGraph``.

        Nodes: ``node_id`` with attributes ``kind``, ``coords`` (voxel, z, y, x),
        ``coords_mm``, ``n_voxels``, ``component``. Edges: key ``branch_id``, attributes
        ``branch_id``, ``path`` and every column of :attr:`branches` (including columns
        added with :meth:`with_branch_columns`).

        Returns
        -------
        networkx.MultiGraph
            Graph attributes ``shape`` and ``spacing``; parallel edges and self-loops kept.
        """
        import networkx as nx

        g = nx.MultiGraph(shape=self.shape, spacing=self.spacing)
        nodes = self.nodes
        for nid, kind, z, y, x, zm, ym, xm, nv, comp in zip(
            nodes.index.tolist(),
            nodes["kind"].tolist(),
            nodes["z"].tolist(),
            nodes["y"].tolist(),
            nodes["x"].tolist(),
            nodes["z_mm"].tolist(),
            nodes["y_mm"].tolist(),
            nodes["x_mm"].tolist(),
            nodes["n_voxels"].tolist(),
            nodes["component"].tolist(),
        ):
            g.add_node(
                nid,
                kind=kind,
                coords=(z, y, x),
                coords_mm=(zm, ym, xm),
                n_voxels=nv,
                component=comp,
            )
        records = self.branches.to_dict(orient="index")
        for bid, rec in records.items():
            g.add_edge(
                int(rec["src"]), int(rec["dst"]), key=int(bid), branch_id=int(bid),
                path=self.paths[bid], **rec
            )
        return g

    def with_branch_columns(self, **columns: Any) -> "BranchGraph":
        """A new graph whose :attr:`branches` has extra columns (e.g. ``radius_mm=...``).

        Each value is either a sequence of ``n_branches`` values in ``branch_id`` order, or
        a mapping / ``pandas.Series`` indexed by ``branch_id`` covering every branch.
        Core columns (``src``, ``dst``, ``length_mm``, ...) and the names ``branch_id``,
        ``path``, ``key`` (edge attributes of :meth:`to_networkx`) cannot be used.

        Parameters
        ----------
        **columns : sequence or mapping
            Column name -> values, as above.

        Returns
        -------
        BranchGraph
            A new graph; this one is unchanged (nodes and paths are shared, not copied).

        Raises
        ------
        ValueError
            Naming the column: a reserved name, a wrong number of values, or missing
            branch ids.
        """
        branches = self.branches.copy()
        for name, values in columns.items():
            if name in BRANCH_COLUMNS or name in _RESERVED_EDGE_ATTRS:
                raise ValueError(
                    f"{name}: core branch column or reserved edge attribute "
                    f"({', '.join(BRANCH_COLUMNS + sorted(_RESERVED_EDGE_ATTRS))}), cannot be replaced"
                )
            if isinstance(values, (Mapping, pd.Series)):
                series = pd.Series(values) if isinstance(values, Mapping) else values
                missing = branches.index.difference(series.index)
                if len(missing):
                    raise ValueError(
                        f"{name}: expected a value for every branch id, missing {missing[:5].tolist()}"
                    )
                branches[name] = series.reindex(branches.index).to_numpy()
            else:
                arr = np.asarray(values)
                if arr.ndim != 1 or arr.shape[0] != self.n_branches:
                    raise ValueError(
                        f"{name}: expected {self.n_branches} values (one per branch, in "
                        f"branch_id order), got shape {arr.shape}"
                    )
                branches[name] = arr
        return BranchGraph(
            shape=self.shape,
            spacing=self.spacing,
            nodes=self.nodes,
            node_voxels=self.node_voxels,
            branches=branches,
            paths=self.paths,
        )

    # ------------------------------------------------------------------ pruning
    def prune(
        self,
        *,
        length_factor: float | None = None,
        min_length_mm: float | None = None,
        junction_radius=None,
    ) -> "BranchGraph":
        """Remove short terminal branches (spurs), then re-merge degree-2 junctions.

        A *terminal* branch joins an endpoint to a junction node of degree >= 3. It is a
        spur when ``length_mm < length_factor * junction_radius[junction]`` or
        ``length_mm < min_length_mm`` (either criterion removes it). At each junction at
        most ``degree - 2`` spurs are removed per round, the shortest first (ties: lower
        branch id), so a bifurcation whose branches are all short keeps its two longest.
        After each round every junction node left with degree 2 is merged away: its two
        branches and its voxels become one branch (the node voxels are put in the path in
        the order of their projection on the entry-to-exit direction; the new length is the
        sum of the two lengths, both of which ran to the node centroid); a junction whose
        only branch is a self-loop becomes an isolated cycle. Rounds repeat until nothing
        changes.

        The voxels of removed spurs are dropped: the pruned skeleton is
        ``branch_labels() > 0 | node_labels() > 0`` (also :attr:`skeleton`). Extra branch
        columns are dropped (recompute them on the pruned graph); components keep their id.

        Parameters
        ----------
        length_factor : float, optional
            Spur threshold as a multiple of the junction radius (needs ``junction_radius``).
        min_length_mm : float, optional
            Absolute spur threshold in mm.
        junction_radius : mapping node_id -> mm, or array indexed by node_id, optional
            Radius (mm) at each junction node of this graph.

        Returns
        -------
        BranchGraph
            A new graph (this one is unchanged), renumbered (stable ids as usual).

        Raises
        ------
        ValueError, TypeError
            Naming ``length_factor`` / ``min_length_mm`` (both None, or not positive) or
            ``junction_radius`` (missing with ``length_factor``, or missing junctions).
        """
        if length_factor is None and min_length_mm is None:
            raise ValueError(
                "length_factor, min_length_mm: expected at least one pruning threshold, got None for both"
            )
        factor = None
        if length_factor is not None:
            factor = check_positive(length_factor, "length_factor")
            if junction_radius is None:
                raise ValueError(
                    "junction_radius: expected a radius per junction node (mapping or array) "
                    "when length_factor is given, got None"
                )
        min_len = None
        if min_length_mm is not None:
            min_len = check_positive(min_length_mm, "min_length_mm", allow_zero=True)
        radius = _junction_radius_lookup(junction_radius, self) if factor is not None else None
        return _prune(self, factor, min_len, radius)


def _junction_radius_lookup(junction_radius, graph: BranchGraph):
    junctions = graph.nodes.index[graph.nodes["kind"] == "junction"]
    if isinstance(junction_radius, (Mapping, pd.Series)):
        items = dict(junction_radius.items())
        missing = [int(j) for j in junctions if j not in items]
        if missing:
            raise ValueError(
                f"junction_radius: expected a radius for every junction node, missing node ids {missing[:5]}"
            )
        values = {int(j): items[j] for j in junctions}
    else:
        try:
            arr = np.asarray(junction_radius, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"junction_radius: expected a mapping node_id -> mm or an array, got {type(junction_radius).__name__}"
            ) from exc
        if arr.ndim != 1 or arr.shape[0] != graph.n_nodes:
            raise ValueError(
                f"junction_radius: expected an array of {graph.n_nodes} values (one per node), got shape {arr.shape}"
            )
        values = {int(j): arr[j] for j in junctions}
    out = {}
    for j, v in values.items():
        try:
            fv = float(v)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"junction_radius: expected numbers, got {v!r} for node {j}") from exc
        if not (np.isfinite(fv) and fv >= 0):
            raise ValueError(f"junction_radius: expected finite values >= 0 (mm), got {fv} for node {j}")
        out[j] = fv
    return out


def _prune(graph: BranchGraph, factor, min_len, radius) -> BranchGraph:
    shape = graph.shape
    nodes = graph.nodes
    kind = dict(zip(nodes.index.tolist(), nodes["kind"].tolist()))
    pos = dict(zip(nodes.index.tolist(), nodes[["z", "y", "x"]].to_numpy().tolist()))
    comp = dict(zip(nodes.index.tolist(), nodes["component"].tolist()))
    voxels = {i: v for i, v in enumerate(graph.node_voxels)}
    br = graph.branches
    ends: dict[int, list[int]] = {i: [] for i in kind}
    bsrc: dict[int, int] = {}
    bdst: dict[int, int] = {}
    bpath: dict[int, np.ndarray] = {}
    blen: dict[int, float] = {}
    for b, s, d, length in zip(br.index.tolist(), br["src"].tolist(), br["dst"].tolist(), br["length_mm"].tolist()):
        bsrc[b], bdst[b], bpath[b], blen[b] = s, d, graph.paths[b], length
        ends[s].append(b)
        ends[d].append(b)
    next_id = max(bsrc, default=0) + 1

    def too_short(b: int, j: int) -> bool:
        if min_len is not None and blen[b] < min_len:
            return True
        return factor is not None and blen[b] < factor * radius[j]

    def merge(j: int) -> None:
        nonlocal next_id
        b1, b2 = ends[j]
        jv = voxels[j]
        if b1 == b2:  # self-loop on a degree-2 junction: an isolated cycle
            p = bpath[b1]
            entry, exit_ = p[-1], p[0]
            bpath[b1] = np.concatenate([p, _order_along(jv, entry, exit_)])
            kind[j] = "cycle"
            voxels[j] = _EMPTY_VOXELS
            return
        p1 = bpath[b1] if bdst[b1] == j else bpath[b1][::-1]
        a = bsrc[b1] if bdst[b1] == j else bdst[b1]
        p2 = bpath[b2] if bsrc[b2] == j else bpath[b2][::-1]
        c = bdst[b2] if bsrc[b2] == j else bsrc[b2]
        new = next_id
        next_id += 1
        bpath[new] = np.concatenate([p1, _order_along(jv, p1[-1], p2[0]), p2])
        blen[new] = blen[b1] + blen[b2]
        bsrc[new], bdst[new] = a, c
        for old in (b1, b2):
            for node in (bsrc[old], bdst[old]):
                if node != j:
                    ends[node].remove(old)
            del bsrc[old], bdst[old], bpath[old], blen[old]
        ends[a].append(new)
        ends[c].append(new)
        for d in (kind, pos, comp, voxels, ends):
            del d[j]

    while True:
        changed = False
        for j in sorted(n for n in kind if kind[n] == "junction" and len(ends[n]) >= 3):
            cand = []
            for b in set(ends[j]):
                other = bdst[b] if bsrc[b] == j else bsrc[b]
                if other != j and kind[other] == "endpoint" and too_short(b, j):
                    cand.append((blen[b], b, other))
            allowed = len(ends[j]) - 2
            for _, b, other in sorted(cand)[:allowed]:
                ends[j].remove(b)
                del bsrc[b], bdst[b], bpath[b], blen[b]
                for d in (kind, pos, comp, voxels, ends):
                    del d[other]
                changed = True
        for j in sorted(n for n in kind if kind[n] == "junction" and len(ends[n]) == 2):
            merge(j)
            changed = True
        if not changed:
            break

    # canonical orientation and anchors, then renumber
    node_ids = sorted(kind)
    index = {n: k for k, n in enumerate(node_ids)}
    anchor = {}
    for n in node_ids:
        if kind[n] in ("junction", "isolated"):
            anchor[n] = int(np.ravel_multi_index(tuple(voxels[n][0]), shape))  # voxels are raster sorted
        elif kind[n] == "endpoint":
            anchor[n] = int(np.ravel_multi_index(tuple(int(round(c)) for c in pos[n]), shape))
    for b in list(bpath):
        p = bpath[b]
        if kind[bsrc[b]] == "cycle":
            lin = np.ravel_multi_index(tuple(p.T), shape)
            k = int(np.argmin(lin))
            p = np.roll(p, -k, axis=0)
            lin = np.roll(lin, -k)
            if len(p) > 2 and lin[1] > lin[-1]:
                p = np.concatenate([p[:1], p[1:][::-1]])
            bpath[b] = p
            anchor[bsrc[b]] = int(lin[0])
            pos[bsrc[b]] = p[0].astype(float).tolist()
    for b in list(bpath):
        p = bpath[b]
        if kind[bsrc[b]] == "cycle":
            continue
        f = int(np.ravel_multi_index(tuple(p[0]), shape))
        last = int(np.ravel_multi_index(tuple(p[-1]), shape))
        if last < f or (last == f and anchor[bdst[b]] < anchor[bsrc[b]]):
            bpath[b] = p[::-1].copy()
            bsrc[b], bdst[b] = bdst[b], bsrc[b]
    bids = sorted(bpath)
    return _finish(
        shape,
        graph.spacing,
        np.array([kind[n] for n in node_ids], dtype=object),
        np.array([pos[n] for n in node_ids], dtype=float).reshape(-1, 3),
        [voxels[n] for n in node_ids],
        np.array([anchor[n] for n in node_ids], dtype=np.int64),
        np.array([comp[n] for n in node_ids], dtype=np.int64),
        np.array([index[bsrc[b]] for b in bids], dtype=np.int64),
        np.array([index[bdst[b]] for b in bids], dtype=np.int64),
        [np.ascontiguousarray(bpath[b], dtype=np.int64) for b in bids],
        np.array([blen[b] for b in bids], dtype=float),
    )


def _order_along(vox: np.ndarray, entry: np.ndarray, exit_: np.ndarray) -> np.ndarray:
    """Voxels sorted by their projection on the entry -> exit direction (ties: raster)."""
    if len(vox) <= 1:
        return vox
    direction = np.asarray(exit_, dtype=float) - np.asarray(entry, dtype=float)
    proj = (vox - np.asarray(entry, dtype=float)) @ direction
    return vox[np.argsort(proj, kind="stable")]

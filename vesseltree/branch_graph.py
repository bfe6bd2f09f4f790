"""The branch graph type, :class:`BranchGraph`: nodes, branches, their voxels, volumes, export.

Built by :func:`vesseltree.graph.build_graph` (definitions of nodes and branches: the module
docstring of :mod:`vesseltree.graph`); its tables come from :mod:`vesseltree.graph_tables`,
its :meth:`~BranchGraph.prune` from :mod:`vesseltree.spur_pruning`. Importable as
``vesseltree.graph.BranchGraph`` and ``vesseltree.BranchGraph``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .graph_tables import BRANCH_COLUMNS, EMPTY_VOXELS, GraphParts, graph_tables
from .spur_pruning import prune_spurs

if TYPE_CHECKING:  # networkx is imported on first use of to_networkx (import time)
    import networkx as nx

__all__ = ["BranchGraph"]

_RESERVED_EDGE_ATTRS = {"branch_id", "path", "key"}


class BranchGraph:
    """Branch graph of a skeleton: nodes (junction clusters, endpoints, ...) and branches.

    Build it with :func:`vesseltree.graph.build_graph` or :meth:`BranchGraph.from_skeleton`.

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
        """Same as :func:`vesseltree.graph.build_graph`.

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
        from .graph import build_graph  # graph.py builds on this module

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
        shape = tuple(int(s) for s in shape)
        return cls(**graph_tables(GraphParts.empty(), shape, tuple(float(s) for s in spacing)))

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
            return EMPTY_VOXELS, np.zeros(0, dtype=np.int32)
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
        return prune_spurs(self, length_factor=length_factor, min_length_mm=min_length_mm,
                           junction_radius=junction_radius)

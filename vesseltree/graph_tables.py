"""Node and branch tables of a :class:`vesseltree.graph.BranchGraph`.

Both the skeleton tracer (:func:`vesseltree.graph.build_graph`) and spur pruning
(:mod:`vesseltree.spur_pruning`) produce the nodes and branches of a graph in some order, as
:class:`GraphParts`. This module numbers them the one stable way (nodes by anchor voxel,
branches by the raster order of their first voxel) and derives the columns of the
``nodes`` and ``branches`` tables (degree, mm positions, branch kind, euclidean length,
tortuosity, component). The meaning of every column: :class:`vesseltree.graph.BranchGraph`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["NODE_COLUMNS", "BRANCH_COLUMNS", "EMPTY_VOXELS", "GraphParts", "branch_kind",
           "node_table", "branch_table", "graph_tables"]

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
#: the voxels of a node that owns none (endpoint, cycle)
EMPTY_VOXELS = np.zeros((0, 3), dtype=np.int64)


@dataclass(frozen=True)
class GraphParts:
    """Nodes and branches of a graph, in any order, before numbering.

    Attributes
    ----------
    node_kind : (k,) array of str
        ``'junction'``, ``'endpoint'``, ``'isolated'`` or ``'cycle'``.
    node_pos : (k, 3) float array
        Node position in voxels (z, y, x).
    node_voxels : list of (m, 3) int64 arrays
        Voxels owned by each node (raster order).
    node_anchor : (k,) int64 array
        Raveled index of each node's anchor voxel (the node sort key).
    node_component : (k,) int64 array
        Skeleton component of each node (1..K).
    src, dst : (b,) int64 arrays
        Index (into the node arrays above) of the node at each end of each branch.
    paths : list of (n, 3) int64 arrays
        Each branch's voxels, already oriented from ``src`` to ``dst``.
    lengths : (b,) float array
        Polyline length of each branch in mm.
    """

    node_kind: np.ndarray
    node_pos: np.ndarray
    node_voxels: list
    node_anchor: np.ndarray
    node_component: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    paths: list
    lengths: np.ndarray

    @classmethod
    def empty(cls) -> "GraphParts":
        """No node, no branch.

        Returns
        -------
        GraphParts
        """
        none = np.zeros(0, dtype=np.int64)
        return cls(np.zeros(0, dtype=object), np.zeros((0, 3)), [], none, none, none, none, [],
                   np.zeros(0))

    def numbered(self, shape: tuple[int, int, int]) -> "GraphParts":
        """The same parts in the stable order, with ``src``/``dst`` renumbered.

        Nodes are sorted by anchor voxel, branches by the raster index of their first voxel
        (both stable sorts).

        Parameters
        ----------
        shape : 3 ints
            Volume shape (z, y, x), to ravel the first voxel of each path.

        Returns
        -------
        GraphParts
        """
        order = np.argsort(self.node_anchor, kind="stable")
        new_id = np.empty(order.size, dtype=np.int64)
        new_id[order] = np.arange(order.size)
        src = new_id[np.asarray(self.src, dtype=np.int64)]
        dst = new_id[np.asarray(self.dst, dtype=np.int64)]
        nb = len(self.paths)
        if nb:
            first = np.array([p[0] for p in self.paths], dtype=np.int64).reshape(nb, 3)
            border = np.argsort(np.ravel_multi_index(tuple(first.T), shape), kind="stable")
        else:
            border = np.zeros(0, dtype=np.int64)
        return GraphParts(
            node_kind=np.asarray(self.node_kind, dtype=object)[order],
            node_pos=np.asarray(self.node_pos, dtype=float).reshape(-1, 3)[order],
            node_voxels=[self.node_voxels[i] for i in order],
            node_anchor=np.asarray(self.node_anchor)[order],
            node_component=np.asarray(self.node_component, dtype=np.int64)[order],
            src=src[border],
            dst=dst[border],
            paths=[self.paths[i] for i in border],
            lengths=np.asarray(self.lengths, dtype=float)[border],
        )


def branch_kind(src_kind: np.ndarray, dst_kind: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Kind of each branch from the kinds of its end nodes.

    Parameters
    ----------
    src_kind, dst_kind : (b,) arrays of str
        Kind of the node at each end.
    same : (b,) bool array
        Whether both ends are the same node.

    Returns
    -------
    (b,) object array
        ``'terminal'``, ``'internal'``, ``'loop'``, ``'isolated'`` or ``'cycle'``.
    """
    kind = np.full(src_kind.shape, "internal", dtype=object)
    src_end = src_kind == "endpoint"
    dst_end = dst_kind == "endpoint"
    kind[src_end ^ dst_end] = "terminal"
    kind[src_end & dst_end] = "isolated"
    kind[same] = "loop"
    kind[src_kind == "cycle"] = "cycle"
    return kind


def node_table(parts: GraphParts, spacing: tuple[float, float, float]) -> pd.DataFrame:
    """The ``nodes`` table of numbered parts.

    Parameters
    ----------
    parts : GraphParts
        Numbered (:meth:`GraphParts.numbered`).
    spacing : 3 floats
        Voxel size in mm (z, y, x).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``node_id``, columns :data:`NODE_COLUMNS`.
    """
    n_nodes = parts.node_kind.size
    degree = np.bincount(parts.src, minlength=n_nodes) + np.bincount(parts.dst, minlength=n_nodes)
    pos = parts.node_pos
    pos_mm = pos * np.asarray(spacing, dtype=float)
    return pd.DataFrame(
        {
            "kind": parts.node_kind,
            "z": pos[:, 0],
            "y": pos[:, 1],
            "x": pos[:, 2],
            "z_mm": pos_mm[:, 0],
            "y_mm": pos_mm[:, 1],
            "x_mm": pos_mm[:, 2],
            "degree": degree.astype(np.int64),
            "n_voxels": np.array([len(v) for v in parts.node_voxels], dtype=np.int64),
            "component": parts.node_component,
        },
        index=pd.RangeIndex(n_nodes, name="node_id"),
        columns=NODE_COLUMNS,
    )


def branch_table(parts: GraphParts, spacing: tuple[float, float, float]) -> pd.DataFrame:
    """The ``branches`` table of numbered parts.

    Parameters
    ----------
    parts : GraphParts
        Numbered (:meth:`GraphParts.numbered`).
    spacing : 3 floats
        Voxel size in mm (z, y, x).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``branch_id`` (1..b), columns :data:`BRANCH_COLUMNS`; tortuosity is NaN
        where the two end nodes coincide.
    """
    src, dst, lengths = parts.src, parts.dst, parts.lengths
    nb = len(parts.paths)
    pos_mm = parts.node_pos * np.asarray(spacing, dtype=float)
    euclid = np.linalg.norm(pos_mm[dst] - pos_mm[src], axis=1) if nb else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tort = np.where(euclid > 0, lengths / np.where(euclid > 0, euclid, 1.0), np.nan)
    kind = parts.node_kind
    return pd.DataFrame(
        {
            "src": src,
            "dst": dst,
            "kind": branch_kind(kind[src], kind[dst], src == dst),
            "n_voxels": np.array([len(p) for p in parts.paths], dtype=np.int64),
            "length_mm": lengths,
            "euclidean_mm": euclid,
            "tortuosity": tort,
            "component": parts.node_component[src],
        },
        index=pd.RangeIndex(1, nb + 1, name="branch_id"),
        columns=BRANCH_COLUMNS,
    )


def graph_tables(parts: GraphParts, shape: tuple[int, int, int],
                 spacing: tuple[float, float, float]) -> dict:
    """Number ``parts`` and build every field of a :class:`~vesseltree.graph.BranchGraph`.

    Parameters
    ----------
    parts : GraphParts
        In any order.
    shape : 3 ints
        Volume shape (z, y, x).
    spacing : 3 floats
        Voxel size in mm (z, y, x).

    Returns
    -------
    dict
        Keyword arguments of ``BranchGraph(...)``: ``shape``, ``spacing``, ``nodes``,
        ``node_voxels``, ``branches`` and ``paths`` (branch id -> path).
    """
    p = parts.numbered(shape)
    return dict(
        shape=shape,
        spacing=spacing,
        nodes=node_table(p, spacing),
        node_voxels=p.node_voxels,
        branches=branch_table(p, spacing),
        paths={i + 1: path for i, path in enumerate(p.paths)},
    )

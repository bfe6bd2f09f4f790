"""Spur pruning of a branch graph: the work behind :meth:`vesseltree.graph.BranchGraph.prune`.

A *spur* is a short terminal branch (endpoint to a junction of degree >= 3). Each round
removes, at every junction, at most ``degree - 2`` spurs (shortest first, ties: lower branch
id), then merges every junction left with degree 2 into one branch (a junction left with a
single self-loop becomes an isolated cycle). Rounds repeat until nothing changes; the result
is oriented and numbered as :func:`vesseltree.graph.build_graph` does. The rules in full:
the docstring of :meth:`~vesseltree.graph.BranchGraph.prune`.

The graph is edited as dicts keyed by node id and branch id (:class:`_SpurPruner`), since
pruning deletes and creates nodes and branches one at a time.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._validation import check_positive
from .graph_tables import EMPTY_VOXELS, GraphParts, graph_tables

if TYPE_CHECKING:
    from .branch_graph import BranchGraph

__all__ = ["prune_spurs"]


def prune_spurs(graph: "BranchGraph", *, length_factor: float | None = None,
                min_length_mm: float | None = None, junction_radius=None) -> "BranchGraph":
    """Remove short terminal branches, then re-merge degree-2 junctions (checked arguments).

    Parameters
    ----------
    graph : BranchGraph
        Not modified.
    length_factor, min_length_mm, junction_radius
        As :meth:`vesseltree.graph.BranchGraph.prune`.

    Returns
    -------
    BranchGraph
        A new graph, numbered as :func:`vesseltree.graph.build_graph` numbers it.

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
    radius = junction_radius_lookup(junction_radius, graph) if factor is not None else None
    pruner = _SpurPruner(graph, factor, min_len, radius)
    pruner.run()
    return type(graph)(**graph_tables(pruner.parts(), graph.shape, graph.spacing))


def _junction_radius_values(junction_radius, graph: "BranchGraph", junctions) -> dict:
    """Raw radius of every junction node, from a mapping or an array indexed by node id."""
    if isinstance(junction_radius, (Mapping, pd.Series)):
        items = dict(junction_radius.items())
        missing = [int(j) for j in junctions if j not in items]
        if missing:
            raise ValueError(
                f"junction_radius: expected a radius for every junction node, missing node ids {missing[:5]}"
            )
        return {int(j): items[j] for j in junctions}
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
    return {int(j): arr[j] for j in junctions}


def junction_radius_lookup(junction_radius, graph: "BranchGraph") -> dict[int, float]:
    """Radius (mm) of every junction node of ``graph``, checked.

    Parameters
    ----------
    junction_radius : mapping node_id -> mm, or array indexed by node_id
        As :meth:`vesseltree.graph.BranchGraph.prune`.
    graph : BranchGraph

    Returns
    -------
    dict of int to float
        Junction node id -> finite radius >= 0.

    Raises
    ------
    TypeError, ValueError
        Naming ``junction_radius``: not numbers, a wrong length, missing junctions, values
        that are not finite or negative.
    """
    junctions = graph.nodes.index[graph.nodes["kind"] == "junction"]
    out = {}
    for j, v in _junction_radius_values(junction_radius, graph, junctions).items():
        try:
            fv = float(v)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"junction_radius: expected numbers, got {v!r} for node {j}") from exc
        if not (np.isfinite(fv) and fv >= 0):
            raise ValueError(f"junction_radius: expected finite values >= 0 (mm), got {fv} for node {j}")
        out[j] = fv
    return out


def order_along(vox: np.ndarray, entry: np.ndarray, exit_: np.ndarray) -> np.ndarray:
    """Voxels sorted by their projection on the entry -> exit direction (ties: raster).

    Parameters
    ----------
    vox : (k, 3) int64 array
        Voxels in raster order (a junction's voxels).
    entry, exit_ : 3 numbers
        The voxels before and after them along the merged branch.

    Returns
    -------
    (k, 3) int64 array
    """
    if len(vox) <= 1:
        return vox
    direction = np.asarray(exit_, dtype=float) - np.asarray(entry, dtype=float)
    proj = (vox - np.asarray(entry, dtype=float)) @ direction
    return vox[np.argsort(proj, kind="stable")]


class _SpurPruner:
    """A branch graph as dicts that pruning edits in place, and the pruning rounds.

    Nodes (by node id): ``kind``, ``pos`` (voxel position), ``comp``, ``voxels`` (owned
    voxels), ``ends`` (ids of the branches ending there, a self-loop twice). Branches (by
    branch id): ``bsrc``, ``bdst``, ``bpath``, ``blen`` (mm). Merged branches take new ids
    above every id of the input graph.
    """

    def __init__(self, graph: "BranchGraph", factor: float | None, min_len: float | None,
                 radius: dict[int, float] | None) -> None:
        self.shape = graph.shape
        self.factor, self.min_len, self.radius = factor, min_len, radius
        nodes = graph.nodes
        ids = nodes.index.tolist()
        self.kind = dict(zip(ids, nodes["kind"].tolist()))
        self.pos = dict(zip(ids, nodes[["z", "y", "x"]].to_numpy().tolist()))
        self.comp = dict(zip(ids, nodes["component"].tolist()))
        self.voxels = {i: v for i, v in enumerate(graph.node_voxels)}
        self.ends: dict[int, list[int]] = {i: [] for i in self.kind}
        self.bsrc: dict[int, int] = {}
        self.bdst: dict[int, int] = {}
        self.bpath: dict[int, np.ndarray] = {}
        self.blen: dict[int, float] = {}
        br = graph.branches
        for b, s, d, length in zip(br.index.tolist(), br["src"].tolist(), br["dst"].tolist(),
                                   br["length_mm"].tolist()):
            self.bsrc[b], self.bdst[b], self.bpath[b], self.blen[b] = s, d, graph.paths[b], length
            self.ends[s].append(b)
            self.ends[d].append(b)
        self.next_id = max(self.bsrc, default=0) + 1

    # ------------------------------------------------------------------ edits
    def _drop_branch(self, b: int) -> None:
        del self.bsrc[b], self.bdst[b], self.bpath[b], self.blen[b]

    def _drop_node(self, n: int) -> None:
        for d in (self.kind, self.pos, self.comp, self.voxels, self.ends):
            del d[n]

    def _other_end(self, b: int, j: int) -> int:
        return self.bdst[b] if self.bsrc[b] == j else self.bsrc[b]

    def _too_short(self, b: int, j: int) -> bool:
        if self.min_len is not None and self.blen[b] < self.min_len:
            return True
        return self.factor is not None and self.blen[b] < self.factor * self.radius[j]

    # ------------------------------------------------------------------ rounds
    def run(self) -> None:
        """Prune rounds until nothing changes."""
        while True:
            removed = self.remove_spurs()
            merged = self.merge_degree2()
            if not (removed or merged):
                break

    def remove_spurs(self) -> bool:
        """At each junction of degree >= 3, drop up to ``degree - 2`` spurs, shortest first.

        Returns
        -------
        bool
            Whether any spur was removed.
        """
        changed = False
        for j in sorted(n for n in self.kind if self.kind[n] == "junction" and len(self.ends[n]) >= 3):
            cand = []
            for b in set(self.ends[j]):
                other = self._other_end(b, j)
                if other != j and self.kind[other] == "endpoint" and self._too_short(b, j):
                    cand.append((self.blen[b], b, other))
            allowed = len(self.ends[j]) - 2
            for _, b, other in sorted(cand)[:allowed]:
                self.ends[j].remove(b)
                self._drop_branch(b)
                self._drop_node(other)
                changed = True
        return changed

    def merge_degree2(self) -> bool:
        """Merge away every junction left with two branch ends.

        Returns
        -------
        bool
            Whether any junction was merged.
        """
        todo = sorted(n for n in self.kind if self.kind[n] == "junction" and len(self.ends[n]) == 2)
        for j in todo:
            self._merge(j)
        return bool(todo)

    def _merge(self, j: int) -> None:
        """Join the two branches at junction ``j`` through its voxels (or close a cycle)."""
        b1, b2 = self.ends[j]
        jv = self.voxels[j]
        if b1 == b2:  # self-loop on a degree-2 junction: an isolated cycle
            p = self.bpath[b1]
            self.bpath[b1] = np.concatenate([p, order_along(jv, p[-1], p[0])])
            self.kind[j] = "cycle"
            self.voxels[j] = EMPTY_VOXELS
            return
        p1 = self.bpath[b1] if self.bdst[b1] == j else self.bpath[b1][::-1]
        p2 = self.bpath[b2] if self.bsrc[b2] == j else self.bpath[b2][::-1]
        a, c = self._other_end(b1, j), self._other_end(b2, j)
        new = self.next_id
        self.next_id += 1
        self.bpath[new] = np.concatenate([p1, order_along(jv, p1[-1], p2[0]), p2])
        self.blen[new] = self.blen[b1] + self.blen[b2]
        self.bsrc[new], self.bdst[new] = a, c
        for old in (b1, b2):
            for node in (self.bsrc[old], self.bdst[old]):
                if node != j:
                    self.ends[node].remove(old)
            self._drop_branch(old)
        self.ends[a].append(new)
        self.ends[c].append(new)
        self._drop_node(j)

    # ------------------------------------------------------------------ result
    def _raster(self, voxel) -> int:
        return int(np.ravel_multi_index(tuple(voxel), self.shape))

    def _anchors(self) -> dict[int, int]:
        """Anchor voxel (raveled) of every node but cycles (:meth:`_orient_cycles` sets them)."""
        anchor = {}
        for n in sorted(self.kind):
            if self.kind[n] in ("junction", "isolated"):
                anchor[n] = self._raster(self.voxels[n][0])  # voxels are raster sorted
            elif self.kind[n] == "endpoint":
                anchor[n] = self._raster(int(round(c)) for c in self.pos[n])
        return anchor

    def _orient_cycles(self, anchor: dict[int, int]) -> None:
        """Start each cycle at its smallest voxel, towards its smaller neighbour; anchor it there."""
        for b in list(self.bpath):
            if self.kind[self.bsrc[b]] != "cycle":
                continue
            p = self.bpath[b]
            lin = np.ravel_multi_index(tuple(p.T), self.shape)
            k = int(np.argmin(lin))
            p = np.roll(p, -k, axis=0)
            lin = np.roll(lin, -k)
            if len(p) > 2 and lin[1] > lin[-1]:
                p = np.concatenate([p[:1], p[1:][::-1]])
            self.bpath[b] = p
            anchor[self.bsrc[b]] = int(lin[0])
            self.pos[self.bsrc[b]] = p[0].astype(float).tolist()

    def _orient_branches(self, anchor: dict[int, int]) -> None:
        """First voxel before last in raster order (ties: src the smaller node anchor)."""
        for b in list(self.bpath):
            p = self.bpath[b]
            if self.kind[self.bsrc[b]] == "cycle":
                continue
            f = self._raster(p[0])
            last = self._raster(p[-1])
            if last < f or (last == f and anchor[self.bdst[b]] < anchor[self.bsrc[b]]):
                self.bpath[b] = p[::-1].copy()
                self.bsrc[b], self.bdst[b] = self.bdst[b], self.bsrc[b]

    def parts(self) -> GraphParts:
        """The pruned graph, oriented canonically, as parts to number.

        Returns
        -------
        GraphParts
        """
        anchor = self._anchors()
        self._orient_cycles(anchor)
        self._orient_branches(anchor)
        node_ids = sorted(self.kind)
        index = {n: k for k, n in enumerate(node_ids)}
        bids = sorted(self.bpath)
        return GraphParts(
            node_kind=np.array([self.kind[n] for n in node_ids], dtype=object),
            node_pos=np.array([self.pos[n] for n in node_ids], dtype=float).reshape(-1, 3),
            node_voxels=[self.voxels[n] for n in node_ids],
            node_anchor=np.array([anchor[n] for n in node_ids], dtype=np.int64),
            node_component=np.array([self.comp[n] for n in node_ids], dtype=np.int64),
            src=np.array([index[self.bsrc[b]] for b in bids], dtype=np.int64),
            dst=np.array([index[self.bdst[b]] for b in bids], dtype=np.int64),
            paths=[np.ascontiguousarray(self.bpath[b], dtype=np.int64) for b in bids],
            lengths=np.array([self.blen[b] for b in bids], dtype=float),
        )

"""Morphometry of a vessel tree: branch orders (generation, Strahler) and per-volume summaries.

Orders need a root. By default each connected component of the branch graph is rooted at
its *largest-radius endpoint*: the endpoint node whose (only) branch has the largest radius
(ties: the smaller node id); a component without endpoint (a pure loop) is rooted at the
smaller-id end of its largest-radius branch. ``root`` can name the root node of any
components explicitly.

From the root, a breadth-first walk (branches visited in increasing branch id) orients the
tree:

- **generation**: the branches at the root are generation 1; a branch reached through the
  far node of a generation-g branch is generation g + 1.
- **Strahler order** (Horton-Strahler): a branch with no child is order 1; otherwise the
  largest order among its children, plus one if at least two children have it.
- **parent**: id of the branch whose far node the branch starts from (0 at the root).

Loops (anastomoses, parallel branches) make the graph not a tree: the branch that closes a
loop (both of its nodes already reached) is kept out of the walk: its generation is one more
than the smaller generation of its two nodes, its Strahler order is 1 and it is nobody's
parent or child (``in_tree`` is False).

A ``'point'`` branch (the zero-length branch :func:`vesseltree.analyze` gives a component
whose skeleton has no branch, a self-loop on its node) is not a loop: it is the whole tree
of its component, generation 1, Strahler order 1, ``in_tree`` True, rooted at its node.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Iterable

import numpy as np
import pandas as pd

__all__ = ["infer_roots", "branch_orders", "summarize"]


def infer_roots(nodes: pd.DataFrame, branches: pd.DataFrame, radius: str = "radius_mm") -> dict[int, int]:
    """Root node of each component: its largest-radius endpoint (see module docstring).

    Parameters
    ----------
    nodes : pandas.DataFrame
        ``BranchGraph.nodes`` (columns ``kind``, ``component``), indexed by node id.
    branches : pandas.DataFrame
        ``BranchGraph.branches`` with ``src``, ``dst``, ``component`` and ``radius``.
    radius : str
        Column of ``branches`` holding the branch radius (NaN counts as the smallest).

    Returns
    -------
    dict of int to int
        ``{component: node_id}`` for every component that has a branch.
    """
    roots: dict[int, int] = {}
    if not len(branches):
        return roots
    r = branches[radius].to_numpy(dtype=float)
    r = np.where(np.isnan(r), -np.inf, r)
    kind = nodes["kind"]
    best: dict[int, tuple] = {}
    fallback: dict[int, tuple] = {}
    for bid, src, dst, comp, rad in zip(branches.index.tolist(), branches["src"].tolist(),
                                        branches["dst"].tolist(), branches["component"].tolist(), r):
        for n in (src, dst):
            if kind.at[n] == "endpoint":
                cand = (-rad, n)
                if comp not in best or cand < best[comp]:
                    best[comp] = cand
        cand = (-rad, min(src, dst))
        if comp not in fallback or cand < fallback[comp]:
            fallback[comp] = cand
    for comp, (_, n) in fallback.items():
        roots[int(comp)] = int(best.get(comp, (None, n))[1])
    return roots


def _check_roots(root, nodes: pd.DataFrame, branches: pd.DataFrame) -> list[int]:
    if root is None:
        return []
    items = [root] if np.ndim(root) == 0 else list(root)
    out = []
    for n in items:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"root: expected node ids (int), got {n!r}")
        if int(n) not in nodes.index:
            raise ValueError(
                f"root: expected a node id in 0..{len(nodes) - 1}, got {int(n)}")
        out.append(int(n))
    comps = nodes.loc[out, "component"].tolist()
    if len(set(comps)) != len(comps):
        raise ValueError(f"root: expected at most one root per component, got nodes {out} "
                         f"in components {comps}")
    return out


def branch_orders(nodes: pd.DataFrame, branches: pd.DataFrame, root=None,
                  radius: str = "radius_mm") -> pd.DataFrame:
    """Generation, Strahler order and parent of every branch.

    Parameters
    ----------
    nodes, branches : DataFrames of a :class:`vesseltree.graph.BranchGraph` (``branches``
        needs a ``radius`` column unless every component gets an explicit root).
    root : int or sequence of int, optional
        Root node id(s), at most one per component; other components are rooted at their
        largest-radius endpoint.
    radius : str
        Column of ``branches`` used to infer roots.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``branches``, with columns ``generation`` (int), ``strahler`` (int),
        ``parent`` (int, 0 = none), ``root_node`` (int), ``in_tree`` (bool).

    Raises
    ------
    TypeError, ValueError
        A ``root`` that is not a node id, or two roots in one component.
    """
    explicit = _check_roots(root, nodes, branches)
    idx = branches.index
    out = pd.DataFrame(
        {"generation": np.zeros(len(idx), dtype=np.int64),
         "strahler": np.zeros(len(idx), dtype=np.int64),
         "parent": np.zeros(len(idx), dtype=np.int64),
         "root_node": np.full(len(idx), -1, dtype=np.int64),
         "in_tree": np.zeros(len(idx), dtype=bool)},
        index=idx,
    )
    if not len(idx):
        return out
    walk = _Walk(_adjacency(branches), _point_branches(branches))
    for r in _component_roots(nodes, branches, explicit, radius):
        walk.from_root(r)
    strahler = walk.strahler()
    out["generation"] = [walk.gen[b] for b in idx]
    out["strahler"] = [strahler[b] for b in idx]
    out["parent"] = [walk.parent[b] for b in idx]
    out["root_node"] = [walk.root[b] for b in idx]
    out["in_tree"] = [walk.in_tree[b] for b in idx]
    return out


def _component_roots(nodes: pd.DataFrame, branches: pd.DataFrame, explicit: list[int],
                     radius: str) -> list[int]:
    """Root node of every component with a branch, in component order: the explicit root
    of the component, else its inferred one (:func:`infer_roots`)."""
    roots = {int(nodes.at[n, "component"]): n for n in explicit}
    comps = set(int(c) for c in branches["component"].tolist())
    if len(roots) < len(comps):
        inferred = infer_roots(nodes, branches, radius)
        for c in comps:
            roots.setdefault(c, inferred[c])
    return [roots[c] for c in sorted(comps)]


def _adjacency(branches: pd.DataFrame) -> dict[int, list[tuple[int, int]]]:
    """node -> sorted [(branch id, node at the other end)] (a self-loop listed once)."""
    adj: dict[int, list[tuple[int, int]]] = {}
    src = branches["src"].to_numpy()
    dst = branches["dst"].to_numpy()
    for b, s, d in zip(branches.index.tolist(), src.tolist(), dst.tolist()):
        adj.setdefault(s, []).append((b, d))
        if d != s:
            adj.setdefault(d, []).append((b, s))
    for v in adj.values():
        v.sort()
    return adj


def _point_branches(branches: pd.DataFrame) -> set[int]:
    """Ids of the zero-length ``'point'`` branches (none without a ``kind`` column)."""
    if "kind" not in branches.columns:
        return set()
    return set(branches.index[(branches["kind"] == "point").to_numpy()].tolist())


class _Walk:
    """Breadth-first orientation of the branch graph from one root per component.

    Per branch id: ``gen`` (generation), ``parent`` (0: none), ``root`` (root node),
    ``in_tree`` (False for a branch that closes a loop); ``children`` of each branch (0:
    the roots' branches) and the tree branches in visiting ``order``.
    """

    def __init__(self, adj: dict[int, list[tuple[int, int]]], point: set[int]) -> None:
        self.adj, self.point = adj, point
        self.gen: dict[int, int] = {}
        self.parent: dict[int, int] = {}
        self.root: dict[int, int] = {}
        self.in_tree: dict[int, bool] = {}
        self.children: dict[int, list[int]] = {}
        self.order: list[int] = []
        self.node_gen: dict[int, int] = {}
        self.node_in: dict[int, int] = {}  # node -> branch through which it was reached (0 at root)

    def from_root(self, r: int) -> None:
        """Visit the component of root node ``r`` (branches in increasing id at each node)."""
        self.node_gen[r] = 0
        self.node_in[r] = 0
        queue = deque([r])
        while queue:
            u = queue.popleft()
            for b, v in self.adj.get(u, []):
                if b in self.gen:
                    continue
                # a zero-length branch of a branchless component is a leaf
                leaf = b in self.point
                if not leaf and v in self.node_gen:
                    # closes a loop (or a self-loop / parallel branch)
                    self.gen[b] = min(self.node_gen[u], self.node_gen[v]) + 1
                    self.parent[b] = 0
                    self.in_tree[b] = False
                else:
                    self.gen[b] = self.node_gen[u] + 1
                    self.parent[b] = self.node_in[u]
                    self.in_tree[b] = True
                    self.children.setdefault(self.node_in[u], []).append(b)
                    self.order.append(b)
                    if not leaf:  # the far node joins the tree
                        self.node_gen[v] = self.gen[b]
                        self.node_in[v] = b
                        queue.append(v)
                self.root[b] = r

    def strahler(self) -> dict[int, int]:
        """Horton-Strahler order of every visited branch (1 for loop-closing branches)."""
        strahler = {b: 1 for b in self.gen}
        for b in reversed(self.order):
            ch = self.children.get(b, [])
            if ch:
                o = [strahler[c] for c in ch]
                mx = max(o)
                strahler[b] = mx + 1 if o.count(mx) >= 2 else mx
        return strahler


# branch-table columns summarised when present (optional columns of analyze)
_OPTIONAL_STATS = ("radius_inscribed_mm", "curvature_per_mm", "torsion_per_mm")


def _stats(values: Iterable[float]) -> dict[str, Any]:
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"n": 0, "median": None, "mean": None, "min": None, "q1": None, "q3": None, "max": None}
    return {"n": int(v.size), "median": float(np.median(v)), "mean": float(v.mean()),
            "min": float(v.min()), "q1": float(np.quantile(v, 0.25)),
            "q3": float(np.quantile(v, 0.75)), "max": float(v.max())}


def summarize(tree) -> dict[str, Any]:
    """Per-volume summary of a :class:`vesseltree.tree.VesselTree` (plain JSON-able types).

    Parameters
    ----------
    tree : vesseltree.tree.VesselTree
        Result of :func:`vesseltree.analyze`.

    Returns
    -------
    dict
        See the keys below.

    Notes
    -----

    Keys: shape, spacing_mm, vessel_voxels, vessel_volume_mm3, skeleton_voxels,
    n_branches, n_point_branches (zero-length branches of branchless components), n_nodes,
    n_junctions, n_endpoints, n_components, total_length_mm,
    radius_mm / radius_paper_mm / length_mm / tortuosity (n, median, mean, min, q1, q3, max
    over branches; the same for radius_inscribed_mm, curvature_per_mm and torsion_per_mm
    when the table has them, NaN values left out), max_generation, max_strahler, radius_method, n_scales, scale_rule
    (:meth:`vesseltree.ScaleRule.to_dict`), and, when the tree has enough branches for its
    rule, scale_thresholds_mm and scale_volume_mm3 (S = ``tree.n_scales``).
    """
    br = tree.branches
    bg = tree.branch_graph
    kinds = bg.nodes["kind"].value_counts() if len(bg.nodes) else {}
    vox = float(np.prod(tree.spacing))
    n_vessel = int(tree.n_vessel_voxels)
    out: dict[str, Any] = {
        "shape": [int(s) for s in tree.mask.shape],
        "spacing_mm": [float(s) for s in tree.spacing],
        "vessel_voxels": n_vessel,
        "vessel_volume_mm3": n_vessel * vox,
        "skeleton_voxels": int(len(tree.skeleton_coords)),
        "n_branches": int(len(br)),
        "n_point_branches": int((br["kind"] == "point").sum()) if len(br) else 0,
        "n_nodes": int(bg.n_nodes),
        "n_junctions": int(kinds.get("junction", 0)) if len(bg.nodes) else 0,
        "n_endpoints": int(kinds.get("endpoint", 0)) if len(bg.nodes) else 0,
        "n_components": int(bg.n_components) if len(bg.nodes) else 0,
        "total_length_mm": float(br["length_mm"].sum()) if len(br) else 0.0,
        "radius_method": tree.radius_method,
        "radius_mm": _stats(br["radius_mm"]) if len(br) else _stats([]),
        "radius_paper_mm": _stats(br["radius_paper_mm"]) if len(br) else _stats([]),
        "length_mm": _stats(br["length_mm"]) if len(br) else _stats([]),
        "tortuosity": _stats(br["tortuosity"]) if len(br) else _stats([]),
        "max_generation": int(br["generation"].max()) if len(br) else 0,
        "max_strahler": int(br["strahler"].max()) if len(br) else 0,
        "n_scales": int(tree.n_scales),
        "scale_rule": tree.scale_rule.to_dict(),
    }
    for col in _OPTIONAL_STATS:  # analyze(inscribed=..., curvature=...) columns, when there
        if col in br.columns:
            out[col] = _stats(br[col])
    if tree.thresholds is not None:
        out["scale_thresholds_mm"] = [float(t) for t in tree.thresholds]
        out["scale_volume_mm3"] = [float(v) for v in tree.scale_volumes()]
    return out

"""Branch orders (generation, Strahler) on hand-built trees with known answers, and on a
phantom against its ground-truth generations."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vesseltree.morphometry import branch_orders, infer_roots
from vesseltree.synthetic import make_phantom
from vesseltree.tree import analyze


def _graph(edges, kinds, radii):
    nodes = pd.DataFrame({"kind": kinds, "component": 1}, index=pd.RangeIndex(len(kinds), name="node_id"))
    br = pd.DataFrame({"src": [e[0] for e in edges], "dst": [e[1] for e in edges],
                       "component": 1, "radius_mm": radii},
                      index=pd.RangeIndex(1, len(edges) + 1, name="branch_id"))
    return nodes, br


def _full_binary(depth):
    """Root stem + ``depth`` generations of symmetric bifurcations."""
    edges, kinds = [(0, 1)], ["endpoint", "junction"]
    frontier = [1]
    for g in range(depth):
        nxt = []
        for u in frontier:
            for _ in range(2):
                v = len(kinds)
                kinds.append("junction" if g < depth - 1 else "endpoint")
                edges.append((u, v))
                nxt.append(v)
        frontier = nxt
    radii = [10.0] + [1.0] * (len(edges) - 1)
    return _graph(edges, kinds, radii)


def test_y_tree():
    nodes, br = _graph([(0, 1), (1, 2), (1, 3)], ["endpoint", "junction", "endpoint", "endpoint"],
                       [5.0, 3.0, 2.0])
    assert infer_roots(nodes, br) == {1: 0}
    o = branch_orders(nodes, br)
    assert o["generation"].tolist() == [1, 2, 2]
    assert o["strahler"].tolist() == [2, 1, 1]
    assert o["parent"].tolist() == [0, 1, 1]
    assert o["in_tree"].all()
    # rooted at a thin tip instead
    o = branch_orders(nodes, br, root=3)
    assert o["generation"].tolist() == [2, 2, 1]
    assert o["strahler"].tolist() == [1, 1, 2]


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_full_binary_tree_orders(depth):
    nodes, br = _full_binary(depth)
    o = branch_orders(nodes, br)
    assert o.loc[1, "strahler"] == depth + 1  # symmetric tree: +1 at every level
    assert o["generation"].max() == depth + 1
    leaves = br["dst"].map(nodes["kind"]) == "endpoint"
    assert (o.loc[leaves.to_numpy(), "strahler"] == 1).all()


def test_comb_tree_strahler_stays_two():
    # a trunk with one side twig at each junction: orders never exceed 2
    edges = [(0, 1), (1, 2), (1, 3), (3, 4), (3, 5), (5, 6), (5, 7)]
    kinds = ["endpoint", "junction", "endpoint", "junction", "endpoint", "junction", "endpoint", "endpoint"]
    nodes, br = _graph(edges, kinds, [9.0, 1, 5, 1, 4, 1, 3])
    o = branch_orders(nodes, br)
    assert o["strahler"].tolist() == [2, 1, 2, 1, 2, 1, 1]
    assert o["generation"].tolist() == [1, 2, 2, 3, 3, 4, 4]


def test_loop_closing_branch_is_out_of_tree():
    edges = [(0, 1), (1, 2), (1, 3), (2, 3), (2, 4), (3, 5)]
    kinds = ["endpoint", "junction", "junction", "junction", "endpoint", "endpoint"]
    nodes, br = _graph(edges, kinds, [9.0, 3, 3, 1, 2, 2])
    o = branch_orders(nodes, br)
    assert o.loc[4, "in_tree"] == False  # noqa: E712  branch 2-3 closes the loop
    assert o.loc[4, "strahler"] == 1 and o.loc[4, "generation"] == 3
    assert o["in_tree"].sum() == 5


def test_loop_closing_branch_generation_from_the_nearer_node():
    # 0-1 stem; 1-2-3-4 one way round, 1-4 the other: branch 3-4 closes the loop between
    # node 3 (generation 3) and node 4 (generation 2), so it is generation 2 + 1
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (1, 4), (4, 5)]
    kinds = ["endpoint", "junction", "junction", "junction", "junction", "endpoint"]
    nodes, br = _graph(edges, kinds, [9.0, 3, 3, 3, 3, 2])
    o = branch_orders(nodes, br)
    assert o["in_tree"].tolist() == [True, True, True, False, True, True]
    assert o["generation"].tolist() == [1, 2, 3, 3, 2, 3]
    assert o["parent"].tolist() == [0, 1, 2, 0, 1, 5]


def test_bad_root():
    nodes, br = _graph([(0, 1), (1, 2), (1, 3)], ["endpoint", "junction", "endpoint", "endpoint"],
                       [5.0, 3.0, 2.0])
    with pytest.raises(ValueError, match="root"):
        branch_orders(nodes, br, root=17)
    with pytest.raises(TypeError, match="root"):
        branch_orders(nodes, br, root="a")
    with pytest.raises(ValueError, match="root"):
        branch_orders(nodes, br, root=[0, 2])


def test_phantom_generations_match_ground_truth():
    ph = make_phantom((64, 96, 96), 1.0, seed=3, root_radius=5.0, depth=3, curvature=10.0)
    tree = analyze(ph.mask, ph.spacing)
    br = tree.branches
    # each branch <- the phantom segment covering most of its Eq. 3 voxels
    seg = ph.segment_id[tree.labels > 0]
    lab = tree.labels[tree.labels > 0]
    counts = pd.crosstab(lab, seg)
    match = counts.idxmax(axis=1)
    gt_gen = ph.segments.set_index("segment_id")["generation"]
    ok = (br.loc[match.index, "generation"].to_numpy() - 1) == gt_gen.loc[match.to_numpy()].to_numpy()
    assert len(br) == len(ph.segments)
    assert ok.mean() >= 0.9
    # volumes add up to the mask, lengths are positive
    assert br["volume_mm3"].sum() == pytest.approx(ph.mask.sum() * np.prod(ph.spacing))
    assert (br["length_mm"] > 0).all()
    s = tree.summary()
    assert s["n_branches"] == len(br)
    assert s["vessel_voxels"] == int(ph.mask.sum())
    assert s["max_generation"] == br["generation"].max()


def test_point_branch_is_its_own_tree_not_a_loop():
    """A 'point' branch (self-loop on an isolated node, analyze's branch for a branchless
    component) is generation 1, Strahler 1, in the tree, rooted at its node; a real
    junction self-loop still closes a loop."""
    nodes = pd.DataFrame({"kind": ["endpoint", "junction", "isolated"], "component": [1, 1, 2]},
                         index=pd.RangeIndex(3, name="node_id"))
    br = pd.DataFrame({"src": [0, 1, 2], "dst": [1, 1, 2], "component": [1, 1, 2],
                       "kind": ["terminal", "loop", "point"], "radius_mm": [2.0, 1.0, 0.5]},
                      index=pd.RangeIndex(1, 4, name="branch_id"))
    o = branch_orders(nodes, br)
    assert o.loc[3, ["generation", "strahler", "parent", "root_node"]].tolist() == [1, 1, 0, 2]
    assert bool(o.at[3, "in_tree"])
    assert not bool(o.at[2, "in_tree"])  # the junction self-loop closes a loop
    assert infer_roots(nodes, br)[2] == 2

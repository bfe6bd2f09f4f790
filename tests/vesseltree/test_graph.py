"""Tests of vesseltree.graph (skeleton -> branch graph).

References are independent of the code under test: analytic shapes (tubes, Y, torus,
cross, hand-drawn voxel chains whose polyline length is a closed formula), a brute-force
re-derivation of the node/branch counts with networkx on the voxel adjacency graph,
``scipy.ndimage.label`` for components, and the peer library skan.
"""
from __future__ import annotations

import itertools
import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st
from scipy import ndimage

from vesseltree import BranchGraph, build_graph, skeletonize
from vesseltree.synthetic import rasterize_segments, torus, tube

OFFSETS = [np.array(d) for d in itertools.product((-1, 0, 1), repeat=3) if any(d)]


# --------------------------------------------------------------------------- helpers
def draw(shape, *polylines):
    """Bool volume with 26-connected digital lines through integer points."""
    from skimage.draw import line_nd

    out = np.zeros(shape, dtype=bool)
    for pts in polylines:
        for a, b in zip(pts[:-1], pts[1:]):
            idx = line_nd(a, b, endpoint=True)
            out[idx] = True
    return out


def diamond(shape, centre, k):
    """A closed diamond of half-diagonal k in the (y, x) plane: a clean 26-cycle."""
    z, y, x = centre
    return draw(shape, [(z, y - k, x), (z, y, x + k), (z, y + k, x), (z, y, x - k), (z, y - k, x)])


def owned(g: BranchGraph) -> list[tuple[int, int, int]]:
    vox = [tuple(v) for p in g.paths.values() for v in p.tolist()]
    vox += [tuple(v) for nv in g.node_voxels for v in nv.tolist()]
    return vox


def reference_counts(skel: np.ndarray) -> dict[str, int]:
    """Brute force, with networkx on the voxel graph: the definitions of docs/graph.md."""
    pts = [tuple(p) for p in np.argwhere(skel).tolist()]
    s = set(pts)
    g = nx.Graph()
    g.add_nodes_from(pts)
    for p in pts:
        for d in OFFSETS:
            q = (p[0] + d[0], p[1] + d[1], p[2] + d[2])
            if q in s:
                g.add_edge(p, q)
    deg = dict(g.degree())
    junction = {p for p in pts if deg[p] > 2}
    jgraph = g.subgraph(junction)
    cluster = {}
    for k, comp in enumerate(nx.connected_components(jgraph)):
        for p in comp:
            cluster[p] = k
    absorbed = set()
    for p in pts:
        if deg[p] == 2 and p not in junction:
            a, c = list(g.neighbors(p))
            if a in cluster and c in cluster and cluster[a] == cluster[c] and g.has_edge(a, c):
                absorbed.add(p)
    chain = [p for p in pts if deg[p] in (1, 2) and p not in junction and p not in absorbed]
    chains = list(nx.connected_components(g.subgraph(chain)))
    n_cycles = sum(
        1
        for c in chains
        if all(deg[p] == 2 for p in c) and not any(q in cluster for p in c for q in g.neighbors(p))
    )
    return {
        "branches": len(chains),
        "junction": nx.number_connected_components(jgraph),
        "endpoint": sum(deg[p] == 1 for p in pts),
        "isolated": sum(deg[p] == 0 for p in pts),
        "cycle": n_cycles,
        "components": nx.number_connected_components(g),
    }


def kind_counts(g: BranchGraph) -> dict[str, int]:
    counts = g.nodes["kind"].value_counts()
    return {k: int(counts.get(k, 0)) for k in ("junction", "endpoint", "isolated", "cycle")}


def check_invariants(g: BranchGraph, skel: np.ndarray) -> None:
    # every skeleton voxel owned exactly once
    vox = owned(g)
    assert len(vox) == len(set(vox)) == int(skel.sum())
    assert set(vox) == {tuple(p) for p in np.argwhere(skel).tolist()}
    bl, nl = g.branch_labels(), g.node_labels()
    assert not np.any((bl > 0) & (nl > 0))
    np.testing.assert_array_equal((bl > 0) | (nl > 0), skel)
    np.testing.assert_array_equal(g.skeleton, skel)
    # ids and tables
    assert list(g.branches.index) == list(range(1, g.n_branches + 1))
    assert list(g.nodes.index) == list(range(g.n_nodes))
    firsts = [np.ravel_multi_index(tuple(g.paths[b][0]), g.shape) for b in g.branches.index]
    assert firsts == sorted(firsts)
    assert int(g.nodes["degree"].sum()) == 2 * g.n_branches
    s = set(map(tuple, np.argwhere(skel).tolist()))
    for b, row in g.branches.iterrows():
        p = g.paths[b]
        assert row.n_voxels == len(p) >= 1
        steps = np.abs(np.diff(p, axis=0)).max(axis=1) if len(p) > 1 else np.ones(0)
        assert np.all(steps == 1), "raw paths are 26-connected chains"
        for end, v in ((row.src, p[0]), (row.dst, p[-1])):
            kind = g.nodes.at[end, "kind"]
            if kind == "junction":
                nv = g.node_voxels[end]
                assert np.abs(nv - v).max(axis=1).min() == 1, "path end touches its junction"
            elif kind in ("endpoint", "cycle"):
                at = p[0] if kind == "cycle" else v  # a cycle node sits on the first voxel
                assert np.allclose(g.nodes.loc[end, ["z", "y", "x"]].to_numpy(float), at)
                if kind == "endpoint":
                    n = sum((tuple(v + d) in s) for d in OFFSETS)
                    assert n == 1
    check_orientation(g)
    # components agree with scipy
    n_comp = ndimage.label(skel, structure=np.ones((3, 3, 3)))[1]
    assert g.n_components == n_comp


def check_orientation(g: BranchGraph) -> None:
    """The documented path orientation (``BranchGraph.paths``)."""
    for b, row in g.branches.iterrows():
        lin = np.ravel_multi_index(tuple(g.paths[b].T), g.shape)
        if row.kind == "cycle":
            # starts at its smallest voxel, steps first to the smaller of its two neighbours
            assert lin[0] == lin.min()
            assert len(lin) <= 2 or lin[1] < lin[-1]
        else:
            # first voxel before last; a one-voxel path goes from the smaller node anchor
            # (node ids follow anchor order)
            assert lin[0] < lin[-1] or (lin[0] == lin[-1] and row.src <= row.dst)


# --------------------------------------------------------------------------- analytic shapes
@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("radius", [2.0, 3.0, 4.0])
def test_straight_capsule_one_branch(axis, radius):
    # A capsule (round caps) whose medial axis is exactly the segment a-b, L = 30 voxels.
    shape = [18, 18, 18]
    shape[axis] = 44
    a = np.array([9.0, 9.0, 9.0])
    b = a.copy()
    a[axis], b[axis] = 7.0, 37.0
    skel = skeletonize(tube(shape, a, b, radius, caps="round"))
    g = build_graph(skel)
    check_invariants(g, skel)
    assert g.n_branches == 1 and kind_counts(g) == {"junction": 0, "endpoint": 2, "isolated": 0, "cycle": 0}
    length = g.branches.length_mm.iloc[0]
    # the graph adds no shortening: a straight skeleton of n voxels has length n - 1
    p = g.paths[1]
    assert length == pytest.approx(np.linalg.norm(p[-1] - p[0]))
    # On a capsule Lee thinning may stop short of a cap centre or run into the cap (along z,
    # its first sub-iteration direction): within radius/2 + 1 voxels per tip (docs/graph.md)
    assert abs(length - 30) <= radius + 2


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("radius", [2.0, 3.0, 4.0, 5.0])
def test_straight_flat_tube_tip_shortening(axis, radius):
    # Flat caps (L = 30 voxels): the skeleton of a cylinder of integer radius r ends
    # r - 1.5 voxels (+-0.5) before each cap, so length = L - 2r + 3 within one voxel.
    shape = [18, 18, 18]
    shape[axis] = 44
    a = np.array([9.0, 9.0, 9.0])
    b = a.copy()
    a[axis], b[axis] = 7.0, 37.0
    skel = skeletonize(tube(shape, a, b, radius, caps="flat"))
    g = build_graph(skel)
    assert g.n_branches == 1
    length = g.branches.length_mm.iloc[0]
    assert abs(length - (30 - 2 * radius + 3)) <= 1


def test_straight_voxel_line_exact_length_and_spacing():
    for axis in range(3):
        skel = np.zeros((12, 12, 12), bool)
        idx = [5, 5, 5]
        idx[axis] = slice(2, 11)  # 9 voxels
        skel[tuple(idx)] = True
        spacing = (0.8, 1.7, 0.45)
        g = build_graph(skel, spacing)
        assert g.n_branches == 1
        assert g.branches.length_mm.iloc[0] == pytest.approx(8 * spacing[axis])
        assert g.branches.euclidean_mm.iloc[0] == pytest.approx(8 * spacing[axis])
        assert g.branches.tortuosity.iloc[0] == pytest.approx(1.0)


def test_anisotropic_polyline_length_matches_formula():
    # a hand-drawn chain of face, edge and vertex steps (no turn closes a triangle)
    steps = [(1, 1, 0)] * 4 + [(0, 1, 1)] * 2 + [(0, 0, 1)] * 5 + [(1, 0, 1)] * 3 + [(1, 1, 1)] * 2
    pts = np.cumsum([(1, 1, 1)] + steps, axis=0)
    skel = np.zeros((12, 12, 16), bool)
    skel[tuple(pts.T)] = True
    for spacing in [(1.0, 1.0, 1.0), (2.0, 0.5, 0.7), (0.3, 1.1, 2.5)]:
        g = build_graph(skel, spacing)
        assert g.n_branches == 1
        expected = sum(np.linalg.norm(np.array(s) * spacing) for s in steps)
        assert g.branches.length_mm.iloc[0] == pytest.approx(expected)
        chord = np.linalg.norm((pts[-1] - pts[0]) * spacing)
        assert g.branches.euclidean_mm.iloc[0] == pytest.approx(chord)
        assert g.branches.tortuosity.iloc[0] == pytest.approx(expected / chord)
        # node positions in mm
        np.testing.assert_allclose(
            g.nodes[["z_mm", "y_mm", "x_mm"]].to_numpy(), g.nodes[["z", "y", "x"]].to_numpy() * spacing
        )


@pytest.mark.parametrize("radius", [1.5, 2.0, 3.0])
def test_y_three_branches_one_junction(radius):
    c = np.array([20.0, 20.0, 20.0])
    m = (
        tube((40, 40, 40), c, c + [-15, 0, 0], radius, caps="round")
        | tube((40, 40, 40), c, c + [12, 0, -10], radius, caps="round")
        | tube((40, 40, 40), c, c + [9, 10, 10], radius, caps="round")
    )
    skel = skeletonize(m)
    g = build_graph(skel)
    check_invariants(g, skel)
    assert g.n_branches == 3
    assert kind_counts(g) == {"junction": 1, "endpoint": 3, "isolated": 0, "cycle": 0}
    assert set(g.branches.kind) == {"terminal"}
    junction = g.nodes.index[g.nodes.kind == "junction"][0]
    assert g.nodes.at[junction, "degree"] == 3
    # the junction sits near the common centre; branch lengths close to the arm lengths
    pos = g.nodes.loc[junction, ["z", "y", "x"]].to_numpy(float)
    assert np.linalg.norm(pos - c) <= radius + 1
    arms = sorted([15.0, np.hypot(12, 10), np.linalg.norm([9, 10, 10])])
    got = sorted(g.branches.length_mm)
    np.testing.assert_allclose(got, arms, atol=radius + 1.5)


@pytest.mark.parametrize("R,r", [(10, 3), (8, 2), (12, 4)])
def test_torus_is_one_cycle(R, r):
    m = torus((24, 40, 40), (12, 20, 20), R, r)
    skel = skeletonize(m)
    g = build_graph(skel)
    check_invariants(g, skel)
    assert g.n_branches == 1
    assert kind_counts(g) == {"junction": 0, "endpoint": 0, "isolated": 0, "cycle": 1}
    row = g.branches.iloc[0]
    assert row.kind == "cycle" and row.src == row.dst == 0
    assert row.euclidean_mm == 0 and np.isnan(row.tortuosity)
    # a digital 26-curve following a circle overestimates its length by at most
    # cos(22.5 deg) + (sqrt 2 - 1) sin(22.5 deg) = 1.0824; the skeleton radius may differ
    # from R by under one voxel
    assert 2 * np.pi * (R - 1) <= row.length_mm <= 1.0824 * 2 * np.pi * (R + 1)


@pytest.mark.parametrize("ball", [4.0, 6.0])
def test_cross_with_fat_junction(ball):
    shape = (30, 60, 60)
    c = np.array([15.0, 30.0, 30.0])
    m = tube(shape, c, c, ball, caps="round")
    for d in [(0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]:
        m |= tube(shape, c, c + 25 * np.array(d), 2.0, caps="round")
    skel = skeletonize(m)
    g = build_graph(skel)
    check_invariants(g, skel)
    assert kind_counts(g)["junction"] == 1
    # a big ball may leave a short spur off the plane of the cross; pruning at 1.5 x the
    # junction radius removes it and nothing else
    p = g.prune(length_factor=1.5, junction_radius=np.full(g.n_nodes, ball))
    assert p.n_branches == 4
    assert kind_counts(p) == {"junction": 1, "endpoint": 4, "isolated": 0, "cycle": 0}
    np.testing.assert_allclose(p.branches.length_mm, 25.0, atol=1.0)
    if ball == 4.0:
        assert g.n_branches == 4


def test_two_disjoint_tubes_two_components():
    shape = (30, 30, 30)
    m = tube(shape, (5, 6, 5), (5, 6, 25), 2.0, caps="round") | tube(
        shape, (22, 20, 4), (22, 20, 26), 2.5, caps="round"
    )
    skel = skeletonize(m)
    g = build_graph(skel)
    check_invariants(g, skel)
    assert g.n_components == 2 and g.n_branches == 2
    assert sorted(g.branches.component) == [1, 2]
    gx = g.to_networkx()
    assert nx.number_connected_components(gx) == 2


# --------------------------------------------------------------------------- hand-made topologies
def test_isolated_voxel_cycle_self_loop_parallel_edges():
    shape = (9, 30, 40)
    skel = np.zeros(shape, bool)
    skel[1, 1, 1] = True  # isolated voxel
    skel |= diamond(shape, (2, 10, 8), 5)  # isolated cycle, 20 diagonal steps
    lolli = diamond(shape, (5, 10, 25), 4) | draw(shape, [(5, 10, 21), (5, 10, 14)])
    skel |= lolli  # self-loop at one junction voxel + a tail
    theta = diamond(shape, (7, 22, 20), 4) | draw(
        shape, [(7, 22, 16), (7, 22, 10)], [(7, 22, 24), (7, 22, 30)]
    )
    skel |= theta  # two junctions joined by two parallel branches, + two tails
    spacing = (1.3, 0.6, 0.9)
    g = build_graph(skel, spacing)
    check_invariants(g, skel)
    assert reference_counts(skel) == {
        "branches": g.n_branches,
        **kind_counts(g),
        "components": g.n_components,
    }
    assert kind_counts(g) == {"junction": 3, "endpoint": 3, "isolated": 1, "cycle": 1}
    kinds = g.branches.kind.value_counts().to_dict()
    assert kinds == {"terminal": 3, "internal": 2, "loop": 1, "cycle": 1}
    # isolated voxel: a node owning it, no branch
    iso = g.nodes.index[g.nodes.kind == "isolated"][0]
    assert g.nodes.at[iso, "degree"] == 0 and g.node_voxels[iso].tolist() == [[1, 1, 1]]
    # the cycle: node on the path's first voxel, owning nothing; exact diamond perimeter
    cyc = g.branches[g.branches.kind == "cycle"].iloc[0]
    step = np.hypot(spacing[1], spacing[2])
    assert cyc.length_mm == pytest.approx(20 * step)
    cnode = g.nodes.loc[cyc.src]
    assert cnode.kind == "cycle" and cnode.n_voxels == 0 and cnode.degree == 2
    assert cyc.n_voxels == 20
    # self-loop: src == dst on a junction; length = perimeter (through the junction voxel)
    loop = g.branches[g.branches.kind == "loop"].iloc[0]
    assert loop.src == loop.dst and g.nodes.at[loop.src, "degree"] == 3
    assert loop.length_mm == pytest.approx(16 * step) and np.isnan(loop.tortuosity)
    # parallel edges
    internal = g.branches[g.branches.kind == "internal"]
    assert internal.src.nunique() == 1 and internal.dst.nunique() == 1
    gx = g.to_networkx()
    assert gx.number_of_edges() == g.n_branches
    assert gx.number_of_edges(internal.src.iloc[0], internal.dst.iloc[0]) == 2
    assert gx.number_of_edges(loop.src, loop.src) == 1


def test_triangle_is_absorbed_by_junction():
    # An L corner: (0,0)-(0,1)-(1,1) closes a 26-triangle: no hole, no branch.
    skel = np.zeros((3, 12, 12), bool)
    skel[1, 5, 1:6] = True
    skel[1, 5:11, 6] = True  # 90 degree corner at (5, 6) with (5, 5)-(6, 6) diagonal
    g = build_graph(skel)
    check_invariants(g, skel)
    assert g.n_branches == 2 and kind_counts(g)["junction"] == 1
    assert set(g.branches.kind) == {"terminal"}


def test_branch_ids_stable_and_paths_oriented():
    rng = np.random.default_rng(3)
    starts = rng.uniform(4, 28, (5, 3))
    ends = rng.uniform(4, 28, (5, 3))
    m, _, _ = rasterize_segments((32, 32, 32), starts, ends, 1.8, 1.8)
    skel = skeletonize(m)
    g1, g2 = build_graph(skel), build_graph(skel.astype(np.uint8))
    pd.testing.assert_frame_equal(g1.branches, g2.branches)
    pd.testing.assert_frame_equal(g1.nodes, g2.nodes)
    for b in g1.branches.index:
        np.testing.assert_array_equal(g1.paths[b], g2.paths[b])
        p = g1.paths[b]
        if g1.branches.at[b, "kind"] != "cycle":
            assert np.ravel_multi_index(tuple(p[0]), g1.shape) <= np.ravel_multi_index(tuple(p[-1]), g1.shape)


# --------------------------------------------------------------------------- skan agreement
def _skan(skel, spacing):
    import skan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = skan.Skeleton(skel, spacing=spacing)
        return sk, skan.summarize(sk, separator="_")


def test_agrees_with_skan_where_junctions_are_single_voxels():
    """Where every junction cluster is a single voxel, skan and we split alike."""
    pytest.importorskip("skan")
    rng = np.random.default_rng(11)
    checked = 0
    spacing = (1.5, 0.7, 0.9)
    for _ in range(12):
        pts = rng.uniform(6, 34, (6, 3))
        parent = [int(rng.integers(0, i)) for i in range(1, 6)]
        m, _, _ = rasterize_segments(
            (40, 40, 40), pts[parent], pts[1:], rng.uniform(1, 3, 5), rng.uniform(1, 3, 5)
        )
        skel = skeletonize(m)
        g = build_graph(skel, spacing)
        if (g.nodes.n_voxels[g.nodes.kind == "junction"] != 1).any():
            continue
        checked += 1
        sk, df = _skan(skel, spacing)
        assert g.n_branches == sk.n_paths == len(df)
        np.testing.assert_allclose(sorted(g.branches.length_mm), sorted(df.branch_distance), rtol=1e-9)
        np.testing.assert_allclose(
            sorted(g.branches.euclidean_mm), sorted(df.euclidean_distance), rtol=1e-9, atol=1e-12
        )
    assert checked >= 3


def test_skan_on_hand_made_topologies():
    pytest.importorskip("skan")
    shape = (9, 30, 40)
    skel = diamond(shape, (2, 10, 8), 5)
    skel |= diamond(shape, (5, 10, 25), 4) | draw(shape, [(5, 10, 21), (5, 10, 14)])
    skel |= diamond(shape, (7, 22, 20), 4) | draw(shape, [(7, 22, 16), (7, 22, 10)], [(7, 22, 24), (7, 22, 30)])
    g = build_graph(skel, (1.0, 2.0, 0.5))
    sk, df = _skan(skel, (1.0, 2.0, 0.5))
    assert g.n_branches == sk.n_paths
    assert g.branches.length_mm.sum() == pytest.approx(df.branch_distance.sum())


def _inside_clusters(g: BranchGraph, sk) -> int:
    """Number of skan branches lying entirely inside our junction clusters."""
    kinds = g.nodes.kind.to_numpy()
    jv = [g.node_voxels[j] for j in np.flatnonzero(kinds == "junction")]
    jset = set(map(tuple, np.concatenate(jv).tolist())) if jv else set()
    return sum(
        all(tuple(p) in jset for p in sk.path_coordinates(i).astype(int).tolist())
        for i in range(sk.n_paths)
    )


def _check_skan_difference(skel):
    g = build_graph(skel)
    sk, _ = _skan(skel, 1.0)
    inside = _inside_clusters(g, sk)
    # skan keeps the junction-to-junction steps inside a cluster as branches; we collapse
    # every cluster to one node: that is the whole difference in branch count
    assert g.n_branches == sk.n_paths - inside
    return inside


def test_skan_differs_only_inside_junction_clusters():
    pytest.importorskip("skan")
    # two T junctions one or two voxels apart: skan adds a 1-step junction-junction branch
    for gap in (7, 8):
        h = draw((3, 21, 21), [(1, 2, 5), (1, 18, 5)], [(1, 2, gap), (1, 18, gap)], [(1, 10, 5), (1, 10, gap)])
        assert _check_skan_difference(h) == 1
        assert build_graph(h).n_branches == 4
    for seed in range(2):
        from vesseltree.synthetic import make_phantom

        _check_skan_difference(skeletonize(make_phantom((48, 64, 64), seed=seed).mask))


@pytest.mark.data
def test_skan_difference_on_ircadb(ircadb):
    pytest.importorskip("skan")
    from vesseltree.io import load_volume

    vol = load_volume(ircadb / "3Dircadb1.1" / "MASKS_DICOM.zip")
    skel = skeletonize(vol.data)
    assert _check_skan_difference(skel) > 0
    g = build_graph(skel, vol.spacing)
    check_invariants(g, skel)


# --------------------------------------------------------------------------- properties
def _random_skeleton(seed: int, density: float, walks: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(3, 10, 3))
    if not walks:
        return rng.random(shape) < density
    out = np.zeros(shape, bool)
    for _ in range(int(rng.integers(1, 4))):
        p = np.array([rng.integers(0, s) for s in shape])
        for _ in range(int(rng.integers(1, 25))):
            out[tuple(p)] = True
            p = np.clip(p + OFFSETS[int(rng.integers(0, 26))], 0, np.array(shape) - 1)
    return out


skeletons = st.builds(
    _random_skeleton,
    st.integers(0, 2**31 - 1),
    st.floats(0.02, 0.5),
    st.booleans(),
)


@pytest.mark.filterwarnings("ignore:skeleton. .* junction cluster:UserWarning")  # random blobs
@given(skel=skeletons)
def test_property_ownership_and_reference_counts(skel):
    before = skel.copy()
    g = build_graph(skel, (1.0, 1.5, 0.5))
    np.testing.assert_array_equal(skel, before)  # input unchanged
    check_invariants(g, skel)
    assert reference_counts(skel) == {
        "branches": g.n_branches,
        **kind_counts(g),
        "components": g.n_components,
    }


@pytest.mark.filterwarnings("ignore:skeleton. .* junction cluster:UserWarning")  # random blobs
@given(skel=skeletons, perm=st.permutations([0, 1, 2]), flips=st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_property_axis_permutation_and_flip(skel, perm, flips):
    spacing = np.array([1.0, 1.7, 0.6])
    g = build_graph(skel, spacing)
    t = np.transpose(skel, perm)
    for ax, f in enumerate(flips):
        if f:
            t = np.flip(t, ax)
    h = build_graph(t, spacing[list(perm)])
    assert h.n_branches == g.n_branches
    assert kind_counts(h) == kind_counts(g)
    assert h.n_components == g.n_components
    assert sorted(h.branches.kind) == sorted(g.branches.kind)
    np.testing.assert_allclose(sorted(h.branches.length_mm), sorted(g.branches.length_mm), rtol=1e-9)
    assert sorted(h.nodes.degree) == sorted(g.nodes.degree)


@pytest.mark.filterwarnings("ignore:skeleton. .* junction cluster:UserWarning")  # random blobs
@given(skel=skeletons, limit=st.floats(0.5, 6.0))
def test_property_prune_keeps_ownership_and_never_disconnects(skel, limit):
    g = build_graph(skel)
    p = g.prune(min_length_mm=limit)
    kept = p.skeleton
    assert not np.any(kept & ~skel)  # pruning only removes voxels
    vox = owned(p)
    assert len(vox) == len(set(vox)) == int(kept.sum())
    assert p.n_components == g.n_components
    assert int(p.nodes.degree.sum()) == 2 * p.n_branches
    # no junction of degree 2 is left; every remaining terminal spur at a junction of degree
    # >= 3 is at least `limit` long
    assert not ((p.nodes.kind == "junction") & (p.nodes.degree == 2)).any()
    deg = p.nodes.degree
    kinds = p.nodes.kind
    for _, row in p.branches.iterrows():
        for a, b in ((row.src, row.dst), (row.dst, row.src)):
            if kinds[a] == "endpoint" and kinds[b] == "junction" and deg[b] >= 3:
                assert row.length_mm >= limit
    check_orientation(p)
    # stable: pruning again changes nothing
    q = p.prune(min_length_mm=limit)
    pd.testing.assert_frame_equal(q.branches, p.branches)


# --------------------------------------------------------------------------- pruning
def _t_with_spur():
    skel = np.zeros((5, 20, 20), bool)
    skel[2, 10, 2:18] = True
    skel[2, 7:10, 10] = True  # spur: 2 path voxels + the junction cluster
    return skel


def test_prune_min_length_removes_spur_and_merges():
    skel = _t_with_spur()
    g = build_graph(skel)
    assert g.n_branches == 3
    p = g.prune(min_length_mm=4.0)
    assert p.n_branches == 1 and kind_counts(p) == {"junction": 0, "endpoint": 2, "isolated": 0, "cycle": 0}
    row = p.branches.iloc[0]
    assert row.kind == "isolated" and row.n_voxels == skel.sum() - 2
    spur = np.zeros_like(skel)
    spur[2, 7:9, 10] = True
    np.testing.assert_array_equal(p.skeleton, skel & ~spur)
    # the merged path is ordered along the trunk and the length is the trunk's, through the
    # junction centroid (y, x) = (9.75, 10): 6 + 2 * hypot(2, 0.25) + 5
    path = p.paths[1]
    assert np.all(np.diff(path[:, 2]) >= 0)
    assert row.length_mm == pytest.approx(11 + 2 * np.hypot(2, 0.25))
    assert g.n_branches == 3  # original unchanged


def test_prune_length_factor_with_junction_radius():
    g = build_graph(_t_with_spur())
    j = int(g.nodes.index[g.nodes.kind == "junction"][0])
    spur_len = g.branches.length_mm.min()  # (7,10)-(8,10) then 1.75 to the centroid
    assert spur_len == pytest.approx(2.75)
    radius = np.zeros(g.n_nodes)
    radius[j] = 1.5
    assert g.prune(length_factor=2.0, junction_radius=radius).n_branches == 1  # 2.75 < 3
    assert g.prune(length_factor=1.0, junction_radius={j: 1.5}).n_branches == 3  # 2.75 >= 1.5
    assert g.prune(length_factor=1.0, junction_radius={j: 1.5}, min_length_mm=3).n_branches == 1


def test_prune_repeats_until_stable():
    # trunk A, side branch to junction B carrying two short spurs
    shape = (3, 30, 40)
    skel = draw(shape, [(1, 20, 2), (1, 20, 38)], [(1, 20, 20), (1, 13, 20)], [(1, 13, 20), (1, 11, 18)], [(1, 13, 20), (1, 11, 22)])
    g = build_graph(skel)
    assert kind_counts(g)["junction"] == 2 and g.n_branches == 5
    # round 1 removes one spur at B (B keeps degree 2) and merges B; the merged side branch
    # (~9 mm) is now a spur at A and goes in round 2
    p = g.prune(min_length_mm=10.0)
    assert p.n_branches == 1
    assert kind_counts(p) == {"junction": 0, "endpoint": 2, "isolated": 0, "cycle": 0}
    # what is left: the trunk plus the voxels of A's junction cluster, now branch voxels
    a = g.nodes.index[(g.nodes.kind == "junction") & (g.nodes.y > 18)][0]
    expected = draw(shape, [(1, 20, 2), (1, 20, 38)])
    expected[tuple(g.node_voxels[a].T)] = True
    np.testing.assert_array_equal(p.skeleton, expected)
    # a lower threshold keeps the side branch: only one spur of B goes
    q = g.prune(min_length_mm=3.0)
    assert q.n_branches == 3 and kind_counts(q)["junction"] == 1


def test_prune_self_loop_on_degree2_junction_becomes_cycle():
    shape = (5, 24, 30)
    skel = diamond(shape, (2, 10, 15), 5) | draw(shape, [(2, 10, 10), (2, 10, 7)])
    g = build_graph(skel)
    assert g.n_branches == 2 and set(g.branches.kind) == {"loop", "terminal"}
    p = g.prune(min_length_mm=5.0)
    assert p.n_branches == 1 and p.branches.kind.iloc[0] == "cycle"
    assert kind_counts(p) == {"junction": 0, "endpoint": 0, "isolated": 0, "cycle": 1}
    assert p.branches.n_voxels.iloc[0] == 20
    check_orientation(p)  # the merged cycle is oriented as build_graph orients one


def test_prune_bad_arguments():
    g = build_graph(_t_with_spur())
    with pytest.raises(ValueError, match="length_factor"):
        g.prune()
    with pytest.raises(ValueError, match="junction_radius"):
        g.prune(length_factor=2.0)
    with pytest.raises(ValueError, match="junction_radius"):
        g.prune(length_factor=2.0, junction_radius=[1.0, 2.0])
    with pytest.raises(ValueError, match="junction_radius"):
        g.prune(length_factor=2.0, junction_radius={})
    with pytest.raises(ValueError, match="junction_radius"):
        g.prune(length_factor=2.0, junction_radius=np.full(g.n_nodes, -1.0))
    with pytest.raises(ValueError, match="length_factor"):
        g.prune(length_factor=-1.0, junction_radius=np.ones(g.n_nodes))
    with pytest.raises(ValueError, match="min_length_mm"):
        g.prune(min_length_mm=-1.0)
    with pytest.raises(TypeError, match="min_length_mm"):
        g.prune(min_length_mm="3")


# --------------------------------------------------------------------------- API surface
def test_networkx_export_and_extra_columns():
    skel = _t_with_spur()
    g = build_graph(skel, (2.0, 1.0, 1.0))
    radius = np.array([1.0, 2.0, 3.0])
    h = g.with_branch_columns(radius_mm=radius, name=pd.Series({1: "a", 2: "b", 3: "c"}))
    assert "radius_mm" not in g.branches  # original unchanged
    gx = h.to_networkx()
    assert isinstance(gx, nx.MultiGraph)
    assert sorted(k for _, _, k in gx.edges(keys=True)) == [1, 2, 3]
    for u, v, k, data in gx.edges(keys=True, data=True):
        assert data["branch_id"] == k and data["radius_mm"] == radius[k - 1]
        assert data["name"] == "abc"[k - 1]
        assert {u, v} == {h.branches.at[k, "src"], h.branches.at[k, "dst"]}
        np.testing.assert_array_equal(data["path"], h.paths[k])
        for col in h.branches.columns:
            assert col in data
    for n, data in gx.nodes(data=True):
        assert data["kind"] == h.nodes.at[n, "kind"]
        assert gx.degree(n) == h.nodes.at[n, "degree"]
        np.testing.assert_allclose(data["coords_mm"], np.array(data["coords"]) * (2.0, 1.0, 1.0))
    assert dict(gx.nodes(data="n_voxels")) == h.nodes.n_voxels.to_dict()
    with pytest.raises(ValueError, match="radius_mm"):
        g.with_branch_columns(radius_mm=[1.0, 2.0])
    with pytest.raises(ValueError, match="length_mm"):
        g.with_branch_columns(length_mm=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="path"):
        g.with_branch_columns(path=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="radius_mm"):
        g.with_branch_columns(radius_mm={1: 1.0})


def test_from_skeleton_equivalent_and_repr():
    skel = _t_with_spur()
    a = build_graph(skel, 0.5)
    b = BranchGraph.from_skeleton(skel, spacing=(0.5, 0.5, 0.5))
    pd.testing.assert_frame_equal(a.branches, b.branches)
    assert a.spacing == (0.5, 0.5, 0.5)
    r = repr(a)
    assert "n_branches=3" in r and "junction=1" in r
    labels = a.branch_labels()
    assert labels.dtype == np.int32 and set(np.unique(labels)) == {0, 1, 2, 3}
    nl = a.node_labels()
    assert nl.dtype == np.int32
    j = int(a.nodes.index[a.nodes.kind == "junction"][0])
    assert (nl == j + 1).sum() == a.nodes.at[j, "n_voxels"] == 4


def test_empty_skeleton_gives_empty_graph():
    g = build_graph(np.zeros((4, 5, 6), bool), (1.0, 2.0, 3.0))
    assert g.n_branches == 0 and g.n_nodes == 0 and g.n_components == 0
    assert list(g.branches.columns)[:8] == [
        "src", "dst", "kind", "n_voxels", "length_mm", "euclidean_mm", "tortuosity", "component"
    ]
    assert g.branch_labels().shape == (4, 5, 6) and not g.skeleton.any()
    assert g.to_networkx().number_of_nodes() == 0
    assert g.prune(min_length_mm=1.0).n_branches == 0


@pytest.mark.parametrize(
    "skeleton, spacing, exc, match",
    [
        (np.zeros((4, 4)), 1.0, ValueError, "skeleton"),
        (np.zeros((2, 4, 4, 4)), 1.0, ValueError, "skeleton"),
        (np.full((4, 4, 4), 2), 1.0, ValueError, "skeleton"),
        (np.full((4, 4, 4), np.nan), 1.0, ValueError, "skeleton"),
        (np.array([["a"]]), 1.0, TypeError, "skeleton"),
        (np.zeros((4, 4, 4)), (1.0, 1.0), ValueError, "spacing"),
        (np.zeros((4, 4, 4)), (1.0, 0.0, 1.0), ValueError, "spacing"),
        (np.zeros((4, 4, 4)), (1.0, np.nan, 1.0), ValueError, "spacing"),
        (np.zeros((4, 4, 4)), "abc", TypeError, "spacing"),
    ],
)
def test_bad_input(skeleton, spacing, exc, match):
    with pytest.raises(exc, match=match):
        build_graph(skeleton, spacing)


def test_thick_skeleton_warns():
    """Issue 9 (non-tubular input): a 2-voxel-thick line has no branch in the graph; the
    graph says its skeleton is not a set of curves instead of returning 0 branches silently."""
    sk = np.zeros((40, 10, 10), bool)
    sk[5:35, 4:6, 4] = True
    with pytest.warns(UserWarning, match="not a set of curves"):
        g = build_graph(sk)
    assert g.n_branches == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build_graph(skeletonize(sk)).n_branches == 1

"""analyze's branch-geometry columns, its per-structure entry (issue 14 items 1, 3, 4) and
its spur pruning.

References: analytic elliptic tubes (minor semi-axis a, area-equivalent sqrt(a b)) and helices
(curvature a / (a^2 + b^2), torsion b / (a^2 + b^2)), the tube helpers of test_inscribed and
test_curvature; vesseltree.structures.analyze_structures for the per-structure entry;
BranchGraph.prune on the thinned skeleton for the pruning.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.vesseltree.test_curvature import helix_points
from tests.vesseltree.test_inscribed import ANISO, _oblique_case
from vesseltree.morphometry import summarize
from vesseltree.structures import StructureTrees, analyze_structures
from vesseltree.synthetic import make_phantom, rasterize_segments
from vesseltree.tree import analyze


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fewer branches than scales
        return fn(*args, **kw)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), ANISO])
def test_inscribed_column_reads_the_minor_semi_axis(spacing):
    """radius_inscribed_mm of the tube's branch reads a within 0.2 voxel; the corrected
    (area-equivalent) column reads sqrt(a b), larger."""
    rng = np.random.default_rng(11)
    _, (mask, a, b, _, _) = _oblique_case(rng, spacing, 4.0, (1, 1, 1.7))
    assert b / a > 1.25
    tree = _quiet(analyze, mask, spacing)
    br = tree.branches
    bid = br["length_mm"].idxmax()
    h = min(spacing)
    assert abs(br.at[bid, "radius_inscribed_mm"] - a) <= 0.2 * h
    assert br.at[bid, "radius_inscribed_mm"] < br.at[bid, "radius_corrected_mm"]
    assert abs(br.at[bid, "radius_corrected_mm"] - np.sqrt(a * b)) <= 0.3 * h
    assert tree.graph.edges[next(iter(tree.graph.edges))].get("radius_inscribed_mm") is not None


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), ANISO])
def test_curvature_columns_on_a_thinned_helix(spacing):
    """analyze(curvature=True): the helix branch within 5% of the analytic curvature and
    torsion (interior means, as vmtkbranchgeometry)."""
    a, b, radius = 12.0, 5.0, 2.5
    rng = np.random.default_rng(3)
    p = helix_points(a, b, 2, n=241)[:, ::-1]  # (z, y, x): world (x, y, z) is the helix frame
    p = p - p.min(axis=0) + radius + 3 + rng.uniform(0, 1, 3)
    sp = np.asarray(spacing)
    shape = tuple(int(np.ceil((p[:, i].max() + radius + 3) / sp[i])) for i in range(3))
    mask, _, _ = rasterize_segments(shape, p[:-1], p[1:], radius, radius, spacing,
                                    supersample=2)
    tree = _quiet(analyze, mask, spacing, curvature=True)
    br = tree.branches
    bid = br["length_mm"].idxmax()
    assert br.at[bid, "length_mm"] > 100
    assert br.at[bid, "curvature_per_mm"] == pytest.approx(a / (a * a + b * b), rel=0.05)
    assert br.at[bid, "torsion_per_mm"] == pytest.approx(b / (a * a + b * b), rel=0.05)
    s = summarize(tree)
    assert s["curvature_per_mm"]["n"] == int(np.isfinite(br["curvature_per_mm"]).sum())
    assert s["torsion_per_mm"]["median"] == pytest.approx(
        float(np.nanmedian(br["torsion_per_mm"])))


def test_geometry_columns_are_optional_and_checked():
    ph = make_phantom((32, 40, 40), 1.0, seed=0, depth=2)
    plain = _quiet(analyze, ph.mask, ph.spacing)
    assert "radius_inscribed_mm" in plain.branches
    assert not {"curvature_per_mm", "torsion_per_mm"} & set(plain.branches.columns)
    assert summarize(plain)["radius_inscribed_mm"]["n"] == len(plain.branches)
    assert "curvature_per_mm" not in summarize(plain)
    bare = _quiet(analyze, ph.mask, ph.spacing, inscribed=False)
    assert "radius_inscribed_mm" not in bare.branches
    assert "radius_inscribed_mm" not in summarize(bare)
    # the other columns do not depend on the optional ones
    common = [c for c in bare.branches.columns]
    assert plain.branches[common].equals(bare.branches)
    empty = _quiet(analyze, np.zeros((8, 8, 8), bool), 1.0, curvature=True)
    assert {"radius_inscribed_mm", "curvature_per_mm", "torsion_per_mm"} <= set(
        empty.branches.columns)
    assert plain.options["inscribed"] is True and plain.options["curvature"] is False
    with pytest.raises(TypeError, match="curvature: expected a bool"):
        analyze(ph.mask, ph.spacing, curvature="yes")
    with pytest.raises(TypeError, match="inscribed: expected a bool"):
        analyze(ph.mask, ph.spacing, inscribed=1)


@pytest.fixture(scope="module")
def two():
    a = make_phantom((32, 40, 40), 1.0, seed=1, depth=2).mask
    b = make_phantom((32, 40, 40), 1.0, seed=2, depth=2).mask
    ma = np.zeros((32, 40, 84), bool)
    mb = np.zeros_like(ma)
    ma[:, :, :40] = a
    mb[:, :, 44:] = b
    return ma, mb


def test_analyze_takes_structures(two):
    """A mapping of masks or a label map: one tree per structure, as analyze_structures."""
    ma, mb = two
    ref = _quiet(analyze_structures, {"pv": ma, "vs": mb}, 1.0, scale_basis="structure")
    res = _quiet(analyze, {"pv": ma, "vs": mb}, 1.0, scale_basis="structure")
    assert isinstance(res, StructureTrees) and res.names == ["pv", "vs"]
    assert res.branches.equals(ref.branches)
    assert set(res.branches["structure"]) == {"pv", "vs"}
    labels = ma.astype(np.uint8) + 2 * mb.astype(np.uint8)
    lab = _quiet(analyze, labels, 1.0, structures={1: "pv", 2: "vs"}, curvature=True)
    assert lab.names == ["pv", "vs"] and lab.scale_basis == "union"
    union = _quiet(analyze_structures, {"pv": ma, "vs": mb}, 1.0)
    np.testing.assert_array_equal(lab.thresholds, union.thresholds)
    assert "curvature_per_mm" in lab.branches  # analyze's options reach every structure
    assert lab.branches.drop(columns=["curvature_per_mm", "torsion_per_mm"]).equals(
        union.branches)
    auto = _quiet(analyze, labels, 1.0, structures=True)
    assert auto.names == ["label_1", "label_2"]


def test_structure_options_refused_where_they_mean_nothing(two):
    ma, mb = two
    with pytest.raises(ValueError, match="scale_basis: only for several structures"):
        analyze(ma, 1.0, scale_basis="union")
    with pytest.raises(ValueError, match="overlap: only for a mapping"):
        analyze(ma.astype(np.uint8), 1.0, structures={1: "a"}, overlap="error")
    with pytest.raises(ValueError, match="structures: only for a label map"):
        analyze({"a": ma}, 1.0, structures={1: "a"})
    with pytest.raises(TypeError, match="structures: expected a mapping label -> name"):
        analyze(ma.astype(np.uint8), 1.0, structures="a")
    with pytest.raises(ValueError, match="root/skeleton"):
        analyze({"a": ma}, 1.0, root=0)
    with pytest.raises(ValueError, match="structures: masks overlap"):
        analyze({"a": ma, "b": ma | mb}, 1.0, overlap="error")


def _tube_with_bumps(spacing):
    """A straight tube (radius 3 mm along x) with two balls on its side: the thinning gives
    each bump a short spur."""
    from vesseltree.synthetic import tube

    shape = (24, 28, 64)
    mask = tube(shape, (10.0, 10.0, 4.0), (10.0, 10.0, 43.0), 3.0, spacing)
    pts = np.stack(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)],
                               indexing="ij"), -1)
    for cx in (15.0, 30.0):
        mask |= np.linalg.norm(pts - (10.0, 14.0, cx), axis=-1) <= 2.0
    return mask


def test_analyze_prunes_spurs_by_the_junction_radius_rule():
    """analyze's spur pruning is BranchGraph.prune of the thinned skeleton with, at each
    junction, the largest Eq. 1 radius over its voxels plus the largest voxel size
    (length_factor), or an absolute length alone, and nothing with both rules off."""
    import vesseltree as vt
    from vesseltree.radius import local_radius

    sp = (0.9, 0.8, 0.8)
    mask = _tube_with_bumps(sp)
    skel = vt.skeletonize(mask)
    graph = vt.build_graph(skel, sp)
    coords, r_eq1 = local_radius(mask, skel, sp, method="paper", output="points")
    at = {tuple(c): r for c, r in zip(coords.tolist(), r_eq1)}
    jr = {nid: max(at[tuple(v)] for v in vox.tolist()) + max(sp)
          for nid, vox in enumerate(graph.node_voxels) if len(vox)}
    cols = list(graph.branches.columns)
    cases = [({}, graph.prune(length_factor=1.0, junction_radius=jr)),
             ({"prune_length_factor": 0.0, "prune_min_length_mm": 2.0},
              graph.prune(min_length_mm=2.0)),
             ({"prune_length_factor": 0.0}, graph)]
    for options, expected in cases:
        tree = _quiet(analyze, mask, sp, inscribed=False, **options)
        pd = pytest.importorskip("pandas")
        pd.testing.assert_frame_equal(tree.branch_graph.branches[cols], expected.branches,
                                      check_dtype=False)
    # the spurs were there, and the absolute rule removed one of two
    assert len(cases[0][1].branches) < len(cases[1][1].branches) < len(graph.branches)

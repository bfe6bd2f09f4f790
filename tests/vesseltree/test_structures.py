"""One tree per anatomical structure (vesseltree.structures).

References: vesseltree.analyze on each structure's own mask and on the merged mask,
np.quantile of the pooled branch radii, scipy's 26-neighbourhood dilation for contacts, and
3D-IRCADb patient 1.1 (portal vein and venous system, merged into one graph today).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from vesseltree.scales import ScaleRule
from vesseltree.structures import analyze_structures
from vesseltree.synthetic import make_phantom, tube
from vesseltree.tree import analyze

SP = (1.0, 0.8, 0.8)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kw)


@pytest.fixture(scope="module")
def touching():
    """Two phantom trees side by side, plus a bridge tube that makes the union one
    component: merged, orders run from one tree into the other."""
    a = make_phantom((40, 64, 56), SP, seed=1, depth=3).mask
    b = make_phantom((40, 64, 56), SP, seed=2, depth=3).mask
    shape = (40, 64, 120)
    ma = np.zeros(shape, bool)
    mb = np.zeros(shape, bool)
    ma[:, :, :56] = a
    mb[:, :, 64:] = b
    # join the two roots' ends with a tube owned by a (it touches b at b's wall)
    za, ya, xa = np.argwhere(a).mean(axis=0)
    zb, yb, xb = np.argwhere(b).mean(axis=0)
    bridge = tube(shape, (za * SP[0], ya * SP[1], xa * SP[2]),
                  (zb * SP[0], yb * SP[1], (xb + 64) * SP[2]), 2.0, SP, supersample=2)
    ma |= bridge & ~mb
    return {"a": ma, "b": mb}


def test_two_trees_instead_of_one(touching):
    ma, mb = touching["a"], touching["b"]
    copies = {k: v.copy() for k, v in touching.items()}
    res = analyze_structures(touching, SP)
    merged = _quiet(analyze, ma | mb, SP)
    assert ndi.label(ma | mb, np.ones((3, 3, 3)))[1] == 1  # they touch: one component merged
    assert set(res.trees) == {"a", "b"}
    for name, mask in touching.items():
        tree = res.trees[name]
        # each tree covers exactly its own mask, nothing crosses the contact
        np.testing.assert_array_equal(tree.labels > 0, mask)
        assert tree.branches["generation"].max() < merged.branches["generation"].max()
    union = sum((t.labels > 0).astype(int) for t in res.trees.values())
    assert union.max() == 1
    np.testing.assert_array_equal(union > 0, merged.labels > 0)
    # contacts counted both ways, as scipy's dilation sees them
    grown_b = ndi.binary_dilation(mb, np.ones((3, 3, 3)))
    assert res.contact_voxels[("a", "b")] == np.count_nonzero(ma & grown_b) > 0
    assert res.overlap_voxels == {}
    # combined table and structure map
    br = res.branches
    assert len(br) == sum(len(t.branches) for t in res.trees.values())
    assert br["structure"].tolist() == (["a"] * len(res.trees["a"].branches)
                                        + ["b"] * len(res.trees["b"].branches))
    smap = res.structure_map()
    np.testing.assert_array_equal(smap == 1, ma)
    np.testing.assert_array_equal(smap == 2, mb)
    for k, v in copies.items():
        np.testing.assert_array_equal(touching[k], v)
    # the trees go to the centerline writer as they are, one structure each
    from vesseltree.export import centerline_arrays

    arr = centerline_arrays(res.trees)
    assert arr["structures"] == ["a", "b"]
    assert len(arr["points"]) == sum(len(t.skeleton_coords) for t in res.trees.values())
    np.testing.assert_array_equal(arr["cell_data"]["scale"], br["scale"])


def test_union_scales_pool_the_branches(touching):
    res = analyze_structures(touching, SP)
    radii = np.concatenate([t.branches["radius_mm"].to_numpy() for t in res.trees.values()])
    kinds = np.concatenate([t.branches["kind"].to_numpy() for t in res.trees.values()])
    expected = np.quantile(radii[kinds != "point"], [0.25, 0.75])
    np.testing.assert_allclose(res.thresholds, expected, rtol=1e-12)
    for t in res.trees.values():
        np.testing.assert_allclose(t.thresholds, expected, rtol=1e-12)
        scale = 1 + (t.branches["radius_mm"].to_numpy()[:, None] > expected).sum(axis=1)
        np.testing.assert_array_equal(t.branches["scale"], scale)
    masks = res.scale_masks()
    assert masks.shape[0] == 3
    np.testing.assert_array_equal(masks.sum(axis=0), (touching["a"] | touching["b"]).astype(int))
    # per structure: each tree keeps its own quantiles
    own = analyze_structures(touching, SP, scale_basis="structure")
    assert own.thresholds is None
    for name, t in own.trees.items():
        alone = _quiet(analyze, touching[name], SP)
        np.testing.assert_allclose(t.thresholds, alone.thresholds, rtol=1e-12)
        np.testing.assert_array_equal(t.branches["scale"], alone.branches["scale"])
    # a fixed rule gives the same thresholds either way
    fixed = ScaleRule.fixed([1.0, 2.0])
    u = analyze_structures(touching, SP, scale_rule=fixed)
    s = analyze_structures(touching, SP, scale_rule=fixed, scale_basis="structure")
    np.testing.assert_array_equal(u.scale_labels(), s.scale_labels())


def test_label_map_equals_masks(touching):
    lab = np.zeros(touching["a"].shape, np.int16)
    lab[touching["a"]] = 3
    lab[touching["b"]] = 7
    res = analyze_structures(lab, SP, names={3: "a", 7: "b"})
    ref = analyze_structures(touching, SP)
    for name in ("a", "b"):
        np.testing.assert_array_equal(res.trees[name].labels, ref.trees[name].labels)
    default = analyze_structures(lab, SP)
    assert default.names == ["label_3", "label_7"]


def test_overlap_rule():
    a = tube((20, 20, 30), (10, 10, 2), (10, 10, 27), 3.0)
    b = tube((20, 20, 30), (2, 10, 15), (17, 10, 15), 3.0)
    n = int(np.count_nonzero(a & b))
    assert n > 0
    with pytest.raises(ValueError, match="overlap"):
        analyze_structures({"a": a, "b": b}, overlap="error")
    res = _quiet(analyze_structures, {"a": a, "b": b})
    assert res.overlap_voxels == {("a", "b"): n}
    np.testing.assert_array_equal(res.trees["a"].labels > 0, a)
    np.testing.assert_array_equal(res.trees["b"].labels > 0, b & ~a)


def test_bad_input(touching):
    with pytest.raises(ValueError, match="structures"):
        analyze_structures({})
    with pytest.raises(ValueError, match="structures"):
        analyze_structures({"a": np.zeros((4, 4, 4)), "b": np.zeros((4, 4, 5))})
    with pytest.raises(TypeError, match="structures"):
        analyze_structures(np.zeros((4, 4, 4), float))
    with pytest.raises(ValueError, match="names"):
        analyze_structures(np.ones((4, 4, 4), int), names={2: "x"})
    with pytest.raises(ValueError, match="names"):
        analyze_structures(touching, names={1: "a"})
    with pytest.raises(ValueError, match="scale_basis"):
        analyze_structures(touching, scale_basis="merged")
    with pytest.raises(ValueError, match="overlap"):
        analyze_structures(touching, overlap="last")
    with pytest.raises(ValueError, match="root"):
        analyze_structures(touching, root=0)
    with pytest.raises(ValueError, match="radius_method"):
        analyze_structures(touching, radius_method="inscribed")


@pytest.mark.data
@pytest.mark.slow
def test_ircadb_patient_1_1_portal_and_venous_trees(ircadb):
    """Issue 14: two trees, each with fewer generations than the merged graph; the union of
    their labels is the merged labels' support."""
    from vesseltree.io import load_volume

    path = ircadb / "3Dircadb1.1" / "MASKS_DICOM.zip"
    pv = load_volume(path, structures="portalvein")
    vs = load_volume(path, structures="venoussystem")
    res = _quiet(analyze_structures, {"portalvein": pv.data, "venoussystem": vs.data}, pv.spacing)
    merged = _quiet(analyze, pv.data | vs.data, pv.spacing)
    gen = merged.branches["generation"].max()
    for tree in res.trees.values():
        assert tree.branches["generation"].max() < gen
    union = np.zeros(merged.shape, bool)
    for tree in res.trees.values():
        assert not (union & (tree.labels > 0)).any()
        union |= tree.labels > 0
    np.testing.assert_array_equal(union, merged.labels > 0)
    assert res.contact_voxels  # the two systems touch in this patient


def test_contact_counts_are_per_side():
    """A slab and a line lying on it: 8 line voxels touch the slab, 3 x 10 slab voxels
    touch the line (26-neighbours)."""
    slab = np.zeros((12, 12, 14), bool)
    slab[:5] = True
    line = np.zeros_like(slab)
    line[5, 5, 2:10] = True
    res = _quiet(analyze_structures, {"slab": slab, "line": line},
                 scale_rule=ScaleRule.fixed([1.0]))
    assert res.contact_voxels == {("line", "slab"): 8, ("slab", "line"): 30}

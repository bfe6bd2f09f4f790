"""analyze(): accuracy on phantoms with known radii, scale agreement with the ground truth,
properties (hypothesis), bad input, and one real 3D-IRCADb mask."""
from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import vesseltree
from vesseltree.radius import branch_radius
from vesseltree.synthetic import make_phantom
from vesseltree.tree import VesselTree, analyze


def _true_branch_radius(tree: VesselTree, phantom) -> np.ndarray:
    """Eq. 2 applied to the phantom's true radius field on the same skeleton voxels."""
    c = tree.skeleton_coords
    truth = phantom.radius[c[:, 0], c[:, 1], c[:, 2]]
    return branch_radius(truth, tree.skeleton_branch, len(tree.branches))[tree.branches.index]


def _phantom(spacing, seed, size=150):
    vox = min(spacing)
    shape = tuple(int(round(f * size / s)) for f, s in zip((0.7, 1.0, 1.0), spacing))
    return make_phantom(shape, spacing, seed=seed, root_radius=8 * vox, min_radius=1.5 * vox,
                        depth=5), vox


@pytest.fixture(scope="module", params=[(1.0, 1.0, 1.0), (1.5, 0.8, 0.8), (0.8, 1.0, 0.6)],
                ids=["iso", "aniso-z", "aniso-all"])
def phantom_tree(request):
    ph, vox = _phantom(request.param, seed=0)
    return ph, vox, analyze(ph.mask, ph.spacing)


def test_branch_radius_accuracy_on_phantoms(phantom_tree):
    """Radii 1.5 to 8 voxels: corrected estimator within 0.3 voxel (median absolute error
    over branches); the paper's Eq. 1 is reported and reads low (docs/radius.md)."""
    ph, vox, tree = phantom_tree
    truth = _true_branch_radius(tree, ph)
    assert truth.min() < 2.0 * vox and truth.max() > 7.0 * vox  # the range is covered
    err_c = (tree.branches["radius_corrected_mm"].to_numpy() - truth) / vox
    err_p = (tree.branches["radius_paper_mm"].to_numpy() - truth) / vox
    print(f"median |error| (voxels): corrected {np.median(np.abs(err_c)):.3f}, "
          f"paper {np.median(np.abs(err_p)):.3f} (bias {np.median(err_p):+.3f})")
    assert np.median(np.abs(err_c)) <= 0.3
    assert np.median(np.abs(err_p)) > np.median(np.abs(err_c))
    np.testing.assert_array_equal(tree.branches["radius_mm"], tree.branches["radius_corrected_mm"])


def test_scale_assignment_agrees_with_ground_truth(phantom_tree):
    """Same quantile rule (Q1/Q3 of the true segment radii) on the true radius of every
    voxel vs our scale labels: >= 90% of vessel voxels agree."""
    ph, vox, tree = phantom_tree
    seg_r = 0.5 * (ph.segments["radius_start_mm"] + ph.segments["radius_end_mm"]).to_numpy()
    q1, q3 = np.quantile(seg_r, [0.25, 0.75])
    truth = 1 + (ph.radius > q1).astype(int) + (ph.radius > q3)
    ours = tree.scale_labels(3)
    agree = (ours[ph.mask] == truth[ph.mask]).mean()
    print(f"voxel scale agreement: {agree:.3f}")
    assert agree >= 0.90


def test_tree_outputs_are_consistent(phantom_tree):
    ph, vox, tree = phantom_tree
    br = tree.branches
    labels = tree.labels
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels > 0, ph.mask)
    assert set(np.unique(labels[labels > 0])) == set(br.index)
    masks = tree.scale_masks()
    assert masks.shape == (3,) + ph.mask.shape and masks.dtype == bool
    np.testing.assert_array_equal(masks.sum(0), ph.mask)
    np.testing.assert_array_equal(tree.scale_labels(), (masks * np.arange(1, 4)[:, None, None, None]).sum(0))
    np.testing.assert_allclose(tree.scale_thresholds(), np.quantile(br["radius_mm"], [0.25, 0.75]))
    # local radius volume: on the skeleton only, and Eq. 2 = median of it per branch
    lr = tree.local_radius
    assert lr.dtype == np.float32
    assert (lr[~tree.skeleton] == 0).all() and (lr[tree.skeleton] > 0).all()
    sl = tree.skeleton_labels
    for b in br.index[:5]:
        assert br.at[b, "radius_mm"] == pytest.approx(np.median(lr[sl == b]), rel=1e-6)
    # the networkx graph carries the radius
    g = tree.graph
    assert isinstance(g, nx.MultiGraph) and g.number_of_edges() == len(br)
    for u, v, k, d in g.edges(keys=True, data=True):
        assert d["radius_mm"] == pytest.approx(br.at[k, "radius_mm"])
        assert d["radius_paper_mm"] == pytest.approx(br.at[k, "radius_paper_mm"])
    # other scale options
    assert tree.scale_masks(5).shape[0] == 5
    fixed = tree.scale_masks(vesseltree.ScaleRule.fixed([2.0, 4.0]))
    np.testing.assert_array_equal(fixed.sum(0), ph.mask)
    s = tree.summary()
    assert s["n_branches"] == len(br) and len(s["scale_volume_mm3"]) == 3
    assert sum(s["scale_volume_mm3"]) == pytest.approx(s["vessel_volume_mm3"])
    assert vesseltree.analyze is analyze


# ------------------------------------------------------------------ properties
_SPACINGS = st.tuples(*[st.sampled_from([0.6, 0.8, 1.0, 1.3]) for _ in range(3)])


def _small_phantom(seed, spacing):
    return make_phantom((40, 64, 64), spacing, seed=seed, root_radius=3.0 * max(spacing),
                        min_radius=1.2 * max(spacing), depth=3, curvature=10.0)


@settings(max_examples=8)
@given(seed=st.integers(0, 1000), spacing=_SPACINGS)
def test_labels_cover_mask_scales_partition_input_unchanged(seed, spacing):
    ph = _small_phantom(seed, spacing)
    mask = ph.mask.astype(np.uint8)
    before = mask.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        tree = analyze(mask, spacing)
    np.testing.assert_array_equal(mask, before)
    if len(tree.branches) == 0:
        return
    np.testing.assert_array_equal(tree.labels > 0, ph.mask)
    assert (tree.skeleton <= ph.mask).all()
    if len(tree.branches) >= 3:
        np.testing.assert_array_equal(tree.scale_masks().sum(0), ph.mask)


@settings(max_examples=6)
@given(seed=st.integers(0, 1000), s=st.sampled_from([0.25, 0.7, 1.9, 3.0]))
def test_radius_scales_linearly_with_isotropic_spacing(seed, s):
    ph = _small_phantom(seed, (1.0, 1.0, 1.0))
    t1 = analyze(ph.mask, 1.0)
    ts = analyze(ph.mask, s)
    np.testing.assert_array_equal(t1.labels, ts.labels)
    for col in ("radius_mm", "radius_paper_mm", "length_mm"):
        np.testing.assert_allclose(ts.branches[col], t1.branches[col] * s, rtol=1e-6)
    np.testing.assert_allclose(ts.branches["volume_mm3"], t1.branches["volume_mm3"] * s ** 3, rtol=1e-9)
    np.testing.assert_allclose(ts.local_radius, t1.local_radius * s, rtol=1e-5)


@settings(max_examples=6)
@given(seed=st.integers(0, 1000), perm=st.permutations([0, 1, 2]), spacing=_SPACINGS)
def test_axis_permutation_keeps_radii_and_scale_volumes(seed, perm, spacing):
    """Thinning visits voxels in raster order, so the skeleton is not exactly permutation
    equivariant. Stated tolerance: median branch radius within 0.25 voxel (smallest
    spacing), sorted branch radii within 0.5 voxel when the branch counts agree, and the
    three scale volumes differ by at most 5% of the vessel volume in total."""
    ph = _small_phantom(seed, spacing)
    vox = min(spacing)
    perm = tuple(perm)
    t0 = analyze(ph.mask, spacing)
    t1 = analyze(ph.mask.transpose(perm), tuple(spacing[p] for p in perm))
    r0 = np.sort(t0.branches["radius_mm"].to_numpy())
    r1 = np.sort(t1.branches["radius_mm"].to_numpy())
    assert abs(np.median(r0) - np.median(r1)) <= 0.25 * vox
    if len(r0) == len(r1):
        assert np.abs(r0 - r1).max() <= 0.5 * vox
    if len(r0) >= 3 and len(r1) >= 3:
        v0 = np.bincount(t0.scale_labels().ravel(), minlength=4)[1:]
        v1 = np.bincount(t1.scale_labels().ravel(), minlength=4)[1:]
        assert np.abs(v0 - v1).sum() <= 0.05 * ph.mask.sum()


# ------------------------------------------------------------------ bad input
def test_empty_mask_gives_empty_results_and_a_warning():
    with pytest.warns(UserWarning, match="empty"):
        tree = analyze(np.zeros((6, 7, 8), bool), (1.0, 2.0, 3.0))
    assert len(tree.branches) == 0 and "radius_mm" in tree.branches.columns
    assert not tree.labels.any() and not tree.skeleton.any() and not tree.local_radius.any()
    assert tree.scale_masks().shape == (3, 6, 7, 8) and not tree.scale_masks().any()
    assert tree.summary()["n_branches"] == 0
    assert tree.graph.number_of_nodes() == 0


def test_one_voxel_and_all_ones():
    """A mask whose skeleton is a single voxel is one zero-length 'point' branch that
    labels the whole mask; its corrected radius is the ball of the mask's volume and Eq. 1
    the farthest of its (< m) surface voxels."""
    one = np.zeros((5, 5, 5), bool)
    one[2, 2, 2] = True
    with pytest.warns(UserWarning, match="n_scales"):
        tree = analyze(one, 0.5)
    assert tree.skeleton.sum() == 1 and len(tree.branches) == 1
    b = tree.branches.iloc[0]
    assert b["kind"] == "point" and b["length_mm"] == 0 and b["n_skeleton_voxels"] == 1
    np.testing.assert_array_equal(tree.labels, one.astype(np.int32))
    # ball of volume 1 voxel (0.125 mm^3); the only surface voxel is the voxel itself
    assert b["radius_corrected_mm"] == pytest.approx(np.cbrt(3 * 0.125 / (4 * np.pi)))
    assert b["radius_paper_mm"] == 0.0
    assert b["volume_mm3"] == pytest.approx(0.125)
    assert (b["generation"], b["strahler"], b["in_tree"]) == (1, 1, True)
    g = tree.graph
    assert g.number_of_nodes() == 1 and g.number_of_edges() == 1
    (u, v, k, d), = g.edges(keys=True, data=True)
    assert u == v and k == tree.branches.index[0] and d["kind"] == "point"
    with pytest.raises(ValueError, match="n_scales: 3 scales need at least 3 branches, got 1"):
        tree.scale_masks()
    np.testing.assert_array_equal(tree.scale_masks(vesseltree.ScaleRule.fixed([1.0])).sum(0), one)
    assert tree.summary()["n_point_branches"] == 1
    # an all-ones box: every voxel labelled (thinning may leave a point or a short curve)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        full = analyze(np.ones((9, 9, 30), np.uint8), 1.0)
        cube = analyze(np.ones((6, 6, 6), np.uint8), 1.0)
    assert full.labels.shape == (9, 9, 30) and (full.labels > 0).all()
    assert (full.branches["radius_mm"] > 0).all()
    assert (cube.labels > 0).all() and len(cube.branches) >= 1
    if (cube.branches["kind"] == "point").all():
        assert cube.branches["radius_corrected_mm"].iloc[0] == pytest.approx(
            np.cbrt(3 * 216 / (4 * np.pi)))


def test_separate_blob_gets_its_own_point_branch():
    """Reviewer's case: a tube plus a separate 4^3 cube. The cube's voxels must not join
    the tube's branch (whose volume stays the tube's voxel count); the cube is a point
    branch of its own whose corrected radius is its equivalent ball."""
    tube = np.zeros((20, 20, 40), bool)
    tube[8:13, 8:13, 2:30] = True
    both = tube.copy()
    both[3:7, 14:18, 33:37] = True  # 26-separate from the tube (gap >= 1 voxel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t0 = analyze(tube, (1.0, 0.7, 0.9))
        t = analyze(both, (1.0, 0.7, 0.9))
    vox = 0.7 * 0.9
    np.testing.assert_array_equal(t.labels > 0, both)
    tube_ids = np.unique(t.labels[tube])
    cube_ids = np.unique(t.labels[both & ~tube])
    assert len(cube_ids) == 1 and not set(tube_ids) & set(cube_ids)
    assert t.branches["volume_mm3"][list(tube_ids)].sum() == pytest.approx(tube.sum() * vox)
    np.testing.assert_array_equal(t.labels[tube], t0.labels[tube])
    pb = t.branches.loc[cube_ids[0]]
    assert pb["kind"] == "point" and pb["length_mm"] == 0
    assert pb["volume_mm3"] == pytest.approx(64 * vox)
    assert pb["radius_corrected_mm"] == pytest.approx(np.cbrt(3 * 64 * vox / (4 * np.pi)))
    # the tube's radii do not see the cube
    for col in ("radius_paper_mm", "radius_corrected_mm"):
        np.testing.assert_allclose(t.branches[col][list(tube_ids)], t0.branches[col], rtol=1e-12)
    assert t.graph.number_of_edges() == len(t.branches)


def _components(mask):
    from scipy import ndimage as ndi

    return ndi.label(mask, np.ones((3, 3, 3), int))


@st.composite
def _multi_component_masks(draw):
    """Random boxes, balls and single voxels in a small volume (tiny blobs included)."""
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    shape = (14, 18, 22)
    mask = np.zeros(shape, bool)
    zz, yy, xx = np.indices(shape)
    for _ in range(draw(st.integers(1, 6))):
        kind = rng.integers(3)
        c = rng.integers(0, shape)
        if kind == 0:  # single voxel
            mask[tuple(c)] = True
        elif kind == 1:  # box, possibly a long bar
            ext = rng.integers(1, [6, 8, 14])
            mask[c[0]:c[0] + ext[0], c[1]:c[1] + ext[1], c[2]:c[2] + ext[2]] = True
        else:  # ball
            r = rng.uniform(0.8, 3.5)
            mask |= (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= r * r
    spacing = draw(st.tuples(*[st.sampled_from([0.6, 1.0, 1.4]) for _ in range(3)]))
    return mask, spacing


@settings(max_examples=12)
@given(case=_multi_component_masks())
def test_labels_cover_mask_and_never_cross_components(case):
    mask, spacing = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        tree = analyze(mask, spacing)
    comp, k = _components(mask)
    labels = tree.labels
    br = tree.branches
    np.testing.assert_array_equal(labels > 0, mask)  # cover the mask exactly
    assert set(np.unique(labels[mask])) == set(br.index)  # every branch labels something
    # each label (and each labelled skeleton voxel) lies in one 26-component
    for lab_vol in (labels, tree.skeleton_labels):
        pairs = np.unique(np.stack([lab_vol[mask], comp[mask]]), axis=1)
        pairs = pairs[:, pairs[0] > 0]
        assert len(np.unique(pairs[0])) == pairs.shape[1]
    vox = float(np.prod(spacing))
    for c in range(1, k + 1):
        in_c = comp == c
        ids = np.unique(labels[in_c])
        kinds = set(br.loc[ids, "kind"])
        if "point" in kinds:  # a branchless component: exactly its own point branch
            assert len(ids) == 1
            assert br.at[ids[0], "volume_mm3"] == pytest.approx(in_c.sum() * vox)
            assert br.at[ids[0], "length_mm"] == 0
        skel_c = tree.skeleton & in_c
        if skel_c.sum() == 1:  # thinned to one voxel: a point branch
            assert kinds == {"point"}
    np.testing.assert_allclose(br["volume_mm3"].sum(), mask.sum() * vox)
    assert (br["radius_corrected_mm"] > 0).all() and (br["radius_paper_mm"] >= 0).all()
    g = tree.graph
    assert g.number_of_edges() == len(br)
    for u, v, key, d in g.edges(keys=True, data=True):
        if d["kind"] == "point":
            assert u == v and br.at[key, "n_voxels"] >= 1
    # quantile thresholds come from the non-point branches (all branches if every one is a point)
    n_basis = int((br["kind"] != "point").sum()) or len(br)
    if n_basis >= 3:
        np.testing.assert_array_equal(tree.scale_masks().sum(0), mask)


def test_fewer_branches_than_scales():
    bar = np.zeros((7, 7, 30), bool)
    bar[2:5, 2:5, 2:28] = True
    with pytest.warns(UserWarning, match="n_scales"):
        tree = analyze(bar)
    assert len(tree.branches) == 1 and tree.thresholds is None
    assert (tree.branches["scale"] == 0).all()
    with pytest.raises(ValueError, match="n_scales: 3 scales need at least 3 branches, got 1"):
        tree.scale_masks()
    with pytest.raises(ValueError, match="n_scales: 4 scales"):
        tree.scale_volumes(4)
    # fixed thresholds still work, and partition the mask
    np.testing.assert_array_equal(tree.scale_masks(vesseltree.ScaleRule.fixed([0.5, 5.0])).sum(0), bar)


def test_bad_input_raises_naming_the_parameter():
    m = np.zeros((5, 5, 5), np.uint8)
    m[1:4, 1:4, 1:4] = 1
    with pytest.raises(ValueError, match="mask"):
        analyze(m * 2)
    nan = m.astype(float)
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="mask"):
        analyze(nan)
    with pytest.raises(ValueError, match="mask"):
        analyze(m[0])
    with pytest.raises(TypeError, match="mask"):
        analyze(np.array([["a"]], dtype=object))
    for bad in [(1.0, 0.0, 1.0), (1.0, -1.0, 1.0), (1.0, np.nan, 1.0), (1.0, 1.0), np.inf]:
        with pytest.raises(ValueError, match="spacing"):
            analyze(m, bad)
    with pytest.raises(ValueError, match="radius_method"):
        analyze(m, radius_method="edt")
    with pytest.raises(ValueError, match="scale_rule"):
        analyze(m, scale_rule=1)
    with pytest.raises(TypeError, match="scale_rule"):
        analyze(m, scale_rule=[1.0, 2.0])
    with pytest.raises(ValueError, match="m"):
        analyze(m, m=0)
    with pytest.raises(ValueError, match="skeleton"):
        analyze(m, skeleton=np.ones_like(m))
    two = np.zeros((5, 5, 8), np.uint8)
    two[1:4, 1:4, 1:4] = 1
    two[2, 2, 6] = 1  # a second component, left without skeleton voxel
    sk = np.zeros_like(two)
    sk[2, 2, 2] = 1
    with pytest.raises(ValueError, match="skeleton: expected at least one skeleton voxel"):
        analyze(two, skeleton=sk)
    with pytest.raises(TypeError, match="preserve_length"):
        analyze(m, preserve_length="no")


def test_preserve_length_is_passed_to_skeletonize():
    """analyze(preserve_length=...) uses exactly vesseltree.skeletonize(mask, preserve_length)
    (False: scikit-image's thinning plus the topology repairs)."""
    ph = _small_phantom(3, (1.0, 1.0, 1.0))
    for pl in (True, False):
        tree = analyze(ph.mask, prune_length_factor=0, preserve_length=pl)
        assert tree.options["preserve_length"] is pl
        np.testing.assert_array_equal(tree.skeleton,
                                      vesseltree.skeletonize(ph.mask, preserve_length=pl))
        np.testing.assert_array_equal(tree.labels > 0, ph.mask)


# ------------------------------------------------------------------ real data
@pytest.mark.data
def test_ircadb_patient_1_1(ircadb):
    from vesseltree.io import load_volume

    vol = load_volume(ircadb / "3Dircadb1.1" / "MASKS_DICOM.zip")
    tree = analyze(vol.data, vol.spacing)
    br = tree.branches
    assert len(br) > 50
    np.testing.assert_array_equal(tree.labels > 0, vol.data)
    np.testing.assert_array_equal(tree.scale_masks().sum(0), vol.data)
    r = br["radius_mm"].to_numpy()
    # hepatic vessels: sub-millimetre to ~1 cm radii
    assert np.all(r > 0) and 0.5 < np.median(r) < 5.0 and r.max() < 15.0
    assert br["generation"].min() == 1 and br["strahler"].max() >= 3


def test_point_branches_do_not_set_the_quantiles():
    # a Y of three tubes plus a few one-voxel fragments: Q1/Q3 come from the three tubes,
    # the fragments still get a scale (the smallest, their radius being tiny)
    from vesseltree.synthetic import rasterize_segments

    starts = np.array([[10.0, 20.0, 4.0], [10.0, 20.0, 24.0], [10.0, 20.0, 24.0]])
    ends = np.array([[10.0, 20.0, 24.0], [10.0, 8.0, 40.0], [10.0, 32.0, 40.0]])
    mask, _, _ = rasterize_segments((20, 41, 46), starts, ends, [4.0, 2.5, 3.0], [4.0, 2.5, 3.0])
    bits = [(2, 2, 2), (17, 2, 43), (2, 38, 2)]
    for b in bits:
        mask[b] = True
    tree = analyze(mask)
    br = tree.branches
    is_point = (br["kind"] == "point").to_numpy()
    assert is_point.sum() == len(bits)
    expected = np.quantile(br["radius_mm"].to_numpy()[~is_point], [0.25, 0.75])
    np.testing.assert_allclose(tree.thresholds, expected)
    np.testing.assert_allclose(tree.scale_thresholds(), expected)
    assert (br.loc[is_point, "scale"] == 1).all()
    np.testing.assert_array_equal(tree.scale_masks().sum(0), mask)


# --------------------------------------------------------------------------- issue 9
def _capsule(shape, spacing, p0, p1, r):
    """Voxels whose centre lies within ``r`` mm of the segment p0-p1 (mm, z y x)."""
    zz, yy, xx = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    pts = np.stack([zz, yy, xx], -1)
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    t = np.clip(((pts - p0) @ d) / (d @ d), 0.0, 1.0)
    return np.linalg.norm(pts - (p0 + t[..., None] * d), axis=-1) <= r


def test_thick_user_skeleton_is_thinned_not_dropped():
    """Issue 9.5: a 2-voxel-thick axis gives the tube's branch (with a warning), not a
    zero-length point branch."""
    mask = _capsule((40, 16, 16), (1, 1, 1), (5, 7.5, 7.5), (34, 7.5, 7.5), 3.0)
    sk = np.zeros_like(mask)
    sk[5:35, 7:9, 7] = True  # two voxels thick
    with pytest.warns(UserWarning, match="skeleton: .*not one voxel thick"):
        tree = analyze(mask, skeleton=sk, scale_rule=vesseltree.ScaleRule.fixed([1.0]))
    thin = analyze(mask, skeleton=vesseltree.skeletonize(sk),
                   scale_rule=vesseltree.ScaleRule.fixed([1.0]))
    assert list(tree.branches["kind"]) == ["isolated"]
    # the axis is 30 voxels long: the branch runs along it (a digital line of 30 voxels)
    assert tree.branches["length_mm"].iloc[0] >= 28.0
    np.testing.assert_allclose(tree.branches["length_mm"], thin.branches["length_mm"])
    np.testing.assert_array_equal(tree.labels, thin.labels)
    # a one-voxel-thick user skeleton passes without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        analyze(mask, skeleton=vesseltree.skeletonize(mask),
                scale_rule=vesseltree.ScaleRule.fixed([1.0]))


def test_hollow_sphere_warns_not_a_vessel():
    """Issue 9 (non-tubular input): a hollow sphere thins to a closed surface; analyze says
    the skeleton is not a set of curves instead of reporting a 'point' branch silently."""
    zz, yy, xx = np.mgrid[:24, :24, :24]
    r = np.sqrt((zz - 11.5) ** 2 + (yy - 11.5) ** 2 + (xx - 11.5) ** 2)
    with pytest.warns(UserWarning, match="not a set of curves"):
        analyze((r <= 9) & (r >= 7), scale_rule=vesseltree.ScaleRule.fixed([1.0]))


@pytest.mark.parametrize("ratio, warns", [(1.0, False), (2.0, False), (5.0, True)])
def test_extreme_anisotropy_warns(ratio, warns):
    """Issue 9 (anisotropy): above ANISOTROPY_WARN_RATIO of the largest to the smallest voxel
    size, analyze warns (branch lengths along the coarse axis read short)."""
    from vesseltree.analysis import ANISOTROPY_WARN_RATIO

    assert 2.0 < ANISOTROPY_WARN_RATIO < 5.0
    sp = (0.7 * ratio, 0.7, 0.7)
    mask = _capsule((int(60 / sp[0]), 16, 16), sp, (5, 5.25, 5.25), (50, 5.25, 5.25), 3.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        analyze(mask, sp, scale_rule=vesseltree.ScaleRule.fixed([1.0]))
    hit = [w for w in caught if "anisotrop" in str(w.message)]
    assert bool(hit) == warns, [str(w.message) for w in caught]


def test_end_corrected_length_adds_one_radius_per_free_end():
    """The skeleton stops about one radius short of a free end: length_end_corrected_mm adds
    the branch radius per free end; on a capsule it comes closer to the tip-to-tip length."""
    r, length = 3.0, 30.0
    mask = _capsule((46, 16, 16), (1, 1, 1), (8, 7.5, 7.5), (8 + length, 7.5, 7.5), r)
    tree = analyze(mask, scale_rule=vesseltree.ScaleRule.fixed([1.0]))
    (_, b), = tree.branches.iterrows()
    assert b["kind"] == "isolated"  # two free ends
    np.testing.assert_allclose(b["length_end_corrected_mm"], b["length_mm"] + 2 * b["radius_mm"])
    tip_to_tip = length + 2 * r
    # the correction removes more than half of the shortfall (it stays a lower estimate)
    assert 0 < tip_to_tip - b["length_end_corrected_mm"] < 0.5 * (tip_to_tip - b["length_mm"])


def test_deprecated_scale_and_prune_keywords_still_work():
    """Issue 10.2/10.3: the old keywords map onto ScaleRule / the pruning parameters, with a
    DeprecationWarning, for one release."""
    ph = _small_phantom(3, (1.0, 1.0, 1.0))
    new = analyze(ph.mask, scale_rule=vesseltree.ScaleRule.quantiles(4), prune_length_factor=0)
    with pytest.deprecated_call(match="n_scales"):
        old = analyze(ph.mask, n_scales=4, prune_length_factor=0)
    with pytest.deprecated_call(match="prune"):
        unpruned = analyze(ph.mask, scale_rule=4, prune=False)
    pd_testing = pytest.importorskip("pandas").testing
    pd_testing.assert_frame_equal(old.branches, new.branches)
    pd_testing.assert_frame_equal(unpruned.branches, new.branches)
    rule = vesseltree.ScaleRule.fixed([1.0, 2.0])
    for method in ("scale_masks", "scale_labels", "scale_volumes"):
        with pytest.deprecated_call(match="thresholds"):
            a = getattr(new, method)(thresholds=[1.0, 2.0])
        np.testing.assert_array_equal(a, getattr(new, method)(rule))
        with pytest.deprecated_call(match="quantiles"):
            b = getattr(new, method)(quantiles=[0.1, 0.9])
        np.testing.assert_array_equal(b, getattr(new, method)(
            vesseltree.ScaleRule.quantiles(levels=[0.1, 0.9])))
    with pytest.deprecated_call(match="method"):
        np.testing.assert_array_equal(new.scale_thresholds(method=[1.0, 2.0]), [1.0, 2.0])
    with pytest.raises(TypeError, match="both"), pytest.deprecated_call():
        new.scale_masks(rule, n_scales=3)


def test_one_scale_rule_per_tree():
    """Issue 10.2: the rule given to analyze is the tree's: column, thresholds, methods."""
    ph = _small_phantom(3, (1.0, 1.0, 1.0))
    rule = vesseltree.ScaleRule.fixed([1.5, 2.5])
    tree = analyze(ph.mask, scale_rule=rule)
    assert tree.scale_rule == rule and tree.n_scales == 3
    np.testing.assert_array_equal(tree.thresholds, [1.5, 2.5])
    expected = 1 + np.searchsorted([1.5, 2.5], tree.branches["radius_mm"].to_numpy(), side="left")
    np.testing.assert_array_equal(tree.branches["scale"], expected)
    lut = np.zeros(len(tree.branches) + 1, dtype=np.int64)
    lut[tree.branches.index] = tree.branches["scale"]
    np.testing.assert_array_equal(tree.scale_labels(), lut[tree.labels])
    s = tree.summary()
    assert s["scale_rule"] == rule.to_dict() and s["scale_thresholds_mm"] == [1.5, 2.5]
    assert vesseltree.ScaleRule.from_dict(s["scale_rule"]) == rule

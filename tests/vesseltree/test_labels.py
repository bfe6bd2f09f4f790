"""Eq. 3: nearest-branch labels, against a brute-force numpy distance matrix and scipy."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from vesseltree._kernels import labels_nb
from vesseltree.labels import nearest_branch_labels, skeleton_owner


def _brute(mask, seeds, spacing):
    sp = np.asarray(spacing, float)
    s = np.argwhere(seeds > 0)
    lab = seeds[tuple(s.T)]
    q = np.argwhere(mask)
    # exact squared distances in units of the smallest spacing (integers when isotropic)
    w = (sp / sp.min()) ** 2
    d = (((q[:, None, :] - s[None]) ** 2) * w).sum(-1)
    dm = d.min(1, keepdims=True)
    tie = np.isclose(d, dm, rtol=1e-12, atol=0)
    best = np.where(tie, lab[None], np.iinfo(np.int64).max).min(1)
    out = np.zeros(mask.shape, np.int32)
    out[tuple(q.T)] = best
    return out


@given(seed=st.integers(0, 100_000),
       spacing=st.sampled_from([(1.0, 1.0, 1.0), (0.7, 0.7, 0.7), (2.5, 0.7, 0.9), (1.0, 3.0, 1.0)]),
       n_seeds=st.integers(1, 40), n_labels=st.integers(1, 6))
def test_labels_match_brute_force_with_tie_rule(seed, spacing, n_seeds, n_labels):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(3, 14, 3))
    mask = rng.random(shape) < rng.uniform(0.05, 0.9)
    seeds = np.zeros(shape, np.int64)
    idx = rng.choice(seeds.size, min(n_seeds, seeds.size), replace=False)
    seeds.flat[idx] = rng.integers(1, n_labels + 1, idx.size)
    before = mask.copy(), seeds.copy()
    got = nearest_branch_labels(mask, seeds, spacing, within_components=False)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, _brute(mask, seeds, spacing))
    # covers the mask exactly, inputs unchanged
    np.testing.assert_array_equal(got > 0, mask)
    np.testing.assert_array_equal(mask, before[0])
    np.testing.assert_array_equal(seeds, before[1])


def test_labels_agree_with_scipy_edt_away_from_ties():
    """scipy's EDT with indices (the dense peer) gives the same label wherever the nearest
    seed is unique."""
    rng = np.random.default_rng(3)
    shape = (20, 30, 25)
    sp = (1.5, 0.8, 1.1)
    mask = ndi.binary_dilation(rng.random(shape) < 0.02, iterations=3)
    seeds = np.zeros(shape, np.int32)
    pts = np.argwhere(mask)[rng.choice(mask.sum(), 60, replace=False)]
    seeds[tuple(pts.T)] = rng.integers(1, 9, 60)
    got = nearest_branch_labels(mask, seeds, sp, within_components=False)
    _, ind = ndi.distance_transform_edt(seeds == 0, sampling=sp, return_indices=True)
    peer = seeds[ind[0], ind[1], ind[2]]
    d, _ = cKDTree(pts * sp).query(np.argwhere(mask) * sp, k=2)
    unique = np.zeros(shape, bool)
    unique[tuple(np.argwhere(mask).T)] = d[:, 1] - d[:, 0] > 1e-9
    assert unique.sum() > 0.9 * mask.sum()
    np.testing.assert_array_equal(got[unique], peer[unique])


def test_knn_kernel_matches_ckdtree():
    rng = np.random.default_rng(5)
    shape = (30, 40, 50)
    ref = np.ascontiguousarray(np.argwhere(rng.random(shape) < 0.01), dtype=np.int64)
    q = np.ascontiguousarray(np.argwhere(rng.random(shape) < 0.02), dtype=np.int64)
    sp = np.array([2.0, 0.5, 0.75])
    unit, scale = labels_nb.unit_spacing(sp)
    grid = labels_nb.build_grid(ref, unit, shape)
    idx, d2 = labels_nb.knn(q, ref, 8, unit, *grid)
    dref, _ = cKDTree(ref * sp).query(q * sp, k=8)
    np.testing.assert_allclose(np.sqrt(d2) * scale, dref, rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm((q[:, None] - ref[idx]) * sp, axis=-1), dref, rtol=1e-9)
    # fewer references than k: missing slots are -1 / inf
    idx, d2 = labels_nb.knn(q[:3], ref[:2], 4, unit, *labels_nb.build_grid(ref[:2], unit, shape))
    assert (idx[:, 2:] == -1).all() and np.isinf(d2[:, 2:]).all()


def test_knn_and_nearest_keyed_ties_match_brute_force():
    """On a coarse lattice (many exactly equal distances) the k-NN list is sorted by
    (distance, reference index) and the nearest voxel is the one of smallest key, as a
    brute-force sort over all pairs says."""
    rng = np.random.default_rng(11)
    shape = (9, 10, 11)
    ref = np.ascontiguousarray(np.argwhere(rng.random(shape) < 0.15), dtype=np.int64)
    q = np.ascontiguousarray(np.argwhere(rng.random(shape) < 0.3), dtype=np.int64)
    unit, _ = labels_nb.unit_spacing(np.array([2.0, 1.0, 1.0]))
    d2_all = (((q[:, None, :] - ref[None, :, :]) * unit) ** 2).sum(-1)
    k = 7
    idx, d2 = labels_nb.knn(q, ref, k, unit, *labels_nb.build_grid(ref, unit, shape))
    order = np.lexsort((np.broadcast_to(np.arange(len(ref)), d2_all.shape), d2_all), axis=1)
    np.testing.assert_array_equal(idx, order[:, :k])
    np.testing.assert_array_equal(d2, np.take_along_axis(d2_all, order[:, :k], axis=1))
    key = rng.permutation(len(ref)).astype(np.int64)
    j, dd = labels_nb.nearest_keyed(q, ref, key, unit, *labels_nb.build_grid(ref, unit, shape))
    best = np.lexsort((np.broadcast_to(key, d2_all.shape), d2_all), axis=1)[:, 0]
    np.testing.assert_array_equal(j, best)
    np.testing.assert_array_equal(dd, d2_all[np.arange(len(q)), best])


def test_skeleton_owner_nearest_branch_smallest_id_on_ties():
    coords = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 0, 3], [0, 0, 4]])
    branch = np.array([3, 0, 0, 0, 2])
    got = skeleton_owner(coords, branch, 1.0, (1, 1, 5))
    # voxel 2 is 2 away from both branches: the smaller id (2) wins
    np.testing.assert_array_equal(got, [3, 3, 2, 2, 2])
    np.testing.assert_array_equal(skeleton_owner(coords, np.zeros(5, int), 1.0, (1, 1, 5)), 0)


def test_bad_input_and_edge_cases():
    mask = np.zeros((4, 4, 4), bool)
    mask[1:3, 1:3, 1:3] = True
    seeds = np.zeros((4, 4, 4), np.int32)
    with pytest.warns(UserWarning, match="no seed"):
        out = nearest_branch_labels(mask, seeds, 1.0)
    assert not out.any()
    seeds[1, 1, 1] = 4
    assert (nearest_branch_labels(np.zeros_like(mask), seeds, 1.0) == 0).all()
    np.testing.assert_array_equal(nearest_branch_labels(mask, seeds, 1.0), mask * 4)
    with pytest.raises(TypeError, match="seed_labels"):
        nearest_branch_labels(mask, seeds.astype(float), 1.0)
    with pytest.raises(TypeError, match="seed_labels"):
        nearest_branch_labels(mask, seeds > 0, 1.0)
    with pytest.raises(ValueError, match="seed_labels"):
        nearest_branch_labels(mask, -seeds, 1.0)
    with pytest.raises(ValueError, match="seed_labels"):
        nearest_branch_labels(mask, seeds[:2], 1.0)
    with pytest.raises(ValueError, match="spacing"):
        nearest_branch_labels(mask, seeds, (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        nearest_branch_labels(mask, seeds, (1.0, 1.0))
    with pytest.raises(ValueError, match="mask"):
        nearest_branch_labels(mask * 3, seeds, 1.0)
    with pytest.raises(ValueError, match="mask"):
        nearest_branch_labels(mask[0], seeds, 1.0)


def _components(mask):
    return ndi.label(mask, np.ones((3, 3, 3), int))[0]


@given(seed=st.integers(0, 100_000))
def test_components26_matches_scipy_label(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 16, 3))
    mask = rng.random(shape) < rng.uniform(0.02, 0.6)
    coords = np.ascontiguousarray(np.argwhere(mask), dtype=np.int64)
    got = labels_nb.components26(mask, coords)
    np.testing.assert_array_equal(got, _components(mask)[mask])  # same numbering too


def _brute_within(mask, seeds, spacing):
    """Brute force per 26-component; components without seed stay 0."""
    comp = _components(mask)
    out = np.zeros(mask.shape, np.int32)
    for c in range(1, comp.max() + 1):
        m = comp == c
        s = np.where(m, seeds, 0)
        if s.any():
            out[m] = _brute(m, s, spacing)[m]
    return out


@given(seed=st.integers(0, 100_000),
       spacing=st.sampled_from([(1.0, 1.0, 1.0), (2.5, 0.7, 0.9), (1.0, 3.0, 1.0)]),
       n_seeds=st.integers(1, 30))
def test_labels_within_components_match_brute_force(seed, spacing, n_seeds):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(3, 14, 3))
    mask = rng.random(shape) < rng.uniform(0.05, 0.5)
    if not mask.any():
        mask.flat[0] = True
    seeds = np.zeros(shape, np.int64)
    inside = np.flatnonzero(mask)
    idx = rng.choice(inside, min(n_seeds, inside.size), replace=False)
    seeds.flat[idx] = rng.integers(1, 6, idx.size)
    ref = _brute_within(mask, seeds, spacing)
    import warnings

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = nearest_branch_labels(mask, seeds, spacing, within_components=True)
    np.testing.assert_array_equal(got, ref)
    assert any("no seed" in str(x.message) for x in w) == bool((mask & (ref == 0)).any())
    # no label crosses a component
    comp = _components(mask)
    pairs = np.unique(np.stack([got[mask], comp[mask]]), axis=1)
    pairs = pairs[:, pairs[0] > 0]
    for lab in np.unique(pairs[0]):
        # a label may occur in several components only if seeded in each of them
        for c in pairs[1, pairs[0] == lab]:
            assert ((comp == c) & (seeds == lab)).any()


def test_within_components_rejects_seeds_outside_mask():
    mask = np.zeros((3, 3, 3), bool)
    mask[1, 1, 1] = True
    seeds = np.zeros((3, 3, 3), np.int32)
    seeds[0, 0, 0] = 1
    with pytest.raises(ValueError, match="seed_labels"):
        nearest_branch_labels(mask, seeds, within_components=True)
    with pytest.raises(TypeError, match="within_components"):
        nearest_branch_labels(mask, seeds, within_components=1)


def test_grouped_knn_matches_ckdtree_per_group():
    rng = np.random.default_rng(7)
    shape = (20, 25, 30)
    ref = np.ascontiguousarray(np.argwhere(rng.random(shape) < 0.03), dtype=np.int64)
    q = np.ascontiguousarray(np.argwhere(rng.random(shape) < 0.02), dtype=np.int64)
    rg = rng.integers(0, 4, len(ref)).astype(np.int64)
    rg[rg == 3] = 2  # group 3: queries only, no reference
    qg = rng.integers(0, 4, len(q)).astype(np.int64)
    sp = np.array([1.5, 0.5, 0.75])
    unit, scale = labels_nb.unit_spacing(sp)
    grid = labels_nb.build_grid(ref, unit, shape)
    gcount = np.bincount(rg, minlength=4).astype(np.int64)
    k = 6
    idx, d2 = labels_nb.knn_grouped(q, ref, k, unit, *grid, qg, rg, gcount)
    for g in range(4):
        sel = qg == g
        if gcount[g] == 0:
            assert (idx[sel] == -1).all() and np.isinf(d2[sel]).all()
            continue
        dref, _ = cKDTree(ref[rg == g] * sp).query(q[sel] * sp, k=k)
        np.testing.assert_allclose(np.sqrt(d2[sel]) * scale, dref, rtol=1e-9)
        assert (rg[idx[sel]] == g).all()
    # nearest_keyed_grouped: the first column of the same search
    key = np.arange(len(ref), dtype=np.int64)
    j, dd = labels_nb.nearest_keyed_grouped(q, ref, key, unit, *grid, qg, rg)
    has = gcount[qg] > 0
    np.testing.assert_allclose(dd[has], d2[has, 0], rtol=1e-12)
    assert (j[~has] == -1).all()


def test_skeleton_owner_stays_in_its_group():
    coords = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 0, 3], [0, 0, 4]])
    branch = np.array([3, 0, 0, 0, 2])
    group = np.array([1, 1, 1, 2, 2])
    got = skeleton_owner(coords, branch, 1.0, (1, 1, 5), group=group)
    # voxel 3 is nearer branch 2 anyway; voxel 2 (2 away from both) must take branch 3 (its group)
    np.testing.assert_array_equal(got, [3, 3, 3, 2, 2])
    got = skeleton_owner(coords, branch, 1.0, (1, 1, 5), group=np.array([1, 1, 2, 2, 1]))
    # group 2 has no branch voxel: its voxels keep 0
    np.testing.assert_array_equal(got, [3, 3, 0, 0, 2])


def test_step_function_defaults_reproduce_analyze():
    """Issue 10.3: the README's step functions with their defaults give analyze's labels and
    radii (nearest_branch_labels within components, local_radius corrected)."""
    import vesseltree as vt

    mask = np.zeros((12, 14, 14), bool)
    mask[1:10, 1:10, 1:10] = True  # a blob thinned to its centre
    mask[5, 1:12, 11] = True  # a line one voxel away: plain Eq. 3 would give it blob voxels
    sp = (1.0, 1.0, 1.0)
    tree = vt.analyze(mask, sp, scale_rule=2)
    assert len(tree.branches) == 2
    sk_lab = tree.skeleton_labels
    across = vt.nearest_branch_labels(mask, sk_lab, sp, within_components=False)
    assert (across != tree.labels).any()  # the configuration tells the two rules apart
    np.testing.assert_array_equal(vt.nearest_branch_labels(mask, sk_lab, sp), tree.labels)
    skel = vt.skeletonize(mask)
    np.testing.assert_array_equal(skel, tree.skeleton)

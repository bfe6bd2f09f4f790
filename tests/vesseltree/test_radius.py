"""Eq. 1-2: surface voxels, local radius (paper and corrected), branch median.

References: scipy.ndimage erosion (surface), numpy distance-matrix brute force (Eq. 1, per
26-component), analytic tubes of known radius (corrected estimator), numpy median per group
(Eq. 2).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import ndimage as ndi

from vesseltree.radius import branch_radius, local_radius, surface_voxels
from vesseltree.skeleton import skeletonize
from vesseltree.synthetic import tube


def _random_mask(rng, shape=(12, 14, 16), p=0.5):
    m = ndi.binary_opening(rng.random(shape) < p)
    return m


def _brute_paper(mask, skel, spacing, m):
    """Eq. 1 by a full distance matrix, within the skeleton voxel's 26-component."""
    sp = np.asarray(spacing, float)
    comp, _ = ndi.label(mask, np.ones((3, 3, 3), int))
    surf = mask & ~ndi.binary_erosion(mask, border_value=0)
    s = np.argwhere(surf)
    q = np.argwhere(skel)
    d = np.sqrt((((q[:, None, :] - s[None]) * sp) ** 2).sum(-1))
    cq, cs = comp[tuple(q.T)], comp[tuple(s.T)]
    d[cq[:, None] != cs[None]] = np.inf
    d.sort(axis=1)
    k = np.minimum(m, (cq[:, None] == cs[None]).sum(1))
    return d[np.arange(len(q)), k - 1]


def test_surface_voxels_match_scipy_erosion():
    rng = np.random.default_rng(1)
    for _ in range(5):
        m = rng.random((9, 11, 13)) < 0.7
        ref = m & ~ndi.binary_erosion(m, border_value=0)
        np.testing.assert_array_equal(surface_voxels(m), ref)


@pytest.mark.filterwarnings("ignore:m. the 20 nearest:UserWarning")  # random blobs, m > 8
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.7, 0.9)])
@pytest.mark.parametrize("m", [1, 8, 20])
def test_paper_radius_is_eq1_brute_force(spacing, m):
    rng = np.random.default_rng(m)
    mask = _random_mask(rng)
    # any subset of the mask serves as "skeleton" for Eq. 1
    skel = mask & (rng.random(mask.shape) < 0.3)
    got = local_radius(mask, skel, spacing, m=m, method="paper")
    ref = _brute_paper(mask, skel, spacing, m)
    np.testing.assert_allclose(got[skel], ref, rtol=1e-6)
    assert (got[~skel] == 0).all()
    coords, vals = local_radius(mask, skel, spacing, m=m, method="paper", output="points")
    np.testing.assert_array_equal(coords, np.argwhere(skel))
    np.testing.assert_allclose(vals, ref, rtol=1e-12)


def test_paper_radius_axis_aligned_tube_known_values():
    # centre voxel of a z-aligned digital cylinder of radius r (voxel centres within r).
    # r = 2: the nearest surface voxels are the 4 in-plane (1, 1) diagonals at sqrt(2),
    # then the 8 diagonals of the two neighbouring slices at sqrt(3): the 8th is sqrt(3).
    # r = 3: the 8 in-plane (1, 2) / (2, 1) voxels at sqrt(5) are surface voxels.
    for r, expected in [(2, np.sqrt(3)), (3, np.sqrt(5))]:
        zz, yy, xx = np.indices((30, 21, 21))
        t = np.clip(zz, 8, 22)
        mask = (yy - 10) ** 2 + (xx - 10) ** 2 + (zz - t) ** 2 <= r * r
        skel = np.zeros_like(mask)
        skel[10:20, 10, 10] = True
        v = local_radius(mask, skel, 1.0, m=8, method="paper")[skel]
        np.testing.assert_allclose(v, expected)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.4, 0.8, 0.8)])
@pytest.mark.parametrize("r_vox", [1.5, 2.5, 4.0, 6.0])
def test_corrected_radius_on_oblique_tubes(spacing, r_vox):
    """Median corrected local radius over the tube's interior within 0.3 voxel of the
    truth; the paper estimator reads low (documented bias)."""
    rng = np.random.default_rng(int(r_vox * 10))
    sp = np.asarray(spacing)
    vox = sp.min()
    r = r_vox * vox
    length = 10 * r + 20 * vox
    shape = tuple(int(np.ceil((length + 4 * r) / s)) for s in sp)
    centre = np.array(shape) * sp / 2 + rng.uniform(-0.5, 0.5, 3) * vox
    u = rng.normal(size=3)
    u /= np.linalg.norm(u)
    a, b = centre - u * length / 2, centre + u * length / 2
    mask = tube(shape, a, b, r, spacing, caps="round", supersample=2)
    skel = skeletonize(mask)
    coords = np.argwhere(skel) * sp
    t = (coords - a) @ u / length
    inner = (t > 0.15) & (t < 0.85)  # away from the end caps
    assert inner.sum() > 10
    got = local_radius(mask, skel, spacing, method="corrected", output="points")[1][inner]
    paper = local_radius(mask, skel, spacing, method="paper", output="points")[1][inner]
    assert abs(np.median(got) - r) <= 0.3 * vox
    if r_vox >= 2.5:
        assert np.median(paper) < r - 0.2 * vox  # Eq. 1 reads low (docs/radius.md)


@given(st.integers(0, 10_000), st.floats(0.3, 3.0), st.sampled_from(["paper", "corrected"]))
def test_radius_scales_linearly_with_isotropic_spacing(seed, s, method):
    rng = np.random.default_rng(seed)
    mask = _random_mask(rng, (8, 9, 10), 0.6)
    skel = mask & (rng.random(mask.shape) < 0.4)
    before = mask.copy(), skel.copy()
    r1 = local_radius(mask, skel, 1.0, method=method)
    rs = local_radius(mask, skel, s, method=method)
    np.testing.assert_allclose(rs, r1 * s, rtol=1e-5)
    np.testing.assert_array_equal(mask, before[0])
    np.testing.assert_array_equal(skel, before[1])


def test_branch_radius_is_group_median():
    rng = np.random.default_rng(0)
    v = rng.random(200)
    b = rng.integers(0, 7, 200)
    got = branch_radius(v, b, 8)
    assert got.shape == (9,)
    for j in range(1, 9):
        sel = v[b == j]
        if sel.size:
            assert got[j] == pytest.approx(np.median(sel))
        else:
            assert np.isnan(got[j])
    assert np.isnan(got[0])


def test_bad_input():
    m = np.zeros((5, 5, 5), bool)
    m[1:4, 1:4, 1:4] = True
    s = np.zeros_like(m)
    s[2, 2, 2] = True
    with pytest.raises(ValueError, match="skeleton"):
        local_radius(m, np.ones_like(m), 1.0)
    with pytest.raises(ValueError, match="skeleton"):
        local_radius(m, s[:4], 1.0)
    with pytest.raises(ValueError, match="method"):
        local_radius(m, s, 1.0, method="edt")
    with pytest.raises(ValueError, match="m"):
        local_radius(m, s, 1.0, m=0)
    with pytest.raises(ValueError, match="spacing"):
        local_radius(m, s, (1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        local_radius(m, s, (1.0, np.nan, 1.0))
    with pytest.raises(ValueError, match="mask"):
        local_radius(m.astype(float) * 2, s, 1.0)
    bad = m.astype(float)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="mask"):
        local_radius(bad, s, 1.0)
    with pytest.raises(ValueError, match="branch_ids"):
        branch_radius([1.0, 2.0], [1])
    # empty skeleton: zeros; single voxel: the corrected estimator falls back to a sphere
    assert not local_radius(m, np.zeros_like(m), 1.0).any()
    one = local_radius(m, s, 1.0, method="corrected")[2, 2, 2]
    assert one == pytest.approx((3 * 27 / (4 * np.pi)) ** (1 / 3))


@pytest.mark.parametrize("method", ["paper", "corrected"])
def test_local_radius_ignores_a_separate_nearby_component(method):
    """Both estimators stay in the skeleton voxel's 26-component: a single voxel and a
    3^3 cube two voxels away from a tube of radius 3 keep the radii they have alone (and
    so does the tube), although the tube's surface is nearer to them than m voxels of
    their own."""
    a = tube((16, 16, 30), (2, 8, 8), (28, 8, 8), 3.0)
    blobs = np.zeros_like(a)
    blobs[8, 13, 8] = True  # 2 voxels from the tube's wall (y = 11)
    blobs[8:11, 13:16, 20:23] = True
    assert ndi.label(a | blobs, np.ones((3, 3, 3), int))[1] == 3
    sk = skeletonize(a)
    sk_b = np.zeros_like(a)  # one skeleton voxel per blob (its centre)
    sk_b[8, 13, 8] = sk_b[9, 14, 21] = True
    r_a = local_radius(a, sk, 1.0, method=method)
    r_b = local_radius(blobs, sk_b, 1.0, method=method)
    r_both = local_radius(a | blobs, sk | sk_b, 1.0, method=method)
    np.testing.assert_allclose(r_both[sk], r_a[sk], rtol=1e-12)
    np.testing.assert_allclose(r_both[sk_b], r_b[sk_b], rtol=1e-12)
    if method == "corrected":  # ball of the blob's volume
        np.testing.assert_allclose(r_b[8, 13, 8], np.cbrt(3 / (4 * np.pi)), rtol=1e-6)
        np.testing.assert_allclose(r_b[9, 14, 21], np.cbrt(3 * 27 / (4 * np.pi)), rtol=1e-6)
    else:  # Eq. 1: the only surface voxel is the voxel itself; the cube's 8th nearest
        assert r_b[8, 13, 8] == 0.0
        np.testing.assert_allclose(r_b[9, 14, 21], np.sqrt(2), rtol=1e-6)


# ------------------------------------------------------------ free ends: balls and blobs


@pytest.mark.filterwarnings("ignore:n_scales")  # one branch: no scale split, as documented
@pytest.mark.parametrize("r", [2.5, 3.0, 4.0, 5.0, 7.0])
def test_corrected_radius_of_a_ball_is_its_radius(r):
    # a ball thins to one voxel or a two-voxel stub: all of it is "end cap"
    from vesseltree import analyze
    from vesseltree.synthetic import tube

    c = (11.3, 11.6, 11.1)
    ball = tube((24, 24, 24), c, c, r, caps="round", supersample=2)
    tree = analyze(ball)
    assert len(tree.branches) == 1
    assert abs(tree.branches["radius_mm"].iloc[0] - r) <= 0.3


@pytest.mark.filterwarnings("ignore:n_scales")
@pytest.mark.parametrize("box", [(8, 9, 10), (6, 12, 7), (5, 5, 30)])
def test_corrected_radius_of_a_blob_stays_near_its_inscribed_radius(box):
    # a blob's short skeleton must not be read as a thin tube holding the whole volume:
    # the radius stays within one voxel diagonal of the largest inscribed distance (scipy EDT)
    from scipy import ndimage as ndi

    from vesseltree import analyze

    mask = np.zeros((20, 20, 40), bool)
    mask[2:2 + box[0], 2:2 + box[1], 2:2 + box[2]] = True
    tree = analyze(mask)
    inscribed = ndi.distance_transform_edt(mask).max()
    assert (tree.branches["radius_mm"] <= inscribed + np.sqrt(3)).all()


def test_m_far_beyond_the_cross_section_warns():
    """Issue 9 (non-tubular answer): with m = 10000 the m nearest surface voxels of a
    radius-3 tube reach far along it; Eq. 1 then returns ~28 mm: warn."""
    mask = tube((60, 16, 16), (5, 7.5, 7.5), (54, 7.5, 7.5), 3.0)
    skel = skeletonize(mask)
    with pytest.warns(UserWarning, match="m: "):
        local_radius(mask, skel, m=10000, method="paper")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for m in (8, 16):  # sensible values stay quiet
            local_radius(mask, skel, m=m, method="paper")


def test_default_method_is_the_one_analyze_uses():
    """Issue 10.3: vt.local_radius, VesselTree.local_radius and analyze share one default."""
    import inspect

    from vesseltree import analyze

    mask = tube((30, 12, 12), (4, 5.5, 5.5), (25, 5.5, 5.5), 2.5)
    tree = analyze(mask, scale_rule=1 + 1)
    default = inspect.signature(analyze).parameters["radius_method"].default
    assert inspect.signature(local_radius).parameters["method"].default == default
    np.testing.assert_allclose(local_radius(mask, tree.skeleton), tree.local_radius)

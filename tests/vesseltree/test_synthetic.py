"""Tests of vesseltree.synthetic against analytic shapes and brute-force references."""
from __future__ import annotations

import numpy as np
import pytest

from skimage.measure import euler_number, label

from vesseltree import topology
from vesseltree.synthetic import rasterize_segments, torus, tube


def _grid(shape, spacing):
    """Voxel-centre coordinates (mm) of a grid, each of shape ``shape``."""
    return np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")


def _sweep_min(q, a, b, r0, r1, iters=90):
    """Brute force for round caps: ``min over t in [0, 1]`` of ``|q - c(t)| - r(t)`` with
    ``c(t) = a + t (b - a)`` and ``r(t) = r0 + t (r1 - r0)``, by a vectorized golden-section
    search (the function is convex in t). Returns (f, r(t*))."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    v = b - a

    def g(t):
        return np.linalg.norm(q - a - t[..., None] * v, axis=-1) - (r0 + t * (r1 - r0))

    lo = np.zeros(q.shape[:-1])
    hi = np.ones(q.shape[:-1])
    phi = (np.sqrt(5) - 1) / 2
    for _ in range(iters):
        m1 = hi - phi * (hi - lo)
        m2 = lo + phi * (hi - lo)
        left = g(m1) <= g(m2)
        hi = np.where(left, m2, hi)
        lo = np.where(left, lo, m1)
    ts = [np.zeros_like(lo), np.ones_like(lo), (lo + hi) / 2]
    fs = np.stack([g(t) for t in ts])
    k = np.argmin(fs, axis=0)
    t_best = np.choose(k, ts)
    return fs.min(axis=0), r0 + t_best * (r1 - r0)


def _brute_tube(shape, spacing, a, b, r0, r1, caps):
    """Centre test of a tapered tube written directly with numpy (independent reference)."""
    z, y, x = _grid(shape, spacing)
    q = np.stack([z, y, x], axis=-1)
    if caps == "round":
        return _sweep_min(q, a, b, r0, r1)[0] <= 0
    p = q - np.asarray(a, float)
    v = np.asarray(b, float) - np.asarray(a, float)
    length = np.linalg.norm(v)
    u = v / length
    t = p @ u
    r = r0 + (r1 - r0) * np.clip(t, 0, length) / length
    perp = np.linalg.norm(p - t[..., None] * u, axis=-1)
    return (perp <= r) & (t >= 0) & (t <= length)


def _random_oblique_tube(rng, radius_vox):
    spacing = rng.uniform(0.6, 1.5, 3)
    extent = 40.0
    shape = tuple(int(np.ceil(extent / s)) for s in spacing)
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    length = 20.0 * spacing.mean()
    a = np.full(3, extent / 2) - d * length / 2 + rng.uniform(-1, 1, 3)
    return shape, spacing, a, a + d * length, radius_vox * spacing.mean(), length


# ----------------------------------------------------------------------------- primitives
@pytest.mark.parametrize("caps", ["flat", "round"])
def test_tube_centre_test_matches_brute_force(caps):
    shape, spacing = (20, 24, 28), (1.3, 0.8, 1.0)
    a, b = (4.1, 3.3, 5.2), (20.2, 15.0, 22.9)
    got = tube(shape, a, b, 3.5, spacing, radius_end=1.7, caps=caps, supersample=1)
    ref = _brute_tube(shape, spacing, a, b, 3.5, 1.7, caps)
    # only voxel centres within float rounding of the surface may disagree
    assert np.count_nonzero(got != ref) <= 2
    assert got.sum() > 100


@pytest.mark.parametrize("supersample", [1, 2, 3, 4])
@pytest.mark.parametrize("radius_vox", [3.0, 4.5])
def test_tube_volume_matches_frustum(supersample, radius_vox):
    rng = np.random.default_rng(int(radius_vox * 10) + supersample)
    errors = []
    for _ in range(4):
        shape, spacing, a, b, r, length = _random_oblique_tube(rng, radius_vox)
        r_end = 0.7 * r
        m = tube(shape, a, b, r, spacing, radius_end=r_end, supersample=supersample)
        analytic = np.pi * length * (r * r + r * r_end + r_end * r_end) / 3
        errors.append(m.sum() * np.prod(spacing) / analytic - 1)
    errors = np.array(errors)
    # the thinner end is 0.7 * radius_vox >= 2.1 voxels: a few percent per tube
    assert np.all(np.abs(errors) < 0.05), errors
    assert abs(errors.mean()) < 0.03, errors


@pytest.mark.parametrize("supersample", [1, 2, 3])
def test_cylinder_volume_few_percent_for_radius_two_voxels(supersample):
    rng = np.random.default_rng(7)
    errors = []
    for _ in range(6):
        shape, spacing, a, b, r, length = _random_oblique_tube(rng, 2.0)
        m = tube(shape, a, b, r, spacing, supersample=supersample)
        errors.append(m.sum() * np.prod(spacing) / (np.pi * r * r * length) - 1)
    assert np.max(np.abs(errors)) < 0.05, errors


def test_round_caps_add_a_ball():
    spacing = (0.9, 1.1, 0.7)
    shape = (50, 40, 60)
    a, b = np.array([15.2, 20.3, 10.1]), np.array([30.4, 24.0, 31.7])
    r = 5.0
    length = np.linalg.norm(b - a)
    m = tube(shape, a, b, r, spacing, caps="round", supersample=2)
    analytic = np.pi * r * r * length + 4 / 3 * np.pi * r ** 3
    assert abs(m.sum() * np.prod(spacing) / analytic - 1) < 0.02
    ball = tube(shape, a, a, r, spacing, caps="round", supersample=2)
    assert abs(ball.sum() * np.prod(spacing) / (4 / 3 * np.pi * r ** 3) - 1) < 0.03


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("supersample", [1, 2])
def test_torus_volume(axis, supersample):
    spacing = (0.8, 1.2, 1.0)
    shape = (60, 40, 48)
    center = (24.3, 23.7, 24.1)
    big, small = 14.0, 3.5
    m = torus(shape, center, big, small, spacing, axis=axis, supersample=supersample)
    analytic = 2 * np.pi ** 2 * big * small ** 2
    assert abs(m.sum() * np.prod(spacing) / analytic - 1) < 0.03
    # brute-force centre test
    z, y, x = _grid(shape, spacing)
    q = [z - center[0], y - center[1], x - center[2]]
    w = q[axis]
    rho = np.sqrt(sum(c * c for i, c in enumerate(q) if i != axis))
    ref = (rho - big) ** 2 + w ** 2 <= small ** 2
    if supersample == 1:
        assert np.count_nonzero(m != ref) <= 2
    # the ring has a hole: the centre voxel is background
    idx = tuple(int(round(c / s)) for c, s in zip(center, spacing))
    assert not m[idx]


def test_rasterize_segments_ground_truth_matches_brute_force():
    rng = np.random.default_rng(3)
    shape, spacing = (24, 30, 26), (1.2, 0.9, 1.0)
    n = 5
    starts = rng.uniform(3, 20, (n, 3))
    ends = rng.uniform(3, 20, (n, 3))
    r0 = rng.uniform(1.5, 4.0, n)
    r1 = rng.uniform(1.0, 3.0, n)
    mask, seg, rad = rasterize_segments(shape, starts, ends, r0, r1, spacing, supersample=1)
    # brute force: f_k = min_t |p - c_k(t)| - r_k(t) at every voxel centre
    z, y, x = _grid(shape, spacing)
    p = np.stack([z, y, x], axis=-1)
    fs, rs = [], []
    for k in range(n):
        f, r = _sweep_min(p, starts[k], ends[k], r0[k], r1[k])
        fs.append(f)
        rs.append(r)
    fs, rs = np.stack(fs), np.stack(rs)
    ref_mask = (fs <= 0).any(axis=0)
    assert np.count_nonzero(mask != ref_mask) <= 2
    both = mask & ref_mask
    ref_id = np.argmin(fs, axis=0) + 1
    agree = seg[both] == ref_id[both]
    assert agree.mean() > 0.999
    ref_rad = np.take_along_axis(rs, (ref_id - 1)[None], axis=0)[0]
    np.testing.assert_allclose(rad[both][agree], ref_rad[both][agree], rtol=1e-5, atol=1e-5)
    assert np.all(seg[~mask] == 0) and np.all(rad[~mask] == 0)
    assert seg.dtype == np.int32 and rad.dtype == np.float32 and mask.dtype == bool


def test_rasterize_segments_union_equals_single_tubes_when_disjoint():
    spacing = (1.0, 0.8, 1.1)
    shape = (30, 40, 30)
    starts = np.array([[5.0, 5.0, 5.0], [20.0, 25.0, 20.0]])
    ends = np.array([[12.0, 10.0, 14.0], [26.0, 28.0, 28.0]])
    mask, seg, rad = rasterize_segments(shape, starts, ends, [2.5, 2.0], [2.0, 1.5], spacing)
    for k in range(2):
        single = tube(shape, starts[k], ends[k], [2.5, 2.0][k], spacing,
                      radius_end=[2.0, 1.5][k], caps="round", supersample=2)
        assert np.array_equal(seg == k + 1, single)
    assert np.array_equal(mask, seg > 0)


def test_primitives_do_not_touch_voxels_outside_their_box():
    m = tube((30, 30, 30), (2.0, 2.0, 2.0), (6.0, 6.0, 6.0), 1.5)
    assert not m[12:].any() and not m[:, 12:].any() and not m[:, :, 12:].any()


def test_tube_partly_outside_volume_is_clipped():
    m = tube((10, 10, 10), (-20.0, 5.0, 5.0), (30.0, 5.0, 5.0), 2.0)
    full = tube((10, 10, 10), (-20.0, 5.0, 5.0), (30.0, 5.0, 5.0), 2.0, supersample=2)
    assert m[:, 5, 5].all() and full[:, 5, 5].all()


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_coord = st.floats(5.0, 19.0)
_spacing = st.tuples(*[st.floats(0.4, 1.6)] * 3)


@given(sp=_spacing, a=st.tuples(_coord, _coord, _coord), b=st.tuples(_coord, _coord, _coord),
       stretch=st.floats(1.0, 1.3), s=st.integers(1, 4))
def test_thin_tube_property(sp, a, b, stretch, s):
    """A capsule at least one (coarsest) voxel thick holds every axis point, is one
    26-connected piece and has no tunnel or cavity (Euler number 1, skimage)."""
    r = max(sp) * stretch
    shape = tuple(int(np.ceil(24 / v)) for v in sp)
    m = tube(shape, a, b, r, sp, caps="round", supersample=s)
    pts = np.asarray(a) + np.linspace(0, 1, 50)[:, None] * (np.asarray(b) - np.asarray(a))
    idx = np.rint(pts / np.asarray(sp)).astype(int)
    assert m[idx[:, 0], idx[:, 1], idx[:, 2]].all()
    assert label(m, connectivity=3).max() == 1
    assert euler_number(m, connectivity=3) == 1


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(shape=(10, 10)), "shape"),
        (dict(shape=(10, 0, 10)), "shape"),
        (dict(spacing=(1.0, -1.0, 1.0)), "spacing"),
        (dict(spacing=(1.0, 1.0)), "spacing"),
        (dict(radius=0.0), "radius"),
        (dict(radius=-1.0), "radius"),
        (dict(radius_end=0.0), "radius_end"),
        (dict(caps="square"), "caps"),
        (dict(supersample=0), "supersample"),
        (dict(supersample=5), "supersample"),
        (dict(start=(1.0, 2.0)), "start"),
        (dict(end=(1.0, np.nan, 2.0)), "end"),
        (dict(end=(1.0, 1.0, 1.0)), "end"),  # zero length with flat caps
    ],
)
def test_tube_rejects_bad_input(kwargs, name):
    args = dict(shape=(10, 10, 10), start=(1.0, 1.0, 1.0), end=(5.0, 5.0, 5.0), radius=2.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        tube(**args)


def test_torus_and_segments_reject_bad_input():
    with pytest.raises(ValueError, match="axis"):
        torus((10, 10, 10), (5, 5, 5), 3, 1, axis=3)
    with pytest.raises(ValueError, match="minor_radius"):
        torus((10, 10, 10), (5, 5, 5), 3, 0)
    # no hole: horn (r == R) and spindle (r > R) tori are rejected, naming minor_radius
    for small in (3, 4.5):
        with pytest.raises(ValueError, match=r"^minor_radius: expected a tube radius < major_radius \(3\.0 mm\)"):
            torus((10, 10, 10), (5, 5, 5), 3, small)
    assert topology.betti_numbers(torus((12, 20, 20), (6, 10, 10), 6, 5.5)) == (1, 1, 0)  # just below
    with pytest.raises(ValueError, match="radii_start"):
        rasterize_segments((10, 10, 10), [(1, 1, 1)], [(5, 5, 5)], [-1.0], [1.0])
    with pytest.raises(ValueError, match="radii_end"):
        rasterize_segments((10, 10, 10), [(1, 1, 1)], [(5, 5, 5)], 1.0, [1.0, 2.0])
    with pytest.raises(ValueError, match="ends"):
        rasterize_segments((10, 10, 10), [(1, 1, 1)], [(5, 5, 5), (2, 2, 2)], 1.0, 1.0)
    with pytest.raises(ValueError, match="starts"):
        rasterize_segments((10, 10, 10), np.zeros((2, 2)), np.zeros((2, 2)), 1.0, 1.0)


def test_inputs_not_modified():
    starts = np.array([[2.0, 2.0, 2.0]])
    ends = np.array([[7.0, 6.0, 5.0]])
    s0, e0 = starts.copy(), ends.copy()
    rasterize_segments((10, 10, 10), starts, ends, 1.5, 1.5)
    assert np.array_equal(starts, s0) and np.array_equal(ends, e0)


# ----------------------------------------------------------------------------- phantom
from scipy import ndimage  # noqa: E402

from vesseltree.synthetic import Phantom, make_phantom, render_ct  # noqa: E402

SMALL = (40, 64, 64)


@pytest.fixture(scope="module")
def phantom() -> Phantom:
    return make_phantom(SMALL, (1.0, 0.8, 0.8), seed=4, root_radius=3.0)


@pytest.fixture(scope="module")
def straight() -> Phantom:
    return make_phantom(SMALL, (1.0, 0.8, 0.8), seed=2, taper=0.0, curvature=0.0, root_radius=3.0)


def test_phantom_table_and_arrays(phantom):
    seg = phantom.segments
    assert len(seg) >= 7  # at least 3 generations on this volume
    assert list(seg["segment_id"]) == list(range(1, len(seg) + 1))
    assert (seg["parent_id"] == 0).sum() == 1
    assert phantom.mask.dtype == bool and phantom.mask.shape == SMALL
    assert phantom.segment_id.dtype == np.int32 and phantom.radius.dtype == np.float32
    # every segment owns voxels, ids are those of the table, background is 0 everywhere
    assert set(np.unique(phantom.segment_id[phantom.mask])) == set(seg["segment_id"])
    assert np.all(phantom.segment_id[~phantom.mask] == 0)
    assert np.all(phantom.radius[~phantom.mask] == 0)
    # end points inside the volume, radii above min_radius (default: largest voxel size)
    ext = (np.array(SMALL) - 1) * np.array(phantom.spacing)
    for cols in (["z0", "y0", "x0"], ["z1", "y1", "x1"]):
        pts = seg[cols].to_numpy()
        assert np.all(pts >= 0) and np.all(pts <= ext)
    assert seg[["radius_start_mm", "radius_end_mm"]].to_numpy().min() >= 1.0 - 1e-9


def test_murray_law_and_generations(phantom):
    seg = phantom.segments.set_index("segment_id")
    internal = seg.index[~seg["terminal"]]
    assert len(internal) >= 3
    for k in internal:
        kids = seg[seg["parent_id"] == k]
        assert len(kids) == 2
        np.testing.assert_allclose(
            (kids["radius_start_mm"] ** 3).sum(), seg.loc[k, "radius_end_mm"] ** 3, rtol=1e-9
        )
        assert np.all(kids["generation"] == seg.loc[k, "generation"] + 1)
        # children start where the parent ends
        for _, kid in kids.iterrows():
            np.testing.assert_allclose(kid[["z0", "y0", "x0"]].to_numpy(float),
                                       seg.loc[k, ["z1", "y1", "x1"]].to_numpy(float))
    # taper (default 5%) over the planned length; segments cut at the boundary lose less
    inner = seg.loc[internal]
    np.testing.assert_allclose(inner["radius_end_mm"], inner["radius_start_mm"] * 0.95, rtol=1e-9)
    assert np.all(seg["radius_end_mm"] <= seg["radius_start_mm"])
    assert np.all(seg["radius_end_mm"] >= seg["radius_start_mm"] * 0.95 * (1 - 1e-9))


def test_murray_exponent_and_asymmetry_configurable():
    p = make_phantom(SMALL, seed=1, murray_exponent=2.5, asymmetry=0.0, depth=2)
    seg = p.segments.set_index("segment_id")
    for k in seg.index[~seg["terminal"]]:
        kids = seg[seg["parent_id"] == k]["radius_start_mm"].to_numpy()
        np.testing.assert_allclose(kids[0], kids[1])  # symmetric split
        np.testing.assert_allclose((kids ** 2.5).sum(), seg.loc[k, "radius_end_mm"] ** 2.5)
    assert seg["generation"].max() <= 2


def test_axis_points_lie_in_mask(phantom):
    pts = phantom.axis_points()
    idx = np.rint(pts[["z", "y", "x"]].to_numpy() / np.array(phantom.spacing)).astype(int)
    inside = phantom.mask[idx[:, 0], idx[:, 1], idx[:, 2]]
    assert inside.all(), pts[~inside].head()
    # and the voxel holding an axis point belongs to that segment or one meeting it there
    sid = phantom.segment_id[idx[:, 0], idx[:, 1], idx[:, 2]]
    assert np.mean(sid == pts["segment_id"].to_numpy()) > 0.9


def test_axis_points_in_mask_anisotropic_thin():
    p = make_phantom((24, 80, 80), (2.0, 0.6, 0.6), seed=5, root_radius=4.0)
    pts = p.axis_points()
    idx = np.rint(pts[["z", "y", "x"]].to_numpy() / np.array(p.spacing)).astype(int)
    assert p.mask[idx[:, 0], idx[:, 1], idx[:, 2]].all()
    assert p.segments["radius_end_mm"].min() < 3.0  # thin vessels (< 1.5 z-voxels) present


def _voxel_truth(p: Phantom):
    """Brute force: for each mask voxel, the radius of its segment at the axis point whose
    ball holds the voxel centre deepest, over that segment's pieces (as documented)."""
    zz, yy, xx = np.nonzero(p.mask)
    pts = np.stack([zz, yy, xx], axis=1) * np.array(p.spacing)
    sid = p.segment_id[zz, yy, xx]
    out = np.full(len(pts), np.nan)
    for k, grp in p.pieces.groupby("segment_id"):
        sel = sid == k
        q = pts[sel]
        best_f = np.full(len(q), np.inf)
        best_r = np.zeros(len(q))
        for row in grp.itertuples(index=False):
            f, r = _sweep_min(q, (row.z0, row.y0, row.x0), (row.z1, row.y1, row.x1),
                              row.radius_start_mm, row.radius_end_mm)
            better = f < best_f
            best_f[better], best_r[better] = f[better], r[better]
        out[sel] = best_r
    return sid, out


def test_voxel_radius_matches_segment_table(phantom):
    seg = phantom.segments.set_index("segment_id")
    sid, truth = _voxel_truth(phantom)
    got = phantom.radius[phantom.mask]
    np.testing.assert_allclose(got, truth, rtol=1e-5, atol=1e-5)
    lo = np.minimum(seg["radius_start_mm"], seg["radius_end_mm"]).reindex(sid).to_numpy()
    hi = np.maximum(seg["radius_start_mm"], seg["radius_end_mm"]).reindex(sid).to_numpy()
    assert np.all(got >= lo - 1e-5) and np.all(got <= hi + 1e-5)


def test_depth_zero_straight_root_volume_is_analytic():
    spacing = (0.9, 0.7, 0.8)
    for seed in range(3):
        p = make_phantom((40, 60, 70), spacing, seed=seed, depth=0, taper=0.0, curvature=0.0,
                         root_radius=4.0)
        row = p.segments.iloc[0]
        r, L = row["radius_start_mm"], row["length_mm"]
        analytic = np.pi * r * r * L + 4 / 3 * np.pi * r ** 3  # capsule
        assert abs(p.mask.sum() * np.prod(spacing) / analytic - 1) < 0.03


def test_straight_tree_volume_matches_monte_carlo_union(straight):
    """Mask volume of a whole tree (junction overlaps included) against a Monte-Carlo
    estimate of the union of its capsules (independent numpy code)."""
    pcs = straight.pieces
    a = pcs[["z0", "y0", "x0"]].to_numpy()
    b = pcs[["z1", "y1", "x1"]].to_numpy()
    r = pcs["radius_start_mm"].to_numpy()
    lo = np.minimum(a, b).min(axis=0) - r.max()
    hi = np.maximum(a, b).max(axis=0) + r.max()
    rng = np.random.default_rng(0)
    n = 400_000
    q = rng.uniform(lo, hi, (n, 3))
    inside = np.zeros(n, dtype=bool)
    for k in range(len(a)):
        v = b[k] - a[k]
        t = np.clip((q - a[k]) @ v / (v @ v), 0, 1)
        inside |= np.linalg.norm(q - a[k] - t[:, None] * v, axis=1) <= r[k]
    mc = inside.mean() * np.prod(hi - lo)
    se = np.sqrt(inside.mean() * (1 - inside.mean()) / n) * np.prod(hi - lo)
    vol = straight.mask.sum() * np.prod(straight.spacing)
    assert abs(vol - mc) < 0.03 * mc + 3 * se


def test_per_segment_voxel_counts_for_isolated_thick_segments():
    """Voxel counts of each straight segment of radius >= 2 voxels, rasterized in isolation
    from the phantom's own table, within a few percent of the analytic capsule volume."""
    p = make_phantom((48, 72, 72), (1.2, 0.8, 0.8), seed=3, taper=0.0, curvature=0.0,
                     root_radius=5.0)
    seg = p.segments
    thick = seg[seg["radius_start_mm"] >= 2 * max(p.spacing)]
    assert len(thick) >= 3
    for row in thick.itertuples(index=False):
        m = tube(p.shape, (row.z0, row.y0, row.x0), (row.z1, row.y1, row.x1),
                 row.radius_start_mm, p.spacing, caps="round", supersample=2)
        analytic = np.pi * row.radius_start_mm ** 2 * row.length_mm + 4 / 3 * np.pi * row.radius_start_mm ** 3
        assert abs(m.sum() * np.prod(p.spacing) / analytic - 1) < 0.04
        # the phantom's segment owns most of that tube (the rest goes to its neighbours)
        own = np.count_nonzero(p.segment_id[m] == row.segment_id) / m.sum()
        assert own > 0.5


def test_tree_topology_without_loops(phantom):
    g = phantom.graph()
    import networkx as nx

    assert nx.is_tree(nx.Graph(g)) and g.number_of_edges() == len(phantom.segments)
    degrees = dict(g.degree())
    assert set(degrees.values()) <= {1, 3}
    # the mask itself: one 26-connected component, no tunnel, no cavity (skimage)
    assert label(phantom.mask, connectivity=3).max() == 1
    assert euler_number(phantom.mask, connectivity=3) == 1


def test_loops_add_tunnels():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # both loops must fit
        p = make_phantom((48, 80, 80), seed=2, loops=2, root_radius=4.0)
    seg = p.segments
    assert seg["loop"].sum() == 2
    import networkx as nx

    g = nx.Graph(p.graph())
    assert g.number_of_edges() - g.number_of_nodes() + 1 == 2  # cycle rank
    assert euler_number(p.mask, connectivity=3) == 1 - 2


def test_too_many_loops_warns():
    with pytest.warns(RuntimeWarning, match="loops"):
        p = make_phantom((30, 40, 40), seed=0, loops=50)
    assert p.segments["loop"].sum() < 50


def test_determinism_and_seed_dependence():
    a = make_phantom(SMALL, seed=11)
    b = make_phantom(SMALL, seed=11)
    c = make_phantom(SMALL, seed=12)
    assert np.array_equal(a.mask, b.mask)
    assert np.array_equal(a.segment_id, b.segment_id)
    assert np.array_equal(a.radius, b.radius)
    pd_equal = a.segments.equals(b.segments)
    assert pd_equal
    assert not np.array_equal(a.mask, c.mask)
    ca, cb = render_ct(a, seed=1), render_ct(b, seed=1)
    assert np.array_equal(ca.image, cb.image)
    assert not np.array_equal(ca.image, render_ct(a, seed=2).image)


def test_spacing_honoured_same_physical_phantom():
    kw = dict(seed=6, root_radius=3.0, min_radius=1.2, clearance=2.0, depth=3)
    coarse = make_phantom((25, 41, 41), (1.0, 1.0, 1.0), **kw)  # extent 24 x 40 x 40 mm
    fine = make_phantom((49, 81, 61), (0.5, 0.5, 2.0 / 3.0), **kw)  # same extent
    cols = ["z0", "y0", "x0", "z1", "y1", "x1", "radius_start_mm", "radius_end_mm"]
    np.testing.assert_allclose(coarse.segments[cols], fine.segments[cols], atol=1e-9)
    v_coarse = coarse.mask.sum() * 1.0
    v_fine = fine.mask.sum() * 0.5 * 0.5 * (2.0 / 3.0)
    assert abs(v_fine / v_coarse - 1) < 0.04
    # per thick segment too
    for k in coarse.segments.loc[coarse.segments["radius_start_mm"] >= 2.0, "segment_id"]:
        vc = np.count_nonzero(coarse.segment_id == k) * 1.0
        vf = np.count_nonzero(fine.segment_id == k) * 0.5 * 0.5 * (2.0 / 3.0)
        assert abs(vf / vc - 1) < 0.1


def test_phantom_is_read_only_and_frozen(phantom):
    with pytest.raises(ValueError):
        phantom.mask[0, 0, 0] = True
    with pytest.raises(AttributeError):
        phantom.seed = 3


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(shape=(10, 10)), "shape"),
        (dict(shape=(10, -1, 10)), "shape"),
        (dict(spacing=(1.0, 0.0, 1.0)), "spacing"),
        (dict(spacing=(1.0, 1.0, 1.0, 1.0)), "spacing"),
        (dict(depth=-1), "depth"),
        (dict(root_radius=0.0), "root_radius"),
        (dict(root_radius=-2.0), "root_radius"),
        (dict(root_radius=100.0), "root_radius"),
        (dict(min_radius=0.0), "min_radius"),
        (dict(supersample=0), "supersample"),
        (dict(asymmetry=1.5), "asymmetry"),
        (dict(taper=1.0), "taper"),
        (dict(curvature=200.0), "curvature"),
        (dict(branch_angle=0.0), "branch_angle"),
        (dict(loops=-1), "loops"),
        (dict(length_ratio=(5.0, 1.0)), "length_ratio"),
        (dict(murray_exponent=0.0), "murray_exponent"),
        (dict(seed=-1), "seed"),
    ],
)
def test_make_phantom_rejects_bad_input(kwargs, name):
    args = dict(shape=(20, 30, 30))
    args.update(kwargs)
    with pytest.raises(ValueError, match=name) as err:
        make_phantom(**args)
    assert "expected" in str(err.value) and "got" in str(err.value)


# ----------------------------------------------------------------------------- CT
def test_ct_levels_in_vessels_and_parenchyma():
    p = make_phantom((40, 72, 72), (1.0, 0.8, 0.8), seed=1, root_radius=5.0)
    levels = dict(parenchyma_hu=95.0, vessel_hu=210.0, body_hu=30.0, air_hu=-900.0)
    ct = render_ct(p, seed=3, blur_mm=0.6, noise_sd=15.0, tumours=2, tumour_hu=45.0,
                   tumour_radius=(5.0, 6.0), **levels)
    sp = np.array(p.spacing)
    far = 3.5 * 0.6  # mm away from any edge: the blur leaks < 0.03% of a step there

    def interior(region):
        return ndimage.distance_transform_edt(region, sampling=sp) > far

    def check(region, level):
        vals = ct.image[region]
        assert vals.size > 30
        se = 15.0 / np.sqrt(vals.size)
        assert abs(vals.mean() - level) < 5 * se + 0.5, (vals.mean(), level)
        if vals.size > 500:
            assert abs(vals.std() / 15.0 - 1) < 0.1

    check(interior(p.mask), levels["vessel_hu"])
    parenchyma = ct.liver & ~ct.tumours & ~p.mask
    check(interior(parenchyma), levels["parenchyma_hu"])
    check(interior(ct.body & ~ct.liver & ~p.mask), levels["body_hu"])
    check(interior(~ct.body), levels["air_hu"])
    assert ct.tumours.any() and not (ct.tumours & ~ct.liver).any() and not (ct.tumours & p.mask).any()
    check(interior(ct.tumours), 45.0)
    assert ct.image.dtype == np.float32 and ct.image.shape == p.shape
    assert not (ct.liver & ~ct.body).any() and not (p.mask & ~ct.body).any()


@pytest.mark.parametrize("axis", [1, 2])
def test_ct_blur_is_in_mm_on_anisotropic_grid(axis):
    """A step edge blurred by a Gaussian of sigma mm has a 10-90% rise of 2.563 sigma mm,
    whatever the voxel size (erf profile)."""
    spacing = (1.0, 0.4, 0.7)
    shape = (9, 120, 80)
    mask = np.zeros(shape, dtype=bool)
    sl = [slice(None)] * 3
    sl[axis] = slice(shape[axis] // 2, None)
    mask[tuple(sl)] = True
    sigma = 1.5
    ct = render_ct(mask, spacing, blur_mm=sigma, noise_sd=0.0, parenchyma_hu=0.0,
                   vessel_hu=100.0, body_hu=0.0, air_hu=0.0)
    centre = [s // 2 for s in shape]
    line = [slice(c, c + 1) for c in centre]
    line[axis] = slice(None)
    prof = ct.image[tuple(line)].ravel().astype(float)
    x = np.arange(shape[axis]) * spacing[axis]
    x10 = np.interp(10.0, prof, x)
    x90 = np.interp(90.0, prof, x)
    assert abs((x90 - x10) / (2.5631 * sigma) - 1) < 0.05
    # the 50% level sits half a voxel before the first vessel voxel centre
    x50 = np.interp(50.0, prof, x)
    assert abs(x50 - (shape[axis] // 2 - 0.5) * spacing[axis]) < 0.05


def test_ct_from_mask_and_validation(phantom):
    with pytest.raises(ValueError, match="spacing"):
        render_ct(phantom, spacing=(2.0, 2.0, 2.0))
    with pytest.raises(ValueError, match="phantom_or_mask"):
        render_ct(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="noise_sd"):
        render_ct(phantom, noise_sd=-1.0)
    with pytest.raises(ValueError, match="blur_mm"):
        render_ct(phantom, blur_mm=-0.5)
    with pytest.raises(ValueError, match="tumours"):
        render_ct(phantom, tumours=-1)
    with pytest.raises(ValueError, match="vessel_hu"):
        render_ct(phantom, vessel_hu=float("nan"))
    with pytest.raises(ValueError, match="tumour_radius"):
        render_ct(phantom, tumour_radius=(3.0, 1.0))
    mask = np.array(phantom.mask, dtype=np.uint8)
    before = mask.copy()
    ct = render_ct(mask, phantom.spacing, seed=0)
    assert np.array_equal(mask, before)
    assert np.array_equal(ct.image, render_ct(phantom, seed=0).image)


# ----------------------------------------------------------------------------- PhantomSpec
def test_phantom_spec_resolves_defaults_and_generates_make_phantom():
    import dataclasses

    from vesseltree.synthetic import PhantomSpec

    spec = PhantomSpec(shape=(30, 40, 40), spacing=(1.0, 0.5, 0.5), seed=3, depth=3)
    assert spec.min_radius == 1.0 and spec.clearance == 2.0 and spec.default_root
    assert spec.root_radius == max(0.05 * 19.5, 2.0) and spec.shape == (30, 40, 40)
    a = spec.generate()
    b = make_phantom((30, 40, 40), (1.0, 0.5, 0.5), seed=3, depth=3)
    assert np.array_equal(a.mask, b.mask) and a.segments.equals(b.segments)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.depth = 4


@pytest.mark.parametrize("kwargs, name", [
    (dict(taper=1.0), "taper"), (dict(asymmetry=1.5), "asymmetry"),
    (dict(curvature=180.0), "curvature"), (dict(branch_angle=180.0), "branch_angle"),
    (dict(length_ratio=(2.0, 1.0)), "length_ratio"), (dict(max_tries=0), "max_tries"),
    (dict(shape=(1, 40, 40)), "shape"), (dict(root_radius=0.5), "root_radius"),
])
def test_phantom_spec_rejects_bad_fields(kwargs, name):
    from vesseltree.synthetic import PhantomSpec

    with pytest.raises((ValueError, TypeError), match=name):
        PhantomSpec(**kwargs)

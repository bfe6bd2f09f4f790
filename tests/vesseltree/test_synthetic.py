"""Tests of vesseltree.synthetic against analytic shapes and brute-force references."""
from __future__ import annotations

import numpy as np
import pytest

from vesseltree.synthetic import rasterize_segments, torus, tube


def _grid(shape, spacing):
    """Voxel-centre coordinates (mm) of a grid, each of shape ``shape``."""
    return np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")


def _brute_tube(shape, spacing, a, b, r0, r1, caps):
    """Centre test of a tapered tube written directly with numpy (independent reference)."""
    z, y, x = _grid(shape, spacing)
    p = np.stack([z, y, x], axis=-1) - np.asarray(a, float)
    v = np.asarray(b, float) - np.asarray(a, float)
    length = np.linalg.norm(v)
    u = v / length
    t = p @ u
    tc = np.clip(t, 0, length)
    r = r0 + (r1 - r0) * tc / length
    if caps == "flat":
        perp = np.linalg.norm(p - t[..., None] * u, axis=-1)
        return (perp <= r) & (t >= 0) & (t <= length)
    return np.linalg.norm(p - tc[..., None] * u, axis=-1) <= r


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
    # brute force: f_k = distance to axis k - r_k(t) at every voxel centre
    z, y, x = _grid(shape, spacing)
    p = np.stack([z, y, x], axis=-1)
    fs, rs = [], []
    for k in range(n):
        v = ends[k] - starts[k]
        length = np.linalg.norm(v)
        u = v / length
        tc = np.clip((p - starts[k]) @ u, 0, length)
        rk = r0[k] + (r1[k] - r0[k]) * tc / length
        fs.append(np.linalg.norm(p - starts[k] - tc[..., None] * u, axis=-1) - rk)
        rs.append(rk)
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

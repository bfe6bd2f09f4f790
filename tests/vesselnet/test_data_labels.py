"""Label resampling rules against brute force, scipy, and rasterised phantoms (the truth)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from vesselnet.data.labels import LABEL_RULES, centerline_voxels, resample_label, signed_distance
from vesselnet.data.transform import plan_grid

S26 = np.ones((3, 3, 3), dtype=bool)


def _line(shape, a, b, n=400):
    m = np.zeros(shape, dtype=bool)
    p = np.rint(np.linspace(a, b, n)).astype(int)
    m[tuple(p.T)] = True
    return m


def test_nearest_and_linear_equal_brute_force():
    rng = np.random.default_rng(0)
    m = ndimage.gaussian_filter(rng.random((14, 15, 16)), 1.2) > 0.52
    # odd box sizes: no sample falls exactly halfway between two voxels (ties)
    t = plan_grid(m.shape, (1.6, 0.8, 0.8), np.eye(4), ((1, 2, 1), (14, 13, 14)), target_shape=(9, 11, 17),
                  isotropic=False)
    j = np.indices(t.shape).reshape(3, -1).T
    i = t.to_original(j)
    ref_nearest = m[tuple(np.clip(np.floor(i + 0.5).astype(int), 0, np.asarray(m.shape) - 1).T)].reshape(t.shape)
    assert np.array_equal(resample_label(m, (1.6, 0.8, 0.8), t, "nearest"), ref_nearest)
    lin = ndimage.map_coordinates(m.astype(np.float32), i.T, order=1, mode="nearest").reshape(t.shape)
    for level in (0.5, 0.3):
        assert np.array_equal(resample_label(m, (1.6, 0.8, 0.8), t, "linear", threshold=level), lin >= level)


def test_thin_diagonal_vessel_linear_breaks_it_centerline_keeps_it_connected_and_in_place():
    shape = (40, 40, 40)
    a, b = np.array([3.0, 4.0, 5.0]), np.array([36.0, 33.0, 35.0])
    m = _line(shape, a, b)  # a 26-connected, one-voxel-thick oblique vessel
    assert ndimage.label(m, S26)[1] == 1
    t = plan_grid(shape, (1, 1, 1), np.eye(4), target_shape=(27, 27, 27))  # 1.48 mm voxels
    lin = resample_label(m, (1, 1, 1), t, "linear")
    assert ndimage.label(lin, S26)[1] != 1  # linear-then-0.5 loses or breaks it
    cl = resample_label(m, (1, 1, 1), t, "linear_centerline")
    assert ndimage.label(cl, S26)[1] == 1
    # every kept voxel lies within one prepared voxel diagonal of the true centre line
    pts = t.to_original(np.argwhere(cl))
    d = np.linalg.norm(np.cross(pts - a, (b - a) / np.linalg.norm(b - a)), axis=1)
    assert d.max() <= np.sqrt(3) / 2 * t.step[0] + 0.5
    # and its end points reach the line's ends (no shortening)
    ends = t.to_prepared(np.stack([a, b]))
    assert np.min(np.linalg.norm(np.argwhere(cl) - ends[0], axis=1)) <= 1.0
    assert np.min(np.linalg.norm(np.argwhere(cl) - ends[1], axis=1)) <= 1.0


def test_centerline_adds_nothing_to_a_thick_vessel():
    z, y, x = np.indices((30, 30, 30))
    tube = (y - 15.2) ** 2 + (x - 14.7) ** 2 <= 5.0 ** 2
    t = plan_grid(tube.shape, (1, 1, 1), np.eye(4), target_shape=(21, 21, 21))
    assert np.array_equal(resample_label(tube, (1, 1, 1), t, "linear_centerline"),
                          resample_label(tube, (1, 1, 1), t, "linear"))


def test_centerline_upsampling_keeps_26_connected_chain():
    m = _line((12, 30, 30), (1, 2, 3), (10, 27, 26))
    t = plan_grid(m.shape, (3.0, 1.0, 1.0), np.eye(4), target_spacing=(0.7, 0.7, 0.7))
    j = centerline_voxels(m, t)
    vol = np.zeros(t.shape, dtype=bool)
    vol[tuple(j.T)] = True
    assert ndimage.label(vol, S26)[1] == 1


def test_signed_distance_sign_and_halfway_zero():
    m = np.zeros((9, 9, 9), dtype=bool)
    m[:, :, :4] = True
    phi = signed_distance(m, (1.0, 1.0, 2.0))
    assert np.all(phi[m] < 0) and np.all(phi[~m] > 0)
    assert phi[4, 4, 3] == -2.0 and phi[4, 4, 4] == 2.0  # zero crossing halfway


def test_identity_grid_reproduces_the_mask_for_every_rule():
    rng = np.random.default_rng(3)
    m = ndimage.gaussian_filter(rng.random((16, 16, 16)), 1.0) > 0.5
    t = plan_grid(m.shape, (1, 1, 1), np.eye(4))
    for rule in LABEL_RULES:
        assert np.array_equal(resample_label(m, (1, 1, 1), t, rule), m), rule


def test_empty_mask_and_bad_rule():
    t = plan_grid((8, 8, 8), (1, 1, 1), np.eye(4), target_shape=(4, 4, 4))
    for rule in LABEL_RULES:
        assert not resample_label(np.zeros((8, 8, 8), bool), (1, 1, 1), t, rule).any()
    with pytest.raises(ValueError, match="label_resampling: expected one of"):
        resample_label(np.zeros((8, 8, 8), bool), (1, 1, 1), t, "cubic")
    with pytest.raises(ValueError, match="mask: expected shape"):
        resample_label(np.zeros((8, 8, 9), bool), (1, 1, 1), t)


def _dice(a, b):
    return 2 * (a & b).sum() / max(1, a.sum() + b.sum())


@pytest.mark.parametrize("seed, native_sp, prepared_sp", [
    (3, (1.0, 1.0, 1.0), (1.4, 1.4, 1.4)),   # downsampling
    (4, (2.0, 0.8, 0.8), (1.3, 1.3, 1.3)),   # IRCADb-like: z up, y/x down
])
def test_against_the_phantom_rasterised_on_the_prepared_grid(seed, native_sp, prepared_sp):
    """The truth: the same tubes rasterised directly on the prepared grid.

    Thin phantom vessels (radius down to 0.6 mm) drawn on the native grid are resampled;
    the default rule must match the direct rasterisation better than nearest neighbour,
    keep the volume (no dilation), and not break the tree into more pieces than the native
    mask has.
    """
    from vesseltree.synthetic import make_phantom, rasterize_segments

    ph = make_phantom((40, 48, 48), (1.0, 1.0, 1.0), seed=seed, min_radius=0.6)
    pc = ph.pieces
    p0, p1 = pc[["z0", "y0", "x0"]].to_numpy(), pc[["z1", "y1", "x1"]].to_numpy()
    r0, r1 = pc["radius_start_mm"].to_numpy(), pc["radius_end_mm"].to_numpy()
    shape = tuple(int(round(e / s)) for e, s in zip((40, 48, 48), native_sp))
    native = rasterize_segments(shape, p0, p1, r0, r1, native_sp)[0]
    t = plan_grid(native.shape, native_sp, np.eye(4), target_spacing=prepared_sp)
    # truth on the prepared grid: voxel j sits at (origin + j * step) * native spacing mm
    shift = np.asarray(t.origin) * native_sp
    truth = rasterize_segments(t.shape, p0 - shift, p1 - shift, r0, r1, t.spacing)[0]
    out = {r: resample_label(native, native_sp, t, r) for r in ("nearest", "linear", "linear_centerline")}
    dice = {r: _dice(m, truth) for r, m in out.items()}
    pieces = {r: ndimage.label(m, S26)[1] for r, m in out.items()}
    assert dice["linear_centerline"] > dice["nearest"]
    assert abs(out["linear_centerline"].sum() / truth.sum() - 1) < 0.05
    assert pieces["linear_centerline"] <= ndimage.label(native, S26)[1]  # no new breaks

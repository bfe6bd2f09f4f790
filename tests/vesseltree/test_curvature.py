"""Branch curvature and torsion (vesseltree.curvature).

References: the analytic helix (radius a, pitch 2 pi b: curvature a / (a^2 + b^2), torsion
b / (a^2 + b^2)) and circle (1 / R, 0), as exact points and as rasterised tubes thinned by
the pipeline; a closed curve against its periodic extension; rigid motions and mirrors.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from vesseltree.curvature import (
    GEOMETRY_COLUMNS, branch_geometry, centerline_points, curve_geometry,
)
from vesseltree.synthetic import rasterize_segments, torus, tube
from vesseltree.tree import analyze

ANISO = (1.5, 0.9, 0.9)


def helix_points(a, b, turns, n=1200):
    """Right-handed helix in (x, y, z): (a cos t, a sin t, b t)."""
    t = np.linspace(0.0, 2 * np.pi * turns, n)
    return np.stack([a * np.cos(t), a * np.sin(t), b * t], axis=1)


def _analyze(mask, spacing, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fewer branches than scales
        return analyze(mask, spacing, **kw)


def helix_tree(a, b, spacing, rng, turns=2, radius=2.5):
    """A helix tube rasterised from 240 straight pieces, analysed; axes (z, y, x) = (z, y, x)
    of the helix, so world (x, y, z) is the helix's own frame."""
    p = helix_points(a, b, turns, n=int(120 * turns) + 1)[:, ::-1]  # -> (z, y, x)
    p = p - p.min(axis=0) + radius + 3 + rng.uniform(0, 1, 3)
    sp = np.asarray(spacing)
    shape = tuple(int(np.ceil((p[:, i].max() + radius + 3) / sp[i])) for i in range(3))
    mask, _, _ = rasterize_segments(shape, p[:-1], p[1:], radius, radius, spacing, supersample=2)
    return _analyze(mask, spacing)


def test_exact_helix_and_handedness():
    a, b = 12.0, 5.0
    g = curve_geometry(helix_points(a, b, 2), window_mm=8.0)
    assert g["curvature_mean"] == pytest.approx(a / (a * a + b * b), rel=0.01)
    assert g["torsion_mean"] == pytest.approx(b / (a * a + b * b), rel=0.01)
    # per sample too, away from the ends
    s = g["s"]
    mid = (s > 10) & (s < s[-1] - 10)
    np.testing.assert_allclose(g["curvature"][mid], a / (a * a + b * b), rtol=0.01)
    np.testing.assert_allclose(g["torsion"][mid], b / (a * a + b * b), rtol=0.02)
    mirrored = curve_geometry(helix_points(a, b, 2) * [1, -1, 1], window_mm=8.0)
    assert mirrored["torsion_mean"] == pytest.approx(-g["torsion_mean"], rel=1e-9)
    assert mirrored["curvature_mean"] == pytest.approx(g["curvature_mean"], rel=1e-9)


def test_rigid_motion_invariance_and_scaling():
    rng = np.random.default_rng(2)
    p = helix_points(8.0, 3.0, 1.5)
    rot, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot *= np.sign(np.linalg.det(rot))  # a rotation, not a mirror
    g0 = curve_geometry(p, window_mm=6.0)
    g1 = curve_geometry(p @ rot.T + [5.0, -3.0, 2.0], window_mm=6.0)
    assert g1["curvature_mean"] == pytest.approx(g0["curvature_mean"], rel=1e-6)
    assert g1["torsion_mean"] == pytest.approx(g0["torsion_mean"], rel=1e-6)
    g2 = curve_geometry(2.0 * p, window_mm=12.0)
    assert g2["curvature_mean"] == pytest.approx(g0["curvature_mean"] / 2, rel=1e-6)
    assert g2["torsion_mean"] == pytest.approx(g0["torsion_mean"] / 2, rel=1e-6)


def test_exact_circle_closed():
    rng = np.random.default_rng(4)
    r = 10.0
    th = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    rot, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    c = np.stack([r * np.cos(th), r * np.sin(th), 0 * th], axis=1) @ rot.T
    g = curve_geometry(c, window_mm=6.0, closed=True)
    assert g["curvature_mean"] == pytest.approx(1 / r, rel=0.02)
    assert abs(g["torsion_mean"]) < 1e-3 / r
    assert g["length_mm"] == pytest.approx(2 * np.pi * r, rel=0.01)


def test_closed_curve_matches_its_periodic_extension():
    """The closing step of a loop (frame holonomy) gives the total turn that the open curve
    traversed three times shows over its middle period."""
    th = np.linspace(0, 2 * np.pi, 1200, endpoint=False)
    rad = 20 + 3 * np.cos(3 * th)
    k = np.stack([rad * np.cos(2 * th), rad * np.sin(2 * th), 3 * np.sin(3 * th)], axis=1)
    g = curve_geometry(k, window_mm=4.0, closed=True)
    ge = curve_geometry(np.vstack([k, k, k]), window_mm=4.0, step_mm=g["s"][1])
    s, length = ge["s"], g["length_mm"]
    mid = (s >= length) & (s < 2 * length)
    total = ge["torsion"][mid].sum() * (s[1] - s[0])
    assert abs(g["torsion_mean"] * length - total) < 0.01 * g["curvature_mean"] * length
    assert g["curvature_mean"] == pytest.approx(ge["curvature"][mid].mean(), rel=1e-3)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), ANISO])
@pytest.mark.parametrize("a,b", [(12.0, 5.0), (8.0, 8.0)])
def test_thinned_helix_tube(spacing, a, b):
    """Issue 14: within 5% of a / (a^2 + b^2) and b / (a^2 + b^2) away from the ends."""
    rng = np.random.default_rng(int(a + b))
    tree = helix_tree(a, b, spacing, rng)
    geo = branch_geometry(tree)
    assert list(geo.columns) == list(GEOMETRY_COLUMNS)
    bid = tree.branches["length_mm"].idxmax()
    assert tree.branches.at[bid, "length_mm"] > 100
    assert geo.at[bid, "curvature_per_mm"] == pytest.approx(a / (a * a + b * b), rel=0.05)
    assert geo.at[bid, "torsion_per_mm"] == pytest.approx(b / (a * a + b * b), rel=0.05)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), ANISO])
def test_thinned_ring_is_a_circle(spacing):
    big, small = 14.0, 2.5
    sp = np.asarray(spacing)
    shape = tuple(int(np.ceil(2 * (big + small + 3) / s)) for s in sp)
    shape = (int(np.ceil((2 * small + 6) / sp[0])),) + shape[1:]
    centre = np.array(shape) * sp / 2 + 0.23
    mask = torus(shape, centre, big, small, spacing, axis=0, supersample=2)
    tree = _analyze(mask, spacing)
    assert (tree.branches["kind"] == "cycle").sum() == 1
    geo = branch_geometry(tree)
    bid = tree.branches.index[tree.branches["kind"] == "cycle"][0]
    assert geo.at[bid, "curvature_per_mm"] == pytest.approx(1 / big, rel=0.05)
    assert abs(geo.at[bid, "torsion_per_mm"]) < 0.05 / big


def test_straight_tube_has_no_curvature_and_centroids_on_axis():
    rng = np.random.default_rng(8)
    sp = (1.0, 1.0, 1.0)
    start = np.array([4.0, 6.3, 5.1]) + rng.uniform(0, 1, 3)
    end = np.array([40.0, 24.8, 30.2])
    mask = tube((46, 32, 36), start, end, 3.0, sp, supersample=2)
    tree = _analyze(mask, sp)
    pts = centerline_points(tree)
    d = (end - start) / np.linalg.norm(end - start)

    def off_axis(p):
        t = (p - start) @ d
        inner = (t > 6) & (t < np.linalg.norm(end - start) - 6)
        return np.median(np.linalg.norm(np.cross(p - start, d), axis=1)[inner])

    skel_off = off_axis(tree.skeleton_coords * np.asarray(sp))
    assert off_axis(pts) < min(0.25, 0.6 * skel_off)
    geo = branch_geometry(tree, points=pts)
    bid = tree.branches["length_mm"].idxmax()
    assert geo.at[bid, "curvature_per_mm"] < 0.01


def test_point_and_short_branches_are_nan():
    mask = np.zeros((20, 20, 20), bool)
    mask[2:5, 2:5, 2:5] = True  # a blob: one point branch
    mask[10, 10, 5:8] = True  # a 3-voxel line
    tree = _analyze(mask, (1.0, 1.0, 1.0))
    geo = branch_geometry(tree)
    assert geo.isna().all().all()
    assert (geo.index == tree.branches.index).all()
    # a 5-voxel branch alone in its component: every window holds all its voxels, so the
    # centerline points coincide (found on 3D-IRCADb 1.1): NaN, not an error
    box = np.zeros((12, 9, 9), bool)
    box[3:8, 3:6, 3:6] = True
    skel = np.zeros_like(box)
    skel[3:8, 4, 4] = True
    tree = _analyze(box, (1.0, 1.0, 1.0), skeleton=skel)
    assert tree.branches["n_voxels"].tolist() == [5]
    assert np.ptp(centerline_points(tree), axis=0).max() < 1e-9
    assert branch_geometry(tree).isna().all().all()


def test_bad_input():
    with pytest.raises(ValueError, match="points"):
        curve_geometry(np.zeros((5, 2)), window_mm=3.0)
    with pytest.raises(ValueError, match="points"):
        curve_geometry(np.ones((5, 3)), window_mm=3.0)
    with pytest.raises(ValueError, match="points"):
        curve_geometry([[0, 0, 0], [1, np.nan, 0]], window_mm=3.0)
    with pytest.raises(ValueError, match="window_mm"):
        curve_geometry(helix_points(3, 1, 1), window_mm=0.0)
    tree = helix_tree(8.0, 3.0, (1.0, 1.0, 1.0), np.random.default_rng(0), turns=1)
    with pytest.raises(ValueError, match="points"):
        branch_geometry(tree, points=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="window_mm"):
        branch_geometry(tree, window_mm=-1.0)


def test_planar_s_curve_has_no_torsion_through_its_inflections():
    """y = A sin(x / L): planar, so zero torsion although the Frenet normal flips at every
    inflection; the mean curvature is the arc-length mean of the analytic
    |y''| / (1 + y'^2)^(3/2), integrated densely."""
    amp, wave = 6.0, 8.0
    x = np.linspace(0, 4 * np.pi * wave, 20001)
    y = amp * np.sin(x / wave)
    d1 = amp / wave * np.cos(x / wave)
    d2 = -amp / wave**2 * np.sin(x / wave)
    ds = np.sqrt(1 + d1**2)
    kappa = np.abs(d2) / ds**3
    inner = (x > 0.5 * np.pi * wave) & (x < 3.5 * np.pi * wave)  # whole half waves
    ref = np.sum(kappa[inner] * ds[inner]) / np.sum(ds[inner])
    pts = np.stack([x, y, 0 * x], axis=1)[::20]
    g = curve_geometry(pts, window_mm=4.0)
    s = g["s"]
    # the curve's arc length at x = 0.5 pi wave and 3.5 pi wave
    arc = np.concatenate(([0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))))
    lo, hi = np.interp([0.5 * np.pi * wave, 3.5 * np.pi * wave], x, arc)
    sel = (s >= lo) & (s <= hi)
    assert g["curvature"][sel].mean() == pytest.approx(ref, rel=0.02)
    assert abs(g["torsion_mean"]) < 1e-3 * ref

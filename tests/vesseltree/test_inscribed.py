"""Inscribed-sphere radius (``local_radius(method="inscribed")``, vesseltree.inscribed).

References: analytic circular and elliptic tubes (the elliptic tube is an affine image of
``vesseltree.synthetic.tube``, semi-axes from the quadratic form of that map), balls, and
scikit-image's ``regionprops`` inertia tensor on the sections of a straight prism.
"""
from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import regionprops

from vesseltree.inscribed import VMTK_RADIUS_NAME
from vesseltree.radius import local_radius
from vesseltree.skeleton import skeletonize
from vesseltree.synthetic import tube
from vesseltree.tree import analyze

ANISO = (1.5, 0.9, 0.9)


def elliptic_tube(shape, centre, direction, radius, length, spacing, stretch, supersample=2):
    """Straight elliptic tube with flat parallel caps, from :func:`vesseltree.synthetic.tube`.

    ``tube`` is drawn at the spacing ``spacing * stretch``: voxel ``i`` is inside when
    ``K (i * spacing)`` lies in a circular tube of ``radius`` (K = diag(stretch)), so the
    mask is the digitisation of ``K^-1`` (circular tube), an elliptic cylinder. Its axis is
    ``u ~ K^-1 d`` and its section across ``u`` is the ellipse ``x^T M x <= radius**2``,
    ``M = K (I - d d^T) K`` restricted to the plane orthogonal to ``u``.

    Returns ``mask, a, b, u, axis_length`` (semi-axes a <= b and length in mm).
    """
    sp = np.asarray(spacing, float)
    k = np.asarray(stretch, float)
    d = np.asarray(direction, float)
    d = d / np.linalg.norm(d)
    c = np.asarray(centre, float) * k
    mask = tube(shape, c - d * length / 2, c + d * length / 2, radius, sp * k,
                supersample=supersample)
    m = np.diag(k) @ (np.eye(3) - np.outer(d, d)) @ np.diag(k)
    u = d / k
    axis_length = length * np.linalg.norm(u)
    u = u / np.linalg.norm(u)
    q, _ = np.linalg.qr(np.column_stack([u, np.eye(3)]))
    plane = q[:, 1:3]  # orthonormal basis of the section plane
    lam = np.linalg.eigvalsh(plane.T @ m @ plane)
    return mask, radius / np.sqrt(lam[1]), radius / np.sqrt(lam[0]), u, axis_length


def _oblique_case(rng, spacing, radius_vox, stretch):
    sp = np.asarray(spacing, float)
    h = sp.min()
    r = radius_vox * h
    length = max(40.0, 8 * radius_vox) * h
    shape = tuple(int(np.ceil((length + 4 * r * max(stretch) + 8 * h) / s)) for s in sp)
    centre = np.array(shape) * sp / 2 + rng.uniform(-0.5, 0.5, 3) * sp
    d = rng.normal(size=3)
    return centre, elliptic_tube(shape, centre, d, r, length, sp, stretch)


def _interior_median(mask, spacing, centre, u, b, method="inscribed"):
    """Median local radius over the skeleton voxels farther than b from the skeleton's ends
    (thinning already stops about a radius short of a flat cap), and over all of them."""
    sc, r = local_radius(mask, skeletonize(mask), spacing, method=method, output="points")
    t = (sc * np.asarray(spacing) - centre) @ u
    keep = np.abs(t) < np.abs(t).max() - b
    assert keep.sum() >= 5
    return float(np.median(r[keep])), float(np.median(r))


def test_vmtk_array_name():
    assert VMTK_RADIUS_NAME == "MaximumInscribedSphereRadius"


def test_elliptic_tube_helper_matches_its_geometry():
    rng = np.random.default_rng(3)
    # a stretch across the axis only: the section is exactly R/kappa by R
    mask, a, b, u, _ = elliptic_tube((40, 40, 60), (20, 20, 30), (0, 1, 0), 6.0, 30.0,
                                     (1, 1, 1), (1, 1, 1.5))
    assert a == pytest.approx(4.0) and b == pytest.approx(6.0)
    np.testing.assert_allclose(np.abs(u), [0, 1, 0], atol=1e-12)
    # oblique: the voxel volume is pi a b times the axis length (a prism between parallel caps)
    centre, (mask, a, b, u, ln) = _oblique_case(rng, ANISO, 4, (1, 1.6, 1))
    assert a < b
    vol = mask.sum() * np.prod(ANISO)
    assert vol == pytest.approx(np.pi * a * b * ln, rel=0.03)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), ANISO])
@pytest.mark.parametrize("radius_vox", [1.5, 3.0, 6.0])
def test_circular_tube_reads_its_radius(spacing, radius_vox):
    rng = np.random.default_rng(int(radius_vox * 10))
    h = min(spacing)
    for _ in range(2):
        centre, (mask, a, b, u, _) = _oblique_case(rng, spacing, radius_vox, (1, 1, 1))
        interior, whole = _interior_median(mask, spacing, centre, u, b)
        assert abs(interior - a) <= 0.2 * h
        assert abs(whole - a) <= 0.2 * h


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), ANISO])
@pytest.mark.parametrize("radius_vox,stretch", [(3.0, (1, 1, 1.7)), (5.0, (1.7, 1, 1)),
                                                (4.0, (1, 1.8, 1))])
def test_elliptic_tube_reads_minor_semi_axis(spacing, radius_vox, stretch):
    """Issue 14: semi-axes a < b, the estimate reads a within 0.2 voxel."""
    rng = np.random.default_rng(int(radius_vox * 7) + len(spacing))
    h = min(spacing)
    for _ in range(2):
        centre, (mask, a, b, u, _) = _oblique_case(rng, spacing, radius_vox, stretch)
        assert b / a > 1.25  # a genuinely flattened section
        ins, _ = _interior_median(mask, spacing, centre, u, b)
        corr, _ = _interior_median(mask, spacing, centre, u, b, method="corrected")
        assert abs(ins - a) <= 0.2 * h
        # the area-equivalent radius is sqrt(a b), larger than the inscribed one
        assert abs(corr - np.sqrt(a * b)) <= 0.3 * h
        assert ins < corr


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.2, 0.7, 0.9)])
def test_prism_sections_match_skimage_moments(spacing):
    """A straight prism along z with a straight skeleton: each window is a stack of whole
    sections, so the estimate is 2 sqrt(lambda_min) of the section's inertia tensor
    (scikit-image, with spacing) plus the box variance h**2 / 12 per axis."""
    rng = np.random.default_rng(5)
    sec = np.zeros((24, 26), bool)
    yy, xx = np.mgrid[:24, :26]
    sec |= ((yy - 11.3) / 7.2) ** 2 + ((xx - 12.6) / 4.1) ** 2 <= 1  # an ellipse
    sec[3:6, 10:16] = True  # and a bump: not an ellipse any more
    sec = sec & (rng.random(sec.shape) < 0.97) | (sec & ~np.roll(sec, 1, 0))
    mask = np.repeat(sec[None], 60, axis=0)
    skel = np.zeros_like(mask)
    cy, cx = np.argwhere(sec).mean(axis=0).round().astype(int)
    assert sec[cy, cx]
    skel[:, cy, cx] = True
    _, r = local_radius(mask, skel, spacing, method="inscribed", output="points")
    t = np.array(regionprops(sec.astype(np.uint8), spacing=spacing[1:])[0].inertia_tensor)
    # inertia tensor [[var_x, -cov], [-cov, var_y]] (mm^2) -> covariance in (y, x) order
    cov = np.array([[t[1, 1], -t[0, 1]], [-t[0, 1], t[0, 0]]])
    cov += np.diag(np.asarray(spacing[1:]) ** 2 / 12)
    expected = 2 * np.sqrt(np.linalg.eigvalsh(cov)[0])
    np.testing.assert_allclose(r[25:35], expected, rtol=1e-9)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), ANISO])
def test_ball_thinned_to_a_point_reads_its_radius(spacing):
    sp = np.asarray(spacing)
    radius = 4.0 * sp.min()
    shape = tuple(int(np.ceil(2 * radius / s)) + 5 for s in sp)
    centre = np.array(shape) * sp / 2 + 0.17 * sp
    ball = tube(shape, centre, centre, radius, spacing, caps="round", supersample=2)
    skel = skeletonize(ball)
    assert skel.sum() == 1
    _, r = local_radius(ball, skel, spacing, method="inscribed", output="points")
    assert abs(r[0] - radius) <= 0.2 * sp.min()


def test_linear_in_isotropic_spacing_and_inputs_untouched():
    rng = np.random.default_rng(11)
    _, (mask, *_rest) = _oblique_case(rng, (1.0, 1.0, 1.0), 2.5, (1, 1.5, 1))
    skel = skeletonize(mask)
    m0, s0 = mask.copy(), skel.copy()
    r1 = local_radius(mask, skel, 1.0, method="inscribed")
    r3 = local_radius(mask, skel, 3.0, method="inscribed")
    np.testing.assert_allclose(r3, 3.0 * r1, rtol=1e-5)
    np.testing.assert_array_equal(mask, m0)
    np.testing.assert_array_equal(skel, s0)
    assert (r1[skel] > 0).all() and (r1[~skel] == 0).all()


def test_components_do_not_mix():
    """A thin tube beside a thick one (separate components) keeps its own radius."""
    sp = (1.0, 1.0, 1.0)
    thick = tube((40, 40, 60), (20, 12, 5), (20, 12, 55), 6.0, sp, supersample=2)
    thin = tube((40, 40, 60), (20, 27, 5), (20, 27, 55), 2.0, sp, supersample=2)
    assert not (thick & thin).any()
    mask = thick | thin
    sc, r = local_radius(mask, skeletonize(mask), sp, method="inscribed", output="points")
    mid = (sc[:, 2] > 15) & (sc[:, 2] < 45)
    assert abs(np.median(r[mid & (sc[:, 1] > 20)]) - 2.0) <= 0.2
    assert abs(np.median(r[mid & (sc[:, 1] < 20)]) - 6.0) <= 0.2


def test_method_names_and_analyze_refuses_it_until_wired():
    mask = np.zeros((5, 5, 5), bool)
    mask[2, 2, 1:4] = True
    with pytest.raises(ValueError, match="method.*inscribed"):
        local_radius(mask, mask, method="inscribe")
    # analyze only knows the two estimators it computes; a silent fall-back would be wrong
    with pytest.raises(ValueError, match="radius_method"):
        analyze(mask, radius_method="inscribed")


def test_empty_skeleton():
    mask = np.zeros((4, 4, 4), bool)
    out = local_radius(mask, mask, method="inscribed")
    assert out.shape == mask.shape and not out.any()


def test_branching_phantom_against_its_true_radii():
    """Curved circular tubes with junctions: the branch medians (Eq. 2) of the estimate
    against Eq. 2 over the phantom's true radius field on the same skeleton voxels."""
    from vesseltree.radius import branch_radius
    from vesseltree.synthetic import make_phantom

    spacing = (1.5, 0.8, 0.8)
    h = min(spacing)
    ph = make_phantom((70, 150, 150), spacing, seed=0, root_radius=8 * h, min_radius=1.5 * h,
                      depth=5)
    tree = analyze(ph.mask, spacing)
    ids = tree.branches.index.to_numpy()
    nb = int(ids.max())
    truth = branch_radius(ph.radius[tuple(tree.skeleton_coords.T)], tree.skeleton_branch, nb)
    _, ins = local_radius(ph.mask, tree.skeleton, spacing, method="inscribed", output="points")
    err = (branch_radius(ins, tree.skeleton_branch, nb) - truth)[ids] / h
    assert len(ids) >= 20
    assert np.median(np.abs(err)) <= 0.15
    assert abs(np.median(err)) <= 0.1

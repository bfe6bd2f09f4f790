"""Inscribed-sphere radius: the radius VMTK reports as ``MaximumInscribedSphereRadius``.

VMTK's centerlines run through the centres of the maximal inscribed balls of the vessel, and
its radius array is the radius of the largest ball centred on the centerline that stays inside
the vessel. On a circular tube this is the tube radius, like the other two estimators of
:mod:`vesseltree.radius`; on an elliptic section with semi-axes a < b it is a, while the
area-equivalent radius (``method="corrected"``) is sqrt(a b) and larger. This module gives a
sub-voxel estimate of that radius from a binary mask.

Method (section moments)
------------------------
Every vessel voxel is given to its nearest skeleton voxel (the Voronoi partition of the mask
by the skeleton in mm, the one behind Eq. 3 and the corrected estimator), so skeleton voxel
``i`` owns the voxels around it. Over a window ``W_k`` of the nearest skeleton voxels of
``gamma_k`` the owned voxels form a slab of the vessel of centreline length ``L`` (the sum of
the voxels' length elements, :func:`vesseltree._kernels.radius_nb.length_elements`). Its
second-moment matrix, in mm^2,

.. math::

    C_k = \\operatorname{cov}\\{x_v : v \\text{ owned by } W_k\\}
          + \\tfrac{1}{12}\\operatorname{diag}(h_z^2, h_y^2, h_x^2)

is that of the continuous slab: the covariance of voxel centres is the covariance of the
union of voxel boxes minus the box variance ``h**2 / 12`` per axis (Sheppard's correction),
which is where the anisotropic spacing ``h`` enters. A slab of an elliptic cylinder with
semi-axes a <= b, cut by two parallel planes, has the eigenvalues ``a**2 / 4`` and
``b**2 / 4`` across the axis and ``L**2 / 12`` along it, whatever the orientation of the
axis, so as soon as ``L > sqrt(3) b`` the two smallest eigenvalues of ``C_k`` are the
section's and

.. math::

    \\hat r^{ins}_k = 2 \\sqrt{\\lambda_{min}(C_k)}, \\qquad
    \\hat b_k = 2 \\sqrt{\\lambda_{mid}(C_k)}

no axis direction needed. The window therefore grows (up to ``max_window`` skeleton voxels)
until its length reaches ``2.5 b``: the eigenvalues are recomputed with the larger window
until the window no longer grows. The window's centroid is the sub-voxel centre of the
section, so the radius is measured from the vessel's axis, not from the skeleton voxel
(thinning leaves the skeleton up to about one voxel off the axis, which would cost a
distance-based estimate up to a voxel).

The estimate is the radius of the largest circle inside the section's equivalent ellipse
(the ellipse with the same second moments, as ``skimage.measure.regionprops`` defines its
axis lengths), centred on the section's centroid. It equals the largest ball centred on the
centerline for circular and elliptic sections (tested within 0.2 voxel at isotropic and
1.5 x 0.9 x 0.9 mm spacing), and it is sub-voxel accurate because it averages over all the
voxels of the slab instead of taking a minimum over a noisy digital wall. On sections far
from an ellipse it follows the ellipse: a square of side w reads ``w / sqrt(3)`` = 0.58 w
where the largest inscribed circle is 0.5 w. Local values at junctions (where the window
spans several branches) and at free ends (where the window is shorter than the vessel is
wide) are off; the branch median of Eq. 2 discards them. A component whose skeleton is a
single voxel (a blob) is read with the ball model instead: a ball of radius R has
eigenvalues ``R**2 / 5``, so ``r = sqrt(5 lambda_min)``.

Why not a distance transform: the Euclidean distance from a point to the nearest background
voxel centre (``scipy.ndimage.distance_transform_edt`` with ``sampling=spacing``) exceeds
the true radius by a lattice-dependent 0 to about 0.4 voxel, a "minus half a voxel"
correction is right only for walls parallel to a grid axis, and both are read at the
skeleton voxel, which thinning leaves 0.3-0.5 voxel off the axis. On oblique elliptic and
circular tubes of 2-7 voxels the raw distance reads up to 0.5 voxel low, minus half a voxel
up to 1 voxel low, where this estimator stays within 0.13 voxel (``docs/radius.md``, last
section, ``scripts/radius_estimators.py``).
"""
from __future__ import annotations

import numpy as np

from ._kernels import labels_nb, radius_nb
from .radius import _neighbors26

__all__ = ["VMTK_RADIUS_NAME", "inscribed_radius_at"]

#: name of VMTK's inscribed-sphere radius array (vmtkcenterlines' default ``RadiusArrayName``)
VMTK_RADIUS_NAME = "MaximumInscribedSphereRadius"

# the window grows until its centreline length reaches this many major semi-axes
_LENGTH_FACTOR = 2.5
# at most this many growth steps (each one only enlarges windows, so it stops by itself)
_MAX_ITER = 6
# symmetric 3x3 entries kept in the second-moment sums: (0,0) (0,1) (0,2) (1,1) (1,2) (2,2)
_IU = np.triu_indices(3)


def _owned_sums(vessel_coords: np.ndarray, nearest: np.ndarray, n: int, spacing: np.ndarray,
                origin: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, first and second moment sums (mm, about ``origin``) of the vessel voxels each
    skeleton voxel owns. ``nearest[v]``: owner of vessel voxel ``v`` (-1: none)."""
    keep = nearest >= 0
    own = nearest[keep]
    x = vessel_coords[keep] * spacing - origin
    cnt = np.bincount(own, minlength=n).astype(np.float64)
    s1 = np.stack([np.bincount(own, x[:, i], minlength=n) for i in range(3)], axis=1)
    s2 = np.stack([np.bincount(own, x[:, i] * x[:, j], minlength=n)
                   for i, j in zip(*_IU)], axis=1)
    return cnt, s1, s2


def _window_eigenvalues(cnt, s1, s2, sheppard) -> np.ndarray:
    """Ascending eigenvalues (n, 3) of the corrected covariance of windows given by their
    summed count/moments; windows without voxels give zeros."""
    n = len(cnt)
    safe = np.where(cnt > 0, cnt, 1.0)
    mu = s1 / safe[:, None]
    cov = np.zeros((n, 3, 3))
    for k, (i, j) in enumerate(zip(*_IU)):
        c = s2[:, k] / safe - mu[:, i] * mu[:, j]
        cov[:, i, j] = c
        cov[:, j, i] = c
    cov += np.diag(sheppard)
    ev = np.linalg.eigvalsh(cov)
    ev[cnt == 0] = 0.0
    return np.maximum(ev, 0.0)


def skeleton_windows(skel_coords: np.ndarray, k: int, spacing: np.ndarray, shape,
                     group: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` nearest skeleton voxels (mm) of every skeleton voxel, nearest first (rank 0
    is the voxel itself): an (n, k) int64 index array, -1 where a window holds fewer voxels.

    Kernel-side helper of :func:`inscribed_radius_at` and
    :func:`vesseltree.curvature.window_centroids` (inputs validated: ``skel_coords`` (n, 3)
    int64, ``1 <= k <= n``, ``spacing`` float64 (3,); ``group`` int64 per skeleton voxel,
    windows stay in it).
    """
    unit, _ = labels_nb.unit_spacing(spacing)
    grid = labels_nb.build_grid(skel_coords, unit, shape)
    g = gcount = None
    if group is not None:
        g = np.ascontiguousarray(group, dtype=np.int64)
        gcount = np.bincount(g).astype(np.int64)
    w, _ = labels_nb.knn_grouped(skel_coords, skel_coords, k, unit, *grid, g, g, gcount)
    return w


def inscribed_radius_at(skel_coords: np.ndarray, nearest: np.ndarray, vessel_coords: np.ndarray,
                        spacing: np.ndarray, shape, window: int = 5,
                        group: np.ndarray | None = None, *, max_window: int = 41,
                        return_major: bool = False):
    """Inscribed-sphere radius (mm) at each skeleton voxel (module docstring).

    Inputs already validated: ``skel_coords`` (n, 3) int64 in raster order, ``nearest``
    (m,) int64 index into ``skel_coords`` of the skeleton voxel owning each vessel voxel of
    ``vessel_coords`` (m, 3) (-1: owned by none), ``spacing`` float64 (3,). ``group``
    (int64 per skeleton voxel, e.g. its mask component): windows only hold skeleton voxels
    of the same group, and a group with a single skeleton voxel is read as a ball.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        Minor semi-axis ``a`` of the equivalent ellipse of each voxel's section; with
        ``return_major`` also the major semi-axis ``b`` (a tuple ``(a, b)``).
    """
    n = len(skel_coords)
    if n == 0:
        z = np.zeros(0, dtype=np.float64)
        return (z, z.copy()) if return_major else z
    origin = skel_coords.mean(axis=0) * spacing  # keeps the moment sums small
    cnt, s1, s2 = _owned_sums(vessel_coords, nearest, n, spacing, origin)
    ptr, idx = _neighbors26(skel_coords, shape)
    ell = radius_nb.length_elements(skel_coords, ptr, idx, spacing)
    w = skeleton_windows(skel_coords, min(max(max_window, window), n), spacing, shape, group)
    valid = w >= 0
    wc = np.where(valid, w, 0)
    # cumulative window sums along the neighbour rank (rank 0 = the voxel itself)
    cum_cnt = np.cumsum(np.where(valid, cnt[wc], 0.0), axis=1)
    cum_s1 = np.cumsum(np.where(valid[..., None], s1[wc], 0.0), axis=1)
    cum_s2 = np.cumsum(np.where(valid[..., None], s2[wc], 0.0), axis=1)
    cum_len = np.cumsum(np.where(valid, ell[wc], 0.0), axis=1)
    n_valid = valid.sum(axis=1)
    sheppard = np.asarray(spacing, dtype=np.float64) ** 2 / 12.0
    rows = np.arange(n)
    k = np.minimum(window, n_valid)

    def eigenvalues(k):
        return _window_eigenvalues(cum_cnt[rows, k - 1], cum_s1[rows, k - 1],
                                   cum_s2[rows, k - 1], sheppard)

    ev = eigenvalues(k)
    for _ in range(_MAX_ITER):
        target = _LENGTH_FACTOR * 2.0 * np.sqrt(ev[:, 1])
        # smallest window whose centreline length reaches the target (never shrinks)
        reach = (cum_len >= target[:, None]) & valid
        k_new = np.where(reach.any(axis=1), reach.argmax(axis=1) + 1, n_valid)
        k_new = np.maximum(k, np.minimum(k_new, n_valid))
        if np.array_equal(k_new, k):
            break
        k = k_new
        ev = eigenvalues(k)
    ball = np.zeros(n, dtype=bool)  # a blob thinned to one voxel: ball model
    if group is not None:
        g = np.asarray(group, dtype=np.int64)
        ball[np.bincount(g)[g] == 1] = True
    elif n == 1:
        ball[:] = True
    factor = np.where(ball, np.sqrt(5.0), 2.0)
    minor = factor * np.sqrt(ev[:, 0])
    if return_major:
        return minor, factor * np.sqrt(ev[:, 1])
    return minor

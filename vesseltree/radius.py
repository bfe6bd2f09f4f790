"""Local and branch radii of a vessel tree (Sadikine et al., ISBI 2023, Eq. 1 and Eq. 2).

Eq. 1 (local radius). For a skeleton voxel :math:`\\gamma_k`, let
:math:`\\omega^1, \\dots, \\omega^m` be its ``m`` nearest *surface* voxels
(:func:`surface_voxels`: mask voxels with a background face neighbour). Then

.. math:: \\hat\\sigma_k = \\max_{p \\le m} \\lVert \\gamma_k - \\omega^p \\rVert

in mm (the voxel ``spacing`` applies). ``method="paper"`` computes exactly this. It reads
low on voxelised tubes, because the surface voxels are the *inner* shell of the mask
(their centres lie up to one voxel inside the true wall) and because taking the nearest
ones selects the low tail of that shell (about 1.4 for r = 2, 2.2 for r = 3, 7.0 for
r = 8 voxels; measured table in ``docs/radius.md``).

``method="corrected"`` removes that discretisation bias with a cross-section estimate.
Every vessel voxel is given to its nearest skeleton voxel (the Voronoi partition of the
mask by the skeleton, in mm; the same search as Eq. 3); skeleton voxel ``i`` then owns a
volume :math:`V_i` (mm^3) and carries a centreline length :math:`\\ell_i` (mm, half the
chord between its two skeleton neighbours, see
:func:`vesseltree._kernels.radius_nb.length_elements`). Over a window :math:`W_k` of the
``window`` nearest skeleton voxels of :math:`\\gamma_k` (itself included),

.. math:: \\hat\\sigma_k^{corr} = \\sqrt{\\frac{\\sum_{i \\in W_k} V_i}{\\pi \\sum_{i \\in W_k} \\ell_i}}

i.e. the radius of the disc with the tube's mean cross-section area. A digitised tube of
radius r holds about :math:`\\pi r^2` voxels per unit length whatever its orientation or
sub-voxel position, and an off-centre skeleton does not change the Voronoi volume, so the
estimate is unbiased up to the centreline-length error of a digital curve (a few %). A
free end of the skeleton owns the vessel's end cap, so each endpoint in the window (two for
an isolated voxel) adds a half-ball to the model, :math:`\\sum V_i = \\pi r^2 \\sum \\ell_i +
\\tfrac{2}{3}\\pi r^3 e` with :math:`e` the number of free ends, solved for :math:`r`: a
skeleton reduced to a single voxel gets the ball of its volume, and a short branch of a
blob is no longer read as a thin tube holding the blob's whole volume. At junctions the
local value reads high; the branch median of Eq. 2 discards them.

Both estimators stay inside the 26-connected component of the mask that holds the skeleton
voxel (its surface voxels, its Voronoi cells, its window): a nearby separate vessel never
enters the estimate. A component thinned to a single voxel gets, from Eq. 1, the distance
to the farthest of its (at most ``m``) surface voxels, and from the corrected estimator the
radius of the ball of the component's volume.

Eq. 2 (branch radius): :math:`\\hat r_j = \\operatorname{median}_k \\{\\hat\\sigma_k \\mid
\\gamma_k \\in B_j\\}`, :func:`branch_radius`. Which skeleton voxels belong to which branch
(junction voxels included) is decided by :func:`vesseltree.labels.skeleton_owner`.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from ._kernels import labels_nb, radius_nb
from .labels import nearest_seed
from ._validation import check_mask, check_positive_int, check_spacing
from ._warnings import warn

__all__ = ["surface_voxels", "local_radius", "branch_radius", "PAPER_M", "M_REACH_WARN_RATIO"]

#: Eq. 1's number of nearest surface voxels in the paper
PAPER_M = 8
#: with m > PAPER_M, warn when the m-th nearest surface voxel is typically (median over the
#: skeleton) farther than this many times the nearest one plus one voxel: the m voxels then
#: reach along the vessel instead of around it (a tube of radius 3 voxels: 1.0 at m = 32,
#: 1.6 at m = 128, 13 at m = 1000; radius 1 voxel: 2.2 at m = 16)
M_REACH_WARN_RATIO = 2.0

RadiusMethod = Literal["paper", "corrected", "inscribed"]
_METHODS = ("paper", "corrected")
# local_radius also offers the inscribed-sphere estimator of vesseltree.inscribed
_LOCAL_METHODS = _METHODS + ("inscribed",)

# 26-neighbourhood offsets (z, y, x), the centre excluded
_OFFSETS26 = np.array(
    [(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
     if (dz, dy, dx) != (0, 0, 0)],
    dtype=np.int64,
)


def _coords(mask: np.ndarray) -> np.ndarray:
    """Voxel coordinates of a boolean volume, (n, 3) int64 in C (raster) order."""
    return np.ascontiguousarray(np.argwhere(mask), dtype=np.int64)


def surface_voxels(mask: npt.ArrayLike) -> np.ndarray:
    """Surface voxels :math:`\\Omega` of a binary mask.

    A mask voxel is a surface voxel when at least one of its 6 face neighbours is
    background; voxels on the border of the array count as surface (outside is
    background).

    Parameters
    ----------
    mask : array_like of bool or 0/1, shape (z, y, x)

    Returns
    -------
    numpy.ndarray of bool, same shape
    """
    m = check_mask(mask, "mask")
    out = np.zeros(m.shape, dtype=bool)
    coords = _coords(m)
    if len(coords):
        flags = radius_nb.surface_flags(m, coords)
        s = coords[flags]
        out[s[:, 0], s[:, 1], s[:, 2]] = True
    return out


def _neighbors26(coords: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the 26-neighbours of each voxel of ``coords`` within ``coords``."""
    n = len(coords)
    shape = np.asarray(shape, dtype=np.int64)
    lin = np.ravel_multi_index(coords.T, tuple(shape))
    order = np.argsort(lin, kind="stable")
    slin = lin[order]
    rows, cols = [], []
    for off in _OFFSETS26:
        nb = coords + off
        ok = np.all((nb >= 0) & (nb < shape), axis=1)
        idx = np.nonzero(ok)[0]
        if not len(idx):
            continue
        nl = np.ravel_multi_index(nb[idx].T, tuple(shape))
        pos = np.searchsorted(slin, nl)
        pos[pos == n] = 0
        hit = slin[pos] == nl
        rows.append(idx[hit])
        cols.append(order[pos[hit]])
    if rows:
        r = np.concatenate(rows)
        c = np.concatenate(cols)
    else:
        r = c = np.zeros(0, dtype=np.int64)
    o = np.lexsort((c, r))
    r, c = r[o], c[o]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n), out=ptr[1:])
    return ptr, np.ascontiguousarray(c, dtype=np.int64)


def paper_radius_at(mask: np.ndarray, vessel_coords: np.ndarray, skel_coords: np.ndarray,
                    spacing: np.ndarray, m: int, vessel_group: np.ndarray | None = None,
                    skel_group: np.ndarray | None = None) -> np.ndarray:
    """Eq. 1 at each skeleton voxel (float64 mm). Inputs already validated:
    ``mask`` bool C-contiguous, ``vessel_coords`` = argwhere(mask), ``skel_coords`` inside it.
    With fewer than ``m`` surface voxels in total (in its group), the farthest of them is
    used. ``vessel_group`` / ``skel_group`` (int64, e.g. the 26-connected component of each
    voxel): only the surface voxels of a skeleton voxel's own group are considered."""
    if len(skel_coords) == 0:
        return np.zeros(0, dtype=np.float64)
    flags = radius_nb.surface_flags(mask, vessel_coords)
    surf = np.ascontiguousarray(vessel_coords[flags])
    unit, scale = labels_nb.unit_spacing(spacing)
    grid = labels_nb.build_grid(surf, unit, mask.shape)
    if vessel_group is None:
        k = min(m, len(surf))
        _, d2 = labels_nb.knn(skel_coords, surf, k, unit, *grid)
        return np.sqrt(d2[:, k - 1]) * scale
    sg = np.ascontiguousarray(vessel_group[flags], dtype=np.int64)
    qg = np.ascontiguousarray(skel_group, dtype=np.int64)
    gcount = np.bincount(sg, minlength=int(qg.max()) + 1).astype(np.int64)
    _, d2 = labels_nb.knn_grouped(skel_coords, surf, m, unit, *grid, qg, sg, gcount)
    # the farthest of the min(m, group size) neighbours found (every voxel of a mask
    # component with a skeleton voxel has a surface voxel: the component's own extremes)
    kk = np.minimum(m, gcount[qg]) - 1
    return np.sqrt(d2[np.arange(len(qg)), kk]) * scale


def warn_if_m_reaches_along(mask: np.ndarray, vessel_coords: np.ndarray, skel_coords: np.ndarray,
                            spacing: np.ndarray, m: int, r_m: np.ndarray,
                            vessel_group: np.ndarray | None = None,
                            skel_group: np.ndarray | None = None) -> bool:
    """Warn when Eq. 1 with this ``m`` does not measure a cross-section.

    Only for ``m > PAPER_M`` (the paper's value never pays for the check): compares ``r_m``
    (Eq. 1 at ``m``, from :func:`paper_radius_at`) with the distance to the nearest surface
    voxel; when the median ratio ``r_m / (r_1 + max(spacing))`` exceeds
    :data:`M_REACH_WARN_RATIO` a ``UserWarning`` names ``m``. Returns whether it warned.
    """
    if m <= PAPER_M or not len(skel_coords):
        return False
    r_1 = paper_radius_at(mask, vessel_coords, skel_coords, spacing, 1, vessel_group, skel_group)
    ratio = float(np.median(r_m / (r_1 + float(np.max(spacing)))))
    if ratio <= M_REACH_WARN_RATIO:
        return False
    warn(
        f"m: the {m} nearest surface voxels reach along the vessel, not around it (median "
        f"Eq. 1 radius {float(np.median(r_m)):.3g} mm vs {float(np.median(r_1)):.3g} mm to the "
        f"nearest surface voxel): these radii are not vessel measurements; use m = {PAPER_M} "
        "(the paper's) or the corrected estimator", UserWarning)
    return True


def corrected_radius_at(skel_coords: np.ndarray, owned_volume: np.ndarray, spacing: np.ndarray,
                        shape, window: int, group: np.ndarray | None = None) -> np.ndarray:
    """Corrected local radius (cross-section estimate, see module docstring) at each skeleton
    voxel. ``owned_volume[i]``: mm^3 of vessel voxels whose nearest skeleton voxel is ``i``.
    ``group`` (int64 per skeleton voxel, e.g. its mask component): the window only holds
    skeleton voxels of the same group."""
    n = len(skel_coords)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    ptr, idx = _neighbors26(skel_coords, shape)
    ell = radius_nb.length_elements(skel_coords, ptr, idx, spacing)
    k = min(window, n)
    unit, _ = labels_nb.unit_spacing(spacing)
    grid = labels_nb.build_grid(skel_coords, unit, shape)
    g = gcount = None  # no grouping
    if group is not None:
        g = np.ascontiguousarray(group, dtype=np.int64)
        gcount = np.bincount(g).astype(np.int64)
    w, _ = labels_nb.knn_grouped(skel_coords, skel_coords, k, unit, *grid, g, g, gcount)
    valid = w >= 0  # all True without groups (k <= n)
    wc = np.where(valid, w, 0)
    vol = np.where(valid, owned_volume[wc], 0.0).sum(axis=1)
    length = np.where(valid, ell[wc], 0.0).sum(axis=1)
    # free ends in the window: an endpoint (one skeleton neighbour) closes the tube with a
    # half-ball cap, an isolated voxel (none) with two
    ends = np.clip(2 - np.diff(ptr), 0, 2).astype(np.float64)
    caps = np.where(valid, ends[wc], 0.0).sum(axis=1)
    return _cylinder_with_caps_radius(vol, length, caps)


def _cylinder_with_caps_radius(volume: np.ndarray, length: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Radius r of a tube of centreline ``length`` closed by ``caps`` half-balls, holding
    ``volume``: the positive root of ``(2/3) pi caps r**3 + pi length r**2 = volume``.

    ``caps = 0``: the cross-section radius ``sqrt(volume / (pi length))``; ``length = 0`` and
    two caps: the radius of the ball of that volume. Solved by Newton's method from an upper
    bound (the root of either term alone), on which the increasing convex cubic converges
    monotonically.
    """
    a = (2.0 / 3.0) * np.pi * caps
    b = np.pi * length
    with np.errstate(divide="ignore", invalid="ignore"):
        bound_b = np.where(b > 0, np.sqrt(volume / b), np.inf)
        bound_a = np.where(a > 0, np.cbrt(volume / a), np.inf)
    r = np.minimum(bound_a, bound_b)
    r = np.where(np.isfinite(r), r, 0.0)  # no length and no cap: nothing to measure
    for _ in range(60):
        f = (a * r + b) * r * r - volume
        df = (3.0 * a * r + 2.0 * b) * r
        step = np.divide(f, df, out=np.zeros_like(r), where=df > 0)
        r = r - step
        if np.all(np.abs(step) <= 1e-12 * np.maximum(r, 1e-300)):
            break
    return r


def _check_method(method, name: str = "method", methods: tuple = _METHODS) -> str:
    if not isinstance(method, str) or method not in methods:
        raise ValueError(f"{name}: expected one of {methods}, got {method!r}")
    return method


def local_radius(mask: npt.ArrayLike, skeleton: npt.ArrayLike, spacing=(1.0, 1.0, 1.0), m: int = PAPER_M,
                 method: RadiusMethod = "corrected", *, window: int = 5,
                 output: Literal["volume", "points"] = "volume"):
    """Local vessel radius at every skeleton voxel (Eq. 1, or its corrected variant).

    Parameters
    ----------
    mask : array_like, shape (z, y, x)
        Binary vessel mask.
    skeleton : array_like, shape (z, y, x)
        Binary skeleton, a subset of ``mask`` (e.g. :func:`vesseltree.skeletonize`).
    spacing : float or sequence of 3 floats
        Voxel size in mm (z, y, x).
    m : int
        Number of nearest surface voxels in Eq. 1 (8 in the paper). ``method="paper"`` only.
    method : {"corrected", "paper", "inscribed"}
        ``"corrected"`` (default, as :func:`vesseltree.analyze` and
        :attr:`vesseltree.VesselTree.local_radius`): cross-section estimate without the
        discretisation bias (module docstring). ``"paper"``: Eq. 1 exactly. ``"inscribed"``: radius of the largest ball
        centred on the centerline, VMTK's ``MaximumInscribedSphereRadius``
        (:mod:`vesseltree.inscribed`).
    window : int
        Number of nearest skeleton voxels averaged by ``method="corrected"``; the smallest
        window of ``method="inscribed"``.
    output : {"volume", "points"}
        See Returns.

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        ``output="volume"``: float32 volume (z, y, x), radius in mm on skeleton voxels, 0
        elsewhere. ``output="points"``: ``(coords, radius)``, the (n, 3) int64 voxel
        coordinates of the skeleton in raster order and the float64 radius of each. Both
        estimators only look inside the 26-connected component of ``mask`` holding the
        skeleton voxel.

    Raises
    ------
    ValueError
        If the skeleton has voxels outside the mask, shapes differ, or a parameter is out
        of range.

    Warns
    -----
    UserWarning
        ``method="paper"`` with an ``m`` above 8 whose nearest surface voxels reach along the
        vessel rather than around it (:data:`M_REACH_WARN_RATIO`).
    """
    msk = check_mask(mask, "mask")
    skel = check_mask(skeleton, "skeleton")
    sp = np.asarray(check_spacing(spacing, "spacing"), dtype=np.float64)
    m = check_positive_int(m, "m")
    window = check_positive_int(window, "window")
    method = _check_method(method, methods=_LOCAL_METHODS)
    if output not in ("volume", "points"):
        raise ValueError(f"output: expected 'volume' or 'points', got {output!r}")
    if skel.shape != msk.shape:
        raise ValueError(
            f"skeleton: expected the shape of mask {msk.shape}, got {skel.shape}")
    if (skel & ~msk).any():
        raise ValueError("skeleton: expected a subset of mask, got skeleton voxels outside it")
    sc = _coords(skel)
    vals = _radius_values(msk, sc, sp, m, method, window) if len(sc) else np.zeros(0)
    if output == "points":
        return sc, vals
    out = np.zeros(msk.shape, dtype=np.float32)
    if len(sc):
        out[sc[:, 0], sc[:, 1], sc[:, 2]] = vals
    return out


def _radius_values(msk: np.ndarray, sc: np.ndarray, sp: np.ndarray, m: int, method: str,
                   window: int) -> np.ndarray:
    """:func:`local_radius` at the skeleton voxels ``sc`` (raster order, at least one) of the
    checked mask ``msk``, each looking inside its own 26-connected mask component. Warnings
    name the caller of :func:`local_radius`."""
    vc = _coords(msk)
    comp = labels_nb.components26(msk, vc)
    sg = comp[np.searchsorted(np.ravel_multi_index(vc.T, msk.shape),
                              np.ravel_multi_index(sc.T, msk.shape))]
    if method == "paper":
        vals = paper_radius_at(msk, vc, sc, sp, m, comp, sg)
        warn_if_m_reaches_along(msk, vc, sc, sp, m, vals, comp, sg)
        return vals
    nearest, _ = nearest_seed(vc, sc, np.zeros(len(sc), dtype=np.int64), sp, msk.shape,
                              comp, sg)
    if method == "inscribed":
        from .inscribed import inscribed_radius_at  # it imports this module
        return inscribed_radius_at(sc, nearest, vc, sp, msk.shape, window, sg)
    # a component without skeleton voxel (nearest -1) owns nothing
    owned = np.bincount(nearest[nearest >= 0], minlength=len(sc)) * float(np.prod(sp))
    return corrected_radius_at(sc, owned, sp, msk.shape, window, sg)


def branch_radius(values: npt.ArrayLike, branch_ids: npt.ArrayLike, n_branches: int | None = None) -> np.ndarray:
    """Eq. 2: median of the local radii of each branch.

    Parameters
    ----------
    values : array_like of float, shape (n,)
        Local radius of each skeleton voxel (mm).
    branch_ids : array_like of int, shape (n,)
        Branch owning each voxel (1..n_branches; 0 = no branch, ignored).
    n_branches : int, optional
        Number of branches; default ``branch_ids.max()``.

    Returns
    -------
    numpy.ndarray of float64, shape (n_branches + 1,)
        Entry ``j`` is the median radius of branch ``j`` (NaN for a branch without voxels;
        entry 0 is NaN).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    b = np.asarray(branch_ids).ravel()
    if v.shape != b.shape:
        raise ValueError(
            f"branch_ids: expected the shape of values {v.shape}, got {b.shape}")
    if b.size and not np.issubdtype(b.dtype, np.integer):
        raise TypeError(f"branch_ids: expected integers, got dtype {b.dtype}")
    if b.size and b.min() < 0:
        raise ValueError(f"branch_ids: expected ids >= 0, got {int(b.min())}")
    if np.isnan(v).any():
        raise ValueError("values: expected finite radii, got NaN")
    nb = int(b.max()) if (n_branches is None and b.size) else int(n_branches or 0)
    out = np.full(nb + 1, np.nan)
    keep = b > 0
    v, b = v[keep], b[keep].astype(np.int64)
    if not v.size:
        return out
    order = np.lexsort((v, b))
    v, b = v[order], b[order]
    counts = np.bincount(b, minlength=nb + 1)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    lo = first[has] + (counts[has] - 1) // 2
    hi = first[has] + counts[has] // 2
    out[has] = 0.5 * (v[lo] + v[hi])
    return out

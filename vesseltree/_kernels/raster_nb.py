"""Numba kernels that rasterize straight tubes (tapered capsules or frusta) and tori.

Arrays in, arrays out; the friendly, validating layer is :mod:`vesseltree.synthetic`.
All coordinates are physical (mm) on the axes (z, y, x); voxel index ``i`` has its centre
at ``i * spacing``. A voxel is split into ``s**3`` sub-samples at the centres of a regular
``s x s x s`` sub-grid, and it is "covered" when more than half of them are inside, or
exactly half and its centre is inside (ties, frequent for s = 2, would otherwise bias the
volume upwards).

Shapes
------
A *piece* is a straight tube from ``a`` to ``b`` (length ``L``, unit axis ``u``) whose
radius varies linearly, ``r(t) = r0 + (r1 - r0) t / L`` for ``t`` in ``[0, L]``.

* round caps: the union of the balls of radius ``r(t)`` centred at ``c(t) = a + t u``,
  i.e. the convex hull of the two end balls (a capsule when ``r0 == r1``, a "round cone"
  otherwise). ``f(p) = min_t |p - c(t)| - r(t)``; the minimum is reached at
  ``t* = clamp(y + s h / sqrt(1 - s**2), 0, L)`` with ``y`` the abscissa of ``p`` on the
  axis, ``h`` its distance to the axis line and ``s = (r1 - r0) / L`` (``|s| < 1``; when
  ``|s| >= 1`` one end ball holds the other and ``t*`` is the larger end). ``f`` is
  1-Lipschitz and the reported radius is ``r(t*)``: for a plain cylinder, the radius at
  the nearest axis point. Convexity matters: a tapered tube closed by half balls of the
  end radii is not convex at its thin end, and the small dent it leaves around a
  junction can close a spurious tunnel.
* flat caps (frustum): inside iff ``0 <= t <= L`` and the perpendicular distance to the
  axis is ``<= r(t)``; ``f = max(h - r(clamp(t)), -t, t - L)`` is Lipschitz of constant
  ``1 + |s|`` and the reported radius is ``r(clamp(t))``.

Whole voxels are decided from their centre when ``|f|`` exceeds the half diagonal of a
voxel times the Lipschitz constant.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["rasterize_pieces", "finalize_coverage", "rasterize_torus"]


@njit(cache=True)
def _piece_f(pz, py, px, az, ay, ax, uz, uy, ux, length, r0, slope, kfac, flat):
    """Return ``(f, r)`` for point ``p``: ``f <= 0`` inside, ``r`` the radius at ``t*``.

    ``kfac = slope / sqrt(1 - slope**2)`` (+-inf when ``|slope| >= 1``)."""
    dz = pz - az
    dy = py - ay
    dx = px - ax
    t = dz * uz + dy * uy + dx * ux
    h2 = dz * dz + dy * dy + dx * dx - t * t
    if h2 < 0.0:
        h2 = 0.0
    h = math.sqrt(h2)
    if flat:
        tc = min(max(t, 0.0), length)
        r = r0 + slope * tc
        f = h - r
        if -t > f:
            f = -t
        if t - length > f:
            f = t - length
        return f, r
    if math.isinf(kfac):
        ts = 0.0 if kfac < 0.0 else length
    else:
        ts = t + kfac * h
    if ts < 0.0:
        ts = 0.0
    elif ts > length:
        ts = length
    r = r0 + slope * ts
    qz = dz - ts * uz
    qy = dy - ts * uy
    qx = dx - ts * ux
    return math.sqrt(qz * qz + qy * qy + qx * qx) - r, r


@njit(cache=True)
def _bbox(lo_mm, hi_mm, sp, n):
    """Index range [lo, hi] of voxels whose extent meets the interval [lo_mm, hi_mm]."""
    lo = int(math.floor(lo_mm / sp - 0.5))
    hi = int(math.ceil(hi_mm / sp + 0.5))
    if lo < 0:
        lo = 0
    if hi > n - 1:
        hi = n - 1
    return lo, hi


@njit(cache=True)
def _piece_frame(starts, ends, r0s, r1s, p):
    """Axis of piece ``p``: ``(length, uz, uy, ux, slope, kfac)`` with ``u`` the unit axis
    (0 for a zero-length piece), ``slope = (r1 - r0) / length`` and
    ``kfac = slope / sqrt(1 - slope**2)`` (+-inf when ``|slope| >= 1``)."""
    vz = ends[p, 0] - starts[p, 0]
    vy = ends[p, 1] - starts[p, 1]
    vx = ends[p, 2] - starts[p, 2]
    length = math.sqrt(vz * vz + vy * vy + vx * vx)
    if length > 0.0:
        uz, uy, ux = vz / length, vy / length, vx / length
        slope = (r1s[p] - r0s[p]) / length
    else:
        uz, uy, ux = 0.0, 0.0, 0.0
        slope = 0.0
    if abs(slope) < 1.0:
        kfac = slope / math.sqrt(1.0 - slope * slope)
    else:
        kfac = math.inf if slope > 0.0 else -math.inf
    return length, uz, uy, ux, slope, kfac


@njit(cache=True)
def _piece_box(starts, ends, r0s, r1s, p, spacing, shape):
    """Voxel index ranges ``(z0, z1, y0, y1, x0, x1)`` (inclusive) of piece ``p``'s
    bounding box grown by its largest radius."""
    rmax = max(r0s[p], r1s[p])
    z0, z1 = _bbox(min(starts[p, 0], ends[p, 0]) - rmax, max(starts[p, 0], ends[p, 0]) + rmax,
                   spacing[0], shape[0])
    y0, y1 = _bbox(min(starts[p, 1], ends[p, 1]) - rmax, max(starts[p, 1], ends[p, 1]) + rmax,
                   spacing[1], shape[1])
    x0, x1 = _bbox(min(starts[p, 2], ends[p, 2]) - rmax, max(starts[p, 2], ends[p, 2]) + rmax,
                   spacing[2], shape[2])
    return z0, z1, y0, y1, x0, x1


@njit(cache=True)
def _sub_bits(pz, py, px, off, s, spacing, az, ay, ax, uz, uy, ux, length, r0, slope, kfac, flat):
    """Bit set of the ``s**3`` sub-samples of the voxel centred at ``p`` inside a piece
    (bit ``(a * s + b) * s + c`` for sub-sample (a, b, c))."""
    got = 0
    bit = 0
    for a in range(s):
        qz = pz + off[a] * spacing[0]
        for b in range(s):
            qy = py + off[b] * spacing[1]
            for c in range(s):
                qx = px + off[c] * spacing[2]
                g, _ = _piece_f(qz, qy, qx, az, ay, ax, uz, uy, ux, length, r0, slope, kfac, flat)
                if g <= 0.0:
                    got |= 1 << bit
                bit += 1
    return got


@njit(cache=True)
def _sub_offsets(s):
    """Offsets (in voxels, from the centre) of the ``s`` sub-sample centres along an axis."""
    off = np.empty(s, dtype=np.float64)
    for k in range(s):
        off[k] = (k + 0.5) / s - 0.5
    return off


@njit(cache=True)
def rasterize_pieces(starts, ends, r0s, r1s, labels, spacing, flat, s, bits, best, label, radius):
    """Accumulate sub-sample coverage of straight tubes ("pieces") into ``bits``.

    Parameters (preconditions, not checked)
    ----------
    starts, ends : float64 (n, 3)
        Axis end points in mm (z, y, x). With ``flat`` every piece has non-zero length.
    r0s, r1s : float64 (n,)
        Radii (mm, > 0) at ``starts`` and ``ends``.
    labels : int32 (n,)
        Label (>= 1) written for each piece; several pieces may share one.
    spacing : float64 (3,)
        Voxel size in mm, > 0.
    flat : bool
        Flat caps (frustum) if True, round caps (capsule) otherwise.
    s : int
        Sub-samples per axis, 1 <= s <= 4, and ``s**3`` <= bit width of ``bits``' dtype.
    bits : integer (Z, Y, X), C-contiguous, zero on the first call
        uint8 for s <= 2, int32 for s = 3, int64 for s = 4 (bits as a two's-complement
        pattern).
        Bit ``(a * s + b) * s + c`` is set when sub-sample (a, b, c) lies in any piece.
    best : float32 (Z, Y, X), any values on the first call (np.empty is enough)
        Smallest ``f`` at the voxel centre among pieces that cover a sub-sample; only
        meaningful where ``label != 0``.
    label, radius : int32 / float32 (Z, Y, X), zero on the first call
        Label and axis radius of the piece that achieved ``best`` (0: none yet).

    Ties keep the earlier piece. Work is proportional to the pieces' bounding boxes.
    """
    sz, sy, sx = spacing[0], spacing[1], spacing[2]
    half_diag = 0.5 * math.sqrt(sz * sz + sy * sy + sx * sx)
    n_sub = s * s * s
    full = -1 if n_sub >= 64 else (1 << n_sub) - 1  # -1: all 64 bits (two's complement)
    off = _sub_offsets(s)
    for p in range(starts.shape[0]):
        az, ay, ax = starts[p, 0], starts[p, 1], starts[p, 2]
        r0 = r0s[p]
        length, uz, uy, ux, slope, kfac = _piece_frame(starts, ends, r0s, r1s, p)
        margin = half_diag * (1.0 + abs(slope)) if flat else half_diag
        z0, z1, y0, y1, x0, x1 = _piece_box(starts, ends, r0s, r1s, p, spacing, bits.shape)
        lab = labels[p]
        for i in range(z0, z1 + 1):
            pz = i * sz
            for j in range(y0, y1 + 1):
                py = j * sy
                for k in range(x0, x1 + 1):
                    px = k * sx
                    f, r = _piece_f(pz, py, px, az, ay, ax, uz, uy, ux, length, r0, slope, kfac, flat)
                    if f > margin:
                        continue
                    if f < -margin:
                        got = full
                    else:
                        got = _sub_bits(pz, py, px, off, s, spacing, az, ay, ax, uz, uy, ux,
                                        length, r0, slope, kfac, flat)
                        if got == 0:
                            continue
                    bits[i, j, k] |= got
                    if label[i, j, k] == 0 or f < best[i, j, k]:
                        best[i, j, k] = f
                        label[i, j, k] = lab
                        radius[i, j, k] = r


@njit(cache=True)
def _popcount(v):
    c = 0
    while v:
        v &= v - 1
        c += 1
    return c


@njit(cache=True)
def finalize_coverage(starts, ends, r0s, r1s, spacing, s, bits, best, label, radius, mask):
    """Turn sub-sample coverage into the mask, over the pieces' bounding boxes only.

    Same preconditions as :func:`rasterize_pieces`, called afterwards with the same pieces.
    Sets ``mask`` where more than half of the ``s**3`` sub-samples are covered, or exactly
    half and the voxel centre is inside (``best <= 0``; an unbiased tie-break, frequent for
    s = 2), and clears ``label`` and ``radius`` elsewhere. Idempotent, so overlapping boxes
    are harmless.
    """
    n_sub = s * s * s
    for p in range(starts.shape[0]):
        z0, z1, y0, y1, x0, x1 = _piece_box(starts, ends, r0s, r1s, p, spacing, bits.shape)
        for i in range(z0, z1 + 1):
            for j in range(y0, y1 + 1):
                for k in range(x0, x1 + 1):
                    v = bits[i, j, k]
                    if v == 0:
                        continue
                    c2 = 2 * _popcount(v)
                    if c2 > n_sub or (c2 == n_sub and best[i, j, k] <= 0.0):
                        mask[i, j, k] = True
                    else:
                        label[i, j, k] = 0
                        radius[i, j, k] = 0.0


@njit(cache=True)
def rasterize_torus(center, axis, major, minor, spacing, s, mask):
    """Set ``mask`` on voxels at least half covered by a torus.

    Preconditions: ``center`` float64 (3,) mm; ``axis`` in {0, 1, 2} (the ring lies in the
    plane perpendicular to it); ``0 < minor``, ``0 < major``; ``spacing`` float64 (3,) > 0;
    ``s >= 1``; ``mask`` bool (Z, Y, X). A point is inside when
    ``(sqrt(u**2 + v**2) - major)**2 + w**2 <= minor**2`` with ``w`` its offset along
    ``axis`` and ``u, v`` the in-plane offsets from ``center``.
    Work is proportional to the torus' bounding box.
    """
    shape = mask.shape
    lo = np.empty(3, dtype=np.int64)
    hi = np.empty(3, dtype=np.int64)
    for d in range(3):
        ext = minor if d == axis else major + minor
        lo[d], hi[d] = _bbox(center[d] - ext, center[d] + ext, spacing[d], shape[d])
    off = _sub_offsets(s)
    n_sub = s * s * s
    half_diag = 0.5 * math.sqrt(spacing[0] ** 2 + spacing[1] ** 2 + spacing[2] ** 2)
    q = np.empty(3, dtype=np.float64)
    for i in range(lo[0], hi[0] + 1):
        for j in range(lo[1], hi[1] + 1):
            for k in range(lo[2], hi[2] + 1):
                # f = distance to the ring circle minus minor radius (1-Lipschitz)
                q[0] = i * spacing[0] - center[0]
                q[1] = j * spacing[1] - center[1]
                q[2] = k * spacing[2] - center[2]
                f = _torus_f(q, axis, major, minor)
                if f > half_diag:
                    continue
                if f < -half_diag:
                    mask[i, j, k] = True
                    continue
                cnt = 0
                for a in range(s):
                    for b in range(s):
                        for c in range(s):
                            q[0] = (i + off[a]) * spacing[0] - center[0]
                            q[1] = (j + off[b]) * spacing[1] - center[1]
                            q[2] = (k + off[c]) * spacing[2] - center[2]
                            if _torus_f(q, axis, major, minor) <= 0.0:
                                cnt += 1
                # tie (exactly half): the centre decides, as in finalize_coverage
                if 2 * cnt > n_sub or (2 * cnt == n_sub and f <= 0.0):
                    mask[i, j, k] = True


@njit(cache=True)
def _torus_f(q, axis, major, minor):
    w = q[axis]
    rho2 = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] - w * w
    if rho2 < 0.0:
        rho2 = 0.0
    dr = math.sqrt(rho2) - major
    return math.sqrt(dr * dr + w * w) - minor

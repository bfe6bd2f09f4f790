"""Numba kernel behind :mod:`vesselnet.metrics.surface`: exact squared Euclidean distance
transform of a set of feature voxels, read only at query voxels.

Private: arrays in, arrays out, no validation (the caller in ``surface.py`` checks).

Algorithm: the separable exact transform of Felzenszwalb & Huttenlocher (2012, "Distance
transforms of sampled functions", Theory of Computing 8) with anisotropic voxel size. Pass 1
along ``z`` takes, for every ``(y, x)`` column, the squared distance to the nearest feature of
that column (two linear sweeps); pass 2 along ``x`` takes, for every ``(z, y)`` row, the lower
envelope of the parabolas ``sx^2 (x - q)^2 + g(q)``; pass 3 along ``y`` does the same only for
the ``(z, x)`` columns that hold a query voxel and reads the envelope only at query voxels.
The result is exact (not a chamfer approximation): it equals ``scipy.ndimage.
distance_transform_edt(~features, sampling=spacing) ** 2`` at the query voxels.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["squared_edt_at"]


@njit(cache=True, nogil=True)
def _envelope(f, n, s2, v, z):
    """Lower envelope of the parabolas ``s2 * (p - q)**2 + f[q]`` over ``q`` with finite ``f[q]``.

    Preconditions: ``f`` float64 of length >= ``n`` (``inf`` = no parabola), ``s2 > 0``,
    ``v`` int64 of length >= ``n``, ``z`` float64 of length >= ``n + 1``.
    Fills ``v[:k]`` (apex positions) and ``z[:k + 1]`` (breakpoints, ``z[0] = -inf``,
    ``z[k] = inf``) and returns ``k``, the number of parabolas (0 when ``f`` is all ``inf``).
    """
    k = -1
    for q in range(n):
        fq = f[q]
        if fq == np.inf:
            continue
        if k < 0:
            k = 0
            v[0] = q
            z[0] = -np.inf
            z[1] = np.inf
            continue
        sint = 0.0
        while k >= 0:
            p = v[k]
            sint = ((fq + s2 * q * q) - (f[p] + s2 * p * p)) / (2.0 * s2 * (q - p))
            if sint <= z[k]:
                k -= 1
            else:
                break
        k += 1
        v[k] = q
        z[k] = -np.inf if k == 0 else sint
        z[k + 1] = np.inf
    return k + 1


@njit(cache=True, nogil=True)
def squared_edt_at(features, query, sz, sy, sx):
    """Squared Euclidean distance (mm^2) from each query voxel to the nearest feature voxel.

    Preconditions: ``features`` and ``query`` are C-contiguous boolean 3D arrays of the same
    shape ``(z, y, x)``; ``sz, sy, sx`` are finite positive floats (voxel size in mm).

    Returns a float64 array with one value per ``True`` voxel of ``query``, in C order (the
    order of ``np.nonzero(query)``); ``inf`` where ``features`` is empty.
    """
    nz, ny, nx = features.shape
    g = np.empty((nz, ny, nx), np.float64)
    # pass 1 (z): squared distance to the nearest feature of the same (y, x) column
    last = np.full((ny, nx), -1, np.int64)
    for zi in range(nz):
        for yi in range(ny):
            for xi in range(nx):
                if features[zi, yi, xi]:
                    last[yi, xi] = zi
                l = last[yi, xi]
                if l < 0:
                    g[zi, yi, xi] = np.inf
                else:
                    d = (zi - l) * sz
                    g[zi, yi, xi] = d * d
    last[:, :] = -1
    for zi in range(nz - 1, -1, -1):
        for yi in range(ny):
            for xi in range(nx):
                if features[zi, yi, xi]:
                    last[yi, xi] = zi
                l = last[yi, xi]
                if l >= 0:
                    d = (l - zi) * sz
                    d = d * d
                    if d < g[zi, yi, xi]:
                        g[zi, yi, xi] = d

    m = max(ny, nx)
    f = np.empty(m, np.float64)
    v = np.empty(m, np.int64)
    zz = np.empty(m + 1, np.float64)
    sy2 = sy * sy
    sx2 = sx * sx
    colq = np.zeros((nz, nx), np.bool_)
    sliceq = np.zeros(nz, np.bool_)
    nq = 0
    for zi in range(nz):
        for yi in range(ny):
            for xi in range(nx):
                if query[zi, yi, xi]:
                    colq[zi, xi] = True
                    sliceq[zi] = True
                    nq += 1

    # pass 2 (x): rows of the slices that hold a query voxel, in place
    for zi in range(nz):
        if not sliceq[zi]:
            continue
        for yi in range(ny):
            k = _envelope(g[zi, yi], nx, sx2, v, zz)
            if k == 0:
                continue
            for xi in range(nx):
                f[xi] = g[zi, yi, xi]
            j = 0
            for xi in range(nx):
                while zz[j + 1] < xi:
                    j += 1
                p = v[j]
                d = xi - p
                g[zi, yi, xi] = sx2 * d * d + f[p]

    # pass 3 (y): only columns with a query voxel, read at the query voxels
    for zi in range(nz):
        if not sliceq[zi]:
            continue
        for xi in range(nx):
            if not colq[zi, xi]:
                continue
            for yi in range(ny):
                f[yi] = g[zi, yi, xi]
            k = _envelope(f, ny, sy2, v, zz)
            j = 0
            for yi in range(ny):
                if query[zi, yi, xi]:
                    if k == 0:
                        g[zi, yi, xi] = np.inf
                    else:
                        while zz[j + 1] < yi:
                            j += 1
                        p = v[j]
                        d = yi - p
                        g[zi, yi, xi] = sy2 * d * d + f[p]

    out = np.empty(nq, np.float64)
    c = 0
    for zi in range(nz):
        if not sliceq[zi]:
            continue
        for yi in range(ny):
            for xi in range(nx):
                if query[zi, yi, xi]:
                    out[c] = g[zi, yi, xi]
                    c += 1
    return out

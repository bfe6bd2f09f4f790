"""Geometric primitives with exact partial volume: tubes, tori, many tubes at once.

Conventions (shared by the whole :mod:`vesseltree.synthetic` package): axes (z, y, x), every
length in mm, voxel ``i`` of an axis of spacing ``s`` centred at ``i * s``. A voxel belongs
to the mask when at least half of its ``supersample**3`` sub-samples lie inside the shape,
exactly half counting only when the voxel centre is inside too. The Numba kernels behind
(:mod:`vesseltree._kernels.raster_nb`) work over the shapes' bounding boxes only.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from vesseltree._kernels import raster_nb
from vesseltree._validation import as_shape3, check_positive, check_spacing

from ._checks import check_caps, check_point, check_points, check_radii, check_supersample

__all__ = ["tube", "torus", "rasterize_segments", "rasterize"]


def _bits_dtype(s: int):
    """Smallest integer dtype holding one bit per sub-sample (``s**3`` bits)."""
    n = s ** 3
    return np.uint8 if n <= 8 else (np.int32 if n <= 31 else np.int64)


def rasterize(shape, spacing, starts, ends, r0, r1, labels, flat: bool, s: int):
    """Rasterize validated pieces: ``(mask, label int32, radius float32)``.

    Preconditions (not checked): ``shape`` 3 ints, ``spacing`` 3 floats > 0, ``starts`` and
    ``ends`` float64 (n, 3) mm, ``r0``/``r1`` float64 (n,) > 0, ``labels`` (n,) ints >= 1,
    ``s`` in [1, 4]; with ``flat`` no zero-length piece. See :func:`rasterize_segments`
    for the meaning of the outputs.
    """
    bits = np.zeros(shape, dtype=_bits_dtype(s))
    best = np.empty(shape, dtype=np.float32)  # read only where label != 0
    label = np.zeros(shape, dtype=np.int32)
    radius = np.zeros(shape, dtype=np.float32)
    mask = np.zeros(shape, dtype=bool)
    sp = np.asarray(spacing, dtype=np.float64)
    if len(starts):
        labels = np.ascontiguousarray(labels, dtype=np.int32)
        raster_nb.rasterize_pieces(starts, ends, r0, r1, labels, sp, flat, s, bits, best, label, radius)
        raster_nb.finalize_coverage(starts, ends, r0, r1, sp, s, bits, best, label, radius, mask)
    return mask, label, radius


def tube(
    shape: Sequence[int],
    start: ArrayLike,
    end: ArrayLike,
    radius: float,
    spacing: float | ArrayLike = (1.0, 1.0, 1.0),
    *,
    radius_end: float | None = None,
    caps: str = "flat",
    supersample: int = 1,
) -> np.ndarray:
    """Boolean mask of a straight (tapered) tube between two points.

    Parameters
    ----------
    shape : 3 ints
        Output shape (z, y, x).
    start, end : 3 floats
        Axis end points in mm (z, y, x); voxel ``i`` has its centre at ``i * spacing``.
    radius : float
        Radius at ``start`` in mm (> 0).
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    radius_end : float, optional
        Radius at ``end`` in mm; defaults to ``radius`` (a cylinder). The radius varies
        linearly along the axis.
    caps : {"flat", "round"}
        "flat": cut perpendicular to the axis at the end points (a frustum, volume
        ``pi L (r0**2 + r0 r1 + r1**2) / 3``); "round": the union of the balls of radius
        ``r(t)`` centred along the axis, i.e. the convex hull of the two end balls (a
        capsule, volume ``pi r**2 L + 4 pi r**3 / 3``, when the radius is constant;
        ``start == end`` gives a ball).
    supersample : int in [1, 4]
        Partial volume: a voxel is set when at least half of its ``supersample**3``
        sub-samples are inside (exactly half: when its centre is inside too).

    Returns
    -------
    numpy.ndarray of bool, shape ``shape``

    Raises
    ------
    ValueError, TypeError
        Naming the invalid argument (e.g. ``end`` equal to ``start`` with flat caps).
    """
    shape = as_shape3(shape)
    spacing = check_spacing(spacing)
    a = check_point(start, "start")
    b = check_point(end, "end")
    r0 = check_positive(radius, "radius")
    r1 = r0 if radius_end is None else check_positive(radius_end, "radius_end")
    flat = check_caps(caps)
    s = check_supersample(supersample)
    if flat and np.array_equal(a, b):
        raise ValueError(
            f"end: expected a point different from start with caps='flat', got {b.tolist()}"
        )
    mask, _, _ = rasterize(
        shape, spacing, a[None], b[None], np.array([r0]), np.array([r1]),
        np.array([1], dtype=np.int32), flat, s,
    )
    return mask


def torus(
    shape: Sequence[int],
    center: ArrayLike,
    major_radius: float,
    minor_radius: float,
    spacing: float | ArrayLike = (1.0, 1.0, 1.0),
    *,
    axis: int = 0,
    supersample: int = 1,
) -> np.ndarray:
    """Boolean mask of a torus (a closed ring of tube, i.e. a vessel loop).

    Parameters
    ----------
    shape : 3 ints
        Output shape (z, y, x).
    center : 3 floats
        Centre in mm (z, y, x).
    major_radius : float
        Radius of the ring's centre line in mm (> 0).
    minor_radius : float
        Tube radius in mm, ``0 < minor_radius < major_radius`` (a ring with a hole).
        Volume ``2 pi**2 R r**2``.
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    axis : {0, 1, 2}
        Axis of symmetry; the ring lies in the plane perpendicular to it.
    supersample : int in [1, 4]
        Partial-volume sub-samples per axis (see :func:`tube`).

    Returns
    -------
    numpy.ndarray of bool, shape ``shape``

    Raises
    ------
    ValueError
        Naming ``minor_radius`` when ``minor_radius >= major_radius`` (a horn or spindle
        torus, without a hole), or the other invalid argument.
    """
    shape = as_shape3(shape)
    spacing = check_spacing(spacing)
    c = check_point(center, "center")
    big = check_positive(major_radius, "major_radius")
    small = check_positive(minor_radius, "minor_radius")
    if small >= big:
        raise ValueError(
            f"minor_radius: expected a tube radius < major_radius ({big} mm) so that the ring "
            f"has a hole, got {minor_radius!r}"
        )
    if isinstance(axis, bool) or axis not in (0, 1, 2):
        raise ValueError(f"axis: expected 0, 1 or 2 (z, y, x), got {axis!r}")
    s = check_supersample(supersample)
    mask = np.zeros(shape, dtype=bool)
    raster_nb.rasterize_torus(c, int(axis), big, small, np.asarray(spacing, dtype=np.float64), s, mask)
    return mask


def rasterize_segments(
    shape: Sequence[int],
    starts: ArrayLike,
    ends: ArrayLike,
    radii_start: float | ArrayLike,
    radii_end: float | ArrayLike,
    spacing: float | ArrayLike = (1.0, 1.0, 1.0),
    *,
    supersample: int = 2,
    caps: str = "round",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterize many straight tubes at once, with per-voxel ground truth.

    Parameters
    ----------
    shape : 3 ints
        Output shape (z, y, x).
    starts, ends : (n, 3) floats
        Axis end points in mm (z, y, x).
    radii_start, radii_end : float or (n,) floats
        Radii in mm (> 0) at ``starts`` and ``ends`` (linear in between).
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    supersample : int in [1, 4]
        Partial-volume sub-samples per axis; coverage is that of the union of the tubes.
    caps : {"round", "flat"}
        End caps, as in :func:`tube`.

    Returns
    -------
    mask : bool array
        Union of the tubes.
    segment_id : int32 array
        0 on background; ``k + 1`` on voxels of the mask where tube ``k`` is the "nearest
        covering" tube: among the tubes covering at least one sub-sample of the voxel, the
        one in which the voxel centre ``p`` lies deepest, i.e. with the smallest
        ``f_k(p) = min_t |p - c_k(t)| - r_k(t)`` (``c_k(t)`` its axis points, ``r_k(t)`` its
        radius there; round caps); ties keep the lower index.
    radius : float32 array
        True radius (mm) of that tube at the axis point ``c_k(t*)`` achieving the minimum:
        for an untapered tube, the axis point nearest to the voxel centre. 0 off the mask.
        (Flat caps: ``f_k = max(h - r_k(t), -t, t - L)`` and the radius at the clamped
        projection ``t``.)

    Raises
    ------
    ValueError, TypeError
        Naming the invalid argument (``starts``/``ends`` not (n, 3) finite, radii not > 0,
        zero-length segments with flat caps, ...).

    Notes
    -----
    Work is proportional to the sum of the tubes' bounding-box volumes.
    """
    shape = as_shape3(shape)
    spacing = check_spacing(spacing)
    a = check_points(starts, "starts")
    b = check_points(ends, "ends")
    if a.shape != b.shape:
        raise ValueError(
            f"ends: expected the same shape as starts {a.shape}, got {b.shape}"
        )
    n = a.shape[0]
    r0 = check_radii(radii_start, "radii_start", n)
    r1 = check_radii(radii_end, "radii_end", n)
    flat = check_caps(caps)
    s = check_supersample(supersample)
    if flat and n:
        same = np.all(a == b, axis=1)
        if same.any():
            raise ValueError(
                "ends: expected every end to differ from its start with caps='flat', "
                f"got zero-length segments at indices {np.flatnonzero(same)[:5].tolist()}"
            )
    labels = np.arange(1, n + 1, dtype=np.int32)
    return rasterize(shape, spacing, a, b, r0, r1, labels, flat, s)

"""Synthetic vessel phantoms with known ground truth, and a CT-like renderer.

A VascuSynth-like generator (Hamarneh & Jassi 2010, in spirit, not in code) for tests,
demos and benchmarks that need vessel masks without downloads:

* geometric primitives: :func:`tube` (tapered cylinder or capsule), :func:`torus`,
  :func:`rasterize_segments` (many tubes at once, with per-voxel ground truth);
* :func:`make_phantom`: a seeded recursive branching tree of tapered, mildly curved tubes
  obeying Murray's law ``r**g = r1**g + r2**g`` (``g = murray_exponent``, 3 by default,
  Murray 1926) with random asymmetry, optional anastomoses (loops);
* :func:`render_ct`: a contrast-enhanced CT-like image of a phantom (liver parenchyma in a
  body, bright vessels, optional hypodense tumours, partial-volume blur, noise).

Conventions
-----------
Axes are (z, y, x). Every length (coordinates, radii, blur) is in millimetres; voxel index
``i`` on an axis of spacing ``s`` has its centre at the physical coordinate ``i * s``.
Partial volume: a voxel is split into ``supersample**3`` sub-voxels and belongs to the mask
when at least half of their centres lie inside the shape, exactly half counting only when
the voxel centre is inside too (an unbiased tie-break; ``supersample=1``: centre test).
Rasterization runs in Numba kernels (:mod:`vesseltree._kernels.raster_nb`) whose work is
proportional to the shapes' bounding boxes, not to the volume.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from vesseltree._kernels import raster_nb
from vesseltree._validation import (
    as_shape3,
    check_nonnegative_int,
    check_positive,
    check_spacing,
)

__all__ = [
    "tube",
    "torus",
    "rasterize_segments",
    "Phantom",
    "make_phantom",
    "CT",
    "render_ct",
]

MAX_SUPERSAMPLE = 4  # 4**3 = 64 sub-samples fit one int64 bit set per voxel
_CAPS = ("flat", "round")


# --------------------------------------------------------------------------- validation
def _check_supersample(value) -> int:
    s = check_nonnegative_int(value, "supersample", minimum=1)
    if s > MAX_SUPERSAMPLE:
        raise ValueError(
            f"supersample: expected an integer in [1, {MAX_SUPERSAMPLE}], got {value!r}"
        )
    return s


def _check_caps(caps) -> bool:
    """Return True for flat caps."""
    if caps not in _CAPS:
        raise ValueError(f"caps: expected one of {_CAPS}, got {caps!r}")
    return caps == "flat"


def _check_point(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected 3 numbers (mm, z, y, x), got {value!r}") from exc
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected 3 finite numbers (mm, z, y, x), got {value!r}")
    return arr


def _check_points(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected an (n, 3) array of mm coordinates, got {value!r}") from exc
    if arr.ndim == 1 and arr.shape == (3,):
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(
            f"{name}: expected an (n, 3) array of (z, y, x) mm coordinates, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite coordinates, got NaN or inf")
    return np.ascontiguousarray(arr)


def _check_radii(value, name: str, n: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected positive numbers (mm), got {value!r}") from exc
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected a scalar or {n} radii, got shape {arr.shape}")
    if not np.all(np.isfinite(arr) & (arr > 0)):
        bad = arr[~(np.isfinite(arr) & (arr > 0))][:5]
        raise ValueError(f"{name}: expected finite radii > 0 (mm), got {bad.tolist()}")
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------- primitives
def _bits_dtype(s: int):
    n = s ** 3
    return np.uint8 if n <= 8 else (np.int32 if n <= 31 else np.int64)


def _rasterize(shape, spacing, starts, ends, r0, r1, labels, flat, s):
    """Validated inputs in; (mask, label int32, radius float32) out."""
    bits = np.zeros(shape, dtype=_bits_dtype(s))
    best = np.full(shape, np.inf, dtype=np.float32)
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
    start,
    end,
    radius: float,
    spacing=(1.0, 1.0, 1.0),
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
        ``pi L (r0**2 + r0 r1 + r1**2) / 3``); "round": a half ball of the end radius is
        added beyond each end (a capsule; ``start == end`` gives a ball).
    supersample : int in [1, 4]
        Partial volume: a voxel is set when at least half of its ``supersample**3``
        sub-samples are inside (exactly half: when its centre is inside too).

    Returns
    -------
    numpy.ndarray of bool, shape ``shape``
    """
    shape = as_shape3(shape)
    spacing = check_spacing(spacing)
    a = _check_point(start, "start")
    b = _check_point(end, "end")
    r0 = check_positive(radius, "radius")
    r1 = r0 if radius_end is None else check_positive(radius_end, "radius_end")
    flat = _check_caps(caps)
    s = _check_supersample(supersample)
    if flat and np.array_equal(a, b):
        raise ValueError(
            f"end: expected a point different from start with caps='flat', got {b.tolist()}"
        )
    mask, _, _ = _rasterize(
        shape, spacing, a[None], b[None], np.array([r0]), np.array([r1]),
        np.array([1], dtype=np.int32), flat, s,
    )
    return mask


def torus(
    shape: Sequence[int],
    center,
    major_radius: float,
    minor_radius: float,
    spacing=(1.0, 1.0, 1.0),
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
        Tube radius in mm (> 0); a ring with a hole needs ``minor_radius < major_radius``.
        Volume ``2 pi**2 R r**2``.
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    axis : {0, 1, 2}
        Axis of symmetry; the ring lies in the plane perpendicular to it.
    supersample : int in [1, 4]
        Partial-volume sub-samples per axis (see :func:`tube`).
    """
    shape = as_shape3(shape)
    spacing = check_spacing(spacing)
    c = _check_point(center, "center")
    big = check_positive(major_radius, "major_radius")
    small = check_positive(minor_radius, "minor_radius")
    if isinstance(axis, bool) or axis not in (0, 1, 2):
        raise ValueError(f"axis: expected 0, 1 or 2 (z, y, x), got {axis!r}")
    s = _check_supersample(supersample)
    mask = np.zeros(shape, dtype=bool)
    raster_nb.rasterize_torus(c, int(axis), big, small, np.asarray(spacing, dtype=np.float64), s, mask)
    return mask


def rasterize_segments(
    shape: Sequence[int],
    starts,
    ends,
    radii_start,
    radii_end,
    spacing=(1.0, 1.0, 1.0),
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
        one with the smallest ``|p - axis point| - r`` at the voxel centre ``p`` (deepest
        inside, relative to its surface); ties keep the lower index.
    radius : float32 array
        True radius (mm) of that tube at the axis point nearest to the voxel centre, 0 off
        the mask.

    Notes
    -----
    Work is proportional to the sum of the tubes' bounding-box volumes.
    """
    shape = as_shape3(shape)
    spacing = check_spacing(spacing)
    a = _check_points(starts, "starts")
    b = _check_points(ends, "ends")
    if a.shape != b.shape:
        raise ValueError(
            f"ends: expected the same shape as starts {a.shape}, got {b.shape}"
        )
    n = a.shape[0]
    r0 = _check_radii(radii_start, "radii_start", n)
    r1 = _check_radii(radii_end, "radii_end", n)
    flat = _check_caps(caps)
    s = _check_supersample(supersample)
    if flat and n:
        same = np.all(a == b, axis=1)
        if same.any():
            raise ValueError(
                "ends: expected every end to differ from its start with caps='flat', "
                f"got zero-length segments at indices {np.flatnonzero(same)[:5].tolist()}"
            )
    labels = np.arange(1, n + 1, dtype=np.int32)
    return _rasterize(shape, spacing, a, b, r0, r1, labels, flat, s)

"""Input checks of the synthetic generators (private; the shared ones live in
:mod:`vesseltree._validation`)."""
from __future__ import annotations

import numpy as np

from vesseltree._validation import check_nonnegative_int

MAX_SUPERSAMPLE = 4  # 4**3 = 64 sub-samples fit one int64 bit set per voxel
CAPS = ("flat", "round")


def check_supersample(value) -> int:
    """Sub-samples per axis, an integer in [1, MAX_SUPERSAMPLE]."""
    s = check_nonnegative_int(value, "supersample", minimum=1)
    if s > MAX_SUPERSAMPLE:
        raise ValueError(
            f"supersample: expected an integer in [1, {MAX_SUPERSAMPLE}], got {value!r}"
        )
    return s


def check_caps(caps) -> bool:
    """Return True for flat caps, False for round ones."""
    if caps not in CAPS:
        raise ValueError(f"caps: expected one of {CAPS}, got {caps!r}")
    return caps == "flat"


def check_point(value, name: str) -> np.ndarray:
    """One (z, y, x) point in mm as a float64 array of shape (3,)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected 3 numbers (mm, z, y, x), got {value!r}") from exc
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected 3 finite numbers (mm, z, y, x), got {value!r}")
    return arr


def check_points(value, name: str) -> np.ndarray:
    """(n, 3) points in mm (a single point is taken as n = 1), C-contiguous float64."""
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


def check_radii(value, name: str, n: int) -> np.ndarray:
    """A scalar or ``n`` radii in mm, all finite and > 0, as a float64 array of shape (n,)."""
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


def check_finite(value, name: str) -> float:
    """A finite real number (bool refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return v


def check_range(value, name: str, unit: str = "") -> tuple[float, float]:
    """A ``(low, high)`` pair of finite numbers with ``0 < low <= high``; ``unit`` (e.g.
    " mm") is appended to the expectation in the error messages."""
    expected = f"(low, high) with 0 < low <= high{unit}"
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected {expected}, got {value!r}") from exc
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return lo, hi

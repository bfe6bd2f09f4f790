"""Input checks shared by every public function of vesseltree.

Each check names the parameter, what was expected and what was received, and returns a
fresh, C-contiguous array of the right dtype so that callers (and the kernels behind them)
never see, nor modify, the user's array.
"""
from __future__ import annotations

from numbers import Real
from typing import Sequence

import numpy as np

__all__ = ["check_mask", "check_spacing", "check_positive", "check_nonnegative_int",
           "check_positive_int", "as_shape3"]


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_mask(mask, name: str = "mask", ndim: int = 3) -> np.ndarray:
    """Return ``mask`` as a new C-contiguous boolean array, or raise.

    Accepted: bool arrays, and integer or float arrays whose values are all 0 or 1.

    Raises
    ------
    TypeError
        If ``mask`` is not array-like of numbers.
    ValueError
        If it does not have ``ndim`` dimensions, holds NaN, or values other than 0 and 1.
    """
    try:
        arr = np.asarray(mask)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise TypeError(f"{name}: expected an array-like, got {_describe(mask)}") from exc
    if arr.dtype == object or not (
        arr.dtype == bool or np.issubdtype(arr.dtype, np.number)
    ):
        raise TypeError(
            f"{name}: expected a boolean or numeric array, got {_describe(mask)}"
        )
    if arr.ndim != ndim:
        layout = " (z, y, x)" if ndim == 3 else ""
        raise ValueError(
            f"{name}: expected a {ndim}D array{layout}, got {arr.ndim}D array of shape {arr.shape}"
        )
    if arr.dtype == bool:
        return np.array(arr, dtype=bool, order="C", copy=True)
    if np.iscomplexobj(arr):
        raise TypeError(f"{name}: expected real values, got {_describe(mask)}")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ValueError(f"{name}: expected a binary mask, got NaN values")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        values = np.unique(arr[bad])[:5]
        raise ValueError(
            f"{name}: expected a binary mask (bool or 0/1 values), got values {values.tolist()}"
        )
    return np.array(arr != 0, dtype=bool, order="C")


def check_spacing(spacing, name: str = "spacing", ndim: int = 3) -> tuple[float, ...]:
    """Return ``spacing`` (voxel size in mm, axes z, y, x) as a tuple of positive floats.

    A single positive number is broadcast to all axes.
    """
    if isinstance(spacing, (Real, np.number)) and not isinstance(spacing, bool):
        values = [float(spacing)] * ndim
    else:
        try:
            values = [float(v) for v in np.asarray(spacing, dtype=float).ravel()]
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name}: expected {ndim} positive numbers (mm, z, y, x), got {_describe(spacing)}"
            ) from exc
        if np.ndim(spacing) != 1 or len(values) != ndim:
            raise ValueError(
                f"{name}: expected {ndim} values (mm, z, y, x), got {_describe(spacing)}"
            )
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(
            f"{name}: expected finite positive values (mm), got {_describe(spacing)}"
        )
    return tuple(values)


def check_positive(value, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is finite and > 0 (>= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (Real, np.number)):
        raise TypeError(f"{name}: expected a number, got {_describe(value)}")
    v = float(value)
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        expected = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return v


def check_nonnegative_int(value, name: str, *, minimum: int = 0) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum`` (default 0).

    For counts that must be at least 1 use :func:`check_positive_int`.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer >= {minimum}, got {_describe(value)}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum`` (default 1).

    The check for counts (``m``, ``window``, ``n_slices``, ...); ``minimum`` raises the floor
    for parameters such as the number of scales (>= 2).
    """
    if minimum < 1:
        raise ValueError(f"minimum: expected an integer >= 1, got {minimum!r}")
    return check_nonnegative_int(value, name, minimum=minimum)


def as_shape3(shape: Sequence[int], name: str = "shape") -> tuple[int, int, int]:
    """Return ``shape`` as a 3-tuple of positive ints (z, y, x), or raise ValueError."""
    try:
        dims = tuple(int(s) for s in shape)
    except TypeError as exc:
        raise TypeError(f"{name}: expected 3 positive integers (z, y, x), got {_describe(shape)}") from exc
    if len(dims) != 3 or any(d <= 0 for d in dims) or any(
        float(s) != int(s) for s in shape
    ):
        raise ValueError(f"{name}: expected 3 positive integers (z, y, x), got {_describe(shape)}")
    return dims


def check_axis(axis, name: str = "axis") -> int:
    """An axis of a (z, y, x) volume: the int 0 (z), 1 (y) or 2 (x) (no bool, no float)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not 0 <= axis <= 2:
        raise ValueError(f"{name}: expected 0 (z), 1 (y) or 2 (x), got {axis!r}")
    return int(axis)

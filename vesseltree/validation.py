"""Input checks shared by vesseltree and the packages built on it (vesselnet).

The public home of the checks every vesseltree function uses on its inputs. Each check
names the parameter, states what was expected and what was received, raises ``TypeError``
(wrong kind of object) or ``ValueError`` (wrong shape or values), and returns a fresh value
of the right type, so that callers, and the kernels behind them, never see nor modify the
user's object:

* :func:`check_mask` - a binary array (bool or 0/1) as a new C-contiguous bool array;
* :func:`check_spacing` - a voxel size in mm (one number or one per axis) as a tuple;
* :func:`check_positive` - a finite number > 0 (or >= 0);
* :func:`check_nonnegative_int`, :func:`check_positive_int` - counts;
* :func:`as_shape3` - a (z, y, x) shape of positive ints;
* :func:`check_axis` - an axis of a (z, y, x) volume (0, 1 or 2).
"""
from __future__ import annotations

from ._validation import (
    as_shape3,
    check_axis,
    check_mask,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
    check_spacing,
)

__all__ = [
    "check_mask",
    "check_spacing",
    "check_positive",
    "check_nonnegative_int",
    "check_positive_int",
    "as_shape3",
    "check_axis",
]

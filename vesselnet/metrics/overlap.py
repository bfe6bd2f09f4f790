"""Overlap metrics: Dice similarity coefficient and Jaccard index (paper Sect. 3.3).

For a ground truth ``GT`` and a prediction ``P`` (binary masks of the same shape)::

    DSC  = 2 |GT n P| / (|GT| + |P|)
    Jacc = |GT n P| / |GT u P|

Empty masks
-----------
Both empty: 1.0 (the prediction agrees perfectly with an empty ground truth; MONAI's
``compute_dice(..., ignore_empty=False)`` convention). One empty: 0.0, which is what the
formulas give. Neither case is ever NaN.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ._common import check_pair

__all__ = ["Confusion", "confusion_counts", "compute_dice", "compute_jaccard"]


class Confusion(NamedTuple):
    """Voxel counts of a prediction against a ground truth."""

    tp: int
    fp: int
    fn: int


def _counts(p: np.ndarray, g: np.ndarray) -> Confusion:
    tp = int(np.count_nonzero(p & g))
    return Confusion(tp, int(np.count_nonzero(p)) - tp, int(np.count_nonzero(g)) - tp)


def confusion_counts(pred: ArrayLike, gt: ArrayLike) -> Confusion:
    """True positive, false positive and false negative voxel counts.

    Parameters
    ----------
    pred, gt : array_like, shape (z, y, x)
        Binary masks (bool or 0/1) of the same shape.

    Returns
    -------
    Confusion
        ``(tp, fp, fn)`` as ints.

    Raises
    ------
    ValueError, TypeError
        Naming ``pred`` or ``gt`` for non-binary values or a wrong ndim, both for a shape
        mismatch.
    """
    return _counts(*check_pair(pred, gt))


def _dice(c: Confusion) -> float:
    denom = 2 * c.tp + c.fp + c.fn
    return 1.0 if denom == 0 else 2.0 * c.tp / denom


def _jaccard(c: Confusion) -> float:
    denom = c.tp + c.fp + c.fn
    return 1.0 if denom == 0 else c.tp / denom


def compute_dice(pred: ArrayLike, gt: ArrayLike) -> float:
    """Dice similarity coefficient ``2 |GT n P| / (|GT| + |P|)`` in [0, 1].

    Parameters
    ----------
    pred, gt : array_like, shape (z, y, x)
        Binary masks (bool or 0/1) of the same shape; symmetric in its arguments.

    Returns
    -------
    float
        1.0 when both masks are empty, 0.0 when exactly one is (module docstring).

    Raises
    ------
    ValueError, TypeError
        Naming ``pred`` or ``gt`` for non-binary values or a wrong ndim, both for a shape
        mismatch.
    """
    return _dice(confusion_counts(pred, gt))


def compute_jaccard(pred: ArrayLike, gt: ArrayLike) -> float:
    """Jaccard index (intersection over union) ``|GT n P| / |GT u P|`` in [0, 1].

    Parameters
    ----------
    pred, gt : array_like, shape (z, y, x)
        Binary masks (bool or 0/1) of the same shape; symmetric in its arguments.

    Returns
    -------
    float
        1.0 when both masks are empty, 0.0 when exactly one is (module docstring).

    Raises
    ------
    ValueError, TypeError
        Naming ``pred`` or ``gt`` for non-binary values or a wrong ndim, both for a shape
        mismatch.
    """
    return _jaccard(confusion_counts(pred, gt))

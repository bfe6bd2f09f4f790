"""Shared input handling of the metric functions (private)."""
from __future__ import annotations

import numpy as np

from vesseltree.arrays import bounding_box
from vesseltree.validation import check_mask, check_spacing

__all__ = ["check_pair", "check_mask", "check_spacing", "bounding_box"]


def check_pair(pred, gt, pred_name: str = "pred", gt_name: str = "gt") -> tuple[np.ndarray, np.ndarray]:
    """Validate a prediction / ground-truth pair: two binary 3D masks of the same shape.

    Returns new C-contiguous boolean copies (the inputs are never modified).

    Raises
    ------
    TypeError, ValueError
        Naming ``pred_name`` or ``gt_name`` (non-binary values, NaN, wrong ndim), or both
        names for a shape mismatch.
    """
    p = check_mask(pred, pred_name)
    g = check_mask(gt, gt_name)
    if p.shape != g.shape:
        raise ValueError(
            f"{pred_name}, {gt_name}: expected masks of the same shape (z, y, x), got "
            f"{pred_name} {p.shape} and {gt_name} {g.shape}"
        )
    return p, g

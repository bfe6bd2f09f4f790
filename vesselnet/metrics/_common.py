"""Shared input handling of the metric functions (private)."""
from __future__ import annotations

import numpy as np

from vesseltree._validation import check_mask, check_spacing

__all__ = ["check_pair", "check_spacing", "bounding_box"]


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


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...] | None:
    """Slices of the smallest box holding every ``True`` voxel, grown by ``margin`` voxels
    and clipped to the array; ``None`` for an empty mask."""
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(mask.any(axis=other))
        if hit.size == 0:
            return None
        lo = max(int(hit[0]) - margin, 0)
        hi = min(int(hit[-1]) + 1 + margin, mask.shape[axis])
        box.append(slice(lo, hi))
    return tuple(box)

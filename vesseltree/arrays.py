"""Small array helpers shared by vesseltree and vesselnet."""
from __future__ import annotations

import numpy as np

__all__ = ["bounding_box"]


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...] | None:
    """Slices of the smallest box holding every ``True`` voxel of ``mask``.

    Parameters
    ----------
    mask : numpy.ndarray of bool, any number of dimensions
        Not validated (callers check their inputs).
    margin : int, default 0
        Voxels added on every side; the box is clipped to the array.

    Returns
    -------
    tuple of slice, or None
        One slice per axis (``mask[box]`` is the crop); ``None`` for an empty mask.
    """
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

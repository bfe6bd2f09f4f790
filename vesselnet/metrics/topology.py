"""Centreline Dice (clDice; Shit et al., CVPR 2021), the paper's clDSC (Sect. 3.3, Table 1).

With ``S(.)`` the skeleton (Lee 1994 thinning, :func:`vesseltree.skeletonize`), ``P`` the
prediction and ``L`` the ground-truth label mask::

    Tprec = |S(P) n L| / |S(P)|        (topology precision)
    Tsens = |S(L) n P| / |S(L)|        (topology sensitivity)
    clDice = 2 Tprec Tsens / (Tprec + Tsens)

Empty masks
-----------
Both empty: ``Tprec = Tsens = clDice = 1.0``. Exactly one empty: the formula's undefined term
(``0 / 0`` on the empty side) is set to 0 and so is clDice: an empty prediction recovers no
centreline, a prediction of nothing-there has no centreline in the ground truth. Also
``clDice = 0`` when ``Tprec + Tsens = 0``. Never NaN.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ._common import check_pair

__all__ = ["ClDice", "cldice_components", "compute_cldice", "skeleton_of"]


class ClDice(NamedTuple):
    """clDice and its two terms, each in [0, 1]."""

    cldice: float
    tprec: float
    tsens: float


def skeleton_of(mask: ArrayLike) -> np.ndarray:
    """Skeleton used by clDice: :func:`vesseltree.skeletonize` (Lee thinning).

    Parameters
    ----------
    mask : array_like, shape (z, y, x)
        Binary mask.

    Returns
    -------
    numpy.ndarray of bool, shape (z, y, x)
    """
    from vesseltree import skeletonize

    return np.asarray(skeletonize(mask), dtype=bool)


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def cldice_components(
    pred: ArrayLike,
    gt: ArrayLike,
    *,
    pred_skeleton: ArrayLike | None = None,
    gt_skeleton: ArrayLike | None = None,
) -> ClDice:
    """clDice with its topology precision and sensitivity (module docstring).

    Parameters
    ----------
    pred, gt : array_like, shape (z, y, x)
        Binary masks (bool or 0/1) of the same shape.
    pred_skeleton, gt_skeleton : array_like, optional
        Precomputed skeletons of ``pred`` / ``gt`` (binary, same shape); computed with
        :func:`vesseltree.skeletonize` when omitted.

    Returns
    -------
    ClDice
        ``(cldice, tprec, tsens)``.

    Raises
    ------
    ValueError, TypeError
        Naming ``pred``, ``gt``, ``pred_skeleton`` or ``gt_skeleton``.
    """
    p, g = check_pair(pred, gt)
    p_empty, g_empty = not p.any(), not g.any()
    if p_empty and g_empty:
        return ClDice(1.0, 1.0, 1.0)
    sp = skeleton_of(p) if pred_skeleton is None else check_pair(pred_skeleton, p, "pred_skeleton", "pred")[0]
    sg = skeleton_of(g) if gt_skeleton is None else check_pair(gt_skeleton, g, "gt_skeleton", "gt")[0]
    tprec = _ratio(int(np.count_nonzero(sp & g)), int(np.count_nonzero(sp)))
    tsens = _ratio(int(np.count_nonzero(sg & p)), int(np.count_nonzero(sg)))
    cl = 2.0 * tprec * tsens / (tprec + tsens) if (tprec + tsens) > 0 else 0.0
    return ClDice(cl, tprec, tsens)


def compute_cldice(pred: ArrayLike, gt: ArrayLike) -> float:
    """clDice of a prediction against a ground truth, in [0, 1]; symmetric in its arguments.

    Parameters
    ----------
    pred, gt : array_like, shape (z, y, x)
        Binary masks (bool or 0/1) of the same shape.

    Returns
    -------
    float
        1.0 when both masks are empty, 0.0 when one is (module docstring).

    Raises
    ------
    ValueError, TypeError
        Naming ``pred`` or ``gt``.
    """
    return cldice_components(pred, gt).cldice

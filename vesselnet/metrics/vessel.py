"""Vessel-aware metrics beyond the paper: recall per vessel scale and branch detection rate.

Both read the ground truth through :func:`vesseltree.analyze` (skeleton, branch radii Eq. 1-2,
nearest-branch labels Eq. 3, scale masks ``y^s``), so a user sees *which* vessels a
prediction loses, typically the small ones that DSC hardly notices.

* **Recall per scale** ``s = 1..S`` (scale 1 = smallest vessels):
  ``R_s = |y^s n P| / |y^s|``, the share of the ground-truth voxels of scale ``s`` that the
  prediction ``P`` covers. The ``y^s`` partition the ground truth.
* **Branch detection rate**: with ``V_b`` the ground-truth voxels labelled with branch ``b``
  (Eq. 3, every vessel voxel to its nearest branch), a branch is *detected* when
  ``|V_b n P| >= min_fraction * |V_b|`` (default: at least half); the rate is the share of
  detected branches among the branches with at least one labelled voxel.

Empty masks
-----------
A scale whose mask ``y^s`` is empty has an undefined recall, returned as ``nan``, and so are all
scales of a ground truth with fewer branches than scales (no quantile thresholds); a ground truth
without any labelled branch (in particular an empty one, for which :func:`vesseltree.analyze`
is not called) has an undefined detection rate, ``nan``. An empty prediction gives 0.0
wherever the value is defined. The accumulators count ``nan`` cases apart instead of averaging
them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from vesseltree.validation import check_mask, check_positive, check_positive_int

from vesseltree.scales import ScaleRule

from ._common import check_pair, check_spacing

__all__ = [
    "scale_recall",
    "BranchDetection",
    "branch_detection",
    "branch_detection_rate",
    "analyze_reference",
    "VesselMetrics",
    "vessel_metrics",
    "compute_scale_recall",
    "compute_branch_detection_rate",
]


def _check_fraction(value) -> float:
    v = check_positive(value, "min_fraction")
    if v > 1.0:
        raise ValueError(f"min_fraction: expected a number in (0, 1], got {value!r}")
    return v


def scale_recall(pred: ArrayLike, scale_masks: ArrayLike) -> np.ndarray:
    """Recall of each ground-truth scale mask: ``R_s = |y^s n P| / |y^s|``.

    Parameters
    ----------
    pred : array_like, shape (z, y, x)
        Binary prediction.
    scale_masks : array_like, shape (S, z, y, x)
        Binary ground-truth scale masks ``y^s``, scale 1 (index 0) = smallest vessels.

    Returns
    -------
    numpy.ndarray of float64, shape (S,)
        ``nan`` for a scale whose mask is empty (module docstring).

    Raises
    ------
    ValueError, TypeError
        Naming ``pred`` or ``scale_masks`` (not binary, wrong ndim, shapes that differ).
    """
    p = check_mask(pred, "pred")
    try:
        nd = np.ndim(scale_masks)
    except ValueError as exc:  # ragged nested sequences
        raise TypeError(f"scale_masks: expected a 4D array (S, z, y, x), got {type(scale_masks).__name__}") from exc
    if nd != 4:
        raise ValueError(
            f"scale_masks: expected a 4D array (S, z, y, x), one binary mask per scale, got "
            f"{nd}D array of shape {np.shape(scale_masks)}"
        )
    sm = check_mask(scale_masks, "scale_masks", ndim=4)
    if sm.shape[1:] != p.shape:
        raise ValueError(
            f"scale_masks, pred: expected scale masks of shape (S, *{p.shape}), got {sm.shape}"
        )
    total = sm.reshape(sm.shape[0], -1).sum(axis=1)
    hit = (sm & p[None]).reshape(sm.shape[0], -1).sum(axis=1)
    out = np.full(sm.shape[0], np.nan)
    ok = total > 0
    out[ok] = hit[ok] / total[ok]
    return out


@dataclass(frozen=True)
class BranchDetection:
    """Per-branch recovery of the ground truth.

    Attributes
    ----------
    rate : float
        ``n_detected / n_branches`` (``nan`` when ``n_branches == 0``).
    n_detected, n_branches : int
    branch_ids : numpy.ndarray of int64
        Ids of the branches with labelled voxels.
    recovered : numpy.ndarray of float64
        ``|V_b n P| / |V_b|`` for each of ``branch_ids``.
    """

    rate: float
    n_detected: int
    n_branches: int
    branch_ids: np.ndarray = field(repr=False)
    recovered: np.ndarray = field(repr=False)


def branch_detection(pred: ArrayLike, labels: ArrayLike, min_fraction: float = 0.5) -> BranchDetection:
    """Which ground-truth branches the prediction recovers (module docstring).

    Parameters
    ----------
    pred : array_like, shape (z, y, x)
        Binary prediction.
    labels : array_like of int, shape (z, y, x)
        Nearest-branch label of every ground-truth vessel voxel (Eq. 3), 0 = background,
        branch ids >= 1 (``VesselTree.labels``).
    min_fraction : float in (0, 1], default 0.5
        A branch is detected when at least this share of its voxels is predicted.

    Returns
    -------
    BranchDetection
        Rate (``nan`` without labelled branches), counts and per-branch recovered fractions.

    Raises
    ------
    ValueError, TypeError
        Naming ``pred``, ``labels`` (not a 3D integer array >= 0, shape differing from
        ``pred``) or ``min_fraction``.
    """
    p = check_mask(pred, "pred")
    lab = np.asarray(labels)
    if lab.ndim != 3 or not (np.issubdtype(lab.dtype, np.integer)):
        raise TypeError(f"labels: expected a 3D integer array, got array of shape {lab.shape} and dtype {lab.dtype}")
    if lab.shape != p.shape:
        raise ValueError(f"labels, pred: expected the same shape, got labels {lab.shape} and pred {p.shape}")
    if lab.size and lab.min() < 0:
        raise ValueError(f"labels: expected branch ids >= 0 (0 = background), got {int(lab.min())}")
    frac = _check_fraction(min_fraction)
    flat = lab.ravel().astype(np.int64, copy=False)
    n = int(flat.max()) + 1 if flat.size else 1
    size = np.bincount(flat, minlength=n)
    hit = np.bincount(flat[p.ravel()], minlength=n)
    ids = np.flatnonzero(size)
    ids = ids[ids > 0]
    rec = hit[ids] / size[ids]
    detected = hit[ids] >= frac * size[ids]
    nb = int(ids.size)
    nd = int(np.count_nonzero(detected))
    return BranchDetection(nd / nb if nb else float("nan"), nd, nb, ids.astype(np.int64), rec.astype(np.float64))


def branch_detection_rate(pred: ArrayLike, labels: ArrayLike, min_fraction: float = 0.5) -> float:
    """Share of ground-truth branches with at least ``min_fraction`` of their Eq. 3 voxels
    predicted.

    Parameters
    ----------
    pred : array_like, shape (z, y, x)
        Binary prediction.
    labels : array_like of int, shape (z, y, x)
        Nearest-branch labels of the ground truth (Eq. 3), 0 = background.
    min_fraction : float in (0, 1], default 0.5
        Detection threshold of a branch.

    Returns
    -------
    float
        In [0, 1]; ``nan`` when ``labels`` holds no branch. See :func:`branch_detection`.

    Raises
    ------
    ValueError, TypeError
        As :func:`branch_detection`.
    """
    return branch_detection(pred, labels, min_fraction).rate


def analyze_reference(gt: ArrayLike, spacing: float | ArrayLike = 1.0, **options):
    """:func:`vesseltree.analyze` of a ground truth.

    Parameters
    ----------
    gt : array_like, shape (z, y, x)
        Binary ground truth.
    spacing : float or 3 floats, default 1.0
        Voxel size in mm (z, y, x).
    **options
        Passed to :func:`vesseltree.analyze`.

    Returns
    -------
    vesseltree.VesselTree or None
        ``None`` for an empty mask (``analyze`` is not called).
    """
    g = check_mask(gt, "gt")
    sp = check_spacing(spacing, "spacing")
    if not g.any():
        return None
    from vesseltree import analyze

    return analyze(g, sp, **options)


def _check_tree_of(tree, g: np.ndarray) -> None:
    """A precomputed tree must be the analysis of this ground truth (same voxels)."""
    mask = getattr(tree, "mask", None)
    if mask is None or np.shape(mask) != g.shape:
        raise ValueError(f"tree: expected vesseltree.analyze(gt) for gt of shape {g.shape}, got "
                         f"a tree of shape {None if mask is None else np.shape(mask)}")
    if not np.array_equal(mask, g):
        diff = int(np.count_nonzero(np.asarray(mask) != g))
        raise ValueError(f"tree: its mask is not the analysis of gt ({diff} voxels differ); pass "
                         "the tree of this ground truth or none")


@dataclass(frozen=True)
class VesselMetrics:
    """Recall per scale (scale 1 = smallest) and branch detection of one prediction.

    Attributes
    ----------
    scale_recall : numpy.ndarray of float64, shape (S,)
        ``R_s`` per scale, ``nan`` where undefined.
    branch : BranchDetection
        Per-branch recovery.
    """

    scale_recall: np.ndarray
    branch: BranchDetection

    @property
    def branch_detection_rate(self) -> float:
        """``branch.rate``: share of detected ground-truth branches (``nan`` without any)."""
        return self.branch.rate


def _empty_detection() -> BranchDetection:
    e = np.zeros(0)
    return BranchDetection(float("nan"), 0, 0, e.astype(np.int64), e)


def vessel_metrics(pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0, *,
                   n_scales: int = 3, tree=None, min_fraction: float = 0.5,
                   **analyze_options) -> VesselMetrics:
    """Recall per scale and branch detection of ``pred`` against ``gt``.

    Parameters
    ----------
    pred, gt : array_like, shape (z, y, x)
        Binary masks of the same shape.
    spacing : float or 3 floats, default 1.0
        Voxel size in mm (z, y, x), used by :func:`vesseltree.analyze`.
    n_scales : int >= 2, default 3
        Number of scales ``S`` of the ground truth (quantile thresholds of
        :meth:`vesseltree.VesselTree.scale_masks`).
    tree : vesseltree.VesselTree, optional
        ``vesseltree.analyze(gt, spacing)`` computed beforehand (it is the expensive part; the
        same ground truth is often compared with several predictions).
    min_fraction : float, default 0.5
        Detection threshold of a branch (module docstring).
    **analyze_options
        Passed to :func:`vesseltree.analyze` when ``tree`` is not given.

    Returns
    -------
    VesselMetrics
        All ``nan`` for an empty ground truth; recall ``nan`` for every scale when the tree
        has fewer branches than ``n_scales`` (module docstring).

    Raises
    ------
    ValueError, TypeError
        Naming ``pred``, ``gt``, ``spacing``, ``n_scales``, ``min_fraction`` or ``tree``
        (a tree whose mask is not ``gt``).
    """
    p, g = check_pair(pred, gt)
    s = check_positive_int(n_scales, "n_scales", minimum=2)
    _check_fraction(min_fraction)
    rule = ScaleRule.quantiles(s)
    if tree is None:
        analyze_options.setdefault("scale_rule", rule)
        tree = analyze_reference(g, spacing, **analyze_options)
    else:
        _check_tree_of(tree, g)
    if tree is None or not g.any():  # empty ground truth
        return VesselMetrics(np.full(s, np.nan), _empty_detection())
    labels = np.asarray(tree.labels)
    if len(tree.branches) < s:  # too few branches for S quantile scales: undefined
        recall = np.full(s, np.nan)
    else:
        recall = scale_recall(p, tree.scale_masks(rule))
    return VesselMetrics(recall, branch_detection(p, labels, min_fraction))


def compute_scale_recall(pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0, *,
                         n_scales: int = 3, tree=None, **analyze_options) -> np.ndarray:
    """Recall of each ground-truth vessel scale, ``R_s = |y^s n P| / |y^s|``.

    Parameters
    ----------
    pred, gt : array_like, shape (z, y, x)
        Binary masks of the same shape.
    spacing : float or 3 floats, default 1.0
        Voxel size in mm (z, y, x).
    n_scales : int >= 2, default 3
        Number of ground-truth scales S.
    tree : vesseltree.VesselTree, optional
        Precomputed ``vesseltree.analyze(gt, spacing)``.
    **analyze_options
        Passed to :func:`vesseltree.analyze` when ``tree`` is not given.

    Returns
    -------
    numpy.ndarray of float64, shape (n_scales,)
        Scale 1 (smallest vessels) first; ``nan`` where undefined (see
        :func:`vessel_metrics`).

    Raises
    ------
    ValueError, TypeError
        As :func:`vessel_metrics`.
    """
    return vessel_metrics(pred, gt, spacing, n_scales=n_scales, tree=tree, **analyze_options).scale_recall


def compute_branch_detection_rate(pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0,
                                  *, tree=None, min_fraction: float = 0.5,
                                  **analyze_options) -> float:
    """Share of ground-truth branches of which at least ``min_fraction`` is predicted.

    Parameters
    ----------
    pred, gt : array_like, shape (z, y, x)
        Binary masks of the same shape.
    spacing : float or 3 floats, default 1.0
        Voxel size in mm (z, y, x).
    tree : vesseltree.VesselTree, optional
        Precomputed ``vesseltree.analyze(gt, spacing)`` (its ``labels`` are used).
    min_fraction : float in (0, 1], default 0.5
        Detection threshold of a branch.
    **analyze_options
        Passed to :func:`vesseltree.analyze` when ``tree`` is not given.

    Returns
    -------
    float
        In [0, 1]; ``nan`` for a ground truth without labelled branches.

    Raises
    ------
    ValueError, TypeError
        As :func:`vessel_metrics`.
    """
    return vessel_metrics(pred, gt, spacing, tree=tree, min_fraction=min_fraction, **analyze_options).branch_detection_rate

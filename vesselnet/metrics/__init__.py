"""Segmentation metrics (paper Sect. 3.3 and beyond), NumPy/SciPy only (never torch).

Pure functions
--------------
* :func:`compute_dice`, :func:`compute_jaccard` (:mod:`.overlap`)
* :func:`compute_cldice`, :func:`cldice_components` (:mod:`.topology`, Shit et al. 2021)
* :func:`compute_hausdorff`, :func:`compute_hd95`, :func:`compute_assd`,
  :func:`surface_distances` (:mod:`.surface`, mm, MONAI's HD95)
* :func:`compute_scale_recall`, :func:`compute_branch_detection_rate`, :func:`vessel_metrics`
  (:mod:`.vessel`, through :func:`vesseltree.analyze` of the ground truth)
* :func:`evaluate_case` (all of them, sharing the expensive steps)

Accumulators (per-case values, mean +- std, CSV / Markdown)
-----------------------------------------------------------
:class:`DiceMetric`, :class:`JaccardMetric`, :class:`ClDiceMetric`, :class:`HausdorffMetric`,
:class:`HD95Metric`, :class:`ASSDMetric`, :class:`ScaleRecallMetric`,
:class:`BranchDetectionMetric`, :class:`CaseEvaluator` (:mod:`.accumulator`), on the
per-case table :class:`MetricAccumulator` (:mod:`.table`); labels, units and the
Table-1-style Markdown in :mod:`.report`.

Every module states its empty-mask policy: no function raises or returns ``inf`` for an empty
mask; undefined values are ``nan`` and the accumulators count them apart from the averages.
"""
from __future__ import annotations

from .accumulator import (
    ASSDMetric,
    BranchDetectionMetric,
    CaseEvaluator,
    ClDiceMetric,
    DiceMetric,
    HausdorffMetric,
    HD95Metric,
    JaccardMetric,
    MetricAccumulator,
    ScaleRecallMetric,
    column_info,
    evaluate_case,
    summary_markdown,
)
from .overlap import Confusion, compute_dice, compute_jaccard, confusion_counts
from .surface import (
    SurfaceDistances,
    compute_assd,
    compute_hausdorff,
    compute_hd95,
    compute_surface_metrics,
    mask_surface,
    surface_distances,
)
from .topology import ClDice, cldice_components, compute_cldice
from .vessel import (
    BranchDetection,
    VesselMetrics,
    branch_detection,
    branch_detection_rate,
    compute_branch_detection_rate,
    compute_scale_recall,
    scale_recall,
    vessel_metrics,
)

__all__ = [
    "ASSDMetric",
    "BranchDetection",
    "BranchDetectionMetric",
    "CaseEvaluator",
    "ClDice",
    "ClDiceMetric",
    "Confusion",
    "DiceMetric",
    "HD95Metric",
    "HausdorffMetric",
    "JaccardMetric",
    "MetricAccumulator",
    "ScaleRecallMetric",
    "SurfaceDistances",
    "VesselMetrics",
    "branch_detection",
    "branch_detection_rate",
    "cldice_components",
    "column_info",
    "compute_assd",
    "compute_branch_detection_rate",
    "compute_cldice",
    "compute_dice",
    "compute_hausdorff",
    "compute_hd95",
    "compute_jaccard",
    "compute_scale_recall",
    "compute_surface_metrics",
    "confusion_counts",
    "evaluate_case",
    "mask_surface",
    "scale_recall",
    "summary_markdown",
    "surface_distances",
    "vessel_metrics",
]

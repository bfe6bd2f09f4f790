"""Accumulating metric classes: per-case values, mean +- std, CSV and Markdown export.

:class:`~vesselnet.metrics.table.MetricAccumulator` records cases and computes the
statistics; each metric class here accumulates one pure function of this package. The
single-function metrics are built from one table (:data:`_FUNCTION_METRICS`: column,
function, whether it takes ``spacing``); the others set the function's options (the
percentile of :class:`HausdorffMetric`, the scales and the analysis of the ground truth of
the vessel metrics) and its columns. :class:`CaseEvaluator` computes all of them at once,
sharing the expensive parts (one pair of surface distance searches, one
:func:`vesseltree.analyze` of the ground truth), and :func:`evaluate_case` is its pure
counterpart. How tables are shown (labels, units, the Markdown summary) lives in
:mod:`vesselnet.metrics.report`.

Undefined values
----------------
A metric may be undefined for a case (``nan``: a surface distance with exactly one empty
mask, the recall of an empty scale, see each module's empty-mask policy). Such values are kept
in the per-case table, **excluded** from the mean and std, and **counted** (``n_undefined``),
and the Markdown summary says so next to the number; a mean over zero defined cases is
reported as ``n/a``, never as a number. Standard deviations are population ones (``ddof=0``,
``numpy.std``'s default) unless ``ddof`` is given.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from vesseltree.validation import check_positive_int

from ._common import check_pair, check_spacing
from .overlap import compute_dice, compute_jaccard
from .report import ColumnInfo, column_info, summary_markdown
from .surface import _check_percentile, compute_assd, compute_hausdorff
from .table import MetricAccumulator
from .topology import compute_cldice
from .vessel import _check_fraction, compute_branch_detection_rate, compute_scale_recall

__all__ = [
    "ColumnInfo",
    "column_info",
    "MetricAccumulator",
    "DiceMetric",
    "JaccardMetric",
    "ClDiceMetric",
    "HausdorffMetric",
    "HD95Metric",
    "ASSDMetric",
    "ScaleRecallMetric",
    "BranchDetectionMetric",
    "CaseEvaluator",
    "evaluate_case",
    "summary_markdown",
]


def _recall_columns(n_scales: int) -> tuple[str, ...]:
    """Column names of the per-scale recall, ``recall_s1 .. recall_s<n_scales>``."""
    return tuple(f"recall_s{k}" for k in range(1, n_scales + 1))


def _recall_values(recall) -> dict[str, float]:
    """``{recall_s1: R_1, ...}``: the per-scale recall under its column names, as floats."""
    return {c: float(r) for c, r in zip(_recall_columns(len(recall)), recall)}


# -- metrics of one function ----------------------------------------------------------------
class _FunctionMetric(MetricAccumulator):
    """Accumulates one pure function of a case, ``f(pred, gt[, spacing], **options)``.

    Subclasses set ``_function`` (a staticmethod), ``_uses_spacing``, ``columns``, and may
    override :meth:`_options` (keyword arguments from the constructor) and :meth:`_values`
    (the function's result as ``{column: value}``).
    """

    _function = None
    _uses_spacing = False

    def _options(self) -> dict:
        return {}

    def _values(self, result) -> dict[str, float]:
        return {self.columns[0]: result}

    def compute(
        self, pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0, **kwargs
    ) -> dict[str, float]:
        """The metric(s) of one case.

        Parameters
        ----------
        pred, gt : array_like, shape (z, y, x)
            Binary masks of the same shape.
        spacing : float or 3 floats, default 1.0
            Voxel size in mm (z, y, x); unused by the overlap metrics (kept for a uniform
            signature).
        **kwargs
            Passed to the function: ``tree=`` (a precomputed
            ``vesseltree.analyze(gt, spacing)``) for the vessel metrics.

        Returns
        -------
        dict of str to float
            ``{column: value}`` for every column: fractions in [0, 1], distances in mm
            (``nan`` where undefined).
        """
        args = (pred, gt, spacing) if self._uses_spacing else (pred, gt)
        return self._values(type(self)._function(*args, **kwargs, **self._options()))


# class name -> (column, function, takes spacing): the metrics without options
_FUNCTION_METRICS = {
    "DiceMetric": ("dsc", compute_dice, False),
    "JaccardMetric": ("jaccard", compute_jaccard, False),
    "ClDiceMetric": ("cldice", compute_cldice, False),
    "ASSDMetric": ("assd", compute_assd, True),
}


def _function_metric(name: str) -> type:
    """The class of row ``name`` of :data:`_FUNCTION_METRICS`."""
    column, function, uses_spacing = _FUNCTION_METRICS[name]
    doc = (f"Accumulates :func:`~{function.__module__}.{function.__name__}` "
           f"(column ``{column}``).")
    return type(name, (_FunctionMetric,), {
        "__doc__": doc, "__module__": __name__, "__qualname__": name, "columns": (column,),
        "_function": staticmethod(function), "_uses_spacing": uses_spacing,
    })


DiceMetric = _function_metric("DiceMetric")
JaccardMetric = _function_metric("JaccardMetric")
ClDiceMetric = _function_metric("ClDiceMetric")
ASSDMetric = _function_metric("ASSDMetric")


class HausdorffMetric(_FunctionMetric):
    """Accumulates :func:`~vesselnet.metrics.surface.compute_hausdorff` in mm.

    Parameters
    ----------
    percentile : float, optional
        ``None`` (column ``hd``) or a percentile ``q`` (column ``hd<q>``, MONAI's definition).
    """

    _function = staticmethod(compute_hausdorff)
    _uses_spacing = True

    def __init__(self, percentile: float | None = None) -> None:
        self.percentile = _check_percentile(percentile)
        q = self.percentile
        self.columns = ("hd",) if q is None else (f"hd{q:g}",)
        super().__init__()

    def _options(self) -> dict:
        return {"percentile": self.percentile}


class HD95Metric(HausdorffMetric):
    """Accumulates :func:`~vesselnet.metrics.surface.compute_hd95` in mm (column ``hd95``)."""

    def __init__(self) -> None:
        super().__init__(95.0)


class ScaleRecallMetric(_FunctionMetric):
    """Accumulates :func:`~vesselnet.metrics.vessel.compute_scale_recall` (columns
    ``recall_s1`` .. ``recall_s<S>``, scale 1 = smallest; ``compute(..., tree=)`` takes a
    precomputed analysis of the ground truth).

    Parameters
    ----------
    n_scales : int >= 2, default 3
        Number of ground-truth scales S.
    **analyze_options
        Passed to :func:`vesseltree.analyze` when no ``tree`` is given.
    """

    _function = staticmethod(compute_scale_recall)
    _uses_spacing = True

    def __init__(self, n_scales: int = 3, **analyze_options) -> None:
        self.n_scales = check_positive_int(n_scales, "n_scales", minimum=2)
        self.analyze_options = dict(analyze_options)
        self.columns = _recall_columns(self.n_scales)
        super().__init__()

    def _options(self) -> dict:
        return {"n_scales": self.n_scales, **self.analyze_options}

    def _values(self, result) -> dict[str, float]:
        return _recall_values(result)


class BranchDetectionMetric(_FunctionMetric):
    """Accumulates :func:`~vesselnet.metrics.vessel.compute_branch_detection_rate` (column
    ``branch_detection``; ``compute(..., tree=)`` takes a precomputed analysis).

    Parameters
    ----------
    min_fraction : float in (0, 1], default 0.5
        Detection threshold of a branch.
    **analyze_options
        Passed to :func:`vesseltree.analyze` when no ``tree`` is given.
    """

    columns = ("branch_detection",)
    _function = staticmethod(compute_branch_detection_rate)
    _uses_spacing = True

    def __init__(self, min_fraction: float = 0.5, **analyze_options) -> None:
        self.min_fraction = _check_fraction(min_fraction)
        self.analyze_options = dict(analyze_options)
        super().__init__()

    def _options(self) -> dict:
        return {"min_fraction": self.min_fraction, **self.analyze_options}


# -- all at once ----------------------------------------------------------------------------
_BASE = ("dsc", "jaccard", "cldice", "hd", "hd95", "assd")


def evaluate_case(pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0, *,
                  n_scales: int = 3, vessel: bool = True, tree=None,
                  min_fraction: float = 0.5, **analyze_options) -> dict[str, float]:
    """Every metric of this package for one case, sharing the expensive steps.

    Parameters
    ----------
    pred, gt : array_like, shape (z, y, x)
        Binary masks of the same shape.
    spacing : float or 3 floats, default 1.0
        Voxel size in mm (z, y, x).
    n_scales : int, default 3
        Ground-truth scales for the per-scale recall.
    vessel : bool, default True
        Also compute the recall per scale and the branch detection rate (needs
        :func:`vesseltree.analyze` of ``gt``, the slowest step).
    tree : vesseltree.VesselTree, optional
        Precomputed ``vesseltree.analyze(gt, spacing)``.
    min_fraction : float in (0, 1], default 0.5
        Detection threshold of a branch.
    **analyze_options
        Passed to :func:`vesseltree.analyze` when ``vessel`` and no ``tree``.

    Returns
    -------
    dict
        ``dsc, jaccard, cldice`` (fractions), ``hd, hd95, assd`` (mm), and with ``vessel``
        ``recall_s1..recall_sS`` and ``branch_detection`` (fractions); ``nan`` = undefined.

    Raises
    ------
    ValueError, TypeError
        Naming the offending argument.
    """
    from .overlap import _counts, _dice, _jaccard
    from .surface import _summary, surface_distances
    from .topology import cldice_components

    p, g = check_pair(pred, gt)
    sp = check_spacing(spacing, "spacing")
    c = _counts(p, g)
    d = surface_distances(p, g, sp)
    out = {
        "dsc": _dice(c),
        "jaccard": _jaccard(c),
        "cldice": cldice_components(p, g).cldice,
        **_summary(d),
    }
    if vessel:
        from .vessel import vessel_metrics

        vm = vessel_metrics(p, g, sp, n_scales=n_scales, tree=tree, min_fraction=min_fraction, **analyze_options)
        out.update(_recall_values(vm.scale_recall))
        out["branch_detection"] = float(vm.branch_detection_rate)
    return out


class CaseEvaluator(_FunctionMetric):
    """Accumulates :func:`evaluate_case`: DSC, Jaccard, clDice, HD, HD95, ASSD and (with
    ``vessel=True``) recall per scale and branch detection rate.

    Parameters
    ----------
    n_scales : int >= 2, default 3
        Ground-truth scales for the per-scale recall.
    vessel : bool, default True
        Also compute the vessel metrics (needs :func:`vesseltree.analyze` of ``gt``).
    min_fraction : float in (0, 1], default 0.5
        Detection threshold of a branch.
    **analyze_options
        Passed to :func:`vesseltree.analyze` when no ``tree`` is given.
    """

    _function = staticmethod(evaluate_case)
    _uses_spacing = True

    def __init__(self, n_scales: int = 3, vessel: bool = True, min_fraction: float = 0.5,
                 **analyze_options) -> None:
        self.n_scales = check_positive_int(n_scales, "n_scales", minimum=2)
        self.vessel = bool(vessel)
        self.min_fraction = min_fraction
        self.analyze_options = dict(analyze_options)
        extra = _recall_columns(self.n_scales) + ("branch_detection",)
        self.columns = _BASE + (extra if self.vessel else ())
        super().__init__()

    def _options(self) -> dict:
        return {"n_scales": self.n_scales, "vessel": self.vessel,
                "min_fraction": self.min_fraction, **self.analyze_options}

    def _values(self, result) -> dict[str, float]:
        return result

    def scale_recall_summary(self, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of the recall of each scale (for the bar chart).

        Parameters
        ----------
        ddof : int, default 0
            Delta degrees of freedom of the std.

        Returns
        -------
        mean, std : numpy.ndarray of float64, shape (n_scales,)
            Fractions, scale 1 first (over the defined cases).

        Raises
        ------
        ValueError
            Naming ``vessel`` when the evaluator was built with ``vessel=False``.
        """
        cols = _recall_columns(self.n_scales)
        if not self.vessel:
            raise ValueError("vessel: the per-scale recall was not computed (vessel=False)")
        return np.array([self.mean(c) for c in cols]), np.array([self.std(c, ddof) for c in cols])

"""Accumulating metric classes: per-case values, mean +- std, CSV and Markdown export.

Each class wraps one pure function of this package (``DiceMetric`` wraps
:func:`~vesselnet.metrics.overlap.compute_dice`, ...); :class:`CaseEvaluator` computes all of
them at once, sharing the expensive parts (one pair of surface distance transforms, one
:func:`vesseltree.analyze` of the ground truth), and :func:`evaluate_case` is its pure
counterpart.

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

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._common import check_pair, check_spacing

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


@dataclass(frozen=True)
class ColumnInfo:
    """How a metric column is shown: its label, unit, and whether higher is better."""

    label: str
    unit: str  # "%" (stored as a fraction, shown x100) or "mm"
    higher_is_better: bool

    def header(self) -> str:
        arrow = "\u2191" if self.higher_is_better else "\u2193"
        return f"{self.label} {arrow} ({self.unit})"

    def scale(self) -> float:
        return 100.0 if self.unit == "%" else 1.0


_COLUMNS = {
    "dsc": ColumnInfo("DSC", "%", True),
    "jaccard": ColumnInfo("Jacc", "%", True),
    "cldice": ColumnInfo("clDSC", "%", True),
    "hd": ColumnInfo("HD", "mm", False),
    "hd95": ColumnInfo("HD95", "mm", False),
    "assd": ColumnInfo("ASSD", "mm", False),
    "branch_detection": ColumnInfo("Branch det.", "%", True),
}


def column_info(column: str) -> ColumnInfo:
    """Display information of a metric column (``recall_s<k>`` for any scale ``k``)."""
    if column in _COLUMNS:
        return _COLUMNS[column]
    if column.startswith("recall_s") and column[8:].isdigit():
        return ColumnInfo(f"Recall s{column[8:]}", "%", True)
    if column.startswith("hd") and column[2:].replace(".", "", 1).isdigit():
        return ColumnInfo(f"HD{column[2:]}", "mm", False)
    return ColumnInfo(column, "", True)


def _format(mean: float, std: float, info: ColumnInfo, n: int, n_undefined: int) -> str:
    if n - n_undefined == 0:
        text = "n/a"
    else:
        k = info.scale()
        text = f"{mean * k:.2f} \u00b1 {std * k:.2f}"
    if n_undefined:
        text += f" ({n_undefined}/{n} undefined)"
    return text


class MetricAccumulator:
    """Per-case values of one or more metric columns.

    Subclasses define ``columns`` and :meth:`compute`; :meth:`update` computes a case and
    records it, :meth:`add` records values computed elsewhere.

    Examples
    --------
    >>> m = DiceMetric()
    >>> m.update(pred, gt, case="case01")      # doctest: +SKIP
    >>> m.mean(), m.std(), m.to_markdown()     # doctest: +SKIP
    """

    columns: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.reset()

    # -- recording ------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every recorded case."""
        self._cases: list[str] = []
        self._rows: list[dict[str, float]] = []

    def compute(self, pred, gt, spacing=1.0) -> dict[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, pred, gt, spacing=1.0, case: str | None = None, **kwargs) -> dict[str, float]:
        """Compute the metric(s) of one case, record them and return them (``kwargs`` go to
        :meth:`compute`, e.g. ``tree=`` for the vessel metrics)."""
        values = self.compute(pred, gt, spacing, **kwargs)
        self.add(values, case)
        return values

    def add(self, values, case: str | None = None) -> None:
        """Record precomputed values: a number (single-column metrics) or a mapping with
        every column (extra keys are ignored)."""
        if not isinstance(values, Mapping):
            if len(self.columns) != 1:
                raise TypeError(
                    f"values: expected a mapping with keys {list(self.columns)}, got {values!r}"
                )
            values = {self.columns[0]: values}
        missing = [c for c in self.columns if c not in values]
        if missing:
            raise ValueError(f"values: missing column(s) {missing}; expected {list(self.columns)}")
        row = {}
        for c in self.columns:
            v = values[c]
            try:
                row[c] = float(v)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"values[{c!r}]: expected a number, got {v!r}") from exc
        name = str(case) if case is not None else f"case{len(self._cases):03d}"
        if name in self._cases:
            raise ValueError(f"case: {name!r} is already recorded")
        self._cases.append(name)
        self._rows.append(row)

    def __len__(self) -> int:
        return len(self._cases)

    @property
    def cases(self) -> list[str]:
        return list(self._cases)

    # -- statistics -----------------------------------------------------------------------
    def _column(self, column: str | None) -> str:
        if column is None:
            if len(self.columns) != 1:
                raise ValueError(f"column: required, one of {list(self.columns)}")
            return self.columns[0]
        if column not in self.columns:
            raise ValueError(f"column: expected one of {list(self.columns)}, got {column!r}")
        return column

    def values(self, column: str | None = None) -> np.ndarray:
        """Per-case values of a column (``nan`` = undefined), in recording order."""
        c = self._column(column)
        return np.array([r[c] for r in self._rows], dtype=np.float64)

    def n_undefined(self, column: str | None = None) -> int:
        """Number of cases whose value is undefined (``nan``)."""
        return int(np.count_nonzero(np.isnan(self.values(column))))

    def mean(self, column: str | None = None) -> float:
        """Mean over the defined cases (``nan`` only when no case is defined)."""
        v = self.values(column)
        v = v[~np.isnan(v)]
        return float(v.mean()) if v.size else float("nan")

    def std(self, column: str | None = None, ddof: int = 0) -> float:
        """Standard deviation over the defined cases (``nan`` when too few)."""
        v = self.values(column)
        v = v[~np.isnan(v)]
        return float(v.std(ddof=ddof)) if v.size > ddof else float("nan")

    def summary(self, ddof: int = 0):
        """``pandas.DataFrame`` indexed by column: mean, std, n, n_defined, n_undefined."""
        import pandas as pd

        rows = []
        for c in self.columns:
            nu = self.n_undefined(c)
            rows.append(
                {"metric": c, "mean": self.mean(c), "std": self.std(c, ddof), "n": len(self),
                 "n_defined": len(self) - nu, "n_undefined": nu}
            )
        return pd.DataFrame(rows, columns=["metric", "mean", "std", "n", "n_defined", "n_undefined"]).set_index("metric")

    def formatted(self, column: str | None = None, ddof: int = 0) -> str:
        """``"mean ± std"`` in display units (x100 for fractions), 2 decimals, with the
        number of undefined cases when there are any."""
        c = self._column(column)
        return _format(self.mean(c), self.std(c, ddof), column_info(c), len(self), self.n_undefined(c))

    # -- export ---------------------------------------------------------------------------
    def to_frame(self):
        """Per-case ``pandas.DataFrame`` (index ``case``, one column per metric, raw values:
        fractions in [0, 1], distances in mm, ``nan`` = undefined)."""
        import pandas as pd

        df = pd.DataFrame(self._rows, columns=list(self.columns), index=pd.Index(self._cases, name="case"))
        return df.astype(np.float64)

    def to_csv(self, path) -> Path:
        """Write the per-case table as CSV (undefined values as empty cells); returns the path."""
        p = Path(path)
        self.to_frame().to_csv(p, float_format="%.10g")
        return p

    def to_markdown(self, name: str = "prediction", ddof: int = 0) -> str:
        """One-row Table-1-style Markdown summary (``mean ± std`` per column)."""
        return summary_markdown({name: self}, ddof=ddof)


def summary_markdown(results: Mapping[str, MetricAccumulator], ddof: int = 0) -> str:
    """Table-1-style Markdown: one row per model, ``mean ± std`` per metric column.

    Parameters
    ----------
    results : mapping of str to MetricAccumulator
        Row name -> accumulator; the columns are the union, in first-seen order.
    """
    if not results:
        raise ValueError("results: expected at least one accumulator, got none")
    columns: list[str] = []
    for acc in results.values():
        if not isinstance(acc, MetricAccumulator):
            raise TypeError(f"results: expected MetricAccumulator values, got {type(acc).__name__}")
        columns += [c for c in acc.columns if c not in columns]
    head = "| Model | " + " | ".join(column_info(c).header() for c in columns) + " |"
    sep = "|---|" + "---:|" * len(columns)
    lines = [head, sep]
    for name, acc in results.items():
        cells = [acc.formatted(c, ddof) if c in acc.columns else "" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ns = sorted({len(a) for a in results.values()})
    lines.append("")
    lines.append(
        f"mean \u00b1 std (ddof={ddof}) over {', '.join(map(str, ns))} case(s); undefined values "
        "(an empty mask, an empty scale) are excluded from mean and std and counted."
    )
    return "\n".join(lines) + "\n"


# -- single metrics -------------------------------------------------------------------------
class DiceMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.overlap.compute_dice` (column ``dsc``)."""

    columns = ("dsc",)

    def compute(self, pred, gt, spacing=1.0):
        from .overlap import compute_dice

        return {"dsc": compute_dice(pred, gt)}


class JaccardMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.overlap.compute_jaccard` (column ``jaccard``)."""

    columns = ("jaccard",)

    def compute(self, pred, gt, spacing=1.0):
        from .overlap import compute_jaccard

        return {"jaccard": compute_jaccard(pred, gt)}


class ClDiceMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.topology.compute_cldice` (column ``cldice``)."""

    columns = ("cldice",)

    def compute(self, pred, gt, spacing=1.0):
        from .topology import compute_cldice

        return {"cldice": compute_cldice(pred, gt)}


class HausdorffMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.surface.compute_hausdorff` in mm.

    Parameters
    ----------
    percentile : float, optional
        ``None`` (column ``hd``) or a percentile ``q`` (column ``hd<q>``, MONAI's definition).
    """

    def __init__(self, percentile: float | None = None) -> None:
        from .surface import _check_percentile

        self.percentile = _check_percentile(percentile)
        q = self.percentile
        self.columns = ("hd",) if q is None else (f"hd{q:g}",)
        super().__init__()

    def compute(self, pred, gt, spacing=1.0):
        from .surface import compute_hausdorff

        return {self.columns[0]: compute_hausdorff(pred, gt, spacing, self.percentile)}


class HD95Metric(HausdorffMetric):
    """Accumulates :func:`~vesselnet.metrics.surface.compute_hd95` in mm (column ``hd95``)."""

    def __init__(self) -> None:
        super().__init__(95.0)


class ASSDMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.surface.compute_assd` in mm (column ``assd``)."""

    columns = ("assd",)

    def compute(self, pred, gt, spacing=1.0):
        from .surface import compute_assd

        return {"assd": compute_assd(pred, gt, spacing)}


class ScaleRecallMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.vessel.compute_scale_recall` (columns
    ``recall_s1`` .. ``recall_s<S>``, scale 1 = smallest)."""

    def __init__(self, n_scales: int = 3, **analyze_options) -> None:
        from vesseltree._validation import check_nonnegative_int

        self.n_scales = check_nonnegative_int(n_scales, "n_scales", minimum=2)
        self.analyze_options = dict(analyze_options)
        self.columns = tuple(f"recall_s{k}" for k in range(1, self.n_scales + 1))
        super().__init__()

    def compute(self, pred, gt, spacing=1.0, tree=None):
        from .vessel import compute_scale_recall

        r = compute_scale_recall(pred, gt, spacing, n_scales=self.n_scales, tree=tree, **self.analyze_options)
        return dict(zip(self.columns, (float(x) for x in r)))


class BranchDetectionMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.vessel.compute_branch_detection_rate` (column
    ``branch_detection``)."""

    columns = ("branch_detection",)

    def __init__(self, min_fraction: float = 0.5, **analyze_options) -> None:
        from .vessel import _check_fraction

        self.min_fraction = _check_fraction(min_fraction)
        self.analyze_options = dict(analyze_options)
        super().__init__()

    def compute(self, pred, gt, spacing=1.0, tree=None):
        from .vessel import compute_branch_detection_rate

        return {"branch_detection": compute_branch_detection_rate(
            pred, gt, spacing, tree=tree, min_fraction=self.min_fraction, **self.analyze_options)}


# -- all at once ----------------------------------------------------------------------------
_BASE = ("dsc", "jaccard", "cldice", "hd", "hd95", "assd")


def evaluate_case(pred, gt, spacing=1.0, *, n_scales: int = 3, vessel: bool = True, tree=None,
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

    Returns
    -------
    dict
        ``dsc, jaccard, cldice`` (fractions), ``hd, hd95, assd`` (mm), and with ``vessel``
        ``recall_s1..recall_sS`` and ``branch_detection`` (fractions); ``nan`` = undefined.
    """
    from .overlap import _counts, _dice, _jaccard
    from .surface import surface_distances
    from .topology import cldice_components

    p, g = check_pair(pred, gt)
    sp = check_spacing(spacing, "spacing")
    c = _counts(p, g)
    d = surface_distances(p, g, sp)
    out = {
        "dsc": _dice(c),
        "jaccard": _jaccard(c),
        "cldice": cldice_components(p, g).cldice,
        "hd": d.hausdorff(None),
        "hd95": d.hausdorff(95.0),
        "assd": d.assd(),
    }
    if vessel:
        from .vessel import vessel_metrics

        vm = vessel_metrics(p, g, sp, n_scales=n_scales, tree=tree, min_fraction=min_fraction, **analyze_options)
        out.update({f"recall_s{k + 1}": float(r) for k, r in enumerate(vm.scale_recall)})
        out["branch_detection"] = float(vm.branch_detection_rate)
    return out


class CaseEvaluator(MetricAccumulator):
    """Accumulates :func:`evaluate_case`: DSC, Jaccard, clDice, HD, HD95, ASSD and (with
    ``vessel=True``) recall per scale and branch detection rate."""

    def __init__(self, n_scales: int = 3, vessel: bool = True, min_fraction: float = 0.5,
                 **analyze_options) -> None:
        from vesseltree._validation import check_nonnegative_int

        self.n_scales = check_nonnegative_int(n_scales, "n_scales", minimum=2)
        self.vessel = bool(vessel)
        self.min_fraction = min_fraction
        self.analyze_options = dict(analyze_options)
        extra = tuple(f"recall_s{k}" for k in range(1, self.n_scales + 1)) + ("branch_detection",)
        self.columns = _BASE + (extra if self.vessel else ())
        super().__init__()

    def compute(self, pred, gt, spacing=1.0, tree=None):
        return evaluate_case(pred, gt, spacing, n_scales=self.n_scales, vessel=self.vessel, tree=tree,
                             min_fraction=self.min_fraction, **self.analyze_options)

    def scale_recall_summary(self, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of the recall of each scale (for the bar chart)."""
        cols = [f"recall_s{k}" for k in range(1, self.n_scales + 1)]
        if not self.vessel:
            raise ValueError("vessel: the per-scale recall was not computed (vessel=False)")
        return np.array([self.mean(c) for c in cols]), np.array([self.std(c, ddof) for c in cols])

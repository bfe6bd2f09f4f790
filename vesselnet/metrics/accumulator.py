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
from numpy.typing import ArrayLike

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
        """Table header, e.g. ``"DSC ↑ (%)"`` (arrow: higher or lower is better)."""
        arrow = "\u2191" if self.higher_is_better else "\u2193"
        return f"{self.label} {arrow} ({self.unit})"

    def scale(self) -> float:
        """Display factor: 100 for fractions shown in %, 1 otherwise."""
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
    """Display information of a metric column.

    Parameters
    ----------
    column : str
        A column name: ``dsc``, ``jaccard``, ``cldice``, ``hd``, ``hd95``, ``assd``,
        ``branch_detection``, ``recall_s<k>`` for any scale ``k``, ``hd<q>``; other names
        get a plain label without unit.

    Returns
    -------
    ColumnInfo
    """
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

    def compute(
        self, pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0
    ) -> dict[str, float]:  # pragma: no cover - abstract
        """Metric values of one case, one per column (subclasses implement it).

        Parameters
        ----------
        pred, gt : array_like, shape (z, y, x)
            Binary masks of the same shape.
        spacing : float or 3 floats, default 1.0
            Voxel size in mm (z, y, x).

        Returns
        -------
        dict of str to float
            ``{column: value}`` for every column of :attr:`columns`.
        """
        raise NotImplementedError

    def update(self, pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0,
               case: str | None = None, **kwargs) -> dict[str, float]:
        """Compute the metric(s) of one case, record them and return them.

        Parameters
        ----------
        pred, gt : array_like, shape (z, y, x)
            Binary masks of the same shape.
        spacing : float or 3 floats, default 1.0
            Voxel size in mm (z, y, x).
        case : str, optional
            Case name (default ``case000``, ``case001``, ... in recording order); must be new.
        **kwargs
            Passed to :meth:`compute`, e.g. ``tree=`` for the vessel metrics.

        Returns
        -------
        dict of str to float
            The recorded values (``nan`` = undefined).

        Raises
        ------
        ValueError, TypeError
            From :meth:`compute` (naming the argument), or naming ``case`` if it is
            already recorded.
        """
        values = self.compute(pred, gt, spacing, **kwargs)
        self.add(values, case)
        return values

    def add(self, values, case: str | None = None) -> None:
        """Record precomputed values.

        Parameters
        ----------
        values : float or mapping of str to float
            A number (single-column metrics only) or a mapping with every column (extra
            keys are ignored); ``nan`` = undefined.
        case : str, optional
            Case name (default ``case<NNN>`` by recording order); must be new.

        Raises
        ------
        TypeError
            Naming ``values`` (a number for a multi-column metric, a non-numeric value).
        ValueError
            Naming ``values`` (missing columns) or ``case`` (already recorded).
        """
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
        """Number of recorded cases."""
        return len(self._cases)

    @property
    def cases(self) -> list[str]:
        """Recorded case names, in recording order (a copy)."""
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
        """Per-case values of a column, in recording order.

        Parameters
        ----------
        column : str, optional
            One of :attr:`columns`; may be omitted for single-column metrics.

        Returns
        -------
        numpy.ndarray of float64, shape (n_cases,)
            ``nan`` = undefined.

        Raises
        ------
        ValueError
            Naming ``column`` (unknown, or omitted for a multi-column metric).
        """
        c = self._column(column)
        return np.array([r[c] for r in self._rows], dtype=np.float64)

    def n_undefined(self, column: str | None = None) -> int:
        """Number of cases whose value is undefined (``nan``).

        Parameters
        ----------
        column : str, optional
            One of :attr:`columns`; may be omitted for single-column metrics.

        Returns
        -------
        int

        Raises
        ------
        ValueError
            Naming ``column`` (unknown, or omitted for a multi-column metric).
        """
        return int(np.count_nonzero(np.isnan(self.values(column))))

    def _defined(self, column: str | None) -> np.ndarray:
        """Values of the defined (non-``nan``) cases of a column, in recording order."""
        v = self.values(column)
        return v[~np.isnan(v)]

    def mean(self, column: str | None = None) -> float:
        """Mean over the defined cases.

        Parameters
        ----------
        column : str, optional
            One of :attr:`columns`; may be omitted for single-column metrics.

        Returns
        -------
        float
            Raw units (fractions, mm); ``nan`` only when no case is defined.

        Raises
        ------
        ValueError
            Naming ``column`` (unknown, or omitted for a multi-column metric).
        """
        v = self._defined(column)
        return float(v.mean()) if v.size else float("nan")

    def std(self, column: str | None = None, ddof: int = 0) -> float:
        """Standard deviation over the defined cases.

        Parameters
        ----------
        column : str, optional
            One of :attr:`columns`; may be omitted for single-column metrics.
        ddof : int, default 0
            Delta degrees of freedom (0: population std, ``numpy.std``'s default).

        Returns
        -------
        float
            Raw units; ``nan`` when there are no more than ``ddof`` defined cases.

        Raises
        ------
        ValueError
            Naming ``column`` (unknown, or omitted for a multi-column metric).
        """
        v = self._defined(column)
        return float(v.std(ddof=ddof)) if v.size > ddof else float("nan")

    def summary(self, ddof: int = 0):
        """Summary statistics of every column.

        Parameters
        ----------
        ddof : int, default 0
            Delta degrees of freedom of the std.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``metric`` (the columns); columns ``mean, std, n, n_defined,
            n_undefined`` (raw units).
        """
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
        """``"mean ± std"`` in display units (x100 for fractions), 2 decimals.

        Parameters
        ----------
        column : str, optional
            One of :attr:`columns`; may be omitted for single-column metrics.
        ddof : int, default 0
            Delta degrees of freedom of the std.

        Returns
        -------
        str
            ``"n/a"`` when no case is defined; followed by ``"(k/n undefined)"`` when some
            cases are undefined.

        Raises
        ------
        ValueError
            Naming ``column`` (unknown, or omitted for a multi-column metric).
        """
        c = self._column(column)
        return _format(self.mean(c), self.std(c, ddof), column_info(c), len(self), self.n_undefined(c))

    # -- export ---------------------------------------------------------------------------
    def to_frame(self):
        """Per-case table.

        Returns
        -------
        pandas.DataFrame
            Index ``case``, one float64 column per metric, raw values (fractions in [0, 1],
            distances in mm, ``nan`` = undefined).
        """
        import pandas as pd

        df = pd.DataFrame(self._rows, columns=list(self.columns), index=pd.Index(self._cases, name="case"))
        return df.astype(np.float64)

    def to_csv(self, path) -> Path:
        """Write the per-case table (:meth:`to_frame`) as CSV.

        Parameters
        ----------
        path : str or os.PathLike
            Output file (overwritten).

        Returns
        -------
        pathlib.Path
            The path written; undefined values are empty cells.
        """
        p = Path(path)
        self.to_frame().to_csv(p, float_format="%.10g")
        return p

    def to_markdown(self, name: str = "prediction", ddof: int = 0) -> str:
        """One-row Table-1-style Markdown summary (``mean ± std`` per column).

        Parameters
        ----------
        name : str, default "prediction"
            Row label.
        ddof : int, default 0
            Delta degrees of freedom of the std.

        Returns
        -------
        str
            See :func:`summary_markdown`.
        """
        return summary_markdown({name: self}, ddof=ddof)


def summary_markdown(results: Mapping[str, MetricAccumulator], ddof: int = 0) -> str:
    """Table-1-style Markdown: one row per model, ``mean ± std`` per metric column.

    Parameters
    ----------
    results : mapping of str to MetricAccumulator
        Row name -> accumulator; the columns are the union, in first-seen order.
    ddof : int, default 0
        Delta degrees of freedom of the std.

    Returns
    -------
    str
        A Markdown table (empty cell where a row lacks a column) and a note on the number
        of cases and the undefined-value policy.

    Raises
    ------
    ValueError
        Naming ``results`` when it is empty.
    TypeError
        Naming ``results`` when a value is not a :class:`MetricAccumulator`.
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


def _recall_columns(n_scales: int) -> tuple[str, ...]:
    """Column names of the per-scale recall, ``recall_s1 .. recall_s<n_scales>``."""
    return tuple(f"recall_s{k}" for k in range(1, n_scales + 1))


# -- single metrics -------------------------------------------------------------------------
class DiceMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.overlap.compute_dice` (column ``dsc``)."""

    columns = ("dsc",)

    def compute(
        self, pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0
    ) -> dict[str, float]:
        """Dice of one case (``spacing`` is unused, kept for a uniform signature).

        Parameters
        ----------
        pred, gt : array_like, shape (z, y, x)
            Binary masks of the same shape.
        spacing : float or 3 floats, default 1.0
            Voxel size in mm (z, y, x).

        Returns
        -------
        dict of str to float
            ``{"dsc": value}``, a fraction in [0, 1].
        """
        from .overlap import compute_dice

        return {"dsc": compute_dice(pred, gt)}


class JaccardMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.overlap.compute_jaccard` (column ``jaccard``)."""

    columns = ("jaccard",)

    def compute(
        self, pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0
    ) -> dict[str, float]:
        """Jaccard index of one case (``spacing`` is unused).

        Parameters
        ----------
        pred, gt : array_like, shape (z, y, x)
            Binary masks of the same shape.
        spacing : float or 3 floats, default 1.0
            Voxel size in mm (z, y, x).

        Returns
        -------
        dict of str to float
            ``{"jaccard": value}``, a fraction in [0, 1].
        """
        from .overlap import compute_jaccard

        return {"jaccard": compute_jaccard(pred, gt)}


class ClDiceMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.topology.compute_cldice` (column ``cldice``)."""

    columns = ("cldice",)

    def compute(
        self, pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0
    ) -> dict[str, float]:
        """clDice of one case (``spacing`` is unused).

        Parameters
        ----------
        pred, gt : array_like, shape (z, y, x)
            Binary masks of the same shape.
        spacing : float or 3 floats, default 1.0
            Voxel size in mm (z, y, x).

        Returns
        -------
        dict of str to float
            ``{"cldice": value}``, a fraction in [0, 1].
        """
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

    def compute(
        self, pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0
    ) -> dict[str, float]:
        """(Percentile) Hausdorff distance of one case in mm.

        Parameters
        ----------
        pred, gt : array_like, shape (z, y, x)
            Binary masks of the same shape.
        spacing : float or 3 floats, default 1.0
            Voxel size in mm (z, y, x).

        Returns
        -------
        dict of str to float
            ``{column: value}`` in mm (``nan`` when exactly one mask is empty).
        """
        from .surface import compute_hausdorff

        return {self.columns[0]: compute_hausdorff(pred, gt, spacing, self.percentile)}


class HD95Metric(HausdorffMetric):
    """Accumulates :func:`~vesselnet.metrics.surface.compute_hd95` in mm (column ``hd95``)."""

    def __init__(self) -> None:
        super().__init__(95.0)


class ASSDMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.surface.compute_assd` in mm (column ``assd``)."""

    columns = ("assd",)

    def compute(
        self, pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0
    ) -> dict[str, float]:
        """ASSD of one case in mm.

        Parameters
        ----------
        pred, gt : array_like, shape (z, y, x)
            Binary masks of the same shape.
        spacing : float or 3 floats, default 1.0
            Voxel size in mm (z, y, x).

        Returns
        -------
        dict of str to float
            ``{"assd": value}`` in mm (``nan`` when exactly one mask is empty).
        """
        from .surface import compute_assd

        return {"assd": compute_assd(pred, gt, spacing)}


class ScaleRecallMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.vessel.compute_scale_recall` (columns
    ``recall_s1`` .. ``recall_s<S>``, scale 1 = smallest).

    Parameters
    ----------
    n_scales : int >= 2, default 3
        Number of ground-truth scales S.
    **analyze_options
        Passed to :func:`vesseltree.analyze` when no ``tree`` is given.
    """

    def __init__(self, n_scales: int = 3, **analyze_options) -> None:
        from vesseltree._validation import check_nonnegative_int

        self.n_scales = check_nonnegative_int(n_scales, "n_scales", minimum=2)
        self.analyze_options = dict(analyze_options)
        self.columns = _recall_columns(self.n_scales)
        super().__init__()

    def compute(
        self, pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0, tree=None
    ) -> dict[str, float]:
        """Recall of each ground-truth scale for one case.

        Parameters
        ----------
        pred, gt : array_like, shape (z, y, x)
            Binary masks of the same shape.
        spacing : float or 3 floats, default 1.0
            Voxel size in mm (z, y, x).
        tree : vesseltree.VesselTree, optional
            Precomputed ``vesseltree.analyze(gt, spacing)``.

        Returns
        -------
        dict of str to float
            ``{"recall_s1": ..., ...}``, fractions (``nan`` where undefined).
        """
        from .vessel import compute_scale_recall

        r = compute_scale_recall(pred, gt, spacing, n_scales=self.n_scales, tree=tree, **self.analyze_options)
        return dict(zip(self.columns, (float(x) for x in r)))


class BranchDetectionMetric(MetricAccumulator):
    """Accumulates :func:`~vesselnet.metrics.vessel.compute_branch_detection_rate` (column
    ``branch_detection``).

    Parameters
    ----------
    min_fraction : float in (0, 1], default 0.5
        Detection threshold of a branch.
    **analyze_options
        Passed to :func:`vesseltree.analyze` when no ``tree`` is given.
    """

    columns = ("branch_detection",)

    def __init__(self, min_fraction: float = 0.5, **analyze_options) -> None:
        from .vessel import _check_fraction

        self.min_fraction = _check_fraction(min_fraction)
        self.analyze_options = dict(analyze_options)
        super().__init__()

    def compute(
        self, pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0, tree=None
    ) -> dict[str, float]:
        """Branch detection rate of one case.

        Parameters
        ----------
        pred, gt : array_like, shape (z, y, x)
            Binary masks of the same shape.
        spacing : float or 3 floats, default 1.0
            Voxel size in mm (z, y, x).
        tree : vesseltree.VesselTree, optional
            Precomputed ``vesseltree.analyze(gt, spacing)``.

        Returns
        -------
        dict of str to float
            ``{"branch_detection": value}``, a fraction (``nan`` without branches).
        """
        from .vessel import compute_branch_detection_rate

        return {"branch_detection": compute_branch_detection_rate(
            pred, gt, spacing, tree=tree, min_fraction=self.min_fraction, **self.analyze_options)}


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
        out.update({f"recall_s{k + 1}": float(r) for k, r in enumerate(vm.scale_recall)})
        out["branch_detection"] = float(vm.branch_detection_rate)
    return out


class CaseEvaluator(MetricAccumulator):
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

    def __init__(self, n_scales: int = 3, vessel: bool = True, min_fraction: float = 0.5,
                 **analyze_options) -> None:
        from vesseltree._validation import check_nonnegative_int

        self.n_scales = check_nonnegative_int(n_scales, "n_scales", minimum=2)
        self.vessel = bool(vessel)
        self.min_fraction = min_fraction
        self.analyze_options = dict(analyze_options)
        extra = _recall_columns(self.n_scales) + ("branch_detection",)
        self.columns = _BASE + (extra if self.vessel else ())
        super().__init__()

    def compute(
        self, pred: ArrayLike, gt: ArrayLike, spacing: float | ArrayLike = 1.0, tree=None
    ) -> dict[str, float]:
        """Every metric of one case (see :func:`evaluate_case`).

        Parameters
        ----------
        pred, gt : array_like, shape (z, y, x)
            Binary masks of the same shape.
        spacing : float or 3 floats, default 1.0
            Voxel size in mm (z, y, x).
        tree : vesseltree.VesselTree, optional
            Precomputed ``vesseltree.analyze(gt, spacing)``.

        Returns
        -------
        dict of str to float
            One value per column (fractions, mm; ``nan`` = undefined).
        """
        return evaluate_case(pred, gt, spacing, n_scales=self.n_scales, vessel=self.vessel, tree=tree,
                             min_fraction=self.min_fraction, **self.analyze_options)

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

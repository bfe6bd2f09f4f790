"""How metric tables are shown: column labels and units, ``mean ± std`` cells, and the
Table-1-style Markdown summary of one or more accumulators (paper Table 1 layout).

Values are stored raw (fractions in [0, 1], distances in mm); fractions are shown in % (x100)
with two decimals. A column with undefined cases says so next to its number; a column with
no defined case shows ``n/a``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .table import MetricAccumulator

__all__ = ["ColumnInfo", "column_info", "format_mean_std", "summary_markdown"]


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


def format_mean_std(mean: float, std: float, info: ColumnInfo, n: int, n_undefined: int) -> str:
    """``"mean ± std"`` in display units (2 decimals), ``"n/a"`` when no case is defined,
    followed by ``"(k/n undefined)"`` when ``k`` of the ``n`` cases are undefined.

    Parameters
    ----------
    mean, std : float
        Raw values (fractions, mm).
    info : ColumnInfo
        The column's display information.
    n, n_undefined : int
        Number of cases, and of undefined ones.

    Returns
    -------
    str
    """
    if n - n_undefined == 0:
        text = "n/a"
    else:
        k = info.scale()
        text = f"{mean * k:.2f} \u00b1 {std * k:.2f}"
    if n_undefined:
        text += f" ({n_undefined}/{n} undefined)"
    return text


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
    from .table import MetricAccumulator

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

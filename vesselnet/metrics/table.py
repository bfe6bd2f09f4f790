"""The per-case table of metric values (:class:`MetricAccumulator`): recording, mean +- std
over the defined cases, CSV and Markdown export.

Undefined values (``nan``) are kept in the table, excluded from the mean and std and counted
(``n_undefined``); a mean over zero defined cases is ``nan`` here and ``n/a`` in the
Markdown. Standard deviations are population ones (``ddof=0``) unless ``ddof`` is given.
Display rules: :mod:`vesselnet.metrics.report`.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from .report import column_info, format_mean_std, summary_markdown

__all__ = ["MetricAccumulator"]


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
        return format_mean_std(self.mean(c), self.std(c, ddof), column_info(c), len(self),
                               self.n_undefined(c))

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

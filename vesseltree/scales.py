"""Scale decomposition of a vessel tree (Sadikine et al., ISBI 2023, Sect. 2.1, last step).

S - 1 thresholds on the branch radii :math:`\\hat r_j` (Eq. 2) split the branches into S
scales, and every vessel voxel takes the scale of its branch (Eq. 3 labels), which gives S
masks :math:`y^1, \\dots, y^S` that partition the vessel mask :math:`y`. Scale 1 holds the
smallest vessels.

One value object says how the thresholds are set, :class:`ScaleRule`:

- ``ScaleRule.quantiles(S)`` (default, S = 3): per-volume quantiles of the branch radii. For
  S = 3 they are Q1 and Q3, as in the paper; in general the S - 1 levels are evenly spaced
  from Q1 to Q3 (S = 2: the median; S = 4: Q1, median, Q3; ...);
  ``ScaleRule.quantiles(levels=[...])`` sets the levels explicitly.
- ``ScaleRule.fixed([t1, ..., t_{S-1}])``: the same strictly increasing radii in mm for
  every volume.

:func:`vesseltree.analyze`, the three scale methods of :class:`vesseltree.VesselTree`, the
``vesseltree analyze`` command (``--n-scales`` / ``--thresholds``) and the data layer of the
training side take such a rule; an int ``S`` is accepted as short for
``ScaleRule.quantiles(S)``. The older keywords (``n_scales=``, ``method=``,
``thresholds=``, ``quantiles=``) still work for one release with a ``DeprecationWarning``.

A branch of radius r goes to scale ``1 + #{t : r > t}``: radii equal to a threshold go to the
smaller scale (r <= Q1 is scale 1, Q1 < r <= Q3 scale 2, r > Q3 scale 3 when S = 3). Scale
volumes are ``uint8`` up to 255 scales and ``uint16`` beyond (:func:`scale_dtype`), so a
class never wraps around.

With quantile thresholds, fewer branches than scales raise a ``ValueError`` (a scale would
be empty by construction); fixed thresholds accept any number of branches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import numpy.typing as npt

from ._validation import check_positive_int
from ._warnings import warn

__all__ = ["ScaleRule", "as_scale_rule", "scale_thresholds", "threshold_radii", "assign_scales", "scale_dtype",
           "masks_from_labels", "classes_from_labels", "default_quantiles",
           # deprecated aliases (one release)
           "scale_masks", "scale_labels"]

#: largest number of scales a scale volume can hold (uint16)
MAX_SCALES = int(np.iinfo(np.uint16).max)


def default_quantiles(n_scales: int) -> np.ndarray:
    """Quantile levels of the S - 1 thresholds: Q1..Q3 evenly spaced (S = 2: the median).

    Parameters
    ----------
    n_scales : int
        Number of scales S (>= 2).

    Returns
    -------
    numpy.ndarray of float64, shape (S - 1,)
        Levels in (0, 1): [0.5] for S = 2, [0.25, 0.75] for S = 3, ...
    """
    n_scales = check_positive_int(n_scales, "n_scales", minimum=2)
    if n_scales == 2:
        return np.array([0.5])
    return np.linspace(0.25, 0.75, n_scales - 1)


def scale_dtype(n_scales: int) -> np.dtype:
    """Smallest unsigned integer type holding the classes 0..S of a scale volume.

    Parameters
    ----------
    n_scales : int
        Number of scales S (>= 1).

    Returns
    -------
    numpy.dtype
        ``uint8`` for S <= 255, ``uint16`` for S <= 65535.

    Raises
    ------
    ValueError
        For more than 65535 scales.
    """
    n = check_positive_int(n_scales, "n_scales")
    if n > MAX_SCALES:
        raise ValueError(f"n_scales: expected at most {MAX_SCALES} scales, got {n}")
    return np.dtype(np.uint8 if n <= np.iinfo(np.uint8).max else np.uint16)


def _levels(values, name: str, *, unit_interval: bool) -> tuple[float, ...]:
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected a sequence of numbers, got {values!r}") from exc
    v = v.ravel()
    bad = (v.size < 1 or np.any(~np.isfinite(v)) or np.any(v <= 0) or np.any(np.diff(v) <= 0)
           or (unit_interval and np.any(v >= 1)))
    if bad:
        what = ("strictly increasing levels in (0, 1)" if unit_interval
                else "strictly increasing positive thresholds in mm")
        raise ValueError(f"{name}: expected {what}, got {v.tolist()}")
    if v.size + 1 > MAX_SCALES:
        raise ValueError(f"{name}: expected at most {MAX_SCALES - 1} values, got {v.size}")
    return tuple(float(x) for x in v)


@dataclass(frozen=True)
class ScaleRule:
    """How branch radii are split into S scales: per-volume quantiles or fixed mm thresholds.

    Build it with :meth:`quantiles` or :meth:`fixed`; exactly one of the two fields is set.

    Attributes
    ----------
    quantile_levels : tuple of float or None
        Per-volume quantile levels in (0, 1), strictly increasing (S = len + 1).
    thresholds_mm : tuple of float or None
        Fixed thresholds in mm, strictly increasing and positive (S = len + 1).

    Examples
    --------
    >>> ScaleRule.quantiles(3).quantile_levels
    (0.25, 0.75)
    >>> ScaleRule.fixed([1.0, 3.0]).n_scales
    3
    """

    quantile_levels: tuple[float, ...] | None = None
    thresholds_mm: tuple[float, ...] | None = None

    def __post_init__(self):
        if (self.quantile_levels is None) == (self.thresholds_mm is None):
            raise ValueError("ScaleRule: expected exactly one of quantile_levels and "
                             "thresholds_mm, got "
                             + ("both" if self.quantile_levels is not None else "neither"))
        if self.quantile_levels is not None:
            object.__setattr__(self, "quantile_levels",
                               _levels(self.quantile_levels, "quantile_levels", unit_interval=True))
        else:
            object.__setattr__(self, "thresholds_mm",
                               _levels(self.thresholds_mm, "thresholds_mm", unit_interval=False))

    @classmethod
    def quantiles(cls, n_scales: int = 3, *, levels: Sequence[float] | None = None) -> "ScaleRule":
        """Per-volume quantile thresholds: :func:`default_quantiles` of ``n_scales``
        (Q1 and Q3 for S = 3, the paper's rule), or explicit ``levels`` (S = len + 1)."""
        if levels is not None:
            return cls(quantile_levels=tuple(np.asarray(levels, dtype=float).ravel()))
        return cls(quantile_levels=tuple(default_quantiles(n_scales)))

    @classmethod
    def fixed(cls, thresholds_mm: Sequence[float]) -> "ScaleRule":
        """Fixed thresholds in mm, the same for every volume (S = len + 1)."""
        if isinstance(thresholds_mm, (int, float, np.number)):
            thresholds_mm = [thresholds_mm]
        return cls(thresholds_mm=tuple(np.asarray(thresholds_mm, dtype=float).ravel()))

    @property
    def kind(self) -> str:
        """``"quantile"`` or ``"fixed"``."""
        return "quantile" if self.quantile_levels is not None else "fixed"

    @property
    def n_scales(self) -> int:
        """Number of scales S."""
        return len(self.quantile_levels or self.thresholds_mm) + 1

    @property
    def dtype(self) -> np.dtype:
        """Type of a scale volume under this rule (:func:`scale_dtype`)."""
        return scale_dtype(self.n_scales)

    def thresholds(self, radii: npt.ArrayLike | None = None) -> np.ndarray:
        """The S - 1 thresholds (mm) of one volume whose branch radii are ``radii``.

        Parameters
        ----------
        radii : array_like of float, optional
            Branch radii (mm); needed by quantile rules only.

        Returns
        -------
        numpy.ndarray of float64, shape (S - 1,)

        Raises
        ------
        ValueError
            Quantile rule with fewer branches than scales (names ``n_scales`` and the number
            of branches), NaN or negative radii.
        """
        if self.thresholds_mm is not None:
            return np.asarray(self.thresholds_mm, dtype=np.float64)
        r = _radii(radii)
        s = self.n_scales
        if r.size < s:
            raise ValueError(
                f"n_scales: {s} scales need at least {s} branches, got {r.size} "
                f"branch radi{'us' if r.size == 1 else 'i'}; "
                "use fewer scales or fixed thresholds in mm")
        return np.quantile(r, np.asarray(self.quantile_levels))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form: ``{"kind", "n_scales", "quantile_levels" | "thresholds_mm"}``."""
        key = "quantile_levels" if self.kind == "quantile" else "thresholds_mm"
        return {"kind": self.kind, "n_scales": self.n_scales, key: list(getattr(self, key))}

    @classmethod
    def from_dict(cls, data: dict) -> "ScaleRule":
        """Inverse of :meth:`to_dict` (``kind`` and ``n_scales`` are checked, not needed)."""
        if not isinstance(data, dict):
            raise TypeError(f"data: expected a dict, got {type(data).__name__}")
        unknown = set(data) - {"kind", "n_scales", "quantile_levels", "thresholds_mm"}
        if unknown:
            raise ValueError(f"data: unknown keys {sorted(unknown)}; expected kind, n_scales, "
                             "quantile_levels or thresholds_mm")
        rule = cls(quantile_levels=data.get("quantile_levels"),
                   thresholds_mm=data.get("thresholds_mm"))
        if data.get("kind", rule.kind) != rule.kind or data.get("n_scales", rule.n_scales) != rule.n_scales:
            raise ValueError(f"data: kind/n_scales {data.get('kind')!r}/{data.get('n_scales')!r} "
                             f"disagree with the levels ({rule.kind}, {rule.n_scales} scales)")
        return rule

    def __str__(self) -> str:
        if self.kind == "fixed":
            return f"{self.n_scales} scales, fixed thresholds {list(self.thresholds_mm)} mm"
        return f"{self.n_scales} scales, per-volume quantiles {list(self.quantile_levels)}"


def as_scale_rule(rule, name: str = "scale_rule") -> ScaleRule:
    """``rule`` as a :class:`ScaleRule`: a rule passes, an int S means ``ScaleRule.quantiles(S)``.

    Raises
    ------
    TypeError
        Anything else (naming ``name``).
    ValueError
        An int below 2.
    """
    if isinstance(rule, ScaleRule):
        return rule
    if isinstance(rule, (int, np.integer)) and not isinstance(rule, bool):
        return ScaleRule.quantiles(check_positive_int(rule, name, minimum=2))
    raise TypeError(f"{name}: expected a ScaleRule or an int number of scales (>= 2), got {rule!r}")


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


#: default of the deprecated keywords (tells "not passed" from None)
UNSET: Any = _Unset()


def legacy_rule(rule, *, n_scales=UNSET, method=UNSET, thresholds=UNSET, quantiles=UNSET,
                where: str, default=None) -> ScaleRule | None:
    """Merge the deprecated scale keywords into a :class:`ScaleRule` (one release).

    ``rule`` wins when given together with the old keywords; without either, ``default``.
    Emits one ``DeprecationWarning`` per call that uses an old keyword, at the caller's
    line (the first frame outside vesseltree).
    """
    old = {k: v for k, v in (("n_scales", n_scales), ("method", method),
                             ("thresholds", thresholds), ("quantiles", quantiles))
           if v is not UNSET and not (k == "method" and v == "quantile")
           and not (v is None and k != "method")}
    if not old:
        return default if rule is None else as_scale_rule(rule)
    warn(
        f"{where}: {', '.join(f'{k}=' for k in old)} is deprecated; pass a "
        "vesseltree.ScaleRule (ScaleRule.quantiles(S), ScaleRule.fixed([mm, ...])) instead",
        DeprecationWarning)
    if rule is not None:
        raise TypeError(f"{where}: expected either a ScaleRule or the deprecated keywords "
                        f"{sorted(old)}, got both")
    if old.get("thresholds") is not None:
        return ScaleRule.fixed(old["thresholds"])
    m = old.get("method", "quantile")
    if not isinstance(m, str):
        return ScaleRule.fixed(m)
    if m != "quantile":
        raise ValueError(f"method: expected 'quantile' or a sequence of thresholds in mm, got {m!r}")
    if old.get("quantiles") is not None:
        return ScaleRule.quantiles(levels=old["quantiles"])
    if "n_scales" in old:
        return as_scale_rule(old["n_scales"], "n_scales")
    return default if default is not None else ScaleRule.quantiles()


def _radii(radii, name="radii") -> np.ndarray:
    r = np.asarray(radii, dtype=np.float64).ravel()
    if np.isnan(r).any() or np.isinf(r).any():
        raise ValueError(f"{name}: expected finite radii (mm), got NaN or inf")
    if (r < 0).any():
        raise ValueError(f"{name}: expected radii >= 0 (mm), got {float(r.min())}")
    return r


def threshold_radii(radii: np.ndarray, is_point: np.ndarray) -> np.ndarray:
    """The branch radii that set the per-volume quantile thresholds.

    Zero-length ``'point'`` branches (mask fragments whose skeleton is a single voxel) are
    left out, unless every branch is one, so that segmentation debris does not pull Q1 and
    Q3 down; they still receive a scale from the thresholds.

    Parameters
    ----------
    radii : numpy.ndarray, shape (n_b,)
        Branch radii (mm).
    is_point : numpy.ndarray of bool, shape (n_b,)
        Which branches are point branches.

    Returns
    -------
    numpy.ndarray
        The radii of the non-point branches, or all radii when there are none.
    """
    return radii if is_point.all() else radii[~is_point]


def scale_thresholds(radii: npt.ArrayLike | None, rule: ScaleRule | int = 3, *,
                     method=UNSET, quantiles=UNSET, n_scales=UNSET) -> np.ndarray:
    """S - 1 radius thresholds (mm) of one volume under a :class:`ScaleRule`.

    Parameters
    ----------
    radii : array_like of float, or None
        Branch radii of one volume (mm); unused (may be None) with fixed thresholds.
    rule : ScaleRule or int
        The rule; an int S is short for ``ScaleRule.quantiles(S)`` (Q1 and Q3 for S = 3).
    method, quantiles, n_scales
        Deprecated (one release): ``method=[mm, ...]`` is ``ScaleRule.fixed``,
        ``quantiles=`` is ``ScaleRule.quantiles(levels=...)``.

    Returns
    -------
    numpy.ndarray of float64, shape (S - 1,)

    Raises
    ------
    ValueError
        Fewer branches than scales with quantile thresholds (the message names
        ``n_scales`` and the number of branches), bad levels or thresholds.
    """
    r = legacy_rule(None, n_scales=n_scales, method=method, quantiles=quantiles,
                    where="scale_thresholds", default=None)
    return (r or as_scale_rule(rule, "rule")).thresholds(radii)


def assign_scales(radii: npt.ArrayLike, thresholds: npt.ArrayLike) -> np.ndarray:
    """Scale (1..S) of each radius: ``1 + #{t : r > t}``; NaN radii get 0.

    Parameters
    ----------
    radii : array_like of float
        Radii (mm), any shape (flattened).
    thresholds : array_like of float, shape (S - 1,)
        Non-decreasing thresholds (mm), e.g. from :func:`scale_thresholds`.

    Returns
    -------
    numpy.ndarray of uint8 (uint16 beyond 255 scales, :func:`scale_dtype`), shape (n,)
        Scale of each radius (a radius equal to a threshold goes to the smaller scale).

    Raises
    ------
    ValueError
        Decreasing or NaN thresholds.
    """
    r = np.asarray(radii, dtype=np.float64).ravel()
    t = np.asarray(thresholds, dtype=np.float64).ravel()
    if np.any(np.diff(t) < 0) or np.isnan(t).any():
        raise ValueError(f"thresholds: expected non-decreasing numbers, got {t.tolist()}")
    out = (np.searchsorted(t, r, side="left") + 1).astype(scale_dtype(t.size + 1))
    out[np.isnan(r)] = 0
    return out


def _branch_scale_lut(labels: np.ndarray, branch_radius, thresholds) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.dtype == bool or not np.issubdtype(lab.dtype, np.integer):
        raise TypeError(f"labels: expected an integer label volume, got dtype {lab.dtype}")
    if lab.ndim != 3:
        raise ValueError(f"labels: expected a 3D array (z, y, x), got shape {lab.shape}")
    if lab.size and lab.min() < 0:
        raise ValueError(f"labels: expected ids >= 0, got {int(lab.min())}")
    if hasattr(branch_radius, "items") or hasattr(branch_radius, "index"):
        # dict or pandas Series: branch id -> radius
        items = dict(branch_radius.items())
        n = max([int(k) for k in items] + [int(lab.max()) if lab.size else 0])
        r = np.full(n + 1, np.nan)
        for k, v in items.items():
            r[int(k)] = v
    else:
        # array indexed by branch id (entry 0 unused)
        r = np.asarray(branch_radius, dtype=np.float64).ravel()
    nmax = int(lab.max()) if lab.size else 0
    if nmax >= r.size:
        raise ValueError(
            f"branch_radius: expected a radius for every branch id up to {nmax}, got {r.size - 1}")
    lut = assign_scales(r, thresholds)
    lut[0] = 0
    missing = np.flatnonzero(lut[1:] == 0) + 1
    if missing.size:
        # only pay for a scan of the volume when some id lacks a radius
        used = missing[np.isin(missing, lab)]
        if used.size:
            raise ValueError(
                f"branch_radius: missing (NaN) radius for branch ids {used[:5].tolist()}")
    return lut


def classes_from_labels(labels: npt.ArrayLike, branch_radius, thresholds: npt.ArrayLike) -> np.ndarray:
    """Multi-class scale volume: 0 background, s in 1..S on the voxels of scale-s branches.

    The step function behind :meth:`vesseltree.VesselTree.scale_labels`, for labels and radii
    computed elsewhere.

    Parameters
    ----------
    labels : array_like of int, shape (z, y, x)
        Nearest-branch labels (Eq. 3), 0 outside the vessels.
    branch_radius : array_like indexed by branch id (entry 0 unused), or dict / pandas.Series
        Radius (mm) of every branch id present in ``labels``.
    thresholds : array_like of float, shape (S - 1,)
        Thresholds (mm), e.g. from :func:`scale_thresholds`.

    Returns
    -------
    numpy.ndarray of uint8 (uint16 beyond 255 scales), shape (z, y, x)
        0 where ``labels == 0``, the scale 1..S of the voxel's branch elsewhere.

    Raises
    ------
    TypeError, ValueError
        Non-integer, negative or non-3D ``labels``; a branch id without a (finite) radius.
    """
    lut = _branch_scale_lut(labels, branch_radius, thresholds)
    return lut[np.asarray(labels)]


def masks_from_labels(labels: npt.ArrayLike, branch_radius, thresholds: npt.ArrayLike) -> np.ndarray:
    """The S scale masks :math:`y^1..y^S` as one bool array of shape (S, z, y, x).

    The step function behind :meth:`vesseltree.VesselTree.scale_masks`, for labels and radii
    computed elsewhere.

    They partition the labelled voxels (``labels > 0``): each such voxel is in exactly one.

    Parameters
    ----------
    labels : array_like of int, shape (z, y, x)
        Nearest-branch labels (Eq. 3), 0 outside the vessels.
    branch_radius : array_like indexed by branch id (entry 0 unused), or dict / pandas.Series
        Radius (mm) of every branch id present in ``labels``.
    thresholds : array_like of float, shape (S - 1,)
        Thresholds (mm), e.g. from :func:`scale_thresholds`.

    Returns
    -------
    numpy.ndarray of bool, shape (S, z, y, x)
        ``out[s - 1]`` is the mask of scale s (1 = smallest vessels).

    Raises
    ------
    TypeError, ValueError
        As :func:`classes_from_labels`.
    """
    t = np.asarray(thresholds, dtype=np.float64).ravel()
    sl = classes_from_labels(labels, branch_radius, t)
    out = np.zeros((t.size + 1,) + sl.shape, dtype=bool)
    idx = np.flatnonzero(sl)
    out.reshape(t.size + 1, -1)[sl.reshape(-1)[idx].astype(np.int64) - 1, idx] = True
    return out


def _deprecated_alias(func, old: str):
    def alias(*args, **kwargs):
        warn(f"vesseltree.scales.{old} is deprecated, use {func.__name__} "
             f"(VesselTree.{old} is the method on an analysed tree)", DeprecationWarning)
        return func(*args, **kwargs)

    alias.__name__ = old
    alias.__doc__ = f"Deprecated alias of :func:`{func.__name__}` (one release)."
    return alias


scale_labels = _deprecated_alias(classes_from_labels, "scale_labels")
scale_masks = _deprecated_alias(masks_from_labels, "scale_masks")

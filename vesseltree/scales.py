"""Scale decomposition of a vessel tree (Sadikine et al., ISBI 2023, Sect. 2.1, last step).

S - 1 per-volume thresholds on the branch radii :math:`\\hat r_j` (Eq. 2) split the branches
into S scales, and every vessel voxel takes the scale of its branch (Eq. 3 labels), which
gives S masks :math:`y^1, \\dots, y^S` that partition the vessel mask :math:`y`. Scale 1
holds the smallest vessels.

Thresholds (:func:`scale_thresholds`):

- ``method="quantile"`` (default): quantiles of the branch radii of the volume. For S = 3
  they are Q1 and Q3, as in the paper; in general the S - 1 levels are evenly spaced from
  Q1 to Q3 (S = 2: the median; S = 4: Q1, median, Q3; ...). ``quantiles=`` overrides.
- a sequence of S - 1 increasing radii in mm: fixed thresholds, the same for every volume.

A branch of radius r goes to scale ``1 + #{t : r > t}``: radii equal to a threshold go to the
smaller scale (r <= Q1 is scale 1, Q1 < r <= Q3 scale 2, r > Q3 scale 3 when S = 3).

With quantile thresholds, fewer branches than scales raise a ``ValueError`` (a scale would
be empty by construction); fixed thresholds accept any number of branches.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import numpy.typing as npt

from ._validation import check_nonnegative_int

__all__ = ["scale_thresholds", "assign_scales", "scale_masks", "scale_labels", "default_quantiles"]


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
    n_scales = check_nonnegative_int(n_scales, "n_scales", minimum=2)
    if n_scales == 2:
        return np.array([0.5])
    return np.linspace(0.25, 0.75, n_scales - 1)


def _radii(radii, name="radii") -> np.ndarray:
    r = np.asarray(radii, dtype=np.float64).ravel()
    if np.isnan(r).any() or np.isinf(r).any():
        raise ValueError(f"{name}: expected finite radii (mm), got NaN or inf")
    if (r < 0).any():
        raise ValueError(f"{name}: expected radii >= 0 (mm), got {float(r.min())}")
    return r


def scale_thresholds(radii: npt.ArrayLike | None, n_scales: int = 3, method="quantile", *,
                     quantiles: Sequence[float] | None = None) -> np.ndarray:
    """S - 1 radius thresholds (mm) splitting branches into ``n_scales`` scales.

    Parameters
    ----------
    radii : array_like of float, or None
        Branch radii of one volume (mm); unused (may be None) with fixed thresholds.
    n_scales : int
        Number of scales S (>= 2). Ignored when ``method`` is a sequence of thresholds.
    method : "quantile" or sequence of float
        ``"quantile"``: per-volume quantiles (Q1 and Q3 for S = 3). A sequence: fixed,
        strictly increasing thresholds in mm (S = len + 1).
    quantiles : sequence of float, optional
        Explicit quantile levels in (0, 1), strictly increasing (S = len + 1).

    Returns
    -------
    numpy.ndarray of float64, shape (S - 1,)

    Raises
    ------
    ValueError
        Fewer branches than scales with quantile thresholds (the message names
        ``n_scales``, or ``quantiles`` when given, and the number of branches), bad levels
        or thresholds.
    """
    if isinstance(method, str):
        if method != "quantile":
            raise ValueError(
                f"method: expected 'quantile' or a sequence of thresholds in mm, got {method!r}")
        r = _radii(radii)
        if quantiles is None:
            q = default_quantiles(n_scales)
        else:
            q = np.asarray(quantiles, dtype=np.float64).ravel()
            if q.size < 1 or np.any(~np.isfinite(q)) or np.any(q <= 0) or np.any(q >= 1) \
                    or np.any(np.diff(q) <= 0):
                raise ValueError(
                    f"quantiles: expected strictly increasing levels in (0, 1), got {q.tolist()}")
        s = q.size + 1
        if r.size < s:
            name = "n_scales" if quantiles is None else "quantiles"
            raise ValueError(
                f"{name}: {s} scales need at least {s} branches, got {r.size} "
                f"branch radi{'us' if r.size == 1 else 'i'}; "
                "use fewer scales or fixed thresholds in mm")
        return np.quantile(r, q)
    t = np.asarray(method, dtype=np.float64).ravel()
    if t.size < 1 or np.any(~np.isfinite(t)) or np.any(t <= 0) or np.any(np.diff(t) <= 0):
        raise ValueError(
            f"method: expected strictly increasing positive thresholds in mm, got {t.tolist()}")
    return t


def assign_scales(radii: npt.ArrayLike, thresholds: npt.ArrayLike) -> np.ndarray:
    """Scale (1..S, uint8) of each radius: ``1 + #{t : r > t}``; NaN radii get 0.

    Parameters
    ----------
    radii : array_like of float
        Radii (mm), any shape (flattened).
    thresholds : array_like of float, shape (S - 1,)
        Non-decreasing thresholds (mm), e.g. from :func:`scale_thresholds`.

    Returns
    -------
    numpy.ndarray of uint8, shape (n,)
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
    out = (np.searchsorted(t, r, side="left") + 1).astype(np.uint8)
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


def scale_labels(labels: npt.ArrayLike, branch_radius, thresholds: npt.ArrayLike) -> np.ndarray:
    """Multi-class scale volume: 0 background, s in 1..S on the voxels of scale-s branches.

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
    numpy.ndarray of uint8, shape (z, y, x)
        0 where ``labels == 0``, the scale 1..S of the voxel's branch elsewhere.

    Raises
    ------
    TypeError, ValueError
        Non-integer, negative or non-3D ``labels``; a branch id without a (finite) radius.
    """
    lut = _branch_scale_lut(labels, branch_radius, thresholds)
    return lut[np.asarray(labels)]


def scale_masks(labels: npt.ArrayLike, branch_radius, thresholds: npt.ArrayLike) -> np.ndarray:
    """The S scale masks :math:`y^1..y^S` as one bool array of shape (S, z, y, x).

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
        As :func:`scale_labels`.
    """
    t = np.asarray(thresholds, dtype=np.float64).ravel()
    sl = scale_labels(labels, branch_radius, t)
    return np.stack([sl == s for s in range(1, t.size + 2)])

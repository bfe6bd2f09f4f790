"""Where a trial's validation cases come from: saved cross-validation splits or one hold-out.

A trial of ``vesselnet tune`` trains once per selected fold and scores the fold's held-out
cases; the objective is the mean of the fold scores. The folds are pluggable:

- :func:`holdout_fold`: one split from the config (``data.val_cases``, else a seeded
  ``data.val_fraction`` of the cases);
- :func:`read_folds`: the JSON splits file of ``vesselnet cv`` (the same folds as the
  cross-validation, so tuning and the Table-1 report share their splits);
- any sequence of :class:`Fold` (API).

:func:`check_folds` validates them against a dataset (unknown cases, overlapping or empty
sides) and :func:`select_folds` keeps some (``--fold 0 2``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["Fold", "holdout_fold", "read_folds", "check_folds", "select_folds"]


@dataclass(frozen=True)
class Fold:
    """One split: train on ``train``, score on ``val`` (case ids); ``index`` names the fold."""

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"index": self.index, "train": list(self.train), "val": list(self.val)}


def holdout_fold(case_ids: Sequence[str], *, val_fraction: float = 0.2,
                 val_cases: Sequence[str] | None = None, seed: int = 0) -> Fold:
    """One split of ``case_ids``: ``val_cases`` if given, else a seeded random fraction.

    Parameters
    ----------
    case_ids : sequence of str
    val_fraction : float
        Share of the cases held out (at least one case, at least one left to train on).
    val_cases : sequence of str, optional
        Explicit held-out cases (``data.val_cases`` of the config).
    seed : int
        Seed of the permutation (``numpy.random.default_rng(seed)``).

    Raises
    ------
    ValueError
        Fewer than 2 cases, a fraction outside (0, 1), unknown ``val_cases``.
    """
    ids = [str(c) for c in case_ids]
    if len(ids) < 2:
        raise ValueError(f"case_ids: a hold-out split needs 2 or more cases, got {len(ids)}")
    if val_cases is not None:
        val = [str(c) for c in val_cases]
        missing = [c for c in val if c not in ids]
        if missing:
            raise ValueError(f"val_cases: {missing} are not in the dataset (cases: {ids[:10]})")
    else:
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction: expected a number in (0, 1), got {val_fraction!r}")
        n_val = min(len(ids) - 1, max(1, int(round(val_fraction * len(ids)))))
        order = np.random.default_rng(seed).permutation(len(ids))
        chosen = set(int(i) for i in order[:n_val])
        val = [c for i, c in enumerate(ids) if i in chosen]
    return Fold(0, tuple(c for c in ids if c not in val), tuple(val))


_VAL_KEYS = ("val", "validation", "test", "held_out")


def _fold_from(entry, k: int, where: str) -> Fold:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: fold {k} must be a mapping with 'train' and 'val' lists")
    key = next((name for name in _VAL_KEYS if name in entry), None)
    if "train" not in entry or key is None:
        raise ValueError(f"{where}: fold {k} needs a 'train' list and one of "
                         f"{', '.join(repr(n) for n in _VAL_KEYS)}, got keys {sorted(entry)}")
    sides = {}
    for side in ("train", key):
        values = entry[side]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"{where}: fold {k} '{side}' must be a list of case ids")
        sides[side] = tuple(values)
    index = entry.get("index", entry.get("fold", k))
    if isinstance(index, bool) or not isinstance(index, int):
        index = k
    return Fold(index, sides["train"], sides[key])


def read_folds(path) -> list[Fold]:
    """Folds of a JSON splits file (``vesselnet cv``): ``{"folds": [{"train": [...],
    "val": [...]}, ...]}`` (the held-out side may also be named ``test``).

    Raises
    ------
    ValueError
        Unreadable file or a layout other than the above, naming the file.
    """
    p = Path(path)
    where = f"folds {str(p)!r}"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where}: not a readable JSON splits file ({exc})") from exc
    folds = data.get("folds") if isinstance(data, dict) else data
    if not isinstance(folds, list) or not folds:
        raise ValueError(f"{where}: expected a JSON object with a non-empty 'folds' list")
    return [_fold_from(entry, k, where) for k, entry in enumerate(folds)]


def check_folds(folds: Sequence[Fold], case_ids: Sequence[str], *, source: str = "folds") -> list[Fold]:
    """Validate folds against the cases of a dataset.

    Raises
    ------
    ValueError
        No fold, a case id missing from the dataset, a case on both sides, an empty side,
        duplicate fold indices.
    """
    folds = list(folds)
    if not folds:
        raise ValueError(f"{source}: no fold given")
    known = set(case_ids)
    seen = set()
    for f in folds:
        if not isinstance(f, Fold):
            raise TypeError(f"{source}: expected Fold objects, got {type(f).__name__}")
        if f.index in seen:
            raise ValueError(f"{source}: fold index {f.index} appears twice")
        seen.add(f.index)
        missing = sorted((set(f.train) | set(f.val)) - known)
        if missing:
            raise ValueError(f"{source}: fold {f.index} names cases the dataset does not hold: "
                             f"{missing[:5]}{' ...' if len(missing) > 5 else ''}")
        both = sorted(set(f.train) & set(f.val))
        if both:
            raise ValueError(f"{source}: fold {f.index} has cases on both sides: {both[:5]}")
        if not f.train or not f.val:
            raise ValueError(f"{source}: fold {f.index} has an empty "
                             f"{'training' if not f.train else 'validation'} side")
    return folds


def select_folds(folds: Sequence[Fold], indices: Sequence[int] | None) -> list[Fold]:
    """The folds whose ``index`` is in ``indices`` (all when None), in the given order.

    Raises
    ------
    ValueError
        An index no fold has, listing the available ones.
    """
    folds = list(folds)
    if indices is None:
        return folds
    by_index = {f.index: f for f in folds}
    unknown = [i for i in indices if i not in by_index]
    if unknown:
        raise ValueError(f"fold: no fold {unknown[0]}; available folds: {sorted(by_index)}")
    if len(set(indices)) != len(list(indices)):
        raise ValueError(f"fold: an index is repeated in {list(indices)}")
    return [by_index[i] for i in indices]

"""Where a trial's validation cases come from: saved cross-validation splits or one hold-out.

A trial of ``vesselnet tune`` trains once per selected fold and scores the fold's held-out
cases; the objective is the mean of the fold scores. The folds are pluggable:

- :func:`holdout_fold`: one split from the config (``data.val_cases``, else a seeded
  ``data.val_fraction`` of the cases), the validation split of ``vesselnet train``;
- :func:`read_folds`: the JSON splits file of ``vesselnet cv`` (``OUT/splits.json``,
  :mod:`vesselnet.cv.splits`): trial fold ``k`` trains on the other folds and is scored on
  fold ``k``, the cross-validation score (tuning on the folds that later report Table 1 makes
  that report optimistic; see ``docs/tuning.md``);
- any sequence of :class:`Fold` (API).

:func:`check_folds` validates them against a dataset (unknown cases, overlapping or empty
sides) and :func:`select_folds` keeps some (``--fold 0 2``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

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
    """One split of ``case_ids``, the one ``vesselnet train`` validates on
    (:func:`vesselnet.train.launch.holdout_split`): ``val_cases`` if given, else a seeded
    ``val_fraction`` of the cases (at least one, and at least one left to train on).

    Raises
    ------
    ValueError
        Fewer than 2 cases, a fraction that holds out no case, unknown ``val_cases``.
    """
    from vesselnet.train.launch import holdout_split

    ids = [str(c) for c in case_ids]
    if len(ids) < 2:
        raise ValueError(f"case_ids: a hold-out split needs 2 or more cases, got {len(ids)}")
    train, val = holdout_split(ids, val_fraction=val_fraction, seed=seed, val_cases=val_cases)
    if not val:
        raise ValueError(f"val_fraction: holds out no case (got {val_fraction!r}); tuning scores "
                         f"the validation cases, so give a fraction > 0 or val_cases")
    return Fold(0, tuple(train), tuple(val))


def read_folds(path, case_ids: Sequence[str] | None = None) -> list[Fold]:
    """The folds of a ``vesselnet cv`` splits file (:mod:`vesselnet.cv.splits`).

    Fold ``k`` of the file is the held-out set of run ``k``: the trial trains on the other
    folds and is scored on fold ``k`` (the cross-validation score).

    Raises
    ------
    ValueError
        Naming the file: unreadable, not a splits file, invalid folds, or cases that
        ``case_ids`` does not hold.
    """
    from vesselnet.cv.splits import load_splits

    groups = load_splits(path, case_ids)
    return [Fold(k, tuple(c for j, g in enumerate(groups) if j != k for c in g), tuple(held))
            for k, held in enumerate(groups)]


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

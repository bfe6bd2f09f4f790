"""Cross-validation splits: K disjoint folds of case ids, saved as JSON and reused by every preset.

A splits file (``splits.json``)::

    {"format": "vesselnet-cv-splits", "version": 1, "seed": 0, "folds": [["case_a", ...], ...]}

Fold k is the held-out (test) set of the k-th run; the other folds train it. The folds are a
seeded shuffle of the case ids dealt round-robin, so their sizes differ by at most one. The
same file serves every preset (the rows of Table 1 see the same folds) and can be given to
another ``vesselnet cv`` run (``--splits``) to compare new presets on the very same folds.
Files are JSON (never pickle) and written atomically.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["make_splits", "save_splits", "load_splits", "check_splits", "FORMAT"]

FORMAT = "vesselnet-cv-splits"


def make_splits(case_ids: Sequence[str], folds: int, seed: int = 0) -> list[list[str]]:
    """Deal the cases into ``folds`` disjoint folds (seeded shuffle, round-robin).

    Parameters
    ----------
    case_ids : sequence of str
        Distinct case ids.
    folds : int >= 2
        Number of folds K; at most ``len(case_ids)``.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    list of K lists of str
        Each case in exactly one fold; fold sizes differ by at most one; within a fold the ids
        keep the dataset order.

    Raises
    ------
    ValueError
        ``folds`` < 2 or more folds than cases (naming both numbers), duplicate ids.
    """
    ids = list(case_ids)
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds: expected an integer >= 2, got {folds!r}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"case_ids: duplicates {sorted({c for c in ids if ids.count(c) > 1})}")
    if folds > len(ids):
        raise ValueError(
            f"folds: {folds} folds need at least {folds} cases (one held out per fold), the data "
            f"has {len(ids)}; use --folds {max(2, len(ids))} or fewer, or more cases")
    order = np.random.default_rng(seed).permutation(len(ids))
    out: list[list[int]] = [[] for _ in range(int(folds))]
    for k, i in enumerate(order):
        out[k % folds].append(int(i))
    return [[ids[i] for i in sorted(f)] for f in out]


def check_splits(folds, case_ids: Sequence[str] | None = None, where: str = "splits") -> list[list[str]]:
    """Validate folds: >= 2 non-empty lists of distinct strings, disjoint, all in ``case_ids``.

    Raises
    ------
    ValueError
        Naming ``where``: fewer than 2 folds, an empty fold, a case in two folds, cases that the
        data does not hold (listing them and what it holds).
    """
    if not isinstance(folds, list) or not all(isinstance(f, list) for f in folds):
        raise ValueError(f"{where}: expected a list of folds, each a list of case ids")
    if len(folds) < 2:
        raise ValueError(f"{where}: expected at least 2 folds, got {len(folds)}")
    seen: dict[str, int] = {}
    for k, fold in enumerate(folds):
        if not fold:
            raise ValueError(f"{where}: fold {k} is empty")
        for cid in fold:
            if not isinstance(cid, str):
                raise ValueError(f"{where}: fold {k} holds {cid!r}, expected case id strings")
            if cid in seen:
                raise ValueError(f"{where}: case {cid!r} is in folds {seen[cid]} and {k}; folds must be disjoint")
            seen[cid] = k
    if case_ids is not None:
        known = set(case_ids)
        missing = [c for c in seen if c not in known]
        if missing:
            shown = ", ".join(sorted(case_ids)[:10]) + (" ..." if len(known) > 10 else "")
            raise ValueError(
                f"{where}: names {len(missing)} case(s) that the data does not hold: "
                f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''} (the data holds: {shown})")
    return [list(f) for f in folds]


def save_splits(path, folds: list[list[str]], seed: int | None = None) -> Path:
    """Write ``folds`` to ``path`` as JSON (atomically)."""
    from vesseltree.io import atomic_write

    folds = check_splits(folds)
    p = Path(path)
    with atomic_write(p) as tmp:
        tmp.write_text(json.dumps({"format": FORMAT, "version": 1, "seed": seed, "folds": folds},
                                  indent=2) + "\n", encoding="utf-8")
    return p


def load_splits(path, case_ids: Sequence[str] | None = None) -> list[list[str]]:
    """Read and validate a splits file (:func:`check_splits` against ``case_ids``).

    Raises
    ------
    ValueError
        Naming the file: unreadable, not JSON, not a splits file, or invalid folds.
    """
    p = Path(path)
    where = f"splits file {str(p)!r}"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where}: cannot read it as JSON ({exc})") from exc
    if isinstance(data, dict) and data.get("format") == FORMAT:
        folds = data.get("folds")
    elif isinstance(data, list):  # a bare list of folds, written by hand
        folds = data
    else:
        raise ValueError(f"{where}: expected {{'format': {FORMAT!r}, 'folds': [[ids], ...]}} or a list of folds")
    return check_splits(folds, case_ids, where)

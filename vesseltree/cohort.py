"""Cohorts: many inputs analysed in parallel processes or on a Dask cluster, one summary table.

``vesseltree analyze IN1 IN2 ... --jobs N`` runs :func:`vesseltree.pipeline.analyze_file` on
every input in ``N`` worker processes (:func:`run_jobs`); ``--scheduler ADDRESS`` sends them
to the workers of a Dask cluster instead (``dask[distributed]``, the optional ``dask`` extra;
the workers must see the inputs and ``--out`` under the same paths, e.g. a shared file
system). Each input is one job: :func:`analyze_job` never raises, it returns the result or the
error, so one failing input never stops the others. Every job writes its own output folder
(as a unit, :mod:`vesseltree.outputs`), and the analysis is deterministic and
single-threaded, so the tables are the same bytes whatever ``--jobs`` or the scheduler: only
the run times in ``summary.json`` differ.

After the run, the command writes across inputs (in the main process, from the results):

- ``cohort.csv`` (:func:`cohort_table`): one row per input (one per input and structure with
  ``--structures``) in natural order of the names (:func:`natural_key`: 1.1, 1.2, ..., 1.10),
  failed inputs included with their error; no run times, so byte-identical between runs;
- ``branch_radii.png``: the letter-value plot of branch radii (paper Fig. 4), one box per
  input, in the same natural order.
"""
from __future__ import annotations

import re
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["natural_key", "natural_sorted", "analyze_job", "run_jobs", "cohort_rows",
           "cohort_table", "write_cohort_table", "describe_error", "COHORT_TABLE"]

#: file name of the cohort table in the output folder
COHORT_TABLE = "cohort.csv"
#: seconds to wait for a Dask scheduler before giving up
CONNECT_TIMEOUT_S = 20

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key reading digit runs as numbers: ``3Dircadb1.2`` before ``3Dircadb1.10``.

    Parameters
    ----------
    name : str

    Returns
    -------
    tuple
        Alternating text (case-folded) and integer parts; ties broken by the name itself.
    """
    parts = _DIGITS.split(str(name))
    key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p.casefold()) for p in parts if p)
    return key + ((2, 0, str(name)),)


def natural_sorted(names: Iterable[str]) -> list[str]:
    """``names`` in natural order (:func:`natural_key`)."""
    return sorted(names, key=natural_key)


def describe_error(exc: BaseException) -> str:
    """One sentence for an error; an ``OSError`` names the path it is about."""
    if isinstance(exc, OSError) and exc.filename:
        what = exc.strerror or type(exc).__name__
        return f"{str(exc.filename)!r}: {what}"
    return str(exc)


def analyze_job(job: dict) -> dict:
    """Run one input (the worker side of :func:`run_jobs`); never raises.

    Parameters
    ----------
    job : dict
        ``path``, ``out_dir``, ``name`` and ``options`` (keyword arguments of
        :func:`vesseltree.pipeline.analyze_file`).

    Returns
    -------
    dict
        ``name``, ``path``, ``ok``; the analysis ``result`` when ok, else ``error`` (one
        sentence naming the input), ``internal`` (an unexpected exception type) and
        ``traceback``; ``warnings``: the messages the analysis gave.
    """
    from .pipeline import UserError, analyze_file

    path, name = job["path"], job["name"]
    out: dict[str, Any] = {"name": name, "path": str(path), "ok": False, "warnings": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out["result"] = analyze_file(path, job["out_dir"], name=name, **job["options"])
            out["ok"] = True
        except (UserError, ValueError, TypeError, OSError) as exc:
            msg = describe_error(exc)
            named = msg.startswith((str(path), Path(path).name))  # the reader named the file
            out.update(error=msg if named else f"{path}: {msg}", internal=False,
                       traceback=traceback.format_exc())
        except Exception as exc:  # keep going with the other inputs
            out.update(error=f"internal error ({type(exc).__name__}) on {path}: {exc}",
                       internal=True, traceback=traceback.format_exc())
    out["warnings"] = [str(w.message) for w in caught]
    return out


def _failed(job: dict, message: str) -> dict:
    return {"name": job["name"], "path": str(job["path"]), "ok": False, "warnings": [],
            "error": f"{job['path']}: {message}", "internal": True, "traceback": ""}


def run_jobs(jobs: Sequence[dict], *, n_jobs: int = 1, scheduler: str | None = None,
             on_done: Callable[[dict], None] | None = None) -> list[dict]:
    """Run :func:`analyze_job` on every job, serially, in processes or on a Dask cluster.

    Parameters
    ----------
    jobs : sequence of dict
        See :func:`analyze_job`; paths should be absolute for a cluster.
    n_jobs : int
        Worker processes (1: in this process). Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``).
    on_done : callable, optional
        Called with each job's outcome as it finishes (completion order).

    Returns
    -------
    list of dict
        The outcomes of :func:`analyze_job`, in the order of ``jobs``. A worker that dies
        (killed, out of memory) fails its job, not the run.

    Raises
    ------
    vesseltree.pipeline.UserError
        ``scheduler`` unreachable, or ``distributed`` not installed.
    """
    done = on_done or (lambda outcome: None)
    if scheduler is not None:
        return _run_dask(jobs, scheduler, done)
    if n_jobs <= 1 or len(jobs) <= 1:
        outcomes = []
        for job in jobs:
            outcomes.append(analyze_job(job))
            done(outcomes[-1])
        return outcomes
    return _run_processes(jobs, n_jobs, done)


def _run_processes(jobs, n_jobs: int, done) -> list[dict]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # a fresh interpreter per worker (no fork of a process that may hold threads or locks)
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    outcomes: list[dict | None] = [None] * len(jobs)
    pool = ProcessPoolExecutor(max_workers=min(n_jobs, len(jobs)), mp_context=ctx)
    try:
        futures = {pool.submit(analyze_job, job): i for i, job in enumerate(jobs)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                outcomes[i] = fut.result()
            except Exception as exc:  # BrokenProcessPool: the worker died
                outcomes[i] = _failed(jobs[i], f"worker process failed ({type(exc).__name__}: "
                                               f"{exc})")
            done(outcomes[i])
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes  # type: ignore[return-value]


def _run_dask(jobs, address: str, done) -> list[dict]:
    from .pipeline import UserError

    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise UserError("--scheduler: Dask runs need the optional 'distributed' package "
                        "(pip install 'vesseltree[dask]')") from exc
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as exc:
        raise UserError(f"--scheduler: could not connect to the Dask scheduler at "
                        f"{address!r} ({exc})") from exc
    outcomes: list[dict | None] = [None] * len(jobs)
    try:
        futures = client.map(analyze_job, list(jobs), pure=False,
                             key=[f"vesseltree-analyze-{i}-{j['name']}" for i, j in enumerate(jobs)])
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            i = index[fut.key]
            try:
                outcomes[i] = fut.result()
            except Exception as exc:  # KilledWorker, a lost worker, ...
                outcomes[i] = _failed(jobs[i], f"Dask worker failed ({type(exc).__name__}: "
                                               f"{exc})")
            done(outcomes[i])
    finally:
        client.close()
    return outcomes  # type: ignore[return-value]


# ------------------------------------------------------------------------------ table
_INT_COLUMNS = ("vessel_voxels", "n_branches", "n_point_branches", "n_components", "n_junctions",
                "n_endpoints", "max_generation", "max_strahler")


def _stat_columns(prefix: str, stats: dict | None, keys=("median", "q1", "q3", "min", "max")):
    stats = stats or {}
    return {f"{prefix}_{k}": stats.get(k) for k in keys}


def _row(name: str, structure: str, s: dict, n_scales: int) -> dict:
    row = {"name": name, "structure": structure, "status": "ok", "error": "",
           "vessel_voxels": s.get("vessel_voxels"), "vessel_volume_mm3": s.get("vessel_volume_mm3"),
           "n_branches": s.get("n_branches"), "n_point_branches": s.get("n_point_branches"),
           "n_components": s.get("n_components"), "n_junctions": s.get("n_junctions"),
           "n_endpoints": s.get("n_endpoints"), "total_length_mm": s.get("total_length_mm"),
           "max_generation": s.get("max_generation"), "max_strahler": s.get("max_strahler")}
    row.update(_stat_columns("radius_mm", s.get("radius_mm")))
    row.update(_stat_columns("radius_inscribed_mm", s.get("radius_inscribed_mm"),
                             ("median", "q1", "q3")))
    row.update(_stat_columns("length_mm", s.get("length_mm"), ("median", "q1", "q3")))
    row.update(_stat_columns("tortuosity", s.get("tortuosity"), ("median",)))
    if "curvature_per_mm" in s:
        row.update(_stat_columns("curvature_per_mm", s["curvature_per_mm"], ("median",)))
        row.update(_stat_columns("torsion_per_mm", s["torsion_per_mm"], ("median",)))
    thr = s.get("scale_thresholds_mm") or [None] * (n_scales - 1)
    for k, t in enumerate(thr, start=1):
        row[f"threshold_{k}_mm"] = t
    vols = s.get("scale_volume_mm3") or [None] * n_scales
    for k, v in enumerate(vols, start=1):
        row[f"scale_{k}_volume_mm3"] = v
    return row


def cohort_rows(outcome: dict) -> list[dict]:
    """Rows of :func:`cohort_table` for one outcome of :func:`analyze_job`."""
    if not outcome["ok"]:
        return [{"name": outcome["name"], "structure": "", "status": "failed",
                 "error": outcome["error"]}]
    summary = outcome["result"]["summary"]
    n = int(summary.get("n_scales", 0))
    if outcome["result"].get("structures"):
        per = summary["structures"]
        return [_row(outcome["name"], st, {**per[st], **_shared_scales(summary)}, n)
                for st in outcome["result"]["structures"]]
    return [_row(outcome["name"], "", summary, n)]


def _shared_scales(summary: dict) -> dict:
    """Union thresholds of a per-structure run apply to every structure's row."""
    return ({"scale_thresholds_mm": summary["scale_thresholds_mm"]}
            if summary.get("scale_thresholds_mm") else {})


def cohort_table(outcomes: Iterable[dict]) -> "pd.DataFrame":
    """One row per input (per input and structure), natural order of names, failures
    included (``status`` ``failed`` and the ``error``).

    Parameters
    ----------
    outcomes : iterable of dict
        Outcomes of :func:`analyze_job`.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    rows = [r for o in sorted(outcomes, key=lambda o: natural_key(o["name"]))
            for r in cohort_rows(o)]
    table = pd.DataFrame(rows)
    for col in _INT_COLUMNS:  # integers stay integers beside a failed row's blanks
        if col in table:
            table[col] = table[col].astype("Int64")
    if "structure" in table and not (table["structure"] != "").any():
        table = table.drop(columns="structure")
    return table


def write_cohort_table(outcomes: Iterable[dict], path) -> Path:
    """Write :func:`cohort_table` as CSV, atomically; returns the path."""
    from .io import atomic_write

    table = cohort_table(outcomes)
    with atomic_write(path) as tmp:
        table.to_csv(tmp, index=False, float_format=None)
    return Path(path)


def radii_by_input(outcomes: Iterable[dict]) -> dict[str, np.ndarray]:
    """Branch radii of every successful input, natural order (the letter-value plot's)."""
    ok = [o for o in outcomes if o["ok"]]
    return {o["name"]: o["result"]["radii"]
            for o in sorted(ok, key=lambda o: natural_key(o["name"]))}

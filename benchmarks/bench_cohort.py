"""Benchmark: ``vesseltree analyze`` on the 19 3D-IRCADb masks, ``--jobs 1`` vs ``--jobs 2``.

Run: ``pytest benchmarks/bench_cohort.py --benchmark-enable -s`` (``-s`` prints the ratio at
the end). Rounds: ``VESSELTREE_BENCH_ROUNDS_COHORT`` (default 1; one round is 19 volumes
read from their ``MASKS_DICOM.zip``, analysed and written). Both settings run in the same
session, serial first, each into its own ``--out``; the per-input tables and ``cohort.csv``
of the two runs are compared byte for byte (``summary.json`` differs only by its run times).
What is timed is the whole command (reading the DICOM zips, the analysis, writing the
outputs without figures): worker processes start fresh (forkserver), so ``--jobs 2`` also
pays two interpreter starts and their Numba cache loads.

Skipped when the data is absent (``VESSELTREE_IRCADB``, ``conftest.ircadb_root``). No timing
is asserted: figures go to ``docs/cli.md`` (Cohorts).
"""
from __future__ import annotations

import json
import os
import time

import pytest

from conftest import ircadb_root
from vesseltree.cli import main

ROUNDS = int(os.environ.get("VESSELTREE_BENCH_ROUNDS_COHORT", "1"))
PATIENTS = [f"3Dircadb1.{k}" for k in range(1, 20)]
TABLES = ("branches.csv", "graph.graphml", "labels.nii.gz", "scales.nii.gz")
GROUP = "vesseltree analyze, 19 3D-IRCADb masks"
SUMMARY_TITLE = f"cohort run ({os.cpu_count()} CPUs), wall seconds"
SUMMARY_REFERENCE = "jobs1"
_ANALYSIS: dict[int, float] = {}
_LOAD: dict[int, tuple] = {}
_OUT: dict[int, object] = {}


def _cohort_lines(summary) -> list[str]:
    """The speed-up (from the summary's wall times) and, per setting, the summed analysis
    time and the load around the run."""
    wall = {j: summary.times.get((GROUP, f"jobs{j}"), (None,))[0] for j in (1, 2)}
    if None in wall.values():
        return []
    lines = [f"  speed-up --jobs 2 over --jobs 1: {wall[1] / wall[2]:.2f}x"]
    for j in (1, 2):
        lines.append(f"  --jobs {j}: analysis {_ANALYSIS[j]:.1f} s summed over the inputs, "
                     f"load average before/after {_LOAD[j][0]:.1f}/{_LOAD[j][1]:.1f}")
    return lines


def _analysis_seconds(out) -> float:
    """Sum over the inputs of the analysis time each worker measured (summary.json): how much
    the inputs slowed each other down."""
    return sum(json.loads((out / p / "summary.json").read_text())["analyze_seconds"]
               for p in PATIENTS)


def _inputs():
    root = ircadb_root()
    paths = [root / p for p in PATIENTS]
    missing = [p.name for p in paths if not (p / "MASKS_DICOM.zip").is_file()]
    if missing:
        pytest.skip(f"3D-IRCADb masks not found under {root}: {', '.join(missing[:3])} ...")
    return [str(p) for p in paths]


@pytest.mark.parametrize("jobs", [1, 2])
def test_cohort(benchmark, summary, jobs, tmp_path_factory):
    inputs = _inputs()
    out = tmp_path_factory.mktemp(f"jobs{jobs}")
    argv = ["analyze", *inputs, "--jobs", str(jobs), "--out", str(out), "-q", "--no-figures",
            "--overwrite"]
    benchmark.group = GROUP
    if jobs == 1:
        summary.add_lines(lambda: _cohort_lines(summary))
    benchmark.extra_info.update(jobs=jobs, inputs=len(inputs))
    load0 = os.getloadavg()[0]
    rc = benchmark.pedantic(main, args=(argv,), rounds=ROUNDS, iterations=1)
    _LOAD[jobs] = (load0, os.getloadavg()[0])
    assert rc == 0
    _ANALYSIS[jobs] = _analysis_seconds(out)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        summary.add(GROUP, f"jobs{jobs}", stats.stats.median, stats.stats.min)
    else:  # benchmarks disabled: time one more run so the summary still means something
        t = time.perf_counter()
        assert main(argv) == 0
        summary.add(GROUP, f"jobs{jobs}", time.perf_counter() - t)
    _OUT[jobs] = out
    if 1 in _OUT and 2 in _OUT:  # same bytes whatever --jobs
        a, b = _OUT[1], _OUT[2]
        assert (a / "cohort.csv").read_bytes() == (b / "cohort.csv").read_bytes()
        for p in PATIENTS:
            for f in TABLES:
                assert (a / p / f).read_bytes() == (b / p / f).read_bytes(), (p, f)

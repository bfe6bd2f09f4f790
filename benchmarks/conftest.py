"""Shared pieces of the benchmarks: the inputs, the data location and the summary.

* ``summary`` (module fixture): a :class:`Summary` that records each benchmark's median and
  min time and prints, when the module ends, every group's times and ratios to ``ours``
  (run with ``-s`` to see it), then the module's own lines (``note``, ``add_lines``: FLOP
  ratios, interleaved pairs, agreement checks). With ``--benchmark-disable`` (plain test
  runs) it times a few calls itself when given the function, so the summary still means
  something. Every benchmark module uses this one fixture.
* ``phantom_case`` / ``ircadb_case`` (session fixtures): the two inputs of the pipeline
  benchmarks, ``(mask, spacing)``: the 256x256x128 phantom (``make_phantom((128, 256,
  256), seed=0)``, 1 mm) and 3D-IRCADb-01 patient 1.1's native vessel mask (portal vein +
  venous system, spacing from the DICOM tags; skipped when absent).
* The data location is :mod:`vesseltree.datasets`' rule (``VESSELTREE_IRCADB``, else
  ``../shared/data/3Dircadb1`` beside the checkout); ``ircadb_root()`` here applies it to
  this checkout.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from vesseltree import datasets

CHECKOUT = Path(__file__).resolve().parents[1]


def ircadb_root() -> Path:
    """Folder holding the ``3Dircadb1.N`` patient folders (:mod:`vesseltree.datasets`)."""
    return datasets.ircadb_root(CHECKOUT)


class Summary:
    """Median and min seconds per ``(group, impl)``, reported as ratios to ``reference``."""

    def __init__(self, title: str, reference: str = "ours") -> None:
        self.title = title
        self.reference = reference
        self.times: dict[tuple[str, str], tuple[float, float]] = {}
        self._extra: list = []

    def record(self, benchmark, group: str, impl: str, fn=None, *args) -> None:
        """Keep ``benchmark``'s median and min; when benchmarks are disabled, time three
        calls of ``fn(*args)`` instead (nothing is recorded without ``fn``)."""
        stats = getattr(getattr(benchmark, "stats", None), "stats", None)
        if stats is not None:
            self.times[(group, impl)] = (stats.median, stats.min)
        elif fn is not None:
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                fn(*args)
                runs.append(time.perf_counter() - t0)
            self.times[(group, impl)] = (float(np.median(runs)), min(runs))

    def add(self, group: str, impl: str, median: float, minimum: float | None = None) -> None:
        """Record a time measured by the module itself (interleaved rounds, a CLI run)."""
        self.times[(group, impl)] = (float(median), float(median if minimum is None else minimum))

    def note(self, line: str) -> None:
        """A line printed after the tables (an agreement check, a per-pair ratio)."""
        self._extra.append(lambda: [line])

    def add_lines(self, make_lines) -> None:
        """``make_lines()`` -> list of str, called when the report is printed (for lines that
        need every result of the module, e.g. ratios next to FLOP ratios)."""
        self._extra.append(make_lines)

    def report(self) -> str:
        """One block per group: each implementation's times and its ratio to the reference
        (``time / reference``: > 1 means the reference is faster), then the module's lines."""
        lines = [""] + self._table() if self.times else []
        for make_lines in self._extra:
            lines.extend(make_lines())
        return "\n".join(lines) if lines else ""

    def _table(self) -> list[str]:
        lines = [f"{self.title} (median s, min s, median / {self.reference}):"]
        groups = dict.fromkeys(g for g, _ in self.times)
        for group in groups:
            lines.append(f"  {group}")
            ref = self.times.get((group, self.reference))
            for (g, impl), (med, mn) in self.times.items():
                if g != group:
                    continue
                ratio = f"{med / ref[0]:7.2f}x" if ref and impl != self.reference else ""
                lines.append(f"    {impl:<22s} {med:9.4f} {mn:9.4f} {ratio}")
        return lines


@pytest.fixture(scope="module")
def summary(request):
    """The module's :class:`Summary`, printed when the module's tests are done; a module
    may set ``SUMMARY_TITLE`` and ``SUMMARY_REFERENCE``."""
    s = Summary(getattr(request.module, "SUMMARY_TITLE", request.module.__name__),
                getattr(request.module, "SUMMARY_REFERENCE", "ours"))
    yield s
    text = s.report()
    if text:
        print(text)


@pytest.fixture(scope="session")
def phantom_case():
    """The 256x256x128 phantom: ``(mask, spacing)``."""
    from vesseltree.synthetic import make_phantom

    ph = make_phantom((128, 256, 256), (1.0, 1.0, 1.0), seed=0)
    return ph.mask, ph.spacing


@pytest.fixture(scope="session")
def ircadb_case():
    """Patient 1.1's portal vein + venous system, native grid: ``(mask, spacing)``."""
    path = datasets.ircadb_patient_mask(1, CHECKOUT)
    if not path.is_file():
        pytest.skip(f"3D-IRCADb patient 1.1 not found at {path} (set {datasets.IRCADB_ENV})")
    from vesseltree.io import load_volume

    vol = load_volume(path)
    return np.asarray(vol.data, dtype=bool), tuple(vol.spacing)

"""Cohort runs of ``vesseltree analyze`` (vesseltree.cohort): --jobs, a Dask cluster, the
cohort table and the natural order of the Fig. 4 boxes.

References: the serial run (--jobs 1) byte for byte; each input's own summary.json and
branches.csv for the cohort table; numeric sorting of the patient numbers for the order.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from vesseltree import cohort
from vesseltree.cli import main
from vesseltree.synthetic import make_phantom

# names whose lexicographic order (p.1, p.10, p.11, p.2) is not their natural one
NAMES = ("p.2", "p.10", "p.1", "p.11")
TABLE_FILES = ("branches.csv", "graph.graphml", "labels.nii.gz", "scales.nii.gz")


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    paths = []
    for k, name in enumerate(NAMES):
        ph = make_phantom((32, 44, 44), 1.0, seed=k + 1, depth=3)
        np.save(root / f"{name}.npy", ph.mask)
        paths.append(str(root / f"{name}.npy"))
    bad = root / "bad.npy"
    np.save(bad, np.arange(27).reshape(3, 3, 3))  # a label map: not a binary mask
    return root, paths, str(bad)


def _run(args, out):
    return main(["analyze", *args, "--out", str(out), "-q", "--no-figures"])


@pytest.fixture(scope="module")
def serial(phantoms):
    root, paths, _ = phantoms
    out = root / "serial"
    assert _run([*paths, "--jobs", "1"], out) == 0
    return out


def _same_bytes(a, b, names=NAMES, skip_rows=()):
    for name in names:
        for f in TABLE_FILES:
            assert (a / name / f).read_bytes() == (b / name / f).read_bytes(), (name, f)
    rows_b = [r for r in (b / "cohort.csv").read_bytes().splitlines(keepends=True)
              if not r.startswith(tuple(f"{n},".encode() for n in skip_rows))]
    assert (a / "cohort.csv").read_bytes() == b"".join(rows_b)


def test_natural_order():
    names = [f"3Dircadb1.{k}" for k in (10, 2, 19, 1, 11, 3)]
    got = cohort.natural_sorted(names)
    ref = sorted(names, key=lambda n: int(n.rsplit(".", 1)[1]))  # the patient number
    assert got == ref
    assert cohort.natural_sorted(["b2", "a10", "a2", "B1"]) == ["a2", "a10", "B1", "b2"]


def test_cohort_table_rows_match_each_input(serial):
    table = pd.read_csv(serial / "cohort.csv")
    assert table["name"].tolist() == ["p.1", "p.2", "p.10", "p.11"]  # natural order
    assert "structure" not in table  # one tree per input
    for _, row in table.iterrows():
        summary = json.loads((serial / row["name"] / "summary.json").read_text())
        br = pd.read_csv(serial / row["name"] / "branches.csv")
        assert row["status"] == "ok"
        assert row["n_branches"] == len(br) == summary["n_branches"]
        assert row["radius_mm_median"] == pytest.approx(np.median(br["radius_mm"]))
        assert row["radius_inscribed_mm_median"] == pytest.approx(
            np.median(br["radius_inscribed_mm"]))
        assert row["total_length_mm"] == pytest.approx(br["length_mm"].sum())
        assert row["max_generation"] == br["generation"].max()
        assert [row["threshold_1_mm"], row["threshold_2_mm"]] == pytest.approx(
            summary["scale_thresholds_mm"])
        assert row["scale_3_volume_mm3"] == pytest.approx(summary["scale_volume_mm3"][2])
    assert not any("second" in c for c in table.columns)  # no run times: byte-stable


def test_jobs_2_same_bytes_and_a_failure_does_not_stop_the_others(phantoms, serial, capsys):
    root, paths, bad = phantoms
    out = root / "jobs2"
    rc = main(["analyze", paths[0], bad, *paths[1:], "--jobs", "2", "--out", str(out),
               "--no-figures"])
    err = capsys.readouterr().err
    assert rc == 2
    _same_bytes(serial, out, skip_rows=["bad"])
    assert "bad.npy: expected a binary mask" in err
    assert err.rstrip().splitlines()[-1].endswith("1 of 5 input(s) failed: bad")
    table = pd.read_csv(out / "cohort.csv", keep_default_na=False)
    assert table["name"].tolist() == ["bad", "p.1", "p.2", "p.10", "p.11"]
    failed = table.set_index("name").loc["bad"]
    assert failed["status"] == "failed" and "binary mask" in failed["error"]
    assert not (out / "bad").exists()


def test_figure_boxes_in_natural_order(phantoms, monkeypatch):
    import vesseltree.plot

    root, paths, _ = phantoms
    seen = {}

    def spy(radii, path, **kw):
        seen["order"] = list(radii)
        seen["n"] = {k: len(v) for k, v in radii.items()}

    monkeypatch.setattr(vesseltree.plot, "letter_value_plot", spy)
    out = root / "fig"
    assert main(["analyze", *paths, "--out", str(out), "-q"]) == 0
    assert seen["order"] == ["p.1", "p.2", "p.10", "p.11"]
    for name, n in seen["n"].items():
        assert n == len(pd.read_csv(out / name / "branches.csv"))


def test_dask_local_cluster_same_bytes(phantoms, serial):
    distributed = pytest.importorskip("distributed", reason="the optional dask extra")
    root, paths, _ = phantoms
    out = root / "dask"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's own notes (ports, nanny)
        with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                      dashboard_address=None) as cluster:
            rc = _run([*paths, "--scheduler", cluster.scheduler_address], out)
    assert rc == 0
    _same_bytes(serial, out)


def test_scheduler_unreachable_is_one_line(phantoms, capsys, monkeypatch):
    pytest.importorskip("distributed", reason="the optional dask extra")
    monkeypatch.setattr(cohort, "CONNECT_TIMEOUT_S", 2)
    root, paths, _ = phantoms
    rc = main(["analyze", paths[0], "--scheduler", "tcp://127.0.0.1:9", "--out",
               str(root / "nowhere"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "--scheduler: could not connect" in err and "Traceback" not in err


def test_bad_jobs_refused(phantoms, capsys):
    _, paths, _ = phantoms
    assert main(["analyze", paths[0], "--jobs", "0"]) == 2
    assert "--jobs/-j: expected an integer >= 1" in capsys.readouterr().err

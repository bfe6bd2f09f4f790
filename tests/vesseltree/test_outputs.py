"""Output folders as units (issue 9 item 1): reruns, --overwrite, stale files, SIGKILL.

``vesseltree analyze A --out K`` then ``vesseltree analyze B --out K`` (same output name) must
never leave a folder that mixes files of A and B: ``K/<name>/`` is either A's complete
outputs or B's, and whatever a killed run leaves is hidden and named ``.partial-``/``.old-``;
the next run removes it.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from vesseltree.cli import main
from vesseltree.outputs import INCOMPLETE, MANIFEST, PAUSE_ENV

from .test_cli import SPACING, _y_tree

SP = [str(s) for s in SPACING]
ALL_FILES = {"branches.csv", "graph.graphml", "labels.nii.gz", "scales.nii.gz", "summary.json",
             "radius_mip.png", "scales_mip.png", MANIFEST}


def _run(*argv) -> int:
    return main(["analyze", *map(str, argv), "--spacing", *SP, "-q"])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Two different masks stored under the same name (a/case.npy, b/case.npy) and the
    reference output folder of each, from complete runs."""
    root = tmp_path_factory.mktemp("units")
    a, b = root / "a" / "case.npy", root / "b" / "case.npy"
    a.parent.mkdir()
    b.parent.mkdir()
    mask = _y_tree()
    np.save(a, mask)
    other = mask.copy()
    other[:, :, 40:] = False  # one thin branch cut short: another table, other labels
    np.save(b, other)
    refs = {}
    for key, path in (("a", a), ("b", b)):
        assert _run(path, "--out", root / f"ref_{key}") == 0
        refs[key] = root / f"ref_{key}" / "case"
    return root, a, b, refs


def _read(d: Path) -> dict:
    """What identifies a run's outputs (timings left out)."""
    import networkx as nx

    summary = json.loads((d / "summary.json").read_text())
    summary.pop("analyze_seconds")
    g = nx.read_graphml(d / "graph.graphml", force_multigraph=True)
    return {
        "files": sorted(p.name for p in d.iterdir()),
        "branches": pd.read_csv(d / "branches.csv", index_col=0),
        "graph": sorted((min(u, v), max(u, v), k) for u, v, k in g.edges(keys=True)),
        "labels": np.asanyarray(nib.load(str(d / "labels.nii.gz")).dataobj),
        "scales": np.asanyarray(nib.load(str(d / "scales.nii.gz")).dataobj),
        "summary": summary,
        "manifest_inputs": json.loads((d / MANIFEST).read_text())["inputs"],
    }


def _close(a, b) -> bool:
    """Equal, floats up to round-off (two processes may differ in the last bits)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)):
        return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12))
    return a == b


def _assert_same(d: Path, ref: Path) -> None:
    got, want = _read(d), _read(ref)
    for key in ("files", "graph", "manifest_inputs"):
        assert got[key] == want[key], key
    for key in ("labels", "scales"):
        np.testing.assert_array_equal(got[key], want[key])
    pd.testing.assert_frame_equal(got["branches"], want["branches"], rtol=1e-9)
    assert _close(got["summary"], want["summary"]), "summary"


def _which(d: Path, refs) -> str:
    """'a' or 'b': the complete run this folder holds (every file from that run)."""
    why = {}
    for key, ref in refs.items():
        try:
            _assert_same(d, ref)
            return key
        except AssertionError as exc:
            why[key] = str(exc)[:300]
    raise AssertionError(f"{d} mixes runs or is incomplete: {sorted(p.name for p in d.iterdir())}; "
                         f"differences: {why}")


def test_rerun_refused_without_overwrite(inputs, tmp_path, capsys):
    _, a, b, refs = inputs
    k = tmp_path / "K"
    assert _run(a, "--out", k) == 0
    capsys.readouterr()
    assert _run(b, "--out", k) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "Traceback" not in err
    _assert_same(k / "case", refs["a"])  # untouched


def test_overwrite_replaces_the_whole_unit(inputs, tmp_path, capsys):
    """A rerun with --no-figures keeps no figure of the first run (issue 9.1)."""
    _, a, b, refs = inputs
    k = tmp_path / "K"
    assert _run(a, "--out", k) == 0
    assert (k / "case" / "radius_mip.png").is_file() and (k / "branch_radii.png").is_file()
    assert _run(b, "--out", k, "--overwrite", "--no-figures") == 0
    files = {p.name for p in (k / "case").iterdir()}
    assert files == ALL_FILES - {"radius_mip.png", "scales_mip.png"}
    assert not (k / "branch_radii.png").exists()  # it described the first run
    got, want = _read(k / "case"), _read(refs["b"])
    for key in ("labels", "scales"):
        np.testing.assert_array_equal(got[key], want[key])
    pd.testing.assert_frame_equal(got["branches"], want["branches"], rtol=1e-9)
    assert sorted(json.loads((k / "case" / MANIFEST).read_text())["files"]) == sorted(files - {MANIFEST})
    assert [p.name for p in k.iterdir() if p.name.startswith(".")] == []


def test_foreign_folder_is_never_replaced(inputs, tmp_path, capsys):
    _, a, _, _ = inputs
    k = tmp_path / "K"
    (k / "case").mkdir(parents=True)
    (k / "case" / "thesis.tex").write_text("precious")
    for extra in ([], ["--overwrite"]):
        assert _run(a, "--out", k, *extra) == 2
        assert "not an output folder" in capsys.readouterr().err
    assert (k / "case" / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in (k / "case").iterdir()) == ["thesis.tex"]


def test_out_that_is_a_file_is_a_sentence(inputs, tmp_path, capsys):
    _, a, _, _ = inputs
    f = tmp_path / "results"
    f.write_text("x")
    assert _run(a, "--out", f) == 2
    err = capsys.readouterr().err
    assert str(f) in err and "is a file" in err and "Errno" not in err
    assert _run(a, "--out", f / "sub") == 2
    err = capsys.readouterr().err
    assert str(f) in err and "Errno" not in err and "Traceback" not in err


def test_failed_analysis_leaves_nothing(tmp_path, capsys):
    tube = np.zeros((10, 20, 20), bool)
    tube[4:7, 3:17, 8:11] = True  # one branch: 3 quantile scales impossible
    np.save(tmp_path / "tube.npy", tube)
    out = tmp_path / "out"
    assert _run(tmp_path / "tube.npy", "--out", out) == 2
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("name", ["..", "...", ".hidden"])
def test_input_names_cannot_escape_out(tmp_path, name):
    """Issue 16: an output name derived from an input stays a child of --out."""
    d = tmp_path / "in"
    d.mkdir()
    src = d / f"{name}.npy"
    np.save(src, _y_tree())
    out = tmp_path / "deep" / "out"
    assert _run(src, "--out", out, "--no-figures") == 0
    (child,) = [p for p in out.iterdir() if not p.name.startswith(".")] or [None]
    assert child is not None and child.parent == out and not child.name.startswith(".")
    assert (child / "summary.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "in"]


def test_api_name_with_separators_is_refused(tmp_path):
    from vesseltree.pipeline import analyze_file

    np.save(tmp_path / "m.npy", _y_tree())
    for bad in ("../../x", "a/b", ".."):
        with pytest.raises(ValueError, match="name"):
            analyze_file(tmp_path / "m.npy", tmp_path / "out", name=bad, spacing=SPACING)
    assert not (tmp_path / "x").exists() and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- SIGKILL

# the first file, the last file, and each step of the swap
PAUSE_POINTS = ["file:branches.csv", "file:scales_mip.png", "swap:marker-removed",
                "swap:old-moved", "swap:new-moved"]


def _kill_at(label: str, argv: list[str], cwd: Path) -> None:
    env = dict(os.environ, **{PAUSE_ENV: label, "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "vesseltree", *argv], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        seen = []
        for line in proc.stderr:  # blocks until the writer pauses (or exits)
            seen.append(line)
            if line.startswith(f"PAUSED {label}"):
                break
            assert time.monotonic() < deadline, "the writer never paused"
        else:
            raise AssertionError(f"exited without pausing at {label}: {''.join(seen)}")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_at_every_step_leaves_a_complete_folder_or_a_marked_one(inputs, tmp_path):
    """Issue 9.1: run A completes, run B (--overwrite) is killed at each step; K/case is then
    A's or B's complete outputs (or absent, between the two moves of the swap), anything else
    is hidden and named as incomplete, and a rerun cleans it."""
    root, a, b, refs = inputs
    for label in PAUSE_POINTS:
        k = tmp_path / label.replace(":", "_")
        shutil.copytree(refs["a"], k / "case")  # run A, complete
        _kill_at(label, ["analyze", str(b), "--out", str(k), "--overwrite", "--spacing", *SP,
                         "-q"], cwd=root)
        visible = [p for p in k.iterdir() if not p.name.startswith(".")]
        hidden = [p for p in k.iterdir() if p.name.startswith(".")]
        case = k / "case"
        if case.exists():
            held = _which(case, refs)  # complete and from one run only
            assert held == ("b" if label == "swap:new-moved" else "a"), label
        else:
            assert label == "swap:old-moved"  # between the two renames of the swap
        assert {p.name for p in visible} <= {"case", "branch_radii.png"}
        for p in hidden:  # clearly marked: by name, and by INCOMPLETE while being filled
            assert p.name.startswith((".case.partial-", ".case.old-")), p.name
            if p.name.startswith(".case.partial-") and label.startswith("file:"):
                assert (p / INCOMPLETE).is_file()
        if label.startswith("file:"):
            assert any(p.name.startswith(".case.partial-") for p in hidden)
        # a rerun cleans it and gives B's outputs
        assert _run(b, "--out", k, "--overwrite") == 0
        _assert_same(case, refs["b"])
        assert [p.name for p in k.iterdir() if p.name.startswith(".")] == [], label

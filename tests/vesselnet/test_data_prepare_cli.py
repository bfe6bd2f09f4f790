"""`vesselnet prepare`: progress, summary, cache reuse, figures, clear errors (exit code 2)."""
from __future__ import annotations

import json

import pytest

from vesselnet.cli import main

ARGS = ["synthetic:2", "--shape", "24", "28", "28", "--target-shape", "16", "20", "20", "--margin-mm", "2"]


def test_prepare_then_read_from_cache(tmp_path, capsys):
    out = tmp_path / "prep"
    assert main(["prepare", *ARGS, "--out", str(out)]) == 0
    first = capsys.readouterr()
    assert "2 computed, 0 read from the cache" in first.out
    assert "synthetic_000: 16x20x20 voxels of" in first.out and "(new," in first.out
    assert "prepare" in first.err  # the progress bar
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["synthetic_000.png", "synthetic_001.png"]
    assert main(["prepare", *ARGS, "--out", str(out), "--quiet"]) == 0
    second = capsys.readouterr()
    assert "0 computed, 2 read from the cache" in second.out and "(cached)" in second.out
    assert second.err == ""
    assert main(["prepare", *ARGS, "--out", str(out), "--quiet", "--target-rule", "paper"]) == 0
    assert "(changed: config," in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["target_rule"] == "paper"


def test_config_file_and_flags(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("n_scales: 2\nlabel_resampling: nearest\n")
    out = tmp_path / "prep"
    assert main(["prepare", *ARGS, "--out", str(out), "--config", str(cfg), "--quiet", "--no-figures"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["config"]["n_scales"] == 2 and m["config"]["label_resampling"] == "nearest"
    assert not (out / "figures").exists()
    cfg.write_text("!!python/object/apply:os.system ['touch pwned']\n")
    assert main(["prepare", *ARGS, "--out", str(out), "--config", str(cfg)]) == 2
    assert "--config: cannot read" in capsys.readouterr().err
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("extra, message", [
    (["--patients", "1"], "--patients: not an option of a synthetic source"),
    (["--label-resampling", "cubic"], "label_resampling: expected one of"),
    (["--n-scales", "1"], "n_scales: expected an integer >= 2"),
])
def test_errors_are_one_line_exit_2(tmp_path, capsys, extra, message):
    assert main(["prepare", *ARGS, "--out", str(tmp_path / "p"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("vesselnet prepare: error:")


def test_unwritable_out_and_unknown_source(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["prepare", *ARGS, "--out", str(blocker / "x")]) == 2
    assert "out_dir: cannot write into" in capsys.readouterr().err
    assert main(["prepare", str(tmp_path / "missing"), "--out", str(tmp_path / "p")]) == 2
    assert "neither 'synthetic[:N]' nor an existing folder" in capsys.readouterr().err

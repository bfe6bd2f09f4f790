"""``vesselnet train`` (issue 11, issue 16): a run, resume and overwrite through the command
line; every bad input is one line on stderr, exit code 2, nothing executed or lost."""
from __future__ import annotations

import json

import pytest
import torch

from tests.vesselnet.train_support import prepare_config, read_csv, tiny_config
from vesselnet.cli import main
from vesselnet.train.config import save_config


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from vesselnet.data import SyntheticSource, prepare

    root = tmp_path_factory.mktemp("prepared")
    prepare(SyntheticSource(n_cases=4, shape=(16, 16, 16), seed=0), root, prepare_config(),
            progress=False)
    return root


@pytest.fixture
def tiny_yaml(tmp_path):
    cfg = tiny_config(overrides={"run": {"epochs": 1}, "data": {"val_fraction": 0.25}})
    return save_config(cfg, tmp_path / "tiny.yaml")


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, no traceback
    return err[0]


def test_run_then_refuse_then_resume_then_overwrite(tmp_path, prepared, tiny_yaml, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "run"
    args = ["train", "--config", str(tiny_yaml), "--data", str(prepared), "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert "1 epoch(s), 1 step(s)" in capsys.readouterr().err  # 3 training cases, drop_last
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "completed" and record["config"]["data"]["val_fraction"] == 0.25
    assert len(read_csv(out / "epochs.csv")) == 1 and read_csv(out / "epochs.csv")[0]["val_cases"] == "1"

    assert main(args) == 2
    assert "already holds another run (run.json); pass --resume" in _error(capsys)

    assert main(["train", "--out", str(out), "--data", str(prepared), "--resume", "--epochs", "3",
                 "--quiet"]) == 0  # the run's own config.yaml
    assert "3 epoch(s), 3 step(s)" in capsys.readouterr().err
    assert [r["step"] for r in read_csv(out / "steps.csv")] == ["1", "2", "3"]
    assert len(json.loads((out / "run.json").read_text())["resumes"]) == 1

    assert main(args + ["--overwrite", "--set", "seed=5"]) == 0
    capsys.readouterr()
    assert len(read_csv(out / "steps.csv")) == 1
    assert json.loads((out / "run.json").read_text())["config"]["seed"] == 5


@pytest.mark.parametrize("argv,message", [
    (["--preset", "unet"], "preset: unknown preset 'unet'; valid presets: resunet-binary, "
                           "resunet-multiclass, multitask, multitask-contrastive"),
    (["--preset", "multitask", "--set", "optim.lr=fast"], "config key 'optim.lr': expected a number"),
    (["--preset", "multitask", "--set", "optim.lrate=1"], "config key 'optim.lrate': unknown key in "
                                                          "section 'optim'; valid keys: optimizer, lr"),
    (["--preset", "multitask", "--set", "lr"], "--set: expected KEY=VALUE"),
    (["--preset", "multitask", "--epochs", "0"], "--epochs: expected an integer >= 1"),
    (["--preset", "multitask"], "--data: give a prepared folder or a source"),
    ([], "--preset, --config: give a preset"),
    (["--preset", "multitask", "--resume", "--overwrite"], "--resume, --overwrite: give one of them"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["train", *argv, "--out", str(tmp_path / "run")]) == 2
    assert message in _error(capsys)
    assert not (tmp_path / "run").exists()


def test_cuda_requested_without_gpu(tmp_path, prepared, tiny_yaml, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    assert main(["train", "--config", str(tiny_yaml), "--data", str(prepared), "--device", "cuda",
                 "--out", str(tmp_path / "run")]) == 2
    assert "device: 'cuda' was requested but CUDA is not available" in _error(capsys)
    assert not (tmp_path / "run").exists()


def test_config_with_python_tag_runs_nothing(tmp_path, prepared, capsys):
    marker = tmp_path / "created"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    assert main(["train", "--config", str(evil), "--data", str(prepared), "--out", str(tmp_path / "run")]) == 2
    assert "not a plain YAML config" in _error(capsys)
    assert not marker.exists()


def test_resume_with_crafted_checkpoint_runs_nothing(tmp_path, prepared, tiny_yaml, capsys):
    class CreatesFile:
        def __reduce__(self):
            return (open, (str(tmp_path / "created"), "w"))

    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "run.json").write_text("{}")
    torch.save({"format": "vesselnet-checkpoint", "x": CreatesFile()}, out / "checkpoints" / "last.pt")
    before = (out / "checkpoints" / "last.pt").read_bytes()
    assert main(["train", "--config", str(tiny_yaml), "--data", str(prepared), "--out", str(out),
                 "--resume", "--quiet"]) == 2
    assert "not a vesselnet checkpoint: unpickling it needs more than tensors" in _error(capsys)
    assert not (tmp_path / "created").exists()
    assert (out / "checkpoints" / "last.pt").read_bytes() == before


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from vesselnet.cli import main\n"
            "try:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_set_with_an_exponent_float_is_the_number(tmp_path, capsys):
    # the example of --help: YAML 1.1 reads 1e-3 as a string, the number key takes it
    from vesselnet.train.launch import parse_assignment, resolve_config

    cfg = resolve_config(preset="multitask", config_file=None, out_dir=tmp_path, resume=False,
                         overrides=[parse_assignment("optim.lr=1e-3")])
    assert cfg.optim.lr == 1e-3
    assert main(["train", "--preset", "multitask", "--set", "optim.lr=1e-3", "--out",
                 str(tmp_path / "run")]) == 2
    assert "--data: give a prepared folder or a source" in _error(capsys)  # the config was fine

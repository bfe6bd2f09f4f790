"""kill -9 during an epoch, then ``vesselnet train --resume``: the losses after the last
checkpoint equal the uninterrupted run's, bit for bit on CPU (issue 11).

Three ``vesselnet train`` processes on the same prepared data and config (augmentation on,
voxel-sampled contrastive loss, validation every epoch, a checkpoint every 3 steps): an
uninterrupted reference; a run slowed down by a delay in case loading (the loader's output
is unchanged) and killed with SIGKILL after step 7, i.e. after the mid-epoch checkpoint of
step 6; and ``--resume`` of the killed run with the run's own ``config.yaml``.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.vesselnet.train_support import prepare_config, read_csv, tiny_config
from vesselnet.train.checkpoint import load_checkpoint
from vesselnet.train.config import save_config

DRIVER = """
import sys, time
import vesselnet.data.loader as loader
delay = float(sys.argv[1])
original = loader.CaseLoader._load
def slow(self, *args):
    time.sleep(delay)
    return original(self, *args)
loader.CaseLoader._load = slow
from vesselnet.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _cli(tmp_path, delay: float, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(delay), "train", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _rows(path) -> int:
    try:
        return len(read_csv(path))
    except (FileNotFoundError, StopIteration):
        return 0


@pytest.mark.slow
def test_kill_during_epoch_then_resume_continues_bit_for_bit(tmp_path):
    from vesselnet.data import SyntheticSource, prepare

    (tmp_path / "driver.py").write_text(DRIVER)
    prepare(SyntheticSource(n_cases=10, shape=(16, 16, 16), seed=0), tmp_path / "data",
            prepare_config(), progress=False)
    cfg = tiny_config(overrides={
        "loss": {"contrastive_mode": "voxel", "num_samples": 4},
        "data": {"augment": {}, "val_cases": ["synthetic_008", "synthetic_009"]},
        "run": {"epochs": 3, "checkpoint_every_steps": 3},
    })
    save_config(cfg, tmp_path / "config.yaml")
    common = ["--data", str(tmp_path / "data"), "--quiet"]

    ref = _cli(tmp_path, 0.0, "--config", str(tmp_path / "config.yaml"), "--out", str(tmp_path / "ref"), *common)
    victim = _cli(tmp_path, 0.5, "--config", str(tmp_path / "config.yaml"), "--out", str(tmp_path / "run"), *common)
    steps = tmp_path / "run" / "steps.csv"
    deadline = time.monotonic() + 300
    while _rows(steps) < 7:
        assert victim.poll() is None, victim.communicate()
        assert time.monotonic() < deadline, "the run did not reach step 7"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    out, err = ref.communicate(timeout=300)
    assert ref.returncode == 0, err

    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert (ckpt["step"], ckpt["epoch"], ckpt["in_epoch"]) == (6, 1, True)  # mid-epoch 2 of 3
    killed_rows = read_csv(steps)
    assert len(killed_rows) >= 7  # rows after the checkpoint exist and must be replaced

    resumed = _cli(tmp_path, 0.0, "--out", str(tmp_path / "run"), "--resume", *common)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err

    want, got = read_csv(tmp_path / "ref" / "steps.csv"), read_csv(steps)
    assert len(want) == 12 and got == want  # every term, Dice, lr and case list, bit for bit
    assert read_csv(tmp_path / "run" / "epochs.csv") == read_csv(tmp_path / "ref" / "epochs.csv")
    a = load_checkpoint(tmp_path / "ref" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert torch.equal(a["objective"]["criterion.contrastive._extra_state"]["generator_state"],
                       b["objective"]["criterion.contrastive._extra_state"]["generator_state"])

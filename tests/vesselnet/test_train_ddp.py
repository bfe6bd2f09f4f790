"""DDP under torchrun (issue 11): 2 CPU processes (gloo) on a tiny config.

Every case of the dataset is the same prepared phantom under another id, so each process's
batch of 2 has the same BatchNorm statistics as the concatenated batch of 4 (on CPU, BatchNorm
keeps per-process statistics: SyncBatchNorm needs GPUs). Then Eq. 5 on a process's batch
equals Eq. 5 on the concatenated batch, and DDP's averaged gradient equals the single
process's. Stated tolerance: the logged loss (mean over the 2 processes) matches a single
process on the concatenated batch to rtol 1e-5, the parameters and BatchNorm running means
after 4 Adam steps to atol 1e-5 (float32 sums in another order; running variances differ by
their n / (n - 1) correction); the 2 processes hold bit-identical weights.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from tests.vesselnet.train_support import read_csv, tiny_cases, tiny_config

DRIVER = """
import dataclasses, json, os, sys
import torch
from vesselnet.data import PreparedDataset
from vesselnet.train.builders import build_loader
from vesselnet.train.distributed import init_distributed, shutdown
from vesselnet.train.trainer import Trainer
from tests.vesselnet.train_support import tiny_cases, tiny_config, prepare_config

out, batch = sys.argv[1], int(sys.argv[2])
seen = []

class Recording(PreparedDataset):
    def __getitem__(self, item):
        case = super().__getitem__(item)
        seen.append(case.case_id)
        return case

one = tiny_cases(1)[0]
cases = [dataclasses.replace(one, case_id=f"copy_{k}") for k in range(8)]
ds = Recording.from_cases(cases, prepare_config())
cfg = tiny_config("multitask", {"data": {"augment": None, "batch_size": batch},
                                "run": {"val_every": 0, "epochs": 2}})
ctx = init_distributed("cpu")
loader = build_loader(cfg, ds, train=True, rank=ctx.rank, world_size=ctx.world_size)
trainer = Trainer(cfg, loader, None, out, ctx=ctx)
trainer.fit()
torch.save(trainer.raw_model.state_dict(), os.path.join(out, f"rank{ctx.rank}.pt"))
with open(os.path.join(out, f"seen{ctx.rank}.json"), "w") as fh:
    json.dump({"seen": seen, "world_size": ctx.world_size, "ddp": type(trainer.model).__name__}, fh)
shutdown(ctx)
"""


def _run(tmp_path, out, batch, nproc):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    cmd = [sys.executable, str(driver), str(out), str(batch)]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", *cmd[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_on_the_concatenated_batch(tmp_path):
    tiny_cases(1)  # fail early here if the data layer cannot make the case
    _run(tmp_path, tmp_path / "ddp", batch=2, nproc=2)
    _run(tmp_path, tmp_path / "single", batch=4, nproc=1)

    info = [json.loads((tmp_path / "ddp" / f"seen{r}.json").read_text()) for r in (0, 1)]
    assert all(i["world_size"] == 2 and i["ddp"] == "DistributedDataParallel" for i in info)
    per_epoch = [set(i["seen"][:4]) for i in info]  # 2 batches of 2 per process in epoch 0
    assert per_epoch[0].isdisjoint(per_epoch[1]) and len(per_epoch[0] | per_epoch[1]) == 8
    assert not (tmp_path / "ddp" / "checkpoints" / "rank1").exists()

    w0 = torch.load(tmp_path / "ddp" / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "ddp" / "rank1.pt", weights_only=True)
    ws = torch.load(tmp_path / "single" / "rank0.pt", weights_only=True)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)  # ranks hold identical weights and buffers
    torch.manual_seed(0)
    net = tiny_config("multitask").build_model()
    params = [name for name, _ in net.named_parameters()]
    assert max(float((w0[k] - ws[k]).abs().max()) for k in params) <= 1e-5
    # BatchNorm running means agree too; running variances do not: their unbiased correction
    # n / (n - 1) uses a process's n (2 cases), not the concatenated batch's (4 cases)
    means = [k for k in w0 if k.endswith("running_mean")]
    assert max(float((w0[k] - ws[k]).abs().max()) for k in means) <= 1e-5
    ddp_rows = read_csv(tmp_path / "ddp" / "steps.csv")
    one_rows = read_csv(tmp_path / "single" / "steps.csv")
    assert len(ddp_rows) == len(one_rows) == 4
    for a, b in zip(ddp_rows, one_rows):
        for term in ("total", "mt", "s1", "s2", "s3"):
            assert float(a[term]) == pytest.approx(float(b[term]), rel=1e-5)
    # positive control: the weights did move away from their initial values
    w_init = net.state_dict()
    assert max(float((w0[k] - w_init[k]).abs().max()) for k in params) > 1e-4

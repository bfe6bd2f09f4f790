"""Benchmark of the training loop per preset on CPU (pytest-benchmark): loop step vs bare step.

Run: ``pytest benchmarks/bench_train.py --benchmark-enable -s`` (``-s`` shows the summary).
Input 2x1x64x64x64 (two prepared synthetic 64^3 cases), the presets as printed (l = 5,
f0 = 8), float32, torch limited to ``VESSELNET_BENCH_THREADS`` threads (default 2).

- group "loop": one step of :class:`vesselnet.train.Trainer` fed by the real data layer:
  ``CaseLoader`` (collate of two prepared cases), ``to_device``, ``Augmenter`` (rotation,
  translation, flips, gamma on the batch's device), forward, the preset's objective, backward,
  Adam, and the step's CSV log line;
- group "bare": forward, objective, backward and Adam of the same network on one fixed batch.

The summary gives, per preset, loop / bare (the input pipeline's share of a step is
``1 - bare / loop``) and each preset's bare and loop time relative to ``resunet-binary``, next
to the FLOP ratio. Medians and minima; no timing is asserted. Figures: docs/training.md.
"""
from __future__ import annotations

import os
from functools import lru_cache

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from vesselnet.train.config import PRESETS, TrainConfig

SHAPE = (64, 64, 64)
ROUNDS = int(os.environ.get("VESSELNET_BENCH_ROUNDS", "3"))
THREADS = int(os.environ.get("VESSELNET_BENCH_THREADS", "2"))
torch.set_num_threads(THREADS)

_MEDIAN: dict[str, float] = {}
_MIN: dict[str, float] = {}


@lru_cache(maxsize=1)
def dataset():
    from vesselnet.data import PrepareConfig, PreparedDataset, SyntheticSource, preprocess

    config = PrepareConfig(target_shape=SHAPE, crop="none")
    src = SyntheticSource(n_cases=4, shape=SHAPE, seed=0)
    return PreparedDataset.from_cases([preprocess(src.load(c), config) for c in src.case_ids], config)


def config(preset: str) -> TrainConfig:
    ds = dataset()
    return TrainConfig.from_preset(preset, {
        "data": {"prepare": ds.config.to_dict(), "val_fraction": 0.0},
        "run": {"epochs": 10_000, "progress": False, "tensorboard": False, "num_threads": THREADS},
    })


def trainer(preset: str, out_dir):
    from vesselnet.train.builders import build_loader
    from vesselnet.train.distributed import DistContext
    from vesselnet.train.trainer import Trainer

    cfg = config(preset)
    loader = build_loader(cfg, dataset(), train=True)
    return Trainer(cfg, loader, None, out_dir, ctx=DistContext())


def train_flops(preset: str) -> int:
    cfg = config(preset)
    with torch.device("meta"):
        net = cfg.build_model().train()
        x = torch.empty((2, 1) + SHAPE)
    with FlopCounterMode(display=False) as fc:
        out = net(x)
        parts = [out] if isinstance(out, torch.Tensor) else [out.main, *out.aux, *out.embeddings]
        sum(p.sum() for p in parts).backward()
    return fc.get_total_flops()


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    if not _MEDIAN:
        return
    lines = ["", f"training step, 2x1x64^3, CPU, {torch.get_num_threads()} threads (seconds):",
             f"  {'preset':24s} {'loop med':>9s} {'bare med':>9s} {'loop/bare':>9s} "
             f"{'pipeline':>8s} {'bare vs binary':>14s} {'loop vs binary':>14s} {'FLOP ratio':>10s}"]
    ref = "resunet-binary"
    ref_flops = train_flops(ref)
    for p in PRESETS:
        lk, bk = f"loop/{p}", f"bare/{p}"
        if lk not in _MEDIAN or bk not in _MEDIAN:
            continue
        loop, bare = _MEDIAN[lk], _MEDIAN[bk]
        rb = bare / _MEDIAN.get(f"bare/{ref}", float("nan"))
        rl = loop / _MEDIAN.get(f"loop/{ref}", float("nan"))
        lines.append(f"  {p:24s} {loop:9.3f} {bare:9.3f} {loop / bare:9.3f} {1 - bare / loop:8.1%} "
                     f"{rb:14.2f} {rl:14.2f} {train_flops(p) / ref_flops:10.2f}")
    lines.append("  minima: " + ", ".join(f"{k} {v:.3f}" for k, v in _MIN.items()))
    print("\n".join(lines))


def _run(benchmark, key: str, fn) -> None:
    benchmark.pedantic(fn, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        _MEDIAN[key] = stats.stats.median
        _MIN[key] = stats.stats.min


@pytest.mark.parametrize("preset", PRESETS)
def test_loop_step(benchmark, tmp_path, preset):
    benchmark.group = "train loop step 2x1x64^3 CPU"
    t = trainer(preset, tmp_path / "run")
    state = {"it": iter(t.loader)}

    def step():
        try:
            batch = next(state["it"])
        except StopIteration:
            t.loader.set_epoch(t.loader.epoch)
            state["it"] = iter(t.loader)
            batch = next(state["it"])
        t._train_step(batch)

    _run(benchmark, f"loop/{preset}", step)


@pytest.mark.parametrize("preset", PRESETS)
def test_bare_step(benchmark, tmp_path, preset):
    from vesselnet.data import collate

    benchmark.group = "bare model step 2x1x64^3 CPU"
    t = trainer(preset, tmp_path / "run")
    ds = dataset()
    batch = collate([ds[0], ds[1]])
    model, objective, opt = t.raw_model.train(), t.objective.train(), t.optimizer

    def step():
        opt.zero_grad(set_to_none=True)
        loss, _ = objective(model(batch["image"]), batch)
        loss.backward()
        opt.step()

    _run(benchmark, f"bare/{preset}", step)

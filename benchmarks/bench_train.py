"""Benchmark of the training loop per preset on CPU (pytest-benchmark): loop step vs bare step.

Run: ``pytest benchmarks/bench_train.py --benchmark-enable -s`` (``-s`` shows the summary).
Input 2x1x64x64x64 (two prepared synthetic 64^3 cases), the presets as printed (l = 5,
f0 = 8), float32, torch limited to ``VESSELNET_BENCH_THREADS`` threads (default 2).

Each round times, one after the other on the same trainer (interleaved, so that load from
other processes hits all three alike):

- "pipeline": the data layer alone: ``CaseLoader`` (collate of two prepared cases),
  ``to_device``, ``Augmenter`` (rotation, translation, flips, gamma on the batch's device);
- "bare": forward, the preset's objective, backward and Adam on one fixed batch;
- "loop": one step of :class:`vesselnet.train.Trainer` fed by the real data layer (the
  pipeline above, then the bare step, the finite checks, the training Dice and the CSV line).

The summary gives, per preset, loop / bare and the pipeline's share of a loop step (medians of
per-round ratios), each preset's loop and bare time relative to ``resunet-binary`` (ratio of
minima) next to the FLOP ratio. No timing is asserted. Figures: docs/training.md.
"""
from __future__ import annotations

import os
import statistics
import time
from functools import lru_cache

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from vesselnet.train.config import PRESETS, TrainConfig

SHAPE = (64, 64, 64)
ROUNDS = int(os.environ.get("VESSELNET_BENCH_ROUNDS", "3"))
THREADS = int(os.environ.get("VESSELNET_BENCH_THREADS", "2"))
torch.set_num_threads(THREADS)

_TIMES: dict[str, dict[str, list[float]]] = {}


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


SUMMARY_TITLE = "training step per preset"


def _train_lines() -> list[str]:
    """Per preset: loop, bare and pipeline times, their per-round ratios, each preset against
    ``resunet-binary`` and the FLOP ratio."""
    if not _TIMES:
        return []
    med = statistics.median
    ref = "resunet-binary"
    ref_flops = train_flops(ref)
    lines = [f"training step, 2x1x64^3, CPU, {torch.get_num_threads()} thread(s), "
             f"{ROUNDS} interleaved rounds (seconds, median / min):",
             f"  {'preset':22s} {'loop':>13s} {'bare':>13s} {'pipeline':>13s} {'loop/bare':>9s} "
             f"{'pipe share':>10s} {'loop vs bin':>11s} {'bare vs bin':>11s} {'FLOP ratio':>10s}"]
    for p in PRESETS:
        if p not in _TIMES:
            continue
        t = _TIMES[p]
        cell = {k: f"{med(v):6.3f}/{min(v):6.3f}" for k, v in t.items()}
        pair = med([a / b for a, b in zip(t["loop"], t["bare"])])
        share = med([a / b for a, b in zip(t["pipeline"], t["loop"])])
        rel = {k: (min(t[k]) / min(_TIMES[ref][k]) if ref in _TIMES else float("nan"))
               for k in ("loop", "bare")}
        lines.append(f"  {p:22s} {cell['loop']:>13s} {cell['bare']:>13s} {cell['pipeline']:>13s} "
                     f"{pair:9.3f} {share:10.1%} {rel['loop']:11.2f} {rel['bare']:11.2f} "
                     f"{train_flops(p) / ref_flops:10.2f}")
    lines.append("  loop/bare and pipe share: medians of per-round ratios; vs bin: ratio of minima")
    return lines


@pytest.fixture(scope="module", autouse=True)
def _train_table(summary):
    """Adds the per-preset table to the module's summary (benchmarks/conftest.py)."""
    summary.add_lines(_train_lines)


@pytest.mark.parametrize("preset", PRESETS)
def test_train_step(benchmark, tmp_path, preset):
    """One round = pipeline alone, bare step, loop step, interleaved (robust to load drift)."""
    from vesselnet.data import collate

    benchmark.group = "train step 2x1x64^3 CPU (one round = pipeline + bare + loop)"
    t = trainer(preset, tmp_path / "run")
    ds = dataset()
    fixed = collate([ds[0], ds[1]])
    model, objective, opt = t.raw_model.train(), t.objective.train(), t.optimizer
    state = {"it": iter(t.loader), "round": 0}
    times: dict[str, list[float]] = {"loop": [], "bare": [], "pipeline": []}

    def next_batch():
        try:
            return next(state["it"])
        except StopIteration:
            t.loader.set_epoch(t.loader.epoch)
            state["it"] = iter(t.loader)
            return next(state["it"])

    def bare():
        opt.zero_grad(set_to_none=True)
        loss, _ = objective(model(fixed["image"]), fixed)
        loss.backward()
        opt.step()

    def one_round():
        state["round"] += 1
        spans = {}
        t0 = time.perf_counter()
        t._prepare_batch(next_batch())  # CaseLoader + to_device + Augmenter
        spans["pipeline"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        bare()
        spans["bare"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        t._train_step(next_batch())
        spans["loop"] = time.perf_counter() - t0
        if state["round"] > 1:  # the first round is the warm-up
            for k, v in spans.items():
                times[k].append(v)

    benchmark.pedantic(one_round, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    if times["loop"]:
        _TIMES[preset] = times

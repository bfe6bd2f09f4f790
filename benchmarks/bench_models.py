"""Benchmarks of the vesselnet networks on CPU (pytest-benchmark), peers in the same run.

Run: ``pytest benchmarks/bench_models.py --benchmark-enable -s`` (``-s`` shows the ratio
summary printed at the end of the module). Input 2x1x64x64x64, float32, torch limited to
``VESSELNET_BENCH_THREADS`` threads (default 2; the project machines have 2 shared cores).

- group "fwd+bwd": one training step (forward, mean of all outputs, backward) of
  ``ResUNet3d`` (l=5, f0=8), MONAI's ``UNet`` with the same channels (8..128), strides
  (2, 2, 2, 2), residual units (2) and BatchNorm/PReLU, and ``MultiTaskResUNet3d`` (S=3).
  The multi-task / single-task time ratio is compared with their FLOP ratio.
- group "inference": forward in eval mode under ``torch.no_grad`` of ``ResUNet3d`` and of
  ``MultiTaskResUNet3d.predict`` (E + D_0 only: should be within 1.05x of ResUNet3d); the
  interleaved test alternates the two calls and reports per-pair ratios, which are far less
  sensitive to load from other processes than two separate benchmarks.

Medians and minima are both reported: on a shared machine the minimum is the figure least
disturbed by other processes.

No timing is asserted: the figures go to docs/benchmarks/models.md.
"""
from __future__ import annotations

import os
import time

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from vesselnet.models import MultiTaskResUNet3d, ResUNet3d

monai_nets = pytest.importorskip("monai.networks.nets")

SHAPE = (2, 1, 64, 64, 64)
CHANNELS = (8, 16, 32, 64, 128)
ROUNDS = int(os.environ.get("VESSELNET_BENCH_ROUNDS", "3"))
torch.set_num_threads(int(os.environ.get("VESSELNET_BENCH_THREADS", "2")))

FWD_BWD = "fwd+bwd 2x1x64^3 CPU"
INFER = "inference 2x1x64^3 CPU"
SUMMARY_TITLE = f"vesselnet model benchmarks ({torch.get_num_threads()} threads)"
SUMMARY_REFERENCE = "resunet3d"
_PAIRS: dict[str, list[float]] = {}  # interleaved time ratios, per comparison


def make(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "resunet3d":
        return ResUNet3d(1, 1, levels=5, base_channels=8, num_convs=2)
    if name == "multitask":
        return MultiTaskResUNet3d(1, num_scales=3, levels=5, base_channels=8, num_convs=2)
    if name == "monai_unet":
        return monai_nets.UNet(
            spatial_dims=3, in_channels=1, out_channels=1, channels=CHANNELS,
            strides=(2, 2, 2, 2), num_res_units=2, norm="batch", act="prelu",
        )
    raise KeyError(name)


def _outputs_mean(out) -> torch.Tensor:
    if isinstance(out, tuple):  # MultiTaskOutput
        parts = [out.main, *out.aux, *out.embeddings]
        return sum(p.mean() for p in parts)
    return out.mean()


def flops(name: str, train: bool) -> int:
    with torch.device("meta"):
        net = make(name)
        x = torch.empty(SHAPE)
    with FlopCounterMode(display=False) as fc:
        if train:
            _outputs_mean(net.train()(x)).backward()
        else:
            with torch.no_grad():
                (net.eval().predict if name == "multitask" else net.eval())(x)
    return fc.get_total_flops()


def _ratio_lines(summary) -> list[str]:
    """Time ratios (median and min) of the three comparisons beside their FLOP ratios, then
    the interleaved pairs."""
    lines = [f"  {'ratio':40s} {'median':>6s} {'min':>6s}"]
    for (group, a), (g2, b), label, flop in (
        ((FWD_BWD, "resunet3d"), (FWD_BWD, "monai_unet"), "ResUNet3d / MONAI UNet (fwd+bwd)",
         lambda: flops("resunet3d", True) / flops("monai_unet", True)),
        ((FWD_BWD, "multitask"), (FWD_BWD, "resunet3d"), "multi-task / ResUNet3d (fwd+bwd)",
         lambda: flops("multitask", True) / flops("resunet3d", True)),
        ((INFER, "multitask_predict"), (INFER, "resunet3d"),
         "multi-task predict / ResUNet3d (infer)",
         lambda: flops("multitask", False) / flops("resunet3d", False)),
    ):
        ta, tb = summary.times.get((group, a)), summary.times.get((g2, b))
        if ta and tb:
            lines.append(f"  {label:40s} {ta[0] / tb[0]:6.3f} {ta[1] / tb[1]:6.3f}"
                         f"   (FLOP ratio {flop():.2f})")
    for label, values in _PAIRS.items():
        pairs = sorted(values)
        lines.append(
            f"  interleaved {label}, {len(pairs)} pairs: median "
            f"{pairs[len(pairs) // 2]:.3f}, range {pairs[0]:.3f}-{pairs[-1]:.3f}"
        )
    return lines if len(lines) > 1 else []


@pytest.fixture(scope="module", autouse=True)
def _ratios(summary):
    """Adds the ratio lines to the module's summary (benchmarks/conftest.py)."""
    summary.add_lines(lambda: _ratio_lines(summary))


def _run(benchmark, summary, group: str, impl: str, fn) -> None:
    benchmark.group = group
    benchmark.pedantic(fn, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    summary.record(benchmark, group, impl)


@pytest.mark.parametrize("name", ["resunet3d", "monai_unet", "multitask"])
def test_fwd_bwd(benchmark, summary, name):
    net = make(name).train()
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))

    def step():
        net.zero_grad(set_to_none=True)
        loss = _outputs_mean(net(x))
        loss.backward()
        return loss

    _run(benchmark, summary, FWD_BWD, name, step)


@pytest.mark.parametrize("name", ["resunet3d", "multitask_predict"])
def test_inference(benchmark, summary, name):
    net = make("multitask" if name == "multitask_predict" else name).eval()
    fn = net.predict if name == "multitask_predict" else net
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))

    def infer():
        with torch.no_grad():
            return fn(x)

    _run(benchmark, summary, INFER, name, infer)


def _interleaved(benchmark, label: str, first, second, rounds: int) -> None:
    """Alternate ``first`` and ``second`` (order flipped every pair) so that load from other
    processes hits both alike; records ``time(second) / time(first)`` per pair."""
    ratios: list[float] = []
    order = [0]

    def pair():
        fns = (first, second) if order[0] % 2 == 0 else (second, first)
        times = []
        for fn in fns:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        if order[0] % 2 == 1:
            times.reverse()
        order[0] += 1
        ratios.append(times[1] / times[0])

    benchmark.pedantic(pair, rounds=rounds, warmup_rounds=1, iterations=1)
    if len(ratios) > 1:
        _PAIRS[label] = ratios[1:]  # drop the warm-up pair
    benchmark.extra_info["ratios"] = ratios[1:]


def test_inference_interleaved(benchmark):
    benchmark.group = "interleaved pairs 2x1x64^3 CPU"
    single = make("resunet3d").eval()
    multi = make("multitask").eval()
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))

    def run_single():
        with torch.no_grad():
            single(x)

    def run_multi():
        with torch.no_grad():
            multi.predict(x)

    _interleaved(benchmark, "predict / ResUNet3d (infer)", run_single, run_multi, 2 * ROUNDS)


def test_fwd_bwd_interleaved(benchmark):
    benchmark.group = "interleaved pairs 2x1x64^3 CPU"
    single = make("resunet3d").train()
    multi = make("multitask").train()
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))

    def step(net):
        net.zero_grad(set_to_none=True)
        _outputs_mean(net(x)).backward()

    _interleaved(
        benchmark, "multi-task / ResUNet3d (fwd+bwd)", lambda: step(single), lambda: step(multi), ROUNDS
    )

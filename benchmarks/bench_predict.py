"""Sliding-window prediction of a CT-sized volume on CPU: ours against MONAI, same run.

Run: ``pytest benchmarks/bench_predict.py --benchmark-enable -s``.

Volume 1x1x129x512x512 (the 3D-IRCADb size), float32, torch limited to
``VESSELNET_BENCH_THREADS`` threads (default 2, the project machines' shared cores). The network
is small on purpose so that a round takes about a minute on 2 cores: two 3x3x3 convolutions
(1 -> 4 -> 1 channels, PReLU) then a sigmoid. Windows 64x128x128, overlap 0.5, Gaussian
blending (sigma = window / 8), 2 windows per network call, under ``torch.inference_mode``.

Rows (group "predict 129x512x512"):

- ``ours``: :func:`vesselnet.predict.sliding_window_inference`;
- ``monai``: ``monai.inferers.sliding_window_inference(mode="gaussian")``, same network,
  window, overlap and batch (both make 4 x 7 x 7 = 196 windows here);
- ``whole-volume``: the network on the whole volume in one pass, the floor without overlap.

The two sliding rows are also compared voxel-wise (max |ours - monai|); their windows along z
differ (ours evenly spread, MONAI's last one pushed back), so they differ near window rims
within the Gaussian blend (tests/vesselnet/test_inference.py).

``VESSELNET_BENCH_ROUNDS`` (default 1) rounds per row. On a shared machine one round of each
row can land in very different load; ``test_interleaved_ours_vs_monai`` therefore alternates
the two sliding-window calls ``VESSELNET_BENCH_PAIRS`` times (default 2; the order flips from
one pair to the next) and prints the ratio of
each pair in wall-clock and in CPU time (``time.process_time``, insensitive to other processes).
No timing is asserted.
"""
from __future__ import annotations

import os
import statistics
import time

import pytest
import torch

from vesselnet.predict import sliding_window_inference

inferers = pytest.importorskip("monai.inferers")

SHAPE = (1, 1, 129, 512, 512)
ROI = (64, 128, 128)
OVERLAP = 0.5
BATCH = 2
GROUP = "predict 129x512x512"
SUMMARY_TITLE = "sliding-window prediction, 1x1x129x512x512, CPU"
ROUNDS = int(os.environ.get("VESSELNET_BENCH_ROUNDS", "1"))
PAIRS = int(os.environ.get("VESSELNET_BENCH_PAIRS", "2"))
torch.set_num_threads(int(os.environ.get("VESSELNET_BENCH_THREADS", "2")))

_OUT: dict[str, torch.Tensor] = {}


def make_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.PReLU(), torch.nn.Conv3d(4, 1, 3, padding=1),
        torch.nn.Sigmoid(),
    ).eval()


@pytest.fixture(scope="module")
def volume() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(SHAPE, generator=g)


def _agreement_lines() -> list[str]:
    """How far the two sliding-window outputs are apart, voxel-wise."""
    if not ("ours" in _OUT and "monai" in _OUT):
        return []
    diff = (_OUT["ours"] - _OUT["monai"]).abs()
    return [f"  max |ours - monai| = {float(diff.max()):.3g}, mean = {float(diff.mean()):.3g}"]


def _run(benchmark, summary, name, fn):
    with torch.inference_mode():
        out = benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    _OUT[name] = out
    summary.record(benchmark, GROUP, name)


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("impl", ["ours", "monai", "whole-volume"])
def test_predict_ct_volume(benchmark, summary, volume, impl):
    net = make_net()
    if impl == "ours":
        summary.add_lines(_agreement_lines)
        fn = lambda: sliding_window_inference(volume, net, ROI, overlap=OVERLAP, batch_size=BATCH)  # noqa: E731
    elif impl == "monai":
        fn = lambda: inferers.sliding_window_inference(  # noqa: E731
            volume, ROI, BATCH, net, overlap=OVERLAP, mode="gaussian")
    else:
        fn = lambda: net(volume)  # noqa: E731
    _run(benchmark, summary, impl, fn)
    assert _OUT[impl].shape == SHAPE


def test_interleaved_ours_vs_monai(summary, volume):
    """Alternate ours and MONAI's; per-pair ratios (monai / ours) of wall and CPU time."""
    net = make_net()
    calls = {
        "ours": lambda: sliding_window_inference(volume, net, ROI, overlap=OVERLAP, batch_size=BATCH),
        "monai": lambda: inferers.sliding_window_inference(volume, ROI, BATCH, net, overlap=OVERLAP,
                                                           mode="gaussian"),
    }
    wall, cpu = [], []
    with torch.inference_mode():
        for i in range(PAIRS):
            t = {}
            for name in (("ours", "monai") if i % 2 == 0 else ("monai", "ours")):  # no order bias
                fn = calls[name]
                w0, c0 = time.perf_counter(), time.process_time()
                fn()
                t[name] = (time.perf_counter() - w0, time.process_time() - c0)
            wall.append(t["monai"][0] / t["ours"][0])
            cpu.append(t["monai"][1] / t["ours"][1])
            summary.note(f"  pair: ours {t['ours'][0]:.1f} s wall / {t['ours'][1]:.1f} s CPU, "
                         f"monai {t['monai'][0]:.1f} s wall / {t['monai'][1]:.1f} s CPU")
    summary.note(f"  interleaved monai / ours: wall {statistics.median(wall):.2f}x, "
                 f"CPU {statistics.median(cpu):.2f}x (median of {PAIRS} pairs)")

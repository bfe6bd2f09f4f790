"""Benchmark of the Hausdorff distance on 128x256x256 masks: vesselnet vs MONAI, same run.

Run: ``pytest benchmarks/bench_metrics.py --benchmark-enable -s`` (``-s`` shows the ratio
summary printed at the end of the module). ``VESSELNET_BENCH_ROUNDS`` sets the rounds
(default 3). The summary gives median and min ratios: on a shared,
loaded machine the min is the less noisy of the two.

Cases (z, y, x) = (128, 256, 256), spacing (1.6, 0.7, 0.7) mm:

- ``phantom``: ground truth = a seeded vessel-tree phantom (:func:`vesseltree.make_phantom`);
  prediction = its vessels of true radius >= the 30th percentile, dilated by one voxel, plus
  20 false-positive blobs spread over the volume (so the union bounding box is the whole
  volume and the HD is set by a far blob).
- ``blobs``: two independent smoothed-noise masks (about 10 % of the volume each): many more
  surface voxels than a vessel tree, the worst case for both methods.

Peers: :func:`vesselnet.metrics.compute_hausdorff` (exact EDT of the surfaces on the union
bounding box, one thread, the default; also timed as ``ours_2threads``, the two directions in
two threads with ``surface_distances(..., threads=True)``) and
MONAI 1.6.1 ``compute_hausdorff_distance(..., spacing=...)`` (KD-tree over the edge voxels on
CPU), for HD and for HD95 (``percentile=95``). The values are checked to agree (rtol 1e-5,
MONAI works in float32) before timing. No timing is asserted: the figures go to
docs/benchmarks/metrics.md.

On a shared machine the load changes between two pytest-benchmark tests, so
``test_interleaved`` also times the three peers *alternately* (round k: ours, ours_2threads,
MONAI) for ``VESSELNET_BENCH_INTERLEAVED`` rounds (default 5), wall clock and process CPU time
(``time.process_time``: less sensitive to other processes, summed over threads), and prints
min / median ratios.
"""
from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from vesselnet.metrics import compute_hausdorff

torch = pytest.importorskip("torch")
monai_metrics = pytest.importorskip("monai.metrics")

SHAPE = (128, 256, 256)
SPACING = (1.6, 0.7, 0.7)
ROUNDS = int(os.environ.get("VESSELNET_BENCH_ROUNDS", "3"))
_RESULTS: dict[str, tuple[float, float]] = {}  # key -> (median, min) seconds
_CASES: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _case(name: str):
    if name in _CASES:
        return _CASES[name]
    rng = np.random.default_rng(0)
    if name == "phantom":
        from vesseltree.synthetic import make_phantom

        ph = make_phantom(SHAPE, SPACING, seed=0)
        gt = ph.mask
        keep = gt & (ph.radius >= np.quantile(ph.radius[gt], 0.3))
        pred = ndi.binary_dilation(keep)
        centres = rng.integers(0, SHAPE, size=(20, 3))
        blobs = np.zeros(SHAPE, bool)
        blobs[tuple(centres.T)] = True
        pred |= ndi.binary_dilation(blobs, iterations=2)
    elif name == "blobs":
        gt = ndi.gaussian_filter(rng.random(SHAPE, dtype=np.float32), 2.0) > 0.52
        pred = ndi.gaussian_filter(rng.random(SHAPE, dtype=np.float32), 2.0) > 0.52
    else:
        raise KeyError(name)
    _CASES[name] = (pred, gt)
    return pred, gt


def _monai(pred, gt, percentile=None):
    t = lambda m: torch.from_numpy(m)[None, None]  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(monai_metrics.compute_hausdorff_distance(
            t(pred), t(gt), include_background=True, spacing=SPACING, percentile=percentile).item())


def _ours(pred, gt, percentile=None, threads=False):
    if not threads:
        return compute_hausdorff(pred, gt, SPACING, percentile)
    from vesselnet.metrics import surface_distances

    return surface_distances(pred, gt, SPACING, threads=True).hausdorff(percentile)


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    if not _RESULTS:
        return
    lines = ["", f"Hausdorff on {SHAPE} masks, spacing {SPACING} mm (median s, min s):"]
    for k, (med, mn) in _RESULTS.items():
        lines.append(f"  {k:<32s} {med:8.3f} {mn:8.3f}")
    for case in ("phantom", "blobs"):
        for metric in ("hd", "hd95"):
            m = _RESULTS.get(f"{case}/{metric}/monai")
            for impl in ("ours", "ours_2threads"):
                o = _RESULTS.get(f"{case}/{metric}/{impl}")
                if m and o:
                    lines.append(
                        f"  {case} {metric}: MONAI / {impl} = {m[0] / o[0]:.2f}x (median), "
                        f"{m[1] / o[1]:.2f}x (min)"
                    )
    print("\n".join(lines))


@pytest.mark.parametrize("case", ["phantom", "blobs"])
@pytest.mark.parametrize("metric", ["hd", "hd95"])
@pytest.mark.parametrize("impl", ["ours", "ours_2threads", "monai"])
def test_hausdorff(benchmark, case, metric, impl):
    pred, gt = _case(case)
    q = None if metric == "hd" else 95.0
    fn = {
        "ours": lambda: _ours(pred, gt, q),
        "ours_2threads": lambda: _ours(pred, gt, q, threads=True),
        "monai": lambda: _monai(pred, gt, q),
    }[impl]
    # same answer first (MONAI is float32)
    assert _ours(pred, gt, q) == pytest.approx(_monai(pred, gt, q), rel=1e-5)
    benchmark.group = f"{metric} {case} {SHAPE}"
    benchmark.pedantic(fn, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        _RESULTS[f"{case}/{metric}/{impl}"] = (stats.stats.median, stats.stats.min)


_INTERLEAVED = int(os.environ.get("VESSELNET_BENCH_INTERLEAVED", "5"))


@pytest.mark.parametrize("case", ["phantom", "blobs"])
def test_interleaved(benchmark, case):
    pred, gt = _case(case)
    benchmark.group = f"interleaved {case} (one call = all rounds)"
    if benchmark.disabled:  # plain test run: only check the agreement
        benchmark(lambda: None)
        assert _ours(pred, gt) == pytest.approx(_monai(pred, gt), rel=1e-5)
        return
    benchmark.pedantic(_interleave, args=(pred, gt, case), rounds=1, iterations=1)


def _interleave(pred, gt, case):
    lines = ["", f"interleaved, {case}, {_INTERLEAVED} rounds (wall s / cpu s):"]
    for metric, q in (("hd", None), ("hd95", 95.0)):
        fns = {
            "ours": lambda: _ours(pred, gt, q),
            "ours_2threads": lambda: _ours(pred, gt, q, threads=True),
            "monai": lambda: _monai(pred, gt, q),
        }
        for fn in fns.values():  # warm-up (Numba cache load, imports)
            fn()
        wall = {k: [] for k in fns}
        cpu = {k: [] for k in fns}
        for _ in range(_INTERLEAVED):
            for k, fn in fns.items():
                w0, c0 = time.perf_counter(), time.process_time()
                fn()
                wall[k].append(time.perf_counter() - w0)
                cpu[k].append(time.process_time() - c0)
        for k in fns:
            lines.append(
                f"  {metric:<5s}{k:<15s} wall min {min(wall[k]):.3f} med {np.median(wall[k]):.3f}"
                f" | cpu min {min(cpu[k]):.3f} med {np.median(cpu[k]):.3f}"
            )
        for k in ("ours", "ours_2threads"):
            lines.append(
                f"  {metric:<5s}MONAI / {k}: wall {min(wall['monai']) / min(wall[k]):.2f}x (min), "
                f"{np.median(wall['monai']) / np.median(wall[k]):.2f}x (median); "
                f"cpu {np.median(cpu['monai']) / np.median(cpu[k]):.2f}x (median)"
            )
    print("\n".join(lines))

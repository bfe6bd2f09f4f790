"""Benchmark of the Hausdorff distance on 128x256x256 masks: vesselnet vs MONAI and the
library alternatives, same run.

Run: ``pytest benchmarks/bench_metrics.py --benchmark-enable -s`` (``-s`` shows the summary
printed at the end of the module). ``VESSELNET_BENCH_ROUNDS`` sets the rounds (default 3).

Cases (z, y, x) = (128, 256, 256), spacing (1.6, 0.7, 0.7) mm:

- ``phantom``: ground truth = a seeded vessel-tree phantom (:func:`vesseltree.make_phantom`);
  prediction = its vessels of true radius >= the 30th percentile, dilated by one voxel, plus
  20 false-positive blobs spread over the volume (so the union bounding box is the whole
  volume and the HD is set by a far blob).
- ``blobs``: two independent smoothed-noise masks (about 10 % of the volume each): many more
  surface voxels than a vessel tree, the worst case for every method.

Implementations of the same distances (HD; HD95 for ours and MONAI):

- ``ours``: :func:`vesselnet.metrics.compute_hausdorff`, one thread (the default): surface
  voxels from the foreground voxels, nearest neighbours by a cell search (exact);
  ``ours_2threads``: the two directions in two threads (``surface_distances(...,
  threads=True)``);
- ``monai``: MONAI 1.6.1 ``compute_hausdorff_distance(..., spacing=...)``;
- ``kdtree``: ``scipy.spatial.cKDTree`` over the surface voxels in mm (the library
  alternative for point sets);
- ``scipy_edt`` / ``edt``: the distance-transform route, on the union bounding box:
  ``scipy.ndimage.distance_transform_edt(sampling=spacing)`` or the ``edt`` package
  (``edt.edt(anisotropy=spacing, parallel=1)``, float32: agrees to 1e-4 only) of one
  surface, read at the other. These decided that vesselnet keeps no EDT of its own.

Values are checked to agree before timing (MONAI and ``edt`` work in float32). No timing is
asserted: the figures go to docs/benchmarks.md. ``test_interleaved`` also times ours, ours
on two threads and MONAI *alternately* (round k: each once) for ``VESSELNET_BENCH_INTERLEAVED``
rounds (default 5), wall clock and process CPU time, less sensitive to a shared machine.
"""
from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from vesselnet.metrics import compute_hausdorff, mask_surface, surface_distances
from vesseltree.arrays import bounding_box

torch = pytest.importorskip("torch")
monai_metrics = pytest.importorskip("monai.metrics")

SHAPE = (128, 256, 256)
SPACING = (1.6, 0.7, 0.7)
ROUNDS = int(os.environ.get("VESSELNET_BENCH_ROUNDS", "3"))
SUMMARY_TITLE = f"Hausdorff on {SHAPE} masks, spacing {SPACING} mm"
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
    return surface_distances(pred, gt, SPACING, threads=True).hausdorff(percentile)


def _kdtree(pred, gt):
    sp = np.asarray(SPACING)
    a, b = (np.argwhere(mask_surface(m)) * sp for m in (pred, gt))
    return max(cKDTree(b).query(a)[0].max(), cKDTree(a).query(b)[0].max())


def _edt_route(transform):
    """HD by a distance transform of each surface on the union bounding box."""
    def hd(pred, gt):
        box = bounding_box(pred | gt)
        a, b = (mask_surface(m)[box] for m in (pred, gt))
        return max(transform(~b)[a].max(), transform(~a)[b].max())
    return hd


def _edt_package(background):
    import edt

    return edt.edt(background, anisotropy=SPACING, black_border=False, parallel=1)


_IMPLS = {
    "ours": lambda p, g, q: _ours(p, g, q),
    "ours_2threads": lambda p, g, q: _ours(p, g, q, threads=True),
    "monai": _monai,
    "kdtree": lambda p, g, q: _kdtree(p, g),
    "scipy_edt": lambda p, g, q: _edt_route(
        lambda bg: ndi.distance_transform_edt(bg, sampling=SPACING))(p, g),
    "edt": lambda p, g, q: _edt_route(_edt_package)(p, g),
}
_REL = {"monai": 1e-5, "edt": 1e-4}  # float32 peers; the others agree to round-off


@pytest.mark.parametrize("case", ["phantom", "blobs"])
@pytest.mark.parametrize("metric", ["hd", "hd95"])
@pytest.mark.parametrize("impl", list(_IMPLS))
def test_hausdorff(benchmark, summary, case, metric, impl):
    if metric == "hd95" and impl not in ("ours", "ours_2threads", "monai"):
        pytest.skip("the library routes give the same distances: timed for hd only")
    if impl == "edt":
        pytest.importorskip("edt")
    pred, gt = _case(case)
    q = None if metric == "hd" else 95.0
    fn = _IMPLS[impl]
    assert fn(pred, gt, q) == pytest.approx(_ours(pred, gt, q), rel=_REL.get(impl, 1e-9))
    benchmark.group = f"{metric} {case} {SHAPE}"
    benchmark.pedantic(fn, args=(pred, gt, q), rounds=ROUNDS, warmup_rounds=1, iterations=1)
    summary.record(benchmark, f"{metric} {case}", impl)


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
        fns = {k: (lambda k=k: _IMPLS[k](pred, gt, q)) for k in ("ours", "ours_2threads", "monai")}
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

"""Benchmarks of phantom generation, with numpy rasterizers as peers in the same run.

Run: ``pytest benchmarks/bench_synthetic.py --benchmark-enable -s`` (``-s`` shows the ratio
summary printed at the end of the module). Rounds: ``VESSELTREE_BENCH_ROUNDS`` (default 3),
each after one warm-up call (Numba JIT and caches loaded: "warm").

Inputs: the straight pieces of ``make_phantom(shape, seed=0)`` (1 mm voxels) for
``shape`` = (64, 128, 128) and (128, 256, 256), rasterized with the voxel-centre test
(``supersample=1``) so that all rasterizers compute the same mask (checked).

Groups (per shape):

- ``raster-*``: :func:`vesseltree.synthetic.rasterize_segments` (Numba, each piece over its
  bounding box, with segment id and radius) vs

  - ``numpy-bbox``: numpy, each piece over its bounding box (mask only), a careful peer;
  - ``numpy-naive``: numpy, each piece over the whole volume (mask only), the textbook
    peer; only on the small shape (it scales with volume x pieces).

- ``phantom``: ``make_phantom`` (tree growth + rasterization at the default
  ``supersample=2``) and ``render_ct`` (blur + noise) on the default 128 x 256 x 256
  volume; absolute times, no peer.

No timing is asserted: the figures go to docs/benchmarks.md.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from vesseltree.synthetic import make_phantom, rasterize_segments, render_ct

ROUNDS = int(os.environ.get("VESSELTREE_BENCH_ROUNDS", "3"))
SUMMARY_TITLE = "bench_synthetic: rasterization vs numpy peers, phantom and CT (warm)"
SHAPES = {"small": (64, 128, 128), "default": (128, 256, 256)}


def _pieces(shape):
    ph = make_phantom(shape, seed=0)
    p = ph.pieces
    return (
        shape,
        p[["z0", "y0", "x0"]].to_numpy(),
        p[["z1", "y1", "x1"]].to_numpy(),
        p["radius_start_mm"].to_numpy(),
        p["radius_end_mm"].to_numpy(),
    )


def _inside(q, a, b, r0, r1):
    """Centre test of a round-capped tapered tube (the convex sweep of balls, as in
    :mod:`vesseltree._kernels.raster_nb`), q: (..., 3) mm."""
    v = b - a
    L = float(np.sqrt(v @ v))
    if L == 0:
        return np.linalg.norm(q - a, axis=-1) <= r0
    u = v / L
    s = (r1 - r0) / L
    y = (q - a) @ u
    h = np.sqrt(np.maximum(np.einsum("...i,...i->...", q - a, q - a) - y * y, 0.0))
    if abs(s) < 1:
        t = np.clip(y + s / np.sqrt(1 - s * s) * h, 0.0, L)
    else:
        t = np.full(y.shape, 0.0 if s < 0 else L)
    return np.linalg.norm(q - a - t[..., None] * u, axis=-1) <= r0 + s * t


def numpy_bbox(shape, starts, ends, r0, r1):
    mask = np.zeros(shape, dtype=bool)
    for a, b, ra, rb in zip(starts, ends, r0, r1):
        rmax = max(ra, rb)
        lo = np.maximum(np.floor(np.minimum(a, b) - rmax).astype(int), 0)
        hi = np.minimum(np.ceil(np.maximum(a, b) + rmax).astype(int) + 1, shape)
        if np.any(hi <= lo):
            continue
        grids = np.meshgrid(*[np.arange(l, h, dtype=float) for l, h in zip(lo, hi)], indexing="ij")
        q = np.stack(grids, axis=-1)
        mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] |= _inside(q, a, b, ra, rb)
    return mask


def numpy_naive(shape, starts, ends, r0, r1):
    q = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), axis=-1)
    mask = np.zeros(shape, dtype=bool)
    for a, b, ra, rb in zip(starts, ends, r0, r1):
        mask |= _inside(q, a, b, ra, rb)
    return mask


def ours(shape, starts, ends, r0, r1):
    return rasterize_segments(shape, starts, ends, r0, r1, supersample=1)[0]


@pytest.fixture(scope="module", params=list(SHAPES))
def case(request):
    return request.param, _pieces(SHAPES[request.param])


@pytest.mark.parametrize("who", ["ours", "numpy-bbox", "numpy-naive"])
def test_raster(benchmark, summary, case, who):
    name, args = case
    if who == "numpy-naive" and name != "small":
        pytest.skip("the whole-volume peer is only run on the small shape")
    fn = {"ours": ours, "numpy-bbox": numpy_bbox, "numpy-naive": numpy_naive}[who]
    benchmark.group = f"raster-{name}"
    mask = benchmark.pedantic(fn, args=args, rounds=ROUNDS, warmup_rounds=1)
    ref = ours(*args)
    # the same centre test everywhere: only voxels within float rounding may differ
    assert np.count_nonzero(mask != ref) <= 1e-5 * mask.size
    benchmark.extra_info.update(n_pieces=len(args[1]), n_mask_voxels=int(mask.sum()))
    summary.record(benchmark, f"raster-{name}", who)


@pytest.mark.parametrize("what", ["make_phantom", "render_ct"])
def test_phantom(benchmark, summary, what):
    benchmark.group = "phantom"
    if what == "make_phantom":
        result = benchmark.pedantic(make_phantom, kwargs=dict(seed=0), rounds=ROUNDS, warmup_rounds=1)
        benchmark.extra_info.update(n_segments=len(result.segments), n_pieces=len(result.pieces))
    else:
        ph = make_phantom(seed=0)
        benchmark.pedantic(render_ct, args=(ph,), kwargs=dict(seed=0, tumours=3),
                           rounds=ROUNDS, warmup_rounds=1)
    summary.record(benchmark, "phantom", what)

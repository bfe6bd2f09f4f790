"""Benchmark: ``vesseltree.skeletonize`` vs ``skimage.morphology.skeletonize`` (3D, Lee).

Run: ``pytest benchmarks/bench_skeleton.py --benchmark-enable -s`` (``-s`` prints the ratio
summary at the end). Rounds: ``VESSELTREE_BENCH_ROUNDS`` (default 5), after one warm-up call
of each (nothing is compiled at run time here: the kernel is Cython, built at install).

Inputs: the 256x256x128 (z=128) phantom of ``make_phantom`` (seed 0) and 3D-IRCADb patient
1.1's native vessel mask (portal vein + venous system, 129x512x512, from
``MASKS_DICOM.zip`` via ``vesseltree.io``; skipped when the data is absent). Both
implementations take the same boolean array; the outputs are checked for the property the
comparison relies on (ours keeps the Betti numbers of the mask). No timing is asserted:
figures go to ``docs/benchmarks/skeleton.md``.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
from skimage.morphology import skeletonize as sk_skeletonize

from vesseltree import skeletonize
from vesseltree.synthetic import make_phantom
from vesseltree.topology import betti_numbers

ROUNDS = int(os.environ.get("VESSELTREE_BENCH_ROUNDS", "5"))
_RESULTS: dict[tuple[str, str], float] = {}
_CACHE: dict[str, np.ndarray] = {}


from conftest import ircadb_root as _ircadb_root  # noqa: E402  (one data-location rule)


def load_case(name: str) -> np.ndarray:
    if name not in _CACHE:
        if name == "phantom":
            _CACHE[name] = make_phantom((128, 256, 256), 1.0, seed=0).mask
        else:
            z = _ircadb_root() / "3Dircadb1.1" / "MASKS_DICOM.zip"
            if not z.is_file():
                pytest.skip(f"3D-IRCADb patient 1.1 not found at {z}")
            from vesseltree.io import load_volume

            _CACHE[name] = load_volume(z).data  # portal vein + venous system, native grid
    return _CACHE[name]


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    if not _RESULTS:
        return
    print("\nvesseltree.skeletonize vs skimage.morphology.skeletonize (median s, warm):")
    for case in ("phantom", "ircadb-1.1"):
        o, p = _RESULTS.get((case, "ours")), _RESULTS.get((case, "skimage"))
        if o and p:
            print(f"  {case:12s} ours {o:7.4f}  skimage {p:7.4f}  ratio {p / o:5.1f}x")


@pytest.mark.parametrize("case", ["phantom", "ircadb-1.1"])
@pytest.mark.parametrize("impl", ["ours", "skimage"])
def test_skeletonize(benchmark, case, impl):
    mask = load_case(case)
    fn = skeletonize if impl == "ours" else sk_skeletonize
    benchmark.group = f"skeletonize {case} {mask.shape}"
    benchmark.extra_info.update(vessel_voxels=int(mask.sum()), shape=list(mask.shape))
    fn(mask)  # warm-up
    skel = benchmark.pedantic(fn, args=(mask,), rounds=ROUNDS, iterations=1)
    assert skel.shape == mask.shape and not (skel & ~mask).any()
    if impl == "ours":
        assert betti_numbers(skel) == betti_numbers(mask)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        _RESULTS[(case, impl)] = stats.stats.median
    else:  # benchmarks disabled: time a few calls so the summary still means something
        times = []
        for _ in range(3):
            t = time.perf_counter()
            fn(mask)
            times.append(time.perf_counter() - t)
        _RESULTS[(case, impl)] = float(np.median(times))

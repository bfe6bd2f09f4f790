"""Benchmark: ``vesseltree.skeletonize`` vs ``skimage.morphology.skeletonize`` (3D, Lee).

Run: ``pytest benchmarks/bench_skeleton.py --benchmark-enable -s`` (``-s`` prints the ratio
summary at the end). Rounds: ``VESSELTREE_BENCH_ROUNDS`` (default 5), after one warm-up call
of each (nothing is compiled at run time here: the kernel is Cython, built at install).

Inputs (``benchmarks/conftest.py``): the 256x256x128 (z=128) phantom of ``make_phantom``
(seed 0) and 3D-IRCADb patient 1.1's native vessel mask (portal vein + venous system,
129x512x512, from ``MASKS_DICOM.zip`` via ``vesseltree.io``; skipped when the data is
absent). Both implementations take the same boolean array; the outputs are checked for
the property the comparison relies on (ours keeps the Betti numbers of the mask). No timing
is asserted: figures go to ``docs/benchmarks.md``.
"""
from __future__ import annotations

import os

import pytest
from skimage.morphology import skeletonize as sk_skeletonize

from vesseltree import skeletonize
from vesseltree.topology import betti_numbers

ROUNDS = int(os.environ.get("VESSELTREE_BENCH_ROUNDS", "5"))
SUMMARY_TITLE = "vesseltree.skeletonize vs skimage.morphology.skeletonize (warm)"
CASES = {"phantom": "phantom_case", "ircadb-1.1": "ircadb_case"}  # benchmarks/conftest.py


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("impl", ["ours", "skimage"])
def test_skeletonize(benchmark, request, summary, case, impl):
    mask, _ = request.getfixturevalue(CASES[case])
    fn = skeletonize if impl == "ours" else sk_skeletonize
    benchmark.group = f"skeletonize {case} {mask.shape}"
    benchmark.extra_info.update(vessel_voxels=int(mask.sum()), shape=list(mask.shape))
    fn(mask)  # warm-up
    skel = benchmark.pedantic(fn, args=(mask,), rounds=ROUNDS, iterations=1)
    assert skel.shape == mask.shape and not (skel & ~mask).any()
    if impl == "ours":
        assert betti_numbers(skel) == betti_numbers(mask)
    summary.record(benchmark, case, impl, fn, mask)

"""Benchmarks of skeleton -> branch graph, with the peer pair in the same run.

Run: ``pytest benchmarks/bench_graph.py --benchmark-enable -s`` (``-s`` shows the ratio
summary printed at the end of the module). Rounds: ``VESSELTREE_BENCH_ROUNDS`` (default 3),
each after one warm-up call (Numba JIT and caches loaded: "warm").

Inputs (``benchmarks/conftest.py``):

- ``phantom``: ``make_phantom((128, 256, 256), seed=0)`` (z, y, x), 1 mm voxels;
- ``ircadb``: 3D-IRCADb-01 patient 1.1, portal vein + venous system (native
  129 x 512 x 512, spacing from the DICOM tags), read with :func:`vesseltree.io.load_volume`
  (slices sorted by ImagePositionPatient); skipped when the data is absent.

Groups (per input, ``test_graph[step-...]``):

- ``pipeline-*``: ``vesseltree.skeletonize`` + ``vesseltree.build_graph`` vs
  ``skimage.morphology.skeletonize`` + ``skan.Skeleton`` + ``skan.summarize``;
- ``graph-*``: ``build_graph`` vs ``skan.Skeleton`` + ``skan.summarize`` on the same
  skeleton (ours), the graph step alone.

``test_fresh_process_first_call`` times a new Python process doing
``from vesseltree import skeletonize, build_graph`` and the first call on the phantom
(Numba kernels loaded from the on-disk cache).

No timing is asserted: the figures go to docs/benchmarks.md.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

skan = pytest.importorskip("skan")
from skimage.morphology import skeletonize as sk_skeletonize  # noqa: E402

from vesseltree import build_graph, skeletonize  # noqa: E402

ROUNDS = int(os.environ.get("VESSELTREE_BENCH_ROUNDS", "3"))


def _skan_graph(skel, spacing):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = skan.Skeleton(skel, spacing=spacing)
        return skan.summarize(sk, separator="_")


def _ours(mask, spacing):
    return build_graph(skeletonize(mask), spacing)


def _peer(mask, spacing):
    return _skan_graph(sk_skeletonize(mask), spacing)


SUMMARY_TITLE = "bench_graph: skeleton -> branch graph, ours vs skan (warm)"
# step -> (ours, peer, what the input is); the graph step alone starts from our skeleton
_STEPS = {
    "pipeline": (_ours, _peer, "mask"),
    "graph": (build_graph, _skan_graph, "skeleton"),
}


@pytest.mark.parametrize("step", list(_STEPS))
@pytest.mark.parametrize("name", ["phantom", "ircadb"])
@pytest.mark.parametrize("who", ["ours", "peer"])
def test_graph(benchmark, request, summary, step, name, who):
    mask, spacing = request.getfixturevalue(f"{name}_case")
    ours, peer, what = _STEPS[step]
    data = mask if what == "mask" else skeletonize(mask)
    benchmark.group = f"{step}-{name}"
    result = benchmark.pedantic(ours if who == "ours" else peer, args=(data, spacing),
                                rounds=ROUNDS, warmup_rounds=1)
    n = result.n_branches if who == "ours" else len(result)
    benchmark.extra_info.update({"n_branches": int(n), f"n_{what}_voxels": int(data.sum())})
    summary.record(benchmark, f"{step}-{name}", who)


_CHILD = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np
    mask = np.load(sys.argv[1])
    t1 = time.perf_counter()
    from vesseltree import build_graph, skeletonize
    t2 = time.perf_counter()
    skel = skeletonize(mask)
    t3 = time.perf_counter()
    g = build_graph(skel)
    t4 = time.perf_counter()
    print(json.dumps({"import_s": t2 - t1, "skeletonize_s": t3 - t2, "build_graph_s": t4 - t3,
                      "first_call_s": t4 - t1, "n_branches": g.n_branches}))
    """
)


def test_fresh_process_first_call(benchmark, phantom_case, tmp_path):
    mask, _ = phantom_case
    path = tmp_path / "phantom.npy"
    np.save(path, mask)
    # make sure the Numba cache exists (a fresh checkout compiles once)
    subprocess.run([sys.executable, "-c", _CHILD, str(path)], check=True, capture_output=True)
    out = {}

    def child():
        res = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path)], check=True, capture_output=True, text=True
        )
        out.update(json.loads(res.stdout.strip().splitlines()[-1]))

    benchmark.group = "fresh-process"
    benchmark.pedantic(child, rounds=ROUNDS, warmup_rounds=0)
    benchmark.extra_info.update(out)
    print(f"\nfresh process (last round): {out}")

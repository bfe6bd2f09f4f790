"""torch's CPU thread count survives the data layer's call into vesseltree's Numba kernels.

Numba's OpenMP layer sets the runtime's thread count when it starts, once per process, so each
case runs in a fresh interpreter: torch asked for 1 thread, Numba told to use 3.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")

_SCRIPT = textwrap.dedent("""
    import sys, tempfile
    mode = sys.argv[1]
    if mode != "torch-after":
        import torch
        torch.set_num_threads(1)
        torch.get_num_threads()  # torch has read its count (as any parallel op does)
    if mode == "raw":  # vesseltree called directly: the hazard
        import vesseltree as vt
        vt.analyze(vt.tube((16, 16, 28), (8, 8, 3), (8, 8, 24), 2.5))
    else:  # the data layer, as `vesselnet train` prepares a source in-process
        from vesselnet.data import PrepareConfig, SyntheticSource, prepare
        prepare(SyntheticSource(n_cases=1, shape=(32, 32, 32), seed=0), tempfile.mkdtemp(),
                PrepareConfig(crop="none", target_shape=None, n_scales=3), progress=False,
                figures=False)
    import torch
    print("threads", torch.get_num_threads())
""")


def _threads(mode: str, **env) -> int:
    out = subprocess.run([sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "NUMBA_NUM_THREADS": "3", **env})
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.split("threads")[-1])


@pytest.fixture(scope="module")
def hazard():
    n = _threads("raw")
    if n == 1:
        pytest.skip("Numba's threading layer leaves torch's thread count alone here")
    return n


def test_vesseltree_alone_changes_torchs_thread_count(hazard):
    assert hazard == 3  # Numba's count, not the 1 torch was given


def test_prepare_keeps_torchs_thread_count(hazard):
    assert _threads("torch-before") == 1


def test_torch_imported_after_prepare_starts_from_omp_num_threads(hazard):
    assert _threads("torch-after", OMP_NUM_THREADS="1") == 1

"""Benchmarks of the data layer, each against its peer in the same run.

Run: ``pytest benchmarks/bench_data.py --benchmark-enable -s`` (``-s`` shows the ratio summary).
``VESSELNET_BENCH_ROUNDS`` sets the rounds (default 3).

1. **Augmentation** of a batch of 2 volumes of 128 x 256 x 256 voxels (the paper's size) with
   its labels (vessel + 3 scale masks) on the CPU, one random rotation (up to 15 degrees about
   each axis) and translation (up to 10% of the extent) per case:

   - ``ours``: :class:`vesselnet.data.Augmenter` on the whole batch (one ``affine_grid`` and
     two ``grid_sample`` calls; flips off and gamma off, the same work as the peers);
   - ``ours_full``: the same with flips and gamma on (what training uses);
   - ``monai``: MONAI 1.6.1 ``RandAffined(keys=("image", "label"), mode=("bilinear",
     "nearest"), prob=1)`` applied to each volume in turn (a dict per volume, as a MONAI
     pipeline does);
   - ``torchio``: TorchIO ``RandomAffine(scales=0, degrees=15, translation=...,
     image_interpolation="linear", label_interpolation="nearest")`` on a ``Subject`` per
     volume (SimpleITK resampling).

   The GPU figure of ``ours`` is measured by ``benchmarks/gpu_check.py`` (training issue).

2. **Preprocessing** of each 3D-IRCADb patient with a CT (1.1, 1.7; skipped when the data is
   absent): :func:`vesselnet.data.preprocess` with the default config (crop, 128 x 256 x 256
   isotropic grid, label resampling, scale targets), reading the DICOM zips excluded (timed
   apart, ``load``).

No timing is asserted; the figures go to ``docs/data.md``. The summary (``-s``) is the shared
one of ``benchmarks/conftest.py``.
"""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

SHAPE = (128, 256, 256)
ROUNDS = int(os.environ.get("VESSELNET_BENCH_ROUNDS", "3"))
SUMMARY_TITLE = "data layer (vesselnet.data)"
_BATCH: dict = {}


def _batch():
    if not _BATCH:
        g = torch.Generator().manual_seed(0)
        img = torch.rand((2, 1) + SHAPE, generator=g)
        v = (torch.rand((2, 1) + SHAPE, generator=g) > 0.97).float()
        s1 = v * (torch.rand((2, 1) + SHAPE, generator=g) > 0.5).float()
        _BATCH.update(image=img, vessel=v, scales=torch.cat([s1, v - s1, torch.zeros_like(v)], 1),
                      spacing=torch.ones(2, 3, dtype=torch.float64))
    return _BATCH


def _ours(full: bool):
    from vesselnet.data import Augmenter

    aug = (Augmenter(rotation_deg=15, translation=0.1, p=1.0) if full else
           Augmenter(rotation_deg=15, translation=0.1, flip_axes=(), gamma=None, p=1.0))
    gen = torch.Generator().manual_seed(0)
    b = _batch()
    return lambda: aug(b, gen)


def _monai():
    from monai.transforms import RandAffined

    t = RandAffined(keys=("image", "label"), mode=("bilinear", "nearest"), prob=1.0,
                    rotate_range=(np.deg2rad(15),) * 3, translate_range=tuple(0.1 * n for n in SHAPE),
                    padding_mode="zeros")
    t.set_random_state(0)
    b = _batch()
    items = [{"image": b["image"][k], "label": torch.cat([b["vessel"][k], b["scales"][k]])} for k in range(2)]
    return lambda: [t(d) for d in items]


def _torchio():
    import torchio as tio

    t = tio.RandomAffine(scales=0, degrees=15, translation=tuple(0.1 * n for n in SHAPE),
                         image_interpolation="linear", label_interpolation="nearest")
    b = _batch()
    subjects = [tio.Subject(image=tio.ScalarImage(tensor=b["image"][k]),
                            label=tio.LabelMap(tensor=torch.cat([b["vessel"][k], b["scales"][k]])))
                for k in range(2)]
    torch.manual_seed(0)
    return lambda: [t(s) for s in subjects]


@pytest.mark.parametrize("impl", ["ours", "ours_full", "monai", "torchio"])
def test_augment(benchmark, summary, impl):
    pytest.importorskip({"monai": "monai", "torchio": "torchio"}.get(impl, "torch"))
    fn = {"ours": lambda: _ours(False), "ours_full": lambda: _ours(True), "monai": _monai,
          "torchio": _torchio}[impl]()
    group = f"augment 2x1x{'x'.join(map(str, SHAPE))} + 4 label channels, CPU"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        benchmark.group = group
        benchmark.pedantic(fn, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    summary.record(benchmark, group, impl)


@pytest.fixture(scope="module")
def ircadb_cases(summary):
    from vesseltree.datasets import IRCADB_ENV, ircadb_root

    root = ircadb_root(Path(__file__).resolve().parents[1])
    if not (root / "3Dircadb1.1" / "PATIENT_DICOM.zip").is_file():
        pytest.skip(f"3D-IRCADb CT not found at {root} (set {IRCADB_ENV})")
    from vesselnet.data import IrcadbSource

    src = IrcadbSource(root)
    cases = {}
    for cid in src.case_ids:
        t0 = time.perf_counter()
        cases[cid] = src.load(cid)
        seconds = time.perf_counter() - t0
        summary.times[("load 3D-IRCADb DICOM zips (one call)", cid)] = (seconds, seconds)
    return cases


@pytest.mark.parametrize("patient", ["3Dircadb1.1", "3Dircadb1.7"])
def test_preprocess_ircadb(benchmark, summary, ircadb_cases, patient):
    from vesselnet.data import preprocess

    case = ircadb_cases[patient]
    preprocess(case)  # compile the Numba kernels outside the timing
    group = "preprocess one 3D-IRCADb case (default config)"
    benchmark.group = group
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        benchmark.pedantic(preprocess, args=(case,), rounds=max(1, ROUNDS - 1), iterations=1)
    summary.record(benchmark, group, patient)

"""Tiny synthetic data and configs shared by the training tests (not a test module).

Cases are :class:`vesselnet.data.SyntheticSource` phantoms prepared by the data layer
(``preprocess``), 16^3 voxels: every case holds all three scales.
"""
from __future__ import annotations

from functools import lru_cache

from vesselnet.train.config import TrainConfig

SHAPE = (16, 16, 16)


@lru_cache(maxsize=8)
def tiny_cases(n: int = 4, seed: int = 0, shape=SHAPE) -> tuple:
    """``n`` prepared synthetic cases (cached per process)."""
    from vesselnet.data import SyntheticSource, preprocess

    config = prepare_config(shape)
    src = SyntheticSource(n_cases=n, shape=shape, seed=seed)
    return tuple(preprocess(src.load(i), config) for i in src.case_ids)


def prepare_config(shape=SHAPE):
    from vesselnet.data import PrepareConfig

    return PrepareConfig(target_shape=tuple(shape), crop="none")


def tiny_dataset(n: int = 4, seed: int = 0, shape=SHAPE, cases=None):
    """An in-memory ``PreparedDataset`` of :func:`tiny_cases` (or of ``cases``)."""
    from vesselnet.data import PreparedDataset

    return PreparedDataset.from_cases(cases if cases is not None else tiny_cases(n, seed, shape),
                                      prepare_config(shape))


def tiny_config(preset: str = "multitask-contrastive", overrides: dict | None = None,
                shape=SHAPE) -> TrainConfig:
    """``preset`` shrunk to seconds: l = 2, f0 = 2, 2 epochs, 1 thread, no bar, no TensorBoard."""
    base = {
        "model": {"depth": 2, "base_channels": 2, "proj_dim": 4},
        "data": {"prepare": prepare_config(shape).to_dict(), "val_fraction": 0.0},
        "run": {"epochs": 2, "val_every": 1, "progress": False, "tensorboard": False,
                "num_threads": 1},
    }
    cfg = TrainConfig.from_preset(preset, base)
    return cfg.replace(overrides or {})


def read_csv(path) -> list[dict]:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))

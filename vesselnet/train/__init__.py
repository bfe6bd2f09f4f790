"""Training of the vesselnet networks (Sect. 3.2 of Sadikine et al., ISBI 2023).

- :mod:`~vesselnet.train.config` - :class:`TrainConfig` (YAML in/out, validated) and the four
  Table-1 presets; its sections in :mod:`~vesselnet.train.sections`
- :mod:`~vesselnet.train.trainer` - :func:`train` and :class:`Trainer` (device, AMP, logs,
  validation, exact resume)
- :mod:`~vesselnet.train.checkpoint` - atomic checkpoints of tensors and plain data,
  :func:`load_checkpoint` (``torch.load(weights_only=True)``), the one loader
- :mod:`~vesselnet.train.distributed` - DDP under ``torchrun``

Importing this package does not import torch until a name that needs it is used.
"""
from __future__ import annotations

__all__ = [
    "TrainConfig",
    "load_config",
    "save_config",
    "PRESETS",
    "train",
    "Trainer",
    "TrainResult",
    "TrainingError",
    "load_checkpoint",
    "CheckpointError",
]

_WHERE = {
    "TrainConfig": "config",
    "load_config": "config",
    "save_config": "config",
    "PRESETS": "config",
    "train": "trainer",
    "Trainer": "trainer",
    "TrainResult": "trainer",
    "TrainingError": "trainer",
    "load_checkpoint": "checkpoint",
    "CheckpointError": "checkpoint",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"vesselnet.train.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'vesselnet.train' has no attribute {name!r}")

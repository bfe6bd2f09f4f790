"""vesselnet: scale-aware deep liver-vessel segmentation (PyTorch).

Implements Sadikine et al., ISBI 2023: a 3D ResUNet baseline, a shared-encoder multi-task
network with S+1 decoders (Eq. 4), projection heads (Eq. 6), Dice + weighted cross-entropy
(Eq. 5), supervised contrastive loss (Eq. 7-8) and the total loss (Eq. 9), plus metrics.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "ResUNet3d": "vesselnet.models",
    "MultiTaskResUNet3d": "vesselnet.models",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in {"metrics", "losses", "models"}:
        return importlib.import_module(f"vesselnet.{name}")
    raise AttributeError(f"module 'vesselnet' has no attribute {name!r}")


def __dir__():
    return __all__

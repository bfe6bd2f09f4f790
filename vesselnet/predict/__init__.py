"""Prediction with a trained vesselnet network (main decoder ``D_0`` only, as in the paper).

- :mod:`vesselnet.predict.sliding`: sliding-window inference with Gaussian-weighted overlaps,
  flip test-time augmentation, :func:`predict_volume` for one array.

Names are loaded lazily so that ``import vesselnet.predict`` stays cheap.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "window_starts": "vesselnet.predict.sliding",
    "gaussian_importance": "vesselnet.predict.sliding",
    "sliding_window_inference": "vesselnet.predict.sliding",
    "flip_tta": "vesselnet.predict.sliding",
    "probability_predictor": "vesselnet.predict.sliding",
    "predict_volume": "vesselnet.predict.sliding",
    "network_divisor": "vesselnet.predict.sliding",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vesselnet.predict' has no attribute {name!r}")


def __dir__():
    return __all__

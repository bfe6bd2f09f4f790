"""Prediction with a trained vesselnet network (main decoder ``D_0`` only, as in the paper).

- :mod:`vesselnet.predict.sliding`: sliding-window inference with Gaussian-weighted overlaps,
  flip test-time augmentation, :func:`predict_volume` for one array.

Names are loaded lazily so that ``import vesselnet.predict`` stays cheap.
"""
from __future__ import annotations

from vesselnet._lazy import lazy_exports

_EXPORTS = {
    "window_starts": "vesselnet.predict.sliding",
    "gaussian_importance": "vesselnet.predict.sliding",
    "sliding_window_inference": "vesselnet.predict.sliding",
    "flip_tta": "vesselnet.predict.sliding",
    "probability_predictor": "vesselnet.predict.sliding",
    "predict_volume": "vesselnet.predict.sliding",
    "network_divisor": "vesselnet.predict.sliding",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

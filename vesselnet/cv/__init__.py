"""K-fold cross-validation of the Table-1 presets and its report (``vesselnet cv``).

- :mod:`vesselnet.cv.splits`: folds of case ids, saved as JSON, shared by every preset;
- :mod:`vesselnet.cv.runner`: :func:`run_cv` (train per fold, predict the held-out fold,
  evaluate, resume where it stopped, failed folds recorded);
- :mod:`vesselnet.cv.report`: :func:`build_report` (Table 1 as Markdown and CSV, Fig. 5).

Names are loaded lazily; importing this package does not import torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "run_cv": "vesselnet.cv.runner",
    "CVResult": "vesselnet.cv.runner",
    "resolve_presets": "vesselnet.cv.runner",
    "build_report": "vesselnet.cv.report",
    "make_splits": "vesselnet.cv.splits",
    "load_splits": "vesselnet.cv.splits",
    "save_splits": "vesselnet.cv.splits",
    "check_splits": "vesselnet.cv.splits",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vesselnet.cv' has no attribute {name!r}")


def __dir__():
    return __all__

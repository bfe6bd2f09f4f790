"""K-fold cross-validation of the Table-1 presets and its report (``vesselnet cv``).

- :mod:`vesselnet.cv.splits`: folds of case ids, saved as JSON, shared by every preset;
- :mod:`vesselnet.cv.runner`: :func:`run_cv` (train per fold, predict the held-out fold,
  evaluate, resume where it stopped, failed folds recorded);
- :mod:`vesselnet.cv.report`: :func:`build_report` (Table 1 as Markdown and CSV, Fig. 5).

Names are loaded lazily; importing this package does not import torch.
"""
from __future__ import annotations

from vesselnet._lazy import lazy_exports

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

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

"""vesselnet.tune: an Optuna search of the loss weights of Eq. 9 (lambda_1..S, lambda_c, tau;
optionally lr), resumable from its storage, parallel over workers, one DDP job per trial under
torchrun. See :mod:`vesselnet.tune.run` and ``docs/tuning.md``.

- :func:`tune` / :class:`TuneResult` / :class:`TuneError` (:mod:`~vesselnet.tune.run`)
- :class:`SearchSpace`, :func:`load_space`, :func:`default_space` (:mod:`~vesselnet.tune.space`)
- :class:`Fold`, :func:`holdout_fold`, :func:`read_folds` (:mod:`~vesselnet.tune.folds`)

Names are loaded lazily: importing this package imports neither torch nor optuna.
"""
from __future__ import annotations

from vesselnet._lazy import lazy_exports

_EXPORTS = {
    "tune": "vesselnet.tune.run",
    "TuneResult": "vesselnet.tune.run",
    "TuneError": "vesselnet.tune.run",
    "SearchSpace": "vesselnet.tune.space",
    "ParamRange": "vesselnet.tune.space",
    "load_space": "vesselnet.tune.space",
    "default_space": "vesselnet.tune.space",
    "valid_names": "vesselnet.tune.space",
    "Fold": "vesselnet.tune.folds",
    "holdout_fold": "vesselnet.tune.folds",
    "read_folds": "vesselnet.tune.folds",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

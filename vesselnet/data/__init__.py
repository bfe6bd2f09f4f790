"""vesselnet.data: from files to tensors, with geometry both ways (Sect. 3.1 of the paper).

Sources give :class:`Case` objects in original geometry (:class:`SyntheticSource`,
:class:`IrcadbSource`, :class:`NiftiSource`, or :func:`open_source` from a spec);
:func:`preprocess` makes a :class:`PreparedCase` (crop, resample, normalise, scale targets from
:func:`vesseltree.analyze`); :func:`prepare` caches them on disk as a
:class:`PreparedDataset`; :class:`CaseLoader` batches them as tensors; :class:`Augmenter`
augments a batch on its device; :func:`restore` maps a prepared-grid array back to the
original grid. See ``docs/data.md``.

Names are loaded lazily: ``import vesselnet.data`` does not import torch (only the loader and
the augmenter need it).
"""
from __future__ import annotations

from vesselnet._lazy import lazy_exports

_EXPORTS = {
    "Case": "vesselnet.data.case",
    "check_case": "vesselnet.data.case",
    "PrepareConfig": "vesselnet.data.config",
    "GridTransform": "vesselnet.data.transform",
    "plan_grid": "vesselnet.data.transform",
    "restore": "vesselnet.data.transform",
    "restore_mask": "vesselnet.data.transform",
    "resample_label": "vesselnet.data.labels",
    "LABEL_RULES": "vesselnet.data.labels",
    "scale_targets": "vesselnet.data.targets",
    "PreparedCase": "vesselnet.data.preprocess",
    "preprocess": "vesselnet.data.preprocess",
    "prepare": "vesselnet.data.cache",
    "PreparedDataset": "vesselnet.data.cache",
    "SyntheticSource": "vesselnet.data.sources.synthetic",
    "IrcadbSource": "vesselnet.data.sources.ircadb",
    "NiftiSource": "vesselnet.data.sources.nifti",
    "open_source": "vesselnet.data.sources",
    "CaseLoader": "vesselnet.data.loader",
    "collate": "vesselnet.data.loader",
    "to_device": "vesselnet.data.loader",
    "Augmenter": "vesselnet.data.augment",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

# The function ``preprocess`` shares its name with its module: bind the function now, so that
# importing the submodule later (which sets the package attribute to the module) cannot
# shadow it. This imports numpy and scipy, not torch.
from .preprocess import preprocess  # noqa: E402

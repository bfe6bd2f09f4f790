"""Names of the training side that the command line needs without importing torch."""
from __future__ import annotations

__all__ = ["PRESETS"]

#: The training presets, the rows of Table 1 in its order (``vesselnet/train/presets/NAME.yaml``).
PRESETS = ("resunet-binary", "resunet-multiclass", "multitask", "multitask-contrastive")

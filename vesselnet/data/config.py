"""How cases are prepared: :class:`PrepareConfig` (plain types, JSON/YAML round trip).

Defaults follow Sect. 3.1 of Sadikine et al. (ISBI 2023): a liver bounding box, resized to
256 x 256 x 128 voxels (``target_shape=(128, 256, 256)``, axes z, y, x) of isotropic size, and
S = 3 scale targets from the resized mask.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from .labels import LABEL_RULES

__all__ = ["PrepareConfig", "TARGET_RULES", "CROPS", "NORMALIZATIONS"]

#: scale-target rules (:mod:`vesselnet.data.targets`)
TARGET_RULES = ("default", "paper")
#: crop modes
CROPS = ("liver", "none")
#: intensity normalisations
NORMALIZATIONS = ("window", "zscore")


def _pair(value, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected two numbers (low, high), got {value!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name}: expected finite low < high, got {value!r}")
    return lo, hi


def _triple(value, name: str, kind):
    if value is None:
        return None
    try:
        out = tuple(kind(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected 3 numbers (z, y, x) or None, got {value!r}") from exc
    if len(out) != 3 or any(isinstance(v, bool) for v in value):
        raise ValueError(f"{name}: expected 3 values (z, y, x), got {value!r}")
    if kind is int and any(float(a) != b for a, b in zip(value, out)):
        raise ValueError(f"{name}: expected 3 integers, got {value!r}")
    if not all(math.isfinite(v) and v > 0 for v in out):
        raise ValueError(f"{name}: expected 3 positive values, got {value!r}")
    return out


def _choice(value, name: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class PrepareConfig:
    """Preprocessing parameters (all plain types; the cache key holds :meth:`to_dict`).

    Attributes
    ----------
    hu_window : (float, float)
        CT values are clipped to this range (HU) before resampling.
    normalize : {"window", "zscore"}
        ``"window"``: the clipped range maps linearly to [0, 1]. ``"zscore"``: zero mean and
        unit standard deviation over the prepared volume.
    crop : {"liver", "none"}
        ``"liver"``: the liver mask's bounding box plus ``margin_mm`` (the whole volume, flagged
        ``"no_liver"``, when a case has no liver mask or an empty one). ``"none"``: the whole
        volume.
    margin_mm : float
        Margin around the liver box (mm, >= 0).
    target_shape : (D, H, W) or None
        Prepared shape (the paper's 128 x 256 x 256 by default).
    target_spacing : (float, float, float) or None
        Prepared voxel size (mm) instead of a shape (then ``target_shape`` must be None).
    isotropic : bool
        With ``target_shape``: cubic voxels, the grid centred on the crop box and as large as
        needed along the other axes (the paper); otherwise each axis fills the box.
    anti_alias : bool
        Gaussian pre-filter of the image before a downsampling (sigma ``(step - 1) / 2``
        original voxels per axis, as ``skimage.transform.resize``).
    label_resampling : str
        Rule of :mod:`vesselnet.data.labels` (default ``"linear_centerline"``).
    label_threshold : float
        Level of the linear label rules, in (0, 1).
    n_scales : int
        Number S of scale targets (>= 2).
    target_rule : {"default", "paper"}
        Scale-target rule, see :mod:`vesselnet.data.targets`.
    vessel_in_liver : bool
        Keep only the vessel voxels inside the liver mask (when there is one).
    """

    hu_window: tuple[float, float] = (-100.0, 400.0)
    normalize: str = "window"
    crop: str = "liver"
    margin_mm: float = 10.0
    target_shape: tuple[int, int, int] | None = (128, 256, 256)
    target_spacing: tuple[float, float, float] | None = None
    isotropic: bool = True
    anti_alias: bool = True
    label_resampling: str = "linear_centerline"
    label_threshold: float = 0.5
    n_scales: int = 3
    target_rule: str = "default"
    vessel_in_liver: bool = False

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "hu_window", _pair(self.hu_window, "hu_window"))
        _choice(self.normalize, "normalize", NORMALIZATIONS)
        _choice(self.crop, "crop", CROPS)
        if isinstance(self.margin_mm, bool) or not isinstance(self.margin_mm, (int, float)) \
                or not math.isfinite(self.margin_mm) or self.margin_mm < 0:
            raise ValueError(f"margin_mm: expected a finite number >= 0 (mm), got {self.margin_mm!r}")
        set_(self, "margin_mm", float(self.margin_mm))
        set_(self, "target_shape", _triple(self.target_shape, "target_shape", int))
        set_(self, "target_spacing", _triple(self.target_spacing, "target_spacing", float))
        if self.target_shape is not None and self.target_spacing is not None:
            raise ValueError(
                "target_shape, target_spacing: give one of them (set target_shape=None to use "
                f"target_spacing), got {self.target_shape} and {self.target_spacing}")
        for name in ("isotropic", "anti_alias", "vessel_in_liver"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}: expected a bool, got {getattr(self, name)!r}")
        _choice(self.label_resampling, "label_resampling", LABEL_RULES)
        t = self.label_threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1:
            raise ValueError(f"label_threshold: expected a number in (0, 1), got {t!r}")
        set_(self, "label_threshold", float(t))
        n = self.n_scales
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n_scales: expected an integer >= 2, got {n!r}")
        _choice(self.target_rule, "target_rule", TARGET_RULES)

    def to_dict(self) -> dict:
        """Plain dict (lists for tuples), JSON- and YAML-able."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict | None) -> "PrepareConfig":
        """Build from a plain dict; unknown keys are an error naming the valid ones."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise TypeError(f"config: expected a dict, got {type(data).__name__}")
        valid = [f.name for f in fields(cls)]
        unknown = sorted(k for k in data if k not in valid)
        if unknown:
            raise ValueError(f"config: unknown key(s) {unknown}; valid keys: {valid}")
        return cls(**data)

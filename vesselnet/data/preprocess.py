"""From a :class:`~vesselnet.data.Case` to a :class:`PreparedCase` (Sect. 3.1 of the paper).

:func:`preprocess` runs, with arrays in and arrays out at each step:

1. checks (:func:`vesselnet.data.case.check_case`): shapes, binary masks, finite HU, spacing;
2. crop box: the liver mask's bounding box plus ``margin_mm`` (:func:`crop_box`);
3. the prepared grid (:func:`vesselnet.data.transform.plan_grid`): the paper's 128 x 256 x 256
   isotropic voxels by default;
4. image: HU clipped to ``hu_window``, anti-aliased and trilinearly resampled, normalised;
5. vessel label: resampled by ``label_resampling`` (:mod:`vesselnet.data.labels`);
6. scale targets from :func:`vesseltree.analyze` on the resampled label
   (:mod:`vesselnet.data.targets`).

An empty vessel mask is kept, with a warning and the flag ``"empty_vessel"`` (the contrastive
term has nothing to contrast in it).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .case import Case, check_case
from .config import PrepareConfig
from .labels import resample_label
from .targets import scale_targets
from .transform import GridTransform, plan_grid, sample_grid

__all__ = ["PreparedCase", "preprocess", "crop_box", "versions"]


@dataclass(eq=False)
class PreparedCase:
    """A case on its prepared grid: what the cache holds and the loader batches.

    Attributes
    ----------
    case_id : str
    image : numpy.ndarray of float32, shape (1, D, H, W)
        Normalised CT.
    vessel : numpy.ndarray of uint8, shape (1, D, H, W), or None
        Vessel target (0/1); None for a case without label (prediction).
    scales : numpy.ndarray of uint8, shape (S, D, H, W), or None
        Scale targets (0/1), scale 1 first; a partition of ``vessel``.
    spacing : tuple of 3 float
        Prepared voxel size (mm).
    transform : GridTransform
        The way back to the original grid (:func:`vesselnet.data.restore`).
    flags : tuple of str
        ``"empty_vessel"``, ``"no_liver"``, ``"few_branches"``, ``"missing_scale_<s>"``.
    record : dict
        How it was made: the case's source, the configuration, versions, thresholds, time.
    """

    case_id: str
    image: np.ndarray
    vessel: np.ndarray | None
    scales: np.ndarray | None
    spacing: tuple[float, float, float]
    transform: GridTransform
    flags: tuple[str, ...] = ()
    record: dict = field(default_factory=dict)

    @property
    def n_scales(self) -> int | None:
        """S, or None without targets."""
        return None if self.scales is None else int(self.scales.shape[0])


def versions() -> dict:
    """Versions that make a prepared case: packages, numpy/scipy, the cache format."""
    import scipy

    import vesselnet
    import vesseltree

    from .cache import FORMAT_VERSION

    return {"vesselnet": vesselnet.__version__, "vesseltree": vesseltree.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "format": FORMAT_VERSION}


def crop_box(liver: np.ndarray, spacing, margin_mm: float):
    """Bounding box of ``liver`` grown by ``margin_mm`` and clipped to the volume.

    Returns
    -------
    (lo, hi) of 3 ints each (``hi`` exclusive), or None for an empty mask.
    """
    m = np.asarray(liver, dtype=bool)
    lo, hi = [], []
    for ax in range(3):
        hit = np.flatnonzero(m.any(axis=tuple(a for a in range(3) if a != ax)))
        if hit.size == 0:
            return None
        grow = int(np.ceil(margin_mm / float(spacing[ax]) - 1e-9))
        lo.append(max(0, int(hit[0]) - grow))
        hi.append(min(m.shape[ax], int(hit[-1]) + 1 + grow))
    return tuple(lo), tuple(hi)


def _image(image: np.ndarray, t: GridTransform, config: PrepareConfig) -> np.ndarray:
    lo, hi = config.hu_window
    clipped = np.clip(image, lo, hi)
    sigma = None
    if config.anti_alias and max(t.step) > 1:
        sigma = tuple(max(0.0, (s - 1.0) / 2.0) for s in t.step)
    out = sample_grid(clipped, t.origin, t.step, t.shape, order=1, cval=lo, sigma=sigma)
    if config.normalize == "window":
        out = (out - np.float32(lo)) / np.float32(hi - lo)
    else:
        sd = float(out.std())
        out = (out - np.float32(out.mean())) / np.float32(sd if sd > 0 else 1.0)
    return out.astype(np.float32)[None]


def preprocess(case: Case, config: PrepareConfig | None = None) -> PreparedCase:
    """Crop, resample and normalise a case; build its scale targets.

    Parameters
    ----------
    case : Case
        Original geometry; ``case.vessel`` may be None (prediction: then ``vessel`` and
        ``scales`` are None). ``case.image`` None gives an all-zero image (masks only).
    config : PrepareConfig, optional
        Default: the paper's setting (:class:`PrepareConfig`).

    Returns
    -------
    PreparedCase

    Raises
    ------
    TypeError, ValueError
        Bad case (:func:`vesselnet.data.case.check_case`) or config.

    Warns
    -----
    UserWarning
        Empty vessel mask (case kept, flagged ``"empty_vessel"``); ``crop="liver"`` without a
        liver mask (whole volume, flagged ``"no_liver"``).
    """
    config = PrepareConfig() if config is None else config
    if not isinstance(config, PrepareConfig):
        raise TypeError(f"config: expected a PrepareConfig, got {type(config).__name__}")
    t0 = time.perf_counter()
    case = check_case(case)
    flags: list[str] = []
    box = None
    if config.crop == "liver":
        box = None if case.liver is None else crop_box(case.liver, case.spacing, config.margin_mm)
        if box is None:
            flags.append("no_liver")
            warnings.warn(f"case {case.case_id!r}: no liver mask (or an empty one); crop='liver' "
                          "falls back to the whole volume", UserWarning, stacklevel=2)
    t = plan_grid(case.shape, case.spacing, case.affine, box, target_shape=config.target_shape,
                  target_spacing=config.target_spacing, isotropic=config.isotropic)
    if case.image is not None:
        image = _image(case.image, t, config)
    else:
        image = np.zeros((1,) + t.shape, dtype=np.float32)
    vessel = scales = None
    info: dict = {}
    if case.vessel is not None:
        v = case.vessel
        if config.vessel_in_liver and case.liver is not None:
            v = v & case.liver
        if not v.any():
            warnings.warn(f"case {case.case_id!r}: empty vessel mask; kept and flagged "
                          "'empty_vessel'", UserWarning, stacklevel=2)
        vb = resample_label(v, case.spacing, t, config.label_resampling,
                            threshold=config.label_threshold)
        if v.any() and not vb.any():
            warnings.warn(f"case {case.case_id!r}: the vessel mask vanished on the prepared grid "
                          "(outside the crop?); flagged 'empty_vessel'", UserWarning, stacklevel=2)
        sc, info, tflags = scale_targets(vb, t.spacing, config.n_scales, config.target_rule)
        flags.extend(tflags)
        vessel = vb.astype(np.uint8)[None]
        scales = sc
    record = {
        "case": case.source,
        "config": config.to_dict(),
        "versions": versions(),
        "targets": info,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return PreparedCase(case.case_id, image, vessel, scales, t.spacing, t,
                        tuple(dict.fromkeys(flags)), record)

"""CT-like rendering of a vessel mask (:func:`render_ct`): body, liver, tumours, vessels,
partial-volume blur and noise, all sizes in mm."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from vesseltree._validation import check_mask, check_nonnegative_int, check_positive, check_spacing

from vesseltree.arrays import bounding_box

from ._checks import check_finite, check_range
from .phantom import Phantom
from .primitives import rasterize

__all__ = ["CT", "render_ct"]


@dataclass(frozen=True, eq=False)
class CT:
    """A CT-like image rendered from a vessel mask, with its masks.

    Attributes
    ----------
    image : float32 array (z, y, x)
        Hounsfield units, after blur and noise.
    liver, body, tumours, vessels : bool arrays (z, y, x)
        Regions as painted before blur: ``body`` (soft tissue, contains the liver),
        ``liver`` (parenchyma, tumours and the vessels inside it), ``tumours`` (voxels
        painted at ``tumour_hu``: tumour spheres in the liver, vessels excluded),
        ``vessels`` (the input mask, painted last, on top of everything).
    spacing : tuple of 3 floats
        Voxel size in mm (z, y, x).
    seed : int
        Seed of the tumour placement and of the noise.
    """

    image: np.ndarray
    liver: np.ndarray
    body: np.ndarray
    tumours: np.ndarray
    vessels: np.ndarray
    spacing: tuple
    seed: int


def _ellipsoid(shape, spacing, center, semi) -> np.ndarray:
    """Voxels whose centres lie in the axis-aligned ellipsoid (mm; ``inf`` semi-axis: a
    cylinder along that axis)."""
    z, y, x = (np.arange(n) * s for n, s in zip(shape, spacing))
    dz = ((z - center[0]) / semi[0]) ** 2
    dy = ((y - center[1]) / semi[1]) ** 2
    dx = ((x - center[2]) / semi[2]) ** 2
    return (dz[:, None, None] + dy[None, :, None] + dx[None, None, :]) <= 1.0


def render_ct(
    phantom_or_mask: Phantom | ArrayLike,
    spacing: float | ArrayLike | None = None,
    *,
    seed: int = 0,
    parenchyma_hu: float = 100.0,
    vessel_hu: float = 180.0,
    body_hu: float = 40.0,
    air_hu: float = -1000.0,
    tumours: int = 0,
    tumour_hu: float = 40.0,
    tumour_radius: tuple[float, float] = (4.0, 10.0),
    blur_mm: float = 0.7,
    noise_sd: float = 12.0,
) -> CT:
    """Render a contrast-enhanced, CT-like image of a vessel mask.

    Painting order: air everywhere; a body (an elliptic cylinder along z filling 94% of
    each in-plane axis, widened if needed to hold every vessel voxel with 2 mm to spare)
    at ``body_hu``; a liver-like ellipsoid at ``parenchyma_hu``, centred
    on the vessels' bounding box with semi-axes 1.25 times its half extents plus 3 mm,
    clipped to an elliptic cylinder of 80% of each in-plane axis (a rim of body remains;
    a centred ellipsoid of 70% of each axis when there are no vessels); ``tumours``
    hypodense balls inside the liver at ``tumour_hu``; the vessels at ``vessel_hu``. The
    image is then blurred by a Gaussian point-spread function of standard deviation
    ``blur_mm`` (mm, so ``blur_mm / spacing`` voxels per axis: partial volume) and white
    Gaussian noise of standard deviation ``noise_sd`` HU is added.

    Parameters
    ----------
    phantom_or_mask : Phantom or 3D binary array
        The vessels. A :class:`Phantom` brings its spacing.
    spacing : float or 3 floats, optional
        Voxel size in mm (z, y, x); default the phantom's, or 1 mm for a bare mask.
    seed : int
        Seed of tumour placement and noise.
    parenchyma_hu, vessel_hu, body_hu, air_hu, tumour_hu : float
        Intensities (HU) of the regions before blur and noise.
    tumours : int >= 0
        Number of tumour balls.
    tumour_radius : (float, float)
        Range (mm) of the tumours' radii, drawn uniformly.
    blur_mm : float >= 0
        Standard deviation (mm) of the Gaussian blur; 0 disables it.
    noise_sd : float >= 0
        Standard deviation (HU) of the additive noise; 0 disables it.

    Returns
    -------
    CT

    Raises
    ------
    ValueError, TypeError
        Naming the invalid argument (e.g. ``spacing`` differing from the phantom's, or
        ``tumours`` > 0 with an empty liver region).
    """
    from scipy import ndimage

    vessels, spacing = _vessels_and_spacing(phantom_or_mask, spacing)
    seed = check_nonnegative_int(seed, "seed")
    levels = _check_levels(parenchyma_hu=parenchyma_hu, vessel_hu=vessel_hu, body_hu=body_hu,
                           air_hu=air_hu, tumour_hu=tumour_hu)
    n_tumours = check_nonnegative_int(tumours, "tumours")
    blur_mm = check_positive(blur_mm, "blur_mm", allow_zero=True)
    noise_sd = check_positive(noise_sd, "noise_sd", allow_zero=True)
    radius_range = check_range(tumour_radius, "tumour_radius", " (mm)")

    sp = np.asarray(spacing, dtype=np.float64)
    rng = np.random.default_rng(seed)
    body, liver = _body_and_liver(vessels, sp)
    tumour = _tumours(liver, vessels, sp, n_tumours, radius_range, rng)
    image = _paint(levels, body=body, parenchyma=liver, tumour=tumour, vessel=vessels)
    if blur_mm > 0:
        image = ndimage.gaussian_filter(image, sigma=tuple(blur_mm / sp), mode="nearest")
    if noise_sd > 0:
        image += rng.standard_normal(vessels.shape, dtype=np.float32) * np.float32(noise_sd)
    return CT(image=image, liver=liver, body=body, tumours=tumour, vessels=vessels,
              spacing=tuple(spacing), seed=seed)


def _paint(levels: dict[str, float], **regions: np.ndarray) -> np.ndarray:
    """float32 image at ``air_hu``, then each region at its ``<name>_hu``, in order (the
    later on top)."""
    first = next(iter(regions.values()))
    image = np.full(first.shape, levels["air_hu"], dtype=np.float32)
    for name, region in regions.items():
        image[region] = levels[f"{name}_hu"]
    return image


def _check_levels(**levels) -> dict[str, float]:
    """The intensities (HU), each a finite number, by name."""
    return {name: check_finite(value, name) for name, value in levels.items()}


def _vessels_and_spacing(phantom_or_mask, spacing) -> tuple[np.ndarray, tuple]:
    """The vessel mask (a new bool array) and its spacing, from a phantom or a mask."""
    if isinstance(phantom_or_mask, Phantom):
        own = tuple(phantom_or_mask.spacing)
        if spacing is not None and tuple(check_spacing(spacing)) != own:
            raise ValueError(
                f"spacing: expected None or the phantom's spacing {own}, got {spacing!r}"
            )
        return np.array(phantom_or_mask.mask, dtype=bool, order="C"), own
    vessels = check_mask(phantom_or_mask, "phantom_or_mask")
    return vessels, check_spacing((1.0, 1.0, 1.0) if spacing is None else spacing)


def _body_and_liver(vessels: np.ndarray, sp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body (elliptic cylinder along z holding the vessels) and liver (ellipsoid around
    the vessels, inside a rim of body) masks; see :func:`render_ct`."""
    shape = vessels.shape
    extent = (np.asarray(shape) - 1) * sp
    centre = extent / 2.0
    semi = np.array([np.inf, 0.47 * (extent[1] + sp[1]), 0.47 * (extent[2] + sp[2])])
    box = bounding_box(vessels)
    if box is not None:
        # grow the body, keeping its aspect, until it holds every vessel voxel (+ 2 mm)
        _, vy, vx = np.nonzero(vessels)
        q = np.sqrt(((vy * sp[1] - centre[1]) / semi[1]) ** 2 + ((vx * sp[2] - centre[2]) / semi[2]) ** 2)
        grow = float(q.max()) + 2.0 / min(semi[1], semi[2])
        semi[1:] *= max(1.0, grow)
    body = _ellipsoid(shape, sp, centre, semi)
    if box is not None:
        v_lo = np.array([b.start for b in box]) * sp
        v_hi = np.array([b.stop - 1 for b in box]) * sp
        liver = _ellipsoid(shape, sp, (v_lo + v_hi) / 2, 1.25 * (v_hi - v_lo) / 2 + 3.0)
    else:
        liver = _ellipsoid(shape, sp, centre, 0.35 * (extent + sp))
    # keep a rim of body tissue around the liver
    liver &= _ellipsoid(shape, sp, centre, np.array([np.inf, 0.4 * (extent[1] + sp[1]),
                                                     0.4 * (extent[2] + sp[2])]))
    return body, liver


def _tumours(liver, vessels, sp, n_tumours, radius_range, rng) -> np.ndarray:
    """Hypodense balls (radii uniform in ``radius_range`` mm) centred in the liver,
    vessels excluded."""
    if not n_tumours:
        return np.zeros(vessels.shape, dtype=bool)
    where = np.flatnonzero(liver)
    if where.size == 0:
        raise ValueError(f"tumours: expected 0 when the liver region is empty, got {n_tumours}")
    centres = np.stack(np.unravel_index(rng.choice(where, n_tumours), vessels.shape), axis=1) * sp
    radii = rng.uniform(*radius_range, n_tumours)
    balls, _, _ = rasterize(vessels.shape, tuple(sp), np.ascontiguousarray(centres),
                            np.ascontiguousarray(centres), radii, radii,
                            np.ones(n_tumours, dtype=np.int32), False, 2)
    return balls & liver & ~vessels

"""The prepared grid and the way back: :class:`GridTransform`, :func:`plan_grid`, :func:`restore`.

A prepared case lives on a regular grid that is an axis-aligned zoom and shift of its
original voxel grid (no rotation: the original orientation is kept). Along each axis
``k`` (z, y, x), the centre of prepared voxel ``j`` sits at the *original index coordinate*

    ``i = origin[k] + j * step[k]``

(a real number; original voxel ``n`` covers ``[n - 0.5, n + 0.5]``). ``step`` is the size of a
prepared voxel in original voxels, so the prepared spacing is ``step * original_spacing``
(mm) and the prepared affine is ``original_affine @ diag(step, 1)`` shifted by ``origin``:
the affines follow :mod:`vesseltree.io` (array index ``(z, y, x, 1)`` -> RAS+ world mm).

Sampling (:func:`sample_grid`) treats the original volume as voxels filling
``[-0.5, N - 0.5]`` per axis: inside, values are interpolated (order 0 or 1) with the edge
voxels extended over their outer half; outside (a crop box larger than the volume, e.g. when
an isotropic grid is wider than the liver box), the value is ``cval``. :func:`restore` is the
inverse mapping, used to put a prediction back on the original grid.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

__all__ = ["GridTransform", "plan_grid", "sample_grid", "restore", "restore_mask"]

_FIELDS = ("original_shape", "original_spacing", "original_affine", "crop_lo", "crop_hi",
           "origin", "step", "shape")


def _tuple(values, kind, n: int, name: str) -> tuple:
    try:
        out = tuple(kind(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected {n} numbers, got {values!r}") from exc
    if len(out) != n:
        raise ValueError(f"{name}: expected {n} values, got {len(out)}")
    return out


@dataclass(frozen=True)
class GridTransform:
    """Everything needed to map an array between the original and the prepared grid.

    Attributes
    ----------
    original_shape : tuple of 3 int
        Shape (z, y, x) of the original volume.
    original_spacing : tuple of 3 float
        Original voxel size (mm).
    original_affine : tuple of 4 tuples of 4 float
        Original affine: index (z, y, x, 1) -> RAS+ world (x, y, z, 1) in mm.
    crop_lo, crop_hi : tuple of 3 int
        The crop box in original voxels (``lo`` inclusive, ``hi`` exclusive), before the
        grid was centred on it (informative: the grid itself is ``origin``/``step``/``shape``).
    origin : tuple of 3 float
        Original index coordinate of the centre of prepared voxel (0, 0, 0).
    step : tuple of 3 float
        Size of a prepared voxel in original voxels, per axis.
    shape : tuple of 3 int
        Prepared shape (D, H, W).
    """

    original_shape: tuple[int, int, int]
    original_spacing: tuple[float, float, float]
    original_affine: tuple[tuple[float, ...], ...]
    crop_lo: tuple[int, int, int]
    crop_hi: tuple[int, int, int]
    origin: tuple[float, float, float]
    step: tuple[float, float, float]
    shape: tuple[int, int, int]

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "original_shape", _tuple(self.original_shape, int, 3, "original_shape"))
        set_(self, "original_spacing", _tuple(self.original_spacing, float, 3, "original_spacing"))
        aff = np.asarray(self.original_affine, dtype=float)
        if aff.shape != (4, 4) or not np.isfinite(aff).all():
            raise ValueError(f"original_affine: expected a finite 4x4 matrix, got shape {aff.shape}")
        set_(self, "original_affine", tuple(tuple(float(v) for v in row) for row in aff))
        for name in ("crop_lo", "crop_hi", "shape"):
            set_(self, name, _tuple(getattr(self, name), int, 3, name))
        for name in ("origin", "step"):
            set_(self, name, _tuple(getattr(self, name), float, 3, name))
        if any(n < 1 for n in self.shape) or any(n < 1 for n in self.original_shape):
            raise ValueError(f"shape: expected positive sizes, got {self.shape} / {self.original_shape}")
        if not all(math.isfinite(s) and s > 0 for s in self.step + self.original_spacing):
            raise ValueError(f"step: expected finite positive values, got {self.step}")
        if not all(math.isfinite(o) for o in self.origin):
            raise ValueError(f"origin: expected finite values, got {self.origin}")

    # ------------------------------------------------------------------ geometry
    @property
    def spacing(self) -> tuple[float, float, float]:
        """Prepared voxel size (mm): ``step * original_spacing``."""
        return tuple(float(a * b) for a, b in zip(self.step, self.original_spacing))

    @property
    def affine(self) -> np.ndarray:
        """Prepared affine (4, 4): prepared index (z, y, x, 1) -> RAS+ world mm."""
        m = np.eye(4)
        m[:3, :3] = np.diag(self.step)
        m[:3, 3] = self.origin
        return np.asarray(self.original_affine) @ m

    def to_original(self, points) -> np.ndarray:
        """Prepared index coordinates (n, 3) -> original index coordinates (n, 3)."""
        p = np.asarray(points, dtype=float)
        return np.asarray(self.origin) + p * np.asarray(self.step)

    def to_prepared(self, points) -> np.ndarray:
        """Original index coordinates (n, 3) -> prepared index coordinates (n, 3)."""
        p = np.asarray(points, dtype=float)
        return (p - np.asarray(self.origin)) / np.asarray(self.step)

    # ------------------------------------------------------------------ plain types
    def to_dict(self) -> dict:
        """Plain JSON-able dict (lists and numbers)."""
        d = asdict(self)
        return {k: (list(map(list, v)) if k == "original_affine" else list(v)) for k, v in d.items()}

    @classmethod
    def from_dict(cls, data: dict) -> "GridTransform":
        """Inverse of :meth:`to_dict`; unknown or missing keys are an error naming them."""
        if not isinstance(data, dict):
            raise TypeError(f"transform: expected a dict, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_FIELDS))
        missing = sorted(set(_FIELDS) - set(data))
        if unknown or missing:
            raise ValueError(
                f"transform: unknown keys {unknown} / missing keys {missing}; "
                f"expected exactly {list(_FIELDS)}")
        return cls(**{k: data[k] for k in _FIELDS})


# ---------------------------------------------------------------------------- planning
def plan_grid(original_shape: Sequence[int], spacing: Sequence[float], affine,
              box: tuple[Sequence[int], Sequence[int]] | None = None, *,
              target_shape: Sequence[int] | None = None,
              target_spacing: Sequence[float] | None = None,
              isotropic: bool = True) -> GridTransform:
    """The prepared grid of a box of the original volume.

    Parameters
    ----------
    original_shape : 3 ints
        Shape (z, y, x) of the original volume.
    spacing : 3 floats
        Original voxel size (mm).
    affine : (4, 4) array_like
        Original affine (index -> RAS+ mm).
    box : (lo, hi), optional
        Crop box in original voxels (``hi`` exclusive); default the whole volume. It may
        reach outside the volume (the outside is padded when sampling).
    target_shape : 3 ints, optional
        Prepared shape (D, H, W). With ``isotropic`` the prepared voxels are cubes of the
        smallest size at which the box fits, and the grid is centred on the box (so it may
        extend past the box along some axes); otherwise each axis is zoomed on its own to
        fill the box exactly.
    target_spacing : 3 floats, optional
        Prepared voxel size (mm) instead of a shape (the shape is the box extent divided by
        it, rounded). Neither: the box is cropped, not resampled.
    isotropic : bool
        See ``target_shape``.

    Returns
    -------
    GridTransform
    """
    shape = np.asarray(_tuple(original_shape, int, 3, "original_shape"))
    sp = np.asarray(_tuple(spacing, float, 3, "spacing"))
    if box is None:
        lo, hi = np.zeros(3, dtype=int), shape.copy()
    else:
        lo = np.asarray(_tuple(box[0], int, 3, "box"))
        hi = np.asarray(_tuple(box[1], int, 3, "box"))
        if np.any(hi <= lo):
            raise ValueError(f"box: expected lo < hi on every axis, got {lo.tolist()}, {hi.tolist()}")
    if target_shape is not None and target_spacing is not None:
        raise ValueError("target_shape, target_spacing: give one of them (or neither), got both")
    extent = (hi - lo) * sp  # mm, voxel edges to voxel edges
    if target_shape is not None:
        n = np.asarray(_tuple(target_shape, int, 3, "target_shape"))
        if np.any(n < 1):
            raise ValueError(f"target_shape: expected positive sizes, got {n.tolist()}")
        out_sp = np.full(3, float(np.max(extent / n))) if isotropic else extent / n
    elif target_spacing is not None:
        out_sp = np.asarray(_tuple(target_spacing, float, 3, "target_spacing"))
        if not np.all(np.isfinite(out_sp) & (out_sp > 0)):
            raise ValueError(f"target_spacing: expected positive sizes (mm), got {out_sp.tolist()}")
        n = np.maximum(1, np.round(extent / out_sp)).astype(int)
    else:
        out_sp, n = sp.copy(), hi - lo
    step = out_sp / sp
    centre = (lo + hi - 1) / 2.0
    origin = centre - (n - 1) / 2.0 * step
    return GridTransform(tuple(shape), tuple(sp), np.asarray(affine, dtype=float), tuple(lo),
                         tuple(hi), tuple(origin), tuple(step), tuple(n))


# ---------------------------------------------------------------------------- sampling
def _axis_plan(origin: float, step: float, n_out: int, n_in: int, pad: int):
    """Sample coordinates of one axis: valid outputs, and the input range they read."""
    x = origin + step * np.arange(n_out)
    valid = (x >= -0.5) & (x <= n_in - 0.5)
    if not valid.any():
        return valid, 0, 0
    a = max(0, int(math.floor(x[valid].min())) - pad)
    b = min(n_in, int(math.ceil(x[valid].max())) + 1 + pad)
    return valid, a, b


def sample_grid(volume: np.ndarray, origin, step, shape, *, order: int = 1, cval: float = 0.0,
                sigma=None, dtype=np.float32) -> np.ndarray:
    """Sample ``volume`` on the grid ``i = origin + j * step`` (kernel: arrays in, array out).

    Parameters
    ----------
    volume : numpy.ndarray, shape (z, y, x)
        Input (not modified).
    origin, step : 3 floats
        The grid in input index coordinates (module docstring).
    shape : 3 ints
        Output shape.
    order : {0, 1}
        Nearest neighbour or trilinear.
    cval : float
        Value outside the input's extent ``[-0.5, N - 0.5]``.
    sigma : 3 floats, optional
        Gaussian pre-filter (input voxels) applied to the part of the input that is read
        (anti-aliasing before a downsampling).
    dtype : numpy dtype
        Output dtype.

    Returns
    -------
    numpy.ndarray, shape ``shape``
    """
    out = np.full(tuple(shape), cval, dtype=dtype)
    pad = 0 if sigma is None else int(math.ceil(4 * max(sigma))) + 1
    plans = [_axis_plan(o, s, n, m, pad) for o, s, n, m in zip(origin, step, shape, volume.shape)]
    if not all(p[0].any() for p in plans):
        return out
    sub = volume[tuple(slice(a, b) for _, a, b in plans)]
    if sigma is not None and any(s > 0 for s in sigma):
        sub = ndimage.gaussian_filter(sub.astype(np.float32), sigma=tuple(sigma), mode="nearest")
    # output block: the valid samples of each axis are contiguous
    j0 = [int(np.flatnonzero(p[0])[0]) for p in plans]
    j1 = [int(np.flatnonzero(p[0])[-1]) + 1 for p in plans]
    off = [o + s * a - b for o, s, a, b in zip(origin, step, j0, (p[1] for p in plans))]
    block = ndimage.affine_transform(
        sub, np.asarray(step, dtype=float), offset=np.asarray(off, dtype=float),
        output_shape=tuple(b - a for a, b in zip(j0, j1)), order=order, mode="nearest",
        prefilter=False, output=np.float32 if order else sub.dtype)
    out[tuple(slice(a, b) for a, b in zip(j0, j1))] = block
    return out


def _order(order) -> int:
    if order in (0, "nearest"):
        return 0
    if order in (1, "linear"):
        return 1
    raise ValueError(f"order: expected 1 / 'linear' or 0 / 'nearest', got {order!r}")


def restore(array, transform: GridTransform, *, order=1, cval: float = 0.0) -> np.ndarray:
    """Map an array on the prepared grid back onto the original grid.

    Parameters
    ----------
    array : array_like, shape (D, H, W) or (C, D, H, W)
        Values on the prepared grid (e.g. a probability map or a mask); not modified.
    transform : GridTransform
        The case's transform (``PreparedCase.transform``).
    order : {1, "linear", 0, "nearest"}
        Trilinear (output float32) or nearest neighbour (output of the input's dtype).
    cval : float
        Value of the original voxels outside the prepared grid (e.g. outside the crop).

    Returns
    -------
    numpy.ndarray, shape ``original_shape`` (with the leading C kept)
        The original affine is ``transform.original_affine``.

    Raises
    ------
    ValueError
        ``array``'s spatial shape differs from ``transform.shape``; bad ``order``.
    """
    if not isinstance(transform, GridTransform):
        raise TypeError(f"transform: expected a GridTransform, got {type(transform).__name__}")
    o = _order(order)
    arr = np.asarray(array)
    if arr.ndim not in (3, 4) or tuple(arr.shape[-3:]) != transform.shape:
        raise ValueError(
            f"array: expected shape {transform.shape} or (C, *{transform.shape}) (the prepared "
            f"grid), got {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8 if o == 0 else np.float32)
    inv_step = [1.0 / s for s in transform.step]
    inv_origin = [-o_ / s for o_, s in zip(transform.origin, transform.step)]
    dtype = np.float32 if o else arr.dtype

    def one(a):
        return sample_grid(a, inv_origin, inv_step, transform.original_shape, order=o,
                           cval=cval, dtype=dtype)

    if arr.ndim == 3:
        out = one(arr)
    else:
        out = np.stack([one(a) for a in arr])
    if np.asarray(array).dtype == bool and o == 0:
        out = out.astype(bool)
    return out


def restore_mask(mask, transform: GridTransform, *, threshold: float = 0.5) -> np.ndarray:
    """A binary mask (or probability map) on the prepared grid -> bool mask on the original grid.

    Trilinear interpolation of the values, then ``>= threshold`` (0.5: the surface halfway
    between an inside and an outside voxel).
    """
    t = float(threshold)
    if not 0.0 < t <= 1.0:
        raise ValueError(f"threshold: expected a number in (0, 1], got {threshold!r}")
    arr = np.asarray(mask)
    return restore(arr.astype(np.float32), transform, order=1) >= t

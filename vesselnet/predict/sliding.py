"""Sliding-window inference with Gaussian-weighted overlaps, and flip test-time augmentation.

A network trained on crops (or on a prepared grid smaller than the volume at hand) predicts a
large volume window by window; the windows overlap and their outputs are blended with a
Gaussian importance map that trusts each window's centre more than its rim, where the
network sees zero padding instead of the neighbouring anatomy (nnU-Net; MONAI's
``sliding_window_inference(mode="gaussian")``).

Our own implementation, not MONAI's: MONAI is a test-time peer only (``pip install .[dev]``)
and would be a heavy runtime dependency for ~150 lines; ours also

- spreads the windows evenly over each axis (``numpy.linspace`` of the start positions, as
  nnU-Net does) instead of a fixed step with a last window pushed back against the border,
  so no strip of the volume is covered by an extra, lop-sided window;
- pads a volume only up to the network's size divisor (``2**(levels-1)`` for the ResUNets),
  never up to the window: a volume that fits in one window is predicted whole, in one pass;
- puts every window start on a multiple of that divisor, so each window sees the pooling grid
  of the whole-volume pass and agrees with it away from its rim (a U-Net is equivariant only
  to such shifts);
- accumulates on a device of the caller's choice (``out_device``), so the windows can run on
  a GPU while a 512x512x129 probability map is summed in host memory;
- blends what the predictor returns, which :func:`probability_predictor` makes
  probabilities (sigmoid, or 1 - softmax background), so the blended map stays in [0, 1].

The weights are MONAI's and nnU-Net's: ``w(i) = prod_axes exp(-(i - (r-1)/2)**2 / (2 sigma**2))``
with ``sigma = sigma_scale * r`` (default 1/8 of the window edge), clamped below at
``max(min(w), 1e-3)`` so that the rim of a window still counts where no other window covers
it. When the window grid coincides with MONAI's (the volume minus the window is a multiple of
MONAI's step along every axis), both give the same result up to float rounding (tested).

Functions
---------
:func:`window_starts`        start indices along one axis
:func:`gaussian_importance`  the (r_z, r_y, r_x) weight map
:func:`sliding_window_inference`  the blending kernel, (B, C, D, H, W) in and out
:func:`flip_tta`             wraps a predictor: mean over mirrored inputs (test-time augmentation)
:func:`probability_predictor` a network -> a predictor of vessel probabilities (main decoder)
:func:`predict_volume`       friendly API: a network and a (z, y, x) array -> probability array
"""
from __future__ import annotations

import itertools
import math
import sys
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vesselnet._validation import check_choice, check_volume, describe
from vesseltree.validation import check_nonnegative_int

__all__ = [
    "window_starts",
    "gaussian_importance",
    "sliding_window_inference",
    "flip_tta",
    "probability_predictor",
    "predict_volume",
    "network_divisor",
]

Predictor = Callable[[torch.Tensor], torch.Tensor]
_PAD_MODES = ("constant", "replicate")
_MIN_WEIGHT = 1e-3


def window_starts(size: int, window: int, overlap: float, divisor: int = 1) -> list[int]:
    """Start indices of windows of ``window`` voxels covering ``size`` voxels.

    Parameters
    ----------
    size : int >= window
        Length of the axis; ``size - window`` must be a multiple of ``divisor``.
    window : int >= 1
        Window length.
    overlap : float in [0, 1)
        Least overlap between consecutive windows, as a fraction of ``window``.
    divisor : int >= 1
        Every start is a multiple of it. A U-Net with ``2**(levels-1)`` pooling is
        shift-equivariant only for such shifts, so aligned windows see the pooling grid of
        the whole-volume pass and agree with it away from their rims.

    Returns
    -------
    list of int
        Starts spread evenly from 0 to ``size - window`` (``numpy.linspace``, rounded to
        multiples of ``divisor``), as few as keep consecutive starts at most ``step`` apart,
        ``step = int(window * (1 - overlap))`` (MONAI's) rounded down to a multiple of
        ``divisor`` (at least ``divisor``).
    """
    if size <= window:
        return [0]
    if (size - window) % divisor:
        raise ValueError(f"size: {size} - window {window} must be a multiple of divisor {divisor}")
    units = (size - window) // divisor
    step = max(1, int(window * (1.0 - overlap)) // divisor)
    n = math.ceil(units / step) + 1
    return [divisor * int(round(s)) for s in np.linspace(0, units, n)]


def gaussian_importance(window: Sequence[int], sigma_scale: float = 0.125, *,
                        device=None, dtype=torch.float32) -> torch.Tensor:
    """Gaussian weight map of a window (the MONAI / nnU-Net formula).

    Parameters
    ----------
    window : 3 ints
        Window size (r_z, r_y, r_x).
    sigma_scale : float > 0
        sigma = ``sigma_scale * r`` along each axis.

    Returns
    -------
    Tensor, shape window
        ``prod exp(-(i - (r - 1) / 2)**2 / (2 sigma**2))``, clamped below at
        ``max(min, 1e-3)``.
    """
    if not (isinstance(sigma_scale, (int, float)) and math.isfinite(sigma_scale) and sigma_scale > 0):
        raise ValueError(f"sigma_scale: expected a positive number, got {describe(sigma_scale)}")
    w = None
    for axis, r in enumerate(window):
        x = torch.arange(r, dtype=torch.float64) - (r - 1) / 2.0
        g = torch.exp(-(x**2) / (2.0 * (sigma_scale * r) ** 2))
        shape = [1, 1, 1]
        shape[axis] = r
        g = g.reshape(shape)
        w = g if w is None else w * g
    w = torch.clamp(w, min=max(float(w.min()), _MIN_WEIGHT))
    return w.to(device=device, dtype=dtype)


def _check_roi(roi_size, name: str = "roi_size") -> tuple[int, int, int] | None:
    if roi_size is None:
        return None
    if isinstance(roi_size, (int, np.integer)) and not isinstance(roi_size, bool):
        roi_size = (roi_size,) * 3
    try:
        dims = tuple(roi_size)
    except TypeError:
        raise TypeError(f"{name}: expected None, an int or 3 ints (z, y, x), got {describe(roi_size)}") from None
    if len(dims) != 3 or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
                                 for d in dims):
        raise ValueError(f"{name}: expected 3 positive ints (z, y, x), got {describe(roi_size)}")
    return tuple(int(d) for d in dims)


def _round_up(n: int, divisor: int) -> int:
    return -(-n // divisor) * divisor


def _window_shape(padded, roi) -> tuple[int, ...]:
    """Window edge per axis: the roi, or the whole (padded) axis when it is shorter."""
    if roi is None:
        return tuple(padded)
    return tuple(min(r, n) for r, n in zip(roi, padded))


def _check_options(overlap, sigma_scale, batch_size, divisor, mode, pad_mode, roi):
    if not (isinstance(overlap, (int, float)) and not isinstance(overlap, bool) and 0 <= overlap < 1):
        raise ValueError(f"overlap: expected a number in [0, 1), got {describe(overlap)}")
    check_nonnegative_int(batch_size, "batch_size", minimum=1)
    divisor = check_nonnegative_int(divisor, "divisor", minimum=1)
    check_choice(mode, "mode", ("gaussian", "constant"))
    check_choice(pad_mode, "pad_mode", _PAD_MODES)
    if roi is not None and any(r % divisor for r in roi):
        raise ValueError(f"roi_size: {roi} must be divisible by the network's size divisor {divisor} along every axis")
    gaussian_importance((1, 1, 1), sigma_scale)  # validates sigma_scale


def sliding_window_inference(
    image: torch.Tensor,
    predictor: Predictor,
    roi_size: int | Sequence[int] | None = None,
    *,
    overlap: float = 0.5,
    batch_size: int = 1,
    mode: str = "gaussian",
    sigma_scale: float = 0.125,
    divisor: int = 1,
    pad_mode: str = "constant",
    pad_value: float = 0.0,
    device=None,
    out_device=None,
    progress: bool = False,
) -> torch.Tensor:
    """Predict a volume window by window and blend the overlaps.

    Parameters
    ----------
    image : Tensor, shape (B, C, D, H, W)
        Floating-point input.
    predictor : callable
        ``(N, C, d, h, w) -> (N, K, d, h, w)`` for a batch of windows (same spatial size).
    roi_size : int, 3 ints or None
        Window size (z, y, x), divisible by ``divisor``. None: the whole volume in one pass.
        Along an axis shorter than the window, the window is the whole axis (padded to a
        multiple of ``divisor``); a volume that fits in the window is thus predicted whole.
    overlap : float in [0, 1)
        Least overlap of consecutive windows (fraction of the window).
    batch_size : int >= 1
        Windows per predictor call.
    mode : {"gaussian", "constant"}
        Blending weights: Gaussian importance map, or a plain average.
    sigma_scale : float > 0
        Gaussian sigma as a fraction of the window edge.
    divisor : int >= 1
        The predictor needs spatial sizes divisible by it (``network_divisor(net)``).
    pad_mode : {"constant", "replicate"}
        Every axis is padded at its high end to a multiple of ``divisor`` (the whole-volume
        pass needs the same); the padding is cropped from the output.
    pad_value : float
        Value of ``"constant"`` padding.
    device : torch.device, optional
        Where the predictor runs (windows are moved there); default ``image.device``.
    out_device : torch.device, optional
        Where the output is accumulated; default ``image.device``.
    progress : bool
        A progress bar over the predictor calls (stderr).

    Returns
    -------
    Tensor, shape (B, K, D, H, W), float32
        The blended prediction, on ``out_device``.

    Raises
    ------
    TypeError, ValueError
        Naming the parameter at fault; ``predictor`` returning a wrong shape.
    """
    check_volume(image, "image")
    roi = _check_roi(roi_size)
    _check_options(overlap, sigma_scale, batch_size, divisor, mode, pad_mode, roi)
    device = image.device if device is None else torch.device(device)
    out_device = image.device if out_device is None else torch.device(out_device)
    spatial = tuple(int(s) for s in image.shape[2:])
    padded = tuple(_round_up(n, divisor) for n in spatial)
    window = _window_shape(padded, roi)
    image = _pad_high(image, spatial, padded, pad_mode, pad_value)
    starts = list(itertools.product(*(window_starts(n, w, overlap, divisor) for n, w in zip(padded, window))))
    weight = (gaussian_importance(window, sigma_scale, device=out_device) if mode == "gaussian"
              else torch.ones(window, device=out_device))
    jobs = [(b, s) for b in range(image.shape[0]) for s in starts]
    with torch.inference_mode():
        out = _accumulate(image, predictor, jobs, window, weight, padded, batch_size, device,
                          out_device, progress)
        out /= _weight_sum(starts, window, weight, padded)
    return out[(slice(None), slice(None)) + tuple(slice(0, n) for n in spatial)].clone()


def _pad_high(image: torch.Tensor, spatial, padded, pad_mode: str, pad_value: float) -> torch.Tensor:
    """``image`` padded at the high end of each axis from ``spatial`` to ``padded``."""
    if padded == spatial:
        return image
    pads = [p for n, q in zip(reversed(spatial), reversed(padded)) for p in (0, q - n)]
    if pad_mode == "constant":
        return F.pad(image, pads, mode="constant", value=float(pad_value))
    return F.pad(image, pads, mode=pad_mode)


def _window_slices(start, window) -> tuple[slice, ...]:
    return tuple(slice(a, a + w) for a, w in zip(start, window))


def _weight_sum(starts, window, weight: torch.Tensor, padded) -> torch.Tensor:
    """The sum of the windows' weights at each voxel of the padded volume."""
    wsum = torch.zeros(padded, device=weight.device)
    for s in starts:
        wsum[_window_slices(s, window)] += weight
    return wsum


def _check_output(y, n: int, window) -> None:
    if not isinstance(y, torch.Tensor) or y.ndim != 5 or y.shape[0] != n or tuple(y.shape[2:]) != window:
        raise ValueError(
            f"predictor: expected a (N, K, {', '.join(map(str, window))}) tensor for {n} "
            f"window(s), got {describe(y)}"
        )


def _accumulate(image, predictor, jobs, window, weight, padded, batch_size, device, out_device,
                progress) -> torch.Tensor:
    """The weighted sum of the predictions of the windows ``jobs`` ((batch item, start) pairs),
    ``batch_size`` windows per predictor call, shape (B, K) + ``padded`` on ``out_device``."""
    out = None
    batches = range(0, len(jobs), batch_size)
    bar = tqdm(batches, desc="windows", unit="batch", file=sys.stderr, disable=not progress, leave=False)
    for i in bar:
        chunk = jobs[i:i + batch_size]
        sls = [_window_slices(s, window) for _, s in chunk]
        x = torch.stack([image[b][(slice(None),) + sl] for (b, _), sl in zip(chunk, sls)]).to(device)
        y = predictor(x)
        _check_output(y, len(chunk), window)
        y = y.to(device=out_device, dtype=torch.float32)
        if out is None:
            out = torch.zeros((image.shape[0], y.shape[1]) + padded, device=out_device)
        for k, ((b, _), sl) in enumerate(zip(chunk, sls)):
            out[b][(slice(None),) + sl].addcmul_(y[k], weight)
    return out


def flip_tta(predictor: Predictor, axes: Sequence[int] = (0, 1, 2)) -> Predictor:
    """Test-time augmentation by mirroring: the mean over every subset of flipped axes.

    Parameters
    ----------
    predictor : callable
        ``(N, C, d, h, w) -> (N, K, d, h, w)``.
    axes : sequence of {0, 1, 2}
        Spatial axes (z, y, x) that may be flipped; ``2**len(axes)`` predictor calls per batch
        (identity included). The network's size divisor is flip-invariant.

    Returns
    -------
    callable
        Same signature, the mean of ``flip(predictor(flip(x)))`` over the subsets.
    """
    try:
        axes = tuple(axes)
    except TypeError:
        raise TypeError(f"axes: expected a sequence of spatial axes in {{0, 1, 2}}, got {describe(axes)}") from None
    if any(isinstance(a, bool) or a not in (0, 1, 2) for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"axes: expected distinct spatial axes in {{0, 1, 2}} (z, y, x), got {describe(axes)}")
    dims = [a + 2 for a in axes]
    subsets = [c for k in range(len(dims) + 1) for c in itertools.combinations(dims, k)]

    def tta(x: torch.Tensor) -> torch.Tensor:
        total = None
        for flip in subsets:
            y = predictor(torch.flip(x, flip) if flip else x)
            y = (torch.flip(y, flip) if flip else y).float()
            total = y if total is None else total + y
        return total / len(subsets)

    return tta


def _unwrap(model):
    """The network behind DDP / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def network_divisor(model) -> int:
    """Spatial size divisor of a vesselnet network: ``2**(levels - 1)`` (1 if unknown)."""
    levels = getattr(_unwrap(model), "levels", None)
    return 2 ** (int(levels) - 1) if levels else 1


def probability_predictor(model: torch.nn.Module, classes: bool = False) -> Predictor:
    """A predictor of vessel probabilities from the main decoder of ``model``.

    The model is used as it is (call ``model.eval()`` first: in eval mode the multi-task net
    runs ``E`` and ``D_0`` only). Main logits with one channel -> sigmoid; with K > 1 channels
    (the multi-class baseline: background + S scales) -> ``1 - softmax[:, 0]``, the
    probability of "any vessel scale", or with ``classes=True`` the K softmax probabilities
    (blended windows then keep the argmax decision of the multi-class net: vessel where a
    scale class beats the background, as the trainer's validation decides).

    Returns
    -------
    callable
        ``(N, C, d, h, w) -> (N, 1, d, h, w)`` float32 in [0, 1] (``(N, K, d, h, w)`` with
        ``classes`` and K > 1).
    """
    if not callable(model):
        raise TypeError(f"model: expected a torch.nn.Module, got {describe(model)}")

    def predict(x: torch.Tensor) -> torch.Tensor:
        logits = model(x)
        main = getattr(logits, "main", logits)  # a MultiTaskOutput when asked for all tasks
        main = main.float()
        if main.shape[1] == 1:
            return torch.sigmoid(main)
        probs = torch.softmax(main, dim=1)
        return probs if classes else 1.0 - probs[:, :1]

    return predict


def predict_volume(
    model: torch.nn.Module,
    image,
    roi_size: int | Sequence[int] | None = None,
    *,
    overlap: float = 0.5,
    batch_size: int = 1,
    tta: bool | Sequence[int] = False,
    device=None,
    pad_mode: str = "replicate",
    progress: bool = False,
    classes: bool = False,
) -> np.ndarray:
    """Vessel probability of one (z, y, x) volume with the main decoder of a trained network.

    Parameters
    ----------
    model : torch.nn.Module
        A vesselnet network; switched to eval mode for the call and back afterwards.
    image : array_like or Tensor, shape (D, H, W) or (C, D, H, W)
        The normalised image on the network's grid (as the training batches saw it).
    roi_size : int, 3 ints or None
        Sliding-window size (the training crop or prepared shape); None: whole volume.
    overlap, batch_size
        As in :func:`sliding_window_inference` (Gaussian blending).
    tta : bool or sequence of axes
        Flip test-time augmentation over all three axes (True) or the given ones.
    device : torch.device, optional
        Where the network runs (default: where its parameters are).
    pad_mode : str
        Padding of axes shorter than the size divisor (default: replicate the border).
    classes : bool
        Multi-class networks: return the K blended class probabilities.

    Returns
    -------
    numpy.ndarray, float32, shape (D, H, W)
        Probabilities in [0, 1]; ``image`` is not modified. With ``classes`` and a K-class
        network: shape (K, D, H, W).
    """
    if isinstance(image, torch.Tensor):
        x = image.detach()
    else:
        arr = np.asarray(image)
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise TypeError(f"image: expected a real numeric array, got dtype {arr.dtype}")
        x = torch.from_numpy(np.array(arr, dtype=np.float32))
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"image: expected a (D, H, W) or (C, D, H, W) volume, got {describe(x)}")
    x = x[None].float()
    if not torch.isfinite(x).all():
        raise ValueError("image: holds NaN or infinite values")
    if device is None:
        p = next(iter(model.parameters()), None)
        device = p.device if p is not None else torch.device("cpu")
    predictor = probability_predictor(model, classes=classes)
    if tta:
        predictor = flip_tta(predictor, (0, 1, 2) if tta is True else tta)
    was_training = model.training
    model.eval()
    try:
        out = sliding_window_inference(
            x, predictor, roi_size, overlap=overlap, batch_size=batch_size, divisor=network_divisor(model),
            pad_mode=pad_mode, device=device, out_device="cpu", progress=progress,
        )
    finally:
        model.train(was_training)
    return out[0].numpy() if out.shape[1] > 1 else out[0, 0].numpy()

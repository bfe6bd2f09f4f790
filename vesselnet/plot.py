"""Figures of an evaluation: the paper's Fig. 5 overlays and the per-scale recall bar chart.

- :func:`confusion_volume`: 0 background, 1 true positive, 2 false positive, 3 false negative.
- :func:`overlay_slices`: the prediction against the ground truth on a few slices, true
  positives, false positives and false negatives coloured (optionally over the CT).
- :func:`overlay_mip`: the same as a projection along each axis. A projected ray is coloured
  by the class most of its labelled voxels have (TP, FP or FN), ties going to the error (FN,
  then FP): a missed small vessel or a false-positive blob shows in full, and a large vessel
  whose rim alone is missed stays green instead of being painted over by its rim. (A plain
  MIP of the class volume would colour every such ray FN.)
- :func:`plot_scale_recall`: recall per vessel scale (scale 1 = smallest), mean +- std.
- :func:`save_case_figures`: the two overlays of one case, as written by
  ``vesselnet evaluate --figures``.

Colours: TP green, FP red, FN blue (:data:`COLORS`). Pixels are drawn with their physical
aspect ratio (``spacing``). matplotlib with the non-interactive Agg backend; never opens a
window; every figure is saved atomically when a path is given, removed from pyplot's registry
and returned.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from vesseltree._validation import check_spacing
from vesseltree.plot import _pyplot, _save  # one Agg backend set-up and one atomic writer

__all__ = [
    "COLORS",
    "confusion_volume",
    "overlay_slices",
    "overlay_mip",
    "plot_scale_recall",
    "save_case_figures",
]

#: colour of each class of :func:`confusion_volume` (index = class)
COLORS = {1: ("true positive", "#2ca02c"), 2: ("false positive", "#d62728"), 3: ("false negative", "#1f77b4")}
_AXES = ("z", "y", "x")




def _finish(fig, path):
    plt = _pyplot()
    if path is not None:
        _save(fig, path)
    plt.close(fig)
    return fig


def _cmap():
    from matplotlib.colors import ListedColormap

    return ListedColormap([(0, 0, 0, 0)] + [COLORS[k][1] for k in (1, 2, 3)])


def _legend(fig):
    from matplotlib.patches import Patch

    handles = [Patch(color=c, label=n) for n, c in (COLORS[k] for k in (1, 2, 3))]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False)


def _check_axis(axis) -> int:
    if isinstance(axis, bool) or axis not in (0, 1, 2):
        raise ValueError(f"axis: expected 0 (z), 1 (y) or 2 (x), got {axis!r}")
    return int(axis)


def confusion_volume(pred, gt) -> np.ndarray:
    """Class of every voxel: 0 background, 1 TP, 2 FP, 3 FN (uint8, shape of the masks)."""
    from vesselnet.metrics._common import check_pair

    p, g = check_pair(pred, gt)
    out = np.zeros(p.shape, np.uint8)
    out[p & g] = 1
    out[p & ~g] = 2
    out[~p & g] = 3
    return out


def _aspect(spacing, axis):
    rows, cols = [a for a in range(3) if a != axis]
    return spacing[rows] / spacing[cols]


def _crop_box(conf: np.ndarray, crop: bool, margin: int = 8) -> tuple[slice, slice, slice]:
    """Bounding box of the labelled voxels (+ ``margin``) when ``crop``, else everything."""
    full = (slice(None),) * 3
    if not crop:
        return full
    from vesselnet.metrics._common import bounding_box

    box = bounding_box(conf > 0, margin=margin)
    return full if box is None else box


def _pick_slices(conf: np.ndarray, axis: int, n: int) -> list[int]:
    """``n`` slices at the quantiles (k+1)/(n+1) of the labelled voxels along ``axis``."""
    other = tuple(a for a in range(3) if a != axis)
    counts = np.count_nonzero(conf, axis=other)
    if counts.sum() == 0:
        size = conf.shape[axis]
        return sorted({int(round((k + 1) * (size - 1) / (n + 1))) for k in range(n)})
    cum = np.cumsum(counts) / counts.sum()
    picks = [int(np.searchsorted(cum, (k + 1) / (n + 1))) for k in range(n)]
    return sorted(set(picks))


def overlay_slices(pred, gt, spacing=1.0, *, image=None, slices: Sequence[int] | None = None,
                   axis: int = 0, n_slices: int = 3, crop: bool = True, path=None,
                   title: str | None = None):
    """Fig. 5 on slices: TP / FP / FN coloured, optionally over a CT ``image``.

    Parameters
    ----------
    pred, gt : array_like, shape (z, y, x)
        Binary prediction and ground truth.
    spacing : float or 3 floats
        Voxel size (mm, z, y, x), for the aspect ratio.
    image : array_like, shape (z, y, x), optional
        Intensity volume drawn in grey below the overlay (e.g. the CT).
    slices : sequence of int, optional
        Slice indices along ``axis``; default ``n_slices`` slices spread over the vessels
        (quantiles of the labelled voxels).
    axis : {0, 1, 2}
        Axis the slices cut (0 = axial z slices).
    crop : bool, default True
        Show only the bounding box (+ 8 voxels) of the labelled voxels in the slice plane.
    path : path-like, optional
        Where to save the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    conf = confusion_volume(pred, gt)
    sp = check_spacing(spacing, "spacing")
    ax_ = _check_axis(axis)
    img = None
    if image is not None:
        img = np.asarray(image, dtype=np.float32)
        if img.shape != conf.shape:
            raise ValueError(f"image: expected shape {conf.shape} (that of the masks), got {img.shape}")
    if slices is None:
        from vesseltree._validation import check_positive_int

        idx = _pick_slices(conf, ax_, check_positive_int(n_slices, "n_slices"))
    else:
        idx = [int(s) for s in slices]
        bad = [s for s in idx if not 0 <= s < conf.shape[ax_]]
        if not idx or bad:
            raise ValueError(f"slices: expected indices in [0, {conf.shape[ax_]}) along axis {ax_}, got {list(slices)}")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(idx), figsize=(3.6 * len(idx), 4.0), squeeze=False)
    cmap = _cmap()
    box = list(_crop_box(conf, crop))
    box[ax_] = slice(None)
    box = tuple(box)
    for a, s in zip(axes[0], idx):
        cut = np.take(conf[box], s, axis=ax_)
        if img is not None:
            a.imshow(np.take(img[box], s, axis=ax_), cmap="gray", aspect=_aspect(sp, ax_), interpolation="nearest")
        else:
            a.imshow(np.zeros(cut.shape), cmap="gray", vmin=0, vmax=1, aspect=_aspect(sp, ax_))
        a.imshow(cut, cmap=cmap, vmin=0, vmax=3, aspect=_aspect(sp, ax_), interpolation="nearest")
        a.set_title(f"{_AXES[ax_]} = {s}")
        a.set_axis_off()
    _legend(fig)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def _majority_projection(conf: np.ndarray, axis: int) -> np.ndarray:
    """Per ray, the most frequent non-background class; ties to FN, then FP; 0 on empty rays."""
    counts = np.stack([np.count_nonzero(conf == k, axis=axis) for k in (3, 2, 1)])  # FN, FP, TP
    best = np.argmax(counts, axis=0)  # first maximum wins: FN before FP before TP
    out = np.array([3, 2, 1], np.uint8)[best]
    out[counts.sum(axis=0) == 0] = 0
    return out


def overlay_mip(pred, gt, spacing=1.0, *, axes: Sequence[int] = (0, 1, 2), crop: bool = True,
                path=None, title: str | None = None):
    """Fig. 5 as projections: each ray coloured by the majority class of its labelled voxels
    (ties to FN, then FP; module docstring), one panel per projection axis; ``crop`` keeps
    the bounding box (+ 8 voxels) of the labelled voxels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    conf = confusion_volume(pred, gt)
    sp = check_spacing(spacing, "spacing")
    axs = [_check_axis(a) for a in axes]
    if not axs:
        raise ValueError("axes: expected at least one of 0, 1, 2, got none")
    conf = conf[_crop_box(conf, crop)]
    plt = _pyplot()
    fig, panels = plt.subplots(1, len(axs), figsize=(3.6 * len(axs), 4.0), squeeze=False)
    cmap = _cmap()
    for a, ax_ in zip(panels[0], axs):
        mip = _majority_projection(conf, ax_)
        a.imshow(np.zeros(mip.shape), cmap="gray", vmin=0, vmax=1, aspect=_aspect(sp, ax_))
        a.imshow(mip, cmap=cmap, vmin=0, vmax=3, aspect=_aspect(sp, ax_), interpolation="nearest")
        a.set_title(f"projection along {_AXES[ax_]}")
        a.set_axis_off()
    _legend(fig)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_scale_recall(recall, std=None, *, path=None, title: str | None = None, ax=None):
    """Bar chart of the recall per vessel scale (in %), scale 1 = smallest vessels.

    Parameters
    ----------
    recall : array_like, shape (S,)
        Recall of each scale in [0, 1] (``nan`` = undefined, drawn as an empty slot).
    std : array_like, shape (S,), optional
        Standard deviations, drawn as error bars.
    ax : matplotlib.axes.Axes, optional
        Draw there instead of a new figure (then the figure is neither saved nor closed).

    Returns
    -------
    matplotlib.figure.Figure
    """
    r = np.asarray(recall, dtype=float)
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"recall: expected a 1D array of S values, got shape {r.shape}")
    if np.any((r[~np.isnan(r)] < 0) | (r[~np.isnan(r)] > 1)):
        raise ValueError(f"recall: expected values in [0, 1], got {r.tolist()}")
    e = None
    if std is not None:
        e = np.asarray(std, dtype=float)
        if e.shape != r.shape:
            raise ValueError(f"std: expected shape {r.shape} (that of recall), got {e.shape}")
        e = np.nan_to_num(e) * 100
    plt = _pyplot()
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(1.2 * r.size + 2.0, 3.2))
    else:
        fig = ax.figure
    x = np.arange(1, r.size + 1)
    ax.bar(x, np.nan_to_num(r) * 100, yerr=e, capsize=4, color="#4c72b0")
    ax.set_xticks(x, [f"s{k}" + (" (small)" if k == 1 else " (large)" if k == r.size else "") for k in x])
    ax.set_ylim(0, 112)
    ax.set_ylabel("recall (%)")
    ax.set_xlabel("vessel scale")
    top = np.nan_to_num(r) * 100 + (0 if e is None else e)
    for xi, v, t in zip(x, r, top):
        ax.text(xi, t + 1.5, "n/a" if np.isnan(v) else f"{v * 100:.1f}",
                ha="center", va="bottom", fontsize=8)
    if title:
        ax.set_title(title)
    return _finish(fig, path) if own else fig


def save_case_figures(pred, gt, spacing, out_dir, name: str, *, image=None) -> list[Path]:
    """Write ``<name>_slices.png`` and ``<name>_mip.png`` into ``out_dir``; returns the paths.

    ``name`` (a case id) is made a plain file name first
    (:func:`vesseltree.io.safe_output_name`: ``../../x`` becomes ``_.._.._x``), so the
    figures never land outside ``out_dir``; the figure titles keep it as given.
    """
    from vesseltree.io import safe_output_name

    out = Path(out_dir)
    stem = safe_output_name(str(name), default="case")
    paths = [out / f"{stem}_slices.png", out / f"{stem}_mip.png"]
    overlay_slices(pred, gt, spacing, image=image, path=paths[0], title=name)
    overlay_mip(pred, gt, spacing, path=paths[1], title=name)
    return paths

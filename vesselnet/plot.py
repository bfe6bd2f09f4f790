"""Figures of an evaluation: the paper's Fig. 5 overlays and the per-scale recall bar chart.

- :func:`confusion_volume`: 0 background, 1 true positive, 2 false positive, 3 false negative.
- :func:`overlay_slices`: the prediction against the ground truth on a few slices, true
  positives, false positives and false negatives coloured (optionally over the CT).
- :func:`overlay_mip`: the same as projections along each axis, four panels per axis: all
  classes with the errors drawn over the true positives (a missed small vessel or a
  false-positive blob always shows), then each class alone, so true positives behind an
  error (or behind a majority of another class) are never hidden.
- :func:`plot_scale_recall`: recall per vessel scale (scale 1 = smallest), mean +- std.
- :func:`save_case_figures`: the two overlays of one case, as written by
  ``vesselnet evaluate --figures``.

Colours: TP green, FP red, FN blue (:data:`COLORS`). Axes are in mm (voxel ``i`` centred at
``i * spacing``, so pixels keep their physical aspect ratio) and slices are titled with their
position in mm; a CT given as ``image`` is drawn in grey underneath. matplotlib with the non-interactive Agg backend; never opens a
window; every figure is saved atomically when a path is given, removed from pyplot's registry
and returned.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from vesseltree.validation import check_axis as _check_axis, check_spacing
from vesseltree.plot import pyplot_backend as _pyplot, save_figure as _save  # one Agg set-up, one atomic writer

__all__ = [
    "COLORS",
    "confusion_volume",
    "overlay_slices",
    "overlay_mip",
    "MIP_PANELS",
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


def _finish_overlay(fig, title: str | None, path):
    """Class legend under the panels, ``title`` above them, layout leaving room for both;
    then saved (when ``path``) and closed (:func:`_finish`)."""
    from matplotlib.patches import Patch

    handles = [Patch(color=c, label=n) for n, c in (COLORS[k] for k in (1, 2, 3))]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.5 / fig.get_figheight(), 1, 0.95 if title else 1))
    return _finish(fig, path)


def confusion_volume(pred, gt) -> np.ndarray:
    """Class of every voxel: 0 background, 1 TP, 2 FP, 3 FN (uint8, shape of the masks)."""
    from vesselnet.metrics._common import check_pair

    p, g = check_pair(pred, gt)
    out = np.zeros(p.shape, np.uint8)
    out[p & g] = 1
    out[p & ~g] = 2
    out[~p & g] = 3
    return out


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


def _extent(shape2d, spacing, axis, box) -> tuple[float, float, float, float]:
    """imshow extent (mm) of a 2D cut/projection across ``axis`` of the region ``box`` (3
    slices; their starts give the first row and column shown): voxel ``i`` centred at
    ``i * spacing``."""
    rows, cols = [a for a in range(3) if a != axis]
    r0, c0 = (box[rows].start or 0), (box[cols].start or 0)
    sr, sc = spacing[rows], spacing[cols]
    return ((c0 - 0.5) * sc, (c0 + shape2d[1] - 0.5) * sc,
            (r0 + shape2d[0] - 0.5) * sr, (r0 - 0.5) * sr)


def _mm_axes(a, axis: int) -> None:
    rows, cols = [k for k in range(3) if k != axis]
    a.set_xlabel(f"{_AXES[cols]} (mm)", fontsize=8)
    a.set_ylabel(f"{_AXES[rows]} (mm)", fontsize=8)
    a.tick_params(labelsize=7)


def _window(img: np.ndarray) -> tuple[float, float]:
    """Grey levels of the image: its 1st to 99th percentile (a soft-tissue window on CT)."""
    finite = img[np.isfinite(img)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1.0, 99.0])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def _check_image(image, shape):
    if image is None:
        return None
    img = np.asarray(image, dtype=np.float32)
    if img.shape != shape:
        raise ValueError(f"image: expected shape {shape} (that of the masks), got {img.shape}")
    return img


def overlay_slices(pred, gt, spacing=1.0, *, image=None, slices: Sequence[int] | None = None,
                   axis: int = 0, n_slices: int = 3, crop: bool = True, path=None,
                   title: str | None = None):
    """Fig. 5 on slices: TP / FP / FN coloured, optionally over a CT ``image``.

    Axes in mm (voxel ``i`` centred at ``i * spacing``), each slice titled with its position
    in mm along ``axis`` and its index.

    Parameters
    ----------
    pred, gt : array_like, shape (z, y, x)
        Binary prediction and ground truth.
    spacing : float or 3 floats
        Voxel size (mm, z, y, x), for the aspect ratio and the mm axes.
    image : array_like, shape (z, y, x), optional
        Intensity volume drawn in grey below the overlay (e.g. the CT; grey levels from its
        1st to 99th percentile in the shown region).
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
    img = _check_image(image, conf.shape)
    if slices is None:
        from vesseltree.validation import check_positive_int

        idx = _pick_slices(conf, ax_, check_positive_int(n_slices, "n_slices"))
    else:
        idx = [int(s) for s in slices]
        bad = [s for s in idx if not 0 <= s < conf.shape[ax_]]
        if not idx or bad:
            raise ValueError(f"slices: expected indices in [0, {conf.shape[ax_]}) along axis {ax_}, got {list(slices)}")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(idx), figsize=(3.8 * len(idx), 4.3), squeeze=False)
    cmap = _cmap()
    box = list(_crop_box(conf, crop))
    box[ax_] = slice(None)
    box = tuple(box)
    window = _window(img[box]) if img is not None else None
    for a, s in zip(axes[0], idx):
        cut = np.take(conf[box], s, axis=ax_)
        ext = _extent(cut.shape, sp, ax_, box)
        if img is not None:
            a.imshow(np.take(img[box], s, axis=ax_), cmap="gray", vmin=window[0], vmax=window[1],
                     extent=ext, interpolation="nearest")
        else:
            a.imshow(np.zeros(cut.shape), cmap="gray", vmin=0, vmax=1, extent=ext)
        a.imshow(cut, cmap=cmap, vmin=0, vmax=3, extent=ext, interpolation="nearest")
        a.set_title(f"{_AXES[ax_]} = {s * sp[ax_]:.1f} mm (slice {s})", fontsize=9)
        _mm_axes(a, ax_)
    return _finish_overlay(fig, title, path)


def _error_first_projection(conf: np.ndarray, axis: int) -> np.ndarray:
    """Per ray: FN if it crosses a false negative, else FP if a false positive, else TP if a
    true positive, else 0 (errors drawn over the true positives)."""
    out = np.zeros([n for k, n in enumerate(conf.shape) if k != axis], np.uint8)
    for k in (1, 2, 3):  # later classes paint over earlier ones
        out[np.any(conf == k, axis=axis)] = k
    return out


#: panels of :func:`overlay_mip`, one row per projection axis
MIP_PANELS = ("all (errors over TP)", "true positives", "false positives", "false negatives")


def overlay_mip(pred, gt, spacing=1.0, *, axes: Sequence[int] = (0, 1, 2), crop: bool = True,
                image=None, path=None, title: str | None = None):
    """Fig. 5 as projections, so that no class hides another.

    One row per projection axis, four panels (:data:`MIP_PANELS`): all classes with the
    errors drawn over the true positives (a ray crossing a false negative is blue, else one
    crossing a false positive red, else green), then the projection of each class alone
    (true positives, false positives, false negatives), so true positives behind an error
    stay visible in their own panel. Under the classes: the mean projection of ``image``
    (e.g. the CT) when given, else a light grey silhouette of prediction and ground truth.
    Axes in mm; ``crop`` keeps the bounding box (+ 8 voxels) of the labelled voxels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    conf = confusion_volume(pred, gt)
    sp = check_spacing(spacing, "spacing")
    axs = [_check_axis(a) for a in axes]
    if not axs:
        raise ValueError("axes: expected at least one of 0, 1, 2, got none")
    img = _check_image(image, conf.shape)
    box = _crop_box(conf, crop)
    conf = conf[box]
    img = img[box] if img is not None else None
    plt = _pyplot()
    fig, panels = plt.subplots(len(axs), len(MIP_PANELS), squeeze=False,
                               figsize=(3.3 * len(MIP_PANELS), 3.4 * len(axs) + 0.6))
    cmap = _cmap()
    for row, ax_ in zip(panels, axs):
        labelled = np.any(conf > 0, axis=ax_)
        ext = _extent(labelled.shape, sp, ax_, box)
        if img is not None:
            under = img.mean(axis=ax_)
            lo, hi = _window(under)
        else:
            under, lo, hi = np.where(labelled, 0.15, 0.0), 0.0, 1.0
        layers = [_error_first_projection(conf, ax_)]
        layers += [np.where(np.any(conf == k, axis=ax_), k, 0).astype(np.uint8) for k in (1, 2, 3)]
        for a, layer, name in zip(row, layers, MIP_PANELS):
            a.imshow(under, cmap="gray" if img is not None else "Greys", vmin=lo, vmax=hi,
                     extent=ext, interpolation="nearest")
            a.imshow(np.ma.masked_equal(layer, 0), cmap=cmap, vmin=0, vmax=3, extent=ext,
                     interpolation="nearest")
            a.set_title(f"{name}, along {_AXES[ax_]}", fontsize=9)
            _mm_axes(a, ax_)
    return _finish_overlay(fig, title, path)


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
    overlay_mip(pred, gt, spacing, image=image, path=paths[1], title=name)
    return paths

"""Figures of the morphometry: branch-radius letter-value plot and maximum-intensity projections.

- :func:`letter_value_plot`: distribution of branch radii, one box per volume (the paper's
  Fig. 4, a letter-value or "boxen" plot, Hofmann, Wickham & Kafadar 2017, via seaborn).
- :func:`scale_mip`: maximum-intensity projection of the multi-class scale volume (0 background,
  1..S, scale 1 = smallest vessels), each projected ray coloured by the **largest** scale it
  crosses (paper Fig. 2b). Taking the maximum is the natural MIP of a label volume where larger
  labels mean larger vessels: the big trunks stay visible in front of the small branches they
  hide, and a ray shows scale s only if no larger vessel lies on it.
- :func:`radius_mip`: maximum-intensity projection of a per-voxel radius volume (mm), with a
  colour bar on a log scale (default), so small vessels stay readable next to a large trunk.

Every function saves the figure (format from the extension, written atomically), closes it
from pyplot's registry and returns it. Pixels are drawn with their physical aspect ratio
(from ``spacing``). Uses the non-interactive Agg backend; never opens a window.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from vesseltree._validation import check_axis as _check_axis, check_spacing

__all__ = ["letter_value_plot", "scale_mip", "radius_mip"]

_AXIS_NAMES = ("z", "y", "x")


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    from vesseltree.io import atomic_write

    p = Path(path)
    fmt = p.suffix.lstrip(".").lower() or "png"
    with atomic_write(p) as tmp:
        fig.savefig(tmp, format=fmt, dpi=fig.dpi, bbox_inches="tight")
    return p


def letter_value_plot(
    radii_by_volume: Mapping[str, Sequence[float]],
    path,
    *,
    unit: str = "mm",
    title: str | None = "Branch radii per volume",
    figsize: tuple[float, float] | None = None,
    xlabel: str = "volume",
):
    """Letter-value plot of branch radii, one box per volume (paper Fig. 4).

    Parameters
    ----------
    radii_by_volume : mapping of str to array_like
        Volume name -> branch radii (``VesselTree.branches["radius_mm"]``). Volumes keep the
        mapping's order. Non-finite radii are dropped; a volume without radii gets an empty
        slot (its name stays on the axis).
    path : str or path-like
        Output image (format from the extension: png, pdf, svg...).
    unit : str
        Unit shown on the radius axis.
    title : str, optional
        Figure title.
    figsize : (float, float), optional
        Default grows with the number of volumes.
    xlabel : str
        Label of the volume axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(radii_by_volume, Mapping) or len(radii_by_volume) == 0:
        raise ValueError(
            "radii_by_volume: expected a non-empty mapping volume name -> radii, got "
            f"{type(radii_by_volume).__name__} of length {len(radii_by_volume) if hasattr(radii_by_volume, '__len__') else '?'}"
        )
    import pandas as pd
    import seaborn as sns

    plt = _pyplot()
    names, values = [], []
    order = [str(k) for k in radii_by_volume]
    if len(set(order)) != len(order):
        raise ValueError(f"radii_by_volume: volume names must be distinct as strings, got {order}")
    for name, radii in radii_by_volume.items():
        r = np.asarray(radii, dtype=float).ravel()
        r = r[np.isfinite(r)]
        if (r < 0).any():
            raise ValueError(f"radii_by_volume[{name!r}]: radii must be >= 0, got min {r.min()}")
        names.extend([str(name)] * r.size)
        values.append(r)
    df = pd.DataFrame({"volume": names, "radius": np.concatenate(values) if values else []})
    n = len(order)
    fig, ax = plt.subplots(figsize=figsize or (max(4.0, 0.55 * n + 2.0), 4.0), dpi=120)
    if len(df):
        sns.boxenplot(data=df, x="volume", y="radius", order=order, ax=ax, color="#4c72b0")
    ax.set_xticks(range(n))
    ax.set_xticklabels(order, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"branch radius ({unit})")
    if title:
        ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return fig


def _projection(volume: np.ndarray, spacing, axis: int, crop: bool, margin_mm: float):
    """Max projection along ``axis`` (NaN ignored), optionally cropped to the part > 0 plus a
    margin.

    Returns the 2D image, the two kept axes (rows, cols) and an imshow extent in mm
    (left, right, bottom, top) placing pixel centres at ``index * spacing``.
    """
    rows_ax, cols_ax = [a for a in range(3) if a != axis]
    if volume.size and volume.shape[axis]:
        proj = np.fmax.reduce(volume, axis=axis)
    else:
        proj = np.zeros([s for a, s in enumerate(volume.shape) if a != axis], dtype=volume.dtype)
    r0, r1, c0, c1 = 0, proj.shape[0], 0, proj.shape[1]
    if crop and proj.size and (proj > 0).any():
        rr = np.flatnonzero((proj > 0).any(axis=1))
        cc = np.flatnonzero((proj > 0).any(axis=0))
        mr = int(np.ceil(margin_mm / spacing[rows_ax]))
        mc = int(np.ceil(margin_mm / spacing[cols_ax]))
        r0, r1 = max(rr[0] - mr, 0), min(rr[-1] + 1 + mr, proj.shape[0])
        c0, c1 = max(cc[0] - mc, 0), min(cc[-1] + 1 + mc, proj.shape[1])
        proj = proj[r0:r1, c0:c1]
    sr, sc = spacing[rows_ax], spacing[cols_ax]
    extent = ((c0 - 0.5) * sc, (c1 - 0.5) * sc, (r1 - 0.5) * sr, (r0 - 0.5) * sr)
    return proj, (rows_ax, cols_ax), extent


def _figure_for(extent, extra_width: float):
    plt = _pyplot()
    w_mm = abs(extent[1] - extent[0])
    h_mm = abs(extent[2] - extent[3])
    scale = 6.0 / max(h_mm, w_mm, 1e-9)
    return plt.subplots(figsize=(max(2.5, w_mm * scale) + extra_width, max(2.5, h_mm * scale)), dpi=120)


def scale_mip(
    scale_labels,
    path,
    *,
    axis: int = 0,
    spacing=(1.0, 1.0, 1.0),
    n_scales: int | None = None,
    title: str | None = None,
    cmap: str = "viridis",
    crop: bool = True,
    margin_mm: float = 5.0,
):
    """Maximum-intensity projection of a scale label volume, coloured by scale (paper Fig. 2b).

    Each ray along ``axis`` takes the largest scale it crosses (module docstring).

    Parameters
    ----------
    scale_labels : array_like of int, shape (z, y, x)
        0 = background, 1..S = scale (1 = smallest vessels), e.g.
        ``VesselTree.scale_labels()``.
    path : str or path-like
        Output image.
    axis : {0, 1, 2}
        Projection axis (0 = z: axial view).
    spacing : float or 3 floats
        Voxel size (mm, z, y, x): pixels keep their physical aspect ratio.
    n_scales : int, optional
        S; default: the largest label present (at least 1).
    title : str, optional
    cmap : str
        Matplotlib colormap sampled at S evenly spaced colours for scales 1..S.
    crop : bool
        Show only the vessels' bounding box plus ``margin_mm`` (axes keep the volume's mm
        coordinates, voxel ``i`` centred at ``i * spacing``).
    margin_mm : float

    Returns
    -------
    matplotlib.figure.Figure
    """
    lab = _check_scale_labels(scale_labels)
    ax_ = _check_axis(axis)
    sp = check_spacing(spacing, "spacing")
    S = _n_scales(lab, n_scales)
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    plt = _pyplot()
    proj, (rows_ax, cols_ax), extent = _projection(lab, sp, ax_, crop, margin_mm)
    base = colormaps[cmap]
    colours = [(1.0, 1.0, 1.0, 1.0)] + [base(v) for v in np.linspace(0.0, 0.9, S)]
    cm = ListedColormap(colours)
    norm = BoundaryNorm(np.arange(-0.5, S + 1.5), cm.N)
    fig, ax = _figure_for(extent, 1.6)
    ax.imshow(proj, cmap=cm, norm=norm, extent=extent, interpolation="nearest", aspect="equal")
    ax.set_xlabel(f"{_AXIS_NAMES[cols_ax]} (mm)")
    ax.set_ylabel(f"{_AXIS_NAMES[rows_ax]} (mm)")
    names = {1: "small"} if S > 1 else {}
    if S >= 2:
        names[S] = "large"
    handles = [
        Patch(color=colours[s], label=f"scale {s}" + (f" ({names[s]})" if s in names else ""))
        for s in range(1, S + 1)
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.set_title(title or f"largest scale along {_AXIS_NAMES[ax_]}")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return fig


def _check_scale_labels(scale_labels) -> np.ndarray:
    """``scale_labels`` as an array, checked: 3D, integers, none negative."""
    lab = np.asarray(scale_labels)
    if lab.ndim != 3:
        raise ValueError(f"scale_labels: expected a 3D array (z, y, x), got shape {lab.shape}")
    if lab.dtype == bool or not np.issubdtype(lab.dtype, np.integer):
        raise TypeError(f"scale_labels: expected integer labels 0..S, got dtype {lab.dtype}")
    if lab.size and lab.min() < 0:
        raise ValueError(f"scale_labels: expected labels >= 0, got {int(lab.min())}")
    return lab


def _n_scales(lab: np.ndarray, n_scales) -> int:
    """S of a scale MIP: ``n_scales``, at least the largest label; default that label (>= 1)."""
    top = int(lab.max()) if lab.size else 0
    S = max(top, 1) if n_scales is None else int(n_scales)
    if S < max(top, 1):
        raise ValueError(f"n_scales: expected >= the largest label {top}, got {n_scales}")
    return S


def radius_mip(
    radius,
    path,
    *,
    axis: int = 0,
    spacing=(1.0, 1.0, 1.0),
    unit: str = "mm",
    title: str | None = None,
    cmap: str = "magma",
    crop: bool = True,
    margin_mm: float = 5.0,
    color_scale: str = "log",
):
    """Maximum-intensity projection of a per-voxel radius volume (e.g. each vessel voxel given
    its branch's radius), with a colour bar. Voxels <= 0 or NaN count as background.

    Parameters
    ----------
    radius : array_like of float, shape (z, y, x)
    path : str or path-like
    axis : {0, 1, 2}
    spacing : float or 3 floats
        Voxel size (mm, z, y, x) for the physical aspect ratio.
    unit, title, cmap : str
    crop : bool
        Show only the vessels' bounding box plus ``margin_mm`` (see :func:`scale_mip`).
    margin_mm : float
    color_scale : {"log", "linear"}
        ``"log"`` (default): colours spread evenly over the ratio of radii, from the smallest
        shown radius to the largest, so 0.5 and 1 mm vessels differ as much as 4 and 8 mm
        ones (with a linear scale up to an 8 mm trunk, every vessel under 1.5 mm gets the
        darkest fifth of the colour map). ``"linear"``: 0 to the largest radius.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if color_scale not in ("log", "linear"):
        raise ValueError(f"color_scale: expected 'log' or 'linear', got {color_scale!r}")
    vol = np.asarray(radius)
    if vol.dtype == bool or not np.issubdtype(vol.dtype, np.number):
        raise TypeError(f"radius: expected a numeric array, got dtype {vol.dtype}")
    if not np.issubdtype(vol.dtype, np.floating):
        vol = vol.astype(np.float32)
    if vol.ndim != 3:
        raise ValueError(f"radius: expected a 3D array (z, y, x), got shape {vol.shape}")
    ax_ = _check_axis(axis)
    sp = check_spacing(spacing, "spacing")
    plt = _pyplot()
    proj, (rows_ax, cols_ax), extent = _projection(vol, sp, ax_, crop, margin_mm)
    proj = np.where(np.isfinite(proj) & (proj > 0), proj, 0.0)  # NaN-only and inf rays: background
    shown = np.ma.masked_less_equal(proj, 0.0)
    fig, ax = _figure_for(extent, 1.4)
    ax.set_facecolor("white")
    vmax = float(proj.max()) if proj.size and proj.max() > 0 else 1.0
    norm = _radius_norm(proj, vmax, color_scale)
    im = ax.imshow(shown, cmap=cmap, norm=norm, extent=extent,
                   interpolation="nearest", aspect="equal")
    bar = fig.colorbar(im, ax=ax, label=f"radius ({unit})", fraction=0.046, pad=0.04)
    if color_scale == "log":
        ticks = [t for t in _NICE_TICKS if norm.vmin <= t <= norm.vmax] or [norm.vmin, norm.vmax]
        bar.set_ticks(ticks)
        bar.set_ticklabels([f"{t:g}" for t in ticks])
        bar.ax.minorticks_off()
    ax.set_xlabel(f"{_AXIS_NAMES[cols_ax]} (mm)")
    ax.set_ylabel(f"{_AXIS_NAMES[rows_ax]} (mm)")
    ax.set_title(title or f"maximum radius along {_AXIS_NAMES[ax_]}")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return fig


def pyplot_backend():
    """``matplotlib.pyplot`` with the non-interactive Agg backend (figures are written to
    files, never shown): the one set-up shared by every figure of vesseltree and vesselnet.

    Returns
    -------
    module
        ``matplotlib.pyplot``.
    """
    return _pyplot()


def save_figure(fig, path) -> Path:
    """Write a figure atomically (temporary file, then ``os.replace``).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike
        Output file; its suffix sets the format (default PNG).

    Returns
    -------
    pathlib.Path
    """
    return _save(fig, path)


__all__ += ["pyplot_backend", "save_figure"]


# colour-bar ticks of the log scale (mm)
_NICE_TICKS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def _radius_norm(proj: np.ndarray, vmax: float, color_scale: str):
    """Colour normalisation of :func:`radius_mip`: log from the smallest shown radius (at
    least ``vmax / 1000``) to ``vmax``, or linear from 0."""
    from matplotlib.colors import LogNorm, Normalize

    if color_scale == "linear":
        return Normalize(vmin=0.0, vmax=vmax)
    pos = proj[proj > 0]
    vmin = max(float(pos.min()) if pos.size else vmax / 10.0, vmax / 1000.0)
    if vmin >= vmax:  # one radius only: a decade around it
        vmin = vmax / 10.0
    return LogNorm(vmin=vmin, vmax=vmax)

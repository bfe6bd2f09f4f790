"""A figure per prepared case to glance at: mid slice of image, vessel and scale targets."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .preprocess import PreparedCase

__all__ = ["case_figure"]

# scale 1 (smallest) .. S: light to dark, background transparent
_SCALE_COLOURS = ["#fdae61", "#d7191c", "#2c7bb6", "#1a9641", "#7b3294", "#008837"]


def case_figure(case: PreparedCase, path, *, dpi: int = 80) -> Path:
    """Write a PNG: the mid axial slice (z = D // 2) of the image, with the vessel target and
    the scale targets over it, and a maximum-intensity projection of the scales along z.

    Parameters
    ----------
    case : PreparedCase
    path : path-like
        Output PNG (written atomically; folders created).
    dpi : int
        Resolution.

    Returns
    -------
    pathlib.Path
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    from vesseltree.io import atomic_write

    img = case.image[0]
    z = img.shape[0] // 2
    panels = 2 if case.vessel is None else 4
    fig = Figure(figsize=(3.2 * panels, 3.4), dpi=dpi)
    axes = fig.subplots(1, panels)
    axes = np.atleast_1d(axes)
    sp = case.spacing
    extent = (0, img.shape[2] * sp[2], img.shape[1] * sp[1], 0)
    axes[0].imshow(img[z], cmap="gray", extent=extent)
    axes[0].set_title(f"image, z = {z}")
    if case.vessel is None:
        axes[1].imshow(img.max(axis=0), cmap="gray", extent=extent)
        axes[1].set_title("image MIP")
    else:
        s = case.scales.shape[0] if case.scales is not None else 0
        cmap = ListedColormap(_SCALE_COLOURS[:max(s, 1)])
        lab = (np.argmax(case.scales, axis=0) + 1) * case.vessel[0] if s else case.vessel[0]
        axes[1].imshow(img[z], cmap="gray", extent=extent)
        axes[1].imshow(np.ma.masked_equal(case.vessel[0][z], 0), cmap=ListedColormap(["#ff3030"]),
                       extent=extent, alpha=0.8, interpolation="nearest")
        axes[1].set_title("vessel target")
        axes[2].imshow(img[z], cmap="gray", extent=extent)
        axes[2].imshow(np.ma.masked_equal(lab[z], 0), cmap=cmap, vmin=0.5, vmax=max(s, 1) + 0.5,
                       extent=extent, interpolation="nearest")
        axes[2].set_title(f"scales 1..{s} (1 = smallest)")
        axes[3].imshow(np.ma.masked_equal(lab.max(axis=0), 0), cmap=cmap, vmin=0.5,
                       vmax=max(s, 1) + 0.5, extent=extent, interpolation="nearest")
        axes[3].set_facecolor("black")
        axes[3].set_title("scales, MIP along z")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    flags = f"  flags: {', '.join(case.flags)}" if case.flags else ""
    fig.suptitle(f"{case.case_id}: {tuple(img.shape)} voxels of "
                 f"{'x'.join(f'{v:.3g}' for v in sp)} mm{flags}", fontsize=9)
    fig.tight_layout()
    p = Path(path)
    with atomic_write(p, ".png") as tmp:
        fig.savefig(tmp, format="png")
    return p

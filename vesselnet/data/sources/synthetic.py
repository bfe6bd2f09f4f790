"""Synthetic CT cases: seeded vessel phantoms rendered as CT (no download, any number).

Case ``k`` (id ``synthetic_<k>``) is :func:`vesseltree.synthetic.make_phantom` with seed
``seed + k``, rendered by :func:`vesseltree.synthetic.render_ct` with the same seed: vessels
brighter than a liver-like parenchyma, partial volume, noise, optional hypodense tumours. The
liver mask is the renderer's liver region; the vessel mask is the phantom's. The thinnest
vessels are about one voxel across (``min_radius`` = 0.6 x the largest voxel size by default).
"""
from __future__ import annotations

import numpy as np

from ..case import Case, affine_from_spacing
from .base import Source

__all__ = ["SyntheticSource"]


class SyntheticSource(Source):
    """``n_cases`` seeded phantoms with CT.

    Parameters
    ----------
    n_cases : int
        Number of cases (>= 1).
    shape : 3 ints
        Volume shape (z, y, x).
    spacing : 3 floats
        Voxel size (mm).
    seed : int
        Seed of case 0 (case k uses ``seed + k``).
    min_radius : float, optional
        Thinnest vessel radius (mm); default 0.6 x the largest voxel size.
    depth : int
        Bifurcation generations of :func:`~vesseltree.synthetic.make_phantom`.
    tumours : int
        Hypodense tumour balls per case.
    noise_sd : float
        CT noise (HU).
    """

    def __init__(self, n_cases: int = 4, shape=(64, 64, 64), spacing=(1.0, 1.0, 1.0), seed: int = 0,
                 *, min_radius: float | None = None, depth: int = 7, tumours: int = 0,
                 noise_sd: float = 12.0):
        from vesseltree.validation import as_shape3, check_nonnegative_int, check_spacing

        self.n_cases = check_nonnegative_int(n_cases, "n_cases", minimum=1)
        self.shape = as_shape3(shape, "shape")
        self.spacing = check_spacing(spacing, "spacing")
        self.seed = check_nonnegative_int(seed, "seed")
        self.min_radius = (0.6 * max(self.spacing) if min_radius is None
                           else float(min_radius))
        if not np.isfinite(self.min_radius) or self.min_radius <= 0:
            raise ValueError(f"min_radius: expected a positive radius (mm), got {min_radius!r}")
        self.depth = check_nonnegative_int(depth, "depth")
        self.tumours = check_nonnegative_int(tumours, "tumours")
        self.noise_sd = float(noise_sd)
        width = max(3, len(str(self.n_cases - 1)))
        self.case_ids = [f"synthetic_{k:0{width}d}" for k in range(self.n_cases)]

    def _options(self) -> dict:
        return {"shape": list(self.shape), "spacing": list(self.spacing),
                "min_radius": self.min_radius, "depth": self.depth, "tumours": self.tumours,
                "noise_sd": self.noise_sd}

    def record(self) -> dict:
        import vesseltree

        return {"kind": "synthetic", "n_cases": self.n_cases, "seed": self.seed,
                **self._options(), "vesseltree": vesseltree.__version__}

    def case_record(self, case_id: str) -> dict:
        import vesseltree

        k = self.case_ids.index(self._check_id(case_id))
        return {"kind": "synthetic", "case_id": case_id, "seed": self.seed + k,
                **self._options(), "vesseltree": vesseltree.__version__}

    def load(self, case_id: str) -> Case:
        from vesseltree.synthetic import make_phantom, render_ct

        rec = self.case_record(case_id)
        seed = rec["seed"]
        phantom = make_phantom(self.shape, self.spacing, seed=seed, min_radius=self.min_radius,
                               depth=self.depth)
        ct = render_ct(phantom, seed=seed, tumours=self.tumours, noise_sd=self.noise_sd)
        return Case(case_id, ct.image, phantom.mask, ct.liver, tuple(self.spacing),
                    affine_from_spacing(self.spacing), rec)

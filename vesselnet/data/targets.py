"""Scale targets y^1..y^S of a prepared vessel mask (Sadikine et al., ISBI 2023, Sect. 2.1).

The targets come from :func:`vesseltree.analyze` run on the *final, resampled* mask (the paper
clusters the resized masks): branches, their radii (Eq. 1-2), nearest-branch labels (Eq. 3),
then S - 1 per-volume quantile thresholds on the branch radii. Two named rules:

``"default"`` (the project's)
    :func:`vesseltree.analyze` with its defaults: the bias-corrected radius estimator, spur
    pruning, and zero-length point branches (one-voxel fragments) left out of the quantiles
    (they still get a scale).
``"paper"``
    As printed: the Eq. 1 radius (``max`` over the m = 8 nearest surface voxels), no spur
    pruning, quantiles (Q1/Q3 for S = 3) over every branch radius.

Both assign a branch of radius r to scale ``1 + #{t : r > t}`` (a radius equal to a threshold
goes to the smaller scale), so the S masks partition the vessel mask. When there are fewer
branches than scales the quantiles are still taken over the branches there are (flag
``"few_branches"``); a scale left without voxels is flagged ``"missing_scale_<s>"``.
"""
from __future__ import annotations

import warnings

import numpy as np

from .threads import keep_torch_threads

__all__ = ["scale_targets", "TARGET_RULE_OPTIONS"]

#: :func:`vesseltree.analyze` options and radius column of each rule
TARGET_RULE_OPTIONS = {
    "default": ({}, "radius_mm", True),
    "paper": ({"radius_method": "paper", "prune_length_factor": 0.0}, "radius_paper_mm", False),
}


def scale_targets(vessel: np.ndarray, spacing, n_scales: int = 3, rule: str = "default"
                  ) -> tuple[np.ndarray, dict, tuple[str, ...]]:
    """The S scale masks of a binary vessel mask.

    Parameters
    ----------
    vessel : numpy.ndarray of bool, shape (D, H, W)
        The prepared vessel mask (not modified).
    spacing : 3 floats
        Its voxel size (mm).
    n_scales : int
        S (>= 2).
    rule : {"default", "paper"}
        Module docstring.

    Returns
    -------
    scales : numpy.ndarray of uint8, shape (S, D, H, W)
        0/1 masks, scale 1 (index 0) = smallest vessels; they partition ``vessel``.
    info : dict
        ``thresholds_mm`` (list), ``n_branches``, ``n_point_branches``, ``rule``.
    flags : tuple of str
        ``"empty_vessel"``, ``"few_branches"``, ``"missing_scale_<s>"``.

    Notes
    -----
    torch's CPU thread count is the same after the call as before it
    (:func:`vesselnet.data.threads.keep_torch_threads`).
    """
    from vesseltree import analyze
    from vesseltree.scales import assign_scales, default_quantiles, scale_thresholds

    if rule not in TARGET_RULE_OPTIONS:
        raise ValueError(f"target_rule: expected one of {list(TARGET_RULE_OPTIONS)}, got {rule!r}")
    options, column, skip_points = TARGET_RULE_OPTIONS[rule]
    m = np.asarray(vessel, dtype=bool)
    out = np.zeros((n_scales,) + m.shape, dtype=np.uint8)
    info = {"rule": rule, "thresholds_mm": None, "n_branches": 0, "n_point_branches": 0}
    if not m.any():
        return out, info, ("empty_vessel",)
    with warnings.catch_warnings(), keep_torch_threads():
        # fewer branches than scales: handled (and flagged) below
        warnings.filterwarnings("ignore", message="n_scales", category=UserWarning)
        tree = analyze(m, spacing, scale_rule=n_scales, **options)
    br = tree.branches
    radii = br[column].to_numpy(dtype=float)
    is_point = (br["kind"] == "point").to_numpy()
    basis = radii[~is_point] if skip_points and not is_point.all() else radii
    flags = []
    if basis.size >= n_scales:
        thresholds = scale_thresholds(basis, n_scales)
    else:  # vesseltree refuses quantiles of fewer radii than scales: take them anyway, flagged
        flags.append("few_branches")
        thresholds = np.quantile(basis, default_quantiles(n_scales))
    lut = np.zeros(int(br.index.max()) + 1, dtype=np.uint8)
    lut[br.index.to_numpy()] = assign_scales(radii, thresholds)
    scale = lut[tree.labels]
    for s in range(1, n_scales + 1):
        out[s - 1] = scale == s
        if not out[s - 1].any():
            flags.append(f"missing_scale_{s}")
    info.update(thresholds_mm=[float(t) for t in thresholds], n_branches=int(len(br)),
                n_point_branches=int(is_point.sum()))
    return out, info, tuple(flags)

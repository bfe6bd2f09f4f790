"""Scale targets: the two rules against vesseltree's own pieces, partitions, flags."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from vesselnet.data.targets import scale_targets


@pytest.fixture(scope="module")
def phantom():
    from vesseltree.synthetic import make_phantom

    return make_phantom((40, 48, 48), (1.0, 1.0, 1.0), seed=1, min_radius=0.7)


@pytest.fixture(scope="module")
def rough(phantom):
    """The phantom with surface bumps (spurs after thinning) and one-voxel fragments (point
    branches): where the two rules differ."""
    from scipy import ndimage

    m = phantom.mask.copy()
    surface = np.argwhere(m & ~ndimage.binary_erosion(m))
    rng = np.random.default_rng(0)
    for z, y, x in surface[rng.choice(len(surface), 12, replace=False)]:
        m[z, y:y + 3, x] = True  # a 2-voxel bump outwards or inwards
    free = np.argwhere(~ndimage.binary_dilation(m, iterations=3))
    for z, y, x in free[rng.choice(len(free), 3, replace=False)]:
        m[z, y, x] = True
    return m


def test_default_rule_equals_vesseltree_scale_masks(phantom):
    from vesseltree import analyze

    sc, info, flags = scale_targets(phantom.mask, phantom.spacing, 3, "default")
    ref = analyze(phantom.mask, phantom.spacing).scale_masks(3)
    assert sc.dtype == np.uint8 and sc.shape == (3,) + phantom.mask.shape
    assert np.array_equal(sc.astype(bool), ref)
    assert flags == ()
    assert info["n_branches"] > 3 and len(info["thresholds_mm"]) == 2


def test_paper_rule_eq1_radius_no_pruning_quantiles_of_all_branches(rough):
    from vesseltree import analyze
    from vesseltree.scales import masks_from_labels

    sc, info, _ = scale_targets(rough, (1, 1, 1), 3, "paper")
    tree = analyze(rough, (1, 1, 1), prune_length_factor=0.0, radius_method="paper")
    radii = tree.branches["radius_paper_mm"]
    assert (tree.branches["kind"] == "point").sum() >= 3  # the fragments count in the quantiles
    q = np.quantile(radii.to_numpy(), [0.25, 0.75])
    ref = masks_from_labels(tree.labels, radii, q)
    assert np.array_equal(sc.astype(bool), ref)
    assert np.allclose(info["thresholds_mm"], q)
    assert info["n_branches"] == len(tree.branches)
    # the default rule prunes the spurs and measures another radius: other targets
    sd, dinfo, _ = scale_targets(rough, (1, 1, 1), 3, "default")
    assert dinfo["n_branches"] < info["n_branches"] and not np.array_equal(sd, sc)
    ref_default = analyze(rough, (1, 1, 1)).scale_masks(3)
    assert np.array_equal(sd.astype(bool), ref_default)


@pytest.mark.parametrize("rule", ["default", "paper"])
@pytest.mark.parametrize("n_scales", [2, 3, 4])
def test_scales_partition_the_vessel(phantom, rule, n_scales):
    sc, _, _ = scale_targets(phantom.mask, phantom.spacing, n_scales, rule)
    assert sc.shape[0] == n_scales
    assert set(np.unique(sc)) <= {0, 1}
    assert np.array_equal(sc.sum(axis=0), phantom.mask.astype(np.uint8))


def test_empty_mask_is_flagged_not_an_error():
    sc, info, flags = scale_targets(np.zeros((8, 8, 8), bool), (1, 1, 1), 3)
    assert flags == ("empty_vessel",) and not sc.any() and info["thresholds_mm"] is None


def test_one_tube_has_too_few_branches_flagged_and_still_a_partition():
    from vesseltree.synthetic import tube

    m = tube((20, 20, 20), (2.0, 10.0, 10.0), (17.0, 10.0, 10.0), 2.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the few-branches warning is turned into a flag
        sc, info, flags = scale_targets(m, (1, 1, 1), 3)
    assert "few_branches" in flags
    assert sum(f.startswith("missing_scale_") for f in flags) == 2
    assert np.array_equal(sc.sum(axis=0), m.astype(np.uint8))


def test_unknown_rule():
    with pytest.raises(ValueError, match="target_rule: expected one of"):
        scale_targets(np.zeros((4, 4, 4), bool), (1, 1, 1), 3, "median")

"""Scale thresholds and masks: quantiles vs numpy, partition of the mask, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st

from vesseltree.scales import (assign_scales, default_quantiles, scale_labels, scale_masks,
                               scale_thresholds)


def test_paper_thresholds_are_q1_q3():
    r = np.random.default_rng(0).gamma(2.0, 1.0, 57)
    np.testing.assert_allclose(scale_thresholds(r, 3), np.quantile(r, [0.25, 0.75]))
    np.testing.assert_allclose(scale_thresholds(r, 2), [np.median(r)])
    np.testing.assert_allclose(scale_thresholds(r, 5), np.quantile(r, [0.25, 5 / 12, 7 / 12, 0.75]))
    np.testing.assert_allclose(scale_thresholds(r, quantiles=[0.1, 0.9]), np.quantile(r, [0.1, 0.9]))
    np.testing.assert_allclose(scale_thresholds(r, method=[1.0, 2.5]), [1.0, 2.5])
    np.testing.assert_allclose(default_quantiles(4), [0.25, 0.5, 0.75])


def test_assign_scales_rule():
    t = [1.0, 2.0]
    np.testing.assert_array_equal(assign_scales([0.5, 1.0, 1.5, 2.0, 2.5, np.nan], t), [1, 1, 2, 2, 3, 0])


@given(seed=st.integers(0, 10_000), n_scales=st.integers(2, 6))
def test_scale_masks_partition_labelled_voxels(seed, n_scales):
    rng = np.random.default_rng(seed)
    nb = int(rng.integers(n_scales, 30))
    labels = rng.integers(0, nb + 1, (6, 7, 8)).astype(np.int32)
    radii = np.concatenate([[np.nan], rng.uniform(0.5, 9.0, nb)])
    t = scale_thresholds(radii[1:], n_scales)
    masks = scale_masks(labels, radii, t)
    assert masks.shape == (n_scales,) + labels.shape and masks.dtype == bool
    np.testing.assert_array_equal(masks.sum(0), labels > 0)
    sl = scale_labels(labels, radii, t)
    assert sl.dtype == np.uint8
    for s in range(1, n_scales + 1):
        np.testing.assert_array_equal(masks[s - 1], sl == s)
    # scale 1 holds the smallest radii
    lab_r = radii[labels]
    if masks[0].any() and masks[-1].any():
        assert lab_r[masks[0]].max() <= lab_r[masks[-1]].min()


def test_branch_radius_as_mapping_or_series():
    labels = np.array([0, 1, 2, 3], np.int32).reshape(1, 1, 4)
    t = [1.5, 2.5]
    a = scale_labels(labels, {1: 1.0, 2: 2.0, 3: 3.0}, t)
    b = scale_labels(labels, pd.Series([1.0, 2.0, 3.0], index=[1, 2, 3]), t)
    c = scale_labels(labels, np.array([np.nan, 1.0, 2.0, 3.0]), t)
    np.testing.assert_array_equal(a.ravel(), [0, 1, 2, 3])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_bad_input():
    with pytest.raises(ValueError, match="^n_scales: 3 scales need at least 3 branches, got 2 "):
        scale_thresholds([1.0, 2.0], 3)
    with pytest.raises(ValueError, match="^quantiles: 4 scales need at least 4 branches, got 1 "):
        scale_thresholds([1.0], quantiles=[0.2, 0.5, 0.8])
    assert scale_thresholds([1.0], method=[0.5, 2.0]).size == 2  # fixed thresholds: fine
    with pytest.raises(ValueError, match="n_scales"):
        scale_thresholds([1.0, 2.0, 3.0], 1)
    with pytest.raises(ValueError, match="method"):
        scale_thresholds([1.0, 2.0, 3.0], 3, method="kmeans")
    with pytest.raises(ValueError, match="method"):
        scale_thresholds([1.0], method=[2.0, 1.0])
    with pytest.raises(ValueError, match="quantiles"):
        scale_thresholds([1.0, 2.0, 3.0], quantiles=[0.5, 1.2])
    with pytest.raises(ValueError, match="radii"):
        scale_thresholds([1.0, np.nan, 3.0], 2)
    with pytest.raises(ValueError, match="radii"):
        scale_thresholds([1.0, -2.0, 3.0], 2)
    labels = np.array([0, 1, 2], np.int32).reshape(1, 1, 3)
    with pytest.raises(ValueError, match="branch_radius"):
        scale_labels(labels, np.array([np.nan, 1.0]), [1.5])
    with pytest.raises(ValueError, match="branch_radius"):
        scale_labels(labels, np.array([np.nan, 1.0, np.nan]), [1.5])
    with pytest.raises(TypeError, match="labels"):
        scale_labels(labels.astype(float), np.array([0, 1.0, 2.0]), [1.5])

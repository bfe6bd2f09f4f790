"""Scale thresholds and masks: quantiles vs numpy, partition of the mask, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st

import vesseltree
from vesseltree.scales import (ScaleRule, assign_scales, classes_from_labels, default_quantiles,
                               masks_from_labels, scale_thresholds)


def test_paper_thresholds_are_q1_q3():
    r = np.random.default_rng(0).gamma(2.0, 1.0, 57)
    np.testing.assert_allclose(scale_thresholds(r, 3), np.quantile(r, [0.25, 0.75]))
    np.testing.assert_allclose(scale_thresholds(r, 2), [np.median(r)])
    np.testing.assert_allclose(scale_thresholds(r, 5), np.quantile(r, [0.25, 5 / 12, 7 / 12, 0.75]))
    np.testing.assert_allclose(scale_thresholds(r, ScaleRule.quantiles(levels=[0.1, 0.9])),
                               np.quantile(r, [0.1, 0.9]))
    np.testing.assert_allclose(scale_thresholds(r, ScaleRule.fixed([1.0, 2.5])), [1.0, 2.5])
    np.testing.assert_allclose(ScaleRule.quantiles(5).thresholds(r), scale_thresholds(r, 5))
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
    masks = masks_from_labels(labels, radii, t)
    assert masks.shape == (n_scales,) + labels.shape and masks.dtype == bool
    np.testing.assert_array_equal(masks.sum(0), labels > 0)
    sl = classes_from_labels(labels, radii, t)
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
    a = classes_from_labels(labels, {1: 1.0, 2: 2.0, 3: 3.0}, t)
    b = classes_from_labels(labels, pd.Series([1.0, 2.0, 3.0], index=[1, 2, 3]), t)
    c = classes_from_labels(labels, np.array([np.nan, 1.0, 2.0, 3.0]), t)
    np.testing.assert_array_equal(a.ravel(), [0, 1, 2, 3])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_bad_input():
    with pytest.raises(ValueError, match="^n_scales: 3 scales need at least 3 branches, got 2 "):
        scale_thresholds([1.0, 2.0], 3)
    with pytest.raises(ValueError, match="^n_scales: 4 scales need at least 4 branches, got 1 "):
        scale_thresholds([1.0], ScaleRule.quantiles(levels=[0.2, 0.5, 0.8]))
    assert scale_thresholds([1.0], ScaleRule.fixed([0.5, 2.0])).size == 2  # fixed: fine
    with pytest.raises(ValueError, match="rule: expected an integer >= 2, got 1"):
        scale_thresholds([1.0, 2.0, 3.0], 1)
    with pytest.raises(ValueError, match="thresholds_mm"):
        ScaleRule.fixed([])
    with pytest.raises(ValueError, match="thresholds_mm"):
        scale_thresholds([1.0], ScaleRule.fixed([2.0, 1.0]))
    with pytest.raises(ValueError, match="quantile_levels"):
        scale_thresholds([1.0, 2.0, 3.0], ScaleRule.quantiles(levels=[0.5, 1.2]))
    with pytest.raises(ValueError, match="radii"):
        scale_thresholds([1.0, np.nan, 3.0], 2)
    with pytest.raises(ValueError, match="radii"):
        scale_thresholds([1.0, -2.0, 3.0], 2)
    labels = np.array([0, 1, 2], np.int32).reshape(1, 1, 3)
    with pytest.raises(ValueError, match="branch_radius"):
        classes_from_labels(labels, np.array([np.nan, 1.0]), [1.5])
    with pytest.raises(ValueError, match="branch_radius"):
        classes_from_labels(labels, np.array([np.nan, 1.0, np.nan]), [1.5])
    with pytest.raises(TypeError, match="labels"):
        classes_from_labels(labels.astype(float), np.array([0, 1.0, 2.0]), [1.5])


def test_more_than_255_scales_do_not_wrap():
    """Issue 9.6: 301 scales need more than uint8; classes and masks keep their value."""
    n = 301
    labels = np.arange(1, n + 1, dtype=np.int32).reshape(1, 1, n)  # one voxel per branch
    radii = np.concatenate([[np.nan], np.arange(1, n + 1, dtype=float)])  # branch i: radius i
    t = np.arange(1, n) + 0.5  # branch i -> scale i
    sl = classes_from_labels(labels, radii, t)
    np.testing.assert_array_equal(sl.ravel(), np.arange(1, n + 1))
    masks = masks_from_labels(labels, radii, t)
    assert masks.shape == (n, 1, 1, n)
    np.testing.assert_array_equal(np.argmax(masks, axis=0).ravel() + 1, np.arange(1, n + 1))
    np.testing.assert_array_equal(masks.sum(0), 1)
    np.testing.assert_array_equal(assign_scales([299.0, 300.7], t), [299, 301])


def test_scale_rule_value_object():
    """Issue 10.2: one value object for the rule; plain-data round trip; clear errors."""
    q = ScaleRule.quantiles(4)
    assert q.kind == "quantile" and q.n_scales == 4 and q.quantile_levels == (0.25, 0.5, 0.75)
    f = ScaleRule.fixed([1.0, 3.0])
    assert f.kind == "fixed" and f.n_scales == 3 and f.thresholds() .tolist() == [1.0, 3.0]
    for rule in (q, f, ScaleRule.quantiles(levels=[0.1, 0.9]), ScaleRule.fixed(2.0)):
        assert ScaleRule.from_dict(rule.to_dict()) == rule
        assert hash(rule) == hash(ScaleRule.from_dict(rule.to_dict()))
    assert ScaleRule.quantiles(3) == ScaleRule.quantiles(levels=[0.25, 0.75])
    assert np.dtype(ScaleRule.fixed(np.arange(1, 255)).dtype) == np.uint8  # S = 255
    assert np.dtype(ScaleRule.fixed(np.arange(1, 256)).dtype) == np.uint16  # S = 256
    with pytest.raises(ValueError, match="exactly one"):
        ScaleRule()
    with pytest.raises(ValueError, match="exactly one"):
        ScaleRule(quantile_levels=(0.5,), thresholds_mm=(1.0,))
    with pytest.raises(ValueError, match="n_scales"):
        ScaleRule.quantiles(1)
    with pytest.raises(ValueError, match="thresholds_mm"):
        ScaleRule.fixed([0.0, 1.0])
    with pytest.raises(ValueError, match="unknown keys"):
        ScaleRule.from_dict({"kind": "fixed", "thresholds_mm": [1.0], "bins": 3})
    with pytest.raises(ValueError, match="disagree"):
        ScaleRule.from_dict({"kind": "quantile", "thresholds_mm": [1.0]})
    with pytest.raises(TypeError, match="rule"):
        scale_thresholds([1.0, 2.0], "quantile")


def test_deprecated_names_and_keywords():
    """Issue 10.3: vt.scale_masks (labels -> masks) is now masks_from_labels; the old names
    and keywords still work for one release with a DeprecationWarning."""
    labels = np.array([0, 1, 2, 3], np.int32).reshape(1, 2, 2)
    radii = np.array([np.nan, 1.0, 2.0, 3.0])
    with pytest.deprecated_call(match="masks_from_labels"):
        old = vesseltree.scale_masks(labels, radii, [1.5])
    np.testing.assert_array_equal(old, masks_from_labels(labels, radii, [1.5]))
    with pytest.deprecated_call(match="classes_from_labels"):
        old = vesseltree.scales.scale_labels(labels, radii, [1.5])
    np.testing.assert_array_equal(old, classes_from_labels(labels, radii, [1.5]))
    r = np.arange(1.0, 9.0)
    with pytest.deprecated_call(match="quantiles"):
        np.testing.assert_allclose(scale_thresholds(r, quantiles=[0.1, 0.9]), np.quantile(r, [0.1, 0.9]))
    with pytest.deprecated_call(match="method"):
        np.testing.assert_allclose(scale_thresholds(r, method=[1.0, 2.5]), [1.0, 2.5])
    with pytest.deprecated_call(match="method"), pytest.raises(ValueError, match="method"):
        scale_thresholds(r, method="kmeans")

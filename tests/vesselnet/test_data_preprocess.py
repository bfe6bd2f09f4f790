"""PrepareConfig, crop box, preprocess: shapes, geometry, alignment, flags, bad input."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy import ndimage

from vesselnet.data import Case, PrepareConfig, SyntheticSource, preprocess, restore_mask
from vesselnet.data.preprocess import crop_box

SMALL = dict(target_shape=(24, 32, 32), margin_mm=3.0)


@pytest.fixture(scope="module")
def case():
    return SyntheticSource(1, shape=(36, 44, 44), spacing=(1.5, 1.0, 1.0), seed=5).load("synthetic_000")


@pytest.fixture(scope="module")
def prepared(case):
    return preprocess(case, PrepareConfig(**SMALL))


# ---------------------------------------------------------------------------- config
def test_config_round_trip_and_unknown_keys():
    c = PrepareConfig(target_shape=None, target_spacing=(1, 1, 1), n_scales=4, target_rule="paper")
    d = json.loads(json.dumps(c.to_dict()))
    assert PrepareConfig.from_dict(d) == c
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['shape'\]; valid keys: \['hu_window'"):
        PrepareConfig.from_dict({"shape": [1, 2, 3]})


@pytest.mark.parametrize("kwargs, name", [
    (dict(hu_window=(400, -100)), "hu_window"),
    (dict(crop="box"), "crop"),
    (dict(margin_mm=-1), "margin_mm"),
    (dict(target_shape=(128, 256)), "target_shape"),
    (dict(target_shape=(0, 8, 8)), "target_shape"),
    (dict(target_spacing=(1, 1, 1)), "target_shape, target_spacing"),
    (dict(label_resampling="cubic"), "label_resampling"),
    (dict(label_threshold=1.0), "label_threshold"),
    (dict(n_scales=1), "n_scales"),
    (dict(target_rule="median"), "target_rule"),
    (dict(normalize="minmax"), "normalize"),
    (dict(isotropic="yes"), "isotropic"),
])
def test_config_errors_name_the_parameter(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        PrepareConfig(**kwargs)


# ---------------------------------------------------------------------------- crop
def test_crop_box_is_liver_box_plus_margin_clipped():
    liver = np.zeros((20, 30, 40), bool)
    liver[5:10, 3:20, 30:38] = True
    lo, hi = crop_box(liver, (2.0, 1.0, 0.5), 3.0)
    assert lo == (3, 0, 24) and hi == (12, 23, 40)
    assert crop_box(np.zeros((4, 4, 4), bool), (1, 1, 1), 1.0) is None


# ---------------------------------------------------------------------------- preprocess
def test_prepared_arrays_and_geometry(case, prepared):
    p = prepared
    assert p.image.shape == (1, 24, 32, 32) and p.image.dtype == np.float32
    assert p.image.min() >= 0 and p.image.max() <= 1
    assert p.vessel.dtype == np.uint8 and p.vessel.shape == (1, 24, 32, 32)
    assert p.scales.dtype == np.uint8 and p.scales.shape == (3, 24, 32, 32)
    assert np.array_equal(p.scales.sum(0), p.vessel[0])
    assert np.allclose(p.spacing, p.spacing[0]) and p.spacing == p.transform.spacing
    assert p.transform.original_shape == case.image.shape
    assert np.allclose(np.asarray(p.transform.original_affine), case.affine)
    # the crop holds the whole liver box
    lo, hi = crop_box(case.liver, case.spacing, 3.0)
    first = p.transform.to_original(np.zeros((1, 3)))[0] - np.asarray(p.transform.step) / 2
    last = p.transform.to_original((np.asarray(p.transform.shape) - 1)[None])[0] + np.asarray(p.transform.step) / 2
    assert np.all(first <= np.asarray(lo) - 0.5 + 1e-6) and np.all(last >= np.asarray(hi) - 0.5 - 1e-6)
    json.dumps(p.record)  # plain types
    assert p.record["config"] == PrepareConfig(**SMALL).to_dict()


def test_image_and_label_stay_aligned(prepared):
    """The vessels are brighter than the parenchyma around them after resampling."""
    v = prepared.vessel[0].astype(bool)
    ring = ndimage.binary_dilation(v, iterations=2) & ~ndimage.binary_dilation(v)
    img = prepared.image[0]
    assert np.median(img[v]) > np.median(img[ring]) + 0.05


def test_image_resampling_equals_scipy_zoom_without_crop(case):
    cfg = PrepareConfig(crop="none", target_shape=(18, 22, 22), isotropic=False, anti_alias=False,
                        hu_window=(-2000.0, 3000.0))
    p = preprocess(case, cfg)
    ref = ndimage.zoom(case.image, np.asarray((18, 22, 22)) / case.image.shape, order=1, grid_mode=True,
                       mode="nearest")
    np.testing.assert_allclose(p.image[0] * 5000.0 - 2000.0, ref, atol=1e-2)


def test_restore_maps_the_label_back(case):
    """Every axis resampled (1.5 x 1 x 1 mm -> 0.75 mm) and back: Dice >= 0.95."""
    cfg = PrepareConfig(target_shape=None, target_spacing=(0.75, 0.75, 0.75), margin_mm=3.0)
    p = preprocess(case, cfg)
    back = restore_mask(p.vessel[0], p.transform)
    dice = 2 * (back & case.vessel).sum() / (back.sum() + case.vessel.sum())
    assert dice >= 0.95
    assert back.shape == case.vessel.shape


def test_prediction_case_without_label(case):
    c = Case(case.case_id, case.image, None, case.liver, case.spacing, case.affine, {})
    p = preprocess(c, PrepareConfig(**SMALL))
    assert p.vessel is None and p.scales is None and p.n_scales is None


def test_empty_vessel_warns_and_is_flagged(case):
    c = Case("empty", case.image, np.zeros_like(case.vessel), case.liver, case.spacing, case.affine, {})
    with pytest.warns(UserWarning, match="empty vessel mask"):
        p = preprocess(c, PrepareConfig(**SMALL))
    assert "empty_vessel" in p.flags and p.vessel.sum() == 0 and p.scales.sum() == 0


def test_no_liver_falls_back_to_whole_volume_flagged(case):
    c = Case("noliver", case.image, case.vessel, None, case.spacing, case.affine, {})
    with pytest.warns(UserWarning, match="no liver mask"):
        p = preprocess(c, PrepareConfig(**SMALL))
    assert "no_liver" in p.flags
    assert p.transform.crop_lo == (0, 0, 0) and p.transform.crop_hi == case.image.shape


def test_vessel_in_liver(case):
    outside = case.vessel.copy()
    outside[:, :2, :2] = True  # vessel voxels outside the liver
    c = Case("x", case.image, outside, case.liver, case.spacing, case.affine, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = preprocess(c, PrepareConfig(crop="none", target_shape=None, vessel_in_liver=True))
    assert np.array_equal(p.vessel[0].astype(bool), case.vessel & case.liver)


# ---------------------------------------------------------------------------- bad input
def _with(case, **kw):
    d = dict(case_id="bad", image=case.image, vessel=case.vessel, liver=case.liver,
             spacing=case.spacing, affine=case.affine, source={})
    d.update(kw)
    return Case(**d)


@pytest.mark.parametrize("change, match", [
    (lambda c: dict(image=np.where(np.arange(c.image.size).reshape(c.image.shape) == 7, np.nan, c.image)),
     r"case 'bad': image has 1 NaN/inf value\(s\) \(first at voxel \(0, 0, 7\)\)"),
    (lambda c: dict(vessel=c.vessel[:-1]), r"case 'bad': arrays of different shapes"),
    (lambda c: dict(vessel=c.vessel.astype(np.uint8) * 3 + c.liver), r"case 'bad': vessel: expected a binary mask"),
    (lambda c: dict(spacing=(1.0, 1.0, 1.0)), r"spacing \(1.0, 1.0, 1.0\) does not match the affine"),
    (lambda c: dict(image=c.image[0]), r"image expected a 3D array"),
    (lambda c: dict(case_id="../../x"), r"case.case_id: expected 1-128 letters"),
    (lambda c: dict(image=None, vessel=None), r"expected an image or a vessel mask"),
])
def test_bad_cases_are_clear_errors(case, change, match):
    with pytest.raises((ValueError, TypeError), match=match):
        preprocess(_with(case, **change(case)), PrepareConfig(**SMALL))


def test_preprocess_does_not_modify_the_case(case):
    before = {k: getattr(case, k).copy() for k in ("image", "vessel", "liver")}
    preprocess(case, PrepareConfig(**SMALL))
    for k, v in before.items():
        assert np.array_equal(getattr(case, k), v)

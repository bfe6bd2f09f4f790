"""GridTransform, plan_grid, sample_grid and restore against analytic functions and scipy."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from vesselnet.data.transform import GridTransform, plan_grid, restore, restore_mask, sample_grid


def _affine(spacing, origin=(3.0, -2.0, 5.0)):
    a = np.zeros((4, 4))
    a[0, 2], a[1, 1], a[2, 0] = spacing[2], spacing[1], spacing[0]
    a[:3, 3] = origin
    a[3, 3] = 1
    return a


def test_crop_only_grid_is_the_box():
    t = plan_grid((20, 30, 40), (2.0, 1.0, 0.5), _affine((2.0, 1.0, 0.5)), ((2, 3, 4), (12, 23, 34)))
    assert t.shape == (10, 20, 30)
    assert t.step == (1.0, 1.0, 1.0)
    assert t.origin == (2.0, 3.0, 4.0)
    assert t.spacing == (2.0, 1.0, 0.5)


def test_isotropic_grid_cubic_voxels_cover_the_box_and_centred():
    box = ((2, 3, 4), (12, 23, 34))  # 20 x 20 x 15 mm at (2, 1, 0.5) mm
    t = plan_grid((20, 30, 40), (2.0, 1.0, 0.5), np.eye(4), box, target_shape=(8, 16, 16))
    sp = np.asarray(t.spacing)
    assert np.allclose(sp, sp[0])
    extent = np.asarray(t.shape) * sp
    assert np.all(extent >= (np.asarray(box[1]) - box[0]) * (2.0, 1.0, 0.5) - 1e-9)
    centre = t.to_original(((np.asarray(t.shape) - 1) / 2)[None])[0]
    assert np.allclose(centre, (np.asarray(box[0]) + box[1] - 1) / 2)


def test_per_axis_grid_fills_the_box_exactly():
    box = ((0, 0, 0), (20, 30, 40))
    t = plan_grid((20, 30, 40), (2.0, 1.0, 0.5), np.eye(4), box, target_shape=(8, 16, 16), isotropic=False)
    first = t.to_original(np.zeros((1, 3)))[0] - np.asarray(t.step) / 2
    last = t.to_original((np.asarray(t.shape) - 1)[None])[0] + np.asarray(t.step) / 2
    assert np.allclose(first, -0.5) and np.allclose(last, np.asarray(box[1]) - 0.5)


def test_target_spacing_rounds_the_shape():
    t = plan_grid((20, 30, 40), (2.0, 1.0, 0.5), np.eye(4), None, target_spacing=(1.0, 1.0, 1.0))
    assert t.shape == (40, 30, 20)
    assert np.allclose(t.spacing, 1.0)
    with pytest.raises(ValueError, match="target_shape, target_spacing"):
        plan_grid((4, 4, 4), (1, 1, 1), np.eye(4), target_shape=(2, 2, 2), target_spacing=(1, 1, 1))


def test_prepared_affine_points_at_the_same_world_position():
    sp = (2.0, 0.8, 0.7)
    aff = _affine(sp)
    t = plan_grid((30, 50, 60), sp, aff, ((3, 5, 7), (25, 45, 50)), target_shape=(12, 24, 20))
    j = np.array([[0, 0, 0], [5, 7, 3], [11, 23, 19]], dtype=float)
    i = t.to_original(j)
    world_prep = (t.affine @ np.c_[j, np.ones(3)].T).T
    world_orig = (aff @ np.c_[i, np.ones(3)].T).T
    assert np.allclose(world_prep, world_orig)
    assert np.allclose(np.linalg.norm(t.affine[:3, :3], axis=0), t.spacing)
    assert np.allclose(t.to_prepared(i), j)


def test_dict_round_trip_is_json_and_rejects_unknown_keys():
    t = plan_grid((10, 11, 12), (1.5, 1.0, 1.0), _affine((1.5, 1.0, 1.0)), target_shape=(8, 8, 8))
    d = json.loads(json.dumps(t.to_dict()))
    assert GridTransform.from_dict(d) == t
    with pytest.raises(ValueError, match="unknown keys \\['bogus'\\]"):
        GridTransform.from_dict({**d, "bogus": 1})
    d.pop("step")
    with pytest.raises(ValueError, match="missing keys \\['step'\\]"):
        GridTransform.from_dict(d)


def test_sample_identity_grid_is_exact():
    rng = np.random.default_rng(0)
    v = rng.random((7, 8, 9)).astype(np.float32)
    for order in (0, 1):
        out = sample_grid(v, (0, 0, 0), (1, 1, 1), v.shape, order=order)
        assert np.array_equal(out, v)


@pytest.mark.parametrize("zoom", [(0.5, 0.75, 1.6), (2.0, 1.25, 0.8)])
def test_sample_matches_scipy_zoom_grid_mode(zoom):
    """Whole-volume resampling = scipy.ndimage.zoom with grid_mode=True (pixel edges aligned)."""
    rng = np.random.default_rng(1)
    v = ndimage.gaussian_filter(rng.random((12, 16, 20)), 1.0).astype(np.float32)
    out_shape = tuple(int(round(n * z)) for n, z in zip(v.shape, zoom))
    t = plan_grid(v.shape, (1, 1, 1), np.eye(4), target_shape=out_shape, isotropic=False)
    ours = sample_grid(v, t.origin, t.step, t.shape, order=1)
    ref = ndimage.zoom(v, np.asarray(out_shape) / v.shape, order=1, grid_mode=True, mode="nearest")
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_outside_the_volume_reads_cval():
    v = np.ones((4, 4, 4), dtype=np.float32)
    out = sample_grid(v, (-3, 0, 0), (1, 1, 1), (10, 4, 4), order=1, cval=-7.0)
    assert np.all(out[:2] == -7.0) and np.all(out[3:7] == 1.0) and np.all(out[8:] == -7.0)


def test_restore_of_a_linear_ramp_is_exact_inside():
    """Trilinear interpolation reproduces a linear function: there and back exactly."""
    shape = (20, 24, 28)
    i = np.indices(shape).astype(np.float64)
    ramp = (0.3 * i[0] - 0.2 * i[1] + 0.1 * i[2] + 5).astype(np.float32)
    t = plan_grid(shape, (2.0, 1.0, 1.0), np.eye(4), ((2, 2, 2), (18, 22, 26)), target_shape=(11, 17, 13),
                  isotropic=False)
    prep = sample_grid(ramp, t.origin, t.step, t.shape, order=1)
    j = np.indices(t.shape).reshape(3, -1).T
    ii = t.to_original(j)
    np.testing.assert_allclose(prep.ravel(), 0.3 * ii[:, 0] - 0.2 * ii[:, 1] + 0.1 * ii[:, 2] + 5, atol=1e-4)
    back = restore(prep, t)
    assert back.shape == shape and back.dtype == np.float32
    inner = tuple(slice(int(np.ceil(o)) + 1, int(o + s * (n - 1))) for o, s, n in zip(t.origin, t.step, t.shape))
    np.testing.assert_allclose(back[inner], ramp[inner], atol=1e-4)
    assert back[0, 0, 0] == 0.0  # outside the crop: cval


def test_restore_channels_nearest_and_errors():
    t = plan_grid((10, 10, 10), (1, 1, 1), np.eye(4), ((2, 2, 2), (8, 8, 8)))
    arr = np.zeros((2,) + t.shape, dtype=np.uint8)
    arr[1, 1:3, 1:3, 1:3] = 1
    out = restore(arr, t, order="nearest")
    assert out.shape == (2, 10, 10, 10) and out.dtype == np.uint8
    assert out[1].sum() == 8 and out[1, 3:5, 3:5, 3:5].all()
    m = restore_mask(arr[1].astype(bool), t)
    assert m.dtype == bool and np.array_equal(m, out[1].astype(bool))
    with pytest.raises(ValueError, match=r"array: expected shape \(6, 6, 6\)"):
        restore(np.zeros((5, 6, 6)), t)
    with pytest.raises(ValueError, match="order"):
        restore(arr[0], t, order=3)
    with pytest.raises(TypeError, match="transform"):
        restore(arr[0], t.to_dict())

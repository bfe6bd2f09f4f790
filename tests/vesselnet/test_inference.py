"""Sliding-window inference (vesselnet.predict.sliding) against the whole-volume pass and MONAI.

Tolerance of "sliding window == whole volume": a network whose output at a voxel depends only
on the inputs within ``r`` voxels (its receptive-field radius) gives, inside a window, exactly
the whole-volume output at every voxel at least ``r`` voxels from the window's faces that lie
inside the volume (a face on the volume border sees the same padding as the whole-volume
pass). The blended output at x is ``sum_w g_w(x) f_w(x) / sum_w g_w(x)``, so with outputs in
[0, 1] (probabilities) ``|blend(x) - f(x)| <= B(x)``, the share of the Gaussian weight at x
that comes from windows where x is within ``r`` of an inner face; ``B(x) = 0`` gives equality
up to float32 rounding (1e-5). The tests compute ``B`` by brute force and check both.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from vesselnet.models import MultiTaskResUNet3d, ResUNet3d
from vesselnet.predict import (
    flip_tta,
    gaussian_importance,
    predict_volume,
    probability_predictor,
    sliding_window_inference,
    window_starts,
)

torch.set_num_threads(1)


def small_conv_net(seed: int = 0) -> torch.nn.Module:
    """Two 3x3x3 convolutions then a sigmoid: receptive-field radius 2, outputs in (0, 1)."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv3d(4, 1, 3, padding=1),
        torch.nn.Sigmoid(),
    )
    return net.eval()


class Counting:
    """Wraps a predictor and counts the windows it saw."""

    def __init__(self, fn):
        self.fn, self.windows, self.calls = fn, 0, 0

    def __call__(self, x):
        self.windows += x.shape[0]
        self.calls += 1
        return self.fn(x)


def contamination(shape, window, overlap, divisor, radius, sigma_scale=0.125) -> np.ndarray:
    """B(x): share of the blending weight from windows where x is within ``radius`` of an inner face."""
    g = gaussian_importance(window, sigma_scale).double().numpy()
    total = np.zeros(shape)
    bad = np.zeros(shape)
    axes = [window_starts(n, w, overlap, divisor) for n, w in zip(shape, window)]
    for start in itertools.product(*axes):
        sl = tuple(slice(a, a + w) for a, w in zip(start, window))
        total[sl] += g
        near = np.zeros(window, bool)
        for ax, (a, w, n) in enumerate(zip(start, window, shape)):
            idx = [slice(None)] * 3
            if a > 0:  # low face inside the volume
                idx[ax] = slice(0, radius)
                near[tuple(idx)] = True
            if a + w < n:  # high face inside the volume
                idx[ax] = slice(w - radius, w)
                near[tuple(idx)] = True
        bad[sl] += g * near
    return bad / total


def receptive_radius(net, size: int = 40) -> int:
    """Largest Chebyshev distance at which an input voxel changes an output voxel (autograd)."""
    net = net.double().eval()
    radius = 0
    torch.manual_seed(1)
    for centre in itertools.product((size // 2, size // 2 + 1), repeat=3):
        x = torch.randn(1, 1, size, size, size, dtype=torch.float64, requires_grad=True)
        net(x)[(0, 0) + centre].backward()
        hit = np.argwhere(x.grad[0, 0].abs().numpy() > 0)
        radius = max(radius, int(np.abs(hit - np.array(centre)).max()))
    net.float()
    return radius


# ---------------------------------------------------------------------------------------------
# window grid and weights


@given(size=st.integers(1, 300), window=st.integers(1, 80), overlap=st.floats(0, 0.95),
       divisor=st.sampled_from([1, 2, 4, 8, 16]))
def test_window_starts_cover_evenly(size, window, overlap, divisor):
    window = max(divisor, window // divisor * divisor)
    padded = -(-size // divisor) * divisor
    if window > padded:
        window = padded
    starts = window_starts(padded, window, overlap, divisor)
    assert starts[0] == 0 and starts[-1] == padded - window
    assert all(s % divisor == 0 for s in starts)
    step = max(divisor, int(window * (1 - overlap)) // divisor * divisor)
    gaps = np.diff(starts)
    assert np.all(gaps > 0) and np.all(gaps <= step)
    covered = np.zeros(padded, bool)
    for s in starts:
        covered[s:s + window] = True
    assert covered.all()


@pytest.mark.parametrize("window", [(16, 16, 16), (7, 12, 9), (1, 4, 32)])
def test_gaussian_importance_matches_monai(window):
    monai_utils = pytest.importorskip("monai.data.utils")
    ref = monai_utils.compute_importance_map(window, mode="gaussian", sigma_scale=0.125)
    ours = gaussian_importance(window, 0.125)
    torch.testing.assert_close(ours, ref.float(), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# sliding window == whole volume


def test_sliding_equals_whole_volume_away_from_window_rims():
    net = small_conv_net()
    torch.manual_seed(3)
    x = torch.randn(2, 1, 37, 45, 52)  # not multiples of anything
    with torch.no_grad():
        whole = net(x)
    pred = Counting(net)
    out = sliding_window_inference(x, pred, (16, 20, 24), overlap=0.5, batch_size=5)
    assert pred.windows > 2 * 8  # really windows, not one pass
    bound = contamination((37, 45, 52), (16, 20, 24), 0.5, 1, receptive_radius(small_conv_net()))
    diff = (out - whole).abs().amax(dim=(0, 1)).numpy()
    clean = bound == 0
    assert clean.mean() > 0.05
    assert diff[clean].max() <= 1e-5
    assert np.all(diff <= bound + 1e-5)
    assert diff[~clean].max() > 1e-4  # the rims do differ: the check above is not vacuous


def test_unet_aligned_windows_equal_whole_volume_away_from_rims():
    torch.manual_seed(0)
    net = ResUNet3d(levels=2, base_channels=2, num_convs=1).eval()
    radius = receptive_radius(net)
    assert 4 <= radius <= 16
    prob = probability_predictor(net)
    torch.manual_seed(4)
    x = torch.randn(1, 1, 50, 62, 76)
    with torch.no_grad():
        whole = sliding_window_inference(x, prob, None, divisor=2)
    out = sliding_window_inference(x, prob, 40, overlap=0.5, divisor=2, batch_size=4)
    padded = (50, 62, 76)
    bound = contamination(padded, (40, 40, 40), 0.5, 2, radius)
    diff = (out - whole).abs()[0, 0].numpy()
    assert (bound == 0).sum() > 100
    assert diff[bound == 0].max() <= 1e-5
    assert np.all(diff <= bound + 1e-5)


def test_volume_that_fits_is_predicted_whole_in_one_pass():
    net = small_conv_net()
    x = torch.randn(1, 1, 11, 13, 9)
    pred = Counting(net)
    out = sliding_window_inference(x, pred, 16, divisor=4, pad_mode="constant")
    assert pred.calls == 1 and pred.windows == 1
    with torch.no_grad():
        ref = net(torch.nn.functional.pad(x, (0, 3, 0, 3, 0, 1)))[..., :11, :13, :9]
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    assert out.shape == (1, 1, 11, 13, 9)


def test_unet_input_not_divisible_is_padded():
    net = MultiTaskResUNet3d(num_scales=2, levels=3, base_channels=2).eval()
    image = np.random.default_rng(0).normal(size=(13, 22, 17)).astype(np.float32)
    before = image.copy()
    p = predict_volume(net, image, roi_size=None)
    assert p.shape == image.shape and p.dtype == np.float32
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_array_equal(image, before)


# ---------------------------------------------------------------------------------------------
# MONAI as the peer


def _monai_clean(shape, roi, overlap, radius):
    from monai.data.utils import dense_patch_slices
    from monai.inferers.utils import _get_scan_interval

    interval = _get_scan_interval(shape, roi, 3, (overlap,) * 3)
    clean = np.ones(shape, bool)
    for sl in dense_patch_slices(shape, roi, interval):
        near = np.zeros(roi, bool)
        for ax, s in enumerate(sl):
            idx = [slice(None)] * 3
            if s.start > 0:
                idx[ax] = slice(0, radius)
                near[tuple(idx)] = True
            if s.stop < shape[ax]:
                idx[ax] = slice(roi[ax] - radius, roi[ax])
                near[tuple(idx)] = True
        clean[sl] &= ~near
    return clean


def test_agrees_with_monai_gaussian_on_the_same_grid():
    inferers = pytest.importorskip("monai.inferers")
    net = small_conv_net(1)
    x = torch.randn(1, 1, 40, 48, 56)  # size - roi a multiple of MONAI's step: same windows
    ours = sliding_window_inference(x, net, 16, overlap=0.5, batch_size=4)
    with torch.no_grad():
        ref = inferers.sliding_window_inference(x, (16, 16, 16), 4, net, overlap=0.5, mode="gaussian")
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)


def test_agrees_with_monai_gaussian_where_both_are_exact():
    inferers = pytest.importorskip("monai.inferers")
    net = small_conv_net(2)
    shape, roi = (33, 47, 29), (16, 24, 16)
    x = torch.randn((1, 1) + shape)
    ours = sliding_window_inference(x, net, roi, overlap=0.5, batch_size=4)
    with torch.no_grad():
        ref = inferers.sliding_window_inference(x, roi, 4, net, overlap=0.5, mode="gaussian")
    radius = receptive_radius(small_conv_net(2))
    both = (contamination(shape, roi, 0.5, 1, radius) == 0) & _monai_clean(shape, roi, 0.5, radius)
    assert both.sum() > 100
    diff = (ours - ref).abs()[0, 0].numpy()
    assert diff[both].max() <= 1e-5
    assert float(diff.mean()) < 0.05  # elsewhere both are Gaussian blends of nearly equal windows


# ---------------------------------------------------------------------------------------------
# test-time augmentation and the probability head


def test_flip_tta_is_the_mean_over_mirrored_predictions():
    net = small_conv_net(5)
    x = torch.randn(2, 1, 8, 10, 12)
    with torch.no_grad():
        got = flip_tta(net, axes=(0, 2))(x)
        ref = sum(torch.flip(net(torch.flip(x, d)), d) if d else net(x)
                  for d in [(), (2,), (4,), (2, 4)]) / 4
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-6)
    # a mirror-symmetric predictor is unchanged by the augmentation
    sym = lambda t: torch.sigmoid(t)  # noqa: E731
    torch.testing.assert_close(flip_tta(sym)(x), sym(x), rtol=0, atol=1e-6)


def test_flip_tta_makes_a_net_flip_equivariant():
    net = small_conv_net(6)
    x = torch.randn(1, 1, 12, 12, 12)
    with torch.no_grad():
        a = flip_tta(net)(torch.flip(x, (3,)))
        b = torch.flip(flip_tta(net)(x), (3,))
        plain = net(torch.flip(x, (3,)))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert (plain - torch.flip(net(x), (3,))).abs().max() > 1e-3


def test_probability_predictor_main_decoder_and_multiclass():
    torch.manual_seed(0)
    mt = MultiTaskResUNet3d(num_scales=3, levels=2, base_channels=2).eval()
    x = torch.randn(1, 1, 8, 8, 8)
    with torch.no_grad():
        p = probability_predictor(mt)(x)
        ref = torch.sigmoid(mt.to_single_task().eval()(x))
    torch.testing.assert_close(p, ref, rtol=0, atol=1e-6)
    mc = ResUNet3d(out_channels=4, levels=2, base_channels=2).eval()
    with torch.no_grad():
        p = probability_predictor(mc)(x)
        probs = torch.softmax(mc(x), 1)
    torch.testing.assert_close(p, probs[:, 1:].sum(1, keepdim=True), rtol=0, atol=1e-6)


def test_predict_volume_restores_training_mode_and_is_deterministic():
    net = ResUNet3d(levels=2, base_channels=2).train()
    img = np.random.default_rng(1).normal(size=(20, 24, 16)).astype(np.float32)
    a = predict_volume(net, img, 8, overlap=0.25, tta=True)
    assert net.training
    b = predict_volume(net, torch.from_numpy(img), 8, overlap=0.25, tta=True)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("kwargs, match", [
    (dict(roi_size=(6, 8, 8), divisor=4), "roi_size"),
    (dict(roi_size=(8, 8)), "roi_size"),
    (dict(roi_size=8, overlap=1.0), "overlap"),
    (dict(roi_size=8, batch_size=0), "batch_size"),
    (dict(roi_size=8, mode="median"), "mode"),
    (dict(roi_size=8, sigma_scale=0.0), "sigma_scale"),
    (dict(roi_size=8, pad_mode="wrap"), "pad_mode"),
])
def test_bad_options_name_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sliding_window_inference(torch.zeros(1, 1, 16, 16, 16), torch.sigmoid, **kwargs)


def test_bad_image_and_predictor_output():
    with pytest.raises(ValueError, match="image"):
        sliding_window_inference(torch.zeros(1, 16, 16, 16), torch.sigmoid, 8)
    with pytest.raises(TypeError, match="image"):
        sliding_window_inference(np.zeros((1, 1, 8, 8, 8)), torch.sigmoid, 8)
    with pytest.raises(ValueError, match="predictor"):
        sliding_window_inference(torch.zeros(1, 1, 16, 16, 16), lambda t: t[..., :4], 8)
    with pytest.raises(ValueError, match="axes"):
        flip_tta(torch.sigmoid, axes=(3,))
    with pytest.raises(ValueError, match="image"):
        predict_volume(ResUNet3d(levels=1, base_channels=2), np.full((4, 4, 4), np.nan))

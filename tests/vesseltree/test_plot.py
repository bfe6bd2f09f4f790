"""Tests of vesseltree.plot: files are written, images are what they claim to show."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vesseltree.plot import letter_value_plot, radius_mip, scale_mip  # noqa: E402


def _image(path):
    assert path.is_file() and path.stat().st_size > 1000
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    return img


def test_letter_value_plot_one_box_per_volume(tmp_path):
    rng = np.random.default_rng(0)
    radii = {"1.1": rng.gamma(2.0, 1.0, 200), "1.2": rng.gamma(3.0, 0.5, 80), "empty": []}
    path = tmp_path / "lv.png"
    fig = letter_value_plot(radii, path)
    img = _image(path)
    assert img.std() > 0.01  # not a blank canvas
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1.1", "1.2", "empty"]
    assert "mm" in ax.get_ylabel()
    # the boxes span the data: the y range covers both volumes' medians
    lo, hi = ax.get_ylim()
    assert lo <= np.median(radii["1.2"]) and hi >= np.median(radii["1.1"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lv.png"]


def test_letter_value_plot_bad_input(tmp_path):
    with pytest.raises(ValueError, match="radii_by_volume"):
        letter_value_plot({}, tmp_path / "a.png")
    with pytest.raises(ValueError, match=">= 0"):
        letter_value_plot({"a": [1.0, -2.0]}, tmp_path / "a.png")


def test_scale_mip_shows_largest_scale_with_physical_aspect(tmp_path):
    lab = np.zeros((10, 20, 30), np.uint8)
    lab[2:8, 5, 3:25] = 1  # small vessel
    lab[5, 2:18, 10] = 3  # large vessel crossing it
    lab[1, 5, 20] = 2  # medium, hidden behind nothing larger on its ray along y
    spacing = (2.0, 0.5, 0.8)
    path = tmp_path / "s.png"
    fig = scale_mip(lab, path, axis=1, spacing=spacing, crop=False)
    _image(path)
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    expected = np.zeros((10, 30), np.uint8)  # brute force: largest label along each y ray
    for z in range(10):
        for x in range(30):
            expected[z, x] = max(lab[z, y, x] for y in range(20))
    np.testing.assert_array_equal(np.asarray(shown), expected)
    left, right, bottom, top = ax.images[0].get_extent()
    assert right - left == pytest.approx(30 * 0.8) and bottom - top == pytest.approx(10 * 2.0)
    assert left == pytest.approx(-0.4) and top == pytest.approx(-1.0)  # voxel i centred at i*s
    # cropped: the vessels' bounding box plus 2 mm, same pixels, same mm coordinates
    fig = scale_mip(lab, path, axis=1, spacing=spacing, margin_mm=2.0)
    cropped = np.asarray(fig.axes[0].images[0].get_array())
    z0, z1, x0, x1 = 0, 9, 3 - 3, 25 + 3  # z: 1..7 +- 1 voxel, x: 3..24 +- 3 voxels (2 mm)
    np.testing.assert_array_equal(cropped, expected[z0:z1, x0:x1])
    left, right, bottom, top = fig.axes[0].images[0].get_extent()
    assert left == pytest.approx((x0 - 0.5) * 0.8) and right == pytest.approx((x1 - 0.5) * 0.8)
    assert ax.get_xlabel().startswith("x") and ax.get_ylabel().startswith("z")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "scale 1 (small)", "scale 2", "scale 3 (large)"
    ]


def test_scale_mip_bad_input(tmp_path):
    with pytest.raises(ValueError, match="axis"):
        scale_mip(np.zeros((2, 2, 2), np.uint8), tmp_path / "a.png", axis=3)
    with pytest.raises(TypeError, match="integer labels"):
        scale_mip(np.zeros((2, 2, 2), float), tmp_path / "a.png")
    with pytest.raises(ValueError, match="3D"):
        scale_mip(np.zeros((2, 2), np.uint8), tmp_path / "a.png")
    with pytest.raises(ValueError, match="spacing"):
        scale_mip(np.zeros((2, 2, 2), np.uint8), tmp_path / "a.png", spacing=(1, 0, 1))
    with pytest.raises(ValueError, match=r"labels >= 0, got -1"):
        scale_mip(-np.ones((2, 2, 2), np.int16), tmp_path / "a.png")
    three = np.full((2, 2, 2), 3, np.uint8)
    with pytest.raises(ValueError, match=r"n_scales: expected >= the largest label 3, got 2"):
        scale_mip(three, tmp_path / "a.png", n_scales=2)
    # n_scales sets the legend (default: the largest label, at least 1)
    for n_scales, legend in ((3, 3), (5, 5), (None, 3)):
        fig = scale_mip(three, tmp_path / "a.png", n_scales=n_scales)
        assert len(fig.axes[0].get_legend().get_texts()) == legend
    assert len(scale_mip(three * 0, tmp_path / "a.png").axes[0].get_legend().get_texts()) == 1


def test_radius_mip(tmp_path):
    r = np.zeros((6, 7, 8), np.float32)
    r[1:5, 3, 2] = 1.5
    r[2, 3, 2] = 4.0
    r[0, 0, 0] = np.nan  # ignored
    path = tmp_path / "r.png"
    fig = radius_mip(r, path, axis=0, spacing=(3.0, 1.0, 1.0), crop=False)
    _image(path)
    shown = fig.axes[0].images[0].get_array()
    assert float(shown[3, 2]) == pytest.approx(4.0)
    assert np.ma.is_masked(shown[0, 0])
    assert np.ma.count(shown) == 1


def test_radius_mip_log_colour_scale_keeps_small_vessels_readable(tmp_path):
    """Issue 14 item 7: next to an 8 mm trunk, 0.5 and 1 mm vessels get distinct colours."""
    r = np.zeros((4, 20, 20), np.float32)
    r[:, 2, 2:18] = 8.0
    r[:, 8, 2:18] = 1.0
    r[:, 14, 2:18] = 0.5
    fig = radius_mip(r, tmp_path / "log.png", crop=False)
    norm = fig.axes[0].images[0].norm
    # log scale from the smallest to the largest radius: the ratio 2 is a quarter of 16
    assert norm(1.0) - norm(0.5) == pytest.approx(np.log(2) / np.log(16))
    assert (norm(0.5), norm(8.0)) == pytest.approx((0.0, 1.0))
    ticks = [float(t) for t in fig.axes[1].get_yticks()]
    assert ticks == [0.5, 1.0, 2.0, 5.0]
    lin = radius_mip(r, tmp_path / "lin.png", crop=False, color_scale="linear")
    assert lin.axes[0].images[0].norm(1.0) - lin.axes[0].images[0].norm(0.5) == pytest.approx(
        0.5 / 8.0)
    with pytest.raises(ValueError, match="color_scale"):
        radius_mip(r, tmp_path / "x.png", color_scale="sqrt")


@pytest.mark.parametrize("axis", [0, 1, 2, np.int64(2)])
def test_check_axis_accepts_the_three_axes(axis):
    from vesseltree.validation import check_axis

    assert check_axis(axis) == int(axis) and type(check_axis(axis)) is int


@pytest.mark.parametrize("axis", [-1, 3, 1.0, True, "1", None])
def test_one_axis_rule_for_both_packages_figures(tmp_path, axis):
    """vesseltree's MIPs and vesselnet's overlays share vesseltree.validation.check_axis."""
    from vesseltree.validation import check_axis

    with pytest.raises(ValueError, match=r"axis: expected 0 \(z\), 1 \(y\) or 2 \(x\)"):
        check_axis(axis)
    with pytest.raises(ValueError, match="axis: expected"):
        scale_mip(np.zeros((2, 2, 2), np.uint8), tmp_path / "a.png", axis=axis)
    vplot = pytest.importorskip("vesselnet.plot")
    mask = np.zeros((4, 4, 4), bool)
    mask[2, 2, 1:3] = True
    with pytest.raises(ValueError, match="axis: expected"):
        vplot.overlay_slices(mask, mask, axis=axis)

"""Surface distances (HD, HD95, ASSD in mm): against MONAI 1.6.1, a brute-force all-pairs
reference on tiny masks, scipy's cKDTree for the nearest-neighbour kernel, and analytic
shapes."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial.distance import cdist

from vesselnet.metrics import (
    compute_assd,
    compute_hausdorff,
    compute_hd95,
    compute_surface_metrics,
    mask_surface,
    surface_distances,
)
from vesselnet.metrics import surface as surface_module


def _blobs(rng, shape, thr=0.5, sigma=1.0):
    return ndi.gaussian_filter(rng.random(shape), sigma) > thr


def _random_case(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(6, 16, 3))
    a = _blobs(rng, shape)
    b = _blobs(rng, shape)
    if not a.any():
        a[0, 0, 0] = True
    if not b.any():
        b[-1, -1, -1] = True
    spacing = tuple(float(s) for s in rng.uniform(0.4, 3.0, 3))
    return a, b, spacing


# ---------------------------------------------------------------------------------- kernel
def _nearest(query_vox, target_vox, spacing, cell_voxels, shape):
    """The module's directed distances with a given grid cell size."""
    sp = np.asarray(spacing)
    cell = np.maximum(np.rint(cell_voxels * sp.min() / sp), 1).astype(np.int64)
    grid_shape = np.asarray(shape) // cell + 1
    edge = float(np.min(cell * sp))
    q, t = (surface_module._Buckets(v, cell, grid_shape, sp) for v in (query_vox, target_vox))
    return surface_module._directed(q, t, grid_shape, edge)


@pytest.mark.parametrize("cell_voxels", [1, 3, 12, 200])
@pytest.mark.parametrize("seed", range(4))
def test_nearest_neighbour_kernel_matches_kdtree(seed, cell_voxels):
    """Exact nearest distances for clustered, scattered, near and far point sets, every
    path of the cell search (rings only, rings then a full scan, one cell)."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    shape = (30, 40, 50)
    spacing = tuple(float(s) for s in rng.uniform(0.3, 2.5, 3))
    centres = rng.integers(0, shape, size=(3, 3))
    query = np.concatenate([np.clip(c + rng.integers(-4, 5, (60, 3)), 0, np.array(shape) - 1)
                            for c in centres] + [rng.integers(0, shape, (40, 3))])
    target = np.concatenate([rng.integers(0, shape, (int(rng.integers(1, 30)), 3)),
                             np.clip(centres[0] + rng.integers(-2, 3, (5, 3)), 0, np.array(shape) - 1)])
    got = _nearest(query, target, spacing, cell_voxels, shape)
    ref = cKDTree(target * np.asarray(spacing)).query(query * np.asarray(spacing))[0]
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell_voxels", [1, 2])
def test_nearest_neighbour_kernel_ring_search(cell_voxels):
    """Many small target cells (the ring search decides, not the full scan): a spherical
    shell of targets, queries inside and outside it at a few voxels' distance."""
    from scipy.spatial import cKDTree

    shape = (40, 40, 40)
    zz, yy, xx = np.indices(shape)
    r = np.sqrt((zz - 20) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2)
    target = np.argwhere(np.abs(r - 12) < 0.5)
    rng = np.random.default_rng(1)
    query = np.argwhere((np.abs(r - 12) > 2) & (rng.random(shape) < 0.02))
    spacing = (1.3, 0.9, 0.7)
    got = _nearest(query, target, spacing, cell_voxels, shape)
    ref = cKDTree(target * np.asarray(spacing)).query(query * np.asarray(spacing))[0]
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_nearest_neighbour_kernel_single_target():
    target = np.array([[3, 4, 5]])
    query = np.array([[0, 0, 0], [3, 4, 5], [9, 9, 9]])
    got = _nearest(query, target, (1.0, 2.0, 0.5), 2, (10, 10, 10))
    want = np.linalg.norm((query - target) * np.array([1.0, 2.0, 0.5]), axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


# -------------------------------------------------------------------------- brute force
def _surface_bruteforce(m):
    """Voxels of m with a 6-neighbour outside m (outside the array = background)."""
    pad = np.pad(m, 1)
    out = np.zeros_like(m)
    for idx in zip(*np.nonzero(m)):
        z, y, x = (i + 1 for i in idx)
        nb = [pad[z - 1, y, x], pad[z + 1, y, x], pad[z, y - 1, x], pad[z, y + 1, x],
              pad[z, y, x - 1], pad[z, y, x + 1]]
        out[idx] = not all(nb)
    return out


def _bruteforce(a, b, spacing):
    sa = np.argwhere(_surface_bruteforce(a)) * np.asarray(spacing)
    sb = np.argwhere(_surface_bruteforce(b)) * np.asarray(spacing)
    d = cdist(sa, sb)
    dab, dba = d.min(axis=1), d.min(axis=0)
    hd = max(dab.max(), dba.max())
    hd95 = max(np.percentile(dab, 95), np.percentile(dba, 95))
    assd = (dab.sum() + dba.sum()) / (dab.size + dba.size)
    return hd, hd95, assd


@pytest.mark.parametrize("seed", range(6))
def test_matches_bruteforce_all_pairs(seed):
    a, b, spacing = _random_case(100 + seed)
    got = compute_surface_metrics(a, b, spacing)
    hd, hd95, assd = _bruteforce(a, b, spacing)
    assert got["hd"] == pytest.approx(hd, rel=1e-12, abs=1e-12)
    assert got["hd95"] == pytest.approx(hd95, rel=1e-12, abs=1e-12)
    assert got["assd"] == pytest.approx(assd, rel=1e-12, abs=1e-12)


def test_mask_surface_matches_bruteforce():
    rng = np.random.default_rng(3)
    m = _blobs(rng, (9, 11, 7), 0.45)
    np.testing.assert_array_equal(mask_surface(m), _surface_bruteforce(m))


# --------------------------------------------------------------------------------- MONAI
monai_hd = pytest.importorskip("monai.metrics")
torch = pytest.importorskip("torch")


def _monai(fn, a, b, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = lambda m: torch.from_numpy(m)[None, None]  # noqa: E731
        return float(fn(t(a), t(b), include_background=True, **kw).item())


@pytest.mark.parametrize("seed", range(8))
def test_hausdorff_matches_monai(seed):
    a, b, spacing = _random_case(seed)
    ref = _monai(monai_hd.compute_hausdorff_distance, a, b, spacing=spacing, directed=False)
    assert compute_hausdorff(a, b, spacing) == pytest.approx(ref, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_directed_distances_match_monai_edges(seed):
    """Our per-voxel surface distances equal MONAI's (same edges, same Euclidean metric)."""
    from monai.metrics.utils import get_edge_surface_distance

    a, b, spacing = _random_case(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, (d_ab, d_ba), _ = get_edge_surface_distance(
            torch.from_numpy(a), torch.from_numpy(b), spacing=spacing, symmetric=True
        )
    got = surface_distances(a, b, spacing)
    np.testing.assert_allclose(np.sort(got.pred_to_gt), np.sort(d_ab.numpy().astype(float)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.sort(got.gt_to_pred), np.sort(d_ba.numpy().astype(float)), rtol=1e-6, atol=1e-6)
    # HD95 = max of the two directed 95th percentiles of exactly these distances (MONAI's
    # definition), evaluated here in float64:
    ref = max(np.percentile(d_ab.numpy().astype(float), 95), np.percentile(d_ba.numpy().astype(float), 95))
    assert compute_hd95(a, b, spacing) == pytest.approx(ref, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_hd95_matches_monai_compute_hausdorff_distance(seed):
    """MONAI computes the percentile with torch.quantile in float32: the interpolation weight
    ``0.95 * (n - 1)`` carries a float32 error that, times a gap between two order statistics,
    reaches a few 1e-6 mm. The agreement is therefore checked at 1e-5 relative here; the
    definition itself is checked at 1e-6 against MONAI's distances just above."""
    a, b, spacing = _random_case(seed)
    ref = _monai(monai_hd.compute_hausdorff_distance, a, b, spacing=spacing, percentile=95, directed=False)
    assert compute_hd95(a, b, spacing) == pytest.approx(ref, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_assd_matches_monai(seed):
    a, b, spacing = _random_case(seed)
    ref = _monai(monai_hd.compute_average_surface_distance, a, b, spacing=spacing, symmetric=True)
    assert compute_assd(a, b, spacing) == pytest.approx(ref, rel=1e-6, abs=1e-6)


def test_masks_touching_the_array_border_match_monai():
    rng = np.random.default_rng(11)
    a = _blobs(rng, (8, 10, 12), 0.4)
    b = _blobs(rng, (8, 10, 12), 0.4)
    a[0], b[:, -1] = True, True
    spacing = (2.0, 0.7, 0.9)
    ref = _monai(monai_hd.compute_hausdorff_distance, a, b, spacing=spacing)
    assert compute_hausdorff(a, b, spacing) == pytest.approx(ref, rel=1e-6, abs=1e-6)


# ------------------------------------------------------------------------------ analytic
def test_shifted_box_analytic():
    a = np.zeros((20, 12, 12), bool)
    a[4:10, 3:9, 3:9] = True
    b = np.roll(a, 2, axis=0)
    spacing = (2.5, 0.5, 0.5)
    # the bottom face of `a` is 2 slices from the bottom face of `b`; every other surface
    # voxel is closer to the other surface
    assert compute_hausdorff(a, b, spacing) == pytest.approx(5.0, abs=1e-12)
    assert compute_hausdorff(b, a, spacing) == pytest.approx(5.0, abs=1e-12)


def test_far_outlier_voxel():
    a = np.zeros((10, 40, 40), bool)
    a[4:6, 4:8, 4:8] = True
    b = a.copy()
    b[9, 39, 39] = True  # an isolated false positive
    spacing = (3.0, 0.8, 0.6)
    expected = np.sqrt(((9 - 5) * 3.0) ** 2 + ((39 - 7) * 0.8) ** 2 + ((39 - 7) * 0.6) ** 2)
    assert compute_hausdorff(b, a, spacing) == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------------------- invariants
@pytest.mark.parametrize("seed", range(4))
def test_symmetric_and_identity(seed):
    a, b, spacing = _random_case(200 + seed)
    ab, ba = compute_surface_metrics(a, b, spacing), compute_surface_metrics(b, a, spacing)
    for k in ab:
        assert ab[k] == pytest.approx(ba[k], rel=1e-12, abs=1e-12)
    assert compute_surface_metrics(a, a, spacing) == {"hd": 0.0, "hd95": 0.0, "assd": 0.0}


def test_translation_invariance_of_the_bounding_box_crop():
    a, b, spacing = _random_case(7)
    big_a = np.zeros((30, 31, 32), bool)
    big_b = np.zeros_like(big_a)
    z, y, x = a.shape
    big_a[5:5 + z, 9:9 + y, 3:3 + x] = a
    big_b[5:5 + z, 9:9 + y, 3:3 + x] = b
    # inside a larger volume the border voxels are no longer surface by the array border rule
    pa = np.pad(a, 1)
    pb = np.pad(b, 1)
    assert compute_surface_metrics(big_a, big_b, spacing) == pytest.approx(
        compute_surface_metrics(pa, pb, spacing), rel=1e-12
    )


def test_threads_do_not_change_the_result():
    a, b, spacing = _random_case(5)
    d1 = surface_distances(a, b, spacing, threads=True)
    d2 = surface_distances(a, b, spacing, threads=False)
    np.testing.assert_array_equal(d1.pred_to_gt, d2.pred_to_gt)
    np.testing.assert_array_equal(d1.gt_to_pred, d2.gt_to_pred)


def test_inputs_not_modified():
    a, b, spacing = _random_case(9)
    a0, b0 = a.copy(), b.copy()
    compute_surface_metrics(a.astype(np.uint8), b, spacing)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


# ---------------------------------------------------------------------------- empty masks
def test_empty_policy():
    z = np.zeros((5, 6, 7), bool)
    m = z.copy()
    m[1:3, 2:4, 2:5] = True
    assert compute_surface_metrics(z, z, 1.0) == {"hd": 0.0, "hd95": 0.0, "assd": 0.0}
    for p, g in ((z, m), (m, z)):
        vals = compute_surface_metrics(p, g, 1.0)
        assert all(np.isnan(v) for v in vals.values())
    d = surface_distances(m, z)
    assert d.empty == "gt" and np.isinf(d.pred_to_gt).all()


# ------------------------------------------------------------------------------ bad input
def test_bad_inputs_name_the_argument():
    a = np.zeros((4, 5, 6), bool)
    with pytest.raises(ValueError, match="pred, gt"):
        compute_hausdorff(a, np.zeros((4, 5, 7), bool))
    with pytest.raises(ValueError, match="pred"):
        compute_hausdorff(a + 0.5, a)
    with pytest.raises(ValueError, match="gt"):
        compute_hausdorff(a, np.full(a.shape, 2))
    with pytest.raises(ValueError, match="spacing"):
        compute_hausdorff(a, a, spacing=(1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        compute_hausdorff(a, a, spacing=(1.0, 1.0))
    with pytest.raises(ValueError, match="percentile"):
        compute_hausdorff(a, a, percentile=101)
    with pytest.raises(ValueError, match="gt"):
        compute_hausdorff(a, np.zeros((4, 5), bool))


# ------------------------------------------------------------------------------ real data
@pytest.mark.data
@pytest.mark.slow
def test_real_mask_matches_monai(ircadb):
    """3D-IRCADb patient 1 vessels vs the same mask with an opened copy: HD agrees with MONAI."""
    from vesseltree.io import load_volume

    vol = load_volume(ircadb / "3Dircadb1.1" / "MASKS_DICOM.zip")
    gt = np.asarray(vol.data, bool)
    pred = ndi.binary_opening(gt)  # removes the thinnest vessels: a realistic error pattern
    pred[gt.shape[0] // 2, :5, :5] = True  # one far false positive
    for q, rel in ((None, 1e-6), (95, 1e-5)):
        ref = _monai(monai_hd.compute_hausdorff_distance, pred, gt, spacing=vol.spacing, percentile=q)
        assert compute_hausdorff(pred, gt, vol.spacing, q) == pytest.approx(ref, rel=rel)

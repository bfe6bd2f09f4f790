"""Overlap, clDice, vessel-scale metrics and accumulators of vesselnet.metrics.

References: MONAI 1.6.1 (DSC, IoU), direct evaluation of the clDice formula, hand-built
scale masks and labels with known counts, and phantoms with a known per-voxel radius.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from vesselnet.metrics import (
    CaseEvaluator,
    ClDiceMetric,
    DiceMetric,
    HD95Metric,
    HausdorffMetric,
    JaccardMetric,
    ScaleRecallMetric,
    BranchDetectionMetric,
    branch_detection,
    cldice_components,
    compute_cldice,
    compute_dice,
    compute_jaccard,
    compute_surface_metrics,
    evaluate_case,
    scale_recall,
    summary_markdown,
    vessel_metrics,
)


def _pair(seed, shape=(10, 12, 14)):
    rng = np.random.default_rng(seed)
    a = ndi.gaussian_filter(rng.random(shape), 1.0) > 0.5
    b = ndi.gaussian_filter(rng.random(shape), 1.0) > 0.5
    return a, b


def _tube_pair():
    """Two overlapping tubes (vessel-like, non-trivial skeletons)."""
    z, y, x = np.mgrid[:16, :20, :24]
    a = ((y - 10) ** 2 + (z - 8) ** 2 <= 9) & (x >= 2) & (x < 22)
    b = ((y - 11) ** 2 + (x - 12) ** 2 <= 6) & (z >= 1) & (z < 15)
    b |= ((y - 10) ** 2 + (z - 8) ** 2 <= 4) & (x >= 5) & (x < 18)
    return a, b


# ----------------------------------------------------------------------- DSC / Jaccard
torch = pytest.importorskip("torch")
monai_metrics = pytest.importorskip("monai.metrics")


def _monai_overlap(fn, a, b, **kw):
    t = lambda m: torch.from_numpy(m.astype(np.float32))[None, None]  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(t(a), t(b), include_background=True, **kw).item())


@pytest.mark.parametrize("seed", range(8))
def test_dice_and_jaccard_match_monai(seed):
    a, b = _pair(seed)
    assert compute_dice(a, b) == pytest.approx(_monai_overlap(monai_metrics.compute_dice, a, b), abs=1e-6)
    assert compute_jaccard(a, b) == pytest.approx(_monai_overlap(monai_metrics.compute_iou, a, b), abs=1e-6)


def test_dice_empty_policy_matches_monai_ignore_empty_false():
    z = np.zeros((4, 5, 6), bool)
    m = z.copy()
    m[1:3, 1:3, 1:4] = True
    for p, g in ((z, z), (m, z), (z, m)):
        ref = _monai_overlap(monai_metrics.compute_dice, p, g, ignore_empty=False)
        assert compute_dice(p, g) == pytest.approx(ref)
    assert compute_dice(z, z) == 1.0 and compute_jaccard(z, z) == 1.0
    assert compute_dice(m, z) == 0.0 and compute_jaccard(z, m) == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_overlap_symmetric_identity_and_relation(seed):
    a, b = _pair(10 + seed)
    assert compute_dice(a, b) == compute_dice(b, a)
    assert compute_jaccard(a, b) == compute_jaccard(b, a)
    assert compute_dice(a, a) == 1.0 and compute_jaccard(a, a) == 1.0
    d, j = compute_dice(a, b), compute_jaccard(a, b)
    assert j == pytest.approx(d / (2 - d), rel=1e-12)  # J = D / (2 - D), a set identity


def test_overlap_accepts_0_1_arrays_and_does_not_modify():
    a, b = _pair(3)
    a8, bf = a.astype(np.uint8), b.astype(np.float64)
    a0, b0 = a8.copy(), bf.copy()
    assert compute_dice(a8, bf) == compute_dice(a, b)
    np.testing.assert_array_equal(a8, a0)
    np.testing.assert_array_equal(bf, b0)


# ------------------------------------------------------------------------------ clDice
def test_cldice_equals_direct_evaluation_of_the_formula():
    from vesseltree import skeletonize

    a, b = _tube_pair()
    sa, sb = skeletonize(a).astype(bool), skeletonize(b).astype(bool)
    tprec = (sa & b).sum() / sa.sum()  # |S(P) n L| / |S(P)| with P = a, L = b
    tsens = (sb & a).sum() / sb.sum()
    expected = 2 * tprec * tsens / (tprec + tsens)
    got = cldice_components(a, b)
    assert got.tprec == pytest.approx(tprec, rel=1e-12)
    assert got.tsens == pytest.approx(tsens, rel=1e-12)
    assert got.cldice == pytest.approx(expected, rel=1e-12)
    assert 0 < got.cldice < 1
    # precomputed skeletons give the same
    assert cldice_components(a, b, pred_skeleton=sa, gt_skeleton=sb) == got


def test_cldice_symmetric_identity_and_empty_policy():
    a, b = _tube_pair()
    assert compute_cldice(a, b) == pytest.approx(compute_cldice(b, a), rel=1e-12)
    assert compute_cldice(a, a) == 1.0
    z = np.zeros_like(a)
    assert compute_cldice(z, z) == 1.0
    assert compute_cldice(a, z) == 0.0 and compute_cldice(z, a) == 0.0


def test_cldice_sensitivity_notices_a_cut_vessel():
    """Cutting a tube in the middle removes few voxels but the centreline term notices."""
    a, _ = _tube_pair()
    cut = a.copy()
    cut[:, :, 11:13] = False
    c = cldice_components(cut, a)
    assert c.tprec == 1.0  # everything predicted lies in the ground truth
    assert c.tsens < 1.0


# --------------------------------------------------------------------- scale / branches
def test_scale_recall_on_hand_built_partition():
    shape = (4, 5, 6)
    sm = np.zeros((3,) + shape, bool)
    sm[0, 0, :2, :] = True  # 12 voxels
    sm[1, 1, :, :2] = True  # 10 voxels
    pred = np.zeros(shape, bool)
    pred[0, 0, :3] = True  # 3 of scale 1
    pred[1, :, 0] = True  # 5 of scale 2
    np.testing.assert_allclose(scale_recall(pred, sm)[:2], [3 / 12, 5 / 10])
    assert np.isnan(scale_recall(pred, sm)[2])  # empty scale: undefined


def test_branch_detection_on_hand_built_labels():
    labels = np.zeros((2, 3, 10), np.int32)
    labels[0, 0, :] = 1  # 10 voxels, 5 predicted -> detected (exactly half)
    labels[0, 1, :] = 2  # 10 voxels, 4 predicted -> missed
    labels[1, 0, :4] = 4  # 4 voxels, all predicted; id 3 absent
    pred = np.zeros(labels.shape, bool)
    pred[0, 0, :5] = True
    pred[0, 1, :4] = True
    pred[1, 0, :4] = True
    pred[1, 2, :] = True  # false positives do not matter
    bd = branch_detection(pred, labels)
    assert (bd.n_branches, bd.n_detected) == (3, 2)
    assert bd.rate == pytest.approx(2 / 3)
    np.testing.assert_array_equal(bd.branch_ids, [1, 2, 4])
    np.testing.assert_allclose(bd.recovered, [0.5, 0.4, 1.0])
    assert branch_detection(pred, labels, min_fraction=0.3).n_detected == 3
    assert np.isnan(branch_detection(pred, np.zeros_like(labels)).rate)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dropping_small_vessels_lowers_small_scale_recall_only(seed):
    from vesseltree.synthetic import make_phantom

    ph = make_phantom((40, 72, 72), (1.0, 0.7, 0.7), seed=seed, depth=5)
    seg = ph.segments
    r = 0.5 * (seg["radius_start_mm"] + seg["radius_end_mm"]).to_numpy()
    q1, med = np.quantile(r, [0.25, 0.5])
    cut = 0.5 * (q1 + med)  # between the small and the middle vessels
    pred = ph.mask & (ph.radius >= cut)  # the true per-voxel radius of the phantom
    assert 0 < pred.sum() < ph.mask.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vm = vessel_metrics(pred, ph.mask, ph.spacing, n_scales=3)
        same = vessel_metrics(ph.mask, ph.mask, ph.spacing, n_scales=3)
    assert vm.scale_recall[0] < 0.5
    assert vm.scale_recall[2] > 0.95
    assert vm.scale_recall[0] < vm.scale_recall[1] <= vm.scale_recall[2]
    assert vm.branch_detection_rate < 1.0
    np.testing.assert_array_equal(same.scale_recall, [1.0, 1.0, 1.0])
    assert same.branch_detection_rate == 1.0


def test_vessel_metrics_empty_gt_and_empty_pred():
    from vesseltree.synthetic import make_phantom

    ph = make_phantom((24, 40, 40), (1.0, 0.8, 0.8), seed=3, depth=3)
    z = np.zeros_like(ph.mask)
    vm = vessel_metrics(ph.mask, z, ph.spacing)
    assert np.isnan(vm.scale_recall).all() and np.isnan(vm.branch_detection_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vm = vessel_metrics(z, ph.mask, ph.spacing, n_scales=2)
    assert vm.scale_recall.shape == (2,)
    assert np.all(vm.scale_recall[~np.isnan(vm.scale_recall)] == 0.0)
    assert vm.branch_detection_rate == 0.0


# ------------------------------------------------------------------------- accumulators
def test_accumulator_statistics_and_exports(tmp_path):
    pairs = [_pair(s) for s in range(4)]
    dm, jm, hm, h95 = DiceMetric(), JaccardMetric(), HausdorffMetric(), HD95Metric()
    spacing = (2.0, 0.8, 0.8)
    for i, (a, b) in enumerate(pairs):
        for m in (dm, jm, hm, h95):
            m.update(a, b, spacing, case=f"c{i}")
    z = np.zeros_like(pairs[0][0])
    hm.add(compute_surface_metrics(pairs[0][0], z)["hd"], case="empty")  # nan: undefined
    dsc = np.array([compute_dice(a, b) for a, b in pairs])
    assert dm.mean() == pytest.approx(dsc.mean()) and dm.std() == pytest.approx(dsc.std())
    assert dm.std(ddof=1) == pytest.approx(dsc.std(ddof=1))
    hd = np.array([compute_surface_metrics(a, b, spacing)["hd"] for a, b in pairs])
    assert len(hm) == 5 and hm.n_undefined() == 1
    assert hm.mean() == pytest.approx(hd.mean())  # the undefined case is left out...
    assert "(1/5 undefined)" in hm.formatted()  # ...and reported
    assert h95.columns == ("hd95",)
    assert dm.formatted() == f"{100 * dsc.mean():.2f} \u00b1 {100 * dsc.std():.2f}"
    # CSV round trip keeps the per-case values, nan as empty cell
    path = hm.to_csv(tmp_path / "hd.csv")
    back = pd.read_csv(path, index_col="case")
    np.testing.assert_allclose(back["hd"].to_numpy()[:4], hd, rtol=1e-5)
    assert np.isnan(back.loc["empty", "hd"])
    md = summary_markdown({"A": dm, "B": hm})
    assert "| A |" in md and "DSC \u2191 (%)" in md and "HD \u2193 (mm)" in md
    s = hm.summary()
    assert s.loc["hd", "n_defined"] == 4 and s.loc["hd", "n_undefined"] == 1


def test_metric_classes_are_their_functions():
    """Each table-built class records exactly its function's value, under its column,
    passing ``spacing`` only to the distance metrics; the classes pickle by name."""
    import pickle

    from vesselnet.metrics import ASSDMetric, MetricAccumulator, compute_assd, compute_hausdorff

    a, b = _pair(7)
    spacing = (2.0, 0.5, 1.5)
    expected = {
        DiceMetric: ("dsc", compute_dice(a, b)),
        JaccardMetric: ("jaccard", compute_jaccard(a, b)),
        ClDiceMetric: ("cldice", compute_cldice(a, b)),
        ASSDMetric: ("assd", compute_assd(a, b, spacing)),
        HD95Metric: ("hd95", compute_hausdorff(a, b, spacing, 95.0)),
    }
    for cls, (column, value) in expected.items():
        m = cls()
        assert isinstance(m, MetricAccumulator) and m.columns == (column,)
        assert m.update(a, b, spacing, case="c") == {column: value}
        assert cls.__name__ in (cls.__doc__ or "") or column in (cls.__doc__ or "")
        back = pickle.loads(pickle.dumps(m))
        assert type(back) is cls and back.values().tolist() == [value]
    h = HausdorffMetric(90)
    assert h.update(a, b, spacing) == {"hd90": compute_hausdorff(a, b, spacing, 90)}
    with pytest.raises(TypeError):
        DiceMetric().compute(a, b, spacing, tree=None)  # no such option


def test_accumulator_all_undefined_is_not_a_number():
    m = HausdorffMetric()
    m.add(float("nan"), "x")
    assert np.isnan(m.mean()) and m.formatted() == "n/a (1/1 undefined)"


def test_accumulator_bad_values():
    m = DiceMetric()
    m.add(0.5, "a")
    with pytest.raises(ValueError, match="already recorded"):
        m.add(0.4, "a")
    with pytest.raises(TypeError, match="values"):
        m.add("high", "b")
    with pytest.raises(ValueError, match="column"):
        m.values("hd")


def test_evaluate_case_matches_the_single_functions():
    from vesseltree.synthetic import make_phantom

    ph = make_phantom((40, 72, 72), (1.0, 0.7, 0.7), seed=0, depth=5)
    pred = ndi.binary_erosion(ph.mask) | (np.roll(ph.mask, 1, axis=2) & ph.mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = CaseEvaluator(n_scales=3)
        row = ev.update(pred, ph.mask, ph.spacing, case="p")
        vm = vessel_metrics(pred, ph.mask, ph.spacing)
        sr, bd = ScaleRecallMetric(3), BranchDetectionMetric()
        sr.update(pred, ph.mask, ph.spacing)
        bd.update(pred, ph.mask, ph.spacing)
    sm = compute_surface_metrics(pred, ph.mask, ph.spacing)
    assert row["dsc"] == compute_dice(pred, ph.mask)
    assert row["jaccard"] == compute_jaccard(pred, ph.mask)
    assert row["cldice"] == compute_cldice(pred, ph.mask)
    assert (row["hd"], row["hd95"], row["assd"]) == (sm["hd"], sm["hd95"], sm["assd"])
    np.testing.assert_array_equal([row[f"recall_s{k}"] for k in (1, 2, 3)], vm.scale_recall)
    np.testing.assert_array_equal(sr.values("recall_s1"), [vm.scale_recall[0]])
    assert row["branch_detection"] == vm.branch_detection_rate == bd.values()[0]
    assert list(ev.to_frame().columns) == list(ev.columns)
    assert ClDiceMetric().compute(pred, ph.mask)["cldice"] == row["cldice"]
    mean, std = ev.scale_recall_summary()
    assert len(vm.branch.branch_ids) >= 3  # enough branches for 3 scales: all defined
    np.testing.assert_array_equal(mean, vm.scale_recall)
    np.testing.assert_array_equal(std, [0.0, 0.0, 0.0])
    no_vessel = evaluate_case(pred, ph.mask, ph.spacing, vessel=False)
    assert set(no_vessel) == {"dsc", "jaccard", "cldice", "hd", "hd95", "assd"}


# ---------------------------------------------------------------------------- bad input
def test_bad_inputs_name_the_argument():
    a = np.zeros((4, 5, 6), bool)
    with pytest.raises(ValueError, match="pred, gt"):
        compute_dice(a, np.zeros((4, 5, 7), bool))
    with pytest.raises(ValueError, match="gt"):
        compute_jaccard(a, np.full(a.shape, 0.5))
    with pytest.raises(ValueError, match="pred"):
        compute_cldice(np.full(a.shape, 3), a)
    with pytest.raises(ValueError, match="pred"):
        compute_dice(np.zeros((4, 5)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="spacing"):
        evaluate_case(a, a, spacing=0.0)
    with pytest.raises(ValueError, match="n_scales"):
        vessel_metrics(a, a, n_scales=1)
    with pytest.raises(ValueError, match="min_fraction"):
        branch_detection(a, np.zeros(a.shape, np.int32), min_fraction=1.5)
    with pytest.raises(ValueError, match="scale_masks"):
        scale_recall(a, np.zeros((3, 4, 5, 7), bool))
    # a 3D array where (S, z, y, x) is expected: the message describes the 4D layout
    with pytest.raises(ValueError, match=r"^scale_masks: expected a 4D array \(S, z, y, x\)"):
        scale_recall(a, a)
    with pytest.raises(TypeError, match="labels"):
        branch_detection(a, np.zeros(a.shape, float))


# ----------------------------------------------------------------------- properties
from hypothesis import given, strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402


@given(
    arrays(np.bool_, (5, 6, 7)),
    arrays(np.bool_, (5, 6, 7)),
    st.tuples(*[st.floats(0.2, 4.0)] * 3),
)
def test_metric_properties(a, b, spacing):
    d, j = compute_dice(a, b), compute_jaccard(a, b)
    assert 0.0 <= j <= d <= 1.0
    assert d == compute_dice(b, a) and j == compute_jaccard(b, a)
    s_ab, s_ba = compute_surface_metrics(a, b, spacing), compute_surface_metrics(b, a, spacing)
    if a.any() and b.any():
        assert 0.0 <= s_ab["assd"] <= s_ab["hd"] and s_ab["hd95"] <= s_ab["hd"]
        for k in s_ab:
            assert s_ab[k] == pytest.approx(s_ba[k], rel=1e-12, abs=1e-12)
        # the Hausdorff distance is at most the diagonal of the volume
        diag = np.sqrt(sum((n * s) ** 2 for n, s in zip(a.shape, spacing)))
        assert s_ab["hd"] <= diag
    elif a.any() != b.any():
        assert all(np.isnan(v) for v in s_ab.values())
    else:
        assert s_ab == {"hd": 0.0, "hd95": 0.0, "assd": 0.0}

"""Dice + weighted CE, soft-clDice, Eq. 5 and Eq. 9: peers (MONAI, torch.nn.functional),
brute-force formulas, gradcheck, gradients, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vesselnet.losses import (
    DiceCELoss,
    MultiTaskLoss,
    SoftClDiceLoss,
    TotalLoss,
    dice_ce_loss,
    dice_loss,
    multitask_loss,
    soft_cldice_loss,
    total_loss,
    weighted_cross_entropy,
)
from vesselnet.losses.cldice import soft_skeleton
from vesselnet.losses.total import union_target

monai_losses = pytest.importorskip("monai.losses")

SHAPE = (2, 1, 4, 5, 3)


def rand_binary(shape=SHAPE, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=g, dtype=dtype)
    target = (torch.rand(shape, generator=g) < 0.3).to(dtype)
    return logits, target


def rand_multiclass(C=4, seed=0, dtype=torch.float64, spatial=(4, 5, 3), B=2):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((B, C) + spatial, generator=g, dtype=dtype)
    ids = torch.randint(0, C, (B,) + spatial, generator=g)
    return logits, ids


# ----------------------------------------------------------------------------- Dice vs MONAI
@pytest.mark.parametrize("batch_dice", [False, True])
def test_binary_dice_matches_monai(batch_dice):
    logits, target = rand_binary()
    ours = dice_loss(logits, target, batch_dice=batch_dice, smooth=1e-3)
    peer = monai_losses.DiceLoss(sigmoid=True, batch=batch_dice, smooth_nr=1e-3, smooth_dr=1e-3)(
        logits, target
    )
    assert ours.item() == pytest.approx(peer.item(), rel=1e-12)


@pytest.mark.parametrize("include_background", [False, True])
@pytest.mark.parametrize("batch_dice", [False, True])
def test_multiclass_dice_matches_monai(include_background, batch_dice):
    logits, ids = rand_multiclass()
    ours = dice_loss(
        logits, ids, batch_dice=batch_dice, include_background=include_background, smooth=1e-4
    )
    peer = monai_losses.DiceLoss(
        softmax=True, to_onehot_y=True, include_background=include_background, batch=batch_dice,
        smooth_nr=1e-4, smooth_dr=1e-4,
    )(logits, ids[:, None])
    assert ours.item() == pytest.approx(peer.item(), rel=1e-12)
    # a one-hot target and a (B, 1, D, H, W) id target give the same value
    onehot = F.one_hot(ids, 4).permute(0, 4, 1, 2, 3).double()
    same = dice_loss(logits, onehot, batch_dice=batch_dice, include_background=include_background, smooth=1e-4)
    assert same.item() == pytest.approx(ours.item(), rel=1e-14)


def test_dice_of_perfect_hard_prediction_is_zero():
    _, target = rand_binary()
    probs = target.clone()
    assert dice_loss(probs, target, activation="none").item() == 0.0
    assert dice_loss(probs, target, activation="none", batch_dice=True).item() == 0.0
    # logits of +-40: sigmoid is 1 - 4e-18, i.e. a hard prediction in float64
    logits = (target * 2 - 1) * 40.0
    assert dice_loss(logits, target).item() == pytest.approx(0.0, abs=1e-12)
    # an empty target and empty prediction: 0 up to the smoothing term
    empty = torch.zeros(SHAPE, dtype=torch.float64)
    assert dice_loss(empty, empty, activation="none").item() == 0.0
    # multi-class, hard one-hot prediction
    _, ids = rand_multiclass()
    onehot = F.one_hot(ids, 4).permute(0, 4, 1, 2, 3).double()
    assert dice_loss(onehot, ids, activation="none", include_background=True).item() == 0.0
    # and a wrong prediction is far from 0
    assert dice_loss(1.0 - probs, target, activation="none").item() > 0.5


# ----------------------------------------------------------------------------- weighted CE
def test_multiclass_ce_matches_torch():
    logits, ids = rand_multiclass(C=3)
    w = (0.2, 1.0, 3.5)
    ours = weighted_cross_entropy(logits, ids, class_weights=w)
    peer = F.cross_entropy(logits, ids, weight=torch.tensor(w, dtype=torch.float64))
    assert ours.item() == pytest.approx(peer.item(), rel=1e-12)
    assert weighted_cross_entropy(logits, ids, class_weights=None).item() == pytest.approx(
        F.cross_entropy(logits, ids).item(), rel=1e-12
    )
    # per-batch frequency weights computed independently with numpy
    counts = np.bincount(ids.numpy().ravel(), minlength=3).astype(float)
    wb = ids.numel() / (3 * np.maximum(counts, 1))
    peer = F.cross_entropy(logits, ids, weight=torch.tensor(wb))
    assert weighted_cross_entropy(logits, ids).item() == pytest.approx(peer.item(), rel=1e-12)


def test_binary_ce_matches_torch():
    logits, target = rand_binary(seed=3)
    w_bg, w_fg = 0.4, 2.5
    ours = weighted_cross_entropy(logits, target, class_weights=(w_bg, w_fg))
    wmap = target * w_fg + (1 - target) * w_bg
    peer = F.binary_cross_entropy_with_logits(logits, target, weight=wmap, reduction="sum") / wmap.sum()
    assert ours.item() == pytest.approx(peer.item(), rel=1e-12)
    assert weighted_cross_entropy(logits, target, class_weights=None).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, target).item(), rel=1e-12
    )
    # per-batch foreground ratio: w_fg / w_bg = n_bg / n_fg, i.e. torch's pos_weight
    n_fg = target.sum()
    n_bg = target.numel() - n_fg
    wmap = target * (n_bg / n_fg) + (1 - target)
    peer = F.binary_cross_entropy_with_logits(logits, target, weight=wmap, reduction="sum") / wmap.sum()
    assert weighted_cross_entropy(logits, target).item() == pytest.approx(peer.item(), rel=1e-12)


def test_dice_ce_is_weighted_sum():
    logits, target = rand_binary(seed=4)
    d = dice_loss(logits, target)
    c = weighted_cross_entropy(logits, target)
    got = dice_ce_loss(logits, target, dice_weight=0.3, ce_weight=2.0)
    assert got.item() == pytest.approx(0.3 * d.item() + 2.0 * c.item(), rel=1e-13)
    assert DiceCELoss()(logits, target).item() == pytest.approx(d.item() + c.item(), rel=1e-13)


# ----------------------------------------------------------------------------- soft-clDice
def test_cldice_matches_monai_and_works_with_one_channel():
    logits, target = rand_binary(shape=(2, 1, 6, 7, 5), seed=5)
    ours = soft_cldice_loss(logits, target, iterations=2, smooth=1.0)
    peer = monai_losses.SoftclDiceLoss(iter_=2, smooth_nr=1.0, smooth_dr=1.0, smooth=1e-30, sigmoid=True)(
        logits, target
    )
    assert ours.item() == pytest.approx(peer.item(), rel=1e-10)
    assert ours.item() > 0
    logits.requires_grad_(True)
    soft_cldice_loss(logits, target).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_cldice_multiclass_matches_monai():
    logits, ids = rand_multiclass(C=3, spatial=(6, 5, 5), seed=6)
    ours = soft_cldice_loss(logits, ids, iterations=2, include_background=False)
    peer = monai_losses.SoftclDiceLoss(
        iter_=2, smooth_nr=1.0, smooth_dr=1.0, smooth=1e-30, softmax=True, to_onehot_y=True,
        include_background=False,
    )(logits, ids[:, None])
    assert ours.item() == pytest.approx(peer.item(), rel=1e-10)


def test_soft_skeleton_of_tube_lies_on_its_axis():
    vol = torch.zeros(1, 1, 11, 11, 15, dtype=torch.float64)
    vol[..., 3:8, 3:8, 2:13] = 1.0  # a 5x5 square tube along x
    skel = soft_skeleton(vol, iterations=5)[0, 0]
    assert skel.max() > 0.5
    zz, yy, _ = torch.nonzero(skel > 0.5, as_tuple=True)
    assert set(zz.tolist()) == {5} and set(yy.tolist()) == {5}  # the centre line


@pytest.mark.parametrize("bad", [torch.zeros(11, 11, 15), torch.zeros(1, 11, 11, 15), torch.zeros(1, 1, 1, 4, 4, 4)])
def test_soft_skeleton_rejects_wrong_rank_before_torch(bad):
    with pytest.raises(ValueError, match=r"^x: expected a 5D tensor \(B, C, D, H, W\)"):
        soft_skeleton(bad)


def test_soft_skeleton_rejects_bad_types():
    with pytest.raises(TypeError, match="^x: expected a torch.Tensor"):
        soft_skeleton(np.zeros((1, 1, 3, 3, 3)))
    with pytest.raises(TypeError, match="^x: expected a floating-point tensor"):
        soft_skeleton(torch.zeros(1, 1, 3, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="^iterations"):
        soft_skeleton(torch.zeros(1, 1, 3, 3, 3), iterations=-1)


# ----------------------------------------------------------------------------- Eq. 5 / Eq. 9
def fake_output(B=2, S=3, dim=4, size=(4, 4, 4), emb=(2, 2, 2), seed=0, C0=1, grad=True):
    g = torch.Generator().manual_seed(seed)
    main = torch.randn((B, C0) + size, generator=g, dtype=torch.float64, requires_grad=grad)
    aux = [torch.randn((B, 1) + size, generator=g, dtype=torch.float64, requires_grad=grad) for _ in range(S)]
    embs = [torch.randn((B, dim) + emb, generator=g, dtype=torch.float64, requires_grad=grad) for _ in range(S)]
    labels = torch.randint(0, S + 1, (B, 1) + size, generator=g)
    scales = [(labels == s + 1).double() for s in range(S)]
    return (main, aux, embs), scales


def test_multitask_loss_is_eq5():
    (main, aux, _), scales = fake_output()
    y = union_target(scales, 3)
    lam = (0.78, 0.48, 0.54)
    want = dice_ce_loss(main, y) + sum(l * dice_ce_loss(a, t) for l, a, t in zip(lam, aux, scales))
    got, terms = multitask_loss(main, y, aux, scales, lam, return_terms=True)
    assert got.item() == pytest.approx(want.item(), rel=1e-13)
    assert set(terms) == {"mt", "s1", "s2", "s3", "total"}
    assert MultiTaskLoss()((main, aux), y, torch.cat(scales, 1)).item() == pytest.approx(want.item(), rel=1e-13)


def test_total_loss_lambda_c_zero_is_exactly_eq5():
    out, scales = fake_output(seed=1)
    y = union_target(scales, 3)
    eq5 = multitask_loss(out[0], y, out[1], scales)
    assert torch.equal(total_loss(out, y, scales, lambda_c=0.0), eq5)
    assert torch.equal(TotalLoss(lambda_c=0.0)(out, None, scales), eq5)


def test_total_loss_is_eq9_with_paper_defaults():
    from vesselnet.losses import scale_contrastive_loss

    out, scales = fake_output(seed=2)
    y = union_target(scales, 3)
    eq5 = multitask_loss(out[0], y, out[1], scales, (0.78, 0.48, 0.54))
    lc = scale_contrastive_loss(out[2], scales, 0.94)
    got, terms = TotalLoss()(out, y, scales, return_terms=True)
    assert got.item() == pytest.approx(eq5.item() + 0.53 * lc.item(), rel=1e-13)
    assert terms["contrastive"].item() == pytest.approx(lc.item(), rel=1e-13)
    assert total_loss(out, y, scales).item() == pytest.approx(got.item(), rel=1e-13)
    with_cl = total_loss(out, y, scales, cldice_weight=0.5, cldice_iterations=1)
    cl = soft_cldice_loss(out[0], y, iterations=1)
    assert with_cl.item() == pytest.approx(got.item() + 0.5 * cl.item(), rel=1e-13)


# ----------------------------------------------------------------------------- gradients
def _binary_case(seed):
    logits, target = rand_binary(seed=seed)
    return logits.requires_grad_(True), target


def _multi_case(seed):
    logits, ids = rand_multiclass(C=3, seed=seed)
    return logits.requires_grad_(True), ids


LOSSES = {
    "dice": lambda x, t: dice_loss(x, t),
    "dice_batch": lambda x, t: dice_loss(x, t, batch_dice=True),
    "wce_batch": lambda x, t: weighted_cross_entropy(x, t),
    "wce_none": lambda x, t: weighted_cross_entropy(x, t, class_weights=None),
    "dice_ce": lambda x, t: dice_ce_loss(x, t),
    "cldice": lambda x, t: soft_cldice_loss(x, t, iterations=1),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("case", [_binary_case, _multi_case], ids=["1ch", "3ch"])
def test_losses_gradients_and_gradcheck(name, case):
    x, t = case(seed=8)
    fn = LOSSES[name]
    fn(x, t).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    small = x.detach()[:1, :, :3, :3, :3].clone().requires_grad_(True)
    ts = t[:1, :, :3, :3, :3] if t.ndim == 5 else t[:1, :3, :3, :3]
    assert torch.autograd.gradcheck(lambda z: fn(z, ts), (small,))


def test_eq5_eq9_gradients_reach_every_input():
    out, scales = fake_output(seed=3)
    loss = TotalLoss(cldice_weight=0.2, cldice_iterations=1)(out, None, scales)
    loss.backward()
    for t in [out[0], *out[1], *out[2]]:
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    # multi-class main task (background + 3 scales, class-id target)
    out, scales = fake_output(seed=5, C0=4)
    ids = sum((s + 1) * m.long() for s, m in enumerate(scales))
    TotalLoss(cldice_weight=0.2, cldice_iterations=1)(out, ids, scales).backward()
    for t in [out[0], *out[1], *out[2]]:
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    out, scales = fake_output(seed=4, size=(2, 2, 2), emb=(1, 1, 2), dim=2, B=2)
    leaves = [out[0], *out[1], *out[2]]

    def f(*ts):
        return total_loss((ts[0], list(ts[1:4]), list(ts[4:])), None, scales)

    assert torch.autograd.gradcheck(f, tuple(leaves), fast_mode=True)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_valueerror_naming_argument():
    logits, target = rand_binary()
    with pytest.raises(ValueError, match="logits"):
        dice_loss(logits[0], target[0])
    with pytest.raises(ValueError, match="target"):
        dice_loss(logits, target[:, :, :2])
    with pytest.raises(ValueError, match="target"):
        dice_ce_loss(logits, target * 3)
    with pytest.raises(ValueError, match="target"):
        dice_ce_loss(logits, target - 1)
    with pytest.raises(ValueError, match="target"):
        dice_loss(logits, torch.full_like(target, float("nan")))
    ml, ids = rand_multiclass(C=3)
    with pytest.raises(ValueError, match="target"):
        dice_ce_loss(ml, ids + 3)
    with pytest.raises(ValueError, match="target"):
        weighted_cross_entropy(ml, ids - 1)
    with pytest.raises(ValueError, match="class_weights"):
        weighted_cross_entropy(ml, ids, class_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="class_weights"):
        DiceCELoss(class_weights=(1.0, -2.0))
    with pytest.raises(ValueError, match="class_weights"):
        DiceCELoss(class_weights="median")
    with pytest.raises(ValueError, match="smooth"):
        DiceCELoss(smooth=0.0)
    with pytest.raises(ValueError, match="lambdas"):
        MultiTaskLoss(lambdas=(0.78, -0.48, 0.54))
    with pytest.raises(ValueError, match="lambdas"):
        TotalLoss(num_scales=3, lambdas=(1.0, 1.0))
    with pytest.raises(ValueError, match="lambda_c"):
        TotalLoss(lambda_c=-0.1)
    with pytest.raises(ValueError, match="tau"):
        TotalLoss(tau=0.0)
    out, scales = fake_output()
    with pytest.raises(ValueError, match="tau"):
        total_loss(out, None, scales, tau=-1.0)
    with pytest.raises(ValueError, match="lambdas"):
        total_loss(out, None, scales, lambdas=(1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="scale_targets"):
        total_loss(out, None, scales[:2])
    with pytest.raises(ValueError, match=r"scale_targets\[1\]"):
        total_loss(out, None, [scales[0], scales[1] * 2, scales[2]])
    with pytest.raises(ValueError, match="main_target"):
        total_loss(out, scales[0] * 3, scales)
    with pytest.raises(ValueError, match=r"aux_logits\[0\]"):
        total_loss((out[0], [out[1][0][:, :, :2]] + out[1][1:], out[2]), scales[0], scales)
    with pytest.raises(ValueError, match="iterations"):
        SoftClDiceLoss(iterations=-1)


def test_half_precision_logits_are_reduced_in_float32():
    logits, target = rand_binary(shape=(2, 1, 16, 16, 16), seed=9, dtype=torch.float32)
    half = logits.half()
    for fn in (dice_loss, weighted_cross_entropy, dice_ce_loss, soft_cldice_loss):
        got = fn(half, target)
        assert got.dtype == torch.float32
        assert torch.equal(got, fn(half.float(), target))


def test_nonfinite_logits_and_targets_are_named():
    (main, aux, emb), scales = fake_output(seed=5, grad=False)
    y = union_target(scales, 3)
    bad = main.clone()
    bad[0, 0, 1, 1, 1] = float("inf")
    with pytest.raises(ValueError, match=r"logits: expected finite values, got 0 NaN and 1 infinite"):
        dice_ce_loss(bad, y)
    aux_bad = [a.clone() for a in aux]
    aux_bad[2][1, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"auxiliary task 3 .*logits: expected finite values"):
        total_loss((main, aux_bad, emb), y, scales)
    y_bad = y.clone()
    y_bad[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"target: expected values in \[0, 1\]"):
        dice_ce_loss(main, y_bad)

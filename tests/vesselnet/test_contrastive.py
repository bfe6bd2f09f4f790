"""Scale-supervised contrastive loss (Eq. 7-8) against a brute-force NumPy evaluation."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from vesselnet.losses import contrastive
from vesselnet.losses.contrastive import (
    MemoryBank,
    ScaleContrastiveLoss,
    pooled_scale_embeddings,
    sampled_scale_embeddings,
    scale_contrastive_loss,
    supervised_contrastive_loss,
)

RTOL = 1e-10


# ----------------------------------------------------------------------------- references
def ref_eq78(emb, labels, tau, bank_emb=None, bank_labels=None):
    """Eq. 7-8 with explicit loops (float64). Anchors = rows of emb; bank rows only as keys."""
    z = np.asarray(emb, dtype=np.float64)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    lab = list(np.asarray(labels))
    keys, key_lab = list(z), list(lab)
    if bank_emb is not None and len(bank_emb):
        b = np.asarray(bank_emb, dtype=np.float64)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        keys += list(b)
        key_lab += list(np.asarray(bank_labels))
    per_anchor = []
    for i in range(len(z)):
        P = [j for j in range(len(keys)) if key_lab[j] == lab[i] and j != i]
        N = [k for k in range(len(keys)) if key_lab[k] != lab[i]]
        if not P:
            continue  # anchors without positives are excluded from A
        total = 0.0
        for j in P:
            num = np.exp(float(z[i] @ keys[j]) / tau)
            den = num + sum(np.exp(float(z[i] @ keys[k]) / tau) for k in N)
            total += -np.log(num / den)
        per_anchor.append(total / len(P))
    return float(np.mean(per_anchor)) if per_anchor else 0.0


def ref_reduce_mask(mask, size):
    """(D, H, W) mask -> (d, h, w): a coarse voxel is set if any fine voxel of its block is."""
    D, H, W = mask.shape
    d, h, w = size
    kd, kh, kw = D // d, H // h, W // w
    out = np.zeros(size, dtype=bool)
    for a in range(d):
        for b in range(h):
            for c in range(w):
                out[a, b, c] = mask[a * kd:(a + 1) * kd, b * kh:(b + 1) * kh, c * kw:(c + 1) * kw].any()
    return out


def ref_pooled(maps, masks, empty="global"):
    vecs, labs = [], []
    for s, (z, m) in enumerate(zip(maps, masks), start=1):
        z = z.detach().numpy()
        for b in range(z.shape[0]):
            mm = ref_reduce_mask(m[b, 0].numpy() > 0, z.shape[2:])
            if mm.any():
                v = z[b][:, mm].mean(axis=1)
            elif empty == "global":
                v = z[b].reshape(z.shape[1], -1).mean(axis=1)
            else:
                continue
            vecs.append(v)
            labs.append(s)
    return np.array(vecs), np.array(labs)


def random_case(B=2, S=3, dim=5, emb_size=(2, 3, 2), factor=2, density=0.3, seed=0, empty_at=None):
    g = torch.Generator().manual_seed(seed)
    maps = [torch.randn(B, dim, *emb_size, generator=g, dtype=torch.float64) for _ in range(S)]
    full = tuple(factor * e for e in emb_size)
    masks = [(torch.rand(B, 1, *full, generator=g) < density).to(torch.float64) for _ in range(S)]
    if empty_at is not None:
        b, s = empty_at
        masks[s][b] = 0
    return maps, masks


# ----------------------------------------------------------------------------- core Eq. 7-8
@pytest.mark.parametrize(
    "labels",
    [
        [1, 1, 2, 2, 3, 3],  # pooled batch of 2, S = 3
        [1, 2, 3, 1, 2, 3, 1],  # unequal multiplicities
        [1, 2, 3, 3],  # scales 1 and 2 have no positive: excluded anchors
        [2, 2, 2],  # no negatives: l_ij = 0
    ],
)
def test_supcon_matches_bruteforce(labels):
    g = torch.Generator().manual_seed(len(labels))
    emb = torch.randn(len(labels), 7, generator=g, dtype=torch.float64)
    lab = torch.tensor(labels)
    for tau in (0.94, 0.1, 3.0):
        got = supervised_contrastive_loss(emb, lab, tau).item()
        assert got == pytest.approx(ref_eq78(emb.numpy(), labels, tau), rel=RTOL, abs=1e-12)


def test_supcon_with_bank_matches_bruteforce():
    g = torch.Generator().manual_seed(3)
    emb = torch.randn(6, 4, generator=g, dtype=torch.float64)
    lab = torch.tensor([1, 1, 2, 3, 3, 3])
    bank = torch.randn(5, 4, generator=g, dtype=torch.float64)
    bank_lab = torch.tensor([2, 1, 3, 2, 1])
    got = supervised_contrastive_loss(emb, lab, 0.5, bank_embeddings=bank, bank_labels=bank_lab)
    want = ref_eq78(emb.numpy(), lab.numpy(), 0.5, bank.numpy(), bank_lab.numpy())
    assert got.item() == pytest.approx(want, rel=RTOL)
    # the bank adds positives for scale 2 (single in the batch): differs from no-bank loss
    assert got.item() != pytest.approx(supervised_contrastive_loss(emb, lab, 0.5).item(), rel=1e-6)


@given(
    labels=st.lists(st.integers(1, 3), min_size=2, max_size=8),
    bank_labels=st.lists(st.integers(1, 3), min_size=0, max_size=5),
    tau=st.floats(0.05, 5.0),
    seed=st.integers(0, 2**16),
)
def test_supcon_property_bruteforce(labels, bank_labels, tau, seed):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(len(labels), 3, generator=g, dtype=torch.float64)
    bank = torch.randn(len(bank_labels), 3, generator=g, dtype=torch.float64)
    got = supervised_contrastive_loss(
        emb, torch.tensor(labels), tau, bank_embeddings=bank,
        bank_labels=torch.tensor(bank_labels, dtype=torch.long),
    )
    want = ref_eq78(emb.numpy(), labels, tau, bank.numpy(), bank_labels)
    assert got.item() == pytest.approx(want, rel=RTOL, abs=1e-12)


def test_no_positive_anywhere_gives_connected_zero():
    emb = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    loss = supervised_contrastive_loss(emb, torch.tensor([1, 2, 3]), 0.94)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(emb.grad).all()


def test_supcon_gradcheck_and_gradient():
    g = torch.Generator().manual_seed(1)
    emb = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    bank = torch.randn(4, 3, generator=g, dtype=torch.float64)
    lab = torch.tensor([1, 1, 2, 2, 3, 3])
    bl = torch.tensor([1, 2, 3, 3])
    f = lambda e: supervised_contrastive_loss(e, lab, 0.94, bank_embeddings=bank, bank_labels=bl)
    assert torch.autograd.gradcheck(f, (emb,))
    f(emb).backward()
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- pooled mode
@pytest.mark.parametrize("empty_at", [None, (1, 2)])
@pytest.mark.parametrize("empty", ["global", "skip"])
def test_pooled_mode_matches_bruteforce(empty_at, empty):
    maps, masks = random_case(empty_at=empty_at, seed=7)
    vecs, labs = ref_pooled(maps, masks, empty)
    got_v, got_l = pooled_scale_embeddings(maps, masks, empty=empty)
    np.testing.assert_allclose(
        got_v.numpy(), vecs / np.linalg.norm(vecs, axis=1, keepdims=True), rtol=RTOL
    )
    np.testing.assert_array_equal(got_l.numpy(), labs)
    got = scale_contrastive_loss(maps, masks, 0.94, mode="pooled", empty=empty)
    assert got.item() == pytest.approx(ref_eq78(vecs, labs, 0.94), rel=RTOL)


def test_pooled_mode_accepts_stacked_masks_and_same_resolution():
    maps, masks = random_case(factor=1, seed=2)
    stacked = torch.cat(masks, dim=1)
    a = scale_contrastive_loss(maps, masks, 0.7)
    b = scale_contrastive_loss(maps, stacked, 0.7)
    vecs, labs = ref_pooled(maps, masks)
    assert a.item() == b.item() == pytest.approx(ref_eq78(vecs, labs, 0.7), rel=RTOL)


def test_pooled_mode_with_bank_matches_bruteforce():
    maps, masks = random_case(seed=11, dim=4)
    bank = MemoryBank(num_scales=3, size=4, dim=4).double()
    g = torch.Generator().manual_seed(5)
    be = torch.randn(7, 4, generator=g, dtype=torch.float64)
    bl = torch.tensor([1, 2, 3, 1, 1, 2, 3])
    bank.push(be, bl)
    stored_e, stored_l = bank.get()
    vecs, labs = ref_pooled(maps, masks)
    got = scale_contrastive_loss(maps, masks, 0.94, mode="pooled", bank=bank)
    want = ref_eq78(vecs, labs, 0.94, stored_e.numpy(), stored_l.numpy())
    assert got.item() == pytest.approx(want, rel=RTOL)
    # the bank holds the pushed vectors (normalised) - check against the raw input
    raw = be.numpy() / np.linalg.norm(be.numpy(), axis=1, keepdims=True)
    for s in (1, 2, 3):
        np.testing.assert_allclose(
            np.sort(stored_e[stored_l == s].numpy(), axis=0),
            np.sort(raw[bl.numpy() == s], axis=0), rtol=RTOL,
        )


def test_pooled_batch_of_one_needs_bank(monkeypatch):
    monkeypatch.setattr(contrastive, "_warned_batch_one", False)
    maps, masks = random_case(B=1, seed=4)
    with pytest.warns(UserWarning, match="batch size 1 and no memory bank"):
        assert scale_contrastive_loss(maps, masks).item() == 0.0  # no anchor has a positive
    loss_mod = ScaleContrastiveLoss(3, 0.94, bank_size=8, embedding_dim=5).double()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a bank is configured: no warning
        first = loss_mod(maps, masks)
    assert first.item() == 0.0 and len(loss_mod.bank) == 3
    second = loss_mod(maps, masks)  # now the bank supplies positives
    vecs, labs = ref_pooled(maps, masks)
    want = ref_eq78(vecs, labs, 0.94, vecs, labs)
    assert second.item() == pytest.approx(want, rel=RTOL)
    assert second.item() > 0


def test_pooled_batch_of_one_without_bank_warns_once(monkeypatch):
    """Pooled, B = 1, no bank: L_c is always 0; warn once per process (function) and once per
    object (modules), suggesting a bank or voxel mode; never for B > 1, a bank or voxel mode."""
    monkeypatch.setattr(contrastive, "_warned_batch_one", False)
    maps, masks = random_case(B=1, seed=4)
    with pytest.warns(UserWarning, match=r"bank.*mode=\"voxel\"") as rec:
        scale_contrastive_loss(maps, masks)
        scale_contrastive_loss(maps, masks)  # second call: silent
    assert len([w for w in rec if "batch size 1" in str(w.message)]) == 1
    mod = ScaleContrastiveLoss(3, 0.94).double()
    with pytest.warns(UserWarning, match="bank_size > 0") as rec:
        assert mod(maps, masks).item() == 0.0
        mod(maps, masks)
    assert len([w for w in rec if "batch size 1" in str(w.message)]) == 1
    with pytest.warns(UserWarning, match="bank_size > 0"):
        ScaleContrastiveLoss(3, 0.94).double()(maps, masks)  # a new object warns again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monkeypatch.setattr(contrastive, "_warned_batch_one", False)
        scale_contrastive_loss(maps, masks, mode="voxel", num_samples=4)
        scale_contrastive_loss(*random_case(B=2, seed=4))
        ScaleContrastiveLoss(3, 0.94, mode="voxel").double()(maps, masks)
        ScaleContrastiveLoss(3, 0.94).double()(*random_case(B=2, seed=4))


def test_total_loss_batch_of_one_warns(monkeypatch):
    from vesselnet.losses import TotalLoss, total_loss

    monkeypatch.setattr(contrastive, "_warned_batch_one", False)
    g = torch.Generator().manual_seed(0)
    main = torch.randn(1, 1, 4, 4, 4, generator=g, dtype=torch.float64)
    aux = [torch.randn(1, 1, 4, 4, 4, generator=g, dtype=torch.float64) for _ in range(3)]
    emb = [torch.randn(1, 5, 2, 2, 2, generator=g, dtype=torch.float64) for _ in range(3)]
    scales = [(torch.rand(1, 1, 4, 4, 4, generator=g) < 0.3).double() for _ in range(3)]
    with pytest.warns(UserWarning, match="batch size 1"):
        TotalLoss()((main, aux, emb), None, scales)
    with pytest.warns(UserWarning, match="batch size 1"):
        total_loss((main, aux, emb), None, scales)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TotalLoss(lambda_c=0.0)((main, aux, emb), None, scales)  # no L_c, nothing to warn about
        TotalLoss(bank_size=4, embedding_dim=5).double()((main, aux, emb), None, scales)


# ----------------------------------------------------------------------------- voxel mode
def test_voxel_mode_all_voxels_matches_bruteforce():
    """K larger than every mask: all set voxels are used, no randomness in the reference."""
    maps, masks = random_case(seed=9, dim=4, emb_size=(2, 2, 3))
    vecs, labs = [], []
    for s, (z, m) in enumerate(zip(maps, masks), start=1):
        for b in range(z.shape[0]):
            mm = ref_reduce_mask(m[b, 0].numpy() > 0, z.shape[2:])
            for idx in zip(*np.nonzero(mm)):
                vecs.append(z[b][(slice(None),) + idx].numpy())
                labs.append(s)
    got = scale_contrastive_loss(maps, masks, 0.94, mode="voxel", num_samples=1000)
    assert got.item() == pytest.approx(ref_eq78(np.array(vecs), labs, 0.94), rel=RTOL)


@pytest.mark.parametrize("with_bank", [False, True])
def test_voxel_mode_sampled_matches_bruteforce(with_bank):
    """K small: the reference redraws the documented protocol with the same seed."""
    K = 3
    maps, masks = random_case(seed=13, dim=4, emb_size=(2, 3, 3), density=0.4)
    rng = torch.Generator().manual_seed(42)
    vecs, labs = [], []
    for s, (z, m) in enumerate(zip(maps, masks), start=1):
        for b in range(z.shape[0]):
            mm = ref_reduce_mask(m[b, 0].numpy() > 0, z.shape[2:]).ravel()
            idx = np.flatnonzero(mm)
            if len(idx) > K:
                idx = idx[torch.randperm(len(idx), generator=rng)[:K].numpy()]
            flat = z[b].reshape(z.shape[1], -1).numpy()
            for i in idx:
                vecs.append(flat[:, i])
                labs.append(s)
    bank = None
    if with_bank:
        bank = MemoryBank(3, 5, 4).double()
        bank.push(torch.randn(9, 4, dtype=torch.float64), torch.tensor([1, 2, 3] * 3))
    got = scale_contrastive_loss(
        maps, masks, 0.94, mode="voxel", num_samples=K,
        generator=torch.Generator().manual_seed(42), bank=bank,
    )
    be, bl = (None, None) if bank is None else (bank.get()[0].numpy(), bank.get()[1].numpy())
    assert got.item() == pytest.approx(ref_eq78(np.array(vecs), labs, 0.94, be, bl), rel=RTOL)


def test_voxel_sampling_is_seeded():
    maps, masks = random_case(seed=1, emb_size=(3, 3, 3), density=0.5)
    draw = lambda seed: sampled_scale_embeddings(
        maps, masks, num_samples=2, generator=torch.Generator().manual_seed(seed)
    )[0]
    assert torch.equal(draw(0), draw(0))
    assert not torch.equal(draw(0), draw(1))


def test_voxel_mode_gradients_and_gradcheck():
    maps, masks = random_case(seed=21, dim=3, emb_size=(2, 2, 2), density=0.5)
    maps = [m.requires_grad_(True) for m in maps]
    f = lambda *ms: scale_contrastive_loss(
        list(ms), masks, 0.94, mode="voxel", num_samples=2,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.autograd.gradcheck(f, tuple(maps))
    f(*maps).backward()
    for m in maps:
        assert torch.isfinite(m.grad).all() and m.grad.abs().sum() > 0


def test_pooled_mode_gradcheck():
    maps, masks = random_case(seed=22, dim=3, emb_size=(2, 2, 2))
    maps = [m.requires_grad_(True) for m in maps]
    assert torch.autograd.gradcheck(lambda *ms: scale_contrastive_loss(list(ms), masks), tuple(maps))


# ----------------------------------------------------------------------------- memory bank
def test_memory_bank_fifo_and_detached():
    bank = MemoryBank(num_scales=2, size=3, dim=2).double()
    e = torch.arange(10, dtype=torch.float64).reshape(5, 2) + 1.0
    e.requires_grad_(True)
    bank.push(e, torch.tensor([1, 1, 1, 1, 2]))
    got_e, got_l = bank.get()
    assert not got_e.requires_grad
    assert got_l.tolist() == [1, 1, 1, 2]
    # scale 1 keeps its three most recent vectors (rows 1, 2, 3)
    kept = {tuple(np.round(v, 12)) for v in got_e[:3].numpy()}
    want = e.detach().numpy()[1:4] / np.linalg.norm(e.detach().numpy()[1:4], axis=1, keepdims=True)
    assert kept == {tuple(np.round(v, 12)) for v in want}
    bank.push(e[:1].detach(), torch.tensor([1]))  # overwrites the oldest (row 1)
    kept = {tuple(np.round(v, 12)) for v in bank.get()[0][:3].numpy()}
    rows = e.detach().numpy()[[0, 2, 3]]
    assert kept == {tuple(np.round(v, 12)) for v in rows / np.linalg.norm(rows, axis=1, keepdims=True)}
    bank.reset()
    assert len(bank) == 0


def test_module_pushes_only_in_training():
    maps, masks = random_case(seed=3)
    mod = ScaleContrastiveLoss(3, bank_size=4, embedding_dim=5).double().eval()
    mod(maps, masks)
    assert len(mod.bank) == 0
    mod.train()
    mod(maps, masks)
    assert len(mod.bank) == 6


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_valueerror_naming_argument():
    maps, masks = random_case()
    with pytest.raises(ValueError, match="tau"):
        scale_contrastive_loss(maps, masks, 0.0)
    with pytest.raises(ValueError, match="tau"):
        ScaleContrastiveLoss(3, tau=-1.0)
    with pytest.raises(ValueError, match="mode"):
        ScaleContrastiveLoss(3, mode="pixels")
    with pytest.raises(ValueError, match="scale_masks"):
        scale_contrastive_loss(maps, masks[:2])
    with pytest.raises(ValueError, match=r"scale_masks\[0\]"):
        scale_contrastive_loss(maps, [masks[0] * 2.0] + masks[1:])
    with pytest.raises(ValueError, match="multiple"):
        scale_contrastive_loss(maps, [m[..., :3] for m in masks])
    with pytest.raises(ValueError, match=r"embeddings\[1\]"):
        scale_contrastive_loss([maps[0], maps[1][:, :2]], masks[:2])
    with pytest.raises(ValueError, match="embedding_dim"):
        ScaleContrastiveLoss(3, bank_size=4)
    with pytest.raises(ValueError, match="labels"):
        supervised_contrastive_loss(torch.randn(3, 2), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="embeddings"):
        ScaleContrastiveLoss(2)(maps, masks)


def test_autocast_keeps_similarities_in_float32():
    maps, masks = random_case(seed=30)
    maps32 = [m.float() for m in maps]
    want = scale_contrastive_loss(maps32, masks)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = scale_contrastive_loss(maps32, masks)
    assert got.dtype == torch.float32 and torch.equal(got, want)


# ----------------------------------------------------------------------------- state for exact resume
def test_generator_state_is_in_state_dict_and_resume_repeats_the_draws():
    maps, masks = random_case(seed=31, dim=3, emb_size=(3, 3, 3), density=0.6)
    run = ScaleContrastiveLoss(3, mode="voxel", num_samples=2, seed=5).double()
    run(maps, masks)  # one step consumes random numbers
    saved = run.state_dict()
    assert torch.equal(saved["_extra_state"]["generator_state"], run.generator.get_state())
    expected = [run(maps, masks) for _ in range(2)]
    resumed = ScaleContrastiveLoss(3, mode="voxel", num_samples=2, seed=99).double()
    before = resumed(maps, masks)  # another seed draws other voxels (positive control)
    resumed.load_state_dict(saved)
    got = [resumed(maps, masks) for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    assert not torch.equal(before, expected[0])
    with pytest.raises(ValueError, match="state: expected"):
        resumed.set_extra_state({"generator_state": None})


def test_module_owns_generator_and_bank_under_the_function_names():
    from vesselnet.losses import TotalLoss

    g = torch.Generator().manual_seed(3)
    bank = MemoryBank(3, 4, 5)
    mod = ScaleContrastiveLoss(3, mode="voxel", generator=g, bank=bank)
    assert mod.generator is g and mod.bank is bank
    total = TotalLoss(mode="voxel", num_samples=2, seed=7)
    assert total.generator is total.contrastive.generator and total.bank is None
    with pytest.raises(ValueError, match="seed: give a seed or a generator"):
        ScaleContrastiveLoss(3, seed=1, generator=g)
    with pytest.raises(ValueError, match="bank_size: give a bank or a bank_size"):
        ScaleContrastiveLoss(3, bank=bank, bank_size=4, embedding_dim=5)
    with pytest.raises(TypeError, match="generator"):
        ScaleContrastiveLoss(3, generator=3)
    with pytest.raises(ValueError, match="bank: expected a bank of 3 scales"):
        ScaleContrastiveLoss(3, bank=MemoryBank(2, 4, 5))
    # the function with the module's generator draws what the module draws
    maps, masks = random_case(seed=32, dim=3, emb_size=(3, 3, 3), density=0.6)
    a = ScaleContrastiveLoss(3, mode="voxel", num_samples=2, seed=4).double()(maps, masks)
    b = scale_contrastive_loss(maps, masks, mode="voxel", num_samples=2,
                               generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)


def test_paper_tau_is_the_one_default():
    import inspect

    from vesselnet.losses import PAPER_TAU, TotalLoss, total

    assert total.PAPER_TAU is contrastive.PAPER_TAU == PAPER_TAU
    for fn in (supervised_contrastive_loss, scale_contrastive_loss, ScaleContrastiveLoss,
               TotalLoss, total.total_loss):
        assert inspect.signature(fn).parameters["tau"].default is PAPER_TAU


def test_nan_embeddings_name_the_map():
    maps, masks = random_case(seed=33)
    maps[1] = maps[1].clone()
    maps[1][0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"embeddings\[1\]: expected finite values, got 1 NaN"):
        scale_contrastive_loss(maps, masks)


def test_batch_of_one_warning_points_at_the_callers_line(monkeypatch):
    monkeypatch.setattr(contrastive, "_warned_batch_one", False)
    maps, masks = random_case(B=1, seed=4)
    with pytest.warns(UserWarning, match="batch size 1") as rec:
        scale_contrastive_loss(maps, masks)
        ScaleContrastiveLoss(3, 0.94).double()(maps, masks)
    assert [w.filename for w in rec] == [__file__, __file__]

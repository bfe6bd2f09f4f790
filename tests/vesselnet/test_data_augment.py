"""Augmenter: identities, exact references (torch.flip, torch.rot90, integer shifts), seeds,
label value sets, partitions, and image-label alignment on a phantom."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vesselnet.data import Augmenter, PrepareConfig, SyntheticSource, collate, preprocess  # noqa: E402
from vesselnet.data.augment import affine_batch, gamma_batch, rotation_matrix  # noqa: E402

B = 2


def _batch(shape=(8, 10, 12), spacing=(1.0, 1.0, 1.0)):
    g = torch.Generator().manual_seed(0)
    img = torch.rand((B, 1) + shape, generator=g)
    v = (torch.rand((B, 1) + shape, generator=g) > 0.7).float()
    s1 = v * (torch.rand((B, 1) + shape, generator=g) > 0.5).float()
    scales = torch.cat([s1, v - s1, torch.zeros_like(v)], dim=1)
    return {"image": img, "vessel": v, "scales": scales,
            "spacing": torch.tensor([spacing] * B, dtype=torch.float64), "case_id": ["a", "b"]}


def _eye():
    return torch.eye(3, dtype=torch.float64).repeat(B, 1, 1), torch.zeros(B, 3, dtype=torch.float64)


def test_zero_rotation_and_translation_is_the_identity():
    batch = _batch()
    aug = Augmenter(rotation_deg=0, translation=0, flip_axes=(), gamma=None, p=1.0)
    out = aug(batch, torch.Generator().manual_seed(1))
    assert torch.equal(out["vessel"], batch["vessel"]) and torch.equal(out["scales"], batch["scales"])
    torch.testing.assert_close(out["image"], batch["image"], atol=1e-5, rtol=0)
    assert out["case_id"] == ["a", "b"] and out["image"] is not batch["image"]


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_flip_equals_torch_flip_and_twice_is_identity(axis):
    batch = _batch()
    m, t = _eye()
    m[:, axis, axis] = -1
    once = affine_batch(batch, m, t)
    assert torch.equal(once["vessel"], torch.flip(batch["vessel"], [2 + axis]))
    torch.testing.assert_close(once["image"], torch.flip(batch["image"], [2 + axis]), atol=1e-5, rtol=0)
    twice = affine_batch(once, m, t)
    assert torch.equal(twice["scales"], batch["scales"])
    torch.testing.assert_close(twice["image"], batch["image"], atol=1e-5, rtol=0)


def test_augmenter_flips_with_its_probability():
    batch = _batch()
    always = Augmenter(rotation_deg=0, translation=0, flip_axes=(2,), gamma=None, flip_p=1.0)
    out = always(batch, torch.Generator().manual_seed(0))
    assert torch.equal(out["scales"], torch.flip(batch["scales"], [4]))
    half = Augmenter(rotation_deg=0, translation=0, flip_axes=(0, 1, 2), gamma=None, flip_p=0.5)
    flipped = set()
    for seed in range(6):
        out = half(batch, torch.Generator().manual_seed(seed))
        for k in range(B):
            for axis in range(3):
                if torch.equal(out["vessel"][k], torch.flip(batch["vessel"][k], [1 + axis])):
                    flipped.add(axis)
    assert flipped  # some single-axis flips among 12 draws


def test_quarter_turn_equals_rot90_and_is_a_rotation_in_mm():
    batch = _batch((6, 9, 9))
    r = rotation_matrix(torch.tensor([[math.pi / 2, 0.0, 0.0]] * B, dtype=torch.float64))
    out = affine_batch(batch, r, torch.zeros(B, 3, dtype=torch.float64))
    assert torch.equal(out["vessel"], torch.rot90(batch["vessel"], -1, dims=(3, 4)))
    torch.testing.assert_close(out["image"], torch.rot90(batch["image"], -1, dims=(3, 4)), atol=1e-5, rtol=0)
    # 9 x 18 voxels of 2 x 1 mm are a square: a quarter turn maps it onto itself
    sq = _batch((4, 9, 18), spacing=(1.0, 2.0, 1.0))
    out = affine_batch(sq, r, torch.zeros(B, 3, dtype=torch.float64))
    lab = sq["vessel"][0, 0, 0].numpy()  # (y, x) with y in 2 mm steps
    got = out["vessel"][0, 0, 0].numpy()
    fine = np.repeat(lab, 2, axis=0)  # on a 1 mm grid: 18 x 18
    expect = np.rot90(fine, -1)[::2]  # back to 2 mm rows (row centres at 0.5 + 2k mm)
    assert (got == expect).mean() > 0.9


def test_integer_translation_is_a_shift_with_background_fill():
    batch = _batch()
    m, t = _eye()
    t[:, 2] = 3.0  # mm = voxels here: output x reads input x + 3
    out = affine_batch(batch, m, t)
    assert torch.equal(out["vessel"][..., :-3], batch["vessel"][..., 3:])
    assert not out["vessel"][..., -3:].any()
    torch.testing.assert_close(out["image"][..., :-3], batch["image"][..., 3:], atol=1e-5, rtol=0)


def test_same_seed_same_output_and_labels_stay_valid():
    batch = _batch((12, 14, 16), spacing=(2.0, 0.8, 0.8))
    aug = Augmenter(rotation_deg=30, translation=0.2, gamma=(0.5, 2.0), p=1.0)
    a = aug(batch, torch.Generator().manual_seed(7))
    b = aug(batch, torch.Generator().manual_seed(7))
    c = aug(batch, torch.Generator().manual_seed(8))
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["scales"], b["scales"])
    assert not torch.equal(a["image"], c["image"])
    for out in (a, c):
        assert set(out["vessel"].unique().tolist()) <= {0.0, 1.0}
        assert set(out["scales"].unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(out["scales"].sum(1, keepdim=True), out["vessel"])  # still a partition
    # input untouched
    assert torch.equal(batch["vessel"], _batch((12, 14, 16), spacing=(2.0, 0.8, 0.8))["vessel"])


def test_gamma_keeps_order_and_range():
    x = torch.rand(B, 1, 5, 6, 7)
    y = gamma_batch(x, torch.tensor([0.5, 2.0]))
    for k in range(B):
        a, b = x[k].flatten(), y[k].flatten()
        assert torch.equal(torch.argsort(a), torch.argsort(b))
        torch.testing.assert_close(b.min(), a.min()) and torch.testing.assert_close(b.max(), a.max())
    torch.testing.assert_close(gamma_batch(x, torch.ones(B)), x)


def test_phantom_vessels_stay_brighter_than_their_surroundings_after_any_transform():
    """Alignment: if the labels moved differently from the image, vessel voxels would land on
    parenchyma and this order would break."""
    from scipy import ndimage

    src = SyntheticSource(2, shape=(32, 40, 40), spacing=(1.5, 1.0, 1.0), seed=9, noise_sd=4.0)
    cfg = PrepareConfig(target_shape=(24, 32, 32), margin_mm=3.0)
    batch = collate([preprocess(src.load(c), cfg) for c in src.case_ids])
    aug = Augmenter(rotation_deg=45, translation=0.1, gamma=(0.6, 1.6), p=1.0)
    for seed in range(4):
        out = aug(batch, torch.Generator().manual_seed(seed))
        for k in range(2):
            v = out["vessel"][k, 0].numpy().astype(bool)
            ring = ndimage.binary_dilation(v, iterations=2) & ~ndimage.binary_dilation(v)
            img = out["image"][k, 0].numpy()
            assert v.sum() > 0.5 * batch["vessel"][k].sum().item()
            assert np.median(img[v]) > np.median(img[ring])


def test_bad_arguments():
    with pytest.raises(ValueError, match="flip_axes"):
        Augmenter(flip_axes=(3,))
    with pytest.raises(ValueError, match="gamma"):
        Augmenter(gamma=(0, 1))
    with pytest.raises(ValueError, match="p: expected a probability"):
        Augmenter(p=1.5)
    with pytest.raises(TypeError, match="generator"):
        Augmenter()(_batch(), 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    batch = _batch((16, 16, 16))
    aug = Augmenter(rotation_deg=20, translation=0.1, p=1.0)
    cpu = aug(batch, torch.Generator().manual_seed(3))
    gpu = aug({k: (v.cuda() if torch.is_tensor(v) else v) for k, v in batch.items()},
              torch.Generator().manual_seed(3))
    torch.testing.assert_close(gpu["image"].cpu(), cpu["image"], atol=1e-4, rtol=0)
    assert (gpu["vessel"].cpu() != cpu["vessel"]).float().mean() < 1e-3

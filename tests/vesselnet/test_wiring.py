"""Eq. 6 wiring (issue 15): each embedding z^s comes from the first stage of its own auxiliary
decoder D_s, ``z^s = proj_s(D_s^{2^(l-1) f0})``, in both decoder layouts and in every preset.

Forward hooks capture the output of each decoder's first stage; the embeddings must equal the
projection of exactly that output, and a backward pass from z^s must reach the first-stage
parameters of D_s and no parameter of another decoder (nor D_s's later stages or head).
Shapes cannot catch a head that reads the encoder bottleneck in the default layout (same
width and resolution); these checks do.
"""
from __future__ import annotations

import pytest
import torch

from vesselnet.models import MultiTaskResUNet3d
from vesselnet.train.config import PRESETS, TrainConfig


def _grad_norms(module: torch.nn.Module) -> float:
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


def check_eq6_wiring(net: MultiTaskResUNet3d, x: torch.Tensor) -> None:
    """Assert z^s = proj_s(first stage of D_s) and that its gradient stays in E, D_s[first], proj_s."""
    net.train()
    captured = {}
    hooks = [
        dec.first_stage.register_forward_hook(lambda m, i, o, s=s: captured.__setitem__(s, o))
        for s, dec in enumerate(net.decoders)
    ]
    try:
        out = net(x)
    finally:
        for h in hooks:
            h.remove()
    assert sorted(captured) == list(range(net.num_scales + 1))  # positive control: hooks fired
    for s in range(1, net.num_scales + 1):
        first = captured[s]
        assert first.shape[1] == net.decoders[s].first_channels
        assert out.embeddings[s - 1].shape[2:] == first.shape[2:]
        with torch.no_grad():
            again = net.projections[s - 1](first)
        assert torch.equal(out.embeddings[s - 1], again), f"z^{s} is not proj_{s}(D_{s} first stage)"
        for t in range(1, net.num_scales + 1):
            if t != s:
                assert not torch.equal(out.embeddings[s - 1], net.projections[s - 1](captured[t]).detach())

    g = torch.Generator().manual_seed(0)
    for s in range(1, net.num_scales + 1):
        net.zero_grad(set_to_none=True)
        out = net(x)
        w = torch.randn(out.embeddings[s - 1].shape, generator=g)
        (out.embeddings[s - 1] * w).sum().backward()
        dec = net.decoders[s]
        assert _grad_norms(dec.first_stage) > 0, f"z^{s}: no gradient in D_{s}'s first stage"
        assert _grad_norms(net.projections[s - 1]) > 0 and _grad_norms(net.encoder) > 0
        later = [m for m in dec.ups if m is not dec.first_stage] + [dec.head]
        assert all(_grad_norms(m) == 0 for m in later), f"z^{s}: gradient past the first stage"
        for t, other in enumerate(net.decoders):
            if t != s:
                assert _grad_norms(other) == 0, f"z^{s}: gradient reaches decoder D_{t}"
        for t, proj in enumerate(net.projections, start=1):
            if t != s:
                assert _grad_norms(proj) == 0, f"z^{s}: gradient reaches proj_{t}"


@pytest.mark.parametrize("bottleneck_unit", [True, False])
def test_eq6_wiring_both_layouts(bottleneck_unit):
    torch.manual_seed(0)
    net = MultiTaskResUNet3d(num_scales=3, levels=3, base_channels=2, proj_dim=4,
                             bottleneck_unit=bottleneck_unit)
    check_eq6_wiring(net, torch.randn(2, 1, 8, 8, 8))


@pytest.mark.parametrize("name", [p for p in PRESETS if TrainConfig.from_preset(p).model.kind == "multitask"])
def test_eq6_wiring_of_the_presets(name):
    """The presets at their literal depth l = 5 (five poolings), with f0 = 2 to stay small."""
    torch.set_num_threads(1)
    cfg = TrainConfig.from_preset(name, {"model": {"base_channels": 2, "proj_dim": 4}})
    torch.manual_seed(1)
    net = cfg.build_model()
    assert net.levels == 6 and net.decoders[1].first_stage is net.decoders[1].ups[0]
    check_eq6_wiring(net, torch.randn(2, 1, 32, 32, 32))


@pytest.mark.parametrize("name", PRESETS)
def test_presets_attach_no_heads_elsewhere(name):
    """Single-task presets have no projection heads; multi-task ones have one per scale, each
    sized for the decoder's first stage (2^(l-1) f0 = 128 maps in the paper)."""
    cfg = TrainConfig.from_preset(name)
    with torch.device("meta"):
        net = cfg.build_model()
    heads = getattr(net, "projections", [])
    if cfg.model.kind != "multitask":
        assert len(heads) == 0
        return
    assert len(heads) == cfg.model.num_scales
    for proj in heads:
        assert proj.net[0].in_channels == 2 ** (cfg.model.depth - 1) * cfg.model.base_channels == 128

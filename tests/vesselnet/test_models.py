"""ResUNet3d and MultiTaskResUNet3d: shapes, analytic parameter/FLOP counts, main-only inference."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import vesselnet
from vesselnet.models import MultiTaskOutput, MultiTaskResUNet3d, ProjectionHead, ResUNet3d


# ----------------------------------------------------------------------------- analytic counts
def ru_params(i, o, n):
    """Residual unit: n x (3x3x3 conv without bias, BN weight+bias, one PReLU slope) + shortcut."""
    p = 27 * i * o + (n - 1) * 27 * o * o + n * (2 * o + 1)
    return p + (i * o if i != o else 0)


def ru_macs(i, o, n, v):
    return 27 * i * o * v + (n - 1) * 27 * o * o * v + (i * o * v if i != o else 0)


def channels_of(levels, f0):
    return [f0 * 2**k for k in range(levels)]


def analytic_params(in_ch, out_ch, levels, f0, n):
    c = channels_of(levels, f0)
    enc = ru_params(in_ch, c[0], n) + sum(ru_params(c[k - 1], c[k], n) for k in range(1, levels))
    dec = ru_params(c[-1], c[-1], n) + sum(ru_params(c[k + 1] + c[k], c[k], n) for k in range(levels - 1))
    return enc, dec + c[0] * out_ch + out_ch


def analytic_macs(in_ch, out_ch, levels, f0, n, shape):
    B, _, D, H, W = shape
    c = channels_of(levels, f0)
    V = [B * (D >> k) * (H >> k) * (W >> k) for k in range(levels)]
    enc = ru_macs(in_ch, c[0], n, V[0]) + sum(ru_macs(c[k - 1], c[k], n, V[k]) for k in range(1, levels))
    dec = ru_macs(c[-1], c[-1], n, V[-1]) + sum(
        ru_macs(c[k + 1] + c[k], c[k], n, V[k]) for k in range(levels - 1)
    )
    return enc, dec + c[0] * out_ch * V[0]


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("levels", [3, 4, 5])
@pytest.mark.parametrize("batch", [1, 2])
def test_resunet_shapes(levels, batch):
    torch.manual_seed(0)
    f = 2 ** (levels - 1)
    shape = (batch, 1, 2 * f, f, 3 * f) if levels < 5 else (batch, 1, f, 2 * f, f)
    for out_ch in (1, 4):
        net = ResUNet3d(out_channels=out_ch, levels=levels, base_channels=2)
        y = net(torch.randn(shape))
        assert y.shape == (batch, out_ch) + shape[2:]
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("levels", [3, 4, 5])
def test_multitask_shapes(levels):
    torch.manual_seed(0)
    f = 2 ** (levels - 1)
    x = torch.randn(2, 1, f, 2 * f, f)
    net = MultiTaskResUNet3d(num_scales=3, levels=levels, base_channels=2, proj_dim=8)
    out = net(x)
    assert isinstance(out, MultiTaskOutput)
    assert out.main.shape == (2, 1) + x.shape[2:]
    assert len(out.aux) == 3 and all(a.shape == (2, 1) + x.shape[2:] for a in out.aux)
    assert len(out.embeddings) == 3
    for e in out.embeddings:
        assert e.shape == (2, 8, 1, 2, 1)  # deepest resolution D / 2**(l-1)
        torch.testing.assert_close(e.norm(dim=1), torch.ones(2, 1, 2, 1))


def test_paper_defaults_and_top_level_import():
    assert vesselnet.ResUNet3d is ResUNet3d and vesselnet.MultiTaskResUNet3d is MultiTaskResUNet3d
    net = vesselnet.ResUNet3d()
    assert (net.in_channels, net.out_channels, net.levels, net.channels) == (1, 1, 5, (8, 16, 32, 64, 128))
    mt = vesselnet.MultiTaskResUNet3d()
    assert (mt.num_scales, len(mt.decoders), len(mt.projections), mt.channels[-1]) == (3, 4, 3, 128)


# ----------------------------------------------------------------------------- counts
@pytest.mark.parametrize("levels,f0,n,out_ch", [(3, 2, 2, 1), (4, 3, 1, 4), (5, 8, 2, 1)])
def test_parameter_count_matches_architecture(levels, f0, n, out_ch):
    net = ResUNet3d(1, out_ch, levels, f0, n)
    enc, dec = analytic_params(1, out_ch, levels, f0, n)
    assert n_params(net.encoder) == enc and n_params(net.decoder) == dec
    mt = MultiTaskResUNet3d(1, 3, levels, f0, n, main_out_channels=out_ch, proj_dim=16)
    c = f0 * 2 ** (levels - 1)
    proj = c * c + 2 * c + c * 16 + 16  # conv(c->c) + BN + conv(c->16) with bias
    _, dec1 = analytic_params(1, 1, levels, f0, n)
    assert n_params(mt) == enc + dec + 3 * dec1 + 3 * proj


def test_flop_counter_matches_analytic_conv_macs():
    shape = (2, 1, 8, 16, 8)
    net = ResUNet3d(1, 1, 4, 3, 2)
    x = torch.randn(shape)
    enc, dec = analytic_macs(1, 1, 4, 3, 2, shape)
    with torch.no_grad():
        assert count_flops(lambda: net(x)) == 2 * (enc + dec)


def test_multitask_inference_costs_the_same_as_resunet():
    shape = (1, 1, 8, 8, 16)
    x = torch.randn(shape)
    mt = MultiTaskResUNet3d(levels=4, base_channels=2).eval()
    single = ResUNet3d(levels=4, base_channels=2).eval()
    with torch.no_grad():
        f_pred = count_flops(lambda: mt.predict(x))
        f_eval = count_flops(lambda: mt(x))
        f_single = count_flops(lambda: single(x))
        f_full = count_flops(lambda: mt(x, all_tasks=True))
    assert f_pred == f_eval == f_single
    enc, dec = analytic_macs(1, 1, 4, 2, 2, shape)
    c = 16
    proj = 3 * (c * c + c * 64) * (1 * 1 * 2)  # 1x1x1 convs of the heads at the deepest level
    assert f_full == 2 * (enc + 4 * dec + proj)


# ----------------------------------------------------------------------------- inference path
def _counting_hooks(modules):
    calls = []
    handles = [m.register_forward_hook(lambda mod, i, o, k=k: calls.append(k)) for k, m in enumerate(modules)]
    return calls, handles


def test_multitask_inference_equals_main_logits_and_skips_aux():
    torch.manual_seed(1)
    net = MultiTaskResUNet3d(levels=3, base_channels=3, proj_dim=8)
    x = torch.randn(2, 1, 8, 12, 16)
    net.train()
    net(x)  # update BN running statistics so that eval differs from a fresh net
    net.eval()
    aux_modules = list(net.decoders[1:]) + list(net.projections)
    calls, handles = _counting_hooks(aux_modules)
    main_calls, main_handles = _counting_hooks([net.decoders[0], net.encoder])
    with torch.no_grad():
        full = net(x, all_tasks=True)
        assert len(calls) == 6 and len(main_calls) == 2  # positive control: hooks fire
        calls.clear()
        main_calls.clear()
        pred = net.predict(x)
        evald = net(x)
    for h in handles + main_handles:
        h.remove()
    assert calls == []  # no auxiliary decoder nor projection head ran
    assert len(main_calls) == 4
    assert torch.equal(pred, full.main) and torch.equal(evald, full.main)
    single = net.to_single_task()
    assert not single.training
    with torch.no_grad():
        assert torch.equal(single(x), full.main)


def test_training_gradients_reach_shared_encoder_from_aux_tasks_only():
    torch.manual_seed(2)
    net = MultiTaskResUNet3d(levels=3, base_channels=2, proj_dim=4)
    out = net(torch.randn(2, 1, 8, 8, 8))
    (sum(a.sum() for a in out.aux) + sum(e[:, 0].sum() for e in out.embeddings)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.encoder.parameters())
    assert all(p.grad is None for p in net.decoders[0].parameters())
    assert net.projections[0].net[0].weight.grad.abs().sum() > 0


def test_same_seed_same_network():
    x = torch.randn(1, 1, 8, 8, 8)
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        outs.append(MultiTaskResUNet3d(levels=3, base_channels=2)(x))
    assert all(torch.equal(a, b) for a, b in zip(outs[0].aux, outs[1].aux))


def test_projection_head_variants():
    x = torch.randn(2, 16, 2, 3, 2)
    for layers in (1, 2):
        z = ProjectionHead(16, dim=5, num_layers=layers)(x)
        assert z.shape == (2, 5, 2, 3, 2)
        torch.testing.assert_close(z.norm(dim=1), torch.ones(2, 2, 3, 2))
    with pytest.raises(ValueError, match="num_layers"):
        ProjectionHead(16, num_layers=3)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_valueerror_naming_argument():
    net = ResUNet3d(levels=3, base_channels=2)
    mt = MultiTaskResUNet3d(levels=3, base_channels=2)
    for model in (net, mt, mt.predict):
        with pytest.raises(ValueError, match=r"x: spatial size .* divisible by 2\*\*\(levels-1\) = 4"):
            model(torch.randn(1, 1, 8, 10, 8))
        with pytest.raises(ValueError, match="x: expected a 5D tensor"):
            model(torch.randn(1, 8, 8, 8))
        with pytest.raises(ValueError, match=r"x: expected 1 channel"):
            model(torch.randn(1, 2, 8, 8, 8))
        with pytest.raises(TypeError, match="x"):
            model(torch.zeros(1, 1, 8, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="levels"):
        ResUNet3d(levels=0)
    with pytest.raises(ValueError, match="base_channels"):
        ResUNet3d(base_channels=0)
    with pytest.raises(TypeError, match="levels"):
        ResUNet3d(levels=2.5)
    with pytest.raises(ValueError, match="num_scales"):
        MultiTaskResUNet3d(num_scales=0)
    with pytest.raises(ValueError, match="proj_dim|dim"):
        MultiTaskResUNet3d(proj_dim=0)


# ----------------------------------------------------------------------------- paper layout
def analytic_params_paper(in_ch, out_ch, depth, f0, n):
    """Layout printed in the paper: encoder f0..2^l f0 (l poolings), decoder of l up stages."""
    c = channels_of(depth + 1, f0)
    enc = ru_params(in_ch, c[0], n) + sum(ru_params(c[k - 1], c[k], n) for k in range(1, depth + 1))
    dec = sum(ru_params(c[k + 1] + c[k], c[k], n) for k in range(depth))
    return enc, dec + c[0] * out_ch + out_ch


@pytest.mark.parametrize("depth,f0,n", [(5, 8, 2), (3, 2, 1)])
def test_paper_layout_channels_poolings_and_counts(depth, f0, n):
    with torch.device("meta"):
        net = ResUNet3d(1, 1, depth + 1, f0, n, bottleneck_unit=False)
        mt = MultiTaskResUNet3d(1, 3, depth + 1, f0, n, proj_dim=16, bottleneck_unit=False)
    assert net.channels == tuple(f0 * 2**k for k in range(depth + 1))
    pools = [m for m in net.encoder.modules() if isinstance(m, torch.nn.MaxPool3d)]
    assert len(pools) == depth
    assert net.decoder.first is None and net.decoder.first_stage is net.decoder.ups[0]
    enc, dec = analytic_params_paper(1, 1, depth, f0, n)
    assert n_params(net.encoder) == enc and n_params(net.decoder) == dec
    c = f0 * 2 ** (depth - 1)  # D^{2^(l-1) f0}
    assert mt.decoders[1].first_channels == c
    proj = c * c + 2 * c + c * 16 + 16
    assert n_params(mt) == enc + 4 * dec + 3 * proj


def test_paper_layout_shapes_and_single_task_export():
    torch.manual_seed(0)
    x = torch.randn(2, 1, 16, 8, 16)
    mt = MultiTaskResUNet3d(levels=4, base_channels=2, proj_dim=4, bottleneck_unit=False)
    out = mt(x)
    assert out.main.shape == (2, 1, 16, 8, 16)
    assert all(e.shape == (2, 4, 4, 2, 4) for e in out.embeddings)  # first up stage: 1/4
    mt.eval()
    single = mt.to_single_task()
    with torch.no_grad():
        assert torch.equal(single(x), mt.predict(x))
    with pytest.raises(ValueError, match="bottleneck_unit=False needs at least 2 levels"):
        ResUNet3d(levels=1, bottleneck_unit=False)
    with pytest.raises(TypeError, match="bottleneck_unit"):
        ResUNet3d(levels=2, bottleneck_unit="no")


# ----------------------------------------------------------------------------- input checks (issue 9)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_input_dtype_other_than_parameters_names_x(dtype):
    net = ResUNet3d(levels=2, base_channels=2)
    mt = MultiTaskResUNet3d(levels=2, base_channels=2, proj_dim=4)
    x = torch.randn(2, 1, 4, 4, 4).to(dtype)
    for model in (net, mt, mt.predict):
        with pytest.raises(TypeError, match=rf"x: expected the dtype of the network's parameters \(torch.float32\), got .*{dtype}"):
            model(x)
    assert net.double()(torch.randn(2, 1, 4, 4, 4, dtype=torch.float64)).dtype == torch.float64
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts float16/32, not float64
        assert net.float()(torch.randn(2, 1, 4, 4, 4)).dtype == torch.bfloat16
        with pytest.raises(TypeError, match="x: expected the dtype"):
            net(torch.randn(2, 1, 4, 4, 4, dtype=torch.float64))


def test_batch_of_one_voxel_at_bottleneck_in_training_mode_names_x():
    net = ResUNet3d(levels=3, base_channels=2)
    mt = MultiTaskResUNet3d(levels=3, base_channels=2, proj_dim=4)
    x = torch.randn(1, 1, 4, 4, 4)  # deepest level 1x1x1, batch 1
    for model in (net, mt):
        with pytest.raises(ValueError, match="x: in training mode BatchNorm needs more than one value"):
            model.train()(x)
        model.eval()(x)  # eval mode uses running statistics: fine
    net.train()(torch.randn(2, 1, 4, 4, 4))
    net.train()(torch.randn(1, 1, 8, 4, 4))


def test_nan_input_names_x_and_checks_switch_off():
    from vesselnet._validation import finite_checks_enabled, set_finite_checks

    net = ResUNet3d(levels=2, base_channels=2)
    x = torch.randn(2, 1, 4, 4, 4)
    x[1, 0, 2, 3, 1] = float("nan")
    x[0, 0, 0, 0, 0] = float("inf")
    running = net.encoder.stem.body[0][1].running_mean.clone()
    with pytest.raises(ValueError, match=r"x: expected finite values, got 1 NaN and 1 infinite .* first at index \(0, 0, 0, 0, 0\)"):
        net.train()(x)
    assert torch.equal(net.encoder.stem.body[0][1].running_mean, running)  # BN untouched
    assert finite_checks_enabled()
    previous = set_finite_checks(False)
    try:
        assert previous is True
        out = net(x)  # no check: NaN flows through (the user asked for speed)
        assert not torch.isfinite(out).all()
    finally:
        set_finite_checks(previous)
    assert finite_checks_enabled()


def test_meta_device_forward_counts_flops_without_value_checks():
    """Shape-only tensors (FLOP counting, benchmarks/model_stats.py) skip the value checks."""
    with torch.device("meta"):
        net = MultiTaskResUNet3d(levels=3, base_channels=2, proj_dim=4, bottleneck_unit=False)
        x = torch.empty(2, 1, 8, 8, 8)
    out = net.train()(x)
    assert out.main.device.type == "meta" and out.embeddings[0].shape == (2, 4, 4, 4, 4)
    with pytest.raises(ValueError, match="x: spatial size"):
        net(torch.empty(2, 1, 8, 8, 6, device="meta"))

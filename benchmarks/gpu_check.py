"""Standalone CUDA check of vesselnet (not collected by pytest).

Run: ``python benchmarks/gpu_check.py [--steps 10] [--require-cuda]``.

Without CUDA it prints a message and exits (status 0, or 1 with ``--require-cuda``). With
CUDA it:

1. checks the losses on the GPU against the CPU in float64 (Dice+CE, soft-clDice, the
   contrastive loss in pooled and voxel mode with a memory bank: same value, rtol 1e-10);
2. runs AMP training steps (``torch.autocast`` float16 + ``torch.amp.GradScaler``) of
   ``ResUNet3d`` (Dice + weighted CE) and ``MultiTaskResUNet3d`` (Eq. 9 total loss, pooled
   and voxel-sampled contrastive with memory bank) at 2x1x64x64x64 and checks that losses and
   gradients are finite;
3. checks that the multi-task net's ``predict`` equals the main logits of a full forward in
   eval mode on the GPU (float32);
4. times a training step of both nets and the inference of ResUNet3d vs ``predict`` (CUDA
   synchronised wall clock, after warm-up) and prints the ratios next to the FLOP ratios.

``--cpu-smoke`` runs the same code on the CPU at 2x1x16x16x16 (bfloat16 autocast, GradScaler
disabled) to check the script itself where no GPU is at hand.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch


def _flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def check_losses_match_cpu(dev: torch.device) -> None:
    from vesselnet.losses import (
        MemoryBank, dice_ce_loss, scale_contrastive_loss, soft_cldice_loss,
    )

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 16, 16, 16, generator=g, dtype=torch.float64)
    target = (torch.rand(2, 1, 16, 16, 16, generator=g) < 0.3).double()
    maps = [torch.randn(2, 8, 4, 4, 4, generator=g, dtype=torch.float64) for _ in range(3)]
    masks = [(torch.rand(2, 1, 16, 16, 16, generator=g) < 0.2).double() for _ in range(3)]
    bank = MemoryBank(3, 16, 8).double()
    bank.push(torch.randn(24, 8, generator=g, dtype=torch.float64), torch.arange(24) % 3 + 1)
    cases = {
        "dice_ce": lambda d: dice_ce_loss(logits.to(d), target.to(d)),
        "cldice": lambda d: soft_cldice_loss(logits.to(d), target.to(d)),
        "contrastive pooled+bank": lambda d: scale_contrastive_loss(
            [m.to(d) for m in maps], [m.to(d) for m in masks], bank=bank.to(d)),
        "contrastive voxel+bank": lambda d: scale_contrastive_loss(
            [m.to(d) for m in maps], [m.to(d) for m in masks], mode="voxel", num_samples=5,
            generator=torch.Generator().manual_seed(3), bank=bank.to(d)),
    }
    for name, fn in cases.items():
        cpu, gpu = fn(torch.device("cpu")).item(), fn(dev).item()
        ok = abs(cpu - gpu) <= 1e-10 * max(abs(cpu), 1e-300)
        print(f"[{'ok' if ok else 'FAIL'}] {name}: cpu {cpu:.15g} {dev.type} {gpu:.15g}")
        if not ok:
            raise SystemExit(1)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def amp_training(dev: torch.device, steps: int, shape=(2, 1, 64, 64, 64)) -> None:
    from vesselnet.losses import DiceCELoss, TotalLoss
    from vesselnet.models import MultiTaskResUNet3d, ResUNet3d

    cuda = dev.type == "cuda"
    amp_dtype = torch.float16 if cuda else torch.bfloat16
    torch.backends.cudnn.benchmark = True
    gen = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(shape, device=dev, generator=gen)
    labels = torch.randint(0, 4, shape, device=dev, generator=gen)
    scales = [(labels == s).float() for s in (1, 2, 3)]
    y = (labels > 0).float()

    torch.manual_seed(0)
    single = ResUNet3d().to(dev)
    multi = MultiTaskResUNet3d().to(dev)
    crit_single = DiceCELoss()
    crit_pooled = TotalLoss().to(dev)
    crit_voxel = TotalLoss(mode="voxel", num_samples=32, bank_size=256, embedding_dim=multi.proj_dim).to(dev)

    def make_step(net, loss_fn):
        opt = torch.optim.Adam(net.parameters(), lr=3e-4)
        scaler = torch.amp.GradScaler(dev.type, enabled=cuda)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=amp_dtype):
                loss = loss_fn(net(x))
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            finite = all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
            scaler.step(opt)
            scaler.update()
            return loss.detach(), finite

        return step

    runs = {
        "ResUNet3d (Dice+wCE)": make_step(single.train(), lambda o: crit_single(o, y)),
        "MultiTask (Eq. 9, pooled)": make_step(multi.train(), lambda o: crit_pooled(o, y, scales)),
        "MultiTask (Eq. 9, voxel+bank)": make_step(multi.train(), lambda o: crit_voxel(o, y, scales)),
    }
    times = {}
    for name, step in runs.items():
        for _ in range(3):  # warm-up (cudnn autotune, bank fill)
            loss, finite = step()
        _sync(dev)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(steps):
            loss, finite = step()
        _sync(dev)
        times[name] = (time.perf_counter() - t0) / steps * 1e3
        ok = bool(torch.isfinite(loss)) and finite
        peak = f", peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if cuda else ""
        print(f"[{'ok' if ok else 'FAIL'}] AMP train step {name}: loss {loss.item():.4f}, "
              f"{times[name]:.1f} ms/step{peak}")
        if not ok:
            raise SystemExit(1)
    print(f"crit_voxel bank entries: {len(crit_voxel.contrastive.bank)}")

    # inference: predict equals full forward main logits (fp32, eval), timing under AMP
    multi.eval()
    single.eval()
    with torch.no_grad():
        full = multi(x, all_tasks=True).main
        pred = multi.predict(x)
        diff = (full - pred).abs().max().item()
        same = torch.allclose(full, pred, rtol=1e-5, atol=1e-6)  # cuDNN may pick other kernels
        print(f"[{'ok' if same else 'FAIL'}] predict == main logits of full forward "
              f"(eval, fp32): max |diff| {diff:.3g}")
        infer = {}
        for name, fn in {"ResUNet3d": single, "MultiTask.predict": multi.predict}.items():
            for _ in range(3):
                with torch.autocast(dev.type, dtype=amp_dtype):
                    fn(x)
            _sync(dev)
            t0 = time.perf_counter()
            for _ in range(steps):
                with torch.autocast(dev.type, dtype=amp_dtype):
                    fn(x)
            _sync(dev)
            infer[name] = (time.perf_counter() - t0) / steps * 1e3
            print(f"AMP inference {name}: {infer[name]:.1f} ms")
    with torch.device("meta"):
        s_meta, m_meta, x_meta = ResUNet3d(), MultiTaskResUNet3d(), torch.empty(shape)

    def _train_flops(net):
        out = net.train()(x_meta)
        parts = [out] if isinstance(out, torch.Tensor) else [out.main, *out.aux, *out.embeddings]
        sum(p.sum() for p in parts).backward()

    flop_ratio = _flops(lambda: _train_flops(m_meta)) / _flops(lambda: _train_flops(s_meta))
    t_ratio = times["MultiTask (Eq. 9, pooled)"] / times["ResUNet3d (Dice+wCE)"]
    print(f"train step multi-task / ResUNet3d: {t_ratio:.2f} (FLOP ratio {flop_ratio:.2f})")
    print(f"inference predict / ResUNet3d: {infer['MultiTask.predict'] / infer['ResUNet3d']:.3f} (FLOP ratio 1.00)")
    if not same:
        raise SystemExit(1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per network")
    parser.add_argument("--require-cuda", action="store_true", help="exit 1 when CUDA is absent")
    parser.add_argument(
        "--cpu-smoke", action="store_true",
        help="no CUDA needed: run the same code on CPU (bfloat16 autocast, 2x1x16x16x16, "
        "1 step) to check the script itself; timings are meaningless",
    )
    args = parser.parse_args(argv)
    if args.cpu_smoke:
        dev = torch.device("cpu")
        check_losses_match_cpu(dev)
        amp_training(dev, 1, shape=(2, 1, 16, 16, 16))
        return 0
    if not torch.cuda.is_available():
        print(f"CUDA is not available (torch {torch.__version__}): nothing was checked.")
        return 1 if args.require_cuda else 0
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(dev)}, torch {torch.__version__}")
    check_losses_match_cpu(dev)
    amp_training(dev, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())

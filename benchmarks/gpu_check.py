"""GPU check of vesselnet training: one script for a CUDA machine, installs nothing.

Run: ``python benchmarks/gpu_check.py [--steps 10] [--no-compile] [--require-cuda]``
(not collected by pytest). Without CUDA it prints a message and exits (status 0, or 1 with
``--require-cuda``). With CUDA it:

1. checks the losses on the GPU against the CPU in float64 (Dice+CE, soft-clDice, the
   contrastive loss in pooled and voxel mode with a memory bank: same value, rtol 1e-10);
2. for every training preset (``resunet-binary``, ``resunet-multiclass``, ``multitask``,
   ``multitask-contrastive``; l = 5, f0 = 8 as printed in the paper) runs training steps
   (forward, the preset's objective, backward, Adam) at 2x1x128x256x256 (two 256 x 256 x 128
   volumes) under bf16 autocast, as ``vesselnet train`` does on CUDA, eager and with
   ``torch.compile``: finite loss and gradients, median step time (CUDA-synchronised wall
   clock after warm-up), peak memory;
3. times the data layer's on-device augmentation (``vesselnet.data.Augmenter``: rotation,
   translation, flips, gamma; one affine grid per case, image and labels) on the same batch;
4. checks that the multi-task net's ``predict`` equals the main logits of a full forward in
   eval mode (float32);
5. prints a Markdown table to paste into ``docs/benchmarks.md`` with the card's name.

``--cpu-smoke`` runs the same code on the CPU at 2x1x32x32x32 with f0 = 2 and one step
(``torch.compile`` only with ``--compile``) to check the script itself where no GPU is at hand;
its timings are meaningless.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

PRESETS = ("resunet-binary", "resunet-multiclass", "multitask", "multitask-contrastive")
PAPER_SHAPE = (2, 1, 128, 256, 256)


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


def make_batch(dev: torch.device, shape, num_scales: int = 3, seed: int = 0) -> dict:
    """A batch as the data layer makes it: image, vessel, a partition of it into S scales
    (every scale present in every case), spacing, case ids."""
    g = torch.Generator(device=dev).manual_seed(seed)
    image = torch.randn(shape, device=dev, generator=g)
    labels = torch.randint(0, 10 * num_scales, shape, device=dev, generator=g)
    labels = torch.where(labels <= num_scales, labels, torch.zeros_like(labels))  # ~10 % vessel
    scales = torch.cat([(labels == s).float() for s in range(1, num_scales + 1)], dim=1)
    return {"image": image, "vessel": (labels > 0).float(), "scales": scales,
            "spacing": torch.ones(shape[0], 3, dtype=torch.float64, device=dev),
            "case_id": [f"random_{b}" for b in range(shape[0])], "flags": [()] * shape[0]}


def _timed(step, dev: torch.device, steps: int, warmup: int) -> tuple[list[float], object]:
    out = None
    for _ in range(warmup):
        out = step()
    _sync(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        out = step()
        _sync(dev)
        times.append(time.perf_counter() - t0)
    return times, out


def preset_step(name: str, dev: torch.device, shape, *, compile_: bool, steps: int,
                overrides: dict | None = None) -> dict:
    """Median step (ms), peak memory (GiB) and finiteness of one preset's training step."""
    from vesselnet.train.builders import build_optimizer
    from vesselnet.train.config import TrainConfig

    cfg = TrainConfig.from_preset(name, overrides or {})
    torch.manual_seed(0)
    model = cfg.build_model().to(dev).train()
    objective = cfg.build_loss().to(dev).train()
    opt = build_optimizer(cfg, model.parameters())
    run = torch.compile(model) if compile_ else model
    batch = make_batch(dev, shape, cfg.model.num_scales)
    amp = torch.bfloat16

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=amp):
            loss, _ = objective(run(batch["image"]), batch)
        loss.backward()
        finite = all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)
        opt.step()
        return float(loss.detach()), finite

    try:
        times, (loss, finite) = _timed(step, dev, steps, warmup=3 if compile_ else 2)
    except Exception as exc:  # noqa: BLE001 - report (e.g. torch.compile without a toolchain)
        return {"preset": name, "compile": compile_, "error": f"{type(exc).__name__}: {exc}"[:200]}
    peak = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else float("nan")
    return {"preset": name, "compile": compile_, "median_ms": 1e3 * statistics.median(times),
            "peak_gib": peak, "loss": loss, "ok": finite and loss == loss and abs(loss) != float("inf")}


def augmentation_ms(dev: torch.device, shape, steps: int) -> float:
    """Median time of ``Augmenter()`` on a batch on ``dev`` (ms)."""
    from vesselnet.data import Augmenter

    aug = Augmenter(p=1.0)  # every transform on every case: the worst case
    batch = make_batch(dev, shape)
    gen = torch.Generator(device=dev).manual_seed(0)
    times, out = _timed(lambda: aug(batch, gen), dev, steps, warmup=2)
    assert out["image"].shape == batch["image"].shape
    return 1e3 * statistics.median(times)


def predict_matches_full_forward(dev: torch.device, shape, overrides=None) -> float:
    """max |predict - main logits of the full forward| in eval mode, float32."""
    from vesselnet.train.config import TrainConfig

    torch.manual_seed(0)
    net = TrainConfig.from_preset("multitask-contrastive", overrides or {}).build_model().to(dev)
    x = make_batch(dev, (1,) + tuple(shape[1:]))["image"]
    net.train()(torch.cat([x, x.flip(-1)]))  # non-trivial BatchNorm running statistics
    net.eval()
    with torch.no_grad():
        full, pred = net(x, all_tasks=True).main, net.predict(x)
    return float((full - pred).abs().max())


def table(rows: list[dict], aug_ms: float, device_name: str, shape) -> str:
    lines = [f"GPU check on {device_name}, torch {torch.__version__}, input "
             f"{'x'.join(map(str, shape))}, bf16 autocast, Adam", "",
             "| preset | torch.compile | median step (ms) | vs resunet-binary | peak memory (GiB) | finite |",
             "|---|---|---|---|---|---|"]
    ref = {r["compile"]: r.get("median_ms") for r in rows if r["preset"] == "resunet-binary"}
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['preset']} | {'yes' if r['compile'] else 'no'} | failed: {r['error']} | | | |")
            continue
        rel = r["median_ms"] / ref[r["compile"]] if ref.get(r["compile"]) else float("nan")
        lines.append(f"| {r['preset']} | {'yes' if r['compile'] else 'no'} | {r['median_ms']:.1f} | "
                     f"{rel:.2f}x | {r['peak_gib']:.2f} | {'yes' if r['ok'] else 'NO'} |")
    lines += ["", f"On-device augmentation (Augmenter, p=1) of the same batch: {aug_ms:.1f} ms median"]
    return "\n".join(lines)


def run_all(dev: torch.device, shape, steps: int, compile_modes, overrides=None) -> int:
    check_losses_match_cpu(dev)
    rows = []
    for name in PRESETS:
        for mode in compile_modes:
            r = preset_step(name, dev, shape, compile_=mode, steps=steps, overrides=overrides)
            rows.append(r)
            print(f"{name} compile={mode}: {r}", flush=True)
    aug = augmentation_ms(dev, shape, steps)
    diff = predict_matches_full_forward(dev, shape, overrides)
    print(f"[{'ok' if diff <= 1e-5 else 'FAIL'}] predict == main logits of the full forward "
          f"(eval, fp32): max |diff| {diff:.3g}")
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU (smoke test)"
    print()
    print(table(rows, aug, name, shape))
    bad = [r for r in rows if "error" in r and not r["compile"]] + [r for r in rows if r.get("ok") is False]
    return 1 if bad or diff > 1e-5 else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per preset")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile runs")
    parser.add_argument("--compile", action="store_true", help="with --cpu-smoke: also compile")
    parser.add_argument("--require-cuda", action="store_true", help="exit 1 when CUDA is absent")
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="no CUDA needed: the same code on CPU, 2x1x32x32x32, f0=2, 1 step")
    args = parser.parse_args(argv)
    if args.cpu_smoke:
        modes = (False, True) if args.compile else (False,)
        tiny = {"model": {"base_channels": 2, "proj_dim": 8}}
        return run_all(torch.device("cpu"), (2, 1, 32, 32, 32), 1, modes, tiny)
    if not torch.cuda.is_available():
        print(f"CUDA is not available (torch {torch.__version__}): nothing was checked.")
        return 1 if args.require_cuda else 0
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    print(f"device: {torch.cuda.get_device_name(dev)}, torch {torch.__version__}", flush=True)
    modes = (False,) if args.no_compile else (False, True)
    return run_all(dev, PAPER_SHAPE, args.steps, modes)


if __name__ == "__main__":
    sys.exit(main())

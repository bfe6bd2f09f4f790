"""Parameter counts and FLOPs of the vesselnet networks, printed as Markdown (docs/models.md).

Run: ``python benchmarks/model_stats.py`` (``--presets``: only the table of the four training
presets at the paper's input, 2 volumes of 256 x 256 x 128 voxels). Networks are built on the ``meta`` device, so no
memory is allocated and nothing is computed: FLOPs come from
``torch.utils.flop_counter.FlopCounterMode`` (2 x multiply-accumulates of convolutions and
matrix products; BatchNorm, PReLU, pooling, up-sampling and additions are not counted).
"Train" counts one forward + backward of all tasks (the backward of the input layer's
weight-only gradient included as torch performs it); "infer" counts one forward of the main
task. The analytic counts are cross-checked in tests/vesselnet/test_models.py.
"""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from vesselnet.models import MultiTaskResUNet3d, ResUNet3d

INPUTS = {"2x1x64x64x64": (2, 1, 64, 64, 64), "1x1x128x256x256": (1, 1, 128, 256, 256)}

CONFIGS = [
    ("ResUNet3d binary", lambda l, f: ResUNet3d(1, 1, l, f)),
    ("ResUNet3d multi-class (S=3)", lambda l, f: ResUNet3d(1, 4, l, f)),
    ("MultiTaskResUNet3d (S=3, proj 64)", lambda l, f: MultiTaskResUNet3d(1, 3, l, f)),
]
LEVELS_F0 = [(5, 8), (4, 8), (3, 8), (5, 16)]


def flops(fn) -> int:
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def measure(build, levels: int, f0: int, shape) -> tuple[int, int, int]:
    with torch.device("meta"):
        net = build(levels, f0)
        x = torch.empty(shape)
    params = sum(p.numel() for p in net.parameters())

    def train_step():
        out = net.train()(x)
        if isinstance(out, tuple):
            loss = out.main.sum() + sum(a.sum() for a in out.aux) + sum(e.sum() for e in out.embeddings)
        else:
            loss = out.sum()
        loss.backward()

    def infer():
        with torch.no_grad():
            net.eval()(x)

    return params, flops(train_step), flops(infer)


PAPER_INPUT = (2, 1, 128, 256, 256)  # B, C, D(z), H(y), W(x): two 256 x 256 x 128 volumes


def preset_rows(shape=PAPER_INPUT) -> list[dict]:
    """Parameters and FLOPs of each preset's network (``vesselnet.train.config.PRESETS``)."""
    from vesselnet.train.config import PRESETS, TrainConfig

    rows = []
    for name in PRESETS:
        cfg = TrainConfig.from_preset(name)
        params, train, infer = measure(lambda l, f, c=cfg: c.build_model(), 0, 0, shape)
        with torch.device("meta"):
            net = cfg.build_model()
        heads = sum(p.numel() for p in getattr(net, "projections", torch.nn.ModuleList()).parameters())
        rows.append({"preset": name, "params": params, "heads": heads,
                     "train_gflop": train / 1e9, "infer_gflop": infer / 1e9})
    return rows


def print_presets(shape=PAPER_INPUT) -> None:
    rows = preset_rows(shape)
    ref = rows[0]["train_gflop"]
    print(f"Input {'x'.join(map(str, shape))} (B x C x D x H x W)")
    print("| preset | parameters | of which projection heads | train fwd+bwd GFLOP | "
          "vs resunet-binary | infer fwd GFLOP |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['preset']} | {r['params']:,} | {r['heads']:,} | {r['train_gflop']:.1f} | "
              f"{r['train_gflop'] / ref:.2f}x | {r['infer_gflop']:.1f} |")


def main() -> None:
    import sys

    print_presets()
    if "--presets" in sys.argv[1:]:
        return
    print()
    print("| network | l | f0 | parameters | input | train fwd+bwd GFLOP | infer fwd GFLOP |")
    print("|---|---|---|---|---|---|---|")
    for levels, f0 in LEVELS_F0:
        for name, build in CONFIGS:
            for in_name, shape in INPUTS.items():
                p, tr, inf = measure(build, levels, f0, shape)
                print(f"| {name} | {levels} | {f0} | {p:,} | {in_name} | {tr / 1e9:.2f} | {inf / 1e9:.2f} |")


if __name__ == "__main__":
    main()

"""Parameter counts and FLOPs of the vesselnet networks, printed as Markdown (docs/models.md).

Run: ``python benchmarks/model_stats.py``. Networks are built on the ``meta`` device, so no
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


def main() -> None:
    print("| network | l | f0 | parameters | input | train fwd+bwd GFLOP | infer fwd GFLOP |")
    print("|---|---|---|---|---|---|---|")
    for levels, f0 in LEVELS_F0:
        for name, build in CONFIGS:
            for in_name, shape in INPUTS.items():
                p, tr, inf = measure(build, levels, f0, shape)
                print(f"| {name} | {levels} | {f0} | {p:,} | {in_name} | {tr / 1e9:.2f} | {inf / 1e9:.2f} |")


if __name__ == "__main__":
    main()

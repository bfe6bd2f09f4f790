"""``vesselnet train``: train a network of the paper (a Table-1 preset or a YAML config).

Examples::

    vesselnet train --preset multitask-contrastive --data /data/3Dircadb1 --out runs/mtc
    vesselnet train --config my.yaml --data prepared/ --out runs/x --epochs 100
    vesselnet train --out runs/mtc --resume                  # continue exactly where it stopped
    torchrun --standalone --nproc_per_node=4 -m vesselnet train --preset multitask ...

See ``docs/training.md``. torch is imported only when the command runs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from vesselnet.train.names import PRESETS


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``train`` to the ``vesselnet`` sub-commands."""
    p = subparsers.add_parser(
        "train", help="train a network (paper presets or a YAML config)",
        description="Train a vesselnet network. Give --preset NAME or --config FILE (or only "
        "--out DIR --resume to continue a run with its own config).",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", metavar="NAME",
                     help=f"a row of Table 1: {', '.join(PRESETS)}")
    src.add_argument("--config", type=Path, metavar="FILE", help="YAML config (yaml.safe_load)")
    p.add_argument("--data", metavar="SOURCE_OR_PREPARED_DIR",
                   help="a prepared folder (manifest.json), or a source to prepare into "
                   "OUT/prepared: synthetic[:N], a 3D-IRCADb-01 folder, an MSD/nnU-Net folder")
    p.add_argument("--out", type=Path, default=Path("run"), metavar="DIR",
                   help="run folder (checkpoints, logs); default ./run")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from checkpoints/last.pt")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                   help="default: the config's run.device (auto: CUDA when present)")
    p.add_argument("--epochs", type=int, default=None, metavar="N", help="override run.epochs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.lr=1e-3 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--traceback", action="store_true", help="show tracebacks of errors")
    p.set_defaults(func=_run)
    return p


def _run(args) -> int:
    import sys

    from vesseltree.cli import UserError

    from vesselnet.train.launch import launch, parse_assignment, resolve_config
    from vesselnet.train.trainer import TrainingError

    if args.resume and args.overwrite:
        raise UserError("--resume, --overwrite: give one of them, not both")
    overrides = [parse_assignment(s) for s in args.set]
    run = {}
    if args.epochs is not None:
        if args.epochs < 1:
            raise UserError(f"--epochs: expected an integer >= 1, got {args.epochs}")
        run["epochs"] = args.epochs
    if args.device is not None:
        run["device"] = args.device
    if run:
        overrides.append({"run": run})
    config = resolve_config(preset=args.preset, config_file=args.config, out_dir=args.out,
                            resume=args.resume, overrides=overrides)
    if args.data is None:
        raise UserError("--data: give a prepared folder or a source (e.g. synthetic:8, a "
                        "3D-IRCADb-01 folder)")
    try:
        result = launch(config, args.data, args.out, resume=args.resume, overwrite=args.overwrite,
                        progress=False if args.quiet else None)
    except TrainingError as exc:
        raise UserError(str(exc)) from exc
    except KeyboardInterrupt:
        print(f"vesselnet train: interrupted; continue with --out {args.out} --resume",
              file=sys.stderr)
        return 130
    best = "" if result.best is None else (
        f", best val DSC {result.best['value']:.4f} at epoch {result.best['epoch']}")
    print(f"vesselnet train: {result.epochs} epoch(s), {result.steps} step(s){best}; "
          f"checkpoints in {str(result.out_dir / 'checkpoints')!r}", file=sys.stderr)
    return 0

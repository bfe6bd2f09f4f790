"""``vesselnet cv --data DATA --out DIR [--folds 5] [--presets ...]``: Table 1 by cross-validation.

For every fold (saved in DIR/splits.json, the same for every preset) and every preset: train on
the other folds, predict the held-out fold with the main decoder, score it with the metrics of
``vesselnet evaluate`` (DSC, Jaccard, clDice, HD, HD95 in mm, recall per scale). DATA is a
source (``synthetic:N``, a 3D-IRCADb-01 folder, an MSD / nnU-Net folder: prepared into
DIR/prepared, evaluated on each case's original grid) or a prepared folder (evaluated on the
prepared grid). Writes DIR/report/table1.md (mean ± std over folds, pooled over cases, every
fold), table1.csv, folds.csv, cases.csv and figures/fig5_<preset>.png.

Run the same command again to resume a stopped cv: finished folds are kept, a training that
was stopped continues from its last checkpoint, failed folds are run again. A fold that fails
is reported as failed in the table (exit code 1); the others go on.

Scaled-down runs: --overrides FILE.yaml merges config keys into every preset (e.g. a smaller
network, fewer epochs), --epochs N sets run.epochs.
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["add_parser", "run"]

_HELP = "cross-validate the Table-1 presets on the same folds (train, predict, evaluate, report)"


def add_parser(subparsers) -> None:
    """Add the ``cv`` sub-command."""
    from vesselnet.commands._common import add_command

    p = add_command(subparsers, "cv", _HELP, __doc__)
    p.add_argument("--data", required=True, help="synthetic[:N], a 3D-IRCADb / MSD folder, or a prepared folder")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="cv folder (created; resumed when it holds one)")
    p.add_argument("--folds", type=int, help="number of folds K (default: the splits', else 5)")
    p.add_argument("--presets", nargs="+", metavar="PRESET",
                   default=["resunet-binary", "resunet-multiclass", "multitask", "multitask-contrastive"],
                   help="preset names or YAML config files (default: the four rows of Table 1)")
    p.add_argument("--splits", type=Path, help="a splits JSON to use (e.g. another cv's splits.json)")
    p.add_argument("--seed", type=int, default=0, help="seed of the splits (default 0)")
    p.add_argument("--overrides", type=Path, metavar="FILE", help="YAML of config keys merged into every preset")
    p.add_argument("--epochs", type=int, help="run.epochs of every preset")
    p.add_argument("--prepare-config", type=Path, metavar="FILE",
                   help="YAML of PrepareConfig keys for a source (default: the presets' data.prepare)")
    p.add_argument("--synthetic-shape", type=int, nargs=3, metavar=("Z", "Y", "X"),
                   help="with --data synthetic:N: phantom shape (default 64 64 64, 1 mm voxels)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--tta", action="store_true", help="flip test-time augmentation when predicting")
    p.add_argument("--overwrite", action="store_true", help="start over in DIR (keeps the prepared cache)")
    p.add_argument("--no-figures", action="store_true", help="no Fig. 5 overlays")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--traceback", action="store_true", help="show the traceback of an error")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run ``vesselnet cv``; 0 when every fold of every preset is done, 1 when some failed."""
    from vesseltree.cli import UserError
    from vesselnet.commands._common import yaml_mapping
    from vesselnet.cv.runner import run_cv
    from vesselnet.data import PrepareConfig

    overrides = yaml_mapping(args.overrides, "--overrides", "config keys") if args.overrides else {}
    if args.epochs is not None:
        if args.epochs < 1:
            raise UserError(f"--epochs: expected an integer >= 1, got {args.epochs}")
        overrides.setdefault("run", {})["epochs"] = args.epochs
    prep = None
    if args.prepare_config is not None:
        try:
            prep = PrepareConfig.from_dict(yaml_mapping(args.prepare_config, "--prepare-config",
                                                        "PrepareConfig keys"))
        except (TypeError, ValueError) as exc:
            raise UserError(f"--prepare-config: {exc}") from exc
    data = args.data
    if args.synthetic_shape is not None:
        from vesselnet.data.sources import open_source, source_kind

        if source_kind(args.data) != "synthetic":
            raise UserError(f"--synthetic-shape: only for --data synthetic[:N], got {args.data!r}")
        data = open_source(args.data, shape=tuple(args.synthetic_shape))
    res = run_cv(data, args.out, args.presets, folds=args.folds, seed=args.seed, splits=args.splits,
                 overrides=overrides or None, prepare_config=prep, device=args.device, tta=args.tta,
                 overwrite=args.overwrite, figures=not args.no_figures,
                 progress=False if args.quiet else None, quiet=args.quiet)
    sys.stdout.write(res.report["markdown"])
    print(f"vesselnet cv: report in {str(args.out / 'report')!r}", file=sys.stderr)
    if res.failed:
        print(f"vesselnet cv: {len(res.failed)} fold run(s) failed: "
              + ", ".join(f"{n} fold {k}" for n, k in res.failed), file=sys.stderr)
        return 1
    return 0

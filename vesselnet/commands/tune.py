"""``vesselnet tune``: search the loss weights of Eq. 9 with Optuna (resumable, parallel).

Each trial draws lambda_1..S, lambda_c and tau (and lr when asked) within the search space,
trains the preset on each selected fold, and scores the mean validation DSC; poor trials are
pruned after a validation. The study lives in --storage (default sqlite:///OUT/study.db):
the same command again resumes it, and several copies of the command on one storage share the
work (give each its own --worker K). At the end OUT/best.yaml (a config for `vesselnet train
--config`) and OUT/search.png are written. See docs/tuning.md.

Search space: defaults lambda_s and lambda_c in [0, 1], tau in [0.05, 1]; change them with
--space FILE (YAML: `tau: [0.1, 1.0]`, `lr: {low: 1.0e-4, high: 1.0e-3, log: true}`,
`lambda_c: null` = not searched) or --param NAME=LOW:HIGH[:log] / NAME=off.
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["add_parser", "run"]

_HELP = "search the loss weights (lambda_1..S, lambda_c, tau) with Optuna, resumable"


def add_parser(subparsers) -> None:
    """Add the ``tune`` sub-command."""
    from vesselnet.commands._common import add_command

    p = add_command(subparsers, "tune", _HELP, __doc__)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--preset", help="a preset (Table 1 row), e.g. multitask-contrastive")
    which.add_argument("--config", type=Path, help="a YAML training config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value of the base config (and so of best.yaml), "
                        "e.g. --set model.base_channels=4 (repeatable)")
    p.add_argument("--data", required=True,
                   help="a prepared folder (vesselnet prepare), or a source: synthetic[:N], a "
                        "3D-IRCADb-01 folder, an MSD/nnU-Net folder (prepared into OUT/prepared)")
    p.add_argument("--trials", type=int, required=True, metavar="N",
                   help="finished (complete or pruned) trials the study must hold")
    p.add_argument("--out", type=Path, help="study folder (default: tune-<config name>)")
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///OUT/study.db)")
    p.add_argument("--study-name", help="study name in the storage (default: the config's name)")
    s = p.add_argument_group("search space")
    s.add_argument("--space", type=Path, help="YAML mapping of parameter ranges")
    s.add_argument("--param", action="append", default=[], metavar="NAME=LOW:HIGH[:log]",
                   help="a range (overrides --space); NAME=off: not searched; repeatable")
    f = p.add_argument_group("objective")
    f.add_argument("--folds", type=Path, metavar="SPLITS_JSON",
                   help="splits.json of `vesselnet cv`: fold k trains on the others and is scored "
                   "on fold k (default: one hold-out fold, data.val_fraction / data.val_cases, "
                   "as `vesselnet train` validates)")
    f.add_argument("--fold", type=int, nargs="+", metavar="K", help="use only these folds")
    f.add_argument("--score", choices=("best", "last"), default="best",
                   help="a fold's score: best (default) or last validation DSC of its run")
    f.add_argument("--epochs", type=int, help="epochs of a trial (default: the config's)")
    f.add_argument("--val-every", type=int, help="validate (and maybe prune) every N epochs")
    o = p.add_argument_group("sampler, pruner, workers")
    o.add_argument("--seed", type=int, default=0, help="TPE sampler seed (default 0)")
    o.add_argument("--worker", type=int, default=0, metavar="K",
                   help="index of this parallel worker (part of its sampler seeds; default 0)")
    o.add_argument("--startup-trials", type=int, default=10, help="random trials before TPE (10)")
    o.add_argument("--pruner", choices=("median", "none"), default="median")
    o.add_argument("--prune-startup", type=int, default=3, help="trials before pruning starts (3)")
    o.add_argument("--prune-warmup", type=int, default=0, help="epochs of fold 0 never pruned (0)")
    o.add_argument("--heartbeat", type=int, default=30, metavar="S",
                   help="seconds between heartbeats of a running trial (30; 0: off)")
    o.add_argument("--grace", type=int, metavar="S",
                   help="seconds without heartbeat before a trial counts as dead (2 x heartbeat)")
    o.add_argument("--max-retry", type=int, default=1, help="re-runs of a dead trial (1)")
    o.add_argument("--max-failures", type=int, default=3, help="stop after N failed trials in a row")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N (overrides run.device)")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep every trial's checkpoints")
    p.add_argument("--progress", action="store_true", help="progress bars of the training runs")
    p.add_argument("--no-figure", action="store_true", help="do not write search.png")
    p.add_argument("--traceback", action="store_true", help="show the traceback of an error")
    p.set_defaults(func=run)


def _config(args):
    from vesselnet.train.launch import parse_assignment, resolve_config

    overrides = [parse_assignment(text) for text in args.set]
    return resolve_config(preset=args.preset, config_file=args.config, out_dir=".", resume=False,
                          overrides=overrides)


def _space(args, num_scales: int):
    from vesselnet.commands._common import yaml_mapping
    from vesselnet.tune.space import load_space, parse_param

    spec: dict = {}
    source = []
    if args.space is not None:
        spec.update(yaml_mapping(args.space, "--space", "parameter names to ranges"))
        source.append(str(args.space))
    for text in args.param:
        name, value = parse_param(text)
        spec[name] = value
    if args.param:
        source.append("--param")
    return load_space(spec or None, num_scales, source=" and ".join(source) or None)


def _overrides(args) -> dict:
    from vesseltree.cli import UserError

    run_ = {}
    for flag, key, low in (("epochs", "epochs", 1), ("val_every", "val_every", 1)):
        value = getattr(args, flag)
        if value is not None:
            if value < low:
                raise UserError(f"--{flag.replace('_', '-')}: expected an integer >= {low}, got {value}")
            run_[key] = value
    return {"run": run_} if run_ else {}


def run(args) -> int:
    """Run ``vesselnet tune``; returns the exit code."""
    from vesseltree.cli import UserError
    from vesselnet.tune.run import TuneError, tune

    if args.trials < 1:
        raise UserError(f"--trials: expected an integer >= 1, got {args.trials}")
    config = _config(args)
    space = _space(args, config.model.num_scales)
    out = args.out if args.out is not None else Path(f"tune-{config.name}")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out: {str(out)!r} exists and is not a folder")
    storage = "default" if args.storage is None else args.storage
    if storage != "default":  # open it before any data work: a bad URL fails at once
        from vesselnet.tune.storage import open_storage

        open_storage(storage, heartbeat_interval=None)
    from vesselnet.train.launch import open_training_data

    dataset = open_training_data(args.data, config, out, progress=args.progress)
    try:
        result = tune(
            config, dataset, out, n_trials=args.trials, storage=storage, study_name=args.study_name,
            space=space, folds=args.folds, fold_indices=args.fold, trial_overrides=_overrides(args),
            score=args.score, seed=args.seed, worker=args.worker, startup_trials=args.startup_trials,
            pruner=args.pruner, prune_startup=args.prune_startup, prune_warmup=args.prune_warmup,
            heartbeat_interval=args.heartbeat or None, grace_period=args.grace,
            max_retry=args.max_retry, max_failures=args.max_failures,
            keep_checkpoints=args.keep_checkpoints, device=args.device, progress=args.progress,
            figure=not args.no_figure, log=lambda line: print(f"vesselnet tune: {line}", flush=True))
    except TuneError as exc:
        raise UserError(str(exc)) from exc
    except KeyboardInterrupt:
        print("vesselnet tune: interrupted; the running trial is marked failed and queued again: "
              "run the same command to resume the study", file=sys.stderr)
        return 130
    if not result.counts:  # a DDP rank other than 0
        return 0
    c = result.counts
    print(f"vesselnet tune: study {result.study_name!r} in {result.storage}: {c['COMPLETE']} complete, "
          f"{c['PRUNED']} pruned, {c['FAIL']} failed")
    if result.best_trial is None:
        print("vesselnet tune: no trial completed, so no best config was written")
    else:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in result.best_params.items())
        print(f"vesselnet tune: best trial {result.best_trial}: mean validation DSC "
              f"{result.best_value:.4f} ({shown})")
        print(f"vesselnet tune: best config: {result.best_config} "
              f"(vesselnet train --config {result.best_config})")
    if result.figure is not None:
        print(f"vesselnet tune: figure: {result.figure}")
    sys.stdout.flush()
    return 0

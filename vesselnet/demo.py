"""The whole story on synthetic data: ``python -m vesselnet.demo`` (what ``make demo`` runs).

No download, a few minutes on 2 CPU cores, everything through the library's own layers:

1. **phantoms** (:class:`vesselnet.data.SyntheticSource`): seeded vessel trees (Murray's law)
   rendered as CT, the thinnest vessels about one voxel across; ``n_train`` training phantoms
   of ``train_shape`` and one larger held-out phantom of ``test_shape``;
2. **scale targets** (:func:`vesselnet.data.prepare`): the S = 3 scale masks of every training
   phantom from :func:`vesseltree.analyze` (Eq. 1-3, quartile thresholds), cached under
   ``prepared/``; the held-out tree is analysed too (``analysis/``) and its estimated branch
   radii are compared with the phantom's true radii;
3. **training** (:func:`vesselnet.train.train`): the ``multitask-contrastive`` preset (Eq. 9:
   main task, three scale tasks, supervised contrastive term) scaled down (``depth``,
   ``base_channels``, ``epochs``), on whole training volumes, batches of 2 with on-device
   augmentation. Every training volume holds every scale, so every batch holds all S scales
   and the contrastive term is active at every step; the summary counts the steps where it is
   not (``steps_missing_a_scale``, ``steps_without_contrast``: 0 expected);
4. **prediction** (:func:`vesselnet.predict.predict_files`, i.e. ``vesselnet predict``): the
   held-out phantom is larger than the training volumes, so it is predicted with sliding
   windows of the training shape and Gaussian-weighted overlaps, main decoder only, and
   written as NIfTI in its own geometry;
5. **evaluation** (:func:`vesselnet.cli.evaluate_paths`, i.e. ``vesselnet evaluate``): DSC,
   Jaccard, clDice, HD / HD95 / ASSD in mm, recall per scale, branch detection: a Table-1 row;
6. **figures**: the training curves, the Fig. 5 overlays of the held-out prediction, the recall
   per scale, the scale targets of a training phantom.

Outputs under ``--out`` (default ``results/``); ``demo_summary.json`` lists them with the
numbers, ``demo_table.md`` holds the metrics table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["run_demo", "main", "DEFAULTS"]

#: what ``make demo`` runs (``python -m vesselnet.demo --out results``)
DEFAULTS = {
    "n_train": 6,
    "train_shape": (32, 32, 32),
    "test_shape": (48, 64, 64),
    "spacing": (1.0, 1.0, 1.0),
    "epochs": 40,
    "depth": 2,
    "base_channels": 4,
    "lr": 1e-3,
    "seed": 0,
}


def _say(msg: str) -> None:
    print(f"[demo] {msg}", file=sys.stderr, flush=True)


def _radius_errors(labels: np.ndarray, branches, true_radius: np.ndarray, spacing) -> dict:
    """Median |estimated - true| branch radius against the phantom (true radius of a branch:
    median of the phantom's per-voxel radius over the voxels Eq. 3 assigns to it)."""
    inside = labels > 0
    ids, true = labels[inside], true_radius[inside].astype(float)
    order = np.argsort(ids, kind="stable")
    ids, true = ids[order], true[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    by_branch = {int(ids[s]): float(np.median(p)) for s, p in zip(starts, np.split(true, starts[1:]))}
    rows = [(float(branches.at[j, "radius_mm"]), t) for j, t in by_branch.items() if j in branches.index]
    if not rows:
        return {"branches_compared": 0}
    est, truth = (np.array(c) for c in zip(*rows))
    err = float(np.median(np.abs(est - truth)))
    return {"branches_compared": len(rows), "median_abs_error_mm": round(err, 4),
            "median_abs_error_voxels": round(err / float(min(spacing)), 4)}


def _heldout_source(p: dict):
    """The source of the held-out phantom (seed + 1000: never one of the training phantoms)."""
    from vesselnet.data import SyntheticSource

    return SyntheticSource(n_cases=1, shape=p["test_shape"], spacing=p["spacing"], seed=p["seed"] + 1000)


def _phantoms(out: Path, p: dict) -> tuple:
    from vesselnet.data import SyntheticSource
    from vesseltree.io import save_volume

    train_src = SyntheticSource(n_cases=p["n_train"], shape=p["train_shape"], spacing=p["spacing"], seed=p["seed"])
    test_src = _heldout_source(p)
    test = test_src.load(test_src.case_ids[0])
    held = out / "heldout"
    ct = save_volume(held / "ct" / "heldout.nii.gz", test.image, test.spacing, test.affine)
    save_volume(held / "gt" / "heldout.nii.gz", test.vessel.astype(np.uint8), test.spacing, test.affine)
    return train_src, test, ct


def _scale_targets(out: Path, train_src, test, p: dict) -> tuple:
    """Prepare the training phantoms (scale targets) and analyse the held-out tree."""
    from vesselnet.data import PrepareConfig, prepare
    from vesselnet.data.threads import keep_torch_threads
    import pandas as pd

    from vesseltree.io import load_volume
    from vesseltree.pipeline import analyze_file

    cfg = PrepareConfig(crop="none", target_shape=None, n_scales=3)  # 1 mm phantoms: no resampling
    ds = prepare(train_src, out / "prepared", cfg, progress=False, figures=True)
    complete = [c for c in ds.case_ids if not any(f.startswith(("missing_scale", "empty")) for f in ds.flags(c))]
    if len(complete) < 2:
        raise ValueError(f"n_train: only {len(complete)} phantom(s) hold every scale; use more phantoms")
    counts = {c: [int(v) for v in ds[c].scales.reshape(3, -1).sum(1)] for c in ds.case_ids}
    with keep_torch_threads():  # the training after it keeps its thread count
        res = analyze_file(out / "heldout" / "gt" / "heldout.nii.gz", out / "analysis", name="heldout",
                           scale_rule=3, overwrite=True)
    labels = np.asarray(load_volume(res["dir"] / "labels.nii.gz").data, dtype=np.int32)
    branches = pd.read_csv(res["dir"] / "branches.csv", index_col=0)
    from vesseltree.synthetic import make_phantom

    src = _heldout_source(p)  # the held-out phantom again, for its true radii
    truth = make_phantom(src.shape, src.spacing, seed=src.seed, min_radius=src.min_radius, depth=src.depth).radius
    return ds.subset(complete), {
        "prepared": str(out / "prepared"), "cases_used": complete,
        "cases_dropped": sorted(set(ds.case_ids) - set(complete)), "scale_voxels": counts,
        "heldout_branches": int(len(branches)),
        "heldout_radius_accuracy": _radius_errors(labels, branches, truth, test.spacing),
    }


def _train(out: Path, ds, p: dict, device: str, progress: bool) -> dict:
    import pandas as pd

    from vesselnet.train import TrainConfig, train

    cfg = TrainConfig.from_preset("multitask-contrastive", {
        "name": "demo-multitask-contrastive", "seed": p["seed"],
        "model": {"depth": p["depth"], "base_channels": p["base_channels"], "proj_dim": 16},
        "optim": {"lr": p["lr"]}, "data": {"batch_size": 2, "drop_last": True, "patch_size": None},
        "run": {"epochs": p["epochs"], "val_every": 0, "tensorboard": False, "progress": progress},
    })
    t0 = time.perf_counter()
    res = train(cfg, ds, None, out / "train", overwrite=True, device=device)
    steps = pd.read_csv(out / "train" / "steps.csv")
    missing = steps["missing_scales"].notna() & (steps["missing_scales"].astype(str).str.len() > 0)
    return {
        "checkpoint": str(res.last_checkpoint), "preset": "multitask-contrastive",
        "overrides": {"depth": p["depth"], "base_channels": p["base_channels"], "lr": p["lr"],
                      "epochs": p["epochs"], "batch_size": 2, "augmentation": "preset default"},
        "steps": int(len(steps)), "seconds": round(time.perf_counter() - t0, 1),
        "steps_missing_a_scale": int(missing.sum()),
        "steps_without_contrast": int((steps["contrastive"] <= 0).sum()),
        "contrastive_min": float(steps["contrastive"].min()),
        "first_step": {k: round(float(steps[k].iloc[0]), 4) for k in ("total", "contrastive", "dice")},
        "last_epoch_mean": {k: round(float(steps[steps["epoch"] == steps["epoch"].max()][k].mean()), 4)
                            for k in ("total", "contrastive", "dice")},
    }


def _curves(out: Path, path: Path) -> Path:
    import pandas as pd

    from vesseltree.plot import pyplot_backend as _pyplot, save_figure as _save

    steps = pd.read_csv(out / "train" / "steps.csv")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, cols, title in ((axes[0], ["total"], "Eq. 9 total"), (axes[1], ["mt", "s1", "s2", "s3"], "Dice + wCE per task"),
                            (axes[2], ["contrastive"], "contrastive (Eq. 7-8)")):
        for c in cols:
            ax.plot(steps["step"], steps[c], label=c, lw=1)
        ax.set_title(title)
        ax.set_xlabel("step")
        if len(cols) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def run_demo(out="results", *, n_train: int = DEFAULTS["n_train"], train_shape=DEFAULTS["train_shape"],
             test_shape=DEFAULTS["test_shape"], spacing=DEFAULTS["spacing"], epochs: int = DEFAULTS["epochs"],
             depth: int = DEFAULTS["depth"], base_channels: int = DEFAULTS["base_channels"],
             lr: float = DEFAULTS["lr"], seed: int = DEFAULTS["seed"], device: str = "auto",
             progress: bool = False) -> dict:
    """Run the demo (module docstring) and return its summary (also ``out/demo_summary.json``).

    Parameters
    ----------
    out : path-like
        Output folder (created; the demo's own sub-folders are replaced).
    n_train, train_shape, test_shape, spacing, seed
        Training phantoms, their shape (z, y, x), the held-out phantom's shape (larger: sliding
        windows), voxel size (mm), seed.
    epochs, depth, base_channels, lr
        The scaled-down training of ``multitask-contrastive``.
    device : str
        ``auto``, ``cpu``, ``cuda``.
    """
    from vesselnet.cli import evaluate_paths
    from vesselnet.predict.pipeline import predict_files
    from vesseltree.validation import as_shape3

    p = {"n_train": n_train, "train_shape": as_shape3(train_shape, "train_shape"),
         "test_shape": as_shape3(test_shape, "test_shape"), "spacing": tuple(float(s) for s in spacing),
         "epochs": epochs, "depth": depth, "base_channels": base_channels, "lr": lr, "seed": seed}
    if any(t < s for t, s in zip(p["test_shape"], p["train_shape"])):
        raise ValueError(f"test_shape: expected at least train_shape {p['train_shape']} along every axis "
                         f"(the held-out phantom is predicted with windows of the training shape), got {p['test_shape']}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    summary: dict = {"parameters": {k: list(v) if isinstance(v, tuple) else v for k, v in p.items()}}
    _say(f"1/6 phantoms: {n_train} x {p['train_shape']} for training, 1 x {p['test_shape']} held out")
    train_src, test, ct = _phantoms(out, p)
    _say("2/6 scale targets (vesseltree.analyze) of the training phantoms; analysis of the held-out tree")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds, summary["scale_targets"] = _scale_targets(out, train_src, test, p)
    _say(f"3/6 training multitask-contrastive for {epochs} epochs on {len(ds)} phantoms")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        summary["training"] = _train(out, ds, p, device, progress)
    _say(f"   {summary['training']['steps']} steps in {summary['training']['seconds']} s; "
         f"contrastive term > 0 at every step: {summary['training']['steps_without_contrast'] == 0}")
    _say(f"4/6 sliding-window prediction of the held-out phantom (windows {p['train_shape']})")
    rep = predict_files(summary["training"]["checkpoint"], [ct], out / "prediction", progress=False,
                        device=device, roi_size=p["train_shape"], overlap=0.5)
    if rep.failed:
        raise ValueError(f"prediction failed: {rep.failed[0]['error']}")
    summary["prediction"] = {**rep.written[0], "windows": _count_windows(p)}
    _say("5/6 vesselnet evaluate")
    ev_dir = out / "evaluation"
    ev = evaluate_paths(out / "prediction" / "masks", out / "heldout" / "gt", n_scales=3,
                        figures_dir=out / "figures", progress=False).evaluator
    ev_dir.mkdir(exist_ok=True)
    ev.to_csv(ev_dir / "metrics.csv")
    table = ev.to_markdown(name=f"multitask-contrastive, {epochs} epochs (held-out phantom)")
    (out / "demo_table.md").write_text(table, encoding="utf-8")
    summary["metrics"] = {c: round(float(ev.mean(c)), 4) for c in ev.columns}
    print(table)
    _say("6/6 figures")
    figs = [_curves(out, out / "figures" / "training_curves.png")]
    figs += sorted((out / "figures").glob("heldout_*.png")) + [out / "figures" / "scale_recall.png"]
    figs += sorted((out / "prepared" / "figures").glob("*.png"))[:1]
    summary["figures"] = [str(f) for f in figs if f.is_file()]
    summary["table"] = str(out / "demo_table.md")
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    _say(f"done in {summary['seconds']} s; outputs under {out}/ (demo_summary.json)")
    return summary


def _count_windows(p: dict) -> int:
    from vesselnet.predict.sliding import window_starts

    div = 2 ** p["depth"]
    n = 1
    for size, w in zip(p["test_shape"], p["train_shape"]):
        n *= len(window_starts(-(-size // div) * div, w, 0.5, div))
    return n


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the demo; returns the exit code."""
    d = DEFAULTS
    ap = argparse.ArgumentParser(prog="python -m vesselnet.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="results", help="output folder (default: results)")
    ap.add_argument("--n-train", type=int, default=d["n_train"], help=f"training phantoms (default {d['n_train']})")
    ap.add_argument("--epochs", type=int, default=d["epochs"], help=f"training epochs (default {d['epochs']})")
    ap.add_argument("--seed", type=int, default=d["seed"])
    ap.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    ap.add_argument("--progress", action="store_true", help="training progress bar")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's; 1 is fastest on a busy machine)")
    args = ap.parse_args(argv)
    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    try:
        run_demo(args.out, n_train=args.n_train, epochs=args.epochs, seed=args.seed, device=args.device,
                 progress=args.progress)
    except (ValueError, TypeError, OSError) as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""K-fold cross-validation of the Table-1 presets (Sect. 3.2-3.3 of Sadikine et al., ISBI 2023).

:func:`run_cv` = saved splits + for every fold and preset: training on the other folds
(:func:`vesselnet.train.train`), prediction of the held-out fold with the trained checkpoint
(:class:`vesselnet.predict.CheckpointPredictor`, main decoder only), and the metrics of
``vesselnet evaluate`` (:class:`vesselnet.metrics.CaseEvaluator`: DSC, Jaccard, clDice, HD,
HD95, ASSD in mm, recall per scale, branch detection); then the report
(:mod:`vesselnet.cv.report`), built from the saved per-case tables, never retyped.

Layout of ``OUT``::

    cv.json                     the plan: data, preprocessing, presets (full configs), folds
    splits.json                 the folds (:mod:`vesselnet.cv.splits`), shared by every preset
    prepared/                   the prepared cases (when --data is a source, cached)
    gt/<case>.nii.gz            ground truth on the evaluation grid
    <preset>/fold_<k>/run/      the training run (checkpoints, logs)
    <preset>/fold_<k>/pred/     predicted masks of the held-out cases (NIfTI)
    <preset>/fold_<k>/metrics.csv   per-case metrics
    <preset>/fold_<k>/result.json   status "done" or "failed" (+ error), written last
    report/                     table1.md, table1.csv, folds.csv, cases.csv, figures/

Evaluation grid: with ``data`` a source (``synthetic:N``, a 3D-IRCADb or MSD folder) the
predictions are restored to each case's original grid and compared with its original mask
(and spacing); with ``data`` a prepared folder the originals are unknown and the comparison is
on the prepared grid (the paper's setting: all volumes resized to 256 x 256 x 128).

Resuming: a unit (preset, fold) whose ``result.json`` says ``done`` is skipped; a unit whose
run holds ``checkpoints/last.pt`` continues its training exactly there; a failed unit is run
again. A unit that fails (training error, bad data, out of memory) is recorded as failed and
the others go on; the report shows it.
"""
from __future__ import annotations

import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

__all__ = ["run_cv", "CVResult", "resolve_presets", "FORMAT"]

FORMAT = "vesselnet-cv"


@dataclass
class CVResult:
    """What :func:`run_cv` did."""

    out_dir: Path
    presets: list
    folds: list
    done: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    report: dict = field(default_factory=dict)


def _say(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"[cv] {msg}", file=sys.stderr, flush=True)


def _write_json(path: Path, data) -> None:
    from vesseltree.io import atomic_write

    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def resolve_presets(presets: Sequence, overrides: Mapping | None = None) -> dict:
    """``{name: TrainConfig}`` from preset names or YAML config files, with ``overrides`` merged.

    Raises
    ------
    ValueError
        Unknown preset (listing the presets), unreadable config file, invalid override (naming
        the key), two entries with the same name.
    """
    from vesselnet.train.config import PRESETS, TrainConfig, load_config

    out: dict = {}
    if not presets:
        raise ValueError(f"presets: expected at least one of {', '.join(PRESETS)} or a YAML file")
    for entry in presets:
        entry = str(entry)
        if entry in PRESETS:
            cfg, name = TrainConfig.from_preset(entry, overrides), entry
        elif entry.endswith((".yaml", ".yml")) or Path(entry).is_file():
            cfg = load_config(entry)
            cfg = cfg.replace(overrides) if overrides else cfg
            name = cfg.name if cfg.name not in ("", "run") else Path(entry).stem
        else:
            raise ValueError(f"presets: unknown preset {entry!r}; valid presets: {', '.join(PRESETS)}, "
                             "or a YAML config file")
        from vesselnet.predict.inputs import safe_case_id

        name = safe_case_id(name)
        if name in out:
            raise ValueError(f"presets: {name!r} given twice")
        out[name] = cfg
    return out


# --------------------------------------------------------------------------------------------
# data


class _Data:
    """The prepared cases, and the ground truth on the evaluation grid (cached)."""

    def __init__(self, data, out: Path, prepare_config, progress: bool):
        from vesselnet.data import PreparedDataset, prepare
        from vesselnet.data.sources import open_source

        if hasattr(data, "case_ids") and hasattr(data, "load"):  # a source object
            self.source, self.record = data, data.record()
        else:
            p = Path(str(data))
            if p.is_dir() and (p / "manifest.json").is_file():
                self.dataset, self.source, self.grid = PreparedDataset(p), None, "prepared"
                self.record = {"prepared": str(p)}
            else:
                self.source, self.record = open_source(data), {"spec": str(data)}
        if self.source is not None:
            self.dataset = prepare(self.source, out / "prepared", prepare_config, progress=progress)
            self.grid = "original"
        self.config = self.dataset.config
        self._gt: dict = {}

    def truth(self, cid: str):
        """(mask bool, spacing, affine, tree) of a case on the evaluation grid."""
        if cid not in self._gt:
            from vesselnet.data.threads import keep_torch_threads
            from vesselnet.metrics.vessel import analyze_reference
            from vesseltree.scales import ScaleRule

            if self.grid == "prepared":
                pc = self.dataset[cid]
                gt, sp, aff = pc.vessel[0].astype(bool), tuple(pc.spacing), pc.transform.affine
            else:
                case = self.source.load(cid)
                gt = np.asarray(case.vessel, bool)
                if self.config.vessel_in_liver and case.liver is not None:
                    gt = gt & np.asarray(case.liver, bool)
                sp, aff = tuple(case.spacing), np.asarray(case.affine, float)
            with keep_torch_threads():  # the trainings after it keep their thread count
                tree = analyze_reference(gt, sp, scale_rule=ScaleRule.quantiles(self.config.n_scales))
            self._gt[cid] = (gt, sp, aff, tree)
        return self._gt[cid]


def _plan(data: dict, grid, prepare_config, presets: dict, folds: int, seed: int, predict: dict) -> dict:
    return {"format": FORMAT, "version": 1, "data": data, "eval_grid": grid,
            "prepare": prepare_config.to_dict(), "folds": folds, "seed": seed,
            "presets": {n: c.to_dict() for n, c in presets.items()}, "predict": predict}


def _check_plan(old: dict, new: dict, out: Path) -> dict:
    """The plan of a cv being resumed must equal the new one (new presets may be added)."""
    if old.get("format") != FORMAT:
        raise ValueError(f"out: {str(out)!r} holds a cv.json that is not a vesselnet cv plan")
    diff = [k for k in ("data", "eval_grid", "prepare", "folds", "seed", "predict") if old.get(k) != new[k]]
    diff += [f"presets.{n}" for n, c in new["presets"].items() if n in old.get("presets", {})
             and old["presets"][n] != c]
    if diff:
        raise ValueError(
            f"out: {str(out)!r} holds a cv run with other settings (differs at {', '.join(diff)}); "
            "rerun with the same settings to resume it, or pass --overwrite, or choose another folder")
    merged = dict(old)
    merged["presets"] = {**old.get("presets", {}), **new["presets"]}
    return merged


def _splits(out: Path, data: "_Data", folds: int | None, seed: int, splits) -> tuple[list, bool]:
    """The folds (from ``splits``, the saved file, or new) and whether they must be saved."""
    from vesselnet.cv.splits import load_splits, make_splits

    saved = out / "splits.json"
    ids = data.dataset.case_ids
    if splits is not None:
        folds_ = load_splits(splits, ids)
        if saved.is_file() and load_splits(saved) != folds_:
            raise ValueError(f"splits: {str(splits)!r} differs from the splits of this cv ({str(saved)!r})")
    elif saved.is_file():
        folds_ = load_splits(saved, ids)
    else:
        folds_ = make_splits(ids, 5 if folds is None else folds, seed)
    if folds is not None and len(folds_) != folds:
        raise ValueError(f"folds: {folds} requested, the splits ({str(splits or saved)!r}) hold {len(folds_)} folds")
    return folds_, not saved.is_file()


# --------------------------------------------------------------------------------------------
# one unit: train, predict, evaluate


def _val_split(train_ids: list, config, seed: int) -> tuple[list, list]:
    frac, every = config.data.val_fraction, config.run.val_every
    if not frac or not every or len(train_ids) < 3:
        return train_ids, []
    n_val = max(1, int(round(frac * len(train_ids))))
    pick = set(np.random.default_rng(seed).choice(len(train_ids), n_val, replace=False).tolist())
    return [c for i, c in enumerate(train_ids) if i not in pick], [c for i, c in enumerate(train_ids) if i in pick]


def _train_unit(config, data: "_Data", train_ids, val_ids, run_dir: Path, device, progress):
    from vesselnet.train import train

    resume = (run_dir / "checkpoints" / "last.pt").is_file() and (run_dir / "run.json").is_file()
    val = data.dataset.subset(val_ids) if val_ids else None
    res = train(config, data.dataset.subset(train_ids), val, run_dir, resume=resume,
                overwrite=not resume, device=device, progress=progress)
    return res.best_checkpoint or res.last_checkpoint


def _evaluate_unit(ckpt, data: "_Data", test_ids, unit: Path, predict: dict, device) -> "object":
    from vesselnet.metrics import CaseEvaluator
    from vesselnet.predict.pipeline import CheckpointPredictor
    from vesseltree.io import atomic_write, save_volume

    predictor = CheckpointPredictor(ckpt, device=device, **predict)
    predictor.check_prepared(data.config)
    ev = CaseEvaluator(n_scales=data.config.n_scales, vessel=True)
    for cid in test_ids:
        pc = data.dataset[cid]
        if data.grid == "prepared":
            mask = predictor.prepared_mask(pc.image)
        else:
            mask = predictor.predict_case(pc).mask
        gt, sp, aff, tree = data.truth(cid)
        save_volume(unit / "pred" / f"{cid}.nii.gz", mask.astype(np.uint8), sp, aff)
        ev.update(mask, gt, sp, case=cid, tree=tree)
    with atomic_write(unit / "metrics.csv", ".csv") as tmp:
        ev.to_csv(tmp)
    return ev


def _run_unit(name, config, k, folds, data, out, predict, device, progress, quiet) -> dict:
    unit = out / name / f"fold_{k}"
    test_ids = folds[k]
    train_ids = [c for j, f in enumerate(folds) if j != k for c in f]
    train_ids, val_ids = _val_split(train_ids, config, config.seed + k)
    t0 = time.perf_counter()
    rec = {"preset": name, "fold": k, "test": test_ids, "train": train_ids, "val": val_ids}
    try:
        cfg = config.replace({"name": f"{name}-fold{k}"})
        ckpt = _train_unit(cfg, data, train_ids, val_ids, unit / "run", device, progress)
        ev = _evaluate_unit(ckpt, data, test_ids, unit, predict, device)
        rec.update(status="done", checkpoint=str(ckpt), seconds=round(time.perf_counter() - t0, 1),
                   mean={c: ev.mean(c) for c in ev.columns})
        _say(f"{name} fold {k}: DSC {100 * ev.mean('dsc'):.2f}% over {len(ev)} case(s), "
             f"{rec['seconds']} s", quiet)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed unit is recorded and the cv goes on
        rec.update(status="failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0],
                   seconds=round(time.perf_counter() - t0, 1))
        unit.mkdir(parents=True, exist_ok=True)
        (unit / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
        _say(f"{name} fold {k}: FAILED ({rec['error']})", quiet)
    _write_json(unit / "result.json", rec)
    return rec


def _write_truth(out: Path, data: "_Data", folds) -> None:
    from vesseltree.io import save_volume

    for fold in folds:
        for cid in fold:
            p = out / "gt" / f"{cid}.nii.gz"
            if not p.is_file():
                gt, sp, aff, _ = data.truth(cid)
                save_volume(p, gt.astype(np.uint8), sp, aff)


# --------------------------------------------------------------------------------------------
# the whole cv


def run_cv(data, out_dir, presets: Sequence = ("resunet-binary", "resunet-multiclass", "multitask",
                                               "multitask-contrastive"),
           *, folds: int | None = None, seed: int = 0, splits=None, overrides: Mapping | None = None,
           prepare_config=None, device: str = "auto", tta: bool = False, overlap: float = 0.5,
           threshold: float = 0.5, overwrite: bool = False, figures: bool = True,
           progress: bool | None = None, quiet: bool = False) -> CVResult:
    """Cross-validate presets on the same folds and write the report (module docstring).

    Parameters
    ----------
    data : str, path-like or source
        A source spec (``synthetic:N``, a 3D-IRCADb or MSD folder) or a source object
        (:mod:`vesselnet.data.sources`), prepared into ``OUT/prepared``; or a prepared folder.
    out_dir : path-like
        The cv folder (created; a stopped cv in it is resumed).
    presets : sequence of str
        Preset names (:data:`vesselnet.train.PRESETS`) or YAML config files; one row each.
    folds : int >= 2, optional
        K (default: the splits' number of folds, else 5).
    seed : int
        Seed of the splits (the configs carry their own training seeds).
    splits : path-like, optional
        A splits JSON to use (e.g. another cv's ``splits.json``).
    overrides : mapping, optional
        Nested config keys merged into every preset (``{"run": {"epochs": 50}}``).
    prepare_config : PrepareConfig, optional
        Preprocessing of a source (default: the presets' ``data.prepare``, which must agree).
    device, tta, overlap, threshold
        Training device and prediction options.
    overwrite : bool
        Start over in ``out_dir`` (removes the plan, the splits, the units and the report; keeps
        the prepared cache).
    figures : bool
        Fig. 5-style overlays of one case per preset in the report.

    Returns
    -------
    CVResult

    Raises
    ------
    ValueError
        Bad presets/overrides/data, more folds than cases, a splits file naming missing cases,
        an ``out_dir`` holding a cv with other settings. Failures of single units are recorded,
        not raised.
    """
    from vesselnet.cv.report import build_report

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {str(out)!r} exists and is not a folder")
    configs = resolve_presets(presets, overrides)
    prepare_config = _common_prepare(configs, prepare_config)
    if overwrite and out.is_dir():
        _clear(out)
    out.mkdir(parents=True, exist_ok=True)
    data_ = _Data(data, out, prepare_config, progress=bool(progress) and not quiet)
    predict = {"tta": bool(tta), "overlap": float(overlap), "threshold": float(threshold)}
    folds_ = _start(out, data_, configs, folds, seed, splits, predict)
    result = CVResult(out, list(configs), folds_)
    _run_units(result, configs, data_, predict, device, progress, quiet)
    result.report = build_report(out, figures=figures)
    return result


def _common_prepare(configs: dict, prepare_config):
    """The one preprocessing of every preset: ``prepare_config``, else the presets' common
    ``data.prepare``; its ``n_scales`` must be every preset's ``model.num_scales``."""
    from vesselnet.data import PrepareConfig

    if prepare_config is None:
        preps = {n: json.dumps(c.data.prepare, sort_keys=True) for n, c in configs.items()}
        if len(set(preps.values())) > 1:
            raise ValueError(f"presets: their data.prepare settings differ ({preps}); give one preprocessing "
                             "(--prepare-config) so that every row sees the same cases")
        prepare_config = PrepareConfig.from_dict(dict(next(iter(configs.values())).data.prepare))
    for n, c in configs.items():
        if c.model.num_scales != prepare_config.n_scales:
            raise ValueError(f"presets: {n} has model.num_scales {c.model.num_scales}, the preprocessing "
                             f"makes n_scales {prepare_config.n_scales}")
    return prepare_config


def _start(out: Path, data: "_Data", configs: dict, folds: int | None, seed, splits, predict: dict) -> list:
    """The folds, with the plan (``cv.json``, checked against a cv being resumed), the splits
    and the ground truth written to ``out``."""
    folds_, new_splits = _splits(out, data, folds, int(seed), splits)
    plan = _plan(data.record, data.grid, data.config, configs, len(folds_), int(seed), predict)
    if (out / "cv.json").is_file():
        plan = _check_plan(json.loads((out / "cv.json").read_text(encoding="utf-8")), plan, out)
    if new_splits:
        from vesselnet.cv.splits import save_splits

        save_splits(out / "splits.json", folds_, seed)
    _write_json(out / "cv.json", plan)
    _write_truth(out, data, folds_)
    return folds_


def _run_units(result: CVResult, configs: dict, data: "_Data", predict: dict, device, progress,
               quiet: bool) -> None:
    """Run every (fold, preset) unit not done yet, fold by fold; record each in ``result``."""
    out, folds_ = result.out_dir, result.folds
    for k in range(len(folds_)):
        for name, cfg in configs.items():
            unit = out / name / f"fold_{k}"
            prev = _read_result(unit)
            if prev is not None and prev.get("status") == "done":
                result.done.append((name, k))
                continue
            _say(f"{name} fold {k}/{len(folds_)}: train on {sum(len(f) for f in folds_) - len(folds_[k])} "
                 f"case(s), test on {len(folds_[k])}", quiet)
            rec = _run_unit(name, cfg, k, folds_, data, out, predict, device, progress, quiet)
            (result.done if rec["status"] == "done" else result.failed).append((name, k))


def _read_result(unit: Path) -> dict | None:
    try:
        return json.loads((unit / "result.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _clear(out: Path) -> None:
    import shutil

    plan = out / "cv.json"
    if plan.is_file():
        try:
            names = list(json.loads(plan.read_text(encoding="utf-8")).get("presets", {}))
        except (OSError, json.JSONDecodeError):
            names = []
        for n in names:
            if n and "/" not in n and n not in (".", ".."):
                shutil.rmtree(out / n, ignore_errors=True)
    for name in ("report", "gt"):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in ("cv.json", "splits.json"):
        (out / name).unlink(missing_ok=True)

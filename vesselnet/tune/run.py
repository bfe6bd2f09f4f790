"""``vesselnet tune``: an Optuna study of the loss weights of Eq. 9 (Sect. 3.2 of Sadikine et al.,
ISBI 2023, who tuned lambda_1..3, lambda_c and tau with Optuna), resumable and parallel.

One trial: draw the parameters (:mod:`vesselnet.tune.space`), train the trial config once per
selected fold (:mod:`vesselnet.tune.folds`) with :func:`vesselnet.train.train`, score each fold
by its validation DSC (best or last validation of the run) and return the mean. After every
validation the DSC is reported to the pruner (step ``fold position x epochs + epoch``); a poor
trial is stopped there (``optuna.TrialPruned`` raised from the trainer's epoch-end callback,
:mod:`vesselnet.tune.pruning`).

Layout of ``out_dir``::

    tune.json                study name, storage (password hidden), search space, folds
    study.db                 the default storage (sqlite:///OUT/study.db)
    trials/trial_0007/       one folder per trial (the name is the trial number):
        config.yaml            the trial's config (vesselnet.train.config.save_config)
        trial.json             parameters, state, value, fold scores, reports, error
        fold_0/                the training run of fold 0 (run.json, epochs.csv, steps.csv)
    trials.csv               one row per trial
    best.yaml, best.json     the best values as a config for `vesselnet train` (report.py)
    search.png               objective per trial, validation curves, parameter importances

Resumption: the study lives in the storage. Running the same command again continues it until
``n_trials`` trials are COMPLETE or PRUNED; a trial whose process died (no heartbeat for
``grace_period`` s) is marked FAIL and re-run once with the same parameters.

Parallel workers: start the same command several times on one storage (``--worker K`` gives
each its own sampler seeds); each worker asks the study for the next trial, and stops when the
study holds ``n_trials`` finished trials (it waits for trials still running elsewhere, so a
dead worker's trial is taken over after the grace period). Under ``torchrun`` every trial is
one DDP job: rank 0 runs the study and sends each trial's parameters and each pruning decision
to the other ranks.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from vesselnet.tune import storage as _st
from vesselnet.tune.folds import Fold, check_folds, holdout_fold, read_folds, select_folds
from vesselnet.tune.pruning import PruneCallback, broadcast, fold_score
from vesselnet.tune.space import SearchSpace, load_space

__all__ = ["tune", "TuneResult", "TuneError", "SCORES"]

log = logging.getLogger("vesselnet.tune")
SCORES = ("best", "last")
_DONE = ("COMPLETE", "PRUNED")
_MACHINE_KEYS = ("device", "progress", "num_threads", "tensorboard")


class TuneError(RuntimeError):
    """The study cannot go on (e.g. too many trials in a row failed); names the last failure."""


@dataclass
class TuneResult:
    """What :func:`tune` returns (on rank 0; other DDP ranks get counts only)."""

    out_dir: Path
    study_name: str
    storage: str
    counts: dict
    best_trial: int | None = None
    best_value: float | None = None
    best_params: dict | None = None
    best_config: Path | None = None
    figure: Path | None = None


def _plain(data):
    return json.loads(json.dumps(data))


def _comparable(config_dict: dict) -> dict:
    """A config's plain data without the machine-only run keys (device, progress bar, ...)."""
    out = _plain(config_dict)
    for key in _MACHINE_KEYS:
        out.get("run", {}).pop(key, None)
    return out


def _positive_int(value, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    return value


def _resolve_folds(folds, config, dataset, fold_indices) -> list[Fold]:
    if folds is None:
        try:
            folds = [holdout_fold(dataset.case_ids, val_fraction=config.data.val_fraction,
                                  val_cases=config.data.val_cases, seed=config.seed)]
        except ValueError as exc:
            raise ValueError(f"config key 'data.val_fraction' / 'data.val_cases' (the hold-out "
                             f"fold when no splits file is given): {exc}") from exc
        source = "hold-out fold"
    elif isinstance(folds, (str, Path)):
        source = f"splits file {str(folds)!r}"
        folds = read_folds(folds, dataset.case_ids)
    else:
        source = "folds"
    return select_folds(check_folds(folds, dataset.case_ids, source=source), fold_indices)


def _resolve_space(space, config) -> SearchSpace:
    if space is None or isinstance(space, Mapping):
        space = load_space(space, config.model.num_scales)
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space: expected a SearchSpace or a mapping of ranges, got {type(space).__name__}")
    space.check_config(config)
    return space


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class _Tuner:
    """The study loop of :func:`tune` (one instance per process)."""

    def __init__(self, config, trial_config, dataset, out_dir, space, folds, opts) -> None:
        self.config, self.trial_config, self.dataset = config, trial_config, dataset
        self.out, self.space, self.folds, self.o = Path(out_dir), space, folds, opts
        self.say: Callable[[str], None] = opts["log"] or log.info
        from vesselnet.train.distributed import init_distributed

        self.ctx = init_distributed(trial_config.run.device)
        self.study = self.storage = None
        self.failures = 0

    # ------------------------------------------------------------------ setup (rank 0)
    def open(self) -> None:
        o = self.o
        url = o["storage"]
        if url == "default":
            self.out.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{(self.out / 'study.db').resolve()}"
        self.url = url
        self.storage = _st.open_storage(url, heartbeat_interval=o["heartbeat_interval"],
                                        grace_period=o["grace_period"], max_retry=o["max_retry"])
        self.out.mkdir(parents=True, exist_ok=True)
        spec = _plain({"space": self.space.to_dict(), "config": _comparable(self.trial_config.to_dict()),
                       "base_config": _comparable(self.config.to_dict()),
                       "folds": [f.to_dict() for f in self.folds], "score": o["score"]})
        self.study = _st.open_study(
            self.storage, o["study_name"], spec,
            sampler=_st.make_sampler(o["seed"], o["worker"], o["startup_trials"]),
            pruner=_st.make_pruner(o["pruner"], n_startup_trials=o["prune_startup"],
                                   n_warmup_steps=o["prune_warmup"]))
        self._check_out()
        from vesselnet.train.runlog import write_atomic

        write_atomic(self.out / "tune.json", json.dumps(
            {"study_name": o["study_name"], "storage": _st.redact(url), "n_trials": o["n_trials"],
             **spec}, indent=2) + "\n")

    def _check_out(self) -> None:
        """Refuse an out folder that holds the trials of another study."""
        known = {t.number: t for t in self.study.get_trials(deepcopy=False)}
        for path in sorted((self.out / "trials").glob("trial_*")):
            try:
                rec = json.loads((path / "trial.json").read_text(encoding="utf-8"))
                number, started = int(rec["number"]), rec["datetime_start"]
            except (OSError, ValueError, KeyError, TypeError):
                continue  # killed before its record was written; its number is the study's
            t = known.get(number)
            if t is None or t.datetime_start is None or t.datetime_start.isoformat() != started:
                raise ValueError(
                    f"out: {str(path)!r} holds a trial of another study (not trial {number} of "
                    f"study {self.o['study_name']!r} in {_st.redact(self.url)}); choose another "
                    f"--out, or the --storage and --study-name it belongs to")

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        trial = None
        while True:
            plan = None
            if self.ctx.is_main:
                trial = self._next()
                plan = None if trial is None else (trial.number, self.space.suggest(trial))
            plan = broadcast(plan, self.ctx)
            if plan is None:
                return
            self._trial(trial if self.ctx.is_main else None, *plan)

    def _next(self):
        """Ask for a trial, or None when the study holds ``n_trials`` finished trials."""
        import optuna

        n, hb = self.o["n_trials"], self.o["heartbeat_interval"]
        while True:
            with _st.quiet():
                optuna.storages.fail_stale_trials(self.study)
            states = [t.state.name for t in self.study.get_trials(deepcopy=False)]
            done, running = sum(s in _DONE for s in states), states.count("RUNNING")
            if done >= n:
                return None
            if done + running < n:
                self._waiting = False
                o = self.o
                self.study.sampler = _st.make_sampler(o["seed"], o["worker"], o["startup_trials"],
                                                      n_trials=len(states))
                with _st.quiet():
                    trial = self.study.ask()
                self.trial_id = trial._trial_id  # the storage's id (heartbeats)
                if self.storage is not None and hb:
                    self.storage.record_heartbeat(self.trial_id)
                return trial
            if self.storage is None or not hb:
                self.say(f"{running} trial(s) still running elsewhere and no heartbeat to tell a "
                         f"dead one; stopping with {done} of {n} finished")
                return None
            if not getattr(self, "_waiting", False):
                self._waiting = True
                self.say(f"{done} of {n} trials finished, {running} running elsewhere: waiting for "
                         f"them to finish (or to miss their heartbeat for the grace period)")
            time.sleep(max(1, min(hb, 10)))

    def _trial(self, trial, number: int, params: dict) -> None:
        cfg = self.space.apply(self.trial_config, params)
        tdir = self.out / "trials" / f"trial_{number:04d}"
        rec = {"number": number, "params": params, "state": "RUNNING", "worker": self.o["worker"],
               "datetime_start": trial.datetime_start.isoformat() if trial else None,
               "retry_of": self._frozen(number).system_attrs.get("failed_trial") if trial else None,
               "folds": [], "started": _now()}
        if self.ctx.is_main:
            from vesselnet.train.config import save_config

            save_config(cfg, tdir / "config.yaml")
            self._record(tdir, rec)
            shown = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
            self.say(f"trial {number}: {shown}")
        with _st.heartbeat(self.storage, getattr(self, "trial_id", None) if trial else None,
                           self.o["heartbeat_interval"]):
            self._run_folds(trial, cfg, tdir, rec)

    def _run_folds(self, trial, cfg, tdir: Path, rec: dict) -> None:
        import optuna

        from vesselnet.train.trainer import TrainingError

        try:
            value = self._folds(trial, cfg, tdir, rec)
        except optuna.TrialPruned as exc:
            self._tell(trial, tdir, rec, "PRUNED", error=str(exc))
            return
        except TrainingError as exc:
            self._tell(trial, tdir, rec, "FAIL", error=str(exc))
            self._count_failure(rec, exc)
            return
        except BaseException as exc:
            self._tell(trial, tdir, rec, "FAIL", error=f"{type(exc).__name__}: {exc}",
                       retry=isinstance(exc, KeyboardInterrupt))
            raise
        if value != value:
            self._tell(trial, tdir, rec, "FAIL", error="no finite validation DSC in some fold")
            self._count_failure(rec, None)
            return
        self._tell(trial, tdir, rec, "COMPLETE", value=value)
        self.failures = 0

    def _folds(self, trial, cfg, tdir: Path, rec: dict) -> float:
        from vesselnet.train.trainer import train

        scores = []
        for pos, fold in enumerate(self.folds):
            last = cfg.run.epochs - 1 if pos == len(self.folds) - 1 else None
            hook = PruneCallback(trial, pos * cfg.run.epochs, fold, self.ctx, last)
            entry = {"index": fold.index, "dir": f"fold_{fold.index}", "reports": hook.reports}
            rec["folds"].append(entry)
            run_dir = tdir / f"fold_{fold.index}"
            try:
                result = train(cfg.replace({"name": f"{tdir.name}_fold_{fold.index}"}),
                               self.dataset.subset(list(fold.train)), self.dataset.subset(list(fold.val)),
                               run_dir, overwrite=True, progress=self.o["progress"], callbacks=[hook])
            finally:
                if self.ctx.is_main and not self.o["keep_checkpoints"]:
                    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
            if not self.ctx.is_main:
                continue
            entry["score"] = fold_score(result.history, self.o["score"])
            scores.append(entry["score"])
            trial.set_user_attr("fold_scores", [float(s) for s in scores])
            self._record(tdir, rec)
        return float(sum(scores) / len(scores)) if self.ctx.is_main else float("nan")

    def _tell(self, trial, tdir, rec, state: str, *, value=None, error=None, retry=False) -> None:
        if not self.ctx.is_main:
            return
        import optuna

        rec.update(state=state, value=value, error=error, finished=_now())
        if error:
            trial.set_user_attr("error", error[:500])
        if state == "COMPLETE":
            self.study.tell(trial, value)
        else:
            self.study.tell(trial, state=getattr(optuna.trial.TrialState, state))
        self._record(tdir, rec)
        if retry and self.o["max_retry"]:  # re-queued with the same parameters, as a stale trial
            with _st.quiet():
                again = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=self.o["max_retry"])
            again(self.study, self._frozen(trial.number))
        shown = f"{value:.4f}" if value is not None else ""
        self.say(f"trial {rec['number']}: {state.lower()} {shown}".rstrip()
                 + (f" ({error})" if error and state != "COMPLETE" else ""))

    def _frozen(self, number: int):
        return next(t for t in self.study.get_trials(deepcopy=False) if t.number == number)

    def _count_failure(self, rec: dict, exc) -> None:
        self.failures += 1
        if self.failures >= self.o["max_failures"]:
            raise TuneError(
                f"{self.failures} trials in a row failed; the last, trial {rec['number']}: "
                f"{rec.get('error') or exc}; see {str(self.out / 'trials')!r}")

    def _record(self, tdir: Path, rec: dict) -> None:
        from vesselnet.train.runlog import write_atomic

        write_atomic(tdir / "trial.json", json.dumps(rec, indent=2, default=float) + "\n")

    # ------------------------------------------------------------------ end (rank 0)
    def summary(self) -> TuneResult:
        from vesselnet.tune.report import write_summary

        info = write_summary(self.study, self.out, self.config, self.space, figure=self.o["figure"])
        return TuneResult(
            out_dir=self.out, study_name=self.o["study_name"], storage=_st.redact(self.url),
            counts=info["counts"], best_trial=info["best_trial"], best_value=info["best_value"],
            best_params=info["best_params"],
            best_config=Path(info["best_config"]) if info["best_config"] else None,
            figure=Path(info["figure"]) if info["figure"] else None)


def tune(config, dataset, out_dir, *, n_trials: int, storage: str | None = "default",
         study_name: str | None = None, space=None, folds=None, fold_indices=None,
         trial_overrides: Mapping | None = None, score: str = "best", seed: int = 0,
         worker: int = 0, startup_trials: int = 10, pruner="median", prune_startup: int = 3,
         prune_warmup: int = 0, heartbeat_interval: int | None = 30, grace_period: int | None = None,
         max_retry: int = 1, max_failures: int = 3, keep_checkpoints: bool = False,
         device: str | None = None, progress: bool = False, figure: bool = True,
         log: Callable[[str], None] | None = None) -> TuneResult:
    """Run (or resume, or join) an Optuna study of the loss weights (module docstring).

    Parameters
    ----------
    config : TrainConfig
        The base config (a preset or a file); ``best.yaml`` is this config with the best values.
    dataset : PreparedDataset
        Every case the folds name.
    out_dir : path-like
        Folder of the study's files (module docstring).
    n_trials : int
        Finished (COMPLETE or PRUNED) trials the study must hold; a resumed study runs the rest.
    storage : str or None
        SQLAlchemy URL; ``"default"``: ``sqlite:///OUT/study.db``; None: in memory (no resume).
    study_name : str, optional
        Default: the config's ``name``.
    space : SearchSpace or mapping, optional
        Ranges (:func:`vesselnet.tune.space.load_space`); default lambda_1..S, lambda_c, tau.
    folds : path-like or sequence of Fold, optional
        A ``vesselnet cv`` splits file (fold k: train on the others, score fold k) or folds;
        default one hold-out fold from the config's ``data.val_cases`` / ``data.val_fraction``
        (the validation split of ``vesselnet train``).
    fold_indices : sequence of int, optional
        Use only these folds (e.g. ``[0]``: one fold).
    trial_overrides : mapping, optional
        Nested config overrides for the trials only (e.g. ``{"run": {"epochs": 100}}``).
    score : {"best", "last"}
        A fold's score: the best or the last validation DSC of its run.
    seed, worker, startup_trials : int
        TPE sampler seed and worker index (the sampler is re-seeded before each trial from
        ``(seed, worker, trials in the study)``) and its number of random startup trials.
    pruner : {"median", "none"} or optuna pruner
    prune_startup, prune_warmup : int
        Median pruner: trials before pruning starts, epochs of fold 0 never pruned.
    heartbeat_interval, grace_period, max_retry : int
        Heartbeat seconds, seconds before a silent trial is stale, re-runs of a stale trial.
    max_failures : int
        Stop with :class:`TuneError` after this many failed trials in a row.
    keep_checkpoints : bool
        Keep each fold run's ``checkpoints/`` (default: removed once the fold is scored).
    device : str, optional
        Overrides ``run.device`` (``auto``, ``cpu``, ``cuda``).
    progress : bool
        Progress bars of the training runs.
    figure : bool
        Write ``search.png``.
    log : callable, optional
        Receives one line per trial event (default: the ``vesselnet.tune`` logger).

    Returns
    -------
    TuneResult

    Raises
    ------
    ValueError, TypeError
        Bad settings, naming the parameter (ranges, folds, storage that cannot be opened, a
        study of that name made with other settings, an out folder of another study).
    TuneError
        ``max_failures`` trials in a row failed.
    """
    trial_config = _trial_config(config, n_trials, max_failures, score, trial_overrides, device)
    space = _resolve_space(space, config)
    folds = _resolve_folds(folds, trial_config, dataset, fold_indices)
    opts = dict(n_trials=n_trials, storage=storage, study_name=study_name or config.name,
                score=score, seed=seed, worker=worker, startup_trials=startup_trials, pruner=pruner,
                prune_startup=prune_startup, prune_warmup=prune_warmup,
                heartbeat_interval=heartbeat_interval, grace_period=grace_period, max_retry=max_retry,
                max_failures=max_failures, keep_checkpoints=keep_checkpoints, progress=progress,
                figure=figure, log=log)
    return _run_study(_Tuner(config, trial_config, dataset, out_dir, space, folds, opts))


def _trial_config(config, n_trials, max_failures, score, trial_overrides, device):
    """The config of every trial: ``config`` with ``trial_overrides`` and ``device``, after
    checking the settings of :func:`tune` that need no data."""
    from vesselnet.train.config import TrainConfig

    if not isinstance(config, TrainConfig):
        raise TypeError(f"config: expected a TrainConfig, got {type(config).__name__}")
    _positive_int(n_trials, "n_trials")
    _positive_int(max_failures, "max_failures")
    if score not in SCORES:
        raise ValueError(f"score: expected one of {', '.join(SCORES)}, got {score!r}")
    overrides = dict(trial_overrides or {})
    if device is not None:
        overrides = {**overrides, "run": {**dict(overrides.get("run", {})), "device": device}}
    trial_config = config.replace(overrides)
    if not trial_config.run.val_every:
        raise ValueError("config key 'run.val_every': tuning scores validation DSC, so it must be "
                         ">= 1 (validate every N epochs), got 0")
    return trial_config


def _run_study(tuner: _Tuner) -> TuneResult:
    """Open the study (rank 0), run its trials on every rank, and summarise it (rank 0)."""
    if tuner.ctx.is_main:
        try:
            tuner.open()
        except BaseException:
            broadcast(None, tuner.ctx)  # the other ranks wait for a plan: tell them to stop
            raise
    tuner.run()
    if tuner.ctx.is_main:
        return tuner.summary()
    return TuneResult(out_dir=tuner.out, study_name=tuner.o["study_name"], storage="", counts={})

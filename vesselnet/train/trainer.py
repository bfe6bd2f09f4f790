"""The training loop (Sect. 3.2 of Sadikine et al., ISBI 2023): :func:`train` and :class:`Trainer`.

One step: batch to the device -> on-device augmentation (seeded generator) -> forward under
bf16 autocast on CUDA (float32 on CPU) -> the preset's objective (Eq. 5 / 9 or Dice + wCE) ->
backward -> Adam. Every step is logged (``steps.csv``, TensorBoard, progress bar with the loss
terms and ETA); every ``run.val_every`` epochs the validation cases are scored (DSC, clDice,
HD in mm, :mod:`vesselnet.train.validation`); ``checkpoints/last.pt`` is written every
``run.checkpoint_every`` epochs (and every ``run.checkpoint_every_steps`` steps when > 0) and
``checkpoints/best.pt`` whenever the validation DSC improves (:mod:`vesselnet.train.checkpoint`).

Exact resume: a checkpoint holds the model, optimiser, schedule, objective (contrastive
voxel-sampling generator, memory bank), the data order (``CaseLoader.state_dict``), the
augmentation generator and the global RNGs, so ``resume=True`` continues with the same batches,
the same augmentations and the same losses as the uninterrupted run (bit for bit on CPU).

Failures stop the run with a :class:`TrainingError` naming the epoch, the step and the batch's
case ids, keeping the last good checkpoint: invalid or non-finite network input (isfinite
checks at the model/loss boundary, ``run.check_finite``), a non-finite loss.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vesselnet._validation import set_finite_checks
from vesselnet.train import builders
from vesselnet.train.checkpoint import (
    CheckpointError,
    capture_rng,
    check_same_config,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from vesselnet.train.distributed import DistContext, all_mean, init_distributed, wrap_model
from vesselnet.train.objective import hard_dice, missing_scales
from vesselnet.train.runlog import RunFolder
from vesselnet.train.validation import validate

__all__ = ["train", "Trainer", "TrainResult", "TrainingError"]

log = logging.getLogger("vesselnet.train")


class TrainingError(RuntimeError):
    """Training stopped (invalid input, non-finite loss); the message names the step, the
    batch's case ids and the last good checkpoint."""


@dataclass
class TrainResult:
    """What a finished :func:`train` returns (rank 0 holds the logs)."""

    out_dir: Path
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    epochs: int
    steps: int
    best: dict | None = None
    losses: list = field(default_factory=list)
    history: list = field(default_factory=list)


def _amp_dtype(mode: str, device: torch.device):
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "fp16":
        return torch.float16
    return torch.bfloat16


def _unwrap(model):
    model = getattr(model, "module", model)  # DDP
    return getattr(model, "_orig_mod", model)  # torch.compile


class Trainer:
    """Train one network of a :class:`~vesselnet.train.config.TrainConfig`.

    Parameters
    ----------
    config : TrainConfig
    train_loader : CaseLoader
        Training batches (``set_epoch``, ``state_dict``, ``load_state_dict``, ``__len__``).
    val_loader : iterable of batches, optional
        Validation cases (batches of one case).
    out_dir : path-like
        Run folder (:mod:`vesselnet.train.runlog`).
    prepare_record : dict, optional
        The preprocessing config of the data (``PrepareConfig.to_dict()``), stored in every
        checkpoint so that prediction needs nothing else.
    resume, overwrite : bool
        Continue the run in ``out_dir`` from ``checkpoints/last.pt`` / replace it.
    ctx : DistContext, optional
        Process and device (default: from the environment and ``config.run.device``).
    callbacks : sequence of callables, optional
        ``callback(trainer, row)`` after every epoch (on every rank, after the epoch's
        checkpoint), ``row`` being the epoch's ``epochs.csv`` row (validation metrics such as
        ``val_dsc`` on rank 0 in validation epochs). An exception raised by a callback stops
        the run cleanly: ``run.json`` gets status ``stopped`` with the reason, the checkpoints
        stay, and the exception propagates (e.g. ``optuna.TrialPruned``, :mod:`vesselnet.tune`).
    """

    def __init__(self, config, train_loader, val_loader=None, out_dir="run", *,
                 prepare_record: dict | None = None, resume: bool = False,
                 overwrite: bool = False, ctx: DistContext | None = None,
                 callbacks=()) -> None:
        self.config = config
        self.callbacks = list(callbacks)
        self.ctx = ctx or init_distributed(config.run.device)
        self.device = self.ctx.device
        self.loader, self.val_loader = train_loader, val_loader
        self.prepare_record = prepare_record
        self.resume = resume
        self.folder = RunFolder(out_dir, resume=resume, overwrite=overwrite) if self.ctx.is_main else None
        self.out_dir = Path(out_dir)
        self.amp_dtype = _amp_dtype(config.run.amp, self.device)
        if self.amp_dtype == torch.float16 and self.device.type != "cuda":
            raise ValueError("config key 'run.amp': fp16 needs CUDA; use bf16 or off on CPU")
        self._build()
        self.epoch, self.step, self.in_epoch = 0, 0, False
        self.best: dict | None = None
        self.partial: dict = {}
        self.last_saved: tuple[Path, int] | None = None
        self.losses: list[float] = []
        self.history: list[dict] = []
        self._warned_missing = False

    # ------------------------------------------------------------------ setup
    def _build(self) -> None:
        cfg = self.config
        set_finite_checks(cfg.run.check_finite)
        if cfg.run.num_threads:
            torch.set_num_threads(cfg.run.num_threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.deterministic = cfg.run.deterministic
            torch.backends.cudnn.benchmark = not cfg.run.deterministic
        torch.manual_seed(cfg.seed)
        self.raw_model = cfg.build_model().to(self.device)
        self.objective = cfg.build_loss().to(self.device)
        self.optimizer = builders.build_optimizer(cfg, self.raw_model.parameters())
        self.scheduler = builders.build_scheduler(cfg, self.optimizer)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.augmenter = builders.build_augmenter(cfg)
        self.aug_generator = torch.Generator(device=self.device)
        self.aug_generator.manual_seed(cfg.seed * 1000 + 17 + self.ctx.rank)
        unused = cfg.model.kind == "multitask" and cfg.loss.lambda_c == 0  # heads without loss
        self.model = wrap_model(self.raw_model, self.ctx, find_unused_parameters=unused)
        if cfg.run.compile:
            self.model = torch.compile(self.model)

    def _state(self, kind: str) -> dict:
        return {
            "kind": kind,
            "config": self.config.to_dict(),
            "prepare": self.prepare_record,
            "model": self.raw_model.state_dict(),
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "epoch": self.epoch,
            "in_epoch": self.in_epoch,
            "step": self.step,
            "partial": dict(self.partial),
            "loader": self.loader.state_dict(),
            "rng": capture_rng(),
            "aug_generator": self.aug_generator.get_state(),
            "best": self.best,
            "world_size": self.ctx.world_size,
            "record": {k: self.folder.record.get(k) for k in ("versions", "git_commit")}
            if self.folder else {},
        }

    def _save(self, best: bool = False) -> None:
        if not self.ctx.is_main:
            return
        save_checkpoint(self._state("last"), self.folder.last)
        self.last_saved = (self.folder.last, self.step)
        if best:
            save_checkpoint(self._state("best"), self.folder.best)

    def _restore(self) -> None:
        ckpt = load_checkpoint(self.out_dir / "checkpoints" / "last.pt")
        check_same_config(ckpt, self.config, self.out_dir / "checkpoints" / "last.pt")
        try:
            self.raw_model.load_state_dict(ckpt["model"])
            self.objective.load_state_dict(ckpt["objective"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
            if self.scaler is not None and ckpt.get("scaler"):
                self.scaler.load_state_dict(ckpt["scaler"])
            self.loader.load_state_dict(ckpt["loader"])
        except (RuntimeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint {str(self.out_dir / 'checkpoints' / 'last.pt')!r}: incompatible with "
                f"this run ({str(exc).splitlines()[0]}); it is left as it is"
            ) from exc
        restore_rng(ckpt["rng"])
        try:
            self.aug_generator.set_state(ckpt["aug_generator"])
        except RuntimeError:  # saved on another device type (e.g. a CUDA run resumed on CPU)
            warnings.warn("the augmentation generator was saved on another device type; it "
                          "keeps its seed (augmentations will differ from the original run)")
        self.epoch, self.step, self.in_epoch = ckpt["epoch"], ckpt["step"], ckpt.get("in_epoch", False)
        self.partial = dict(ckpt.get("partial") or {})
        self.best = ckpt.get("best")
        self.last_saved = (self.out_dir / "checkpoints" / "last.pt", self.step)
        if ckpt.get("world_size", 1) != self.ctx.world_size:
            warnings.warn(f"resuming a run of {ckpt.get('world_size')} process(es) on "
                          f"{self.ctx.world_size}: the data order differs from the original run")

    # ------------------------------------------------------------------ loop
    def fit(self) -> TrainResult:
        """Run the remaining epochs; returns the :class:`TrainResult`."""
        if self.resume:
            self._restore()
        if self.folder:
            self.folder.start(self.config, device=str(self.device), world_size=self.ctx.world_size,
                              resumed_step=self.step if self.resume else None)
            if self.resume:
                self.folder.truncate_logs(self.step, self.epoch - 1)
        bar = self._progress_bar()
        try:
            while self.epoch < self.config.run.epochs:
                self._run_epoch(bar)
        except TrainingError as exc:
            if self.folder:
                self.folder.finish("failed", error=str(exc))
            raise
        except KeyboardInterrupt:
            if self.folder:
                self.folder.finish("interrupted", step=self.step)
            raise
        except Exception as exc:
            if self.folder and self.folder.record.get("status") != "stopped":  # a callback's stop
                self.folder.finish("failed", error=f"{type(exc).__name__}: {exc}", step=self.step)
            raise
        finally:
            bar.close()
        if self.folder:
            self.folder.finish("completed", epochs=self.epoch, steps=self.step, best=self.best)
        return self._result()

    def _result(self) -> TrainResult:
        root = self.out_dir / "checkpoints"
        return TrainResult(
            out_dir=self.out_dir,
            last_checkpoint=root / "last.pt" if (root / "last.pt").is_file() else None,
            best_checkpoint=root / "best.pt" if (root / "best.pt").is_file() else None,
            epochs=self.epoch, steps=self.step, best=self.best, losses=list(self.losses),
            history=list(self.history),
        )

    def _progress_bar(self):
        from tqdm.auto import tqdm

        try:
            per_epoch = len(self.loader)
        except TypeError:
            per_epoch = None
        total = None if per_epoch is None else per_epoch * self.config.run.epochs
        return tqdm(total=total, initial=self.step, unit="step", dynamic_ncols=True,
                    disable=not (self.config.run.progress and self.ctx.is_main),
                    desc=self.config.name)

    def _run_epoch(self, bar) -> None:
        run = self.config.run
        if not self.in_epoch:
            self.loader.set_epoch(self.epoch)
            self.partial = {}
        self.in_epoch = True
        self.raw_model.train()
        self.objective.train()
        for batch in self.loader:
            values = self._train_step(batch)
            bar.update(1)
            bar.set_postfix({k: f"{v:.4f}" for k, v in values.items() if k != "lr"}, refresh=False)
            if run.checkpoint_every_steps and self.step % run.checkpoint_every_steps == 0:
                self._save()
        self.scheduler.step()
        self.in_epoch = False
        self.epoch += 1
        row = {"epoch": self.epoch - 1, "step": self.step}
        n = max(1, self.partial.pop("_n", 0))
        row.update({f"train_{k}": v / n for k, v in sorted(self.partial.items())})
        improved = False
        if self.val_loader is not None and run.val_every and (
            self.epoch % run.val_every == 0 or self.epoch == run.epochs
        ):
            improved = self._validate(row)
        self.history.append(row)
        if self.folder:
            self.folder.append("epochs.csv", row)
            tb = self._tb()
            for k, v in row.items():
                if k not in ("epoch", "step") and tb is not None:
                    tb.add_scalar(f"epoch/{k}", v, self.epoch - 1)
        if improved or self.epoch % run.checkpoint_every == 0 or self.epoch == run.epochs:
            self._save(best=improved)
        self._epoch_end(row)

    def _epoch_end(self, row: dict) -> None:
        """Call the callbacks; one that raises stops the run (status ``stopped``), re-raised."""
        for callback in self.callbacks:
            try:
                callback(self, row)
            except BaseException as exc:
                if self.folder:
                    self.folder.finish("stopped", epochs=self.epoch, steps=self.step,
                                       best=self.best, reason=f"{type(exc).__name__}: {exc}")
                raise

    def _validate(self, row: dict) -> bool:
        if not self.ctx.is_main:
            return False
        means, _ = validate(self.raw_model, self.val_loader, device=self.device,
                            depth=self.config.model.depth, autocast_dtype=self.amp_dtype,
                            hd_percentile=self.config.run.hd_percentile)
        row.update(means)
        dsc = means["val_dsc"]
        if dsc == dsc and (self.best is None or dsc > self.best["value"]):
            self.best = {"metric": "val_dsc", "value": dsc, "epoch": self.epoch - 1}
            return True
        return False

    def _tb(self):
        if not (self.folder and self.config.run.tensorboard):
            return None
        return self.folder.tensorboard(purge_step=self.step + 1 if self.resume else None)

    # ------------------------------------------------------------------ one step
    def _prepare_batch(self, batch: dict) -> dict:
        from vesselnet.data import to_device

        batch = to_device(batch, self.device)
        if self.augmenter is not None:
            batch = self.augmenter(batch, self.aug_generator)
        return batch

    def _train_step(self, batch: dict) -> dict:
        cases = [str(c) for c in batch["case_id"]]
        batch = self._prepare_batch(batch)
        lacking = missing_scales(batch) if self.objective.uses_contrastive else []
        if lacking:
            self._warn_missing(lacking)
        try:
            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                enabled=self.amp_dtype is not None):
                output = self.model(batch["image"])
                loss, terms = self.objective(output, batch)
        except (ValueError, TypeError) as exc:
            raise self._failure(f"invalid input to the network or loss: {exc}", cases) from exc
        if not bool(torch.isfinite(loss)):
            shown = {k: float(v) for k, v in terms.items()}
            raise self._failure(f"non-finite loss {float(loss.detach())!r} (terms {shown})", cases)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.config.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), self.config.optim.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        values = {k: float(v) for k, v in terms.items()}
        values["dice"] = hard_dice(self.objective.main_logits(output).detach(), batch["vessel"])
        values = all_mean(values, self.ctx)
        self.step += 1
        self._record_step(values, cases, lacking)
        return values

    def _record_step(self, values: dict, cases: list, lacking: list) -> None:
        self.losses.append(values["total"])
        for k, v in values.items():
            self.partial[k] = self.partial.get(k, 0.0) + v
        self.partial["_n"] = self.partial.get("_n", 0) + 1
        if not self.folder:
            return
        row = {"epoch": self.epoch, "step": self.step, "cases": cases,
               "lr": self.optimizer.param_groups[0]["lr"], **values,
               "missing_scales": ";".join(f"{c}:{'/'.join(map(str, s))}" for c, s in lacking)}
        self.folder.append("steps.csv", row)
        tb = self._tb()
        if tb is not None:
            for k, v in values.items():
                tb.add_scalar(f"train/{k}", v, self.step)

    def _warn_missing(self, lacking: list) -> None:
        text = ", ".join(f"{c} lacks scale {'/'.join(map(str, s))}" for c, s in lacking)
        message = (f"step {self.step + 1}: {text}; the contrastive term of this batch has fewer "
                   f"positives/negatives (pooled mode: empty scales are averaged globally)")
        log.warning(message)
        if not self._warned_missing:
            self._warned_missing = True
            warnings.warn(message + " (further batches: see the log and steps.csv)", stacklevel=3)

    def _failure(self, reason: str, cases: list) -> TrainingError:
        if self.last_saved is not None:
            kept = f"the last good checkpoint is {str(self.last_saved[0])!r} (step {self.last_saved[1]})"
        else:
            kept = "no checkpoint was written yet"
        return TrainingError(
            f"training stopped at epoch {self.epoch}, step {self.step + 1} (batch cases "
            f"{', '.join(cases)}): {reason}; {kept}"
        )


def train(config, train_dataset, val_dataset=None, out_dir="run", *, resume: bool = False,
          overwrite: bool = False, device: str | None = None,
          progress: bool | None = None, callbacks=()) -> TrainResult:
    """Train ``config``'s network on prepared datasets (the data layer's ``PreparedDataset``).

    Parameters
    ----------
    config : TrainConfig
    train_dataset, val_dataset : PreparedDataset
        Training and (optional) validation cases; ``n_scales`` must equal
        ``config.model.num_scales``.
    out_dir : path-like
        Run folder (refused when it holds another run, unless ``resume`` or ``overwrite``).
    resume : bool
        Continue the run of ``out_dir`` exactly where its last checkpoint left it.
    overwrite : bool
        Replace the run in ``out_dir``.
    device : str, optional
        Overrides ``config.run.device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``).
    progress : bool, optional
        Overrides ``config.run.progress``.
    callbacks : sequence of callables, optional
        ``callback(trainer, row)`` after every epoch (:class:`Trainer`).

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        Bad config/dataset/folder/device, naming the parameter; :class:`CheckpointError` for an
        unreadable or incompatible checkpoint on resume (left intact).
    TrainingError
        Invalid batch or non-finite loss (names the step and the cases).
    """
    overrides = {}
    if device is not None:
        overrides.setdefault("run", {})["device"] = device
    if progress is not None:
        overrides.setdefault("run", {})["progress"] = progress
    if overrides:
        config = config.replace(overrides)
    for name, ds in (("train_dataset", train_dataset), ("val_dataset", val_dataset)):
        n = getattr(ds, "n_scales", config.model.num_scales) if ds is not None else None
        if n is not None and n != config.model.num_scales:
            raise ValueError(f"{name}: holds {n} scales, the config's model.num_scales is "
                             f"{config.model.num_scales}")
    if len(train_dataset) == 0:
        raise ValueError("train_dataset: holds no cases")
    ctx = init_distributed(config.run.device)
    loader = builders.build_loader(config, train_dataset, train=True, rank=ctx.rank,
                                   world_size=ctx.world_size)
    val_loader = None
    if val_dataset is not None and len(val_dataset) and ctx.is_main:
        val_loader = builders.build_loader(config, val_dataset, train=False)
    prep = getattr(train_dataset, "config", None)
    record = prep.to_dict() if hasattr(prep, "to_dict") else None
    trainer = Trainer(config, loader, val_loader, out_dir, prepare_record=record, resume=resume,
                      overwrite=overwrite, ctx=ctx, callbacks=callbacks)
    return trainer.fit()

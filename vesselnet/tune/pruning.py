"""A trial's fold runs under the pruner: the trainer callback, the fold score, the DDP relay.

:class:`PruneCallback` is the trainer's epoch-end hook of one fold run: it reports the
validation DSC to the Optuna trial (step ``fold position x epochs + epoch``) and raises
``optuna.TrialPruned`` when the pruner says so. Under ``torchrun`` rank 0 holds the trial and
decides; :func:`broadcast` sends its decision (and, in :mod:`vesselnet.tune.run`, each trial's
parameters) to the other ranks, so that every rank stops together. :func:`fold_score` is a
fold run's score: its best or its last validation DSC.
"""
from __future__ import annotations

__all__ = ["PruneCallback", "fold_score", "broadcast"]


def broadcast(value, ctx):
    """``value`` of rank 0 on every rank (``value`` itself when not distributed)."""
    if not ctx.distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class PruneCallback:
    """Epoch-end hook: report the validation DSC, raise ``TrialPruned`` when the pruner says so
    (rank 0 decides, every rank raises). The very last epoch of a trial (last epoch of its last
    fold) is reported but never pruned: the trial has cost all it will cost, so it completes."""

    def __init__(self, trial, step0: int, fold, ctx, final_epoch: int | None) -> None:
        self.trial, self.step0, self.fold, self.ctx = trial, step0, fold, ctx
        self.final_epoch = final_epoch
        self.reports: list[tuple[int, float]] = []

    def __call__(self, trainer, row: dict) -> None:
        import optuna

        prune, value = False, row.get("val_dsc")
        if self.trial is not None and value is not None and value == value:
            step = self.step0 + int(row["epoch"])
            self.trial.report(float(value), step)
            self.reports.append((step, float(value)))
            prune = int(row["epoch"]) != self.final_epoch and self.trial.should_prune()
        prune = broadcast(prune, self.ctx)
        if prune:
            shown = f"{value:.4f}" if isinstance(value, float) else "?"
            raise optuna.TrialPruned(f"fold {self.fold.index}, epoch {row['epoch']}: validation "
                                     f"DSC {shown} below the pruner's threshold")


def fold_score(history: list[dict], score: str) -> float:
    """The best (``score="best"``) or last validation DSC of a run's epoch rows; NaN when none
    is finite."""
    values = [r["val_dsc"] for r in history if r.get("val_dsc") is not None]
    values = [float(v) for v in values if v == v]
    if not values:
        return float("nan")
    return max(values) if score == "best" else values[-1]

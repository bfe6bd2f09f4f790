"""Multi-task loss, Eq. 5 of Sadikine et al. (ISBI 2023)::

    L = L_mt(y, y_hat) + sum_{s=1..S} lambda_s L_s(y^s, y_hat^s)

``L_mt`` and every ``L_s`` are Dice + weighted cross-entropy
(:func:`vesselnet.losses.dice_ce.dice_ce_loss`, same options for all tasks). Paper
weights: lambda = (0.78, 0.48, 0.54) for S = 3 (scale 1 = smallest vessels first).

Layouts: main logits (B, C0, D, H, W) with the main target as in
:mod:`vesselnet.losses.dice_ce`; S auxiliary logits (B, Cs, D, H, W) with targets y^s given
as a sequence of S tensors, or one (B, S, D, H, W) tensor when every Cs = 1.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from vesselnet._validation import check_weights, describe
from vesselnet.losses.dice_ce import DiceCELoss, dice_ce_loss

__all__ = ["PAPER_LAMBDAS", "multitask_loss", "MultiTaskLoss", "split_scale_targets"]

#: lambda_1..lambda_3 of Eq. 5/9 found by the paper's Optuna search.
PAPER_LAMBDAS: tuple[float, float, float] = (0.78, 0.48, 0.54)


def split_scale_targets(scale_targets, num_scales: int, name: str = "scale_targets") -> list:
    """Return the S auxiliary targets as a list.

    Parameters
    ----------
    scale_targets : sequence of S tensors or tensor (B, S, D, H, W)
        y^1 .. y^S; a tensor is split into S (B, 1, D, H, W) views.
    num_scales : int
        S.
    name : str
        Argument name used in error messages.

    Returns
    -------
    list of S tensors
    """
    if isinstance(scale_targets, torch.Tensor):
        if scale_targets.ndim != 5 or scale_targets.shape[1] != num_scales:
            raise ValueError(
                f"{name}: expected a (B, {num_scales}, D, H, W) tensor or a sequence of "
                f"{num_scales} tensors, got {describe(scale_targets)}"
            )
        return [scale_targets[:, s : s + 1] for s in range(num_scales)]
    if isinstance(scale_targets, Sequence) and not isinstance(scale_targets, str):
        if len(scale_targets) != num_scales:
            raise ValueError(
                f"{name}: expected {num_scales} targets (one per auxiliary task), got "
                f"{len(scale_targets)}"
            )
        return list(scale_targets)
    raise TypeError(f"{name}: expected a tensor or a sequence of tensors, got {describe(scale_targets)}")


def _check_aux_logits(aux_logits) -> list:
    if isinstance(aux_logits, torch.Tensor) or not isinstance(aux_logits, Sequence):
        raise TypeError(f"aux_logits: expected a sequence of S tensors, got {describe(aux_logits)}")
    return list(aux_logits)


def _task_loss(task: str, logits, target, options: dict) -> torch.Tensor:
    """:func:`dice_ce_loss` of one task; a TypeError / ValueError is re-raised, same type,
    with the message prefixed by ``task``."""
    try:
        return dice_ce_loss(logits, target, **options)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{task}: {exc}") from exc


def multitask_loss(
    main_logits: torch.Tensor,
    main_target: torch.Tensor,
    aux_logits: Sequence[torch.Tensor],
    scale_targets,
    lambdas: Sequence[float] = PAPER_LAMBDAS,
    *,
    return_terms: bool = False,
    **dice_ce_kwargs,
):
    """Eq. 5: ``dice_ce(main) + sum_s lambda_s dice_ce(aux_s)``.

    Parameters
    ----------
    main_logits : Tensor (B, C0, D, H, W)
    main_target : Tensor
        y (= y^0), layout as in :mod:`vesselnet.losses.dice_ce`.
    aux_logits : sequence of S tensors (B, Cs, D, H, W)
    scale_targets : sequence of S tensors or tensor (B, S, D, H, W)
        y^1 .. y^S.
    lambdas : sequence of S non-negative floats
    return_terms : bool
        Also return a dict of the detached terms ``{"mt", "s1".., "total"}``.
    **dice_ce_kwargs
        Options of :func:`~vesselnet.losses.dice_ce.dice_ce_loss` (class_weights, ...).

    Returns
    -------
    Tensor or (Tensor, dict)
        The scalar loss, and with ``return_terms`` the dict of detached terms.

    Raises
    ------
    TypeError, ValueError
        Naming the offending argument (prefixed with the task for errors of one task).
    """
    aux = _check_aux_logits(aux_logits)
    lam = check_weights(lambdas, "lambdas", len(aux))
    targets = split_scale_targets(scale_targets, len(aux))
    l_mt = _task_loss(
        "main task (main_logits / main_target)", main_logits, main_target, dice_ce_kwargs
    )
    total = l_mt
    terms = {"mt": l_mt.detach()}
    for s, (lg, tg, w) in enumerate(zip(aux, targets, lam), start=1):
        task = f"auxiliary task {s} (aux_logits[{s - 1}] / scale_targets[{s - 1}])"
        l_s = _task_loss(task, lg, tg, dice_ce_kwargs)
        total = total + w * l_s
        terms[f"s{s}"] = l_s.detach()
    terms["total"] = total.detach()
    return (total, terms) if return_terms else total


class MultiTaskLoss(nn.Module):
    """Module form of :func:`multitask_loss` (Eq. 5).

    ``forward(output, main_target, scale_targets, return_terms=False)`` where ``output`` is a
    :class:`~vesselnet.models.multitask.MultiTaskOutput` (or any ``(main, aux, ...)`` tuple).
    """

    def __init__(self, num_scales: int = 3, lambdas: Sequence[float] = PAPER_LAMBDAS, **dice_ce_kwargs) -> None:
        super().__init__()
        self.lambdas = check_weights(lambdas, "lambdas", num_scales)
        self.num_scales = len(self.lambdas)
        self.task_loss = DiceCELoss(**dice_ce_kwargs)  # validates the options now

    def dice_ce_options(self) -> dict:
        """Keyword options of the per-task :func:`~vesselnet.losses.dice_ce.dice_ce_loss`.

        Returns
        -------
        dict
            ``dice_weight, ce_weight, class_weights, batch_dice, include_background, smooth``.
        """
        return self.task_loss._options()

    def forward(self, output, main_target, scale_targets, return_terms: bool = False):
        """Eq. 5 of a network output.

        Parameters
        ----------
        output : MultiTaskOutput or tuple
            ``(main logits (B, C0, D, H, W), S aux logits (B, Cs, D, H, W), ...)``.
        main_target : Tensor
            y, layout as in :mod:`vesselnet.losses.dice_ce`.
        scale_targets : sequence of S tensors or tensor (B, S, D, H, W)
            y^1 .. y^S.
        return_terms : bool
            Also return the dict of detached terms.

        Returns
        -------
        Tensor or (Tensor, dict)
            As :func:`multitask_loss`.
        """
        return multitask_loss(
            output[0], main_target, output[1], scale_targets, self.lambdas,
            return_terms=return_terms, **self.dice_ce_options(),
        )

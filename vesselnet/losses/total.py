"""Total loss, Eq. 9 of Sadikine et al. (ISBI 2023)::

    L_total = L_mt + sum_{s=1..S} lambda_s L_s + lambda_c L_c      (+ w_cl L_clDice, optional)

- ``L_mt``, ``L_s``: Dice + weighted cross-entropy (Eq. 5, :mod:`vesselnet.losses.multitask`);
- ``L_c``: scale-supervised contrastive loss of the projected embeddings (Eq. 7-8,
  :mod:`vesselnet.losses.contrastive`), pooled or voxel-sampled, optional memory bank;
- paper defaults: lambda = ``PAPER_LAMBDAS`` (0.78, 0.48, 0.54), lambda_c = ``PAPER_LAMBDA_C``
  (0.53), tau = ``PAPER_TAU`` (0.94);
- ``lambda_c = 0`` skips L_c entirely, so the result is exactly Eq. 5;
- optional extension (not in Eq. 9, off by default): ``cldice_weight * soft-clDice`` of the
  main task (topology prior of Shit et al. 2021, :mod:`vesselnet.losses.cldice`).

Layouts: ``output`` = (main logits (B, C0, D, H, W), S aux logits (B, 1, D, H, W),
S embeddings (B, dim, d, h, w)), i.e. a :class:`~vesselnet.models.multitask.MultiTaskOutput`;
``scale_targets`` = S masks y^s (B, 1, D, H, W) or one (B, S, D, H, W) tensor; ``main_target``
y (B, 1, D, H, W) or class ids / one-hot when C0 > 1; if None, y = union of the y^s (binary).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from vesselnet._validation import (
    check_nonnegative_int,
    check_positive,
    check_unit_interval,
    check_volume,
    check_weights,
    describe,
)
from vesselnet.losses.cldice import soft_cldice_loss
from vesselnet.losses.contrastive import PAPER_TAU, ScaleContrastiveLoss, scale_contrastive_loss
from vesselnet.losses.multitask import PAPER_LAMBDAS, MultiTaskLoss, multitask_loss, split_scale_targets

__all__ = ["PAPER_LAMBDA_C", "PAPER_TAU", "total_loss", "TotalLoss", "union_target"]

#: lambda_c of Eq. 9 found by the paper's Optuna search (tau: :data:`PAPER_TAU`, defined with
#: Eq. 8 in :mod:`vesselnet.losses.contrastive` and re-exported here).
PAPER_LAMBDA_C = 0.53


def union_target(scale_targets, num_scales: int) -> torch.Tensor:
    """y = union (voxel-wise maximum) of the S scale masks y^s.

    Parameters
    ----------
    scale_targets : sequence of S tensors (B, 1, D, H, W) or tensor (B, S, D, H, W)
        Masks in [0, 1], all of the same shape.
    num_scales : int
        S.

    Returns
    -------
    Tensor, shape (B, 1, D, H, W)
        Of the masks' dtype.
    """
    parts = split_scale_targets(scale_targets, num_scales)
    for s, p in enumerate(parts):
        check_volume(p, f"scale_targets[{s}]", channels=1, floating=False)
        check_unit_interval(p, f"scale_targets[{s}]")
        if p.shape != parts[0].shape:
            raise ValueError(
                f"scale_targets[{s}]: expected the shape of scale_targets[0] "
                f"{tuple(parts[0].shape)}, got {describe(p)}"
            )
    y = parts[0]
    for p in parts[1:]:
        y = torch.maximum(y, p)
    return y


def _unpack(output) -> tuple:
    try:
        main, aux, emb = output[0], output[1], output[2]
    except (TypeError, IndexError, KeyError) as exc:
        raise TypeError(
            f"output: expected (main, aux, embeddings) such as a MultiTaskOutput, got {describe(output)}"
        ) from exc
    return main, aux, emb


def _add_eq9_terms(loss, terms, lambda_c, contrastive, cldice_weight, main, main_target,
                   cldice_iterations, return_terms):
    """Eq. 5's ``loss`` and ``terms`` plus ``lambda_c * contrastive()`` (called only when
    ``lambda_c > 0``) and the optional soft-clDice term; what :func:`total_loss` returns."""
    if lambda_c > 0:
        l_c = contrastive()
        loss = loss + lambda_c * l_c
        terms["contrastive"] = l_c.detach()
    if cldice_weight > 0:
        l_cl = soft_cldice_loss(main, main_target, iterations=cldice_iterations)
        loss = loss + cldice_weight * l_cl
        terms["cldice"] = l_cl.detach()
    terms["total"] = loss.detach()
    return (loss, terms) if return_terms else loss


def total_loss(
    output,
    main_target: torch.Tensor | None,
    scale_targets,
    lambdas: Sequence[float] = PAPER_LAMBDAS,
    lambda_c: float = PAPER_LAMBDA_C,
    tau: float = PAPER_TAU,
    *,
    mode: str = "pooled",
    num_samples: int = 64,
    generator: torch.Generator | None = None,
    bank=None,
    cldice_weight: float = 0.0,
    cldice_iterations: int = 3,
    return_terms: bool = False,
    **dice_ce_kwargs,
):
    """Eq. 9 (see the module docstring).

    Parameters
    ----------
    output : MultiTaskOutput or tuple
        ``(main logits (B, C0, D, H, W), S aux logits (B, 1, D, H, W), S embeddings
        (B, dim, d, h, w))``.
    main_target : Tensor or None
        y: (B, 1, D, H, W) in [0, 1], or class ids / one-hot when C0 > 1; None: the union
        of the scale masks.
    scale_targets : sequence of S tensors (B, 1, D, H, W) or tensor (B, S, D, H, W)
        y^1 .. y^S (scale 1 = smallest vessels).
    lambdas : sequence of S floats >= 0, default (0.78, 0.48, 0.54)
        Eq. 5 weights.
    lambda_c : float >= 0, default 0.53
        Contrastive weight; 0 skips L_c (exactly Eq. 5).
    tau : float > 0, default PAPER_TAU
        Temperature of Eq. 8.
    mode, num_samples, generator, bank
        See :func:`~vesselnet.losses.contrastive.scale_contrastive_loss` (pooled mode at
        batch size 1 without ``bank`` gives L_c = 0 and warns once per process).
    cldice_weight : float >= 0, default 0
        Weight of the optional soft-clDice term on the main task.
    cldice_iterations : int >= 0, default 3
        Soft-skeleton iterations.
    return_terms : bool
        Also return the terms.
    **dice_ce_kwargs
        Options of the per-task Dice + weighted CE loss.

    Returns
    -------
    Tensor or (Tensor, dict)
        The scalar loss; with ``return_terms`` also a dict of detached ``"mt"``,
        ``"s1".."sS"``, ``"contrastive"`` (when lambda_c > 0), ``"cldice"`` (when
        cldice_weight > 0) and ``"total"``.

    Raises
    ------
    TypeError, ValueError
        Naming the offending argument.
    """
    main, aux, emb = _unpack(output)
    lam_c = check_positive(lambda_c, "lambda_c", allow_zero=True)
    tau = check_positive(tau, "tau")
    w_cl = check_positive(cldice_weight, "cldice_weight", allow_zero=True)
    check_weights(lambdas, "lambdas", len(aux) if isinstance(aux, Sequence) else None)
    if main_target is None:
        main_target = union_target(scale_targets, len(aux))
    loss, terms = multitask_loss(
        main, main_target, aux, scale_targets, lambdas, return_terms=True, **dice_ce_kwargs
    )
    return _add_eq9_terms(
        loss, terms, lam_c,
        lambda: scale_contrastive_loss(
            emb, scale_targets, tau, mode=mode, num_samples=num_samples, generator=generator, bank=bank
        ),
        w_cl, main, main_target, cldice_iterations, return_terms,
    )


class TotalLoss(nn.Module):
    """Module form of Eq. 9 holding the contrastive state (generator, memory bank).

    Parameters
    ----------
    num_scales : int
        S (paper: 3).
    lambdas : sequence of S floats >= 0
        Eq. 5 weights (paper: 0.78, 0.48, 0.54).
    lambda_c : float >= 0
        Contrastive weight (paper: 0.53); 0 gives exactly Eq. 5.
    tau : float > 0
        Temperature (default ``PAPER_TAU``, the paper's 0.94).
    mode, num_samples, bank_size, embedding_dim, seed, empty, generator, bank
        See :class:`~vesselnet.losses.contrastive.ScaleContrastiveLoss`: the module owns the
        ``generator`` and ``bank`` that :func:`total_loss` takes as arguments (same names,
        :attr:`generator` and :attr:`bank` here), built from ``seed`` and ``bank_size``
        unless given.
    cldice_weight : float >= 0
        Weight of the optional soft-clDice term on the main task (default 0: off).
    cldice_iterations : int
        Soft-skeleton iterations.
    **dice_ce_kwargs
        Options of the per-task Dice + weighted CE loss.

    ``forward(output, main_target, scale_targets, return_terms=False)``.

    In pooled mode without a bank, a batch of 1 gives L_c = 0: the contrastive module warns
    once per object.
    """

    def __init__(
        self,
        num_scales: int = 3,
        lambdas: Sequence[float] = PAPER_LAMBDAS,
        lambda_c: float = PAPER_LAMBDA_C,
        tau: float = PAPER_TAU,
        *,
        mode: str = "pooled",
        num_samples: int = 64,
        bank_size: int = 0,
        embedding_dim: int | None = None,
        seed: int | None = None,
        empty: str = "global",
        generator: torch.Generator | None = None,
        bank=None,
        cldice_weight: float = 0.0,
        cldice_iterations: int = 3,
        **dice_ce_kwargs,
    ) -> None:
        super().__init__()
        self.multitask = MultiTaskLoss(num_scales, lambdas, **dice_ce_kwargs)
        self.num_scales = self.multitask.num_scales
        self.lambda_c = check_positive(lambda_c, "lambda_c", allow_zero=True)
        self.contrastive = ScaleContrastiveLoss(
            self.num_scales, tau, mode=mode, num_samples=num_samples, bank_size=bank_size,
            embedding_dim=embedding_dim, seed=seed, empty=empty, generator=generator, bank=bank,
        )
        self.cldice_weight = check_positive(cldice_weight, "cldice_weight", allow_zero=True)
        self.cldice_iterations = check_nonnegative_int(cldice_iterations, "cldice_iterations")

    @property
    def generator(self) -> torch.Generator:
        """The CPU generator of the voxel draws (the ``generator`` of :func:`total_loss`)."""
        return self.contrastive.generator

    @property
    def bank(self):
        """The memory bank or None (the ``bank`` of :func:`total_loss`)."""
        return self.contrastive.bank

    def forward(self, output, main_target, scale_targets, return_terms: bool = False):
        """Eq. 9 of a network output.

        Parameters
        ----------
        output : MultiTaskOutput or tuple
            ``(main (B, C0, D, H, W), S aux (B, 1, D, H, W), S embeddings (B, dim, d, h, w))``.
        main_target : Tensor or None
            y; None: the union of the scale masks.
        scale_targets : sequence of S tensors (B, 1, D, H, W) or tensor (B, S, D, H, W)
            y^1 .. y^S.
        return_terms : bool
            Also return the dict of detached terms.

        Returns
        -------
        Tensor or (Tensor, dict)
            As :func:`total_loss`.

        Warns
        -----
        UserWarning
            Once per object: pooled mode, batch size 1 and no bank (L_c is then 0).
        """
        main, aux, emb = _unpack(output)
        if main_target is None:
            main_target = union_target(scale_targets, self.num_scales)
        loss, terms = self.multitask((main, aux), main_target, scale_targets, return_terms=True)
        return _add_eq9_terms(
            loss, terms, self.lambda_c, lambda: self.contrastive(emb, scale_targets),
            self.cldice_weight, main, main_target, self.cldice_iterations, return_terms,
        )

"""Dice + weighted cross-entropy: the per-task loss L_mt and L_s of Eq. 5.

Sadikine et al., ISBI 2023, Eq. 5: "L_mt and L_s combine Dice and weighted cross-entropy".

Half-precision logits (``torch.autocast``) are upcast to float32 before any reduction.

Layouts
-------
``logits`` is (B, C, D, H, W).

- C = 1: binary task, probabilities ``sigmoid(logits)``; ``target`` (B, 1, D, H, W) with
  values in [0, 1] (bool, integer 0/1 or soft float).
- C > 1: multi-class task, probabilities ``softmax(logits, dim=1)``; ``target`` either integer
  class ids in [0, C) of shape (B, D, H, W) or (B, 1, D, H, W), or a one-hot / soft target
  (B, C, D, H, W) with values in [0, 1].

Dice
----
With p the probabilities and g the one-hot target, per class c::

    dice_c = (2 sum(p_c g_c) + smooth) / (sum(p_c) + sum(g_c) + smooth)
    loss   = 1 - mean_c dice_c      (mean also over samples when batch_dice=False)

The sums run over (D, H, W) per sample (``batch_dice=False``) or over (B, D, H, W)
(``batch_dice=True``). For C > 1 the background channel 0 is left out unless
``include_background=True``. A perfect hard prediction gives exactly 0; an empty class in
both prediction and target gives dice 1 (loss 0) thanks to ``smooth``.

Weighted cross-entropy
----------------------
A binary task is treated as two classes (background, foreground) with log-probabilities
``(logsigmoid(-x), logsigmoid(x))`` and target ``(1 - t, t)``. With per-voxel cross-entropy
``ce_v = -sum_c g_vc log p_vc`` and per-voxel weight ``w_v = sum_c w_c g_vc``::

    wce = sum_v w_v ce_v / sum_v w_v

(the convention of ``torch.nn.functional.cross_entropy(weight=...)``). ``class_weights``:

- ``"batch"`` (default): per-batch class-frequency balancing, ``w_c = N / (K n_c)`` with N
  the voxels of the batch, K the number of classes (2 when binary), n_c = sum_v g_vc clamped
  to >= 1; for a binary task ``w_fg / w_bg = n_bg / n_fg``, the usual foreground-ratio
  weighting. The weights are computed from the target and carry no gradient.
- a sequence of K fixed non-negative weights (binary: ``(w_background, w_foreground)``);
- ``None``: plain (unweighted) cross-entropy.
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from vesselnet._validation import (
    check_choice,
    check_finite,
    check_class_ids,
    check_positive,
    check_unit_interval,
    check_volume,
    check_weights,
    describe,
)

__all__ = [
    "dice_loss",
    "weighted_cross_entropy",
    "dice_ce_loss",
    "DiceLoss",
    "WeightedCrossEntropyLoss",
    "DiceCELoss",
    "prepare_target",
]

ClassWeights = Union[str, Sequence[float], None]
_ACTIVATIONS = ("auto", "sigmoid", "softmax", "none")


def prepare_target(
    logits: torch.Tensor, target: torch.Tensor, name: str = "target"
) -> torch.Tensor:
    """Validate ``target`` against ``logits`` and return a float target of the logits' shape.

    Parameters
    ----------
    logits : Tensor, shape (B, C, D, H, W)
        Gives the expected shape, dtype and number of classes C.
    target : Tensor
        (B, C, D, H, W) in [0, 1], or for C > 1 class ids (B, D, H, W) / (B, 1, D, H, W).
    name : str
        Argument name used in error messages.

    Returns
    -------
    Tensor, shape (B, C, D, H, W)
        The target in the logits' dtype (class ids one-hot encoded).

    Raises
    ------
    TypeError, ValueError
        Naming ``name`` for a wrong shape, values outside [0, 1] or class ids outside [0, C).
    """
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {describe(target)}")
    C = logits.shape[1]
    if tuple(target.shape) == tuple(logits.shape):
        if C > 1 and not (target.is_floating_point() or target.dtype == torch.bool) and (
            target.amax() > 1
        ):
            raise ValueError(
                f"{name}: a (B, C, D, H, W) target must be one-hot/soft in [0, 1]; class ids go "
                f"in a (B, D, H, W) or (B, 1, D, H, W) tensor, got {describe(target)}"
            )
        check_unit_interval(target, name)
        return target.to(dtype=logits.dtype)
    spatial = (logits.shape[0],) + tuple(logits.shape[2:])
    if C > 1 and tuple(target.shape) in (spatial, (logits.shape[0], 1) + spatial[1:]):
        check_class_ids(target, name, C)
        ids = target.reshape(spatial).long()
        return F.one_hot(ids, C).permute(0, 4, 1, 2, 3).to(dtype=logits.dtype)
    expected = f"{tuple(logits.shape)}"
    if C > 1:
        expected += f" or class ids {spatial} / {(spatial[0], 1) + spatial[1:]}"
    raise ValueError(f"{name}: expected shape {expected} to match logits, got {describe(target)}")


def _check_logits(logits, name: str = "logits") -> torch.Tensor:
    """Validate logits (float 5D, finite unless the finite checks are off); half-precision
    logits (AMP) are upcast to float32 for the reductions."""
    check_volume(logits, name)
    check_finite(logits, name)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return logits


def _probabilities(logits: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "auto":
        activation = "sigmoid" if logits.shape[1] == 1 else "softmax"
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    if activation == "softmax":
        return torch.softmax(logits, dim=1)
    return logits  # "none": the input already holds probabilities


def dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    batch_dice: bool = False,
    include_background: bool = False,
    smooth: float = 1e-5,
    activation: str = "auto",
) -> torch.Tensor:
    """Soft Dice loss (scalar) of logits (B, C, D, H, W) against ``target``.

    Parameters
    ----------
    logits : Tensor
        (B, C, D, H, W) logits (or probabilities with ``activation="none"``).
    target : Tensor
        See the module docstring: (B, 1, D, H, W) in [0, 1] when C = 1; class ids or a
        (B, C, D, H, W) one-hot target when C > 1.
    batch_dice : bool
        Sum over the whole batch (one Dice per class) instead of per sample.
    include_background : bool
        Keep channel 0 when C > 1 (ignored when C = 1).
    smooth : float
        Added to numerator and denominator (> 0).
    activation : {"auto", "sigmoid", "softmax", "none"}
        "auto": sigmoid when C = 1, softmax otherwise; "none": ``logits`` are probabilities.

    Returns
    -------
    Tensor
        Scalar ``1 - mean dice`` in [0, 1] (module docstring); 0 for a perfect hard
        prediction.

    Raises
    ------
    TypeError, ValueError
        Naming ``logits``, ``target``, ``smooth`` or ``activation``.
    """
    logits = _check_logits(logits)
    check_choice(activation, "activation", _ACTIVATIONS)
    smooth = check_positive(smooth, "smooth")
    g = prepare_target(logits, target)
    p = _probabilities(logits, activation)
    if p.shape[1] > 1 and not include_background:
        p, g = p[:, 1:], g[:, 1:]
    dims = (0, 2, 3, 4) if batch_dice else (2, 3, 4)
    inter = (p * g).sum(dims)
    denom = p.sum(dims) + g.sum(dims)
    dice = (2.0 * inter + smooth) / (denom + smooth)
    return 1.0 - dice.mean()


def _class_weight_tensor(
    class_weights: ClassWeights, g: torch.Tensor, num_classes: int
) -> torch.Tensor | None:
    if class_weights is None:
        return None
    if isinstance(class_weights, str):
        check_choice(class_weights, "class_weights", ("batch",))
        with torch.no_grad():
            counts = g.sum(dim=(0, 2, 3, 4)).clamp_min(1.0)
            n = g[:, :1].numel()
            return (n / (num_classes * counts)).detach()
    w = check_weights(class_weights, "class_weights", num_classes)
    return torch.tensor(w, dtype=g.dtype, device=g.device)


def weighted_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, *, class_weights: ClassWeights = "batch"
) -> torch.Tensor:
    """Class-weighted cross-entropy (scalar) of logits (B, C, D, H, W) against ``target``.

    Parameters
    ----------
    logits : Tensor, shape (B, C, D, H, W)
        C = 1: binary (sigmoid) cross-entropy over the classes (background, foreground);
        C > 1: softmax cross-entropy.
    target : Tensor
        (B, 1, D, H, W) in [0, 1] when C = 1; class ids (B, D, H, W) / (B, 1, D, H, W) or a
        one-hot (B, C, D, H, W) target when C > 1 (module docstring).
    class_weights : "batch", sequence of K floats >= 0, or None, default "batch"
        K = 2 when C = 1 (background, foreground), else C. "batch": ``w_c = N / (K n_c)``
        from the target's class counts; None: plain cross-entropy.

    Returns
    -------
    Tensor
        Scalar ``sum_v w_v ce_v / sum_v w_v`` (module docstring).

    Raises
    ------
    TypeError, ValueError
        Naming ``logits``, ``target`` or ``class_weights``.
    """
    logits = _check_logits(logits)
    if isinstance(class_weights, str):
        check_choice(class_weights, "class_weights", ("batch",))
    g = prepare_target(logits, target)
    if logits.shape[1] == 1:
        logp = torch.cat([F.logsigmoid(-logits), F.logsigmoid(logits)], dim=1)
        g = torch.cat([1.0 - g, g], dim=1)
    else:
        logp = torch.log_softmax(logits, dim=1)
    K = logp.shape[1]
    ce = -(g * logp).sum(dim=1)  # (B, D, H, W)
    w = _class_weight_tensor(class_weights, g, K)
    if w is None:
        return ce.mean()
    wv = (g * w.view(1, K, 1, 1, 1)).sum(dim=1)
    return (wv * ce).sum() / wv.sum().clamp_min(torch.finfo(wv.dtype).tiny)


def dice_ce_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    dice_weight: float = 1.0,
    ce_weight: float = 1.0,
    class_weights: ClassWeights = "batch",
    batch_dice: bool = False,
    include_background: bool = False,
    smooth: float = 1e-5,
) -> torch.Tensor:
    """``dice_weight * dice_loss + ce_weight * weighted_cross_entropy`` (scalar): L_mt, L_s of Eq. 5.

    Parameters
    ----------
    logits : Tensor, shape (B, C, D, H, W)
        Logits (sigmoid when C = 1, softmax when C > 1).
    target : Tensor
        As in :func:`dice_loss` (module docstring).
    dice_weight, ce_weight : float >= 0, default 1.0
        Weights of the two terms; a zero weight skips its term.
    class_weights : "batch", sequence of floats, or None
        See :func:`weighted_cross_entropy`.
    batch_dice, include_background, smooth
        See :func:`dice_loss`.

    Returns
    -------
    Tensor
        Scalar loss.

    Raises
    ------
    TypeError, ValueError
        Naming the offending argument.
    """
    dw = check_positive(dice_weight, "dice_weight", allow_zero=True)
    cw = check_positive(ce_weight, "ce_weight", allow_zero=True)
    logits = _check_logits(logits)
    loss = logits.new_zeros(())
    if dw:
        loss = loss + dw * dice_loss(
            logits, target, batch_dice=batch_dice, include_background=include_background,
            smooth=smooth,
        )
    if cw:
        loss = loss + cw * weighted_cross_entropy(logits, target, class_weights=class_weights)
    return loss


def _check_class_weights_arg(class_weights: ClassWeights) -> ClassWeights:
    if isinstance(class_weights, str):
        check_choice(class_weights, "class_weights", ("batch",))
        return class_weights
    if class_weights is None:
        return None
    return check_weights(class_weights, "class_weights")


class _LossModule(nn.Module):
    """Module form of a loss function: ``forward(logits, target)`` calls ``_function`` with
    the options this module holds (``_options()``, validated by the subclass's ``__init__``).
    """

    _function: staticmethod

    def _options(self) -> dict:  # pragma: no cover - abstract
        """Keyword options passed to the loss function, by name."""
        raise NotImplementedError

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of ``logits`` against ``target``; see the function named in the class
        docstring.

        Parameters
        ----------
        logits : Tensor, shape (B, C, D, H, W)
            Logits (sigmoid when C = 1, softmax when C > 1).
        target : Tensor
            (B, 1, D, H, W) in [0, 1] when C = 1; class ids (B, D, H, W) / (B, 1, D, H, W)
            or one-hot (B, C, D, H, W) when C > 1.

        Returns
        -------
        Tensor
            Scalar loss.
        """
        return type(self)._function(logits, target, **self._options())


class DiceLoss(_LossModule):
    """Module form of :func:`dice_loss`; ``forward(logits (B,C,D,H,W), target)``."""

    _function = staticmethod(dice_loss)

    def __init__(
        self,
        *,
        batch_dice: bool = False,
        include_background: bool = False,
        smooth: float = 1e-5,
        activation: str = "auto",
    ) -> None:
        super().__init__()
        self.batch_dice = bool(batch_dice)
        self.include_background = bool(include_background)
        self.smooth = check_positive(smooth, "smooth")
        self.activation = check_choice(activation, "activation", _ACTIVATIONS)

    def _options(self) -> dict:
        """Keyword arguments of :func:`dice_loss` held by this module."""
        return dict(
            batch_dice=self.batch_dice, include_background=self.include_background,
            smooth=self.smooth, activation=self.activation,
        )


class WeightedCrossEntropyLoss(_LossModule):
    """Module form of :func:`weighted_cross_entropy`."""

    _function = staticmethod(weighted_cross_entropy)

    def __init__(self, *, class_weights: ClassWeights = "batch") -> None:
        super().__init__()
        self.class_weights = _check_class_weights_arg(class_weights)

    def _options(self) -> dict:
        """Keyword arguments of :func:`weighted_cross_entropy` held by this module."""
        return dict(class_weights=self.class_weights)


class DiceCELoss(_LossModule):
    """Module form of :func:`dice_ce_loss` (the per-task loss of Eq. 5)."""

    _function = staticmethod(dice_ce_loss)

    def __init__(
        self,
        *,
        dice_weight: float = 1.0,
        ce_weight: float = 1.0,
        class_weights: ClassWeights = "batch",
        batch_dice: bool = False,
        include_background: bool = False,
        smooth: float = 1e-5,
    ) -> None:
        super().__init__()
        self.dice_weight = check_positive(dice_weight, "dice_weight", allow_zero=True)
        self.ce_weight = check_positive(ce_weight, "ce_weight", allow_zero=True)
        self.class_weights = _check_class_weights_arg(class_weights)
        self.batch_dice = bool(batch_dice)
        self.include_background = bool(include_background)
        self.smooth = check_positive(smooth, "smooth")

    def _options(self) -> dict:
        """Keyword arguments of :func:`dice_ce_loss` held by this module."""
        return dict(
            dice_weight=self.dice_weight, ce_weight=self.ce_weight,
            class_weights=self.class_weights, batch_dice=self.batch_dice,
            include_background=self.include_background, smooth=self.smooth,
        )

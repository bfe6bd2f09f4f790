"""Soft-clDice topology loss (Shit et al., CVPR 2021), an optional prior beside Eq. 9.

Sadikine et al. (ISBI 2023, Sect. 5) name shape and topology priors as future work and
report clDSC; this module provides the differentiable soft-clDice of Shit et al. (2021):

- soft erosion: minimum over the 6-neighbourhood, computed as the minimum of three 1D
  min-pools (3x1x1, 1x3x1, 1x1x3); soft dilation: 3x3x3 max-pool; soft opening =
  dilation(erosion(x));
- soft skeleton (``iterations`` = k): ``skel = relu(x - open(x))``, then k times
  ``x <- erode(x); delta = relu(x - open(x)); skel <- skel + relu(delta - skel * delta)``;
- with P the predicted probabilities, G the target, S_P, S_G their soft skeletons, per
  sample (sums over channels and space)::

      Tprec = (sum(S_P G) + smooth) / (sum(S_P) + smooth)
      Tsens = (sum(S_G P) + smooth) / (sum(S_G) + smooth)
      loss  = 1 - mean_b 2 Tprec Tsens / (Tprec + Tsens)

Channels: with ONE channel (binary net) P = sigmoid(logits) and the single channel is always
used, whatever ``include_background`` says (a one-channel output must never be dropped as
"background", which would give a zero loss and no gradient; tested). With C > 1,
P = softmax(logits) and channel 0 (background) is dropped unless ``include_background``.
Values match MONAI 1.6.1's ``SoftclDiceLoss`` with the same smoothing (tested).
Layouts: logits (B, C, D, H, W); target as in :mod:`vesselnet.losses.dice_ce`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from vesselnet._validation import check_nonnegative_int, check_positive, check_volume
from vesselnet.losses.dice_ce import _check_logits, _LossModule, _probabilities, prepare_target

__all__ = ["soft_erode", "soft_dilate", "soft_open", "soft_skeleton", "soft_cldice_loss", "SoftClDiceLoss"]


def _erode(x: torch.Tensor) -> torch.Tensor:
    neg = -x
    a = F.max_pool3d(neg, (3, 1, 1), 1, (1, 0, 0))
    b = F.max_pool3d(neg, (1, 3, 1), 1, (0, 1, 0))
    c = F.max_pool3d(neg, (1, 1, 3), 1, (0, 0, 1))
    return -torch.maximum(torch.maximum(a, b), c)


def _dilate(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool3d(x, 3, 1, 1)


def _open(x: torch.Tensor) -> torch.Tensor:
    return _dilate(_erode(x))


def _skeleton(x: torch.Tensor, iterations: int) -> torch.Tensor:
    skel = F.relu(x - _open(x))
    for _ in range(iterations):
        x = _erode(x)
        delta = F.relu(x - _open(x))
        skel = skel + F.relu(delta - skel * delta)
    return skel


def _check_activation(activation: str) -> str:
    if activation not in ("auto", "none"):
        raise ValueError(f"activation: expected 'auto' or 'none', got {activation!r}")
    return activation


def soft_erode(x: torch.Tensor) -> torch.Tensor:
    """Grey-level erosion by the 6-neighbourhood cross (minimum of three 1D min-pools).

    Parameters
    ----------
    x : Tensor, shape (B, C, D, H, W)
        Floating-point values (typically probabilities in [0, 1]).

    Returns
    -------
    Tensor, shape (B, C, D, H, W)
        Per voxel, the minimum of ``x`` over the voxel and its 6 face neighbours (voxels
        outside the volume are ignored).

    Raises
    ------
    TypeError, ValueError
        Naming ``x`` if it is not a non-empty floating-point 5D tensor.
    """
    check_volume(x, "x")
    return _erode(x)


def soft_dilate(x: torch.Tensor) -> torch.Tensor:
    """Grey-level dilation by a 3x3x3 cube (max-pool, stride 1).

    Parameters
    ----------
    x : Tensor, shape (B, C, D, H, W)
        Floating-point values.

    Returns
    -------
    Tensor, shape (B, C, D, H, W)
        Per voxel, the maximum of ``x`` over its 26-neighbourhood and itself.

    Raises
    ------
    TypeError, ValueError
        Naming ``x`` if it is not a non-empty floating-point 5D tensor.
    """
    check_volume(x, "x")
    return _dilate(x)


def soft_open(x: torch.Tensor) -> torch.Tensor:
    """Soft opening: :func:`soft_dilate` of :func:`soft_erode`.

    Parameters
    ----------
    x : Tensor, shape (B, C, D, H, W)
        Floating-point values.

    Returns
    -------
    Tensor, shape (B, C, D, H, W)

    Raises
    ------
    TypeError, ValueError
        Naming ``x`` if it is not a non-empty floating-point 5D tensor.
    """
    check_volume(x, "x")
    return _open(x)


def soft_skeleton(x: torch.Tensor, iterations: int = 3) -> torch.Tensor:
    """Soft skeleton of probabilities (Shit et al. 2021, Alg. 1; module docstring).

    Parameters
    ----------
    x : Tensor, shape (B, C, D, H, W)
        Floating-point values, typically probabilities in [0, 1] (not checked: the soft
        morphology is defined for any real values).
    iterations : int >= 0, default 3
        Number k of erosion steps (about the largest radius, in voxels, to reach).

    Returns
    -------
    Tensor, shape (B, C, D, H, W)
        The soft skeleton, differentiable with respect to ``x``.

    Raises
    ------
    TypeError, ValueError
        Naming ``x`` (not a non-empty floating-point 5D tensor) or ``iterations``
        (not an integer >= 0), before any computation.
    """
    check_volume(x, "x")
    iterations = check_nonnegative_int(iterations, "iterations")
    return _skeleton(x, iterations)


def soft_cldice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    iterations: int = 3,
    smooth: float = 1.0,
    include_background: bool = False,
    activation: str = "auto",
) -> torch.Tensor:
    """Soft-clDice loss (scalar) of logits (B, C, D, H, W) against ``target``.

    Parameters
    ----------
    logits : Tensor
        (B, C, D, H, W) logits; sigmoid when C = 1, softmax when C > 1 (``activation="auto"``),
        or probabilities with ``activation="none"``.
    target : Tensor
        (B, 1, D, H, W) in [0, 1] when C = 1; class ids or one-hot when C > 1.
    iterations : int
        Soft-skeleton iterations k (about the largest vessel radius in voxels).
    smooth : float
        Added to numerators and denominators of Tprec and Tsens (> 0).
    include_background : bool
        Keep channel 0 when C > 1; ignored when C = 1 (the one channel is always used).
    activation : {"auto", "none"}
        "auto": sigmoid when C = 1, softmax when C > 1; "none": ``logits`` already hold
        probabilities.

    Returns
    -------
    Tensor
        Scalar ``1 - mean_b clDice_b`` in [0, 1]; the target's skeleton carries no gradient.

    Raises
    ------
    TypeError, ValueError
        Naming ``logits``, ``target``, ``iterations``, ``smooth`` or ``activation``.
    """
    logits = _check_logits(logits)  # AMP: half precision is reduced in float32
    iterations = check_nonnegative_int(iterations, "iterations")
    smooth = check_positive(smooth, "smooth")
    _check_activation(activation)
    g = prepare_target(logits, target)
    p = _probabilities(logits, activation)  # auto: sigmoid when C = 1, softmax when C > 1
    if p.shape[1] > 1 and not include_background:
        p, g = p[:, 1:], g[:, 1:]
    skel_p = _skeleton(p, iterations)
    with torch.no_grad():
        skel_g = _skeleton(g, iterations)
    dims = (1, 2, 3, 4)
    tprec = ((skel_p * g).sum(dims) + smooth) / (skel_p.sum(dims) + smooth)
    tsens = ((skel_g * p).sum(dims) + smooth) / (skel_g.sum(dims) + smooth)
    return 1.0 - (2.0 * tprec * tsens / (tprec + tsens)).mean()


class SoftClDiceLoss(_LossModule):
    """Module form of :func:`soft_cldice_loss`."""

    _function = staticmethod(soft_cldice_loss)

    def __init__(
        self,
        *,
        iterations: int = 3,
        smooth: float = 1.0,
        include_background: bool = False,
        activation: str = "auto",
    ) -> None:
        super().__init__()
        self.iterations = check_nonnegative_int(iterations, "iterations")
        self.smooth = check_positive(smooth, "smooth")
        self.include_background = bool(include_background)
        self.activation = _check_activation(activation)

    def _options(self) -> dict:
        """Keyword arguments of :func:`soft_cldice_loss` held by this module."""
        return dict(
            iterations=self.iterations, smooth=self.smooth,
            include_background=self.include_background, activation=self.activation,
        )

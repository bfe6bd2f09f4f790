"""3D ResUNet: the single-task baseline of Table 1 (Sadikine et al., ISBI 2023, Fig. 3).

The network is an encoder ``E`` and one decoder ``D`` (Eq. 4 with S = 0):

- ``E`` has ``levels`` (l) levels with ``f0 * 2**k`` feature maps at level k = 0 .. l-1: a
  residual unit at full resolution, then l-1 times (max-pool /2, residual unit). Its deepest
  output ``z`` has ``2**(l-1) * f0`` channels at 1 / 2**(l-1) of the input resolution.
- ``D`` starts with a residual unit on ``z`` (``bottleneck_unit=True``, the default layout),
  then l-1 times (up-sample x2, concatenate the long skip connection, residual unit), and
  ends with a 1x1x1 convolution to ``out_channels`` logits. With ``bottleneck_unit=False``
  the decoder starts directly with the first up-sampling stage, the layout printed in the
  paper (``E = E^{2^l f0} o ... o E^{f0}``, ``D = D^{f0} o ... o D^{2^(l-1) f0}``): with
  ``levels = l + 1`` the encoder has ``f0 .. 2^l f0`` maps and l poolings and the decoder's
  first stage ``D^{2^(l-1) f0}`` is its first up-sampling stage. The decoder's *first stage*
  (:attr:`Decoder.first_stage`) is where the projection heads of Eq. 6 attach in the
  multi-task net.

Output: logits (B, out_channels, D, H, W). ``out_channels = 1`` is the binary baseline
(apply a sigmoid); ``out_channels = S + 1`` the multi-class one (background + S scales, apply a
softmax). Spatial sizes must be divisible by ``2**(levels - 1)``; other sizes raise a
``ValueError`` (no silent padding: pad or crop the volume yourself).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from vesselnet._validation import check_finite, check_nonnegative_int, check_volume, describe
from vesselnet.models.blocks import DownBlock, ResidualUnit, UpBlock

__all__ = ["Encoder", "Decoder", "ResUNet3d", "level_channels", "check_network_input", "check_model_input"]


def level_channels(levels: int, base_channels: int) -> tuple[int, ...]:
    """Feature maps per level: ``(f0, 2 f0, ..., 2**(l-1) f0)``.

    Parameters
    ----------
    levels : int >= 1
        l.
    base_channels : int >= 1
        f0.

    Returns
    -------
    tuple of l ints
    """
    levels = check_nonnegative_int(levels, "levels", minimum=1)
    base_channels = check_nonnegative_int(base_channels, "base_channels", minimum=1)
    return tuple(base_channels * 2**k for k in range(levels))


def _backbone_config(levels, base_channels, num_convs) -> tuple[tuple[int, ...], int, int]:
    """Validated ``(channels, levels, num_convs)`` of the encoder and decoders, shared by the
    single- and multi-task networks (``channels`` from :func:`level_channels`)."""
    channels = level_channels(levels, base_channels)
    return channels, len(channels), check_nonnegative_int(num_convs, "num_convs", minimum=1)


def check_network_input(
    x,
    in_channels: int,
    levels: int,
    name: str = "x",
    *,
    param_dtype: torch.dtype | None = None,
    training: bool = False,
) -> torch.Tensor:
    """Validate a network input.

    Parameters
    ----------
    x : Tensor, shape (B, in_channels, D, H, W)
        Floating-point, non-empty, finite; D, H, W divisible by ``2**(levels - 1)``.
    in_channels : int
        Expected channel count.
    levels : int
        Network levels l.
    name : str
        Argument name used in error messages.
    param_dtype : torch.dtype, optional
        The network's parameter dtype: the input must have it, except under
        ``torch.autocast`` where any floating dtype but float64 is cast.
    training : bool, default False
        Training mode: BatchNorm needs more than one value per channel at the deepest level,
        so ``B * d * h * w > 1`` there.

    Returns
    -------
    Tensor
        ``x`` itself.

    Raises
    ------
    TypeError, ValueError
        Naming ``name``: not a float 5D tensor, wrong channel count, sizes not divisible,
        a dtype other than the parameters' (outside autocast), a single value per channel at
        the deepest level in training mode, NaN or infinite values (the finite check can be
        switched off with :func:`vesselnet._validation.set_finite_checks`).
    """
    check_volume(x, name, channels=in_channels)
    factor = 2 ** (levels - 1)
    spatial = tuple(int(s) for s in x.shape[2:])
    if any(s % factor for s in spatial):
        raise ValueError(
            f"{name}: spatial size (D, H, W) = {spatial} must be divisible by 2**(levels-1) = "
            f"{factor} for levels={levels}; pad or crop the input"
        )
    meta = x.device.type == "meta"  # shape-only tensors (FLOP counting): no value checks
    autocast = not meta and torch.is_autocast_enabled(x.device.type)
    if param_dtype is not None and not meta and x.dtype != param_dtype and (
        not autocast or x.dtype == torch.float64  # autocast does not cast float64
    ):
        raise TypeError(
            f"{name}: expected the dtype of the network's parameters ({param_dtype}), got "
            f"{describe(x)}; cast the input (x.to({param_dtype})) or the network "
            f"(net.to(dtype)){'' if autocast else ', or run under torch.autocast'}"
        )
    deepest = tuple(s // factor for s in spatial)
    if training and int(x.shape[0]) * deepest[0] * deepest[1] * deepest[2] == 1:
        raise ValueError(
            f"{name}: in training mode BatchNorm needs more than one value per channel at the "
            f"deepest level, got {describe(x)} which is 1x1x1 there for a batch of 1 "
            f"(levels={levels}); use a batch of 2 or more, a larger input, or eval mode"
        )
    if not meta:
        check_finite(x, name)
    return x


class Encoder(nn.Module):
    """Contracting path ``E``: returns the features of every level, shallowest first.

    ``forward(x)`` with x (B, in_channels, D, H, W) returns a list of l tensors, level k of
    shape (B, channels[k], D / 2**k, H / 2**k, W / 2**k); the last one is ``z``.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], num_convs: int = 2) -> None:
        super().__init__()
        self.stem = ResidualUnit(in_channels, channels[0], num_convs)
        self.downs = nn.ModuleList(
            [DownBlock(channels[k - 1], channels[k], num_convs) for k in range(1, len(channels))]
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of every level, shallowest first.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, D, H, W)

        Returns
        -------
        list of l tensors
            Level k of shape (B, channels[k], D / 2**k, H / 2**k, W / 2**k).
        """
        feats = [self.stem(x)]
        for down in self.downs:
            feats.append(down(feats[-1]))
        return feats


class Decoder(nn.Module):
    """Expansive path ``D``: [bottleneck unit on ``z``], up blocks with skips, 1x1x1 head.

    ``forward(feats, return_first=False)`` takes the encoder's list and returns the logits
    (B, out_channels, D, H, W); with ``return_first=True`` it returns ``(logits, first)``
    where ``first`` is the output of the decoder's first stage (:attr:`first_stage`):
    the bottleneck unit, (B, channels[-1], d, h, w) at the deepest resolution, or, with
    ``bottleneck_unit=False``, the first up-sampling stage, (B, channels[-2], 2d, 2h, 2w).

    Parameters
    ----------
    channels : sequence of int
        Feature maps per level, shallowest first (the encoder's).
    out_channels : int
        Logit channels of the head.
    num_convs : int
        Convolutions per residual unit.
    bottleneck_unit : bool, default True
        Start with a decoder-specific residual unit on ``z`` (True) or directly with the
        first up-sampling stage, the layout printed in the paper (False; needs >= 2 levels).
    """

    def __init__(
        self,
        channels: Sequence[int],
        out_channels: int,
        num_convs: int = 2,
        bottleneck_unit: bool = True,
    ) -> None:
        super().__init__()
        channels = tuple(channels)
        self.bottleneck_unit = _check_bool(bottleneck_unit, "bottleneck_unit")
        if not self.bottleneck_unit and len(channels) < 2:
            raise ValueError(
                f"levels: bottleneck_unit=False needs at least 2 levels (a first up-sampling "
                f"stage), got {len(channels)}"
            )
        self.first = ResidualUnit(channels[-1], channels[-1], num_convs) if self.bottleneck_unit else None
        self.ups = nn.ModuleList(
            [
                UpBlock(channels[k + 1], channels[k], channels[k], num_convs)
                for k in range(len(channels) - 2, -1, -1)
            ]
        )
        self.head = nn.Conv3d(channels[0], out_channels, kernel_size=1)
        self.first_channels = channels[-1] if self.bottleneck_unit else channels[-2]

    @property
    def first_stage(self) -> nn.Module:
        """The module whose output is the decoder's first stage ``D^{2^(l-1) f0}`` (Eq. 6)."""
        return self.first if self.bottleneck_unit else self.ups[0]

    def forward(self, feats: Sequence[torch.Tensor], return_first: bool = False):
        """Decode the encoder's features.

        Parameters
        ----------
        feats : sequence of l tensors
            :class:`Encoder` output, shallowest first.
        return_first : bool, default False
            Also return the output of the decoder's first stage.

        Returns
        -------
        Tensor or (Tensor, Tensor)
            Logits (B, out_channels, D, H, W); with ``return_first`` also ``first``
            (B, first_channels, d, h, w).
        """
        h = feats[-1] if self.first is None else self.first(feats[-1])
        first = h
        for k, (up, skip) in enumerate(zip(self.ups, reversed(feats[:-1]))):
            h = up(h, skip)
            if k == 0 and self.first is None:
                first = h
        logits = self.head(h)
        return (logits, first) if return_first else logits


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {describe(value)}")
    return value


class ResUNet3d(nn.Module):
    """3D residual U-Net (paper defaults: l = 5 levels, f0 = 8, one input channel).

    Parameters
    ----------
    in_channels : int
        Input channels (1 for CT).
    out_channels : int
        1 for the binary baseline (sigmoid), ``S + 1`` for the multi-class baseline (softmax).
    levels : int
        Number of levels l (>= 1); the input's spatial sizes must be divisible by 2**(l-1).
    base_channels : int
        Feature maps f0 at the first level, doubled at every level.
    num_convs : int
        Convolutions per residual unit.
    bottleneck_unit : bool, default True
        Decoder layout (:class:`Decoder`); False is the layout printed in the paper, where
        ``levels = l + 1`` (paper: l = 5, so ``levels=6``, 8..256 maps, five poolings).

    Examples
    --------
    >>> net = ResUNet3d(levels=3, base_channels=4)
    >>> net(torch.zeros(2, 1, 16, 16, 8)).shape
    torch.Size([2, 1, 16, 16, 8])
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        levels: int = 5,
        base_channels: int = 8,
        num_convs: int = 2,
        bottleneck_unit: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = check_nonnegative_int(in_channels, "in_channels", minimum=1)
        self.out_channels = check_nonnegative_int(out_channels, "out_channels", minimum=1)
        self.channels, self.levels, self.num_convs = _backbone_config(levels, base_channels, num_convs)
        self.encoder = Encoder(self.in_channels, self.channels, self.num_convs)
        self.decoder = Decoder(self.channels, self.out_channels, self.num_convs, bottleneck_unit)
        self.bottleneck_unit = self.decoder.bottleneck_unit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the network.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, D, H, W)
            Floating-point input; D, H, W divisible by ``2**(levels - 1)``.

        Returns
        -------
        Tensor, shape (B, out_channels, D, H, W)

        Raises
        ------
        TypeError, ValueError
            Naming ``x`` (see :func:`check_network_input`).
        """
        check_model_input(self, x)
        return self.decoder(self.encoder(x))

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"levels={self.levels}, channels={self.channels}, num_convs={self.num_convs}, "
            f"bottleneck_unit={self.bottleneck_unit}"
        )


def check_model_input(model: nn.Module, x) -> torch.Tensor:
    """:func:`check_network_input` of ``x`` for ``model``: its ``in_channels`` and
    ``levels``, the dtype of its first parameter (none for a network without parameters)
    and its training mode; returns ``x``."""
    p = next(model.parameters(), None)
    return check_network_input(
        x, model.in_channels, model.levels, param_dtype=None if p is None else p.dtype,
        training=model.training,
    )

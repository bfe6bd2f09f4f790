"""3D ResUNet: the single-task baseline of Table 1 (Sadikine et al., ISBI 2023, Fig. 3).

The network is an encoder ``E`` and one decoder ``D`` (Eq. 4 with S = 0):

- ``E`` has ``levels`` (l) levels with ``f0 * 2**k`` feature maps at level k = 0 .. l-1: a
  residual unit at full resolution, then l-1 times (max-pool /2, residual unit). Its deepest
  output ``z`` has ``2**(l-1) * f0`` channels at 1 / 2**(l-1) of the input resolution.
- ``D`` starts with a residual unit on ``z`` (the "first layer" ``D^{2^(l-1) f0}`` of the
  paper, where the projection heads of Eq. 6 attach in the multi-task net), then l-1 times
  (up-sample x2, concatenate the long skip connection, residual unit), and ends with a 1x1x1
  convolution to ``out_channels`` logits.

Output: logits (B, out_channels, D, H, W). ``out_channels = 1`` is the binary baseline
(apply a sigmoid); ``out_channels = S + 1`` the multi-class one (background + S scales, apply a
softmax). Spatial sizes must be divisible by ``2**(levels - 1)``; other sizes raise a
``ValueError`` (no silent padding: pad or crop the volume yourself).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from vesselnet._validation import check_nonnegative_int, check_volume
from vesselnet.models.blocks import DownBlock, ResidualUnit, UpBlock

__all__ = ["Encoder", "Decoder", "ResUNet3d", "level_channels", "check_network_input"]


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


def check_network_input(x, in_channels: int, levels: int, name: str = "x") -> torch.Tensor:
    """Validate a network input.

    Parameters
    ----------
    x : Tensor, shape (B, in_channels, D, H, W)
        Floating-point, non-empty; D, H, W divisible by ``2**(levels - 1)``.
    in_channels : int
        Expected channel count.
    levels : int
        Network levels l.
    name : str
        Argument name used in error messages.

    Returns
    -------
    Tensor
        ``x`` itself.

    Raises
    ------
    TypeError, ValueError
        Naming ``name``.
    """
    check_volume(x, name, channels=in_channels)
    factor = 2 ** (levels - 1)
    spatial = tuple(int(s) for s in x.shape[2:])
    if any(s % factor for s in spatial):
        raise ValueError(
            f"{name}: spatial size (D, H, W) = {spatial} must be divisible by 2**(levels-1) = "
            f"{factor} for levels={levels}; pad or crop the input"
        )
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
    """Expansive path ``D``: first layer on ``z``, up blocks with skips, 1x1x1 head.

    ``forward(feats, return_first=False)`` takes the encoder's list and returns the logits
    (B, out_channels, D, H, W); with ``return_first=True`` it returns ``(logits, first)``
    where ``first`` is the output of the first decoder layer, (B, channels[-1], d, h, w).
    """

    def __init__(self, channels: Sequence[int], out_channels: int, num_convs: int = 2) -> None:
        super().__init__()
        channels = tuple(channels)
        self.first = ResidualUnit(channels[-1], channels[-1], num_convs)
        self.ups = nn.ModuleList(
            [
                UpBlock(channels[k + 1], channels[k], channels[k], num_convs)
                for k in range(len(channels) - 2, -1, -1)
            ]
        )
        self.head = nn.Conv3d(channels[0], out_channels, kernel_size=1)

    def forward(self, feats: Sequence[torch.Tensor], return_first: bool = False):
        """Decode the encoder's features.

        Parameters
        ----------
        feats : sequence of l tensors
            :class:`Encoder` output, shallowest first.
        return_first : bool, default False
            Also return the output of the first decoder layer.

        Returns
        -------
        Tensor or (Tensor, Tensor)
            Logits (B, out_channels, D, H, W); with ``return_first`` also ``first``
            (B, channels[-1], d, h, w).
        """
        h = self.first(feats[-1])
        first = h
        for up, skip in zip(self.ups, reversed(feats[:-1])):
            h = up(h, skip)
        logits = self.head(h)
        return (logits, first) if return_first else logits


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
    ) -> None:
        super().__init__()
        self.in_channels = check_nonnegative_int(in_channels, "in_channels", minimum=1)
        self.out_channels = check_nonnegative_int(out_channels, "out_channels", minimum=1)
        self.channels, self.levels, self.num_convs = _backbone_config(levels, base_channels, num_convs)
        self.encoder = Encoder(self.in_channels, self.channels, self.num_convs)
        self.decoder = Decoder(self.channels, self.out_channels, self.num_convs)

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
            Naming ``x``.
        """
        check_network_input(x, self.in_channels, self.levels)
        return self.decoder(self.encoder(x))

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"levels={self.levels}, channels={self.channels}, num_convs={self.num_convs}"
        )

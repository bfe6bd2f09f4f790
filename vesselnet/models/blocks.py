"""Building blocks of the 3D ResUNet (Sadikine et al., ISBI 2023, Fig. 3).

A *residual unit* is ``num_convs`` times (3x3x3 convolution -> BatchNorm -> PReLU), plus a
shortcut (identity, or a 1x1x1 convolution when the channel count changes) added to the
output. Encoder levels go down with 2x2x2 max-pooling; decoder levels go up with trilinear
up-sampling by 2, concatenate the long skip connection of the same level, and apply a
residual unit. All tensors are (B, C, D, H, W).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvBNAct", "ResidualUnit", "DownBlock", "UpBlock"]


class ConvBNAct(nn.Sequential):
    """3x3x3 convolution (no bias, BN follows) -> BatchNorm3d -> PReLU (one shared slope)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__(
            nn.Conv3d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm3d(out_channels),
            nn.PReLU(),
        )


class ResidualUnit(nn.Module):
    """``num_convs`` x :class:`ConvBNAct` plus a shortcut; (B, in, D, H, W) -> (B, out, D, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, num_convs: int = 2) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *[
                ConvBNAct(in_channels if i == 0 else out_channels, out_channels)
                for i in range(num_convs)
            ]
        )
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv3d(in_channels, out_channels, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, D, H, W) -> (B, out, D, H, W)."""
        return self.body(x) + self.shortcut(x)


class DownBlock(nn.Module):
    """2x2x2 max-pooling then a residual unit: (B, in, D, H, W) -> (B, out, D/2, H/2, W/2)."""

    def __init__(self, in_channels: int, out_channels: int, num_convs: int = 2) -> None:
        super().__init__()
        self.pool = nn.MaxPool3d(2)
        self.unit = ResidualUnit(in_channels, out_channels, num_convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, D, H, W) -> (B, out, D/2, H/2, W/2)."""
        return self.unit(self.pool(x))


class UpBlock(nn.Module):
    """Trilinear up-sampling by 2, concatenation with the skip, residual unit.

    ``forward(x, skip)``: x (B, in, d, h, w), skip (B, skip, 2d, 2h, 2w) -> (B, out, 2d, 2h, 2w).
    """

    def __init__(
        self, in_channels: int, skip_channels: int, out_channels: int, num_convs: int = 2
    ) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False)
        self.unit = ResidualUnit(in_channels + skip_channels, out_channels, num_convs)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """x (B, in, d, h, w), skip (B, skip, 2d, 2h, 2w) -> (B, out, 2d, 2h, 2w)."""
        return self.unit(torch.cat([self.up(x), skip], dim=1))

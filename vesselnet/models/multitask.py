"""Shared-encoder multi-task network (Eq. 4) and projection heads (Eq. 6).

Sadikine et al., ISBI 2023, Sect. 2.2-2.3:

- Eq. 4: ``xi(x) = {D_s(z) | z = E(x)}_{s=0..S}``: one shared encoder ``E`` and S + 1
  decoders; ``D_0`` is the main task (the whole vessel mask y), ``D_1 .. D_S`` the auxiliary
  scale-specific tasks (y^1 = smallest vessels ... y^S = largest). Each decoder has its own
  1x1x1 output head.
- Eq. 6: ``z^s = proj_s(D_s^{2^(l-1) f0})``: a projection head on the output of the *first
  stage* of every auxiliary decoder (:attr:`~vesselnet.models.resunet.Decoder.first_stage`:
  the bottleneck unit, ``2**(levels-1) * f0`` channels at the deepest resolution, or, with
  ``bottleneck_unit=False``, the layout printed in the paper, the first up-sampling stage,
  ``2**(levels-2) * f0`` channels at twice that resolution), made of 1x1x1 convolutions,
  BatchNorm and a non-linearity, mapping to a low dimension and l2-normalised over the
  channel axis.

In training mode :meth:`MultiTaskResUNet3d.forward` runs everything and returns a
:class:`MultiTaskOutput`; in eval mode (or with :meth:`MultiTaskResUNet3d.predict`) it runs
``E`` and ``D_0`` only and returns the main logits, so inference costs exactly as much as the
single-task :class:`~vesselnet.models.resunet.ResUNet3d` of the same configuration.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from vesselnet._validation import check_nonnegative_int
from vesselnet.models.resunet import (
    Decoder,
    Encoder,
    ResUNet3d,
    _backbone_config,
    check_model_input,
)

__all__ = ["ProjectionHead", "MultiTaskOutput", "MultiTaskResUNet3d"]


class ProjectionHead(nn.Module):
    """Eq. 6 projection head: 1x1x1 convs + BN + non-linearity, l2-normalised over channels.

    ``num_layers = 2`` (default): conv(in -> hidden) -> BN -> ReLU -> conv(hidden -> dim),
    as in SimCLR. ``num_layers = 1``: conv(in -> dim) -> BN -> PReLU (the PReLU keeps
    negative coordinates, so the embeddings are not confined to the positive orthant).

    ``forward(x)``: (B, in_channels, d, h, w) -> (B, dim, d, h, w), each voxel's vector of
    unit l2 norm.

    Parameters
    ----------
    in_channels : int >= 1
        Channels of the decoder features (``2**(l-1) * f0``).
    dim : int >= 1, default 64
        Embedding dimension.
    hidden : int >= 1, optional
        Hidden width of the two-layer head (default ``in_channels``).
    num_layers : {1, 2}
        Number of 1x1x1 convolutions.
    """

    def __init__(
        self, in_channels: int, dim: int = 64, hidden: int | None = None, num_layers: int = 2
    ) -> None:
        super().__init__()
        in_channels = check_nonnegative_int(in_channels, "in_channels", minimum=1)
        self.dim = check_nonnegative_int(dim, "dim", minimum=1)
        hidden = in_channels if hidden is None else check_nonnegative_int(hidden, "hidden", minimum=1)
        num_layers = check_nonnegative_int(num_layers, "num_layers", minimum=1)
        if num_layers > 2:
            raise ValueError(f"num_layers: expected 1 or 2, got {num_layers}")
        if num_layers == 1:
            self.net = nn.Sequential(
                nn.Conv3d(in_channels, self.dim, 1, bias=False), nn.BatchNorm3d(self.dim), nn.PReLU()
            )
        else:
            self.net = nn.Sequential(
                nn.Conv3d(in_channels, hidden, 1, bias=False),
                nn.BatchNorm3d(hidden),
                nn.ReLU(inplace=True),
                nn.Conv3d(hidden, self.dim, 1),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project decoder features to unit embeddings.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, d, h, w)

        Returns
        -------
        Tensor, shape (B, dim, d, h, w)
            Unit l2 norm over the channel axis at every voxel.
        """
        return F.normalize(self.net(x), p=2.0, dim=1)


class MultiTaskOutput(NamedTuple):
    """Training output of :class:`MultiTaskResUNet3d`.

    Attributes
    ----------
    main : Tensor
        Main-task logits (B, main_out_channels, D, H, W), from ``D_0``.
    aux : list of Tensor
        S auxiliary logits (B, aux_out_channels, D, H, W), scale 1 (smallest) first.
    embeddings : list of Tensor
        S projected embeddings (B, proj_dim, d, h, w) at the resolution of the decoders'
        first stage (d = D / 2**(levels-1), or D / 2**(levels-2) with
        ``bottleneck_unit=False``), l2-normalised over the channel axis, scale 1 first.
    """

    main: torch.Tensor
    aux: list
    embeddings: list


class MultiTaskResUNet3d(nn.Module):
    """Shared encoder, S + 1 decoders and S projection heads (Eq. 4 and 6).

    Parameters
    ----------
    in_channels : int
        Input channels (1 for CT).
    num_scales : int
        Number S of auxiliary scale-specific tasks (paper: 3).
    levels, base_channels, num_convs : int
        As in :class:`~vesselnet.models.resunet.ResUNet3d` (paper: l = 5, f0 = 8).
    main_out_channels : int
        Logit channels of ``D_0``: 1 (binary vessel mask, default) or more (softmax).
    aux_out_channels : int
        Logit channels of each ``D_s`` (1: binary mask y^s).
    proj_dim : int
        Dimension of the projected embeddings z^s (Eq. 6).
    proj_hidden : int or None
        Hidden width of the two-layer projection head (default: the width of the decoders'
        first stage).
    proj_layers : int
        1 or 2 1x1x1 convolutions in each projection head.
    bottleneck_unit : bool, default True
        Decoder layout (:class:`~vesselnet.models.resunet.Decoder`); False is the layout
        printed in the paper with ``levels = l + 1`` (paper: ``levels=6``).

    Notes
    -----
    ``forward(x, all_tasks=None)``: ``all_tasks=None`` means "all tasks in training mode,
    main task only in eval mode"; pass ``all_tasks=True`` to get a :class:`MultiTaskOutput`
    in eval mode too (e.g. for validation losses). :meth:`predict` always runs ``E`` and
    ``D_0`` only. :meth:`to_single_task` exports ``E`` + ``D_0`` as a :class:`ResUNet3d`.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_scales: int = 3,
        levels: int = 5,
        base_channels: int = 8,
        num_convs: int = 2,
        main_out_channels: int = 1,
        aux_out_channels: int = 1,
        proj_dim: int = 64,
        proj_hidden: int | None = None,
        proj_layers: int = 2,
        bottleneck_unit: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = check_nonnegative_int(in_channels, "in_channels", minimum=1)
        self.num_scales = check_nonnegative_int(num_scales, "num_scales", minimum=1)
        self.channels, self.levels, self.num_convs = _backbone_config(levels, base_channels, num_convs)
        self.main_out_channels = check_nonnegative_int(main_out_channels, "main_out_channels", minimum=1)
        self.aux_out_channels = check_nonnegative_int(aux_out_channels, "aux_out_channels", minimum=1)
        self.encoder = Encoder(self.in_channels, self.channels, self.num_convs)
        self.decoders = nn.ModuleList(
            [Decoder(self.channels, self.main_out_channels, self.num_convs, bottleneck_unit)]
            + [
                Decoder(self.channels, self.aux_out_channels, self.num_convs, bottleneck_unit)
                for _ in range(self.num_scales)
            ]
        )
        self.bottleneck_unit = self.decoders[0].bottleneck_unit
        self.projections = nn.ModuleList(
            [
                ProjectionHead(self.decoders[0].first_channels, proj_dim, proj_hidden, proj_layers)
                for _ in range(self.num_scales)
            ]
        )
        self.proj_dim = self.projections[0].dim

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Main-task logits; runs ``E`` and ``D_0`` only.

        Does not switch modes nor disable autograd: call ``model.eval()`` and use
        ``torch.no_grad()`` / ``torch.inference_mode()`` for deployment.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, D, H, W)
            Floating-point input; D, H, W divisible by ``2**(levels - 1)``.

        Returns
        -------
        Tensor, shape (B, main_out_channels, D, H, W)
            Logits of ``D_0`` (sigmoid for one channel, softmax for more).

        Raises
        ------
        TypeError, ValueError
            Naming ``x`` (not a float 5D tensor, wrong channel count, sizes not divisible).
        """
        check_model_input(self, x)
        return self.decoders[0](self.encoder(x))

    def forward(self, x: torch.Tensor, all_tasks: bool | None = None):
        """Run the network.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, D, H, W)
            Floating-point input; D, H, W divisible by ``2**(levels - 1)``.
        all_tasks : bool, optional
            True: every decoder and projection head; False: ``E`` and ``D_0`` only; None
            (default): ``self.training``.

        Returns
        -------
        MultiTaskOutput or Tensor
            With all tasks, ``(main, aux, embeddings)``; otherwise the main logits
            (B, main_out_channels, D, H, W) as :meth:`predict`.

        Raises
        ------
        TypeError, ValueError
            Naming ``x``.
        """
        if all_tasks is None:
            all_tasks = self.training
        if not all_tasks:
            return self.predict(x)
        check_model_input(self, x)
        feats = self.encoder(x)
        main = self.decoders[0](feats)
        aux, emb = [], []
        for decoder, proj in zip(self.decoders[1:], self.projections):
            logits, first = decoder(feats, return_first=True)
            aux.append(logits)
            emb.append(proj(first))
        return MultiTaskOutput(main, aux, emb)

    def to_single_task(self) -> ResUNet3d:
        """Export the main-task network.

        Returns
        -------
        ResUNet3d
            Holding copies of ``E`` and ``D_0`` (same outputs as :meth:`predict`), on this
            model's device and dtype, in its training mode.
        """
        net = ResUNet3d(
            self.in_channels, self.main_out_channels, self.levels, self.channels[0], self.num_convs,
            self.bottleneck_unit,
        )
        net.encoder.load_state_dict(self.encoder.state_dict())
        net.decoder.load_state_dict(self.decoders[0].state_dict())
        p = next(self.parameters())
        return net.to(device=p.device, dtype=p.dtype).train(self.training)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, num_scales={self.num_scales}, levels={self.levels}, "
            f"channels={self.channels}, proj_dim={self.proj_dim}, "
            f"bottleneck_unit={self.bottleneck_unit}"
        )

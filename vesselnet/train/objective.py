"""The training objective of each preset: network output + batch -> (loss, terms).

- ``binary``: Dice + weighted cross-entropy of the single sigmoid output against ``y``
  (``batch["vessel"]``);
- ``multiclass``: Dice + weighted cross-entropy of the S + 1 softmax outputs against the class
  ids ``0`` (background) and ``s`` for voxels of scale ``s`` (from ``batch["scales"]``);
- ``multitask``: Eq. 9 (:class:`vesselnet.losses.TotalLoss`): Eq. 5 over ``D_0 .. D_S`` plus
  ``lambda_c`` times the scale-supervised contrastive loss (``lambda_c = 0``: exactly Eq. 5).

Batches follow the data layer's contract: ``image`` (B, 1, D, H, W), ``vessel``
(B, 1, D, H, W), ``scales`` (B, S, D, H, W), ``case_id`` (list of B str).

The objective's state (the contrastive loss's voxel-sampling generator and memory bank) is in
its ``state_dict`` and goes into checkpoints.
"""
from __future__ import annotations

import torch
from torch import nn

from vesselnet.losses import DiceCELoss, TotalLoss

__all__ = ["Objective", "scale_class_ids", "missing_scales", "hard_dice"]


def scale_class_ids(scales: torch.Tensor) -> torch.Tensor:
    """Class ids of the multi-class baseline: 0 = background, s = scale s (1 = smallest).

    Parameters
    ----------
    scales : Tensor (B, S, D, H, W)
        A partition of the vessel mask in {0, 1}.

    Returns
    -------
    Tensor (B, 1, D, H, W), int64
    """
    s = scales.shape[1]
    weights = torch.arange(1, s + 1, device=scales.device, dtype=torch.float32).view(1, s, 1, 1, 1)
    return (scales.float() > 0).float().mul(weights).amax(dim=1, keepdim=True).long()


def missing_scales(batch: dict) -> list[tuple[str, tuple[int, ...]]]:
    """Cases of a batch that lack at least one scale, with the missing scales (1-based).

    Parameters
    ----------
    batch : dict
        With ``scales`` (B, S, D, H, W) and ``case_id`` (list of B str).

    Returns
    -------
    list of (case_id, scales)
        Empty when every case holds every scale.
    """
    present = batch["scales"].flatten(2).amax(dim=2) > 0  # (B, S)
    present = present.cpu()
    out = []
    for b, case in enumerate(batch["case_id"]):
        lacking = tuple(int(s) + 1 for s in torch.nonzero(~present[b]).flatten().tolist())
        if lacking:
            out.append((str(case), lacking))
    return out


@torch.no_grad()
def hard_dice(main_logits: torch.Tensor, vessel: torch.Tensor) -> float:
    """Dice of the thresholded main output against ``vessel`` over the whole batch.

    One channel: ``logit > 0`` (probability > 0.5); several: ``argmax > 0`` (any scale).
    """
    if main_logits.shape[1] == 1:
        pred = main_logits > 0
    else:
        pred = main_logits.argmax(dim=1, keepdim=True) > 0
    gt = vessel > 0.5
    inter = (pred & gt).sum().item()
    total = pred.sum().item() + gt.sum().item()
    return 1.0 if total == 0 else 2.0 * inter / total


class Objective(nn.Module):
    """Loss of one preset kind (module docstring).

    Parameters
    ----------
    kind : {"binary", "multiclass", "multitask"}
    num_scales : int
        S.
    loss : vesselnet.train.config.LossConfig
        Weights and options.
    seed : int
        Seed of the contrastive loss's voxel-sampling generator.
    embedding_dim : int
        Dimension of the projected embeddings (``model.proj_dim``; sizes the memory bank).

    ``forward(output, batch) -> (loss, terms)``: scalar loss and a dict of detached scalar
    terms (``"total"`` always; ``"mt"``, ``"s1".."sS"``, ``"contrastive"`` for multitask).
    """

    def __init__(self, kind: str, num_scales: int, loss, seed: int = 0, embedding_dim: int = 64) -> None:
        super().__init__()
        self.kind = kind
        self.num_scales = num_scales
        opts = loss.dice_ce_options()
        if kind == "multitask":
            self.criterion: nn.Module = TotalLoss(
                num_scales, loss.lambdas, loss.lambda_c, loss.tau, mode=loss.contrastive_mode,
                num_samples=loss.num_samples, bank_size=loss.bank_size,
                embedding_dim=embedding_dim if loss.bank_size else None, seed=seed,
                empty=loss.empty, cldice_weight=loss.cldice_weight,
                cldice_iterations=loss.cldice_iterations, **opts,
            )
        else:
            self.criterion = DiceCELoss(**opts)
        self.uses_contrastive = kind == "multitask" and loss.lambda_c > 0

    def forward(self, output, batch: dict):
        """(loss, terms) of a network output on a batch (class docstring)."""
        if self.kind == "multitask":
            return self.criterion(output, batch["vessel"], batch["scales"], return_terms=True)
        target = batch["vessel"] if self.kind == "binary" else scale_class_ids(batch["scales"])
        loss = self.criterion(output, target)
        return loss, {"total": loss.detach()}

    def main_logits(self, output) -> torch.Tensor:
        """The main-task logits of a network output."""
        return output[0] if self.kind == "multitask" else output

"""Losses of vesselnet, each a plain function beside its ``nn.Module``; tensors (B, C, D, H, W).

- :mod:`~vesselnet.losses.dice_ce` - Dice + weighted cross-entropy (L_mt, L_s of Eq. 5)
- :mod:`~vesselnet.losses.multitask` - multi-task loss, Eq. 5
- :mod:`~vesselnet.losses.contrastive` - scale-supervised contrastive loss, Eq. 7-8
- :mod:`~vesselnet.losses.scale_embeddings` - its vectors: pooled or voxel-sampled per scale mask
- :mod:`~vesselnet.losses.bank` - its memory bank of past embeddings
- :mod:`~vesselnet.losses.total` - total loss, Eq. 9
- :mod:`~vesselnet.losses.cldice` - soft-clDice topology term (Shit et al. 2021), optional
"""
from vesselnet.losses.cldice import SoftClDiceLoss, soft_cldice_loss, soft_skeleton
from vesselnet.losses.contrastive import (
    MemoryBank,
    ScaleContrastiveLoss,
    pooled_scale_embeddings,
    sampled_scale_embeddings,
    scale_contrastive_loss,
    supervised_contrastive_loss,
)
from vesselnet.losses.dice_ce import (
    DiceCELoss,
    DiceLoss,
    WeightedCrossEntropyLoss,
    dice_ce_loss,
    dice_loss,
    weighted_cross_entropy,
)
from vesselnet.losses.multitask import PAPER_LAMBDAS, MultiTaskLoss, multitask_loss
from vesselnet.losses.total import PAPER_LAMBDA_C, PAPER_TAU, TotalLoss, total_loss

__all__ = [
    "dice_loss", "DiceLoss", "weighted_cross_entropy", "WeightedCrossEntropyLoss",
    "dice_ce_loss", "DiceCELoss", "multitask_loss", "MultiTaskLoss",
    "supervised_contrastive_loss", "pooled_scale_embeddings", "sampled_scale_embeddings",
    "scale_contrastive_loss", "ScaleContrastiveLoss", "MemoryBank",
    "total_loss", "TotalLoss", "soft_cldice_loss", "SoftClDiceLoss", "soft_skeleton",
    "PAPER_LAMBDAS", "PAPER_LAMBDA_C", "PAPER_TAU",
]

"""Validation during training: whole prepared volumes, main task only, paper metrics.

Each validation case goes through the network in eval mode (``E`` and ``D_0`` only for the
multi-task net), padded up to a multiple of ``2**depth`` and cropped back; the main output is
thresholded (sigmoid > 0.5, or argmax > 0 for the multi-class net) and compared with the
vessel mask by :mod:`vesselnet.metrics`: DSC, clDice and the Hausdorff distance in mm with the
case's ``spacing`` (or a percentile of it, ``run.hd_percentile``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["pad_to_multiple", "validate"]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """Zero-pad (B, C, D, H, W) at the far end of each spatial axis up to a multiple.

    Returns
    -------
    padded : Tensor
    size : (D, H, W)
        The original spatial size (to crop back).
    """
    size = tuple(int(s) for s in x.shape[2:])
    pad = [(-s) % multiple for s in size]
    if any(pad):
        x = F.pad(x, (0, pad[2], 0, pad[1], 0, pad[0]))
    return x, size


def _prediction(logits: torch.Tensor) -> np.ndarray:
    if logits.shape[1] == 1:
        pred = logits[0, 0] > 0
    else:
        pred = logits[0].argmax(dim=0) > 0
    return pred.cpu().numpy()


@torch.no_grad()
def validate(model, loader, *, device, depth: int, autocast_dtype=None,
             hd_percentile: float | None = None) -> tuple[dict, list[dict]]:
    """Metrics of ``model`` on every case of ``loader`` (batches of one case).

    Parameters
    ----------
    model : torch.nn.Module
        Unwrapped network (not DDP); put in eval mode here and back in training mode after.
    loader : iterable of batch dicts
        ``image`` (1, 1, D, H, W), ``vessel`` (1, 1, D, H, W), ``spacing`` (1, 3), ``case_id``.
    device : torch.device
    depth : int
        Poolings of the network (inputs padded to a multiple of ``2**depth``).
    autocast_dtype : torch.dtype, optional
        Mixed precision of the forward pass.
    hd_percentile : float, optional
        None: Hausdorff distance; a value: that percentile (95: HD95).

    Returns
    -------
    means : dict
        ``val_dsc``, ``val_cldice``, ``val_hd_mm`` (NaN-ignoring means), ``val_cases``.
    per_case : list of dict
        ``case_id``, ``dsc``, ``cldice``, ``hd_mm``.
    """
    from vesselnet.metrics import compute_cldice, compute_dice, compute_hausdorff

    was_training = model.training
    model.eval()
    rows = []
    try:
        for batch in loader:
            for b in range(int(batch["image"].shape[0])):
                x, size = pad_to_multiple(batch["image"][b : b + 1].to(device), 2**depth)
                with torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                    enabled=autocast_dtype is not None):
                    logits = model(x)
                logits = logits[..., : size[0], : size[1], : size[2]].float()
                pred = _prediction(logits)
                gt = (batch["vessel"][b, 0] > 0.5).cpu().numpy()
                spacing = tuple(float(s) for s in batch["spacing"][b].tolist())
                rows.append({
                    "case_id": str(batch["case_id"][b]),
                    "dsc": compute_dice(pred, gt),
                    "cldice": compute_cldice(pred, gt),
                    "hd_mm": compute_hausdorff(pred, gt, spacing, percentile=hd_percentile),
                })
    finally:
        model.train(was_training)
    means = {"val_cases": len(rows)}
    for key in ("dsc", "cldice", "hd_mm"):
        vals = [r[key] for r in rows if not math.isnan(r[key])]
        means[f"val_{key}"] = float(np.mean(vals)) if vals else float("nan")
    return means, rows

"""Vectors for the contrastive loss: taken per scale from the projected maps z^s (Eq. 6).

Each auxiliary decoder s = 1..S of the multi-task network yields a projected map
(B, dim, d, h, w) (Sadikine et al., ISBI 2023, Eq. 6); :mod:`vesselnet.losses.contrastive`
(Eq. 7-8) compares vectors taken from these maps, labelled by their scale s. Two modes:

- ``"pooled"`` (the paper's reading, :func:`pooled_scale_embeddings`): one vector per sample
  and scale, the average of the projected map over the voxels where that scale's mask is
  set (masks reduced to the embedding resolution by max-pooling: a coarse voxel counts if
  any of its fine voxels is set). If the mask of a sample is empty at that scale, the map
  is averaged globally (``empty="global"``, default) or the pair is dropped
  (``empty="skip"``). The pooled vector is then l2-normalised. N = B * S vectors (fewer
  with "skip").
- ``"voxel"`` (:func:`sampled_scale_embeddings`): for each sample and scale, up to K =
  ``num_samples`` voxels drawn uniformly without replacement (``torch.randperm`` with the
  given ``torch.Generator``) among the voxels where the reduced mask is set; all of them if
  fewer. Empty masks contribute nothing.

Scale masks: a sequence of S tensors (B, 1, D, H, W) (the auxiliary targets y^s) or one
(B, S, D, H, W) tensor, values in [0, 1] (> 0 counts as set), at the embedding resolution or
an integer multiple of it per axis.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from vesselnet._validation import (
    check_choice,
    check_finite,
    check_nonnegative_int,
    check_unit_interval,
    check_volume,
    describe,
)

__all__ = ["pooled_scale_embeddings", "sampled_scale_embeddings", "scale_vectors", "check_maps"]


def _as_mask_list(scale_masks, num_scales: int, name: str = "scale_masks") -> list[torch.Tensor]:
    """The S masks as a list of checked (B, 1, D, H, W) tensors with values in [0, 1]."""
    if isinstance(scale_masks, torch.Tensor):
        check_volume(scale_masks, name, channels=num_scales, floating=False)
        masks = [scale_masks[:, s : s + 1] for s in range(num_scales)]
    elif isinstance(scale_masks, Sequence) and not isinstance(scale_masks, str):
        if len(scale_masks) != num_scales:
            raise ValueError(
                f"{name}: expected {num_scales} masks (one per scale), got {len(scale_masks)}"
            )
        masks = [
            check_volume(m, f"{name}[{s}]", channels=1, floating=False)
            for s, m in enumerate(scale_masks)
        ]
    else:
        raise TypeError(
            f"{name}: expected a (B, S, D, H, W) tensor or a sequence of S (B, 1, D, H, W) tensors, "
            f"got {describe(scale_masks)}"
        )
    for s, m in enumerate(masks):
        check_unit_interval(m, f"{name}[{s}]")
    return masks


def check_maps(embeddings, name: str = "embeddings") -> list[torch.Tensor]:
    """The S projected maps, checked: finite (B, dim, d, h, w) tensors of one shape.

    Half-precision maps (AMP) are returned in float32. Raises TypeError / ValueError
    naming ``name`` (or ``name[s]``).
    """
    if isinstance(embeddings, torch.Tensor) or not isinstance(embeddings, Sequence) or not embeddings:
        raise TypeError(
            f"{name}: expected a non-empty sequence of S tensors (B, dim, d, h, w), got "
            f"{describe(embeddings)}"
        )
    maps = [
        check_finite(check_volume(e, f"{name}[{s}]"), f"{name}[{s}]")
        for s, e in enumerate(embeddings)
    ]
    # AMP: pool and compare in float32 at least (float64 stays float64)
    maps = [e.float() if e.dtype in (torch.float16, torch.bfloat16) else e for e in maps]
    for s, e in enumerate(maps[1:], start=1):
        if e.shape != maps[0].shape:
            raise ValueError(
                f"{name}[{s}]: expected the shape of {name}[0] {tuple(maps[0].shape)}, got "
                f"{tuple(e.shape)}"
            )
    return maps


def _reduce_mask(mask: torch.Tensor, size: Sequence[int], name: str) -> torch.Tensor:
    """(B, 1, D, H, W) mask in [0, 1] -> (B, 1, d, h, w) float {0, 1} by max-pooling of (> 0)."""
    m = (mask > 0).to(torch.float32)
    full = tuple(mask.shape[2:])
    if full == tuple(size):
        return m
    if any(f % s for f, s in zip(full, size)) or any(f < s for f, s in zip(full, size)):
        raise ValueError(
            f"{name}: spatial size {full} must be an integer multiple of the embedding size "
            f"{tuple(size)} along every axis"
        )
    k = tuple(f // s for f, s in zip(full, size))
    return F.max_pool3d(m, kernel_size=k, stride=k)


def _prepare(embeddings, scale_masks) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Checked maps and their masks reduced to the maps' resolution (one per scale)."""
    maps = check_maps(embeddings)
    masks = _as_mask_list(scale_masks, len(maps))
    B = maps[0].shape[0]
    out = []
    for s, m in enumerate(masks):
        if m.shape[0] != B:
            raise ValueError(f"scale_masks[{s}]: expected batch size {B}, got {describe(m)}")
        out.append(_reduce_mask(m.to(maps[0].device), maps[0].shape[2:], f"scale_masks[{s}]"))
    return maps, out


def pooled_scale_embeddings(
    embeddings: Sequence[torch.Tensor], scale_masks, *, empty: str = "global"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled mode: one l2-normalised vector per (sample, scale).

    Parameters
    ----------
    embeddings : sequence of S tensors (B, dim, d, h, w)
        Projected maps, scale 1 first.
    scale_masks : sequence of S tensors (B, 1, D, H, W) or tensor (B, S, D, H, W)
        Masks y^s in [0, 1] (> 0 counts as set), at the embedding resolution or an integer
        multiple of it per axis.
    empty : {"global", "skip"}
        What to do with an empty mask: global average pooling, or drop that (sample, scale).

    Returns
    -------
    vectors : Tensor (N, dim)
        Ordered scale-major: all samples of scale 1, then scale 2, ...
    labels : Tensor (N,)
        Scale labels 1..S (int64).

    Raises
    ------
    TypeError, ValueError
        Naming ``embeddings``, ``scale_masks`` or ``empty``.
    """
    check_choice(empty, "empty", ("global", "skip"))
    maps, masks = _prepare(embeddings, scale_masks)
    vecs, labs = [], []
    for s, (z, m) in enumerate(zip(maps, masks), start=1):
        m = m.to(z.dtype)
        count = m.sum(dim=(2, 3, 4))  # (B, 1)
        masked = (z * m).sum(dim=(2, 3, 4)) / count.clamp_min(1.0)
        has = count[:, 0] > 0
        if empty == "global":
            v = torch.where(has[:, None], masked, z.mean(dim=(2, 3, 4)))
        else:
            v = masked[has]
        vecs.append(F.normalize(v, dim=1))
        labs.append(torch.full((v.shape[0],), s, dtype=torch.long, device=z.device))
    return torch.cat(vecs, 0), torch.cat(labs, 0)


def sampled_scale_embeddings(
    embeddings: Sequence[torch.Tensor],
    scale_masks,
    *,
    num_samples: int = 64,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Voxel mode: up to ``num_samples`` voxel vectors per (sample, scale) where the mask is set.

    The voxel choice is made on the CPU with ``generator`` (a CPU ``torch.Generator``; the
    global RNG when None), so a seeded generator gives the same voxels on any device.

    Parameters
    ----------
    embeddings : sequence of S tensors (B, dim, d, h, w)
        Projected maps, scale 1 first.
    scale_masks : sequence of S tensors (B, 1, D, H, W) or tensor (B, S, D, H, W)
        Masks y^s in [0, 1] (> 0 counts as set), at the embedding resolution or an integer
        multiple of it per axis.
    num_samples : int >= 1, default 64
        K, the most voxels drawn per (sample, scale); all of them when fewer are set.
    generator : torch.Generator, optional
        CPU generator of the draw; the global RNG when None.

    Returns
    -------
    vectors : Tensor (N, dim)
        l2-normalised; scale 1 first, within a scale sample 0 first, voxels in draw order.
        N = 0 when every mask is empty.
    labels : Tensor (N,)
        Scale labels 1..S (int64).

    Raises
    ------
    TypeError, ValueError
        Naming ``embeddings``, ``scale_masks``, ``num_samples`` or ``generator``.
    """
    k = check_nonnegative_int(num_samples, "num_samples", minimum=1)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {describe(generator)}")
    maps, masks = _prepare(embeddings, scale_masks)
    vecs, labs = [], []
    for s, (z, m) in enumerate(zip(maps, masks), start=1):
        flat_mask = m.flatten(1).cpu() > 0  # (B, d*h*w)
        for b in range(z.shape[0]):
            idx = torch.nonzero(flat_mask[b], as_tuple=False)[:, 0]
            if idx.numel() == 0:
                continue
            if idx.numel() > k:
                idx = idx[torch.randperm(idx.numel(), generator=generator)[:k]]
            v = z[b].flatten(1)[:, idx.to(z.device)].T  # (n, dim)
            vecs.append(F.normalize(v, dim=1))
            labs.append(torch.full((v.shape[0],), s, dtype=torch.long, device=z.device))
    if not vecs:
        dim = maps[0].shape[1]
        return maps[0].new_zeros((0, dim)) + maps[0].sum() * 0.0, torch.zeros(
            0, dtype=torch.long, device=maps[0].device
        )
    return torch.cat(vecs, 0), torch.cat(labs, 0)


def scale_vectors(embeddings, scale_masks, mode: str, num_samples: int,
                  generator: torch.Generator | None, empty: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectors and scale labels of the maps by ``mode``.

    ``"pooled"``: :func:`pooled_scale_embeddings` (with ``empty``); ``"voxel"``:
    :func:`sampled_scale_embeddings` (with ``num_samples`` and ``generator``).
    """
    if mode == "pooled":
        return pooled_scale_embeddings(embeddings, scale_masks, empty=empty)
    return sampled_scale_embeddings(embeddings, scale_masks, num_samples=num_samples, generator=generator)

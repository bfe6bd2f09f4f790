"""Scale-supervised contrastive loss L_c, Eq. 7-8 of Sadikine et al. (ISBI 2023, Sect. 2.3).

Each auxiliary decoder s = 1..S yields projected embeddings z^s (Eq. 6); embeddings of the
same scale are positives, of other scales negatives::

    L_c    = 1/|A| sum_{i in A} 1/|P_i| sum_{j in P_i} l_ij                         (Eq. 7)
    l_ij   = -log( exp(z_i.z_j/tau) / (exp(z_i.z_j/tau) + sum_{k in N_i} exp(z_i.z_k/tau)) )
                                                                                 (Eq. 8)

:func:`supervised_contrastive_loss` is Eq. 7-8 over vectors; :func:`scale_contrastive_loss`
and its module form :class:`ScaleContrastiveLoss` take the S projected maps and the scale
masks, and get the vectors from :mod:`vesselnet.losses.scale_embeddings` (``mode="pooled"``,
the paper's reading, or ``"voxel"``).

Conventions of this implementation (all tested against a brute-force NumPy evaluation):

- Every embedding is l2-normalised before use (Eq. 8 assumes unit vectors; re-normalising
  the projection head's output is a no-op up to rounding).
- ``P_i`` = all *other* embeddings with the same scale label (never i itself); ``N_i`` = all
  embeddings with a different label. Note that, as written in Eq. 8, the denominator holds
  the one positive j and the negatives only (not the other positives, unlike SupCon).
- Anchors without positives are *excluded* from A (their 1/|P_i| is undefined). If no anchor
  has a positive (e.g. batch of 1 in pooled mode and an empty bank) the loss is 0 (a zero that
  is still connected to the graph). An anchor without negatives has l_ij = 0. Pooled mode
  with a batch of 1 and no memory bank is always in that case (one vector per scale): a
  ``UserWarning`` says so, once per process for :func:`scale_contrastive_loss` and once per
  :class:`ScaleContrastiveLoss` object, suggesting ``bank_size > 0`` or ``mode="voxel"``.
- Memory bank (:class:`~vesselnet.losses.bank.MemoryBank`): entries (detached embeddings of
  past batches, per scale, FIFO) join P_i and N_i as extra positives/negatives but are never
  anchors, so A is the current batch only.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vesselnet._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive,
    check_tensor,
    describe,
)
from vesselnet.losses.bank import MemoryBank
from vesselnet.losses.scale_embeddings import (
    check_maps,
    pooled_scale_embeddings,
    sampled_scale_embeddings,
    scale_vectors,
)

__all__ = [
    "PAPER_TAU",
    "supervised_contrastive_loss",
    "pooled_scale_embeddings",
    "sampled_scale_embeddings",
    "scale_contrastive_loss",
    "MemoryBank",
    "ScaleContrastiveLoss",
]


#: Temperature tau of Eq. 8 found by the paper's Optuna search (Sect. 3.2).
PAPER_TAU = 0.94

_BATCH_ONE_MESSAGE = (
    "{where}: pooled mode with batch size 1 and no memory bank gives L_c = 0 with a zero "
    "gradient (one vector per scale, so no anchor has a positive). Use a memory bank "
    "({fix}) or mode=\"voxel\"."
)
_warned_batch_one = False  # the functional form warns once per process


def _pooled_batch_of_one(mode: str, maps: Sequence[torch.Tensor]) -> bool:
    """True when L_c is always 0 without a bank: pooled mode and a batch of 1."""
    return mode == "pooled" and int(maps[0].shape[0]) == 1


def _warn_batch_of_one(where: str, fix: str, stacklevel: int) -> None:
    """The ``UserWarning`` of a pooled batch of 1 without a bank; ``stacklevel`` counts from
    the caller of this helper (as for :func:`warnings.warn` called there)."""
    warnings.warn(
        _BATCH_ONE_MESSAGE.format(where=where, fix=fix), UserWarning, stacklevel=stacklevel + 1
    )


def _check_vectors(embeddings, labels, tau) -> float:
    """Check the arguments of :func:`supervised_contrastive_loss`; return ``tau`` as float."""
    check_tensor(embeddings, "embeddings", ndim=2, floating=True)
    check_tensor(labels, "labels", ndim=1)
    tau = check_positive(tau, "tau")
    if labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"labels: expected {embeddings.shape[0]} labels (one per embedding), got {describe(labels)}"
        )
    if labels.is_floating_point():
        raise TypeError(f"labels: expected integer scale labels, got {describe(labels)}")
    return tau


def _keys_with_bank(z, lab, bank_embeddings, bank_labels) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys (N + M, dim) and their labels: the batch ``z``, then the checked, detached and
    l2-normalised bank entries (M = 0 without a bank)."""
    if (bank_embeddings is None) != (bank_labels is None):
        raise ValueError("bank_labels: give both bank_embeddings and bank_labels, or neither")
    if bank_embeddings is None or bank_embeddings.shape[0] == 0:
        return z, lab
    check_tensor(bank_embeddings, "bank_embeddings", ndim=2, floating=True)
    check_tensor(bank_labels, "bank_labels", ndim=1)
    if bank_embeddings.shape[1] != z.shape[1]:
        raise ValueError(
            f"bank_embeddings: expected dimension {z.shape[1]}, got {describe(bank_embeddings)}"
        )
    if bank_labels.shape[0] != bank_embeddings.shape[0]:
        raise ValueError(
            f"bank_labels: expected {bank_embeddings.shape[0]} labels, got {describe(bank_labels)}"
        )
    zb = F.normalize(bank_embeddings.detach().to(device=z.device, dtype=z.dtype), dim=1)
    keys = torch.cat([z, zb], dim=0)
    return keys, torch.cat([lab, bank_labels.to(device=z.device, dtype=torch.long)])


def supervised_contrastive_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    tau: float = PAPER_TAU,
    *,
    bank_embeddings: torch.Tensor | None = None,
    bank_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 7-8 over vectors: embeddings (N, dim) with integer labels (N,) (the scale s).

    Parameters
    ----------
    embeddings : Tensor, shape (N, dim)
        Floating-point vectors; l2-normalised here before use.
    labels : Tensor, shape (N,)
        Integer labels (the scale s); equal labels are positives, different ones negatives.
    tau : float > 0, default PAPER_TAU
        Temperature of Eq. 8 (:data:`PAPER_TAU`, the paper's value).
    bank_embeddings : Tensor, shape (M, dim), optional
        Extra positives/negatives (a memory bank), never anchors; detached.
    bank_labels : Tensor, shape (M,), optional
        Their integer labels; give both bank arguments or neither.

    Returns
    -------
    Tensor
        Scalar L_c, averaged over the anchors that have at least one positive; 0 (still
        connected to the graph of ``embeddings``) when no anchor has one or N = 0. Computed
        in float32 at least (float64 stays float64).

    Raises
    ------
    TypeError, ValueError
        Naming ``embeddings``, ``labels``, ``tau``, ``bank_embeddings`` or ``bank_labels``
        (wrong type, rank, length or dimension).
    """
    tau = _check_vectors(embeddings, labels, tau)
    dtype = torch.promote_types(embeddings.dtype, torch.float32)
    z = F.normalize(embeddings.to(dtype), dim=1)
    lab = labels.to(device=z.device, dtype=torch.long)
    n = z.shape[0]
    keys, key_lab = _keys_with_bank(z, lab, bank_embeddings, bank_labels)
    if n == 0:
        return embeddings.sum() * 0.0
    # autocast would run the matmul in half precision: keep the similarities in `dtype`
    with torch.autocast(device_type=z.device.type, enabled=False):
        sim = (z @ keys.T) / tau  # (N, N + M)
    same = lab[:, None] == key_lab[None, :]
    not_self = torch.ones_like(same)
    not_self[:, :n].fill_diagonal_(False)
    pos = same & not_self
    neg = ~same
    floor = torch.finfo(dtype).min
    neg_lse = torch.logsumexp(sim.masked_fill(~neg, floor), dim=1, keepdim=True)
    # l_ij = -s_ij + log(exp(s_ij) + sum_k exp(s_ik)); rows without negatives: neg_lse ~ floor
    l = torch.logaddexp(sim, neg_lse) - sim
    n_pos = pos.sum(dim=1)
    anchors = n_pos > 0
    if not bool(anchors.any()):
        return embeddings.sum() * 0.0
    per_anchor = torch.where(pos, l, torch.zeros_like(l)).sum(dim=1) / n_pos.clamp_min(1)
    return per_anchor[anchors].mean()


def _own_generator(generator, seed) -> torch.Generator:
    """``generator`` itself, or a new CPU generator seeded with ``seed`` (default 0)."""
    if generator is None:
        seed = check_nonnegative_int(0 if seed is None else seed, "seed")
        return torch.Generator().manual_seed(seed)
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise TypeError(
            f"generator: expected a CPU torch.Generator or None, got {describe(generator)}"
        )
    if seed is not None:
        raise ValueError("seed: give a seed or a generator, not both")
    return generator


def _own_bank(bank, bank_size: int, embedding_dim, num_scales: int) -> MemoryBank | None:
    """``bank`` itself, a new :class:`MemoryBank` of ``bank_size`` entries, or None."""
    if bank is not None:
        if not isinstance(bank, MemoryBank):
            raise TypeError(f"bank: expected a MemoryBank or None, got {describe(bank)}")
        if bank_size:
            raise ValueError("bank_size: give a bank or a bank_size, not both")
        if bank.num_scales != num_scales:
            raise ValueError(f"bank: expected a bank of {num_scales} scales, got {bank.num_scales}")
        return bank
    if not bank_size:
        return None
    if embedding_dim is None:
        raise ValueError("embedding_dim: required when bank_size > 0, got None")
    return MemoryBank(num_scales, bank_size, embedding_dim)


def _loss_with_bank(vecs, labs, tau, bank: MemoryBank | None) -> torch.Tensor:
    """:func:`supervised_contrastive_loss` of the batch, against the bank's content when it
    holds any."""
    if bank is not None and len(bank) > 0:
        be, bl = bank.get()
        return supervised_contrastive_loss(vecs, labs, tau, bank_embeddings=be, bank_labels=bl)
    return supervised_contrastive_loss(vecs, labs, tau)


def scale_contrastive_loss(
    embeddings: Sequence[torch.Tensor],
    scale_masks,
    tau: float = PAPER_TAU,
    *,
    mode: str = "pooled",
    num_samples: int = 64,
    generator: torch.Generator | None = None,
    empty: str = "global",
    bank: MemoryBank | None = None,
) -> torch.Tensor:
    """L_c (Eq. 7-8) of S projected maps (B, dim, d, h, w) against the scale masks.

    Parameters
    ----------
    embeddings : sequence of S tensors (B, dim, d, h, w)
        Projected maps z^s (Eq. 6), scale 1 first.
    scale_masks : sequence of S tensors (B, 1, D, H, W) or tensor (B, S, D, H, W)
        Masks y^s in [0, 1], at the embedding resolution or an integer multiple of it.
    tau : float > 0, default PAPER_TAU
        Temperature (:data:`PAPER_TAU`, the paper's value).
    mode : {"pooled", "voxel"}
        How vectors are taken from the maps (:mod:`vesselnet.losses.scale_embeddings`).
    num_samples : int >= 1, default 64
        Voxel mode: K voxels per (sample, scale).
    generator : torch.Generator, optional
        Voxel mode: CPU generator of the draw.
    empty : {"global", "skip"}
        Pooled mode: empty-mask handling.
    bank : MemoryBank, optional
        Read, not updated (:class:`ScaleContrastiveLoss` pushes the batch after computing
        the loss).

    Returns
    -------
    Tensor
        Scalar L_c (see :func:`supervised_contrastive_loss`).

    Warns
    -----
    UserWarning
        Once per process, in pooled mode with batch size 1 and ``bank=None``: the loss is
        then always 0 (no anchor has a positive); use a bank or ``mode="voxel"``.

    Raises
    ------
    TypeError, ValueError
        Naming the offending argument.
    """
    global _warned_batch_one
    check_choice(mode, "mode", ("pooled", "voxel"))
    tau = check_positive(tau, "tau")
    if bank is None and not _warned_batch_one and _pooled_batch_of_one(mode, check_maps(embeddings)):
        _warned_batch_one = True
        _warn_batch_of_one(
            "scale_contrastive_loss",
            "bank=MemoryBank(...), or bank_size > 0 in ScaleContrastiveLoss / TotalLoss",
            stacklevel=2,
        )
    vecs, labs = scale_vectors(embeddings, scale_masks, mode, num_samples, generator, empty)
    if bank is not None and len(bank) > 0 and bank.num_scales != len(embeddings):
        raise ValueError(f"bank: expected a bank of {len(embeddings)} scales, got {bank.num_scales}")
    return _loss_with_bank(vecs, labs, tau, bank)


class ScaleContrastiveLoss(nn.Module):
    """Module form of :func:`scale_contrastive_loss` holding its generator and optional bank.

    The function form takes the state objects (``generator``, ``bank``); this module owns
    them under the same names (:attr:`generator`, :attr:`bank`), built from ``seed`` and
    ``bank_size`` unless given. The generator's state is part of :meth:`state_dict` (as
    ``_extra_state``), so a checkpointed run resumes with the same voxel draws.

    Parameters
    ----------
    num_scales : int
        S.
    tau : float
        Temperature (> 0); default :data:`PAPER_TAU`, the paper's value.
    mode : {"pooled", "voxel"}
        How vectors are taken from the maps (:mod:`vesselnet.losses.scale_embeddings`).
    num_samples : int
        K voxels per sample and scale in voxel mode.
    bank_size : int
        Entries per scale of a new memory bank (0: no bank). Needs ``embedding_dim``.
    embedding_dim : int or None
        Dimension of the embeddings (the projection heads' ``proj_dim``).
    seed : int, default 0
        Seed of a new CPU generator used for voxel sampling.
    empty : {"global", "skip"}
        Pooled mode: empty-mask handling.
    generator : torch.Generator, optional
        Use this CPU generator instead of a new one seeded with ``seed`` (give one of the two).
    bank : MemoryBank, optional
        Use this bank instead of a new one of ``bank_size`` (give one of the two).

    In training mode, ``forward`` pushes the current (detached) vectors into the bank after
    computing the loss with the bank's previous content; in eval mode the bank is read only.
    In pooled mode without a bank (``bank_size=0``), a batch of 1 always gives L_c = 0: the
    first such call of each object emits a ``UserWarning``.
    """

    def __init__(
        self,
        num_scales: int = 3,
        tau: float = PAPER_TAU,
        *,
        mode: str = "pooled",
        num_samples: int = 64,
        bank_size: int = 0,
        embedding_dim: int | None = None,
        seed: int | None = None,
        empty: str = "global",
        generator: torch.Generator | None = None,
        bank: MemoryBank | None = None,
    ) -> None:
        super().__init__()
        self.num_scales = check_nonnegative_int(num_scales, "num_scales", minimum=1)
        self.tau = check_positive(tau, "tau")
        self.mode = check_choice(mode, "mode", ("pooled", "voxel"))
        self.num_samples = check_nonnegative_int(num_samples, "num_samples", minimum=1)
        self.empty = check_choice(empty, "empty", ("global", "skip"))
        bank_size = check_nonnegative_int(bank_size, "bank_size")
        self.generator = _own_generator(generator, seed)
        self.seed = None if seed is None and generator is not None else int(seed or 0)
        self.bank: MemoryBank | None = _own_bank(bank, bank_size, embedding_dim, self.num_scales)
        self._warned_batch_one = False

    def get_extra_state(self) -> dict:
        """The voxel-sampling generator's state (a uint8 tensor), saved in :meth:`state_dict`."""
        return {"generator_state": self.generator.get_state()}

    def set_extra_state(self, state) -> None:
        """Restore the generator's state saved by :meth:`get_extra_state`."""
        if not (isinstance(state, dict) and isinstance(state.get("generator_state"), torch.Tensor)):
            raise ValueError(
                f"state: expected {{'generator_state': uint8 tensor}} of a ScaleContrastiveLoss, "
                f"got {describe(state)}"
            )
        self.generator.set_state(state["generator_state"])

    def forward(self, embeddings: Sequence[torch.Tensor], scale_masks) -> torch.Tensor:
        """L_c of S maps against the scale masks (module docstring).

        Parameters
        ----------
        embeddings : sequence of S tensors (B, dim, d, h, w)
            Projected maps, scale 1 first; S must equal ``num_scales``.
        scale_masks : sequence of S tensors (B, 1, D, H, W) or tensor (B, S, D, H, W)
            Masks y^s in [0, 1].

        Returns
        -------
        Tensor
            Scalar L_c.

        Warns
        -----
        UserWarning
            Once per object: pooled mode, batch size 1 and no bank (L_c is then 0).
        """
        maps = check_maps(embeddings)
        if len(maps) != self.num_scales:
            raise ValueError(
                f"embeddings: expected {self.num_scales} maps (num_scales), got {len(maps)}"
            )
        if self.bank is None and not self._warned_batch_one and _pooled_batch_of_one(self.mode, maps):
            self._warned_batch_one = True
            # stacklevel 4: past nn.Module.__call__ (two frames), the caller's line
            _warn_batch_of_one(type(self).__name__, "bank_size > 0 with embedding_dim", stacklevel=4)
        vecs, labs = scale_vectors(
            embeddings, scale_masks, self.mode, self.num_samples, self.generator, self.empty
        )
        loss = _loss_with_bank(vecs, labs, self.tau, self.bank)
        if self.bank is not None and self.training:
            self.bank.push(vecs.detach(), labs)
        return loss

    def extra_repr(self) -> str:
        size = 0 if self.bank is None else self.bank.size
        return f"num_scales={self.num_scales}, tau={self.tau}, mode={self.mode!r}, bank_size={size}"

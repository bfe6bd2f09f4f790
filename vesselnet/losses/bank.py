"""Memory bank of past embeddings for the contrastive loss (Sect. 5 of the paper: future work).

:class:`MemoryBank` is used by :mod:`vesselnet.losses.contrastive` (also importable from there).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vesselnet._validation import check_nonnegative_int, check_tensor, describe

__all__ = ["MemoryBank"]


class MemoryBank(nn.Module):
    """FIFO memory of past (detached) embeddings, ``size`` per scale (Sect. 5 future work).

    Stored as buffers (they follow ``.to(device)`` and ``state_dict``): ``queue``
    (S, size, dim), ``count`` (S,) filled entries, ``ptr`` (S,) next write position.

    Parameters
    ----------
    num_scales : int >= 1
        S, the number of scale labels (1..S).
    size : int >= 1
        Entries kept per scale (the oldest are overwritten first).
    dim : int >= 1
        Dimension of the embeddings.
    """

    def __init__(self, num_scales: int, size: int, dim: int) -> None:
        super().__init__()
        self.num_scales = check_nonnegative_int(num_scales, "num_scales", minimum=1)
        self.size = check_nonnegative_int(size, "size", minimum=1)
        self.dim = check_nonnegative_int(dim, "dim", minimum=1)
        self.register_buffer("queue", torch.zeros(self.num_scales, self.size, self.dim))
        self.register_buffer("count", torch.zeros(self.num_scales, dtype=torch.long))
        self.register_buffer("ptr", torch.zeros(self.num_scales, dtype=torch.long))

    def __len__(self) -> int:
        return int(self.count.sum())

    @torch.no_grad()
    def push(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Append embeddings; the oldest entries of a full scale are overwritten.

        Parameters
        ----------
        embeddings : Tensor, shape (N, dim)
            Floating-point vectors, stored detached and l2-normalised.
        labels : Tensor, shape (N,)
            Scale labels in 1..S.

        Raises
        ------
        TypeError, ValueError
            Naming ``embeddings`` (not 2D float, wrong dim) or ``labels`` (out of 1..S).
        """
        check_tensor(embeddings, "embeddings", ndim=2, floating=True)
        if embeddings.shape[1] != self.dim:
            raise ValueError(f"embeddings: expected dimension {self.dim}, got {describe(embeddings)}")
        lab = labels.to(embeddings.device)
        if bool(((lab < 1) | (lab > self.num_scales)).any()):
            raise ValueError(f"labels: expected scale labels in [1, {self.num_scales}]")
        for s in range(1, self.num_scales + 1):
            e = embeddings[lab == s].detach().to(self.queue.dtype).to(self.queue.device)
            if e.shape[0] == 0:
                continue
            e = e[-self.size :]
            n, p = e.shape[0], int(self.ptr[s - 1])
            pos = (torch.arange(n, device=e.device) + p) % self.size
            self.queue[s - 1, pos] = F.normalize(e, dim=1)
            self.ptr[s - 1] = (p + n) % self.size
            self.count[s - 1] = min(self.size, int(self.count[s - 1]) + n)

    def get(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All filled entries, scale 1 first.

        Returns
        -------
        embeddings : Tensor (M, dim)
            The stored (unit) vectors; M = ``len(self)``.
        labels : Tensor (M,)
            Their scale labels 1..S (int64).
        """
        vecs, labs = [], []
        for s in range(self.num_scales):
            c = int(self.count[s])
            vecs.append(self.queue[s, :c])
            labs.append(torch.full((c,), s + 1, dtype=torch.long, device=self.queue.device))
        return torch.cat(vecs, 0), torch.cat(labs, 0)

    def reset(self) -> None:
        """Empty the bank."""
        self.queue.zero_()
        self.count.zero_()
        self.ptr.zero_()

"""Batches of prepared cases as tensors: :class:`CaseLoader`, :func:`collate`, :func:`to_device`.

A batch is a dict::

    image    float32 (B, 1, D, H, W)   normalised CT
    vessel   float32 (B, 1, D, H, W)   0/1 (None when the cases have no label)
    scales   float32 (B, S, D, H, W)   0/1, a partition of vessel (None without label)
    spacing  float64 (B, 3)            voxel size (mm) of each case, for the metrics in mm
    case_id  list of str
    flags    list of tuple of str      e.g. "empty_vessel": the contrastive term skips it

Order and crops are functions of ``(seed, epoch, position)`` only, so a loader restored from
:meth:`CaseLoader.state_dict` yields exactly the batches the original would have yielded.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from .preprocess import PreparedCase

__all__ = ["CaseLoader", "collate", "to_device"]


def _seed(*parts: int) -> int:
    """A 63-bit seed from non-negative integers (stable across runs and platforms)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


def collate(cases: list[PreparedCase]) -> dict:
    """Stack prepared cases (same spatial shape) into a batch dict (module docstring).

    Raises
    ------
    ValueError
        Empty list, different shapes (use ``patch_size``), some cases with labels and some
        without, different numbers of scales.
    """
    if not cases:
        raise ValueError("cases: expected at least one case, got none")
    shapes = {tuple(c.image.shape) for c in cases}
    if len(shapes) > 1:
        raise ValueError(f"cases: different image shapes {sorted(shapes)} in one batch; prepare "
                         "with target_shape or load with patch_size")
    labelled = {c.vessel is not None for c in cases}
    if len(labelled) > 1:
        raise ValueError("cases: some cases have a vessel label and some do not")
    batch = {
        "image": torch.from_numpy(np.stack([c.image for c in cases]).astype(np.float32, copy=False)),
        "vessel": None, "scales": None,
        "spacing": torch.tensor([list(c.spacing) for c in cases], dtype=torch.float64),
        "case_id": [c.case_id for c in cases],
        "flags": [tuple(c.flags) for c in cases],
    }
    if labelled.pop():
        n = {c.scales.shape[0] for c in cases}
        if len(n) > 1:
            raise ValueError(f"cases: different numbers of scales {sorted(n)}")
        batch["vessel"] = torch.from_numpy(np.stack([c.vessel for c in cases]).astype(np.float32))
        batch["scales"] = torch.from_numpy(np.stack([c.scales for c in cases]).astype(np.float32))
    return batch


def to_device(batch: dict, device, non_blocking: bool = False) -> dict:
    """A copy of ``batch`` with every tensor on ``device`` (other entries as they are)."""
    return {k: (v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v)
            for k, v in batch.items()}


def _crop(case: PreparedCase, size, gen: torch.Generator, foreground_p: float) -> PreparedCase:
    shape = case.image.shape[1:]
    if any(s > n for s, n in zip(size, shape)):
        raise ValueError(f"patch_size: {tuple(size)} is larger than case {case.case_id!r} {tuple(shape)}")
    u = torch.rand(4, generator=gen, dtype=torch.float64).tolist()
    fg = None if case.vessel is None else np.flatnonzero(case.vessel[0])
    if fg is not None and fg.size and u[0] < foreground_p:
        centre = np.unravel_index(fg[int(u[1] * fg.size) % fg.size], shape)
        lo = [int(np.clip(c - s // 2, 0, n - s)) for c, s, n in zip(centre, size, shape)]
    else:
        lo = [int(v * (n - s + 1)) for v, s, n in zip(u[1:], size, shape)]
    sl = (slice(None),) + tuple(slice(a, a + s) for a, s in zip(lo, size))
    from dataclasses import replace

    return replace(case, image=case.image[sl],
                   vessel=None if case.vessel is None else case.vessel[sl],
                   scales=None if case.scales is None else case.scales[sl])


class CaseLoader:
    """Deterministic, resumable batches of a :class:`~vesselnet.data.PreparedDataset`.

    Parameters
    ----------
    dataset : PreparedDataset
        Or any sequence of :class:`PreparedCase` with ``case_ids``.
    batch_size : int
    shuffle : bool
        A new permutation per epoch, a function of ``(seed, epoch)``.
    seed : int
    drop_last : bool
        Drop a last, smaller batch.
    patch_size : (D, H, W), optional
        Random crops of this size (seeded); with probability ``foreground_p`` centred on a
        random vessel voxel.
    foreground_p : float
        See ``patch_size``.
    rank, world_size : int
        DDP sharding: each epoch's order is padded (by repeating its start) to a multiple of
        ``world_size`` and rank ``r`` takes every ``world_size``-th case from ``r``, so ranks
        get disjoint parts of the same order.
    """

    def __init__(self, dataset, batch_size: int = 2, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, patch_size=None, *, foreground_p: float = 0.5,
                 rank: int = 0, world_size: int = 1):
        for name, v, lo in (("batch_size", batch_size, 1), ("seed", seed, 0),
                            ("world_size", world_size, 1), ("rank", rank, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name}: expected an integer >= {lo}, got {v!r}")
        if rank >= world_size:
            raise ValueError(f"rank: expected 0 <= rank < world_size = {world_size}, got {rank}")
        if len(dataset) == 0:
            raise ValueError("dataset: expected at least one case, got an empty dataset")
        if patch_size is not None:
            patch_size = tuple(int(p) for p in patch_size)
            if len(patch_size) != 3 or min(patch_size) < 1:
                raise ValueError(f"patch_size: expected 3 positive sizes (D, H, W), got {patch_size}")
        if not 0.0 <= float(foreground_p) <= 1.0:
            raise ValueError(f"foreground_p: expected a probability in [0, 1], got {foreground_p!r}")
        self.dataset = dataset
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)
        self.drop_last, self.patch_size = bool(drop_last), patch_size
        self.foreground_p = float(foreground_p)
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch = 0
        self.position = 0

    # ------------------------------------------------------------------ order
    def _order(self, epoch: int) -> list[int]:
        n = len(self.dataset)
        if self.shuffle:
            g = torch.Generator().manual_seed(_seed(self.seed, epoch))
            order = torch.randperm(n, generator=g).tolist()
        else:
            order = list(range(n))
        if self.world_size > 1:
            total = -(-n // self.world_size) * self.world_size
            order = (order * (total // n + 1))[:total]
            order = order[self.rank::self.world_size]
        return order

    def _batches(self, epoch: int) -> list[list[int]]:
        order = self._order(epoch)
        b = self.batch_size
        out = [order[i:i + b] for i in range(0, len(order), b)]
        if self.drop_last and out and len(out[-1]) < b:
            out.pop()
        return out

    def __len__(self) -> int:
        return len(self._batches(self.epoch))

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its first batch."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch: expected an integer >= 0, got {epoch!r}")
        self.epoch, self.position = int(epoch), 0

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Plain ints: ``epoch``, ``position`` (batches already yielded in it), ``seed``,
        ``rank``, ``world_size``."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "rank": self.rank, "world_size": self.world_size}

    def load_state_dict(self, state: dict) -> None:
        """Continue where :meth:`state_dict` was taken (same dataset and options)."""
        for k in ("epoch", "position", "seed"):
            if k not in state:
                raise ValueError(f"state: missing key {k!r}; expected {sorted(self.state_dict())}")
        if int(state["seed"]) != self.seed:
            raise ValueError(f"state: seed {state['seed']} differs from this loader's seed {self.seed}")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    # ------------------------------------------------------------------ iteration
    def _load(self, index: int, epoch: int, slot: int) -> PreparedCase:
        case = self.dataset[index]
        if self.patch_size is None:
            return case
        g = torch.Generator().manual_seed(_seed(self.seed, epoch, slot, self.rank, 1))
        return _crop(case, self.patch_size, g, self.foreground_p)

    def __iter__(self) -> Iterator[dict]:
        epoch = self.epoch
        batches = self._batches(epoch)
        while self.position < len(batches):
            k = self.position
            cases = [self._load(i, epoch, k * self.batch_size + j) for j, i in enumerate(batches[k])]
            self.position += 1
            yield collate(cases)
        self.epoch, self.position = epoch + 1, 0

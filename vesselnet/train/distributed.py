"""Device choice and multi-process data parallel training (DDP) launched by ``torchrun``.

One machine, several GPUs::

    torchrun --standalone --nproc_per_node=4 -m vesselnet train --preset multitask-contrastive \\
        --data prepared/ --out runs/mtc

Several machines (run the same command on each, ``--node_rank`` 0 .. N-1; the first node's
address and a free port as rendezvous endpoint)::

    torchrun --nnodes=2 --nproc_per_node=4 --node_rank=0 --rdzv_backend=c10d \\
        --rdzv_endpoint=HOST0:29500 --rdzv_id=mtc -m vesselnet train ...

CPU only (tests, debugging): the same with ``--device cpu``; the gloo backend is used. torchrun
sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them. Each process trains on a disjoint part of every epoch's
cases (``CaseLoader(rank=, world_size=)``), gradients are averaged by
``DistributedDataParallel``; only rank 0 validates, logs and writes checkpoints. The batch size
of the config is per process (global batch = batch_size x world_size). On CUDA, BatchNorm
layers become ``SyncBatchNorm`` (statistics over the global batch); on CPU (gloo) BatchNorm
keeps per-process statistics (``SyncBatchNorm`` needs GPUs), and DDP broadcasts the running
statistics of rank 0 at every forward.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistContext", "resolve_device", "init_distributed", "wrap_model", "all_mean", "shutdown"]


@dataclass(frozen=True)
class DistContext:
    """Where this process runs: rank among ``world_size`` processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Rank 0: validates, logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` / ``cuda:N`` must exist.

    Raises
    ------
    ValueError
        Naming ``device`` when CUDA is requested but absent, or the index does not exist.
    """
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if not spec.startswith("cuda"):
        raise ValueError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    if not torch.cuda.is_available():
        built = "without CUDA" if torch.version.cuda is None else f"with CUDA {torch.version.cuda}"
        raise ValueError(
            f"device: {spec!r} was requested but CUDA is not available (torch {torch.__version__} "
            f"built {built}, {torch.cuda.device_count()} GPU(s) visible); use --device cpu or auto"
        )
    index = int(spec.split(":", 1)[1]) if ":" in spec else local_rank
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"device: cuda:{index} requested but only {torch.cuda.device_count()} GPU(s) are visible"
        )
    return torch.device("cuda", index)


def init_distributed(device_spec: str = "auto") -> DistContext:
    """Join the process group torchrun set up (``WORLD_SIZE > 1``), or run alone.

    Parameters
    ----------
    device_spec : str
        ``auto``, ``cpu``, ``cuda``; under torchrun each process takes ``cuda:LOCAL_RANK``.

    Returns
    -------
    DistContext
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_spec if world == 1 or ":" not in device_spec else "cuda", local)
    if world == 1:
        return DistContext(device=device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(rank, world, local, device, backend)


def wrap_model(model: nn.Module, ctx: DistContext, *, find_unused_parameters: bool = False) -> nn.Module:
    """``DistributedDataParallel`` around ``model`` (already on ``ctx.device``) when
    distributed; SyncBatchNorm on CUDA. Returns ``model`` unchanged for one process.

    ``find_unused_parameters``: some parameters get no gradient (the projection heads of the
    multi-task net when ``lambda_c = 0``)."""
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if ctx.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[ctx.device.index],
                                       find_unused_parameters=find_unused_parameters)
    return DistributedDataParallel(model, find_unused_parameters=find_unused_parameters)


def all_mean(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Mean of scalar values over the processes (one all-reduce); unchanged for one process."""
    if not ctx.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64,
                     device=ctx.device if ctx.backend == "nccl" else "cpu")
    dist.all_reduce(t)
    t /= ctx.world_size
    return dict(zip(keys, t.tolist()))


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (when this process joined one)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()

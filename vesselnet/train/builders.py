"""What a :class:`~vesselnet.train.config.TrainConfig` builds: network, objective, optimiser,
schedule, augmentation and batch loaders (the data layer's ``CaseLoader``/``Augmenter``)."""
from __future__ import annotations

import math

import torch
from torch import nn

from vesselnet.models import MultiTaskResUNet3d, ResUNet3d
from vesselnet.train.objective import Objective

__all__ = [
    "build_model",
    "build_objective",
    "build_optimizer",
    "build_scheduler",
    "build_augmenter",
    "build_loader",
    "lr_factor",
]


def build_model(config) -> nn.Module:
    """The network of ``config.model`` (on CPU; parameters drawn from torch's global RNG).

    Parameters
    ----------
    config : TrainConfig

    Returns
    -------
    ResUNet3d or MultiTaskResUNet3d
    """
    m = config.model
    if m.kind == "multitask":
        return MultiTaskResUNet3d(
            m.in_channels, m.num_scales, m.levels, m.base_channels, m.num_convs,
            main_out_channels=1, aux_out_channels=1, proj_dim=m.proj_dim,
            proj_hidden=m.proj_hidden, proj_layers=m.proj_layers, bottleneck_unit=m.bottleneck_unit,
        )
    return ResUNet3d(
        m.in_channels, m.out_channels, m.levels, m.base_channels, m.num_convs,
        bottleneck_unit=m.bottleneck_unit,
    )


def build_objective(config) -> Objective:
    """The loss of ``config`` (:class:`~vesselnet.train.objective.Objective`)."""
    return Objective(
        config.model.kind, config.model.num_scales, config.loss, seed=config.seed,
        embedding_dim=config.model.proj_dim,
    )


def build_optimizer(config, params) -> torch.optim.Optimizer:
    """Adam or AdamW with ``config.optim``'s learning rate, betas and weight decay."""
    o = config.optim
    cls = torch.optim.Adam if o.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)


def lr_factor(config, epoch: int) -> float:
    """Learning-rate multiplier at the start of ``epoch`` (0-based).

    Linear warm-up over ``warmup_epochs``, then ``none`` (1), ``cosine`` (from 1 down to
    ``min_lr / lr`` at the last epoch) or ``poly`` (``(1 - t)**0.9``, floored at ``min_lr``).
    """
    o = config.optim
    total = config.run.epochs
    if o.warmup_epochs and epoch < o.warmup_epochs:
        return (epoch + 1) / (o.warmup_epochs + 1)
    if o.scheduler == "none":
        return 1.0
    span = max(1, total - o.warmup_epochs)
    t = min(1.0, (epoch - o.warmup_epochs) / span)
    floor = o.min_lr / o.lr
    if o.scheduler == "cosine":
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
    return max(floor, (1.0 - t) ** 0.9)


def build_scheduler(config, optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-epoch schedule (``scheduler.step()`` once per epoch) of :func:`lr_factor`."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(config, e))


def build_augmenter(config):
    """``vesselnet.data.Augmenter(**config.data.augment)``, or None when ``augment`` is null."""
    if config.data.augment is None:
        return None
    from vesselnet.data import Augmenter

    opts = {k: tuple(v) if isinstance(v, list) else v for k, v in config.data.augment.items()}
    try:
        return Augmenter(**opts)
    except TypeError as exc:
        raise ValueError(f"config key 'data.augment': {exc}") from exc


def build_loader(config, dataset, *, train: bool, rank: int = 0, world_size: int = 1):
    """``vesselnet.data.CaseLoader`` of ``dataset``: shuffled, seeded batches for training;
    one case at a time, in order, for validation."""
    from vesselnet.data import CaseLoader

    d = config.data
    if train:
        return CaseLoader(
            dataset, batch_size=d.batch_size, shuffle=d.shuffle, seed=config.seed,
            drop_last=d.drop_last, patch_size=d.patch_size, rank=rank, world_size=world_size,
        )
    return CaseLoader(dataset, batch_size=1, shuffle=False, seed=config.seed, drop_last=False,
                      patch_size=None, rank=rank, world_size=world_size)

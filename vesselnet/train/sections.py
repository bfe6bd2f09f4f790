"""The five sections of a training config, each a frozen dataclass of plain values.

:class:`ModelConfig`, :class:`LossConfig`, :class:`OptimConfig`, :class:`DataConfig` and
:class:`RunConfig` are the ``model``, ``loss``, ``optim``, ``data`` and ``run`` parts of a
:class:`~vesselnet.train.config.TrainConfig` (what each holds: :mod:`vesselnet.train.config`).
Every field has one value rule (:mod:`vesselnet.train._rules`) that checks and normalises
it, so an error names its key (``config key 'optim.lr': ...``); an unknown key is an error
listing the valid keys of its section.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Mapping

from vesselnet.losses.contrastive import PAPER_TAU
from vesselnet.losses.multitask import PAPER_LAMBDAS
from vesselnet.losses.total import PAPER_LAMBDA_C
from vesselnet.train._rules import (
    ConfigError,
    ConfigTypeError,
    Rule,
    boolean,
    choice,
    class_weights_rule,
    device as device_rule,
    int_tuple,
    integer,
    mapping,
    number,
    number_tuple,
    optional,
    string_tuple,
)

__all__ = [
    "ModelConfig",
    "LossConfig",
    "OptimConfig",
    "DataConfig",
    "RunConfig",
    "SECTIONS",
    "reject_unknown",
]


class _Section:
    """Frozen dataclass whose fields are validated by ``_RULES`` (one rule per field)."""

    _RULES: ClassVar[dict[str, Rule]] = {}

    @classmethod
    def from_dict(cls, data, prefix: str):
        """The section of plain data (None: all defaults); errors name ``prefix.key``."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigTypeError(
                f"config key '{prefix}': expected a mapping of {sorted(cls._RULES)}, got "
                f"{type(data).__name__}"
            )
        reject_unknown(data, cls._RULES, prefix)
        values = {k: cls._RULES[k](v, f"{prefix}.{k}") for k, v in data.items()}
        return cls(**values)

    def to_dict(self) -> dict:
        """Plain data (tuples as lists), what :meth:`from_dict` reads back."""
        return {f.name: _to_plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def reject_unknown(data: Mapping, valid, prefix: str) -> None:
    """ConfigError naming the first key of ``data`` not in ``valid``, listing the valid keys."""
    unknown = [k for k in data if k not in valid]
    if unknown:
        where = f"section '{prefix}'" if prefix else "the top level"
        raise ConfigError(
            f"config key '{(prefix + '.') if prefix else ''}{unknown[0]}': unknown key in {where}; "
            f"valid keys: {', '.join(valid)}"
        )


def _to_plain(value):
    """Tuples -> lists, recursively (YAML and checkpoints hold lists)."""
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ModelConfig(_Section):
    """Network of the run (see the module docstring)."""

    kind: str = "multitask"
    num_scales: int = 3
    in_channels: int = 1
    depth: int = 5
    base_channels: int = 8
    num_convs: int = 2
    bottleneck_unit: bool = False
    proj_dim: int = 64
    proj_hidden: int | None = None
    proj_layers: int = 2

    _RULES: ClassVar[dict[str, Rule]] = {
        "kind": choice("binary", "multiclass", "multitask"),
        "num_scales": integer(1, 255),
        "in_channels": integer(1),
        "depth": integer(0, 10),
        "base_channels": integer(1),
        "num_convs": integer(1),
        "bottleneck_unit": boolean(),
        "proj_dim": integer(1),
        "proj_hidden": optional(integer(1)),
        "proj_layers": integer(1, 2),
    }

    @property
    def levels(self) -> int:
        """``levels`` argument of the networks: ``depth + 1`` (l poolings, l + 1 levels)."""
        return self.depth + 1

    @property
    def out_channels(self) -> int:
        """Logit channels of the (main) output: 1, or S + 1 for ``multiclass``."""
        return self.num_scales + 1 if self.kind == "multiclass" else 1


@dataclass(frozen=True)
class LossConfig(_Section):
    """Eq. 5 / Eq. 9 weights and options (see the module docstring)."""

    lambdas: tuple = PAPER_LAMBDAS
    lambda_c: float = PAPER_LAMBDA_C
    tau: float = PAPER_TAU
    contrastive_mode: str = "pooled"
    num_samples: int = 64
    bank_size: int = 0
    empty: str = "global"
    cldice_weight: float = 0.0
    cldice_iterations: int = 3
    dice_weight: float = 1.0
    ce_weight: float = 1.0
    class_weights: object = "batch"
    batch_dice: bool = False
    include_background: bool = False
    smooth: float = 1e-5

    _RULES: ClassVar[dict[str, Rule]] = {
        "lambdas": number_tuple(minimum=0.0),
        "lambda_c": number(0.0),
        "tau": number(0.0, strict=True),
        "contrastive_mode": choice("pooled", "voxel"),
        "num_samples": integer(1),
        "bank_size": integer(0),
        "empty": choice("global", "skip"),
        "cldice_weight": number(0.0),
        "cldice_iterations": integer(0),
        "dice_weight": number(0.0),
        "ce_weight": number(0.0),
        "class_weights": class_weights_rule(),
        "batch_dice": boolean(),
        "include_background": boolean(),
        "smooth": number(0.0, strict=True),
    }

    def dice_ce_options(self) -> dict:
        """Keyword options of :func:`vesselnet.losses.dice_ce_loss`."""
        cw = self.class_weights
        return dict(
            dice_weight=self.dice_weight, ce_weight=self.ce_weight,
            class_weights=list(cw) if isinstance(cw, tuple) else cw,
            batch_dice=self.batch_dice, include_background=self.include_background,
            smooth=self.smooth,
        )


@dataclass(frozen=True)
class OptimConfig(_Section):
    """Optimiser and learning-rate schedule (paper: Adam, 3e-4)."""

    optimizer: str = "adam"
    lr: float = 3e-4
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    scheduler: str = "none"
    min_lr: float = 0.0
    warmup_epochs: int = 0
    grad_clip: float | None = None

    _RULES: ClassVar[dict[str, Rule]] = {
        "optimizer": choice("adam", "adamw"),
        "lr": number(0.0, strict=True),
        "weight_decay": number(0.0),
        "betas": number_tuple(2, minimum=0.0, maximum=1.0),
        "scheduler": choice("none", "cosine", "poly"),
        "min_lr": number(0.0),
        "warmup_epochs": integer(0),
        "grad_clip": optional(number(0.0, strict=True)),
    }


@dataclass(frozen=True)
class DataConfig(_Section):
    """Batches, augmentation, validation split and preprocessing options."""

    batch_size: int = 2
    shuffle: bool = True
    drop_last: bool = False
    patch_size: tuple | None = None
    augment: dict | None = field(default_factory=dict)
    val_fraction: float = 0.2
    val_cases: tuple | None = None
    prepare: dict = field(default_factory=dict)

    _RULES: ClassVar[dict[str, Rule]] = {
        "batch_size": integer(1),
        "shuffle": boolean(),
        "drop_last": boolean(),
        "patch_size": optional(int_tuple(3, minimum=1)),
        "augment": optional(mapping()),
        "val_fraction": number(0.0, maximum=0.9),
        "val_cases": optional(string_tuple("case ids")),
        "prepare": mapping(),
    }


@dataclass(frozen=True)
class RunConfig(_Section):
    """Loop, device, precision, checkpoints and logging."""

    epochs: int = 2000
    val_every: int = 10
    checkpoint_every: int = 1
    checkpoint_every_steps: int = 0
    device: str = "auto"
    amp: str = "auto"
    compile: bool = False
    check_finite: bool = True
    deterministic: bool = True
    num_threads: int | None = None
    progress: bool = True
    tensorboard: bool = True
    hd_percentile: float | None = None

    _RULES: ClassVar[dict[str, Rule]] = {
        "epochs": integer(1),
        "val_every": integer(0),
        "checkpoint_every": integer(1),
        "checkpoint_every_steps": integer(0),
        "device": device_rule(),
        "amp": choice("auto", "bf16", "fp16", "off"),
        "compile": boolean(),
        "check_finite": boolean(),
        "deterministic": boolean(),
        "num_threads": optional(integer(1)),
        "progress": boolean(),
        "tensorboard": boolean(),
        "hd_percentile": optional(number(0.0, strict=True, maximum=100.0)),
    }


#: The sections of a :class:`~vesselnet.train.config.TrainConfig` by key, in YAML order.
SECTIONS = {
    "model": ModelConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "data": DataConfig,
    "run": RunConfig,
}

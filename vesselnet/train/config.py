"""Training configuration: one validated object, YAML in and YAML out, and the four presets.

A :class:`TrainConfig` has six parts, each a frozen dataclass of plain values:

``name``, ``seed``
    Run name and the seed of every random number generator of the run.
``model`` (:class:`ModelConfig`)
    ``kind``: ``binary`` (ResUNet3d, 1 sigmoid output), ``multiclass`` (ResUNet3d, S + 1
    softmax outputs: background + S scales) or ``multitask`` (MultiTaskResUNet3d, Eq. 4);
    ``depth`` is the paper's l (number of poolings: the encoder has ``f0 .. 2^l f0`` maps),
    ``base_channels`` its f0; ``bottleneck_unit: false`` is the layout printed in the paper.
``loss`` (:class:`LossConfig`)
    Eq. 5 / 9: ``lambdas`` (one per scale, scale 1 = smallest vessels), ``lambda_c`` and
    ``tau`` of the contrastive term (0 = Eq. 5 exactly), the contrastive sampling, and the
    per-task Dice + weighted cross-entropy options.
``optim`` (:class:`OptimConfig`)
    Adam(W), learning rate (paper: 3e-4), schedule, gradient clipping.
``data`` (:class:`DataConfig`)
    Batch size (paper: 2), patches, augmentation (``vesselnet.data.Augmenter`` options),
    validation split, and ``prepare`` (``vesselnet.data.PrepareConfig`` options, used when
    ``vesselnet train --data`` names a source rather than a prepared folder).
``run`` (:class:`RunConfig`)
    Epochs (paper: 2000), validation and checkpoint intervals, device, mixed precision,
    ``torch.compile``, finite checks, logging.

Loading validates everything: an unknown key is an error listing the valid keys of its
section, a wrong type or range is an error naming the key (``config key 'optim.lr': ...``).
YAML is read with ``yaml.safe_load`` only (a Python object tag is refused; nothing runs).
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
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
    text,
)
from vesselnet.train.names import PRESETS

__all__ = [
    "TrainConfig",
    "ModelConfig",
    "LossConfig",
    "OptimConfig",
    "DataConfig",
    "RunConfig",
    "ConfigError",
    "ConfigTypeError",
    "PRESETS",
    "load_config",
    "save_config",
    "preset_names",
]



class _Section:
    """Frozen dataclass whose fields are validated by ``_RULES`` (one rule per field)."""

    _RULES: ClassVar[dict[str, Rule]] = {}

    @classmethod
    def from_dict(cls, data, prefix: str):
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigTypeError(
                f"config key '{prefix}': expected a mapping of {sorted(cls._RULES)}, got "
                f"{type(data).__name__}"
            )
        _reject_unknown(data, cls._RULES, prefix)
        values = {k: cls._RULES[k](v, f"{prefix}.{k}") for k, v in data.items()}
        return cls(**values)

    def to_dict(self) -> dict:
        return {f.name: _to_plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _reject_unknown(data: Mapping, valid, prefix: str) -> None:
    unknown = [k for k in data if k not in valid]
    if unknown:
        where = f"section '{prefix}'" if prefix else "the top level"
        raise ConfigError(
            f"config key '{(prefix + '.') if prefix else ''}{unknown[0]}': unknown key in {where}; "
            f"valid keys: {', '.join(valid)}"
        )


def _to_plain(value):
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


_SECTIONS = {
    "model": ModelConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "data": DataConfig,
    "run": RunConfig,
}
_TOP_KEYS = ("name", "seed", *_SECTIONS)


@dataclass(frozen=True)
class TrainConfig:
    """The whole training configuration (see the module docstring).

    Build it with :meth:`from_dict`, :meth:`from_preset` or :func:`load_config`; every
    constructor validates. :meth:`to_dict` gives plain data (what checkpoints and YAML hold).
    """

    name: str = "run"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        _check_consistency(self)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, data) -> "TrainConfig":
        """Validated config from plain data (a parsed YAML mapping).

        Raises
        ------
        ConfigError (ValueError), ConfigTypeError (TypeError)
            Naming the key: unknown keys (listing the valid ones), wrong types or ranges.
        """
        if not isinstance(data, Mapping):
            raise ConfigTypeError(
                f"config: expected a mapping with keys {', '.join(_TOP_KEYS)}, got {type(data).__name__}"
            )
        _reject_unknown(data, _TOP_KEYS, "")
        kwargs = {}
        if "name" in data:
            kwargs["name"] = text()(data["name"], "name")
        if "seed" in data:
            kwargs["seed"] = integer(0, 2**63 - 1)(data["seed"], "seed")
        for key, section in _SECTIONS.items():
            kwargs[key] = section.from_dict(data.get(key), key)
        return cls(**kwargs)

    @classmethod
    def from_preset(cls, name: str, overrides: Mapping | None = None) -> "TrainConfig":
        """One of :data:`PRESETS` (Table 1 rows), optionally with nested ``overrides``.

        Raises
        ------
        ConfigError
            Unknown preset (listing the presets), or an invalid override (naming the key).
        """
        if name not in PRESETS:
            raise ConfigError(f"preset: unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
        text_ = resources.files("vesselnet.train").joinpath("presets").joinpath(f"{name}.yaml").read_text()
        data = _safe_load(text_, f"preset {name!r}")
        return cls.from_dict(merge(data, overrides or {}))

    def replace(self, overrides: Mapping) -> "TrainConfig":
        """A new validated config with nested ``overrides`` merged in (``{"run": {"epochs": 3}}``)."""
        return type(self).from_dict(merge(self.to_dict(), overrides))

    def to_dict(self) -> dict:
        """Plain data (dicts, lists, str, int, float, bool, None); round-trips via :meth:`from_dict`."""
        out = {"name": self.name, "seed": self.seed}
        out.update({key: getattr(self, key).to_dict() for key in _SECTIONS})
        return out

    def to_yaml(self) -> str:
        """YAML text of :meth:`to_dict` (``yaml.safe_dump``)."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    # ---------------------------------------------------------------- builders
    def build_model(self):
        """The network of ``model`` (torch module, on CPU, seeded by :func:`torch.manual_seed`)."""
        from vesselnet.train.builders import build_model

        return build_model(self)

    def build_loss(self):
        """The training objective (:class:`vesselnet.train.objective.Objective`)."""
        from vesselnet.train.builders import build_objective

        return build_objective(self)

    def build_optimizer(self, params):
        """Adam(W) of ``optim`` over ``params``."""
        from vesselnet.train.builders import build_optimizer

        return build_optimizer(self, params)

    def build_augmenter(self):
        """``vesselnet.data.Augmenter`` of ``data.augment`` (None when null)."""
        from vesselnet.train.builders import build_augmenter

        return build_augmenter(self)

    def build_loader(self, dataset, *, train: bool = True, rank: int = 0, world_size: int = 1):
        """``vesselnet.data.CaseLoader`` of ``dataset`` (training: seeded shuffled batches)."""
        from vesselnet.train.builders import build_loader

        return build_loader(self, dataset, train=train, rank=rank, world_size=world_size)

    def build_trainer(self, train_loader, val_loader=None, out_dir="run", **options):
        """A :class:`vesselnet.train.trainer.Trainer` of this config (``options``: its keywords)."""
        from vesselnet.train.trainer import Trainer

        return Trainer(self, train_loader, val_loader, out_dir, **options)


def _check_consistency(cfg: TrainConfig) -> None:
    """Cross-field rules, each naming the key to change."""
    m, loss, data = cfg.model, cfg.loss, cfg.data
    if m.kind == "multitask" and len(loss.lambdas) != m.num_scales:
        raise ConfigError(
            f"config key 'loss.lambdas': expected {m.num_scales} weights (model.num_scales), "
            f"got {len(loss.lambdas)}"
        )
    if m.kind == "multitask" and loss.lambda_c > 0 and loss.contrastive_mode == "pooled" and (
        data.batch_size < 2 and loss.bank_size == 0
    ):
        raise ConfigError(
            "config key 'data.batch_size': the pooled contrastive loss needs a batch of 2 or more "
            "(or loss.bank_size > 0, or loss.contrastive_mode: voxel), got 1"
        )
    if not m.bottleneck_unit and m.depth < 1:
        raise ConfigError("config key 'model.depth': bottleneck_unit false needs depth >= 1, got 0")
    if data.patch_size is not None and any(p % 2**m.depth for p in data.patch_size):
        raise ConfigError(
            f"config key 'data.patch_size': every size must be divisible by 2**depth = "
            f"{2**m.depth}, got {list(data.patch_size)}"
        )
    n = data.prepare.get("n_scales", m.num_scales)
    if n != m.num_scales:
        raise ConfigError(
            f"config key 'data.prepare.n_scales': expected model.num_scales = {m.num_scales}, got {n!r}"
        )


def merge(base: Mapping, overrides: Mapping) -> dict:
    """Deep merge of plain mappings: ``overrides`` wins, nested mappings merge key by key.

    Parameters
    ----------
    base, overrides : mapping

    Returns
    -------
    dict
        A new dict; neither input is modified.
    """
    out = dict(base)
    for k, v in overrides.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def preset_names() -> tuple[str, ...]:
    """The preset names (rows of Table 1)."""
    return PRESETS


def _safe_load(text_: str, what: str):
    import yaml

    try:
        return yaml.safe_load(text_)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{what}: not a plain YAML config ({problem}{where}); configs are read with "
            f"yaml.safe_load, which refuses Python object tags"
        ) from exc


def load_config(path) -> TrainConfig:
    """Read and validate a YAML config file (``yaml.safe_load``: no Python tags, no code).

    Parameters
    ----------
    path : path-like

    Raises
    ------
    ConfigError, ConfigTypeError
        Unreadable file, YAML with a Python tag, unknown keys, wrong types or ranges.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config: no such file: {str(p)!r}")
    try:
        text_ = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config: cannot read {str(p)!r} ({exc})") from exc
    data = _safe_load(text_, f"config {str(p)!r}")
    if data is None:
        data = {}
    return TrainConfig.from_dict(data)


def save_config(config: TrainConfig, path) -> Path:
    """Write ``config`` as YAML, atomically (temporary file + ``os.replace``).

    Returns
    -------
    Path
        ``path``.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(config.to_yaml())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p

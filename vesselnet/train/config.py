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

The five section dataclasses and their value rules live in :mod:`vesselnet.train.sections`
(importable from here too); this module holds the whole config, the rules across sections,
the presets and YAML in and out.

Loading validates everything: an unknown key is an error listing the valid keys of its
section, a wrong type or range is an error naming the key (``config key 'optim.lr': ...``).
A number key also takes a string in decimal notation (``1e-3``, which PyYAML, following
YAML 1.1, reads as a string). YAML is read with ``yaml.safe_load`` only (a Python object tag
is refused; nothing runs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Mapping

from vesselnet.train._rules import ConfigError, ConfigTypeError, integer, text
from vesselnet.train.names import PRESETS
from vesselnet.train.runlog import write_atomic
from vesselnet.train.sections import (
    SECTIONS,
    DataConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    reject_unknown,
)

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


_TOP_KEYS = ("name", "seed", *SECTIONS)


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
        reject_unknown(data, _TOP_KEYS, "")
        kwargs = {}
        if "name" in data:
            kwargs["name"] = text()(data["name"], "name")
        if "seed" in data:
            kwargs["seed"] = integer(0, 2**63 - 1)(data["seed"], "seed")
        for key, section in SECTIONS.items():
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
        out.update({key: getattr(self, key).to_dict() for key in SECTIONS})
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
    write_atomic(p, config.to_yaml())
    return p

"""From a command line to a training run: config, data, split, :func:`~vesselnet.train.train`.

Used by ``vesselnet train`` (:mod:`vesselnet.commands.train`):

- the config comes from a preset, a YAML file or, when resuming, the run's ``config.yaml``,
  with command-line overrides (``--epochs``, ``--device``, ``--set KEY=VALUE``);
- ``--data`` is a prepared folder (``manifest.json``, written by ``vesselnet prepare`` or
  :func:`vesselnet.data.prepare`) or a source spec (``synthetic:N``, a 3D-IRCADb-01 folder,
  an MSD/nnU-Net folder) prepared into ``OUT/prepared`` with ``data.prepare`` of the config
  (reused when fresh);
- the validation cases are ``data.val_cases`` or a seeded ``data.val_fraction`` of the cases
  (:func:`holdout_split`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from vesselnet.train.config import TrainConfig, load_config, merge, preset_names

__all__ = ["resolve_config", "parse_assignment", "open_training_data", "holdout_split", "launch"]


def parse_assignment(text: str) -> dict:
    """``"optim.lr=3e-4"`` -> ``{"optim": {"lr": "3e-4"}}``: the value parsed as YAML, safely.

    PyYAML reads ``3e-4`` as a string (YAML 1.1 floats need a dot); the config's number
    keys take such a string as the number it writes, so ``--set optim.lr=1e-3`` sets 0.001.

    Raises
    ------
    ValueError
        Naming ``--set`` when there is no ``=`` or the key is empty.
    """
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise ValueError(f"--set: expected KEY=VALUE such as optim.lr=1e-3, got {text!r}")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ValueError(f"--set {text!r}: the value is not plain YAML ({exc})") from exc
    out: dict = parsed
    for part in reversed(key.strip().split(".")):
        out = {part: out}
    return out


def resolve_config(*, preset: str | None, config_file, out_dir, resume: bool,
                   overrides: Sequence[Mapping] = ()) -> TrainConfig:
    """The run's config: preset, file, or (resume without either) ``OUT/config.yaml``.

    Raises
    ------
    ValueError
        Both or none of preset/file (unless resuming), unknown preset, invalid config.
    """
    if preset is not None and config_file is not None:
        raise ValueError("--preset, --config: give one of them, not both")
    if preset is not None:
        base = TrainConfig.from_preset(preset).to_dict()
    elif config_file is not None:
        base = load_config(config_file).to_dict()
    elif resume and (Path(out_dir) / "config.yaml").is_file():
        base = load_config(Path(out_dir) / "config.yaml").to_dict()
    else:
        raise ValueError(f"--preset, --config: give a preset ({', '.join(preset_names())}) or "
                         f"a YAML config file")
    for o in overrides:
        base = merge(base, o)
    return TrainConfig.from_dict(base)


def open_training_data(spec, config: TrainConfig, out_dir, *, progress: bool = True):
    """A ``PreparedDataset``: the prepared folder ``spec``, or ``spec`` (a source) prepared
    into ``out_dir/prepared`` with ``config.data.prepare``."""
    from vesselnet.data import PrepareConfig, PreparedDataset, open_source, prepare

    path = Path(str(spec))
    if path.is_dir() and (path / "manifest.json").is_file():
        return PreparedDataset(path)
    options = {"n_scales": config.model.num_scales, **config.data.prepare}
    try:
        prep = PrepareConfig.from_dict(options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config key 'data.prepare': {exc}") from exc
    source = open_source(str(spec))
    return prepare(source, Path(out_dir) / "prepared", prep, progress=progress)


def holdout_split(case_ids: Sequence[str], *, val_fraction: float, seed: int,
                  val_cases: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Training and validation case ids.

    ``val_cases`` when given (each must exist); otherwise ``round(n * val_fraction)`` cases
    (at least 1 when ``val_fraction > 0`` and n >= 2), drawn with ``seed``; at least one case
    always stays for training.

    Raises
    ------
    ValueError
        Naming ``data.val_cases`` (unknown ids, or every case) or the dataset (no case).
    """
    ids = list(case_ids)
    if not ids:
        raise ValueError("data: the dataset holds no cases")
    if val_cases is not None:
        unknown = [c for c in val_cases if c not in ids]
        if unknown:
            raise ValueError(f"config key 'data.val_cases': unknown case ids {unknown[:5]}; "
                             f"cases: {ids[:10]}")
        val = [c for c in ids if c in set(val_cases)]
    else:
        n_val = int(round(len(ids) * val_fraction))
        if val_fraction > 0 and len(ids) >= 2:
            n_val = max(1, n_val)
        n_val = min(n_val, len(ids) - 1)
        order = np.random.default_rng(seed).permutation(len(ids))
        val = sorted(ids[i] for i in order[:n_val])
    train = [c for c in ids if c not in set(val)]
    if not train:
        raise ValueError("config key 'data.val_cases': leaves no case for training")
    return train, val


def launch(config: TrainConfig, data, out_dir, *, resume: bool = False, overwrite: bool = False,
           progress: bool | None = None):
    """Check the run folder, open/prepare the data, split it and train.

    Returns
    -------
    TrainResult
    """
    import os

    from vesselnet.train.distributed import resolve_device
    from vesselnet.train.runlog import RunFolder
    from vesselnet.train.trainer import train

    # before any slow work: the device exists, the folder may be used
    resolve_device(config.run.device, int(os.environ.get("LOCAL_RANK", "0")))
    RunFolder.check_claim(out_dir, resume=resume, overwrite=overwrite)
    show = config.run.progress if progress is None else progress
    dataset = open_training_data(data, config, out_dir, progress=show)
    train_ids, val_ids = holdout_split(dataset.case_ids, val_fraction=config.data.val_fraction,
                                       seed=config.seed, val_cases=config.data.val_cases)
    val = dataset.subset(val_ids) if val_ids else None
    return train(config, dataset.subset(train_ids), val, out_dir, resume=resume,
                 overwrite=overwrite, progress=progress)

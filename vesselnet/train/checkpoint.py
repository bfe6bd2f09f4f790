"""Checkpoints: tensors and plain data only, written atomically, read with ``weights_only``.

A checkpoint is a ``torch.save`` file of one dict (format ``"vesselnet-checkpoint"``,
:data:`FORMAT_VERSION`)::

    format, format_version, kind ("last" | "best")
    config        TrainConfig.to_dict()  (plain data)
    prepare       the data layer's PrepareConfig.to_dict() or None (preprocessing record)
    model         the network's state_dict (tensors)
    objective     the loss's state_dict (contrastive generator state, memory bank)
    optimizer, scheduler, scaler   their state_dicts (tensors, numbers, lists)
    epoch, step   completed epochs and optimisation steps
    loader        CaseLoader.state_dict() (data order: epoch, position, RNG)
    rng           torch CPU / CUDA, Python and NumPy RNG states, augmentation generators
    best          {"metric", "value", "epoch"} or None
    record        versions, git commit, time (plain data)

:func:`load_checkpoint` is the one loader (``vesselnet train --resume``, ``vesselnet predict``,
CV and tuning read through it). It uses ``torch.load(..., weights_only=True)`` only: a file
whose unpickling would need anything beyond tensors and plain containers (e.g. a crafted
pickle that runs code) is refused with a :class:`CheckpointError` and never unpickled.
:func:`save_checkpoint` refuses to write anything but tensors and plain data, so every
checkpoint we write can be read that way. Writes go to a temporary file in the same folder,
flushed to disk, then ``os.replace``: a crash leaves the previous checkpoint intact.
"""
from __future__ import annotations

import pickle
import random
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from vesselnet.train.runlog import open_atomic

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "check_plain",
    "check_same_config",
    "capture_rng",
    "restore_rng",
]

FORMAT = "vesselnet-checkpoint"
FORMAT_VERSION = 1
_REQUIRED = ("config", "model", "epoch", "step")


class CheckpointError(ValueError):
    """A file that is not a readable vesselnet checkpoint (or not one compatible with a run)."""


#: Exact types (never subclasses) that :func:`check_plain` lets through besides tensors:
#: what ``torch.load(weights_only=True)`` reads back. A subclass such as torch's
#: ``TorchVersion`` (a str) or NumPy's ``float64`` (a float) pickles as its own class,
#: which that loader refuses.
_PLAIN_LEAVES = (str, bytes, bool, int, float, type(None))
_PLAIN_MAPPINGS = (dict, OrderedDict)  # a module's state_dict() is an OrderedDict
_PLAIN_SEQUENCES = (list, tuple, torch.Size)
_PLAIN_KEYS = (str, int)


def check_plain(value, where: str = "checkpoint") -> None:
    """Raise TypeError unless ``value`` is tensors and plain data only.

    Plain data, by exact type (a subclass such as ``TorchVersion`` or ``numpy.float64``
    does not pass): str, bytes, int, float, bool, None; list, tuple and ``torch.Size`` of
    plain data; dict and ``OrderedDict`` with str or int keys. Tensors (``torch.Tensor``
    and ``nn.Parameter``) pass.

    Raises
    ------
    TypeError
        Naming the path inside ``value`` (``checkpoint['record']['versions']``) and the
        type of the first offending entry.
    """
    kind = type(value)
    if kind in _PLAIN_LEAVES or isinstance(value, torch.Tensor):
        return
    if kind in _PLAIN_MAPPINGS:
        for k, v in value.items():
            if type(k) not in _PLAIN_KEYS:
                raise TypeError(f"{where}: keys must be str or int, got {_type_name(k)}")
            check_plain(v, f"{where}[{k!r}]")
        return
    if kind in _PLAIN_SEQUENCES:
        for i, v in enumerate(value):
            check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where}: checkpoints hold tensors and plain data only, got {_type_name(value)}"
    )


def _type_name(value) -> str:
    """The class name of ``value``, saying which plain type it subclasses, if any."""
    kind = type(value)
    base = next((b for b in (*_PLAIN_LEAVES, *_PLAIN_MAPPINGS, *_PLAIN_SEQUENCES)
                 if isinstance(value, b)), None)
    if base is None:
        return kind.__name__
    return f"{kind.__name__} (a subclass of {base.__name__}; convert it to {base.__name__})"


def save_checkpoint(state: Mapping[str, Any], path) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, ``os.replace``).

    Parameters
    ----------
    state : mapping
        Tensors and plain data only (checked); ``format``/``format_version`` are added.
    path : path-like

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    TypeError
        If ``state`` holds anything but tensors and plain data (nothing is written).
    """
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    check_plain(payload)
    p = Path(path)
    with open_atomic(p, "wb", fsync=True) as fh:
        torch.save(payload, fh)
    return p


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a vesselnet checkpoint with ``torch.load(weights_only=True)`` (module docstring).

    Parameters
    ----------
    path : path-like
    map_location : str or torch.device, default "cpu"

    Returns
    -------
    dict
        The checkpoint (see the module docstring).

    Raises
    ------
    CheckpointError
        Naming the file: missing, truncated or corrupt, needing more than tensors and plain
        data to unpickle (refused, nothing of it is run), or not a vesselnet checkpoint
        (missing format marker or keys, newer format version).
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint: no such file: {str(p)!r}")
    try:
        data = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"checkpoint {str(p)!r}: not a vesselnet checkpoint: unpickling it needs more than "
            f"tensors and plain data, which could run code, so it was refused and nothing of it "
            f"ran ({_unpickler_reason(exc)})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a corrupt file raises anything from the readers
        raise CheckpointError(
            f"checkpoint {str(p)!r}: truncated or corrupt, cannot be read "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    return _check_format(data, p)


def _unpickler_reason(exc: Exception) -> str:
    """What torch's weights-only unpickler refused (not its advice to load unsafely)."""
    import re

    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return f"it asks for {found.group(1)}"
    found = re.search(r"Unsupported (operand \d+|class \S+)", text)
    if found:
        return f"unsupported pickle {found.group(1)}"
    return type(exc).__name__


def _check_format(data, p: Path) -> dict:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint {str(p)!r}: not a vesselnet checkpoint (no format marker {FORMAT!r})"
        )
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(p)!r}: format version {version!r} is not supported by this "
            f"vesselnet (reads versions <= {FORMAT_VERSION}); update vesselnet"
        )
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"checkpoint {str(p)!r}: incomplete, missing {', '.join(missing)}")
    return data


def load_model(path, device="cpu"):
    """The trained network of a checkpoint, in eval mode, and the checkpoint itself.

    Parameters
    ----------
    path : path-like
        A checkpoint written by :func:`vesselnet.train.train`.
    device : str or torch.device

    Returns
    -------
    model : torch.nn.Module
        Built from the checkpoint's config, weights loaded, in eval mode on ``device``.
    checkpoint : dict
        As :func:`load_checkpoint` (``checkpoint["prepare"]`` is the preprocessing record).

    Raises
    ------
    CheckpointError
        As :func:`load_checkpoint`, or weights that do not fit the network of its config.
    """
    from vesselnet.train.config import TrainConfig

    ckpt = load_checkpoint(path)
    try:
        config = TrainConfig.from_dict(ckpt["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: its config is invalid ({exc})") from exc
    model = config.build_model()
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {str(path)!r}: weights do not fit the network of its config "
            f"({str(exc).splitlines()[0]})"
        ) from exc
    return model.to(device).eval(), ckpt


def _flatten(d: dict, prefix: str = "") -> dict:
    """Nested dicts -> one dict with dotted keys (``{"optim.lr": ...}``)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def check_same_config(ckpt: dict, config, path) -> None:
    """Raise :class:`CheckpointError` unless ``config`` is the checkpoint's config, but for
    the ``run`` section and the name (what a resumed run may change).

    Parameters
    ----------
    ckpt : dict
        A checkpoint (:func:`load_checkpoint`).
    config : TrainConfig
        The config of the run that resumes.
    path : path-like
        The checkpoint's file, named in the error with the first differing keys.
    """
    old = {k: v for k, v in _flatten(ckpt["config"]).items() if not k.startswith(("run.", "name"))}
    new = {k: v for k, v in _flatten(config.to_dict()).items() if not k.startswith(("run.", "name"))}
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if diff:
        raise CheckpointError(
            f"checkpoint {str(path)!r}: made with another config (differs at {', '.join(diff[:8])}); "
            f"resume with the run's own config (its config.yaml), or start a new run"
        )


# ------------------------------------------------------------------------------------ RNG
def capture_rng() -> dict:
    """States of torch (CPU and every CUDA device), Python's ``random`` and NumPy's global RNG,
    as tensors and plain data."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "cuda": [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "python": _plain_python_state(random.getstate()),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
    }
    return state


def _plain_python_state(state):
    version, internal, gauss = state
    return [int(version), [int(v) for v in internal], gauss]


def restore_rng(state: Mapping) -> None:
    """Restore the states saved by :func:`capture_rng` (CUDA ones when devices match)."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )

"""The run folder of a training run: ownership check, run record, CSV/TensorBoard logs, bar.

Layout of ``out_dir``::

    run.json            config, versions, git commit, device, status (written atomically)
    config.yaml         the validated config (YAML)
    checkpoints/        last.pt, best.pt (vesselnet.train.checkpoint)
    steps.csv           one row per optimisation step: epoch, step, cases, lr, loss terms, Dice
    epochs.csv          one row per epoch: mean training terms, validation metrics
    tensorboard/        TensorBoard events (``tensorboard --logdir out_dir/tensorboard``)

A folder that holds another run (``run.json``) or other files is refused unless the run is
resumed (``resume=True``, which needs ``run.json`` and ``checkpoints/last.pt``) or
``overwrite=True`` (which removes the run files listed above, nothing else). A ``prepared/``
sub-folder (the data ``vesselnet train --data SOURCE`` prepares) is kept and reused. On resume, the
CSV rows after the checkpoint's step are dropped, so the logs tell the resumed run.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import io
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO, Iterator

from vesseltree.io import atomic_write

__all__ = ["RunFolder", "open_atomic", "write_atomic", "versions", "git_commit"]

RUN_FILES = ("run.json", "config.yaml", "steps.csv", "epochs.csv")
RUN_DIRS = ("checkpoints", "tensorboard")


@contextlib.contextmanager
def open_atomic(path, mode: str = "w", *, fsync: bool = False) -> Iterator[IO]:
    """Open a temporary file in ``path``'s folder; on success it replaces ``path``.

    The file object form of :func:`vesseltree.io.atomic_write`, the project's one atomic
    writer (config, run record, logs and checkpoints here): the file is written under a
    temporary name, then moved over ``path`` with ``os.replace``, so a reader sees the old
    file or the new one, never half of one. On any error the temporary file is removed and
    ``path`` is untouched.

    Parameters
    ----------
    path : path-like
        Its folder is created if missing.
    mode : {"w", "wb"}
        Text (UTF-8, newlines written as given) or binary.
    fsync : bool
        Flush the file to disk before the replace (checkpoints).

    Yields
    ------
    file object
        Open for writing.
    """
    text = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
    with atomic_write(path) as tmp, open(tmp, mode, **text) as fh:
        yield fh
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``
    (:func:`open_atomic`)."""
    with open_atomic(path, "w") as fh:
        fh.write(text)


def git_commit() -> str | None:
    """The commit of the checkout vesselnet runs from (None outside a git checkout)."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def versions() -> dict:
    """Versions of Python, torch, CUDA/cuDNN, NumPy and vesselnet, plus the host."""
    import numpy
    import torch

    from vesselnet import __version__ as vn_version

    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # a TorchVersion (str subclass) would not load with weights_only
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "numpy": numpy.__version__,
        "vesselnet": vn_version,
        "platform": platform.platform(),
        "host": platform.node(),
    }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class RunFolder:
    """Owns ``out_dir`` for one run (module docstring). Only rank 0 creates one.

    Parameters
    ----------
    out_dir : path-like
    resume, overwrite : bool
        What to do when the folder already holds a run (both False: refuse).
    """

    def __init__(self, out_dir, *, resume: bool = False, overwrite: bool = False) -> None:
        self.root = Path(out_dir)
        self.checkpoints = self.root / "checkpoints"
        self.last = self.checkpoints / "last.pt"
        self.best = self.checkpoints / "best.pt"
        self._claim(resume, overwrite)
        self.record: dict = {}
        self._tb = None

    @staticmethod
    def check_claim(out_dir, *, resume: bool = False, overwrite: bool = False) -> None:
        """Raise ValueError (naming ``out``/``resume``) unless a run may use ``out_dir``;
        changes nothing. ``prepared/`` (the command line's data cache) does not count."""
        root = Path(out_dir)
        if root.exists() and not root.is_dir():
            raise ValueError(f"out: {str(root)!r} exists and is not a folder")
        if resume:
            if not (root / "run.json").is_file() or not (root / "checkpoints" / "last.pt").is_file():
                raise ValueError(
                    f"resume: {str(root)!r} holds no run to resume (needs run.json and "
                    f"checkpoints/last.pt); start a new run without --resume"
                )
            return
        existing = sorted(p.name for p in root.iterdir() if p.name != "prepared") if root.is_dir() else []
        if existing and not overwrite:
            what = ("another run (run.json)" if "run.json" in existing
                    else f"files ({', '.join(existing[:5])})")
            raise ValueError(
                f"out: {str(root)!r} already holds {what}; pass --resume to continue that "
                f"run or --overwrite to replace it, or choose another folder"
            )

    def _claim(self, resume: bool, overwrite: bool) -> None:
        self.check_claim(self.root, resume=resume, overwrite=overwrite)
        if resume or not overwrite:
            return
        for name in RUN_FILES:
            (self.root / name).unlink(missing_ok=True)
        for name in RUN_DIRS:
            shutil.rmtree(self.root / name, ignore_errors=True)

    # ------------------------------------------------------------------ record
    def start(self, config, *, device: str, world_size: int, resumed_step: int | None) -> None:
        """Write ``config.yaml`` and ``run.json`` (status ``running``)."""
        from vesselnet.train.config import save_config

        self.root.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(exist_ok=True)
        save_config(config, self.root / "config.yaml")
        previous = self._read_record() if resumed_step is not None else {}
        self.record = {
            "name": config.name,
            "status": "running",
            "config": config.to_dict(),
            "versions": versions(),
            "git_commit": git_commit(),
            "command": " ".join(sys.argv),
            "device": device,
            "world_size": world_size,
            "started": previous.get("started", _now()),
            "resumes": previous.get("resumes", []) + ([{"at": _now(), "step": resumed_step}]
                                                      if resumed_step is not None else []),
        }
        self._write_record()

    def _read_record(self) -> dict:
        try:
            return json.loads((self.root / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _write_record(self) -> None:
        write_atomic(self.root / "run.json", json.dumps(self.record, indent=2, default=str) + "\n")

    def finish(self, status: str, **info) -> None:
        """Set the run's status (``completed``, ``failed``, ``interrupted``) and details."""
        self.record.update(status=status, finished=_now(), **info)
        self._write_record()
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    # ------------------------------------------------------------------ CSV logs
    def truncate_logs(self, step: int, epoch: int) -> None:
        """Drop rows logged after the checkpoint (``step``, ``epoch``) being resumed."""
        self._truncate(self.root / "steps.csv", lambda r: int(r["step"]) <= step)
        self._truncate(self.root / "epochs.csv", lambda r: int(r["epoch"]) <= epoch)

    @staticmethod
    def _truncate(path: Path, keep) -> None:
        if not path.is_file():
            return
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            rows = [r for r in reader if r.get("step" if "step" in fields else "epoch") and keep(r)]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(path, buf.getvalue())

    def append(self, name: str, row: dict) -> None:
        """Append one row to ``name`` (``steps.csv`` / ``epochs.csv``); a new column rewrites
        the file with the widened header."""
        path = self.root / name
        values = {k: _cell(v) for k, v in row.items()}
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), [])
            if all(k in header for k in values):
                with path.open("a", newline="", encoding="utf-8") as fh:
                    csv.DictWriter(fh, fieldnames=header, lineterminator="\n").writerow(values)
                return
            with path.open(newline="", encoding="utf-8") as fh:
                old = list(csv.DictReader(fh))
            header = header + [k for k in values if k not in header]
        else:
            old, header = [], list(values)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(old + [values])
        write_atomic(path, buf.getvalue())

    # ------------------------------------------------------------------ TensorBoard
    def tensorboard(self, purge_step: int | None):
        """A ``SummaryWriter`` on ``tensorboard/`` (events after ``purge_step`` dropped)."""
        if self._tb is None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.root / "tensorboard"), purge_step=purge_step)
        return self._tb


def _cell(v):
    if isinstance(v, float):
        return repr(v)  # shortest exact text: the logs compare bit for bit
    if isinstance(v, (list, tuple)):
        return ";".join(str(x) for x in v)
    return v

"""Output folders written as units: complete and consistent, or clearly marked incomplete.

Every output folder of a command (``vesseltree analyze``'s ``OUT/<name>/`` per input,
``vesselnet evaluate``'s ``--out``) is one :class:`OutputUnit`:

1. the files are written into a hidden sibling ``.<name>.partial-<pid>/``, which holds a file
   ``INCOMPLETE`` while it is being filled;
2. when every file is there, a ``manifest.json`` (tool, version, files, inputs) is written,
   ``INCOMPLETE`` removed, and the folder moved into place with :func:`os.replace`: an
   existing folder of an earlier run is first moved aside to ``.<name>.old-<pid>/`` and
   removed once the new one is in place.

So ``OUT/<name>/`` only ever holds the files of one complete run; a run killed at any point
leaves at most hidden ``.partial-``/``.old-`` folders (their names say what they are), which
the next run for the same name removes. An existing folder is replaced only with
``overwrite=True`` (``--overwrite``), and only when it is an output folder of the same tool
(its ``manifest.json``, or only files the tool writes), never another folder.

Names of output folders and files derived from inputs or case ids go through
:func:`safe_output_name`; names a user gives through :func:`check_output_name`: one path
component, never ``..`` nor hidden, so nothing escapes the output folder (both are also in
:mod:`vesseltree.io`).

A test hook pauses the writer (environment variable :data:`PAUSE_ENV` set to a step label,
e.g. ``file:labels.nii.gz`` or ``swap:old-moved``): it prints ``PAUSED <label>`` on stderr and
sleeps, so a test can kill the process at that exact point.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["OutputUnit", "MANIFEST", "INCOMPLETE", "PAUSE_ENV", "OutputFolderError",
           "check_out_folder", "safe_output_name", "check_output_name"]

MANIFEST = "manifest.json"
INCOMPLETE = "INCOMPLETE"
#: test hook: pause at this step label (see the module docstring)
PAUSE_ENV = "VESSELTREE_TEST_PAUSE_AT"


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def safe_output_name(text: str, default: str = "volume") -> str:
    """A file or folder name derived from ``text`` that stays inside its output folder.

    Characters other than letters, digits, ``.``, ``_``, ``+`` and ``-`` become ``_``; a
    leading dot (hidden files, ``.``, ``..``) gets a ``_`` in front; an empty result is
    ``default``. For names derived from inputs (file stems, patient folders, case ids).

    Parameters
    ----------
    text : str
    default : str

    Returns
    -------
    str
        One path component, never ``.``, ``..`` or hidden.
    """
    name = _UNSAFE.sub("_", str(text))
    if name.startswith("."):
        name = "_" + name
    return name or default


def check_output_name(name, param: str = "name") -> str:
    """``name`` if it is one plain path component, else a ``ValueError`` naming ``param``.

    For names a user gives (``name=``, an output folder): no ``/``, ``\\`` or NUL, not
    empty, ``.`` or ``..``, not starting with ``.`` (hidden names are the temporary folders
    of :class:`OutputUnit`). Spaces and other characters are fine.
    """
    if not isinstance(name, str):
        raise TypeError(f"{param}: expected a str, got {type(name).__name__}")
    if not name or name.startswith(".") or any(c in name for c in "/\\\0"):
        raise ValueError(
            f"{param}: expected a plain file name (no '/', '\\', NUL, not starting with '.'), "
            f"got {name!r}; it could escape the output folder (e.g. {safe_output_name(name)!r} "
            "is safe)")
    return name


class OutputFolderError(ValueError):
    """An output folder that cannot be written (exists, not ours, is a file)."""


def _pause(label: str) -> None:
    if os.environ.get(PAUSE_ENV) == label:
        print(f"PAUSED {label}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get(PAUSE_ENV + "_SECONDS", "60")))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_out_folder(path, param: str = "--out") -> Path:
    """``path`` as a folder to write into: created if missing; an existing file is an error
    naming ``param`` and the path."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputFolderError(f"{param}: {str(p)!r} exists and is a file, not a folder; "
                                "choose another output folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a file on the way (e.g. OUT/a where a is a file)
        raise OutputFolderError(f"{param}: cannot create the folder {str(p)!r}: a file is in the "
                                f"way ({exc.filename!r})") from exc
    except OSError as exc:
        raise OutputFolderError(f"{param}: cannot create the folder {str(p)!r}: {exc.strerror}") from exc
    return p


class OutputUnit:
    """One output folder written as a unit (module docstring).

    Parameters
    ----------
    target : path-like
        The final folder (``OUT/<name>``). Its name must be a plain name
        (:func:`vesseltree.io.check_output_name`).
    tool : str
        What writes it (``"vesseltree analyze"``), recorded in the manifest and used to
        recognise a folder of an earlier run.
    known_files : sequence of str
        Names the tool writes there: a folder without a manifest holding only these (an
        output of an older release) counts as the tool's.
    overwrite : bool
        Replace an existing output folder of the same tool.

    Use as a context manager; :attr:`dir` is the temporary folder to write into, call
    :meth:`wrote` after each file and :meth:`commit` at the end (leaving the ``with`` block
    without commit, e.g. on an error, removes the temporary folder).
    """

    def __init__(self, target, *, tool: str, known_files: Sequence[str] = (),
                 overwrite: bool = False, param: str = "name"):
        self.target = Path(target)
        check_output_name(self.target.name, param)
        self.tool = tool
        self.known = set(known_files) | {MANIFEST}
        self.overwrite = bool(overwrite)
        self.dir: Path | None = None
        self.files: list[str] = []
        self.committed = False

    # ----------------------------------------------------------------- checks
    def _is_ours(self) -> bool:
        m = self.target / MANIFEST
        if m.is_file():
            try:
                return json.loads(m.read_text(encoding="utf-8")).get("tool") == self.tool
            except (OSError, ValueError, AttributeError):
                return False
        return all(e.name in self.known for e in self.target.iterdir())

    def check_target(self) -> None:
        """Raise :class:`OutputFolderError` unless the target may be (re)written."""
        t = self.target
        if t.is_symlink() or (t.exists() and not t.is_dir()):
            raise OutputFolderError(f"{str(t)!r} exists and is not a folder; not replacing it")
        if not t.exists() or not any(t.iterdir()):
            return
        if not self._is_ours():
            raise OutputFolderError(
                f"{str(t)!r} exists and is not an output folder of {self.tool} (files it does "
                "not write); not replacing it, choose another --out")
        if not self.overwrite:
            raise OutputFolderError(
                f"{str(t)!r} holds the outputs of an earlier run; pass --overwrite "
                "(overwrite=True) to replace them")

    def clean_stale(self) -> list[Path]:
        """Remove the temporary folders a killed run left for this name; returns them."""
        removed = []
        parent = self.target.parent
        if not parent.is_dir():
            return removed
        for kind in ("partial", "old"):
            for p in parent.glob(f".{self.target.name}.{kind}-*"):
                pid = p.name.rsplit("-", 1)[-1]
                if p.is_dir() and not p.is_symlink() and pid.isdigit() and not _alive(int(pid)):
                    shutil.rmtree(p, ignore_errors=True)
                    removed.append(p)
        return removed

    # ----------------------------------------------------------------- writing
    def __enter__(self) -> "OutputUnit":
        self.check_target()
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.clean_stale()
        self.dir = self.target.parent / f".{self.target.name}.partial-{os.getpid()}"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir()
        (self.dir / INCOMPLETE).write_text(
            f"{self.tool} was writing {self.target.name}/ here; if this folder is still here, "
            "that run did not finish and these files are incomplete.\n", encoding="utf-8")
        return self

    def path(self, name: str) -> Path:
        """Where to write the file ``name`` (inside the temporary folder)."""
        return self.dir / name

    def wrote(self, name: str) -> None:
        """Record that ``name`` is complete (and run the test pause hook)."""
        self.files.append(name)
        _pause(f"file:{name}")

    def commit(self, *, inputs: Iterable[str] = (), extra: dict | None = None) -> Path:
        """Write the manifest and move the folder into place (module docstring)."""
        from vesseltree import __version__
        from vesseltree.io import atomic_write

        manifest = {"tool": self.tool, "version": __version__, "files": sorted(self.files),
                    "inputs": [str(i) for i in inputs], **(extra or {})}
        with atomic_write(self.dir / MANIFEST) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        self.check_target()  # nothing appeared meanwhile that is not ours
        (self.dir / INCOMPLETE).unlink()
        _pause("swap:marker-removed")
        old = None
        if self.target.exists():
            old = self.target.parent / f".{self.target.name}.old-{os.getpid()}"
            os.replace(self.target, old)
            _pause("swap:old-moved")
        try:
            os.replace(self.dir, self.target)
        except OSError:
            if old is not None:  # put the earlier run back
                os.replace(old, self.target)
            raise
        _pause("swap:new-moved")
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self.committed = True
        return self.target

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.committed and self.dir is not None and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

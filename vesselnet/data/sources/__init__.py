"""Sources of cases: synthetic phantoms, 3D-IRCADb, MSD / nnU-Net NIfTI; :func:`open_source`."""
from __future__ import annotations

import re
from pathlib import Path

from vesselnet.ircadb_layout import PATIENT_FOLDER

from .base import Source
from .ircadb import IrcadbSource
from .nifti import NiftiSource
from .synthetic import SyntheticSource

__all__ = ["Source", "SyntheticSource", "IrcadbSource", "NiftiSource", "open_source", "source_kind"]


def source_kind(spec) -> str:
    """``"synthetic"``, ``"nifti"`` or ``"ircadb"`` for a spec of :func:`open_source`.

    Raises
    ------
    ValueError
        An unknown spec, naming the layouts understood.
    """
    if isinstance(spec, str) and re.fullmatch(r"synthetic(?::\d+)?", spec.strip()):
        return "synthetic"
    p = Path(spec)
    if not p.exists():
        raise ValueError(f"source: {str(spec)!r} is neither 'synthetic[:N]' nor an existing folder")
    if p.is_dir() and (p / "dataset.json").is_file():
        return "nifti"
    if p.is_dir() and (PATIENT_FOLDER.fullmatch(p.name)
                       or any(PATIENT_FOLDER.fullmatch(c.name) for c in p.iterdir() if c.is_dir())):
        return "ircadb"
    raise ValueError(
        f"source: {str(spec)!r} is not a dataset this layer reads; expected 'synthetic[:N]', a "
        "folder with dataset.json (MSD / nnU-Net NIfTI) or a 3D-IRCADb-01 folder (3Dircadb1.N)")


def open_source(spec, **options) -> Source:
    """A source from a short description.

    Parameters
    ----------
    spec : str or path-like
        ``"synthetic"`` (4 cases) or ``"synthetic:N"``; a folder holding ``dataset.json``
        (:class:`NiftiSource`); a 3D-IRCADb-01 folder (``3Dircadb1.N`` sub-folders) or one
        patient folder (:class:`IrcadbSource`).
    **options
        Passed to the source's constructor.

    Raises
    ------
    ValueError
        An unknown spec (:func:`source_kind`).
    """
    kind = source_kind(spec)
    if kind == "synthetic":
        m = re.fullmatch(r"synthetic(?::(\d+))?", spec.strip())
        if m.group(1) is not None:
            options.setdefault("n_cases", int(m.group(1)))
        return SyntheticSource(**options)
    return (NiftiSource if kind == "nifti" else IrcadbSource)(Path(spec), **options)

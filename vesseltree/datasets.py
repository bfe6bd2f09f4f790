"""Where the 3D-IRCADb-01 data is read from: one rule for the tests, the benchmarks and the
scripts.

The rule
--------
1. The environment variable ``VESSELTREE_IRCADB``, when set: the folder holding the
   ``3Dircadb1.N`` patient folders.
2. Otherwise ``../shared/data/3Dircadb1`` beside the checkout, i.e.
   ``<checkout>/../shared/data/3Dircadb1`` (the layout of the project machines).

The data is never copied into the repository. Callers that need it skip (tests,
benchmarks) or stop with a message (scripts) naming the path and the variable when the
folder is absent.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["IRCADB_ENV", "ircadb_root", "ircadb_patient_mask", "default_checkout"]

IRCADB_ENV = "VESSELTREE_IRCADB"


def default_checkout() -> Path:
    """The checkout (source tree) that holds this package: the folder above ``vesseltree/``."""
    return Path(__file__).resolve().parents[1]


def ircadb_root(checkout: str | os.PathLike | None = None) -> Path:
    """Folder holding the ``3Dircadb1.N`` patient folders, by the module's rule.

    Parameters
    ----------
    checkout : path, optional
        The source tree whose neighbour ``../shared/data`` is searched; default
        :func:`default_checkout`.

    Returns
    -------
    pathlib.Path
        ``$VESSELTREE_IRCADB`` when set, else ``<checkout>/../shared/data/3Dircadb1``; the
        folder may not exist (callers check).
    """
    if os.environ.get(IRCADB_ENV):
        return Path(os.environ[IRCADB_ENV])
    base = Path(checkout) if checkout is not None else default_checkout()
    return base.resolve().parent / "shared" / "data" / "3Dircadb1"


def ircadb_patient_mask(patient: int = 1, checkout: str | os.PathLike | None = None) -> Path:
    """Path of patient ``patient``'s ``MASKS_DICOM.zip`` under :func:`ircadb_root`.

    Parameters
    ----------
    patient : int
        Patient number, 1 to 20.
    checkout : path, optional
        See :func:`ircadb_root`.

    Returns
    -------
    pathlib.Path
        The path (it may not exist).
    """
    return ircadb_root(checkout) / f"3Dircadb1.{int(patient)}" / "MASKS_DICOM.zip"

"""The 3D-IRCADb patient folder layout, as vesselnet reads it.

A patient folder ``3Dircadb1.N`` holds its CT as ``PATIENT_DICOM`` and its labelled masks as
``MASKS_DICOM``, each either a zip (``PATIENT_DICOM.zip``) or a folder of DICOM slices; the zip
is preferred when both are there. :func:`vesseltree.load_volume` reads either part.
"""
from __future__ import annotations

import re
from pathlib import Path

__all__ = ["MASKS_DICOM", "PATIENT_DICOM", "PATIENT_FOLDER", "patient_part"]

#: the part holding the labelled masks (one DICOM series per structure)
MASKS_DICOM = "MASKS_DICOM"
#: the part holding the CT
PATIENT_DICOM = "PATIENT_DICOM"
#: name of a patient folder; group 1 is the patient number
PATIENT_FOLDER = re.compile(r"3Dircadb1\.(\d+)")


def patient_part(folder: Path, name: str) -> Path | None:
    """The part ``name`` of a patient folder: ``folder/<name>.zip``, else ``folder/<name>``.

    Parameters
    ----------
    folder : pathlib.Path
        A 3D-IRCADb patient folder (any folder is accepted).
    name : str
        :data:`PATIENT_DICOM`, :data:`MASKS_DICOM` or another part's name.

    Returns
    -------
    pathlib.Path or None
        The first of the two that exists, or None when neither does.
    """
    for cand in (folder / f"{name}.zip", folder / name):
        if cand.exists():
            return cand
    return None

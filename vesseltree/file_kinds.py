"""What a volume file is: its extension (:func:`split_extension`) and the reader
:func:`vesseltree.io.load_volume` uses for it (:func:`file_kind`).

``.nii.gz`` is one extension; a folder is DICOM (slices, or a patient folder holding
``MASKS_DICOM.zip``, :func:`vesseltree._dicom.dicom_location`). Every name here is also
importable from :mod:`vesseltree.io`.
"""
from __future__ import annotations

from pathlib import Path

from ._dicom import dicom_location

__all__ = ["VOLUME_EXTENSIONS", "SUPPORTED_EXTENSIONS", "split_extension", "file_kind",
           "volume_suffix"]

#: file kinds understood by :func:`vesseltree.io.load_volume`
SUPPORTED_EXTENSIONS = (".nii", ".nii.gz", ".npy", ".npz", ".zip (DICOM)", "folder of DICOM slices")
#: extensions :func:`split_extension` knows (longest first)
VOLUME_EXTENSIONS = (".nii.gz", ".nii", ".npy", ".npz", ".zip")


def split_extension(filename: str) -> tuple[str, str]:
    """``(stem, extension)`` of a volume file name; the extension is one of
    :data:`VOLUME_EXTENSIONS` (lower case, ``.nii.gz`` whole) or ``""``.

    >>> split_extension("Case01.NII.GZ")
    ('Case01', '.nii.gz')
    """
    low = str(filename).lower()
    for ext in VOLUME_EXTENSIONS:
        if low.endswith(ext) and len(low) > len(ext):
            return str(filename)[: -len(ext)], ext
    return str(filename), ""


def volume_suffix(path) -> str:
    """The extension of a file name: one of :data:`VOLUME_EXTENSIONS`, else its last suffix
    (lower case; ``""`` without one)."""
    p = Path(path)
    ext = split_extension(p.name)[1]
    return ext or Path(p.name.lower()).suffix


def file_kind(path) -> str:
    """What :func:`vesseltree.io.load_volume` reads ``path`` as: ``"nifti"``, ``"npy"``,
    ``"npz"``, ``"dicom-zip"`` or ``"dicom-dir"``; ``ValueError`` for an unsupported file."""
    p = Path(path)
    if p.is_dir():
        loc = dicom_location(p)
        return "dicom-dir" if loc.is_dir() else "dicom-zip"
    suffix = volume_suffix(p)
    if suffix in {".nii", ".nii.gz"}:
        return "nifti"
    if suffix == ".npy":
        return "npy"
    if suffix == ".npz":
        return "npz"
    if suffix == ".zip":
        return "dicom-zip"
    raise ValueError(
        f"path: unsupported file {str(p)!r} (extension {suffix or '(none)'!r}); supported: "
        + ", ".join(SUPPORTED_EXTENSIONS)
    )

"""3D-IRCADb in its release layout: ``3Dircadb1.N/PATIENT_DICOM(.zip)`` + ``MASKS_DICOM(.zip)``.

Reading goes through :func:`vesseltree.load_volume` (slices ordered by their position along the
slice normal, spacing from PixelSpacing and the slice positions, CT in HU from RescaleSlope and
RescaleIntercept, archives read in memory, never extracted), after an archive check
(:func:`vesselnet.data._files.check_zip`: no absolute or ``..`` member names, bounded
uncompressed size).

The vessel mask is the union of ``structures`` (default: portal vein + venous system as
:func:`vesseltree.load_volume` matches them, i.e. ``portalvein`` or ``portalvein1``, and
``venoussystem``, or ``venacava`` for the patients without it); the liver mask
(``liver``) gives the crop. A structure that does not exist is an error listing those that do.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from vesselnet.ircadb_layout import MASKS_DICOM, PATIENT_DICOM, PATIENT_FOLDER, patient_part

from .._files import check_zip, file_record
from ..case import Case
from .base import Source

__all__ = ["IrcadbSource", "DEFAULT_STRUCTURES"]

#: default vessel structures (with :func:`vesseltree.load_volume`'s matching and fallback)
DEFAULT_STRUCTURES = ("portalvein", "venoussystem")
def _patient_key(p) -> str:
    s = str(p)
    m = re.fullmatch(r"(?:3Dircadb)?1\.(\d+)|(\d+)", s)
    if not m:
        raise ValueError(f"patients: expected patient numbers such as 1, '1.7' or '3Dircadb1.7', got {p!r}")
    return f"3Dircadb1.{int(m.group(1) or m.group(2))}"


class IrcadbSource(Source):
    """Patients of a 3D-IRCADb-01 folder.

    Parameters
    ----------
    root : path-like
        Folder holding ``3Dircadb1.N`` patient folders, or one patient folder.
    patients : sequence, optional
        Patient numbers (``1``, ``"1.7"``, ``"3Dircadb1.7"``); default every patient with a CT
        (and masks; with ``require_image=False``, every patient with masks).
    structures : str or sequence of str
        Vessel structures (module docstring); matched case-insensitively.
    liver : str or None
        Liver structure for the crop (None: no liver mask).
    require_image : bool
        Without it, patients without ``PATIENT_DICOM`` give cases with ``image=None``.
    """

    def __init__(self, root, patients: Sequence | None = None,
                 structures: str | Sequence[str] = DEFAULT_STRUCTURES, *, liver: str | None = "liver",
                 require_image: bool = True):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"root: no such folder: {str(self.root)!r}")
        if PATIENT_FOLDER.fullmatch(self.root.name):
            folders = {self.root.name: self.root}
        else:
            folders = {p.name: p for p in self.root.iterdir() if p.is_dir() and PATIENT_FOLDER.fullmatch(p.name)}
        if not folders:
            raise ValueError(f"root: no 3Dircadb1.N patient folder in {str(self.root)!r}")
        self.structures = (structures,) if isinstance(structures, str) else tuple(structures)
        if not self.structures or not all(isinstance(s, str) and s for s in self.structures):
            raise ValueError(f"structures: expected structure names, got {structures!r}")
        if liver is not None and not isinstance(liver, str):
            raise TypeError(f"liver: expected a structure name or None, got {liver!r}")
        self.liver = liver
        self.require_image = bool(require_image)
        if patients is None:
            keys = sorted(folders, key=lambda n: int(n.split(".")[1]))
            keys = [k for k in keys if patient_part(folders[k], MASKS_DICOM)
                    and (not self.require_image or patient_part(folders[k], PATIENT_DICOM))]
            if not keys:
                what = "PATIENT_DICOM and MASKS_DICOM" if self.require_image else "MASKS_DICOM"
                raise ValueError(f"root: no patient folder with {what} in {str(self.root)!r}")
        else:
            keys = [_patient_key(p) for p in patients]
            missing = [k for k in keys if k not in folders]
            if missing:
                raise ValueError(f"patients: {missing} not found in {str(self.root)!r}; "
                                 f"available: {sorted(folders, key=lambda n: int(n.split('.')[1]))}")
        self._folders = {k: folders[k] for k in keys}
        self.case_ids = list(keys)

    def _files(self, case_id: str) -> tuple[Path | None, Path]:
        folder = self._folders[self._check_id(case_id)]
        masks = patient_part(folder, MASKS_DICOM)
        if masks is None:
            raise FileNotFoundError(f"{case_id}: no MASKS_DICOM.zip or MASKS_DICOM/ in {str(folder)!r}")
        image = patient_part(folder, PATIENT_DICOM)
        if image is None and self.require_image:
            raise FileNotFoundError(f"{case_id}: no PATIENT_DICOM.zip or PATIENT_DICOM/ in {str(folder)!r}")
        return image, masks

    def record(self) -> dict:
        return {"kind": "ircadb", "root": str(self.root), "patients": list(self.case_ids),
                "structures": list(self.structures), "liver": self.liver,
                "require_image": self.require_image}

    def case_record(self, case_id: str) -> dict:
        image, masks = self._files(case_id)
        return {"kind": "ircadb", "case_id": case_id, "patient": case_id.replace("3Dircadb", ""),
                "structures": list(self.structures), "liver": self.liver,
                "files": {"image": None if image is None else file_record(image),
                          "masks": file_record(masks)}}

    def load(self, case_id: str) -> Case:
        from vesseltree.io import load_volume

        image_path, masks_path = self._files(case_id)
        rec = self.case_record(case_id)
        for p in (image_path, masks_path):
            if p is not None and p.is_file():
                check_zip(p)
        wanted = None if self.structures == DEFAULT_STRUCTURES else list(self.structures)
        vessel = load_volume(masks_path, structures=wanted)
        rec["vessel_source"] = vessel.source
        liver = None
        if self.liver is not None:
            liver = load_volume(masks_path, structures=self.liver)
            _same_grid(vessel, liver, masks_path, masks_path)
        image = None
        if image_path is not None:
            ct = load_volume(image_path)
            if ct.data.dtype == bool:
                raise ValueError(f"{case_id}: {str(image_path)!r} holds masks, expected one CT series")
            _same_grid(ct, vessel, image_path, masks_path)
            image = ct.data
        return Case(case_id, image, vessel.data, None if liver is None else liver.data,
                    vessel.spacing, vessel.affine, rec)


def _same_grid(a, b, path_a: Path, path_b: Path) -> None:
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {str(path_a)!r} is {a.shape}, {str(path_b)!r} is {b.shape}")
    if not np.allclose(a.spacing, b.spacing, rtol=1e-3, atol=1e-4):
        raise ValueError(f"spacing mismatch: {str(path_a)!r} has {a.spacing} mm, "
                         f"{str(path_b)!r} has {b.spacing} mm")
    if not np.allclose(a.affine, b.affine, atol=1e-2):
        raise ValueError(f"geometry mismatch: {str(path_a)!r} and {str(path_b)!r} do not share "
                         "slice positions/orientation (affines differ)")

"""What ``vesselnet predict`` reads: input paths -> safe case ids -> cases in original geometry.

Understood inputs (each path on the command line may be any of them):

- a CT volume file: NIfTI (``.nii``, ``.nii.gz``), ``.npz`` with a ``spacing`` (or ``affine``)
  array, ``.npy`` (no voxel size: needs ``spacing=``), a DICOM series as a zip (e.g. a 3D-IRCADb
  ``PATIENT_DICOM.zip``) or a folder of DICOM slices;
- a 3D-IRCADb patient folder (``3Dircadb1.N`` holding ``PATIENT_DICOM(.zip)``; the liver mask
  of its ``MASKS_DICOM(.zip)``, when there, gives the crop), or the folder holding such
  patient folders (every patient with a CT);
- a prepared folder (``manifest.json`` of :func:`vesselnet.data.prepare`): every case, already
  on its prepared grid, with its way back to the original grid.

Every input becomes an :class:`InputItem` with a case id that is a safe file name
(:func:`safe_case_id`: letters, digits, ``._-``, no ``..``, made unique), so that output names
derived from file names cannot leave the output folder. Reading happens in :func:`load_input`,
one item at a time, so that an unreadable file fails alone. Archives are checked before they
are read (:func:`vesselnet.data._files.check_zip`: no absolute or ``..`` member, bounded size).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from vesseltree.io import VOLUME_EXTENSIONS, split_extension
from vesselnet.ircadb_layout import MASKS_DICOM, PATIENT_DICOM, PATIENT_FOLDER, patient_part

__all__ = ["InputItem", "discover_inputs", "load_input", "safe_case_id", "VOLUME_SUFFIXES"]

#: file suffixes read as one volume (:data:`vesseltree.io.VOLUME_EXTENSIONS`)
VOLUME_SUFFIXES = VOLUME_EXTENSIONS
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class InputItem:
    """One case to predict.

    Attributes
    ----------
    case_id : str
        Safe, unique file name stem of its outputs.
    kind : str
        ``"volume"`` (a file or DICOM folder), ``"ircadb"`` (a patient folder), ``"prepared"``
        (a case of a prepared folder) or ``"missing"`` (a path that does not exist).
    path : Path
        The file or folder (the prepared folder's root for ``"prepared"``).
    key : str
        The case's id in its prepared folder (``"prepared"`` only).
    source : str
        What the user named, for messages.
    """

    case_id: str
    kind: str
    path: Path
    key: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict)


def safe_case_id(name: str) -> str:
    """A file-name-safe case id from any name (``"../x y"`` -> ``"x_y"``).

    Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``; ``..`` becomes
    ``_``; leading ``.``, ``_`` and ``-`` are dropped; at most 120 characters; ``"case"`` if
    nothing is left. The result passes :func:`vesselnet.data.case.check_case_id`.
    """
    s = _UNSAFE.sub("_", str(name))
    while ".." in s:
        s = s.replace("..", "_")
    s = s.lstrip("._-")[:120].rstrip(".")
    return s or "case"


def _volume_stem(p: Path) -> str:
    stem = split_extension(p.name)[0]
    # a 3D-IRCADb PATIENT_DICOM(.zip) is named after its patient folder
    if stem.upper() == PATIENT_DICOM and PATIENT_FOLDER.fullmatch(p.parent.name):
        return p.parent.name
    return stem


def _expand(path: Path, label: str) -> list[InputItem]:
    if not path.exists():
        return [InputItem(_volume_stem(path), "missing", path, source=label)]
    if path.is_dir():
        if (path / "manifest.json").is_file():
            return _prepared_items(path, label)
        if patient_part(path, PATIENT_DICOM) is not None:
            return [InputItem(path.name, "ircadb", path, source=label)]
        patients = sorted((c for c in path.iterdir() if c.is_dir() and PATIENT_FOLDER.fullmatch(c.name)),
                          key=lambda c: int(c.name.split(".")[1]))
        if patients:
            with_ct = [c for c in patients if patient_part(c, PATIENT_DICOM) is not None]
            if not with_ct:
                return [InputItem(path.name, "missing", path, source=label,
                                  extra={"reason": "a 3D-IRCADb folder without any PATIENT_DICOM (no CT to predict)"})]
            return [InputItem(c.name, "ircadb", c, source=str(c)) for c in with_ct]
        return [InputItem(path.name, "volume", path, source=label)]
    return [InputItem(_volume_stem(path), "volume", path, source=label)]


def _prepared_items(root: Path, label: str) -> list[InputItem]:
    from vesselnet.data import PreparedDataset

    try:
        ds = PreparedDataset(root)
    except Exception as exc:  # noqa: BLE001 - a broken manifest fails this input only
        return [InputItem(root.name, "missing", root, source=label,
                          extra={"reason": f"cannot read the prepared folder ({exc})"})]
    return [InputItem(cid, "prepared", root, key=cid, source=f"{label}:{cid}") for cid in ds.case_ids]


def discover_inputs(paths: Iterable) -> list[InputItem]:
    """Expand input paths into cases with safe, unique case ids (nothing is read yet).

    A path that does not exist is kept as a ``"missing"`` item, so that it is reported as a
    failure while the other inputs are predicted. Repeated ids get ``-2``, ``-3``, ...

    Raises
    ------
    ValueError
        No input at all.
    """
    items: list[InputItem] = []
    for raw in paths:
        items += _expand(Path(raw), str(raw))
    if not items:
        raise ValueError("inputs: expected at least one file or folder, got none")
    seen: dict[str, int] = {}
    for it in items:
        base = safe_case_id(it.case_id)
        n = seen.get(base.lower(), 0) + 1
        seen[base.lower()] = n
        it.case_id = base if n == 1 else f"{base}-{n}"
    return items


# --------------------------------------------------------------------------------------------
# reading


def _check_archive(p: Path) -> None:
    from vesselnet.data._files import check_zip

    if p.is_file() and p.name.lower().endswith(".zip"):
        check_zip(p)


def _npz_has_geometry(p: Path) -> bool:
    with np.load(p, allow_pickle=False) as npz:
        return "spacing" in npz.files or "affine" in npz.files


def _read_ct(p: Path, spacing, where: str):
    from vesseltree.io import load_volume

    low = p.name.lower()
    if spacing is None and low.endswith(".npy"):
        raise ValueError(f"{where}: a .npy file holds no voxel size; give the spacing (--spacing Z Y X, mm) "
                         "or convert it to NIfTI")
    if spacing is None and low.endswith(".npz") and not _npz_has_geometry(p):
        raise ValueError(f"{where}: this .npz holds no 'spacing' or 'affine' array, so no voxel size; "
                         "give the spacing (--spacing Z Y X, mm)")
    _check_archive(p)
    vol = load_volume(p, spacing=spacing)
    if vol.data.dtype == bool:
        raise ValueError(f"{where}: holds masks, expected a CT image (one series of intensities)")
    return vol


def _read_liver(masks: Path, shape, where: str):
    from vesseltree.io import list_structures, load_volume

    _check_archive(masks)
    names = [s.lower() for s in list_structures(masks)]
    if "liver" not in names:
        return None
    liver = load_volume(masks, structures="liver")
    if liver.shape != tuple(shape):
        raise ValueError(f"{where}: the liver mask of {str(masks)!r} has shape {liver.shape}, the CT {tuple(shape)}")
    return liver.data


def _find_liver(liver_dir: Path | None, item: InputItem) -> Path | None:
    if liver_dir is None:
        return None
    for name in (item.case_id, _volume_stem(item.path)):
        for suf in (".nii.gz", ".nii", ".npz"):
            cand = liver_dir / f"{name}{suf}"
            if cand.is_file():
                return cand
    return None


def load_input(item: InputItem, *, spacing: Sequence[float] | None = None, liver_dir=None):
    """Read one input: a :class:`vesselnet.data.Case` (no vessel mask) or, for a prepared folder,
    its :class:`vesselnet.data.PreparedCase`.

    Parameters
    ----------
    item : InputItem
    spacing : 3 floats, optional
        Voxel size (mm) overriding the file's (the only source for ``.npy``).
    liver_dir : path-like, optional
        Folder of liver masks named like the inputs (``<stem>.nii.gz``); used for the crop when
        the checkpoint's preprocessing crops to the liver.

    Raises
    ------
    ValueError, OSError
        Naming the input: missing, unreadable, masks instead of a CT, no voxel size.
    """
    from vesselnet.data import Case, PreparedDataset
    from vesselnet.data.case import check_case

    where = f"input {item.source!r}"
    if item.kind == "missing":
        raise FileNotFoundError(f"{where}: {item.extra.get('reason', 'no such file or folder')}")
    if item.kind == "prepared":
        return PreparedDataset(item.path)[item.key]
    liver = None
    if item.kind == "ircadb":
        vol = _read_ct(patient_part(item.path, PATIENT_DICOM), spacing, where)
        masks = patient_part(item.path, MASKS_DICOM)
        if masks is not None:
            liver = _read_liver(masks, vol.shape, where)
    else:
        vol = _read_ct(item.path, spacing, where)
        lp = _find_liver(None if liver_dir is None else Path(liver_dir), item)
        if lp is not None:
            from vesseltree.io import as_binary_mask, load_volume

            lv = load_volume(lp, spacing=spacing)
            if lv.shape != vol.shape:
                raise ValueError(f"{where}: liver mask {str(lp)!r} has shape {lv.shape}, the CT {vol.shape}")
            liver = as_binary_mask(lv.data, f"liver mask {str(lp)!r}")
    image = np.asarray(vol.data, dtype=np.float32)
    case = Case(item.case_id, image, None, liver, tuple(vol.spacing), np.asarray(vol.affine, float),
                {"input": item.source, "file": str(item.path)})
    try:
        return check_case(case)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from exc

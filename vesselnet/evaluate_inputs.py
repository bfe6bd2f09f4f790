"""What ``vesselnet evaluate`` reads: the inputs of :func:`vesseltree.load_volume`, paired by case.

A **case** is anything ``vesseltree.load_volume`` reads as one volume: a NIfTI (``.nii``,
``.nii.gz``), ``.npy`` or ``.npz`` file, a DICOM zip, a 3D-IRCADb ``MASKS_DICOM`` folder, or a
3D-IRCADb patient folder (``3Dircadb1.N`` holding ``MASKS_DICOM(.zip)``). Its name
(:func:`case_name`) is the file name without extension, or the patient folder's name for
3D-IRCADb masks, so ``vesselnet predict``'s ``masks/3Dircadb1.1.nii.gz`` pairs with
``3Dircadb1/3Dircadb1.1``.

``PRED`` and ``GT`` are two cases (one pair, named after the ground truth), or two folders
whose cases are paired by name (:func:`match_pairs`). 3D-IRCADb ground truths are read with
``structures`` (united, as ``load_volume``; default portal vein + venous system) and, with
``liver_only``, restricted to the liver mask (:func:`load_mask`).

The CT under the figures (``--image``): for one pair, a case file or a 3D-IRCADb patient
folder (its ``PATIENT_DICOM(.zip)``); for folders, a folder holding ``<name>.<ext>`` files or
patient folders ``<name>/`` (:func:`find_image`). It is put on the ground truth's grid like the
prediction (axis flips and permutations undone from the affines; other differences refused,
:func:`load_image`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vesseltree.io import VOLUME_EXTENSIONS, split_extension

from .ircadb_layout import MASKS_DICOM, PATIENT_DICOM, patient_part

__all__ = ["EXTENSIONS", "case_name", "is_case", "list_cases", "match_pairs", "load_mask",
           "find_image", "load_image"]

#: file extensions read as one case (:data:`vesseltree.io.VOLUME_EXTENSIONS`)
EXTENSIONS = VOLUME_EXTENSIONS


def _split(p: Path) -> tuple[str, str] | None:
    """``(stem, extension)`` of a case file (:func:`vesseltree.io.split_extension`), or None
    for a name without one of :data:`EXTENSIONS`."""
    stem, ext = split_extension(Path(p).name)
    return (stem, ext) if ext else None


def is_case(p: Path) -> bool:
    """Whether ``p`` is read as one volume (module docstring)."""
    p = Path(p)
    if p.is_dir():
        return (p.name.upper() in (MASKS_DICOM, PATIENT_DICOM)
                or patient_part(p, MASKS_DICOM) is not None)
    return _split(p) is not None


def case_name(p: Path) -> str:
    """Name of a case: file stem, or the patient folder for 3D-IRCADb DICOM."""
    p = Path(p)
    stem = p.name if p.is_dir() else (_split(p) or (p.name, ""))[0]
    if stem.upper() in (MASKS_DICOM, PATIENT_DICOM) and p.resolve().parent.name:
        return p.resolve().parent.name
    return stem


def list_cases(folder: Path, arg: str) -> dict[str, Path]:
    """``name -> path`` of the cases directly in ``folder`` (hidden entries skipped).

    Raises
    ------
    ValueError
        Two cases of one name, naming ``arg``.
    """
    found: dict[str, Path] = {}
    for p in sorted(Path(folder).iterdir()):
        if p.name.startswith(".") or not (p.is_dir() or p.is_file()) or not is_case(p):
            continue
        name = case_name(p)
        if name in found:
            raise ValueError(f"{arg}: two cases named {name!r} in {str(folder)!r}: "
                             f"{found[name].name!r} and {p.name!r}")
        found[name] = p
    return found


def match_pairs(pred, gt) -> tuple[list[tuple[str, Path, Path]], list[Path], list[Path]]:
    """Pair prediction and ground-truth cases.

    Parameters
    ----------
    pred, gt : path-like
        Two cases (one pair, named after the ground truth: :func:`case_name`) or two folders
        of cases (paired by name).

    Returns
    -------
    pairs : list of (name, pred_path, gt_path)
        Sorted by name.
    unmatched_pred, unmatched_gt : list of Path
        Cases of one folder without a partner in the other.

    Raises
    ------
    ValueError
        Naming ``pred`` or ``gt``: a path that does not exist, a case paired with a folder of
        cases, an unsupported file, two cases of one name in a folder.
    """
    pp, gp = Path(pred), Path(gt)
    for arg, p in (("pred", pp), ("gt", gp)):
        if not p.exists():
            raise ValueError(f"{arg}: no such file or folder: {str(p)!r}")
    one = {arg: is_case(p) for arg, p in (("pred", pp), ("gt", gp))}
    for arg, p in (("pred", pp), ("gt", gp)):
        if p.is_file() and not one[arg]:
            raise ValueError(f"{arg}: unsupported file {str(p)!r}; expected one of "
                             f"{', '.join(EXTENSIONS)} or a 3D-IRCADb folder")
    if one["pred"] != one["gt"]:
        what = {True: "a case", False: "a folder of cases"}
        raise ValueError(
            f"pred, gt: expected two cases or two folders of cases, got {what[one['pred']]} "
            f"{str(pp)!r} and {what[one['gt']]} {str(gp)!r}")
    if one["gt"]:
        return [(case_name(gp), pp, gp)], [], []
    pv, gv = list_cases(pp, "pred"), list_cases(gp, "gt")
    names = sorted(set(pv) & set(gv))
    return ([(n, pv[n], gv[n]) for n in names], [pv[n] for n in sorted(set(pv) - set(gv))],
            [gv[n] for n in sorted(set(gv) - set(pv))])


def _read(path: Path, arg: str, **kw):
    from vesseltree.io import load_volume

    try:
        return load_volume(path, **kw)
    except FileNotFoundError as exc:
        raise ValueError(f"{arg}: no such file: {str(path)!r}") from exc
    except ValueError as exc:
        raise ValueError(f"{arg} file {str(path)!r}: {exc}") from exc
    except Exception as exc:  # corrupt files raise all sorts of errors in the readers
        raise ValueError(f"{arg} file {str(path)!r}: cannot read it "
                         f"({type(exc).__name__}: {exc})") from exc


def load_mask(path: Path, arg: str, spacing, structures=None, liver_only: bool = False):
    """``(bool mask, Volume)`` of a case. ``structures`` and ``liver_only`` apply to 3D-IRCADb
    DICOM masks (as ``vesseltree.load_volume``'s ``structures``/``restrict_to="liver"``).

    Raises
    ------
    ValueError
        Unreadable, not binary, or ``structures``/``liver_only`` for a file that is no
        DICOM mask archive.
    """
    from vesseltree.io import as_binary_mask, file_kind

    kw = {"spacing": spacing}
    if structures is not None or liver_only:
        try:
            dicom = file_kind(path).startswith("dicom")
        except ValueError:
            dicom = False
        if not dicom:
            raise ValueError(f"{arg} file {str(path)!r}: --structures and --liver-only apply to "
                             "3D-IRCADb DICOM masks only")
        kw.update(structures=structures, restrict_to="liver" if liver_only else None)
    vol = _read(path, arg, **kw)
    return as_binary_mask(vol.data, f"{arg} file {str(path)!r}"), vol


def find_image(image, name: str, single: bool) -> Path | None:
    """The CT of case ``name`` under ``--image`` (module docstring), or None when absent."""
    root = Path(image)
    if single:  # a patient folder stands for its CT; else the file or DICOM folder itself
        ct = patient_part(root, PATIENT_DICOM) if root.is_dir() else None
        return ct if ct is not None else root
    for cand in sorted(root.iterdir()) if root.is_dir() else []:
        if cand.name.startswith("."):
            continue
        if cand.is_dir() and cand.name == name and patient_part(cand, PATIENT_DICOM) is not None:
            return patient_part(cand, PATIENT_DICOM)
        if cand.is_file() and _split(cand) is not None and _split(cand)[0] == name:
            return cand
    return None


def load_image(path: Path, spacing, gvol, shape) -> np.ndarray:
    """The CT at ``path`` as float32 on the ground truth's grid (``gvol``, ``shape``).

    Raises
    ------
    ValueError
        Unreadable, or on another grid (other voxel size or box, a rotation) than the
        ground truth, naming both.
    """
    from vesseltree.geometry import align_to_grid

    vol = _read(path, "--image", spacing=spacing)
    img = np.asarray(vol.data, dtype=np.float32)
    if vol.has_affine and gvol.has_affine:
        img = align_to_grid(img, vol.affine, gvol.affine, shape, name=f"--image {str(path)!r}",
                            ref_name="the ground truth")
    if img.shape != tuple(shape):
        raise ValueError(f"--image {str(path)!r}: expected the ground truth's shape "
                         f"{tuple(shape)}, got {img.shape}")
    return np.ascontiguousarray(img)

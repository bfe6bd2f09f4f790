"""NIfTI datasets in the Medical Segmentation Decathlon / nnU-Net layout.

::

    root/dataset.json
    root/imagesTr/<case>.nii.gz          (MSD)  or  <case>_0000.nii.gz (nnU-Net; channel 0)
    root/labelsTr/<case>.nii.gz
    root/imagesTs/...                    (split="test": images only)

``dataset.json`` names the label values: MSD writes ``"labels": {"0": "background",
"1": "Vessel", "2": "Tumour"}`` (value -> name) and lists ``"training"`` pairs; nnU-Net v2
writes ``"labels": {"background": 0, "vessel": 1}`` (name -> value, or a list of values) and
``"file_ending"``. The vessel mask is the union of the values named by ``vessel_labels``
(case-insensitive; a name that does not exist is an error listing those that do); a
``"liver"`` label, when there is one, gives the crop. A label volume holding a value that
``dataset.json`` does not declare is an error naming the file and the values. Paths listed in
``dataset.json`` must stay inside ``root``. Example: MSD Task08 HepaticVessel
(``vessel_labels=("vessel",)``, no liver label: the whole volume is kept).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .._files import file_record, is_within
from ..case import Case, check_case_id
from .base import Source

__all__ = ["NiftiSource"]

_MAX_JSON = 64 * 1024 ** 2


def _labels(raw, where: str) -> dict[str, tuple[int, ...]]:
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{where}: expected a non-empty 'labels' mapping")
    out: dict[str, set] = {}
    try:
        if all(isinstance(v, str) for v in raw.values()):  # MSD: "1": "Vessel"
            for k, v in raw.items():
                out.setdefault(v.strip().lower(), set()).add(int(k))
        else:  # nnU-Net v2: "vessel": 1 or [1, 2]
            for k, v in raw.items():
                vals = v if isinstance(v, (list, tuple)) else [v]
                out.setdefault(str(k).strip().lower(), set()).update(int(x) for x in vals)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: 'labels' must map names to integer values: {exc}") from exc
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _strip(name: str, ending: str) -> str | None:
    return name[: -len(ending)] if name.endswith(ending) and len(name) > len(ending) else None


class NiftiSource(Source):
    """Cases of an MSD / nnU-Net NIfTI dataset.

    Parameters
    ----------
    root : path-like
        Folder holding ``dataset.json``.
    vessel_labels : str or sequence of str
        Label names forming the vessel mask.
    liver_labels : "auto", str, sequence of str or None
        Label names forming the liver mask; ``"auto"``: ``"liver"`` when declared, else none.
    split : {"train", "test"}
        ``"test"``: images only (``vessel`` None).
    """

    def __init__(self, root, vessel_labels: str | Sequence[str] = ("vessel",),
                 liver_labels="auto", split: str = "train"):
        self.root = Path(root)
        meta = self.root / "dataset.json"
        if not meta.is_file():
            raise FileNotFoundError(f"root: no dataset.json in {str(self.root)!r} (MSD / nnU-Net layout)")
        if meta.stat().st_size > _MAX_JSON:
            raise ValueError(f"root: {str(meta)!r} is larger than {_MAX_JSON} bytes; refused")
        try:
            self.meta = json.loads(meta.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"root: {str(meta)!r} is not valid JSON: {exc}") from exc
        if not isinstance(self.meta, dict):
            raise ValueError(f"root: {str(meta)!r} must hold a JSON object")
        if split not in ("train", "test"):
            raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
        self.split = split
        self.labels = _labels(self.meta.get("labels"), str(meta))
        self.values = tuple(sorted({v for vs in self.labels.values() for v in vs} | {0}))
        self.vessel_labels = self._names(vessel_labels, "vessel_labels")
        if liver_labels == "auto":
            liver_labels = ("liver",) if "liver" in self.labels else None
        self.liver_labels = None if liver_labels is None else self._names(liver_labels, "liver_labels")
        self.ending = str(self.meta.get("file_ending", ".nii.gz"))
        self._pairs = self._list_cases()
        if not self._pairs:
            raise ValueError(f"root: no {split} case found in {str(self.root)!r}")
        self.case_ids = list(self._pairs)

    # ------------------------------------------------------------------ layout
    def _names(self, names, param: str) -> tuple[str, ...]:
        req = (names,) if isinstance(names, str) else tuple(names)
        if not req or not all(isinstance(n, str) for n in req):
            raise ValueError(f"{param}: expected label names, got {names!r}")
        out = tuple(n.strip().lower() for n in req)
        unknown = [n for n in out if n not in self.labels]
        if unknown:
            raise ValueError(f"{param}: no label named {unknown} in {str(self.root / 'dataset.json')!r}; "
                             f"labels: {sorted(self.labels)}")
        return out

    def _inside(self, rel, what: str) -> Path:
        if not isinstance(rel, str) or not rel:
            raise ValueError(f"dataset.json: expected a relative path for {what}, got {rel!r}")
        p = self.root / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts or not is_within(p, self.root):
            raise ValueError(f"dataset.json: path {rel!r} ({what}) leaves {str(self.root)!r}; refused")
        return p

    def _list_cases(self) -> dict[str, tuple[Path, Path | None]]:
        key = "training" if self.split == "train" else "test"
        listed = self.meta.get(key)
        pairs: dict[str, tuple[Path, Path | None]] = {}
        if isinstance(listed, list) and listed:  # MSD
            for item in listed:
                if self.split == "train":
                    if not isinstance(item, dict) or "image" not in item or "label" not in item:
                        raise ValueError(f"dataset.json: '{key}' entries need 'image' and 'label', got {item!r}")
                    img, lab = self._inside(item["image"], "image"), self._inside(item["label"], "label")
                else:
                    img, lab = self._inside(item if isinstance(item, str) else item.get("image"), "image"), None
                cid = _strip((lab or img).name, self.ending) or (lab or img).name.split(".")[0]
                pairs[check_case_id(cid, f"case id from {str(lab or img)!r}")] = (img, lab)
            return pairs
        # nnU-Net: files on disk
        folder = self.root / ("labelsTr" if self.split == "train" else "imagesTs")
        if not folder.is_dir():
            return pairs
        for f in sorted(folder.iterdir()):
            stem = _strip(f.name, self.ending)
            if stem is None or f.name.startswith("."):
                continue
            if self.split == "train":
                img = self.root / "imagesTr" / f"{stem}_0000{self.ending}"
                if not img.exists():
                    img = self.root / "imagesTr" / f"{stem}{self.ending}"
                pairs[check_case_id(stem, f"case id from {str(f)!r}")] = (img, f)
            elif stem.endswith("_0000"):
                pairs[check_case_id(stem[:-5], f"case id from {str(f)!r}")] = (f, None)
        return pairs

    # ------------------------------------------------------------------ records
    def record(self) -> dict:
        return {"kind": "nifti", "root": str(self.root), "split": self.split,
                "labels": {k: list(v) for k, v in self.labels.items()},
                "vessel_labels": list(self.vessel_labels),
                "liver_labels": None if self.liver_labels is None else list(self.liver_labels),
                "cases": list(self.case_ids)}

    def case_record(self, case_id: str) -> dict:
        img, lab = self._pairs[self._check_id(case_id)]
        return {"kind": "nifti", "case_id": case_id,
                "vessel_values": self._values(self.vessel_labels),
                "liver_values": None if self.liver_labels is None else self._values(self.liver_labels),
                "files": {"image": file_record(img), "label": None if lab is None else file_record(lab)}}

    def _values(self, names) -> list[int]:
        return sorted({v for n in names for v in self.labels[n]})

    # ------------------------------------------------------------------ reading
    def load(self, case_id: str) -> Case:
        from vesseltree.io import load_volume

        img_path, lab_path = self._pairs[self._check_id(case_id)]
        rec = self.case_record(case_id)
        img = load_volume(img_path)
        data = np.asarray(img.data)
        if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
            raise ValueError(f"image: {str(img_path)!r} holds dtype {data.dtype}, expected numbers (HU)")
        if not np.isfinite(data).all():
            raise ValueError(f"image: {str(img_path)!r} holds {int((~np.isfinite(data)).sum())} NaN/inf "
                             "value(s); expected finite Hounsfield units")
        vessel = liver = None
        if lab_path is not None:
            lab = load_volume(lab_path)
            if lab.shape != img.shape:
                raise ValueError(f"shape mismatch: image {str(img_path)!r} is {img.shape}, label "
                                 f"{str(lab_path)!r} is {lab.shape}")
            if not np.allclose(lab.spacing, img.spacing, rtol=1e-3, atol=1e-4):
                raise ValueError(f"spacing mismatch: image {str(img_path)!r} has {img.spacing} mm, "
                                 f"label {str(lab_path)!r} has {lab.spacing} mm")
            values = self._check_values(np.asarray(lab.data), lab_path)
            vessel = np.isin(values, rec["vessel_values"])
            if self.liver_labels is not None:
                liver = np.isin(values, rec["liver_values"])
        return Case(case_id, data.astype(np.float32), vessel, liver, img.spacing, img.affine, rec)

    def _check_values(self, lab: np.ndarray, path: Path) -> np.ndarray:
        if np.issubdtype(lab.dtype, np.floating):
            if not np.isfinite(lab).all() or not np.array_equal(lab, np.round(lab)):
                raise ValueError(f"label: {str(path)!r} holds non-integer values; expected the "
                                 f"label values {list(self.values)} of dataset.json")
            lab = lab.astype(np.int64)
        elif not np.issubdtype(lab.dtype, np.integer) and lab.dtype != bool:
            raise ValueError(f"label: {str(path)!r} holds dtype {lab.dtype}; expected integer labels")
        found = np.unique(lab)
        bad = np.setdiff1d(found, self.values)
        if bad.size:
            raise ValueError(f"label: {str(path)!r} holds values {bad[:10].tolist()} outside the "
                             f"label set {list(self.values)} of dataset.json")
        return lab

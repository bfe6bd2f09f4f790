"""Prepared cases on disk: :func:`prepare` and :class:`PreparedDataset`.

Layout of a prepared folder::

    manifest.json        format, config, source record, versions, code fingerprint, one entry
                         per case (file, key, SHA-256, shape, spacing, flags, transform, record)
    cases/<case_id>.npz  image (1, D, H, W) float32, vessel (1, D, H, W) uint8, scale_labels
                         (D, H, W) uint8 (0 background, s = 1..S), meta (JSON text)
    figures/<case_id>.png  with ``figures=True``: a mid slice of image, vessel and scales

A case is reused only when its **key** is unchanged: the SHA-256 of its source record (the
source files' sizes and SHA-256, or the generator parameters), the configuration, the package
versions and a fingerprint of the code that makes a prepared case (the import closure of this
layer within ``vesseltree`` and ``vesselnet.data``, :mod:`vesselnet.data._fingerprint`), and
when its file still has the recorded SHA-256.
Anything else recomputes: a cache is never silently stale. Every file is written to a
temporary name and moved into place, and the manifest is rewritten after each case, so an
interrupted run leaves a consistent folder that the next run completes. Files are read back
with ``np.load(allow_pickle=False)`` and ``json``: a prepared folder from someone else runs no
code.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ._files import _sha256
from ._fingerprint import code_fingerprint
from .case import check_case_id
from .config import PrepareConfig
from .preprocess import PreparedCase, preprocess, versions
from .transform import GridTransform

__all__ = ["prepare", "PreparedDataset", "save_case", "load_case", "FORMAT_VERSION", "code_fingerprint"]

#: version of the on-disk layout (part of every key)
FORMAT_VERSION = 1
_FORMAT = "vesselnet-prepared"
_MANIFEST = "manifest.json"


# ---------------------------------------------------------------------------- keys
def _key(case_record: dict, config: PrepareConfig, vers: dict, code: str) -> tuple[str, dict]:
    """The case's key and the hash of each of its parts (to say what changed)."""
    parts = {"source": case_record, "config": config.to_dict(), "versions": vers, "code": code}
    hashes = {k: hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest()
              for k, v in parts.items()}
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest(), hashes


def _stale_reason(entry: dict | None, key: str, parts: dict, path: Path, overwrite: bool) -> str | None:
    """Why a cached case cannot be reused (None: it can)."""
    if overwrite:
        return "overwrite"
    if entry is None:
        return "new"
    if entry.get("key") != key:
        old = entry.get("key_parts") or {}
        changed = [k for k in parts if old.get(k) != parts[k]]
        return "changed: " + ", ".join(changed or ["key"])
    if not path.is_file():
        return "file missing"
    if path.stat().st_size != entry.get("size") or _sha256(path) != entry.get("sha256"):
        return "file altered"
    return None


# ---------------------------------------------------------------------------- one case file
def save_case(path, case: PreparedCase) -> dict:
    """Write a prepared case to ``path`` (.npz, atomically); return its manifest entry."""
    from vesseltree.io import atomic_write

    meta = {"case_id": case.case_id, "spacing": list(case.spacing),
            "transform": case.transform.to_dict(), "flags": list(case.flags),
            "record": case.record, "n_scales": case.n_scales}
    arrays = {"image": np.ascontiguousarray(case.image, dtype=np.float32),
              "meta": np.array(json.dumps(meta, default=str))}
    if case.vessel is not None:
        arrays["vessel"] = np.ascontiguousarray(case.vessel, dtype=np.uint8)
    if case.scales is not None:
        s = np.asarray(case.scales, dtype=np.uint8)
        arrays["scale_labels"] = np.tensordot(np.arange(1, s.shape[0] + 1, dtype=np.uint8), s,
                                              axes=1).astype(np.uint8)
    p = Path(path)
    with atomic_write(p, ".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return {"size": p.stat().st_size, "sha256": _sha256(p), **meta}


def load_case(path) -> PreparedCase:
    """Read a prepared case written by :func:`save_case` (no pickle)."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"path: {str(p)!r} is not a readable prepared case: {exc}") from exc
    try:
        meta = json.loads(str(arrays["meta"]))
        image = arrays["image"]
        t = GridTransform.from_dict(meta["transform"])
        if image.dtype != np.float32 or image.shape != (1,) + t.shape:
            raise ValueError(f"image of shape {image.shape}, dtype {image.dtype}, expected (1, *{t.shape}) float32")
        vessel = arrays.get("vessel")
        scales = None
        if "scale_labels" in arrays:
            lab = arrays["scale_labels"]
            n = int(meta["n_scales"])
            scales = np.stack([lab == s for s in range(1, n + 1)]).astype(np.uint8)
        for name, a in (("vessel", vessel), ("scales", scales)):
            if a is not None and a.shape[1:] != t.shape:
                raise ValueError(f"{name} of shape {a.shape}, expected (C, *{t.shape})")
        return PreparedCase(meta["case_id"], image, vessel, scales, tuple(meta["spacing"]), t,
                            tuple(meta["flags"]), meta["record"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"path: {str(p)!r} is not a valid prepared case: {exc}") from exc


# ---------------------------------------------------------------------------- manifest
def _read_manifest(root: Path) -> dict:
    p = root / _MANIFEST
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"out_dir: {str(p)!r} is not a readable manifest ({exc}); remove the "
                         "folder or prepare with overwrite=True") from exc
    if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("cases"), dict):
        raise ValueError(f"out_dir: {str(p)!r} is not a vesselnet prepared-dataset manifest")
    return data


def _write_manifest(root: Path, data: dict) -> None:
    from vesseltree.io import atomic_write

    with atomic_write(root / _MANIFEST, ".json") as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")


def _check_out_dir(root: Path, overwrite: bool) -> dict | None:
    """Create/validate the output folder; return the previous manifest (None if none)."""
    if root.exists() and not root.is_dir():
        raise ValueError(f"out_dir: {str(root)!r} exists and is not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / "cases").mkdir(exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=root / "cases")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"out_dir: cannot write into {str(root)!r}: {exc}") from exc
    if (root / _MANIFEST).exists():
        return None if overwrite else _read_manifest(root)
    others = [p.name for p in root.iterdir() if p.name not in ("cases", "figures")]
    if others and not overwrite:
        raise ValueError(f"out_dir: {str(root)!r} holds other files ({others[:3]}) and no "
                         "vesselnet manifest; choose a new or empty folder")
    return None


def _one_case(source, cid: str, root: Path, config: PrepareConfig, vers_code: tuple, entry: dict | None,
              *, overwrite: bool, figures: bool) -> tuple[dict, str | None]:
    """Reuse or compute one case; return its manifest entry and why it was computed (None:
    reused)."""
    key, parts = _key(source.case_record(cid), config, *vers_code)
    path = root / "cases" / f"{cid}.npz"
    figure = root / "figures" / f"{cid}.png"
    reason = _stale_reason(entry, key, parts, path, overwrite)
    pc = None
    if reason is not None:
        pc = preprocess(source.load(cid), config)
        entry = save_case(path, pc)
        entry.update(file=f"cases/{cid}.npz", key=key, key_parts=parts)
    if figures and (pc is not None or not figure.is_file()):
        from .figures import case_figure

        case_figure(pc if pc is not None else load_case(path), figure)
    return entry, reason


# ---------------------------------------------------------------------------- prepare
def prepare(source, out_dir, config: PrepareConfig | None = None, *, progress: bool = True,
            overwrite: bool = False, figures: bool = False) -> "PreparedDataset":
    """Preprocess every case of ``source`` into ``out_dir``, reusing what is fresh.

    Parameters
    ----------
    source : a source (:mod:`vesselnet.data.sources`)
        Needs ``case_ids``, ``load``, ``record`` and ``case_record``.
    out_dir : path-like
        The prepared folder (created; module docstring).
    config : PrepareConfig, optional
        Default: :class:`PrepareConfig()`.
    progress : bool
        A progress bar on stderr.
    overwrite : bool
        Recompute every case, even fresh ones.
    figures : bool
        Also write ``figures/<case_id>.png`` (:func:`vesselnet.data.figures.case_figure`).

    Returns
    -------
    PreparedDataset
        With ``prepare_stats``: ``computed``, ``reused`` (case ids), ``reasons`` (case id ->
        why it was computed: ``"new"``, ``"changed: config, code"``, ``"file altered"``, ...),
        ``seconds``.

    Raises
    ------
    ValueError
        Unwritable or foreign ``out_dir``, a bad case (naming it; the cases before it stay
        cached), unsafe case ids.
    """
    from tqdm.auto import tqdm

    config = PrepareConfig() if config is None else config
    if not isinstance(config, PrepareConfig):
        raise TypeError(f"config: expected a PrepareConfig, got {type(config).__name__}")
    ids = [check_case_id(c, "source case id") for c in source.case_ids]
    if len(set(ids)) != len(ids):
        raise ValueError(f"source: duplicate case ids {sorted({c for c in ids if ids.count(c) > 1})}")
    root = Path(out_dir)
    t0 = time.perf_counter()
    old = _check_out_dir(root, overwrite)
    vers, code = versions(), code_fingerprint()
    manifest = {"format": _FORMAT, "format_version": FORMAT_VERSION, "config": config.to_dict(),
                "source": source.record(), "versions": vers, "code": code, "order": ids,
                "cases": {}}
    old_cases = {} if old is None else old["cases"]
    computed, reused, reasons = [], [], {}
    bar = tqdm(ids, desc="prepare", unit="case", file=sys.stderr, disable=not progress)
    for cid in bar:
        bar.set_postfix_str(cid)
        try:
            entry, reason = _one_case(source, cid, root, config, (vers, code), old_cases.get(cid),
                                      overwrite=overwrite, figures=figures)
        except (ValueError, TypeError, OSError, KeyError) as exc:
            _write_manifest(root, manifest)  # the cases before this one stay cached
            raise type(exc)(f"case {cid!r}: {exc}") from exc
        manifest["cases"][cid] = entry
        if reason is None:
            reused.append(cid)
        else:
            computed.append(cid)
            reasons[cid] = reason
        _write_manifest(root, manifest)
    for cid, entry in old_cases.items():  # cases the source no longer has
        if cid not in manifest["cases"]:
            (root / "cases" / f"{cid}.npz").unlink(missing_ok=True)
    _write_manifest(root, manifest)
    ds = PreparedDataset(root)
    ds.prepare_stats = {"computed": computed, "reused": reused, "reasons": reasons,
                        "seconds": round(time.perf_counter() - t0, 3)}
    return ds


# ---------------------------------------------------------------------------- dataset
class PreparedDataset:
    """Prepared cases, from a folder written by :func:`prepare` or from memory.

    Parameters
    ----------
    root : path-like
        A prepared folder.

    Attributes
    ----------
    case_ids : list of str
    config : PrepareConfig
    n_scales : int
    """

    def __init__(self, root):
        self.root = Path(root)
        if not (self.root / _MANIFEST).is_file():
            raise FileNotFoundError(f"root: no {_MANIFEST} in {str(self.root)!r} (run `vesselnet prepare`)")
        self.manifest = _read_manifest(self.root)
        self.config = PrepareConfig.from_dict(self.manifest["config"])
        order = self.manifest.get("order") or list(self.manifest["cases"])
        self.case_ids = [c for c in order if c in self.manifest["cases"]]
        self._memory: dict[str, PreparedCase] | None = None
        self.prepare_stats: dict = {}

    @classmethod
    def from_cases(cls, cases: Iterable[PreparedCase], config: PrepareConfig | None = None
                   ) -> "PreparedDataset":
        """An in-memory dataset (tests, demos); no file is written."""
        self = cls.__new__(cls)
        cases = list(cases)
        for c in cases:
            if not isinstance(c, PreparedCase):
                raise TypeError(f"cases: expected PreparedCase objects, got {type(c).__name__}")
        self.root = None
        self.config = PrepareConfig() if config is None else config
        self._memory = {c.case_id: c for c in cases}
        if len(self._memory) != len(cases):
            raise ValueError("cases: duplicate case ids")
        self.case_ids = [c.case_id for c in cases]
        self.manifest = {"cases": {c.case_id: {"flags": list(c.flags), "spacing": list(c.spacing)}
                                   for c in cases}}
        self.prepare_stats = {}
        return self

    @property
    def n_scales(self) -> int:
        return self.config.n_scales

    def __len__(self) -> int:
        return len(self.case_ids)

    def _resolve(self, item) -> str:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            n = len(self.case_ids)
            if not -n <= item < n:
                raise IndexError(f"index {item} out of range for {n} cases")
            return self.case_ids[item]
        if isinstance(item, str) and item in self.case_ids:
            return item
        raise KeyError(f"case: no case {item!r}; cases: {self.case_ids[:10]}")

    def __getitem__(self, item) -> PreparedCase:
        cid = self._resolve(item)
        if self._memory is not None:
            return self._memory[cid]
        case = load_case(self.root / "cases" / f"{check_case_id(cid)}.npz")
        if case.case_id != cid:
            raise ValueError(f"case {cid!r}: its file holds case {case.case_id!r}")
        return case

    def flags(self, item) -> tuple[str, ...]:
        """The flags of a case, from the manifest (no array read)."""
        return tuple(self.manifest["cases"][self._resolve(item)].get("flags", ()))

    def subset(self, ids: Sequence) -> "PreparedDataset":
        """A view on some cases (ids or indices), in the given order."""
        keep = [self._resolve(i) for i in ids]
        other = self.__class__.__new__(self.__class__)
        other.__dict__.update(self.__dict__)
        other.case_ids = keep
        return other

    def __repr__(self) -> str:
        where = "memory" if self.root is None else str(self.root)
        return f"PreparedDataset({len(self)} cases, S={self.n_scales}, {where})"

"""3D-IRCADb DICOM reading (zip or folder) behind :func:`vesseltree.io.load_volume`.

Private to :mod:`vesseltree.io`, which documents the rules (slice order along the normal,
spacing from PixelSpacing and slice positions, default structures).
"""
from __future__ import annotations

import io as _io
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ._validation import check_spacing
from .archive import SafeZip, open_zip_safely
from .geometry import with_spacing as _with_spacing

#: default vessel structures of a 3D-IRCADb ``MASKS_DICOM`` (see :mod:`vesseltree.io`)
DEFAULT_VESSEL_STRUCTURES = ("portalvein", "venoussystem")
_VENOUS_FALLBACK = "venacava"

# relative tolerance on the uniformity of slice gaps and on geometry agreements
_GAP_RTOL = 1e-2
_GAP_ATOL = 1e-3


def dicom_location(p: Path) -> Path:
    """A patient folder holding ``MASKS_DICOM.zip`` / ``MASKS_DICOM/`` stands for its masks."""
    if p.is_dir():
        for cand in (p / "MASKS_DICOM.zip", p / "MASKS_DICOM"):
            if cand.exists():
                return cand
    return p


class DicomSource:
    """Files of a DICOM zip or folder grouped by parent folder (one series per folder).

    A zip is opened with :func:`vesseltree.archive.open_zip_safely` (member names and total
    size checked, members read in memory, never extracted); ``max_total_bytes`` bounds it.
    """

    def __init__(self, path: Path, max_total_bytes: int | None = None):
        self.path = path
        self.max_total_bytes = max_total_bytes
        self._zip: SafeZip | None = None
        self.series: dict[str, list[str]] = {}

    def __enter__(self):
        if self.path.is_dir():
            files = [f for f in sorted(self.path.rglob("*")) if f.is_file()]
            members = [f.relative_to(self.path).as_posix() for f in files]
            root_name = self.path.name
        else:
            self._zip = open_zip_safely(self.path, max_total_bytes=self.max_total_bytes)
            members = list(self._zip.members)
            root_name = self.path.stem
        for m in members:
            parts = m.split("/")
            if any(part.startswith(".") or part == "__MACOSX" for part in parts):
                continue
            parent = parts[-2] if len(parts) >= 2 else root_name
            self.series.setdefault(parent, []).append(m)
        if not self.series:
            raise ValueError(f"path: {str(self.path)!r} holds no files")
        return self

    def __exit__(self, *exc):
        if self._zip is not None:
            self._zip.close()

    def read(self, member: str) -> bytes:
        if self._zip is None:
            return (self.path / member).read_bytes()
        return self._zip.read(member)


def _norm(name: str) -> str:
    return name.lower().replace(" ", "").replace("_", "")


def _match_structures(requested: Iterable[str], available: Sequence[str], where: str) -> list[str]:
    """Folders for each requested name: exact (case-insensitive) else ``name`` + digits."""
    out: list[str] = []
    for req in requested:
        if not isinstance(req, str) or not req.strip():
            raise TypeError(f"structures: expected structure names (str), got {req!r}")
        key = _norm(req)
        exact = [a for a in available if _norm(a) == key]
        found = exact or [a for a in available if re.fullmatch(re.escape(key) + r"\d+", _norm(a))]
        if not found:
            raise ValueError(
                f"structures: no structure named {req!r} in {where}; available: "
                + ", ".join(sorted(available))
            )
        out.extend(f for f in found if f not in out)
    return out


def _default_structures(available: Sequence[str], where: str) -> list[str]:
    names = {_norm(a) for a in available}
    wanted = ["portalvein"]
    if "venoussystem" in names:
        wanted.append("venoussystem")
    elif _VENOUS_FALLBACK in names:
        wanted.append(_VENOUS_FALLBACK)
    else:
        raise ValueError(
            f"structures: {where} has neither 'venoussystem' nor 'venacava' (default vessel "
            "structures); pass structures explicitly; available: " + ", ".join(sorted(available))
        )
    return _match_structures(wanted, available, where)


def _read_slice(src: DicomSource, m: str, where: str):
    """One DICOM slice: (dataset, geometry (rows, cols, PixelSpacing, orientation), position,
    pixels), every tag checked."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(_io.BytesIO(src.read(m)))
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"path: {m!r} in {where} is not a readable DICOM file: {exc}") from exc
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        ps = tuple(float(v) for v in ds.PixelSpacing)
        iop = np.array([float(v) for v in ds.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0])])
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise ValueError(
            f"path: {m!r} in {where} lacks geometry tags (Rows, Columns, PixelSpacing, "
            f"ImagePositionPatient): {exc}"
        ) from exc
    try:
        pix = ds.pixel_array
    except Exception as exc:
        raise ValueError(f"path: {m!r} in {where} has no readable pixel data: {exc}") from exc
    if pix.shape != (rows, cols):
        raise ValueError(
            f"path: {m!r} in {where} has pixel data of shape {pix.shape}, expected "
            f"({rows}, {cols}) from Rows/Columns"
        )
    if len(ps) != 2 or len(iop) != 6 or len(ipp) != 3:
        raise ValueError(f"path: {m!r} in {where} has malformed geometry tags")
    return ds, (rows, cols, ps, iop), ipp, pix


def _check_same_geometry(m: str, geom, ref, where: str) -> None:
    rows, cols, ps, iop = geom
    r_rows, r_cols, r_ps, r_iop = ref[1]
    if (rows, cols) != (r_rows, r_cols):
        raise ValueError(
            f"path: inconsistent slice sizes in {where}: {m!r} is {rows}x{cols}, "
            f"{ref[0]!r} is {r_rows}x{r_cols}"
        )
    if not np.allclose(ps, r_ps, rtol=1e-4) or not np.allclose(iop, r_iop, atol=1e-4):
        raise ValueError(
            f"path: inconsistent PixelSpacing/ImageOrientationPatient in {where}: {m!r} vs {ref[0]!r}"
        )


def _slice_step(slices, pos, where: str, thickness, ps, normal):
    """Spacing between slices (mm) and the world step of one slice, from sorted positions."""
    if len(slices) >= 2:
        gaps = np.diff(pos)
        if np.any(gaps <= _GAP_ATOL):
            k = int(np.argmin(gaps))
            raise ValueError(
                f"path: duplicate slice position {pos[k]:.4g} mm in {where} ({slices[k][0]!r} and "
                f"{slices[k + 1][0]!r})"
            )
        step = float(np.min(gaps))  # missing slices show up as multiples of it
        bad = np.abs(gaps - step) > max(_GAP_ATOL, _GAP_RTOL * step)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(
                f"path: non-uniform slice gaps in {where} (missing slices?): gap of "
                f"{gaps[k]:.4g} mm between {slices[k][0]!r} and {slices[k + 1][0]!r}, "
                f"expected {step:.4g} mm"
            )
        return step, (slices[-1][1] - slices[0][1]) / (len(slices) - 1)
    # one slice: its thickness tag, if any, else the in-plane row spacing
    try:
        step = float(thickness) if thickness else float(ps[0])
    except (TypeError, ValueError):
        step = float(ps[0])
    step = step if step > 0 else float(ps[0])
    return step, normal * step


def read_series(src: DicomSource, folder: str, *, as_mask: bool):
    """Read one series: (data z,y,x, spacing, affine LPS->RAS, positions)."""
    where = f"{str(src.path)!r}"
    slices = []
    ref = thickness = None
    for m in src.series[folder]:
        ds, geom, ipp, pix = _read_slice(src, m, where)
        if ref is None:
            ref = (m, geom)
            thickness = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
        else:
            _check_same_geometry(m, geom, ref, where)
        if as_mask:
            img = pix != 0
        else:
            slope = float(ds.get("RescaleSlope", 1) or 1)
            inter = float(ds.get("RescaleIntercept", 0) or 0)
            img = (pix.astype(np.float32) * np.float32(slope) + np.float32(inter)).astype(np.float32)
        slices.append((m, ipp, img))
    rows, cols, ps, iop = ref[1]
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-3):
        raise ValueError(f"path: invalid ImageOrientationPatient {iop.tolist()} in {where}")
    pos = np.array([float(ipp @ normal) for _, ipp, _ in slices])
    order = np.argsort(pos, kind="stable")
    slices = [slices[i] for i in order]
    pos = pos[order]
    step, zstep = _slice_step(slices, pos, where, thickness, ps, normal)
    data = np.stack([s[2] for s in slices], axis=0)
    spacing = check_spacing((step, ps[0], ps[1]), f"spacing read from {where}")
    lps = np.eye(4)
    lps[:3, 0] = zstep
    lps[:3, 1] = col_dir * ps[0]
    lps[:3, 2] = row_dir * ps[1]
    lps[:3, 3] = slices[0][1]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    return data, spacing, _with_spacing(affine, spacing), pos


def load_dicom(p: Path, *, structures, restrict_to, max_total_bytes=None):
    """A DICOM zip or folder as a :class:`vesseltree.io.Volume` (see :func:`load_volume`)."""
    loc = dicom_location(p)
    with DicomSource(loc, max_total_bytes) as src:
        available = sorted(src.series)
        where = f"{str(loc)!r}"
        if len(available) == 1 and structures is None and restrict_to is None:
            # a single series (e.g. PATIENT_DICOM): intensities, rescaled to HU
            data, spacing, affine, _ = read_series(src, available[0], as_mask=False)
            return _volume(data, spacing, affine, str(loc))
        if structures is None:
            names = _default_structures(available, where)
        else:
            req = [structures] if isinstance(structures, str) else list(structures)
            if not req:
                raise ValueError("structures: expected at least one structure name, got none")
            names = _match_structures(req, available, where)
        restrict: list[str] = []
        if restrict_to is not None:
            if not isinstance(restrict_to, str):
                raise TypeError(f"restrict_to: expected a structure name (str), got {restrict_to!r}")
            restrict = _match_structures([restrict_to], available, where)
        masks: dict[str, np.ndarray] = {}
        ref = None
        for name in dict.fromkeys(names + restrict):
            data, spacing, affine, pos = read_series(src, name, as_mask=True)
            if ref is None:
                ref = (name, data.shape, spacing, affine, pos)
            elif data.shape != ref[1] or not np.allclose(pos, ref[4], atol=1e-3):
                raise ValueError(
                    f"path: structures {ref[0]!r} and {name!r} in {where} do not share the same "
                    f"slice grid (shapes {ref[1]} and {data.shape})"
                )
            masks[name] = data
        out = np.logical_or.reduce([masks[n] for n in names])
        label = "+".join(names)
        if restrict:
            out &= np.logical_or.reduce([masks[n] for n in restrict])
            label += " in " + "+".join(restrict)
        return _volume(np.ascontiguousarray(out), ref[2], ref[3], f"{loc}:{label}")


def _volume(data, spacing, affine, source):
    from .io import Volume

    return Volume(data, spacing, affine, source)

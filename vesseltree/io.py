"""Reading and writing volumes: NIfTI, NumPy and 3D-IRCADb DICOM (zip or folder).

Every reader returns a :class:`Volume` whose ``data`` is indexed ``(z, y, x)`` (the project's
axis order) and whose ``spacing`` is the voxel size in mm along those axes.

Geometry convention
-------------------
``Volume.affine`` maps an *array* index ``(iz, iy, ix, 1)`` of ``Volume.data`` to world
coordinates ``(x, y, z, 1)`` in mm in the **RAS+** frame of NIfTI and nibabel (+x towards the
patient's Right, +y Anterior, +z Superior). DICOM positions, given in LPS+, are converted by
negating x and y.

The columns of ``affine[:3, :3]`` are thus the world steps of one voxel along ``z``, ``y`` and
``x`` of the array, and their norms are ``spacing``. For NIfTI this is nibabel's affine with its
first three columns reversed (nibabel indexes ``(x, y, z)``); saving applies the inverse, so
``load_volume`` of a file written by ``save_volume(p, data, spacing, affine)`` gives back the
same array, spacing and affine. The data are transposed only, never resampled nor reoriented
to a canonical frame.

3D-IRCADb
---------
``MASKS_DICOM.zip`` holds one folder of DICOM slices per structure (``portalvein``,
``venoussystem``, ``venacava``, ``liver``, ...). Slices are ordered by their position along the
slice normal (ImagePositionPatient projected on the normal of ImageOrientationPatient), never by
file name; the spacing comes from PixelSpacing (rows, columns) and from the distance between
consecutive slice positions, which must be uniform. The zip is read in memory, never extracted.

Default vessel structures (``structures=None``): the union of the portal vein (``portalvein``,
or ``portalvein1`` as patient 1.10 names it) and the venous system (``venoussystem``); for
patients without ``venoussystem`` the ``venacava`` mask is used instead (in 3D-IRCADb-01 it then
holds the hepatic veins drawn together with the inferior vena cava). ``restrict_to="liver"``
keeps only the voxels inside the liver mask, the usual hepatic-vessel ground truth.
"""
from __future__ import annotations

import contextlib
import io as _io
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from vesseltree._validation import check_spacing

__all__ = [
    "Volume",
    "as_binary_mask",
    "load_volume",
    "save_volume",
    "list_structures",
    "SUPPORTED_EXTENSIONS",
    "DEFAULT_VESSEL_STRUCTURES",
    "atomic_write",
]

#: file kinds understood by :func:`load_volume`
SUPPORTED_EXTENSIONS = (".nii", ".nii.gz", ".npy", ".npz", ".zip (DICOM)", "folder of DICOM slices")
#: default vessel structures of a 3D-IRCADb ``MASKS_DICOM`` (see module docstring)
DEFAULT_VESSEL_STRUCTURES = ("portalvein", "venoussystem")
_VENOUS_FALLBACK = "venacava"

# relative tolerance on the uniformity of slice gaps and on geometry agreements
_GAP_RTOL = 1e-2
_GAP_ATOL = 1e-3


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D array with its geometry.

    Attributes
    ----------
    data : numpy.ndarray
        The voxels, axes ``(z, y, x)``.
    spacing : tuple of float
        Voxel size in mm along ``(z, y, x)``.
    affine : numpy.ndarray
        4x4 matrix mapping ``(iz, iy, ix, 1)`` to RAS+ world ``(x, y, z, 1)`` in mm (module
        docstring).
    source : str
        Where the data came from (path, and structures for DICOM masks).
    """

    data: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray = field(repr=False)
    source: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def __repr__(self) -> str:
        sp = ", ".join(f"{s:.4g}" for s in self.spacing)
        return (
            f"Volume(shape={self.data.shape}, dtype={self.data.dtype}, spacing=({sp}) mm, "
            f"source={self.source!r})"
        )


# --------------------------------------------------------------------------------------------
# atomic writes


@contextlib.contextmanager
def atomic_write(path, suffix: str = ""):
    """Yield a temporary path in ``path``'s folder; on success move it over ``path``.

    The temporary file ends with ``suffix`` (writers that pick the format from the name, such
    as nibabel, need the real extension). On error it is removed and ``path`` is untouched.
    The final file gets the usual permissions (``0o666`` minus the umask).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp" + suffix, dir=p.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------------------------
# geometry helpers


def default_affine(spacing: Sequence[float]) -> np.ndarray:
    """Affine of an axis-aligned volume: world x, y, z = ix*sx, iy*sy, iz*sz (RAS+)."""
    sz, sy, sx = check_spacing(spacing)
    aff = np.zeros((4, 4))
    aff[0, 2] = sx
    aff[1, 1] = sy
    aff[2, 0] = sz
    aff[3, 3] = 1.0
    return aff


def _spacing_from_affine(affine: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(v) for v in np.linalg.norm(affine[:3, :3], axis=0))


def _check_affine(affine, spacing: tuple[float, float, float]) -> np.ndarray:
    aff = np.asarray(affine, dtype=float)
    if aff.shape != (4, 4) or not np.all(np.isfinite(aff)):
        raise ValueError(f"affine: expected a finite 4x4 matrix, got shape {aff.shape}")
    norms = _spacing_from_affine(aff)
    if not np.allclose(norms, spacing, rtol=1e-4, atol=1e-6):
        raise ValueError(
            "affine: the norms of its first three columns (voxel steps along z, y, x) must equal "
            f"spacing {tuple(spacing)}, got {tuple(round(n, 6) for n in norms)}"
        )
    return aff.copy()


def _with_spacing(affine: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Rescale the columns of ``affine`` so that its voxel steps have norm ``spacing``."""
    aff = affine.copy()
    norms = np.linalg.norm(aff[:3, :3], axis=0)
    norms[norms == 0] = 1.0
    aff[:3, :3] = aff[:3, :3] / norms * np.asarray(spacing)
    return aff


# --------------------------------------------------------------------------------------------
# public API


def as_binary_mask(data, name: str = "mask") -> np.ndarray:
    """Read a stored mask as binary, the way the command-line tools do.

    Masks stored as bool or 0/1 pass; a volume whose only non-zero value is one positive
    integer (e.g. 0/255, as many tools save masks) becomes ``data != 0``; anything else
    (label maps, probabilities, images, NaN) is an error.

    Parameters
    ----------
    data : array_like
        The stored volume.
    name : str
        How to name the input in error messages (a parameter or a file).

    Returns
    -------
    numpy.ndarray
        ``bool`` array of the same shape (a new array; ``data`` is not modified).

    Raises
    ------
    ValueError
        For NaN values or more than two distinct values, naming ``name`` and the values.
    """
    arr = np.asarray(data)
    if arr.dtype == bool:
        return arr.copy()
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"{name}: expected a binary mask (numbers), got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ValueError(f"{name}: expected a binary mask, got NaN values")
    values = np.unique(arr) if arr.size else np.zeros(0)
    nonzero = values[values != 0]
    if np.isin(values, (0, 1)).all() or (
        nonzero.size == 1 and nonzero[0] > 0 and float(nonzero[0]).is_integer()
    ):
        return arr != 0
    raise ValueError(
        f"{name}: expected a binary mask (0 and one positive integer value, e.g. 0/1 or "
        f"0/255), got values "
        f"{values[:6].tolist()}{' ...' if values.size > 6 else ''}"
    )


def load_volume(
    path,
    *,
    structures: str | Sequence[str] | None = None,
    restrict_to: str | None = None,
    spacing=None,
) -> Volume:
    """Read a volume as ``(z, y, x)`` with its spacing (mm) and affine.

    Parameters
    ----------
    path : str or path-like
        ``.nii`` / ``.nii.gz`` (nibabel), ``.npy``, ``.npz`` (array ``mask``, ``data`` or the
        only array; optional ``spacing`` and ``affine`` arrays), a DICOM zip (3D-IRCADb
        ``MASKS_DICOM.zip`` with one folder per structure, or ``PATIENT_DICOM.zip`` with one
        series), or the extracted folder of either. A 3D-IRCADb patient folder holding
        ``MASKS_DICOM.zip`` (or ``MASKS_DICOM/``) reads its masks.
    structures : str or sequence of str, optional
        DICOM masks only: structure names to read and unite (case-insensitive; ``"portalvein"``
        also matches ``portalvein1``). Default: portal vein + venous system (module docstring).
    restrict_to : str, optional
        DICOM masks only: keep only the voxels inside this structure (e.g. ``"liver"``).
    spacing : float or 3 floats, optional
        Voxel size (mm, z, y, x) overriding the file's (the only source of spacing for
        ``.npy``, where it defaults to 1 mm).

    Returns
    -------
    Volume
        DICOM masks as ``bool``; a DICOM CT in Hounsfield units (``float32``, from
        RescaleSlope and RescaleIntercept); other files with their stored dtype.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        For an unsupported extension (listing the supported ones), a corrupt or incomplete
        DICOM zip (naming the file), or a structure that is not there (listing those that are).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"path: no such file or folder: {str(p)!r}")
    override = None if spacing is None else check_spacing(spacing, "spacing")
    kind = _kind(p)
    if kind not in {"dicom-zip", "dicom-dir"} and (structures is not None or restrict_to is not None):
        raise ValueError(
            f"structures/restrict_to: only meaningful for 3D-IRCADb DICOM masks, got a {kind} file {str(p)!r}"
        )
    if kind == "nifti":
        vol = _load_nifti(p)
    elif kind == "npy":
        vol = _load_npy(p)
    elif kind == "npz":
        vol = _load_npz(p)
    else:
        vol = _load_dicom(p, structures=structures, restrict_to=restrict_to)
    if override is not None:
        vol = Volume(vol.data, override, _with_spacing(vol.affine, override), vol.source)
    return vol


def list_structures(path) -> list[str]:
    """Names of the structures (mask folders) of a 3D-IRCADb ``MASKS_DICOM`` zip or folder.

    Returned sorted, as spelled in the archive.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"path: no such file or folder: {str(p)!r}")
    if _kind(p) not in {"dicom-zip", "dicom-dir"}:
        raise ValueError(f"path: expected a DICOM zip or folder, got {str(p)!r}")
    with _DicomSource(_dicom_location(p)) as src:
        return sorted(src.series)


def save_volume(path, data, spacing, affine=None) -> Path:
    """Write ``data`` (axes z, y, x) with its geometry, atomically.

    ``.nii`` / ``.nii.gz``: NIfTI-1 with qform and sform set to the affine (the inverse of the
    reading convention, so that loading gives back ``data``, ``spacing`` and ``affine``);
    ``bool`` data are stored as ``uint8``. ``.npy``: the array only. ``.npz``: arrays ``data``,
    ``spacing`` and ``affine``.

    The file is first written under a temporary name in the same folder, then moved over
    ``path`` with :func:`os.replace`, so a reader never sees a half-written file.

    Parameters
    ----------
    path : str or path-like
        Output file; its extension selects the format.
    data : array_like
        3D array ``(z, y, x)``.
    spacing : float or 3 floats
        Voxel size in mm along ``(z, y, x)``.
    affine : (4, 4) array_like, optional
        Index ``(iz, iy, ix, 1)`` -> RAS+ mm; its column norms must equal ``spacing``. Default:
        axis-aligned, origin 0.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    p = Path(path)
    arr = np.asarray(data)
    if arr.ndim != 3:
        raise ValueError(f"data: expected a 3D array (z, y, x), got shape {arr.shape}")
    sp = check_spacing(spacing, "spacing")
    aff = default_affine(sp) if affine is None else _check_affine(affine, sp)
    suffix = _suffix(p)
    if suffix not in {".nii", ".nii.gz", ".npy", ".npz"}:
        raise ValueError(
            f"path: unsupported extension {suffix or '(none)'!r} for writing {str(p)!r}; "
            "supported: .nii, .nii.gz, .npy, .npz"
        )
    with atomic_write(p, suffix) as tmp:
        if suffix in {".nii", ".nii.gz"}:
            import nibabel as nib

            out = arr.astype(np.uint8) if arr.dtype == bool else arr
            nifti_affine = aff[:, [2, 1, 0, 3]]
            img = nib.Nifti1Image(np.ascontiguousarray(out.transpose(2, 1, 0)), nifti_affine)
            img.set_qform(nifti_affine, code=1)
            img.set_sform(nifti_affine, code=1)
            img.header.set_zooms(sp[::-1])
            img.header.set_xyzt_units("mm")
            nib.save(img, str(tmp))
        elif suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
        else:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, data=arr, spacing=np.asarray(sp), affine=aff)
    return p


# --------------------------------------------------------------------------------------------
# file kinds


def _suffix(p: Path) -> str:
    name = p.name.lower()
    for ext in (".nii.gz", ".nii", ".npy", ".npz", ".zip"):
        if name.endswith(ext):
            return ext
    return Path(name).suffix


def _kind(p: Path) -> str:
    if p.is_dir():
        loc = _dicom_location(p)
        return "dicom-dir" if loc.is_dir() else "dicom-zip"
    suffix = _suffix(p)
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


def _dicom_location(p: Path) -> Path:
    """A patient folder holding ``MASKS_DICOM.zip`` / ``MASKS_DICOM/`` stands for its masks."""
    if p.is_dir():
        for cand in (p / "MASKS_DICOM.zip", p / "MASKS_DICOM"):
            if cand.exists():
                return cand
    return p


# --------------------------------------------------------------------------------------------
# NIfTI / NumPy


def _load_nifti(p: Path) -> Volume:
    import nibabel as nib

    try:
        img = nib.load(str(p))
        raw = np.asanyarray(img.dataobj)
    except Exception as exc:
        raise ValueError(f"path: cannot read NIfTI file {str(p)!r}: {exc}") from exc
    if raw.ndim == 4 and raw.shape[3] == 1:
        raw = raw[..., 0]
    if raw.ndim != 3:
        raise ValueError(f"path: expected a 3D NIfTI image, got shape {raw.shape} in {str(p)!r}")
    data = np.ascontiguousarray(raw.transpose(2, 1, 0))
    affine = np.asarray(img.affine, dtype=float)[:, [2, 1, 0, 3]]
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])[::-1]
    spacing = check_spacing(zooms, f"voxel size of {p.name}")
    affine = _with_spacing(affine, spacing)
    return Volume(data, spacing, affine, str(p))


def _load_npy(p: Path) -> Volume:
    try:
        data = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"path: cannot read .npy file {str(p)!r}: {exc}") from exc
    if data.ndim != 3:
        raise ValueError(f"path: expected a 3D array (z, y, x) in {str(p)!r}, got shape {data.shape}")
    sp = (1.0, 1.0, 1.0)
    return Volume(data, sp, default_affine(sp), str(p))


def _load_npz(p: Path) -> Volume:
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise ValueError(f"path: cannot read .npz file {str(p)!r}: {exc}") from exc
    meta = {"spacing", "affine"}
    if "mask" in arrays:
        key = "mask"
    elif "data" in arrays:
        key = "data"
    else:
        rest = [k for k in arrays if k not in meta]
        if len(rest) != 1:
            raise ValueError(
                f"path: {str(p)!r} holds arrays {sorted(arrays)}; expected one named 'mask' or "
                "'data', or a single array"
            )
        key = rest[0]
    data = arrays[key]
    if data.ndim != 3:
        raise ValueError(f"path: expected a 3D array (z, y, x) in {str(p)!r}[{key!r}], got shape {data.shape}")
    if "spacing" in arrays:
        sp = check_spacing(arrays["spacing"], f"spacing stored in {p.name}")
    elif "affine" in arrays:
        sp = _spacing_from_affine(np.asarray(arrays["affine"], dtype=float))
    else:
        sp = (1.0, 1.0, 1.0)
    aff = _check_affine(arrays["affine"], sp) if "affine" in arrays else default_affine(sp)
    return Volume(data, sp, aff, f"{p}[{key}]")


# --------------------------------------------------------------------------------------------
# DICOM (zip or folder)


class _DicomSource:
    """Files of a DICOM zip or folder grouped by parent folder (one series per folder)."""

    def __init__(self, path: Path):
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self.series: dict[str, list[str]] = {}

    def __enter__(self):
        if self.path.is_dir():
            files = [f for f in sorted(self.path.rglob("*")) if f.is_file()]
            members = [f.relative_to(self.path).as_posix() for f in files]
            root_name = self.path.name
        else:
            try:
                self._zip = zipfile.ZipFile(self.path)
            except zipfile.BadZipFile as exc:
                raise ValueError(
                    f"path: {str(self.path)!r} is not a readable zip file (corrupt or not a zip: {exc})"
                ) from exc
            except OSError as exc:
                raise ValueError(f"path: cannot open {str(self.path)!r}: {exc}") from exc
            members = [i.filename for i in self._zip.infolist() if not i.is_dir()]
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
        try:
            return self._zip.read(member)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise ValueError(
                f"path: corrupt member {member!r} in {str(self.path)!r}: {exc}"
            ) from exc
        except Exception as exc:  # zlib.error and friends
            raise ValueError(
                f"path: corrupt member {member!r} in {str(self.path)!r}: {exc}"
            ) from exc


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


def _read_series(src: _DicomSource, folder: str, *, as_mask: bool):
    """Read one series: (data z,y,x, spacing, affine LPS->RAS, positions)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    members = src.series[folder]
    where = f"{str(src.path)!r}"
    slices = []
    ref = None
    for m in members:
        raw = src.read(m)
        try:
            ds = pydicom.dcmread(_io.BytesIO(raw))
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
        geom = (rows, cols, ps, iop)
        if ref is None:
            ref = (m, geom)
            thickness = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
        else:
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
        zstep = (slices[-1][1] - slices[0][1]) / (len(slices) - 1)
    else:  # one slice: its thickness tag, if any, else the in-plane row spacing
        try:
            step = float(thickness) if thickness else float(ps[0])
        except (TypeError, ValueError):
            step = float(ps[0])
        step = step if step > 0 else float(ps[0])
        zstep = normal * step
    data = np.stack([s[2] for s in slices], axis=0)
    spacing = check_spacing((step, ps[0], ps[1]), f"spacing read from {where}")
    lps = np.eye(4)
    lps[:3, 0] = zstep
    lps[:3, 1] = col_dir * ps[0]
    lps[:3, 2] = row_dir * ps[1]
    lps[:3, 3] = slices[0][1]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    return data, spacing, _with_spacing(affine, spacing), pos


def _load_dicom(p: Path, *, structures, restrict_to) -> Volume:
    loc = _dicom_location(p)
    with _DicomSource(loc) as src:
        available = sorted(src.series)
        where = f"{str(loc)!r}"
        if len(available) == 1 and structures is None and restrict_to is None:
            # a single series (e.g. PATIENT_DICOM): intensities, rescaled to HU
            data, spacing, affine, _ = _read_series(src, available[0], as_mask=False)
            return Volume(data, spacing, affine, str(loc))
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
            data, spacing, affine, pos = _read_series(src, name, as_mask=True)
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
        return Volume(np.ascontiguousarray(out), ref[2], ref[3], f"{loc}:{label}")

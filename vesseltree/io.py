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

NIfTI headers carry up to three geometries (sform, qform, pixdim); the affine is nibabel's
best one (``img.affine``: the sform when its code is set, else the qform, else pixdim alone)
and ``spacing`` is its column norms. When they disagree (a qform that is not the sform's
nearest rigid form, pixdim that are not the affine's voxel sizes) a ``UserWarning`` says
which one was used. ``Volume.has_affine`` is False when the file carries no orientation
(``.npy``, ``.npz`` without ``affine``, NIfTI without sform and qform): its affine is then the
axis-aligned default. Writing sets the sform to the affine and the qform to its nearest rigid
form (nibabel strips shears), with pixdim the qform's zooms, so sform, qform and pixdim agree.

Output names derived from inputs or case ids go through :func:`safe_output_name` (derived) or
:func:`check_output_name` (given): one path component, never ``..``, never hidden, so they
cannot escape an output folder. Geometry helpers live in :mod:`vesseltree.geometry`
(:func:`align_to_grid` puts an array stored with flipped or permuted axes on a reference grid).

3D-IRCADb
---------
``MASKS_DICOM.zip`` holds one folder of DICOM slices per structure (``portalvein``,
``venoussystem``, ``venacava``, ``liver``, ...). Slices are ordered by their position along the
slice normal (ImagePositionPatient projected on the normal of ImageOrientationPatient), never by
file name; the spacing comes from PixelSpacing (rows, columns) and from the distance between
consecutive slice positions, which must be uniform. The zip is opened with
:func:`open_zip_safely` (member names and total uncompressed size checked, see
:mod:`vesseltree.archive`; bound :data:`MAX_ZIP_BYTES`) and read in memory, never extracted.

Default vessel structures (``structures=None``): the union of the portal vein (``portalvein``,
or ``portalvein1`` as patient 1.10 names it) and the venous system (``venoussystem``); for
patients without ``venoussystem`` the ``venacava`` mask is used instead (in 3D-IRCADb-01 it then
holds the hepatic veins drawn together with the inferior vena cava). ``restrict_to="liver"``
keeps only the voxels inside the liver mask, the usual hepatic-vessel ground truth.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from vesseltree._dicom import DEFAULT_VESSEL_STRUCTURES, DicomSource, dicom_location, load_dicom
from vesseltree._validation import check_spacing
from vesseltree.archive import MAX_ZIP_MEMBERS, SafeZip, open_zip_safely
from vesseltree.geometry import (align_to_grid, check_affine, default_affine, spacing_from_affine,
                                 with_spacing)
from vesseltree.outputs import check_output_name, safe_output_name

__all__ = [
    "Volume",
    "as_binary_mask",
    "load_volume",
    "save_volume",
    "list_structures",
    "SUPPORTED_EXTENSIONS",
    "DEFAULT_VESSEL_STRUCTURES",
    "atomic_write",
    "open_zip_safely",
    "SafeZip",
    "MAX_ZIP_BYTES",
    "MAX_ZIP_MEMBERS",
    "default_affine",
    "spacing_from_affine",
    "align_to_grid",
    "check_output_name",
    "safe_output_name",
    "split_extension",
    "file_kind",
    "VOLUME_EXTENSIONS",
]

#: file kinds understood by :func:`load_volume`
SUPPORTED_EXTENSIONS = (".nii", ".nii.gz", ".npy", ".npz", ".zip (DICOM)", "folder of DICOM slices")
#: bound on the uncompressed size of a zip read by :func:`load_volume` (bytes; the readers
#: look it up at call time, so it can be raised for a session)
MAX_ZIP_BYTES = 4 * 2**30
# relative tolerance between NIfTI geometries (headers store float32)
_NIFTI_RTOL = 1e-4


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
    has_affine : bool
        Whether the file carried an orientation (NIfTI sform or qform, DICOM, an ``affine``
        array in ``.npz``); False: ``affine`` is the axis-aligned default of ``spacing``.
    """

    data: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray = field(repr=False)
    source: str = ""
    has_affine: bool = True

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
        vol = load_dicom(p, structures=structures, restrict_to=restrict_to,
                         max_total_bytes=MAX_ZIP_BYTES)
    if override is not None:
        vol = Volume(vol.data, override, with_spacing(vol.affine, override), vol.source,
                     vol.has_affine)
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
    with DicomSource(dicom_location(p), MAX_ZIP_BYTES) as src:
        return sorted(src.series)


def save_volume(path, data, spacing, affine=None) -> Path:
    """Write ``data`` (axes z, y, x) with its geometry, atomically.

    ``.nii`` / ``.nii.gz``: NIfTI-1 with the sform set to the affine and the qform to its
    nearest rigid form, pixdim its zooms (the inverse of the reading convention, so that
    loading gives back ``data``, ``spacing`` and ``affine``);
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
    aff = default_affine(sp) if affine is None else check_affine(affine, sp)
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
            # qform: the nearest rigid form (shears stripped), which also sets pixdim to its
            # zooms; sform: the affine itself (module docstring)
            img.set_qform(nifti_affine, code=1)
            img.set_sform(nifti_affine, code=1)
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


def _suffix(p: Path) -> str:
    ext = split_extension(p.name)[1]
    return ext or Path(p.name.lower()).suffix


def file_kind(path) -> str:
    """What :func:`load_volume` reads ``path`` as: ``"nifti"``, ``"npy"``, ``"npz"``,
    ``"dicom-zip"`` or ``"dicom-dir"``; ``ValueError`` for an unsupported file."""
    return _kind(Path(path))


def _kind(p: Path) -> str:
    if p.is_dir():
        loc = dicom_location(p)
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
    best, oriented = _nifti_affine(img, p.name)
    affine = np.asarray(best, dtype=float)[:, [2, 1, 0, 3]]
    spacing = check_spacing(spacing_from_affine(affine), f"voxel size of {p.name}")
    pixdim = tuple(float(z) for z in img.header.get_zooms()[:3])[::-1]
    if np.allclose(pixdim, spacing, rtol=_NIFTI_RTOL, atol=1e-6):
        # they agree: the header's voxel size, not the float32 round-off of the column norms
        spacing = check_spacing(pixdim, f"voxel size of {p.name}")
        affine = with_spacing(affine, spacing)
    return Volume(data, spacing, affine, str(p), oriented)


def _nifti_affine(img, name: str) -> tuple[np.ndarray, bool]:
    """nibabel's best affine of a NIfTI image (x, y, z columns) and whether the header
    carries an orientation; warns when sform, qform and pixdim disagree."""
    import nibabel as nib

    hdr = img.header
    sform, scode = hdr.get_sform(coded=True)
    qform, qcode = hdr.get_qform(coded=True)
    best = np.asarray(img.affine, dtype=float)  # sform, else qform, else pixdim (nibabel)
    used = "sform" if scode else "qform" if qcode else "pixdim"
    near = nib.Nifti1Header()
    near.set_data_shape(img.shape[:3])
    near.set_qform(best, code=1)  # the nearest rigid form of best, and its zooms
    if scode and qcode and not np.allclose(qform, near.get_qform(), rtol=_NIFTI_RTOL, atol=1e-3):
        warnings.warn(
            f"{name}: the NIfTI qform and sform describe different geometries (voxel (0,0,0) at "
            f"{np.round(qform[:3, 3], 3).tolist()} vs {np.round(sform[:3, 3], 3).tolist()} mm); "
            "using the sform (nibabel's rule)", UserWarning, stacklevel=4)
    pixdim = np.asarray(hdr.get_zooms()[:3], dtype=float)
    zooms = np.asarray(near.get_zooms()[:3], dtype=float)
    if used != "pixdim" and not np.allclose(pixdim, zooms, rtol=_NIFTI_RTOL, atol=1e-6):
        warnings.warn(
            f"{name}: NIfTI pixdim {np.round(pixdim, 6).tolist()} disagree with the voxel size "
            f"{np.round(zooms, 6).tolist()} of its {used}; using the {used} (nibabel's rule)",
            UserWarning, stacklevel=4)
    return best, bool(scode or qcode)


def _load_npy(p: Path) -> Volume:
    try:
        data = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"path: cannot read .npy file {str(p)!r}: {exc}") from exc
    if data.ndim != 3:
        raise ValueError(f"path: expected a 3D array (z, y, x) in {str(p)!r}, got shape {data.shape}")
    sp = (1.0, 1.0, 1.0)
    return Volume(data, sp, default_affine(sp), str(p), has_affine=False)


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
        sp = spacing_from_affine(np.asarray(arrays["affine"], dtype=float))
    else:
        sp = (1.0, 1.0, 1.0)
    has = "affine" in arrays
    aff = check_affine(arrays["affine"], sp) if has else default_affine(sp)
    return Volume(data, sp, aff, f"{p}[{key}]", has_affine=has)

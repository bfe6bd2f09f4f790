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

This module is the public face of reading and writing: the NIfTI and NumPy readers are in
:mod:`vesseltree._readers`, the DICOM reader in :mod:`vesseltree._dicom`, the extensions in
:mod:`vesseltree.file_kinds` and the writers in :mod:`vesseltree.writers`; their public
names are importable from here.

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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from vesseltree._dicom import DEFAULT_VESSEL_STRUCTURES, DicomSource, dicom_location, load_dicom
from vesseltree._validation import check_spacing
from vesseltree.archive import MAX_ZIP_MEMBERS, SafeZip, open_zip_safely
from vesseltree.file_kinds import (SUPPORTED_EXTENSIONS, VOLUME_EXTENSIONS, file_kind,
                                   split_extension)
from vesseltree.geometry import align_to_grid, default_affine, spacing_from_affine, with_spacing
from vesseltree.outputs import check_output_name, safe_output_name
from vesseltree.writers import atomic_write, save_volume

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

#: bound on the uncompressed size of a zip read by :func:`load_volume` (bytes; the readers
#: look it up at call time, so it can be raised for a session)
MAX_ZIP_BYTES = 4 * 2**30


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
    kind = file_kind(p)
    if kind not in {"dicom-zip", "dicom-dir"} and (structures is not None or restrict_to is not None):
        raise ValueError(
            f"structures/restrict_to: only meaningful for 3D-IRCADb DICOM masks, got a {kind} file {str(p)!r}"
        )
    from vesseltree._readers import load_nifti, load_npy, load_npz  # they import Volume

    if kind == "nifti":
        vol = load_nifti(p)
    elif kind == "npy":
        vol = load_npy(p)
    elif kind == "npz":
        vol = load_npz(p)
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
    if file_kind(p) not in {"dicom-zip", "dicom-dir"}:
        raise ValueError(f"path: expected a DICOM zip or folder, got {str(p)!r}")
    with DicomSource(dicom_location(p), MAX_ZIP_BYTES) as src:
        return sorted(src.series)

"""One case in its original geometry: :class:`Case`, and the checks every source applies.

Geometry follows :mod:`vesseltree.io`: arrays are indexed ``(z, y, x)``, ``spacing`` is the
voxel size in mm along those axes and ``affine`` maps an array index ``(iz, iy, ix, 1)`` to
RAS+ world coordinates ``(x, y, z, 1)`` in mm (its first three columns have norms
``spacing``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Case", "check_case", "check_case_id", "affine_from_spacing"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_case_id(case_id, name: str = "case_id") -> str:
    """Return ``case_id`` if it is a safe file name (letters, digits, ``._-``; 1-128 chars).

    Case ids name the cached files, so an id such as ``../../x`` could write outside the
    output folder: it is refused with an error naming ``name``.
    """
    if not isinstance(case_id, str) or not _ID.fullmatch(case_id) or ".." in case_id:
        raise ValueError(
            f"{name}: expected 1-128 letters, digits, '.', '_' or '-' (starting with a letter or "
            f"digit, no '..'), got {case_id!r}")
    return case_id


def affine_from_spacing(spacing) -> np.ndarray:
    """Axis-aligned affine with origin 0: world (x, y, z) = (ix * sx, iy * sy, iz * sz)."""
    from vesseltree.io import default_affine

    return default_affine(spacing)


@dataclass(eq=False)
class Case:
    """A CT volume with its vessel (and liver) mask in original geometry.

    Attributes
    ----------
    case_id : str
        Identifier, a safe file name (:func:`check_case_id`).
    image : numpy.ndarray of float32, shape (z, y, x), or None
        CT in Hounsfield units.
    vessel : numpy.ndarray of bool, shape (z, y, x), or None
        Vessel mask (None at prediction time).
    liver : numpy.ndarray of bool, shape (z, y, x), or None
        Liver mask (used for the crop).
    spacing : tuple of 3 float
        Voxel size (mm) along (z, y, x).
    affine : numpy.ndarray, shape (4, 4)
        Index (z, y, x, 1) -> RAS+ world mm (module docstring).
    source : dict
        Plain JSON-able description: files, patient, structures, generator parameters.
    """

    case_id: str
    image: np.ndarray | None
    vessel: np.ndarray | None
    liver: np.ndarray | None
    spacing: tuple[float, float, float]
    affine: np.ndarray = field(repr=False)
    source: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape (z, y, x) of the first array present."""
        for a in (self.image, self.vessel, self.liver):
            if a is not None:
                return tuple(a.shape)
        raise ValueError(f"case {self.case_id!r}: no image and no mask")


def check_case(case: Case) -> Case:
    """Validate a case; return a new :class:`Case` with C-contiguous arrays of the right dtypes.

    Raises
    ------
    TypeError, ValueError
        Naming the case and the array: not 3D, shapes that differ, non-binary masks, a CT
        with NaN or inf, a bad spacing or an affine whose column norms differ from it.
    """
    from vesseltree.io import as_binary_mask
    from vesseltree.validation import check_spacing

    if not isinstance(case, Case):
        raise TypeError(f"case: expected a vesselnet.data.Case, got {type(case).__name__}")
    cid = check_case_id(case.case_id, "case.case_id")
    where = f"case {cid!r}"
    if case.image is None and case.vessel is None:
        raise ValueError(f"{where}: expected an image or a vessel mask, got neither")
    spacing = check_spacing(case.spacing, f"{where}: spacing")
    arrays = {}
    for name in ("image", "vessel", "liver"):
        a = getattr(case, name)
        if a is None:
            arrays[name] = None
            continue
        a = np.asarray(a)
        if a.ndim != 3:
            raise ValueError(f"{where}: {name} expected a 3D array (z, y, x), got shape {a.shape}")
        if name == "image":
            if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
                raise TypeError(f"{where}: image expected real numbers (HU), got dtype {a.dtype}")
            a = np.ascontiguousarray(a, dtype=np.float32)
            bad = ~np.isfinite(a)
            if bad.any():
                first = tuple(int(v) for v in np.argwhere(bad)[0])
                raise ValueError(
                    f"{where}: image has {int(bad.sum())} NaN/inf value(s) (first at voxel "
                    f"{first}); expected finite Hounsfield units")
        else:
            a = np.ascontiguousarray(as_binary_mask(a, f"{where}: {name}"))
        arrays[name] = a
    shapes = {n: a.shape for n, a in arrays.items() if a is not None}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"{where}: arrays of different shapes {shapes}; expected one grid")
    aff = np.asarray(case.affine, dtype=float)
    if aff.shape != (4, 4) or not np.isfinite(aff).all():
        raise ValueError(f"{where}: affine expected a finite 4x4 matrix, got shape {aff.shape}")
    norms = np.linalg.norm(aff[:3, :3], axis=0)
    if not np.allclose(norms, spacing, rtol=1e-3, atol=1e-5):
        raise ValueError(
            f"{where}: spacing {spacing} does not match the affine's voxel steps "
            f"{tuple(round(float(n), 5) for n in norms)} (mm)")
    if not isinstance(case.source, dict):
        raise TypeError(f"{where}: source expected a dict, got {type(case.source).__name__}")
    return Case(cid, arrays["image"], arrays["vessel"], arrays["liver"], spacing, aff.copy(),
                dict(case.source))

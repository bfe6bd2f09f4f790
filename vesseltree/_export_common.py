"""What the centerline (:mod:`vesseltree.export`) and surface (:mod:`vesseltree.surface`)
exports share: their inputs (one tree or ``{structure: tree}``, the affine, the output path)
and the writing of VTK PolyData (``.vtp``, optional ``vtk`` package, loaded only when used).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .tree import VesselTree

__all__ = ["as_trees", "world_affine", "to_world", "check_path", "polydata", "write_vtp"]

_VTK_HINT = "the optional 'vtk' package (pip install 'vesseltree[vtk]')"


def as_trees(trees, structure: str) -> dict[str, "VesselTree"]:
    """``{structure: tree}`` of one tree (named ``structure``) or of a non-empty mapping of
    trees with one shape and spacing; ``TypeError``/``ValueError`` naming ``trees`` or
    ``structure`` otherwise."""
    from .tree import VesselTree

    if isinstance(trees, VesselTree):
        if not isinstance(structure, str) or not structure:
            raise ValueError(f"structure: expected a non-empty name, got {structure!r}")
        return {structure: trees}
    if isinstance(trees, Mapping) and trees:
        out = {}
        for name, t in trees.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"trees: expected non-empty structure names, got {name!r}")
            if not isinstance(t, VesselTree):
                raise TypeError(f"trees: expected VesselTree values, got {type(t).__name__} "
                                f"for {name!r}")
            out[name] = t
        first = next(iter(out.values()))
        for name, t in out.items():
            if t.shape != first.shape or not np.allclose(t.spacing, first.spacing):
                raise ValueError(
                    f"trees: expected one geometry for every structure, got {name!r} with shape "
                    f"{t.shape} and spacing {t.spacing} vs {first.shape} and {first.spacing}")
        return out
    raise TypeError(f"trees: expected a VesselTree or a non-empty mapping of name -> VesselTree, "
                    f"got {type(trees).__name__}")


def world_affine(affine, spacing) -> np.ndarray:
    """The voxel-to-world affine of an export: :func:`vesseltree.geometry.default_affine` of
    ``spacing`` when None, else ``affine`` checked (finite 4x4, voxel steps ``spacing``)."""
    from .geometry import default_affine

    if affine is None:
        return default_affine(spacing)
    aff = np.asarray(affine, dtype=np.float64)
    if aff.shape != (4, 4) or not np.isfinite(aff).all():
        raise ValueError(f"affine: expected a finite 4x4 matrix, got shape {aff.shape}")
    norms = np.linalg.norm(aff[:3, :3], axis=0)
    if not np.allclose(norms, spacing, rtol=1e-4, atol=1e-6):
        raise ValueError(
            "affine: expected voxel steps (norms of its first three columns, z, y, x) equal to "
            f"the trees' spacing {tuple(float(v) for v in spacing)}, got "
            f"{tuple(float(v) for v in np.round(norms, 6))}")
    return aff


def to_world(index_coords: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World mm (x, y, z) of (n, 3) voxel coordinates (iz, iy, ix), integer or not."""
    return index_coords @ affine[:3, :3].T + affine[:3, 3]


def _vtk():
    try:
        from vtkmodules.util import numpy_support
        from vtkmodules.vtkCommonCore import vtkPoints, vtkStringArray
        from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
        from vtkmodules.vtkIOXML import vtkXMLPolyDataWriter
    except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
        raise ImportError(f".vtp files need {_VTK_HINT}") from exc
    return numpy_support, vtkPoints, vtkStringArray, vtkCellArray, vtkPolyData, vtkXMLPolyDataWriter


def _vtk_array(name: str, values: np.ndarray):
    numpy_support, _, vtkStringArray, *_ = _vtk()
    if values.dtype == object:
        arr = vtkStringArray()
        arr.SetNumberOfValues(len(values))
        for i, s in enumerate(values.tolist()):
            arr.SetValue(i, str(s))
    else:
        arr = numpy_support.numpy_to_vtk(np.ascontiguousarray(values), deep=True)
    arr.SetName(name)
    return arr


def polydata(points: np.ndarray, cells: list[np.ndarray] | np.ndarray, kind: str,
              point_data: dict, cell_data: dict):
    """A ``vtkPolyData``: ``points`` (n, 3); ``cells`` a list of point-index arrays
    (``kind="lines"``, one polyline each) or an (m, 3) array (``kind="polys"``, triangles);
    ``point_data``/``cell_data``: name -> array (object arrays become string arrays)."""
    numpy_support, vtkPoints, _, vtkCellArray, vtkPolyData, _ = _vtk()
    pd_ = vtkPolyData()
    vp = vtkPoints()
    vp.SetDataTypeToDouble()
    vp.SetData(numpy_support.numpy_to_vtk(np.ascontiguousarray(points, dtype=np.float64),
                                          deep=True))
    pd_.SetPoints(vp)
    if isinstance(cells, np.ndarray):  # triangles (m, 3)
        offsets = np.arange(0, 3 * len(cells) + 1, 3, dtype=np.int64)
        conn = cells.reshape(-1).astype(np.int64)
    else:
        sizes = np.array([len(c) for c in cells], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(sizes)))
        conn = np.concatenate(cells).astype(np.int64) if cells else np.zeros(0, np.int64)
    ca = vtkCellArray()
    ca.SetData(numpy_support.numpy_to_vtkIdTypeArray(offsets, deep=True),
               numpy_support.numpy_to_vtkIdTypeArray(conn, deep=True))
    if kind == "lines":
        pd_.SetLines(ca)
    else:
        pd_.SetPolys(ca)
    for name, v in point_data.items():
        pd_.GetPointData().AddArray(_vtk_array(name, np.asarray(v)))
    for name, v in cell_data.items():
        pd_.GetCellData().AddArray(_vtk_array(name, np.asarray(v)))
    return pd_


def write_vtp(pdata, path: Path) -> Path:
    """Write ``pdata`` as a binary, zlib-compressed ``.vtp`` file, atomically."""
    from .writers import atomic_write

    *_, writer_cls = _vtk()
    with atomic_write(path, suffix=".vtp") as tmp:
        w = writer_cls()
        w.SetFileName(str(tmp))
        w.SetInputData(pdata)
        w.SetDataModeToBinary()
        w.SetCompressorTypeToZLib()
        if w.Write() != 1:
            raise OSError(f"path: VTK could not write {str(path)!r}")
    return path


def check_path(path, suffixes: tuple[str, ...]) -> Path:
    """``path`` as a Path, checked: a file name (not a folder) ending in one of ``suffixes``."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise ValueError(f"path: expected a file name ending in {' or '.join(suffixes)}, "
                         f"got {str(p)!r}")
    if p.is_dir():
        raise ValueError(f"path: expected a file, got the folder {str(p)!r}")
    return p


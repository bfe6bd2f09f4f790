"""Centerlines and vessel surfaces for VMTK, 3D Slicer, ParaView and pyvista.

:func:`write_centerlines` writes a VTK PolyData file (``.vtp``, the XML format VMTK, Slicer,
ParaView and pyvista read) with one point per skeleton voxel and one polyline per branch;
:func:`write_surface` writes the surface of the scale masks (marching cubes, scikit-image) as
``.vtp`` (one mesh, a ``scale`` value per triangle) or binary ``.stl`` (no attributes; no vtk
needed). ``docs/centerlines.md`` shows how to open them.

Coordinates are world millimetres: a voxel ``(iz, iy, ix)`` goes to ``affine @ (iz, iy, ix,
1)``, the convention of :class:`vesseltree.io.Volume` (RAS+ for NIfTI input); without an
affine, ``(x, y, z) = (ix sx, iy sy, iz sz)`` (:func:`vesseltree.io.default_affine`).

Centerline arrays
-----------------
Point data (one value per skeleton voxel):

- ``MaximumInscribedSphereRadius``: the inscribed-sphere radius (mm) under the name VMTK
  gives it (:mod:`vesseltree.inscribed`); the same values as ``radius_inscribed_mm``;
- ``radius_corrected_mm``, ``radius_paper_mm``: the local radii of the tree (Eq. 1 and the
  corrected estimator, :mod:`vesseltree.radius`);
- ``branch_radius_mm``: the branch radius (Eq. 2, ``radius_mm`` of the branch table) of the
  branch owning the voxel; ``branch_id``, ``scale`` (of that branch), ``structure_id`` and
  ``structure`` (name).

Cell data (one value per branch polyline): every column of ``tree.branches`` (numbers as
numbers, booleans as 0/1, text as strings), plus ``branch_id``, ``structure``/``structure_id``,
``radius_inscribed_mm`` (Eq. 2 over the inscribed radii) and ``curvature_per_mm``/
``torsion_per_mm`` (:mod:`vesseltree.curvature`) when the table lacks them, and the arrays
``vmtkbranchextractor`` adds: ``GroupIds`` and ``CenterlineIds`` (a branch number unique over
the file, from 0), ``TractIds`` and ``Blanking`` (0).

A polyline runs along the branch's voxel path; at a junction it goes on to the junction
voxel nearest to its end, so branches meeting there share that point (the voxels of a
larger junction cluster are points of their own, not all on a line); a loop closes on its
first point; a zero-length ``'point'`` branch is a two-point line on its voxel.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .curvature import GEOMETRY_COLUMNS, geometry_table, skeleton_voronoi, window_centroids
from .inscribed import VMTK_RADIUS_NAME, inscribed_radius_at
from .radius import branch_radius

if TYPE_CHECKING:  # pragma: no cover
    from .tree import VesselTree

__all__ = ["centerline_arrays", "centerline_polydata", "write_centerlines", "surface_mesh",
           "write_surface"]

_VTK_HINT = "the optional 'vtk' package (pip install 'vesseltree[vtk]')"


# ------------------------------------------------------------------------------ inputs
def _as_trees(trees, structure: str) -> dict[str, "VesselTree"]:
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


def _check_affine(affine, spacing) -> np.ndarray:
    from .io import default_affine

    if affine is None:
        return default_affine(spacing)
    aff = np.asarray(affine, dtype=np.float64)
    if aff.shape != (4, 4) or not np.isfinite(aff).all():
        raise ValueError(f"affine: expected a finite 4x4 matrix, got shape {aff.shape}")
    norms = np.linalg.norm(aff[:3, :3], axis=0)
    if not np.allclose(norms, spacing, rtol=1e-4, atol=1e-6):
        raise ValueError(
            "affine: expected voxel steps (norms of its first three columns, z, y, x) equal to "
            f"the trees' spacing {tuple(spacing)}, got {tuple(np.round(norms, 6))}")
    return aff


def _to_world(index_coords: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return index_coords @ affine[:3, :3].T + affine[:3, 3]


# ------------------------------------------------------------------------------ centerlines
def _branch_lines(tree: "VesselTree", lin: np.ndarray) -> list[np.ndarray]:
    """Point rows (into ``tree.skeleton_coords``) of each branch's polyline, table order."""
    g = tree.branch_graph
    shape = tree.shape
    sp = np.asarray(tree.spacing)
    rows_of = lambda vox: np.searchsorted(lin, np.ravel_multi_index(np.asarray(vox).T, shape))

    def attach(node: int, end_voxel: np.ndarray) -> list[int]:
        vox = g.node_voxels[node]
        if not len(vox):  # endpoint / cycle node: it sits on the path
            return []
        k = int(np.argmin((((vox - end_voxel) * sp) ** 2).sum(axis=1)))
        return [int(rows_of(vox[k:k + 1])[0])]

    lines = []
    for bid, src, dst, kind in zip(tree.branches.index.tolist(), tree.branches["src"].tolist(),
                                   tree.branches["dst"].tolist(),
                                   tree.branches["kind"].tolist()):
        path = g.paths[bid]
        rows = rows_of(path).tolist()
        if kind == "point":
            line = rows if len(rows) > 1 else rows * 2
        elif kind == "cycle":
            line = rows + rows[:1]
        else:
            line = attach(src, path[0]) + rows + attach(dst, path[-1])
        lines.append(np.asarray(line, dtype=np.int64))
    return lines


def _tree_arrays(tree: "VesselTree", affine: np.ndarray, positions: str) -> dict[str, Any]:
    sc = np.ascontiguousarray(tree.skeleton_coords, dtype=np.int64)
    sp = np.asarray(tree.spacing, dtype=np.float64)
    br = tree.branches
    owner = np.asarray(tree.skeleton_branch, dtype=np.int64)
    window = int(tree.options.get("window", 5))
    if len(sc):
        # analyze's tie rule (equidistant skeleton voxels go to the smaller branch id first),
        # so the point radii are those behind the table's radius_inscribed_mm and curvature
        vc, nearest, sg = skeleton_voronoi(tree, seed_labels=tree.skeleton_branch)
        r_ins = inscribed_radius_at(sc, nearest, vc, sp, tree.shape, window, sg)
        centres = window_centroids(sc, nearest, vc, sp, tree.shape, window, sg)
    else:
        r_ins = np.zeros(0)
        centres = np.zeros((0, 3))
    index = centres / sp if positions == "centroid" else sc.astype(np.float64)
    cells = br.copy()
    ids = br.index.to_numpy()
    if "radius_inscribed_mm" not in cells and len(br):
        cells["radius_inscribed_mm"] = branch_radius(r_ins, owner, int(ids.max()))[ids]
    missing = [c for c in GEOMETRY_COLUMNS if c not in cells]
    if missing and len(br):
        geo = geometry_table(tree.branch_graph, sc, centres, 10.0 * float(sp.mean()),
                             index=br.index)
        for c in missing:
            cells[c] = geo[c]

    def per_branch(col):
        lut = np.zeros(int(ids.max()) + 1 if len(ids) else 1, dtype=br[col].dtype)
        if len(ids):
            lut[ids] = br[col].to_numpy()
        return lut[owner]

    lin = np.ravel_multi_index(sc.T, tree.shape) if len(sc) else np.zeros(0, np.int64)
    return {
        "points": _to_world(index, affine),
        "lines": _branch_lines(tree, lin) if len(br) else [],
        "point_data": {
            VMTK_RADIUS_NAME: r_ins,
            "radius_inscribed_mm": r_ins,
            "radius_corrected_mm": np.asarray(tree.radius_corrected, dtype=np.float64),
            "radius_paper_mm": np.asarray(tree.radius_paper, dtype=np.float64),
            "branch_radius_mm": per_branch("radius_mm").astype(np.float64),
            "branch_id": owner.astype(np.int32),
            "scale": per_branch("scale").astype(np.int32),
        },
        "cells": cells,
    }


def centerline_arrays(trees, *, affine=None, positions: str = "voxel",
                      structure: str = "vessel") -> dict[str, Any]:
    """Points, polylines and data arrays of :func:`write_centerlines`, without vtk.

    Parameters
    ----------
    trees : VesselTree or mapping of str to VesselTree
        One tree, or one per anatomical structure (same shape and spacing).
    affine : array_like (4, 4), optional
        Voxel ``(iz, iy, ix, 1)`` to world ``(x, y, z, 1)`` in mm (:class:`vesseltree.io.Volume`
        convention); default :func:`vesseltree.io.default_affine` of the spacing.
    positions : {"voxel", "centroid"}
        Point coordinates: skeleton voxel centres, or the sub-voxel centerline (the centroid
        of each voxel's Voronoi window, :func:`vesseltree.curvature.centerline_points`).
    structure : str
        Name of a single tree's structure.

    Returns
    -------
    dict
        ``points`` (n, 3) float64 world mm (x, y, z); ``lines``: list of int64 arrays of
        point indices, one per branch; ``point_data``: name -> (n,) array; ``cell_data``:
        name -> (n_lines,) array (numbers, or objects holding strings); ``structures``: the
        names, ``structure_id`` k + 1 for the k-th.

    Raises
    ------
    TypeError, ValueError
        Bad ``trees``, ``affine``, ``positions`` or ``structure``.
    """
    tmap = _as_trees(trees, structure)
    if positions not in ("voxel", "centroid"):
        raise ValueError(f"positions: expected 'voxel' or 'centroid', got {positions!r}")
    first = next(iter(tmap.values()))
    aff = _check_affine(affine, first.spacing)
    pts, lines, pdata, cells = [], [], [], []
    offset = 0
    for k, (name, tree) in enumerate(tmap.items(), start=1):
        arr = _tree_arrays(tree, aff, positions)
        n = len(arr["points"])
        pts.append(arr["points"])
        lines.extend(line + offset for line in arr["lines"])
        pd_k = dict(arr["point_data"])
        pd_k["structure_id"] = np.full(n, k, dtype=np.int32)
        pd_k["structure"] = np.full(n, name, dtype=object)
        pdata.append(pd_k)
        c = arr["cells"].reset_index().drop(columns=["structure", "structure_id"],
                                            errors="ignore")
        c.insert(0, "structure", name)
        c.insert(1, "structure_id", np.int32(k))
        cells.append(c)
        offset += n
    point_data = {key: np.concatenate([p[key] for p in pdata]) for key in pdata[0]}
    table = pd.concat(cells, ignore_index=True) if cells else pd.DataFrame()
    cell_data = _cell_columns(table)
    n_lines = len(lines)
    gid = np.arange(n_lines, dtype=np.int32)
    cell_data.update({"GroupIds": gid, "CenterlineIds": gid.copy(),
                      "TractIds": np.zeros(n_lines, np.int32),
                      "Blanking": np.zeros(n_lines, np.int32)})
    return {"points": np.concatenate(pts) if pts else np.zeros((0, 3)), "lines": lines,
            "point_data": point_data, "cell_data": cell_data, "structures": list(tmap)}


def _cell_columns(table: pd.DataFrame) -> dict[str, np.ndarray]:
    out = {}
    for col in table.columns:
        v = table[col]
        if pd.api.types.is_bool_dtype(v):
            out[col] = v.to_numpy().astype(np.uint8)
        elif pd.api.types.is_integer_dtype(v):
            out[col] = v.to_numpy().astype(np.int64)
        elif pd.api.types.is_numeric_dtype(v):
            out[col] = v.to_numpy().astype(np.float64)
        else:
            out[col] = v.astype(str).to_numpy(dtype=object)
    return out


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


def _polydata(points: np.ndarray, cells: list[np.ndarray] | np.ndarray, kind: str,
              point_data: dict, cell_data: dict):
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


def centerline_polydata(trees, *, affine=None, positions: str = "voxel",
                        structure: str = "vessel"):
    """The centerlines as a ``vtkPolyData`` (arguments of :func:`centerline_arrays`).

    Returns
    -------
    vtkmodules.vtkCommonDataModel.vtkPolyData

    Raises
    ------
    ImportError
        Without the optional ``vtk`` package.
    """
    arr = centerline_arrays(trees, affine=affine, positions=positions, structure=structure)
    pdata = _polydata(arr["points"], arr["lines"], "lines", arr["point_data"], arr["cell_data"])
    pdata.GetPointData().SetActiveScalars(VMTK_RADIUS_NAME)
    return pdata


def _write_vtp(pdata, path: Path) -> Path:
    from .io import atomic_write

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


def _check_path(path, suffixes: tuple[str, ...]) -> Path:
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise ValueError(f"path: expected a file name ending in {' or '.join(suffixes)}, "
                         f"got {str(p)!r}")
    if p.is_dir():
        raise ValueError(f"path: expected a file, got the folder {str(p)!r}")
    return p


def write_centerlines(trees, path, *, affine=None, positions: str = "voxel",
                      structure: str = "vessel") -> Path:
    """Write the centerlines as VTK PolyData (``.vtp``), atomically.

    Parameters
    ----------
    trees : VesselTree or mapping of str to VesselTree
        One tree, or one per anatomical structure.
    path : str or path-like
        Output file, ending in ``.vtp``.
    affine, positions, structure
        See :func:`centerline_arrays`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ImportError
        Without the optional ``vtk`` package.
    TypeError, ValueError
        Bad arguments (``path`` not ending in ``.vtp``, ...).
    """
    p = _check_path(path, (".vtp",))
    return _write_vtp(centerline_polydata(trees, affine=affine, positions=positions,
                                          structure=structure), p)


# ------------------------------------------------------------------------------ surfaces
def surface_mesh(trees, *, affine=None, n_scales: int | None = None,
                 structure: str = "vessel") -> dict[str, Any]:
    """Triangle mesh of the scale masks (marching cubes at 0.5, scikit-image), world mm.

    Every scale mask of every tree is meshed on its own (closed surfaces; neighbouring
    scales share their contact faces). A tree without scale thresholds (fewer branches
    than scales) is meshed as one surface of scale 0.

    Parameters
    ----------
    trees : VesselTree or mapping of str to VesselTree
    affine : array_like (4, 4), optional
        As :func:`centerline_arrays`.
    n_scales : int, optional
        Number of scales (default: each tree's).
    structure : str
        Name of a single tree's structure.

    Returns
    -------
    dict
        ``vertices`` (n, 3) float64 world mm (x, y, z); ``faces`` (m, 3) int64, oriented so
        that normals point out of the vessel; ``scale`` and ``structure_id`` (m,) int32 per
        triangle; ``structures``: the names.
    """
    from skimage.measure import marching_cubes

    tmap = _as_trees(trees, structure)
    first = next(iter(tmap.values()))
    aff = _check_affine(affine, first.spacing)
    flip = np.linalg.det(aff[:3, :3]) > 0  # marching_cubes' winding, seen through the affine
    verts, faces, scale, sid = [], [], [], []
    nv = 0
    for k, tree in enumerate(tmap.values(), start=1):
        if tree.thresholds is not None or n_scales is not None:
            labels = tree.scale_labels(n_scales)
        else:
            labels = tree.mask.astype(np.uint8) * np.uint8(255)
        for s in np.unique(labels[labels > 0]).tolist():
            m = labels == s
            nz = np.nonzero(m)
            lo = np.array([a.min() for a in nz])
            hi = np.array([a.max() for a in nz]) + 1
            crop = np.pad(m[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], 1).astype(np.float32)
            v, f, _, _ = marching_cubes(crop, 0.5, allow_degenerate=False)
            verts.append(_to_world(v + lo - 1, aff))
            faces.append((f[:, ::-1] if flip else f).astype(np.int64) + nv)
            nv += len(v)
            scale.append(np.full(len(f), 0 if s == 255 else s, dtype=np.int32))
            sid.append(np.full(len(f), k, dtype=np.int32))
    cat = lambda parts, shape, dt: np.concatenate(parts) if parts else np.zeros(shape, dt)
    return {"vertices": cat(verts, (0, 3), np.float64), "faces": cat(faces, (0, 3), np.int64),
            "scale": cat(scale, (0,), np.int32), "structure_id": cat(sid, (0,), np.int32),
            "structures": list(tmap)}


def _write_stl(mesh: dict, path: Path) -> Path:
    from .io import atomic_write

    v, f = mesh["vertices"], mesh["faces"]
    tri = v[f]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(normal, axis=1, keepdims=True)
    normal = np.divide(normal, length, out=np.zeros_like(normal), where=length > 0)
    rec = np.zeros(len(f), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    rec["n"] = normal
    rec["v"] = tri
    header = b"vesseltree surface, world mm".ljust(80, b" ")
    with atomic_write(path, suffix=".stl") as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(np.uint32(len(f)).tobytes())
            fh.write(rec.tobytes())
    return path


def write_surface(trees, path, *, affine=None, n_scales: int | None = None,
                  structure: str = "vessel") -> Path:
    """Write the surface of the scale masks (:func:`surface_mesh`), atomically.

    Parameters
    ----------
    trees : VesselTree or mapping of str to VesselTree
    path : str or path-like
        ``.vtp`` (VTK PolyData with cell data ``scale``, ``structure_id``; needs ``vtk``) or
        ``.stl`` (binary STL, geometry only; no extra package).
    affine, n_scales, structure
        See :func:`surface_mesh`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ImportError
        ``.vtp`` without the optional ``vtk`` package.
    TypeError, ValueError
        Bad arguments.
    """
    p = _check_path(path, (".vtp", ".stl"))
    mesh = surface_mesh(trees, affine=affine, n_scales=n_scales, structure=structure)
    if p.suffix.lower() == ".stl":
        return _write_stl(mesh, p)
    names = np.array(mesh["structures"], dtype=object)
    cells = {"scale": mesh["scale"], "structure_id": mesh["structure_id"],
             "structure": names[mesh["structure_id"] - 1] if len(mesh["faces"])
             else np.zeros(0, dtype=object)}
    return _write_vtp(_polydata(mesh["vertices"], mesh["faces"], "polys", {}, cells), p)

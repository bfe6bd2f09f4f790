"""Centerlines and vessel surfaces for VMTK, 3D Slicer, ParaView and pyvista.

:func:`write_centerlines` writes a VTK PolyData file (``.vtp``, the XML format VMTK, Slicer,
ParaView and pyvista read) with one point per skeleton voxel and one polyline per branch;
:func:`write_surface` writes the surface of the scale masks (marching cubes, scikit-image) as
``.vtp`` (one mesh, a ``scale`` value per triangle) or binary ``.stl`` (no attributes; no vtk
needed). ``docs/centerlines.md`` shows how to open them. The surfaces are made in
:mod:`vesseltree.surface`, the shared inputs and VTK writing in
:mod:`vesseltree._export_common`; every public name is importable from here.

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

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._export_common import as_trees, check_path, polydata, to_world, world_affine, write_vtp
from .curvature import GEOMETRY_COLUMNS, geometry_table, skeleton_voronoi, window_centroids
from .inscribed import VMTK_RADIUS_NAME, inscribed_radius_at
from .radius import branch_radius
from .surface import surface_mesh, write_surface

if TYPE_CHECKING:  # pragma: no cover
    from .tree import VesselTree

__all__ = ["centerline_arrays", "centerline_polydata", "write_centerlines", "surface_mesh",
           "write_surface"]


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
        "points": to_world(index, affine),
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
    tmap = as_trees(trees, structure)
    if positions not in ("voxel", "centroid"):
        raise ValueError(f"positions: expected 'voxel' or 'centroid', got {positions!r}")
    first = next(iter(tmap.values()))
    aff = world_affine(affine, first.spacing)
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
    pdata = polydata(arr["points"], arr["lines"], "lines", arr["point_data"], arr["cell_data"])
    pdata.GetPointData().SetActiveScalars(VMTK_RADIUS_NAME)
    return pdata


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
    p = check_path(path, (".vtp",))
    return write_vtp(centerline_polydata(trees, affine=affine, positions=positions,
                                         structure=structure), p)

"""Surfaces of the scale masks for VMTK, 3D Slicer, ParaView and pyvista.

:func:`surface_mesh` meshes each scale mask of each tree (marching cubes at 0.5,
scikit-image) in world millimetres (the affine convention of :mod:`vesseltree.export`);
:func:`write_surface` writes the mesh as ``.vtp`` (one mesh, ``scale``, ``structure_id`` and
``structure`` per triangle; optional ``vtk`` package) or binary ``.stl`` (geometry only; no
extra package). Both are also importable from :mod:`vesseltree.export`;
``docs/centerlines.md`` shows how to open the files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._export_common import as_trees, check_path, polydata, to_world, world_affine, write_vtp

__all__ = ["surface_mesh", "write_surface"]


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

    tmap = as_trees(trees, structure)
    first = next(iter(tmap.values()))
    aff = world_affine(affine, first.spacing)
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
            verts.append(to_world(v + lo - 1, aff))
            faces.append((f[:, ::-1] if flip else f).astype(np.int64) + nv)
            nv += len(v)
            scale.append(np.full(len(f), 0 if s == 255 else s, dtype=np.int32))
            sid.append(np.full(len(f), k, dtype=np.int32))
    cat = lambda parts, shape, dt: np.concatenate(parts) if parts else np.zeros(shape, dt)
    return {"vertices": cat(verts, (0, 3), np.float64), "faces": cat(faces, (0, 3), np.int64),
            "scale": cat(scale, (0,), np.int32), "structure_id": cat(sid, (0,), np.int32),
            "structures": list(tmap)}


def _write_stl(mesh: dict, path: Path) -> Path:
    from .writers import atomic_write

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
    p = check_path(path, (".vtp", ".stl"))
    mesh = surface_mesh(trees, affine=affine, n_scales=n_scales, structure=structure)
    if p.suffix.lower() == ".stl":
        return _write_stl(mesh, p)
    names = np.array(mesh["structures"], dtype=object)
    cells = {"scale": mesh["scale"], "structure_id": mesh["structure_id"],
             "structure": names[mesh["structure_id"] - 1] if len(mesh["faces"])
             else np.zeros(0, dtype=object)}
    return write_vtp(polydata(mesh["vertices"], mesh["faces"], "polys", {}, cells), p)

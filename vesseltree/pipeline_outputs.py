"""The files of an output folder of :func:`vesseltree.pipeline.analyze_file`, for one tree
or one tree per structure (:mod:`vesseltree.pipeline_structures`): :func:`write_case_files`
writes them into an :class:`vesseltree.outputs.OutputUnit` in one order, from the same
pieces (:func:`case_summary`, :func:`write_graphml`, :func:`branch_radius_volume`);
:func:`write_vtk_files` adds the ``.vtp`` exports. The files and their meaning:
:mod:`vesseltree.pipeline`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

__all__ = ["write_case_files", "case_summary", "write_graphml", "branch_radius_volume",
           "write_vtk_files", "plain"]


def plain(value):
    """JSON/GraphML-friendly version of a value (numpy scalars -> Python, arrays -> lists)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, (int, str)) or value is None:
        return value
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    return str(value)


def _graphml_value(value):
    """GraphML holds str, int, float and bool only: others become JSON strings, None dropped."""
    v = plain(value)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return json.dumps(v, separators=(",", ":"))


def _clean(attrs) -> dict:
    return {str(k): v for k, v in ((k, _graphml_value(v)) for k, v in attrs.items()) if v is not None}


def write_graphml(graph, path) -> Path:
    """Write a networkx graph as GraphML (atomic), converting array/list attributes such as
    branch paths to JSON strings and dropping ``None``/NaN values."""
    import networkx as nx

    from .io import atomic_write

    g = graph.__class__()
    g.graph.update(_clean(graph.graph))
    for n, attrs in graph.nodes(data=True):
        g.add_node(_graphml_value(n), **_clean(attrs))
    if graph.is_multigraph():
        edges = ((u, v, k, d) for u, v, k, d in graph.edges(keys=True, data=True))
    else:
        edges = ((u, v, None, d) for u, v, d in graph.edges(data=True))
    for u, v, k, attrs in edges:
        key = {} if k is None else {"key": _graphml_value(k)}
        g.add_edge(_graphml_value(u), _graphml_value(v), **key, **_clean(attrs))
    with atomic_write(path) as tmp:
        nx.write_graphml(g, tmp)
    return Path(path)


def branch_radius_volume(labels: np.ndarray, branches) -> np.ndarray:
    """Each vessel voxel gets the radius (mm) of its branch; 0 elsewhere.

    ``labels``: int volume of branch ids (0 background, ``VesselTree.labels``); ``branches``:
    a DataFrame indexed by branch id (or with a ``branch_id`` column) with ``radius_mm``.
    Returns a float32 volume of the labels' shape.
    """
    ids = branches["branch_id"].to_numpy() if "branch_id" in branches.columns else branches.index.to_numpy()
    radii = branches["radius_mm"].to_numpy(dtype=float)
    top = int(max(labels.max(initial=0), ids.max(initial=0)))
    lut = np.zeros(top + 1, dtype=np.float32)
    lut[np.asarray(ids, dtype=np.int64)] = np.nan_to_num(radii, nan=0.0)
    return lut[labels]



def case_summary(base: dict, vol, name: str, scales: np.ndarray, seconds: float,
                 messages: list[str], *, n_scales: int, radius_method: str,
                 structure_fields: dict | None = None, scale_fields: dict | None = None) -> dict:
    """``summary.json`` of an output folder, JSON-ready (:func:`plain`).

    ``base``: the analysis' own summary, extended (in this order) by the input (``name``,
    ``source``, ``shape``, ``spacing_mm``), ``structure_fields`` (several structures),
    ``n_scales`` and ``radius_method``, ``scale_fields`` (one tree: its rule and
    thresholds), the voxels of each scale of ``scales`` and the analysis' ``seconds`` and
    warning ``messages``, then the volume (mm^3) of each scale.
    """
    summary = dict(plain(base))
    summary.update({
        "name": name,
        "source": vol.source,
        "shape": list(vol.data.shape),
        "spacing_mm": list(vol.spacing),
        **(structure_fields or {}),
        "n_scales": n_scales,
        "radius_method": radius_method,
        **(scale_fields or {}),
        "scale_voxels": np.bincount(scales.ravel(), minlength=n_scales + 1)[1:].astype(int).tolist(),
        "analyze_seconds": round(seconds, 3),
        "warnings": messages,
    })
    summary["scale_volume_mm3"] = [float(v * np.prod(vol.spacing))
                                   for v in summary["scale_voxels"]]
    return plain(summary)


def write_case_files(unit, vol, name: str, *, table, index_label: str | None, graph,
                     labels: np.ndarray, scales: np.ndarray, n_scales: int, summary: dict,
                     radius_table, figures: bool, axis: int, volumes: dict | None = None) -> None:
    """Write the files of an output folder into ``unit``, in the input's geometry.

    ``branches.csv`` (``table``; its index as first column ``index_label``, or no index when
    None), ``graph.graphml``, ``labels.nii.gz``, the extra ``volumes`` (file name ->
    array), ``scales.nii.gz``, ``summary.json``, and with ``figures`` the MIPs along
    ``axis`` of the branch radius (``radius_table``: ``radius_mm`` indexed by label) and of
    the scales (1..``n_scales``).
    """
    from .io import atomic_write, save_volume

    with atomic_write(unit.path("branches.csv")) as tmp:
        if index_label is None:
            table.to_csv(tmp, index=False)
        else:
            table.to_csv(tmp, index=True, index_label=index_label)
    unit.wrote("branches.csv")
    write_graphml(graph, unit.path("graph.graphml"))
    unit.wrote("graph.graphml")
    arrays = {"labels.nii.gz": labels, **(volumes or {}), "scales.nii.gz": scales}
    for file, data in arrays.items():
        save_volume(unit.path(file), data, vol.spacing, vol.affine)
        unit.wrote(file)
    with atomic_write(unit.path("summary.json")) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    unit.wrote("summary.json")
    if figures:
        from .plot import radius_mip, scale_mip

        radius_mip(branch_radius_volume(labels, radius_table), unit.path("radius_mip.png"),
                   axis=axis, spacing=vol.spacing, title=f"{name}: branch radius (max)")
        unit.wrote("radius_mip.png")
        scale_mip(scales, unit.path("scales_mip.png"), axis=axis, spacing=vol.spacing,
                  n_scales=n_scales, title=f"{name}: largest scale")
        unit.wrote("scales_mip.png")


def write_vtk_files(unit, trees, vol) -> None:
    """``centerlines.vtp`` and ``surface.vtp`` of one tree or ``{structure: tree}`` into an
    output unit, in the input's world coordinates (:mod:`vesseltree.export`)."""
    from .export import write_centerlines, write_surface

    write_centerlines(trees, unit.path("centerlines.vtp"), affine=vol.affine)
    unit.wrote("centerlines.vtp")
    write_surface(trees, unit.path("surface.vtp"), affine=vol.affine)
    unit.wrote("surface.vtp")


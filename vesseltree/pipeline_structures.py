"""Output folder of one input analysed as one tree per structure (:func:`run`).

:func:`vesseltree.pipeline.analyze_file` with ``per_structure=True`` (``vesseltree analyze
--structures A B``) analyses each structure on its own mask
(:func:`vesseltree.structures.analyze_structures`) and writes the same files as for one tree,
for all structures together:

``branches.csv``      every structure's branch table, one after the other: ``structure``,
                      ``branch_id`` (the structure's own id, from 1), ``label`` (the value of
                      the branch in ``labels.nii.gz``: ``branch_id`` plus the number of
                      branch ids of the structures before it), then the usual columns
``labels.nii.gz``     int32 ``label`` of every vessel voxel (0 background)
``structures.nii.gz`` uint8, 0 background, k for the k-th structure (``summary.json``
                      ``structure_names``)
``scales.nii.gz``     scale classes under the union (default) or per-structure thresholds
``graph.graphml``     one networkx MultiGraph holding every structure's graph: nodes
                      ``"<structure>:<node id>"``, a ``structure`` attribute on nodes and
                      edges, edges keyed by ``branch_id`` with the ``label`` attribute
``summary.json``      per-structure summaries (``structures``), the shared scale rule and
                      thresholds, voxels where the structures touch or overlap
``radius_mip.png``, ``scales_mip.png``, and with ``export_vtp`` ``centerlines.vtp`` and
``surface.vtp`` (a ``structure`` array on points and cells).
"""
from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd

from .pipeline import case_result, run_analysis
from .pipeline_outputs import case_summary, write_case_files, write_vtk_files

__all__ = ["run", "label_offsets", "global_labels", "branch_table", "union_graph"]


def label_offsets(res) -> dict[str, int]:
    """Offset added to each structure's branch ids in ``labels.nii.gz``: the largest branch
    id of the structures before it, summed."""
    out, total = {}, 0
    for name, tree in res.trees.items():
        out[name] = total
        total += int(tree.branches.index.max()) if len(tree.branches) else 0
    return out


def global_labels(res, offsets: dict[str, int]) -> np.ndarray:
    """int32 volume: ``label`` (branch id + offset) of every vessel voxel, 0 elsewhere."""
    out = np.zeros(res.shape, dtype=np.int32)
    flat = out.reshape(-1)
    for name, tree in res.trees.items():
        flat[tree.vessel_index] = tree.vessel_label + offsets[name]
    return out


def branch_table(res, offsets: dict[str, int]) -> pd.DataFrame:
    """Every structure's branch table with ``structure``, ``branch_id`` and ``label``."""
    table = res.branches
    table.insert(2, "label", table["branch_id"].to_numpy(dtype=np.int64)
                 + table["structure"].map(offsets).to_numpy(dtype=np.int64))
    return table


def union_graph(res, offsets: dict[str, int]):
    """One networkx MultiGraph of every structure's graph (module docstring)."""
    import networkx as nx

    g = nx.MultiGraph(structures=json.dumps(res.names))
    for name, tree in res.trees.items():
        sub = tree.graph
        for n, attrs in sub.nodes(data=True):
            g.add_node(f"{name}:{n}", **attrs, structure=name)
        for u, v, k, attrs in sub.edges(keys=True, data=True):
            g.add_edge(f"{name}:{u}", f"{name}:{v}", key=k, **attrs, structure=name,
                       label=int(k) + offsets[name])
    return g


def _summary(res, vol, name, scales, offsets, seconds, messages) -> dict:
    per = {n: t.summary() for n, t in res.trees.items()}
    fields = {
        "structure_names": res.names,
        "label_offsets": offsets,
        "n_branches": int(sum(v["n_branches"] for v in per.values())),
        "vessel_voxels": int(sum(v["vessel_voxels"] for v in per.values())),
    }
    return case_summary(res.summary(), vol, name, scales, seconds, messages,
                        n_scales=res.scale_rule.n_scales,
                        radius_method=next(iter(res.trees.values())).radius_method,
                        structure_fields=fields)


def run(unit, vol, masks: dict, name: str, *, scale_rule, scale_basis: str, radius_method: str,
        curvature: bool, figures: bool, axis: int, export_vtp: bool) -> dict:
    """Analyse ``masks`` (structure -> bool mask) and write ``unit`` (module docstring);
    returns :func:`vesseltree.pipeline.analyze_file`'s dict."""
    from .structures import analyze_structures

    res, scales, seconds, messages = run_analysis(functools.partial(
        analyze_structures, masks, vol.spacing, scale_rule=scale_rule, scale_basis=scale_basis,
        radius_method=radius_method, curvature=curvature))
    offsets = label_offsets(res)
    table = branch_table(res, offsets)
    summary = _summary(res, vol, name, scales, offsets, seconds, messages)
    with unit:
        write_case_files(unit, vol, name, table=table, index_label=None,
                         graph=union_graph(res, offsets), labels=global_labels(res, offsets),
                         volumes={"structures.nii.gz": res.structure_map()}, scales=scales,
                         n_scales=res.scale_rule.n_scales, summary=summary,
                         radius_table=table.set_index("label")[["radius_mm"]],
                         figures=figures, axis=axis)
        if export_vtp:
            write_vtk_files(unit, res.trees, vol)
        unit.commit(inputs=[vol.source])
    return case_result(name, unit, table, summary, res.names)

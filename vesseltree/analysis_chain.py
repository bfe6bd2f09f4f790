"""The measurement chain of :func:`vesseltree.analyze` on a checked mask: :func:`measure`.

Steps 2 to 8 of :mod:`vesseltree.analysis` (its module docstring says what each step
computes and why): branch graph and spur pruning, point branches, ownership of junction
voxels (Gamma'), Eq. 3 labels, Eq. 1 and corrected local radii, Eq. 2 branch radii,
morphometry and scales, every step inside the 26-connected components of the mask.
:func:`empty_tree` is the result for an empty mask (same columns, no row).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import morphometry, scales
from ._kernels import labels_nb
from .graph import BranchGraph, build_graph
from .inscribed import inscribed_radius_at
from .labels import nearest_seed, skeleton_owner
from .radius import branch_radius, corrected_radius_at, paper_radius_at, warn_if_m_reaches_along
from .scales import ScaleRule, threshold_radii
from .tree import VesselTree
from ._warnings import warn

if TYPE_CHECKING:  # pragma: no cover
    from .analysis import AnalysisOptions

__all__ = ["measure", "empty_tree"]

_ORDER_COLUMNS = ["generation", "strahler", "parent", "root_node", "in_tree"]
# vesseltree.curvature.GEOMETRY_COLUMNS (that module, and scipy.signal, load only when asked)
_GEOMETRY_COLUMNS = ("curvature_per_mm", "torsion_per_mm")


def _empty_branches(graph: BranchGraph, inscribed: bool = True,
                    curvature: bool = False) -> pd.DataFrame:
    br = graph.branches.copy()
    cols = ["radius_mm", "radius_paper_mm", "radius_corrected_mm"]
    cols += ["radius_inscribed_mm"] if inscribed else []
    for c in cols + ["volume_mm3"]:
        br[c] = np.zeros(0, dtype=float)
    for c in _GEOMETRY_COLUMNS if curvature else ():
        br[c] = np.zeros(0, dtype=float)
    br["length_end_corrected_mm"] = np.zeros(0, dtype=float)
    br["n_skeleton_voxels"] = np.zeros(0, dtype=np.int64)
    for c in _ORDER_COLUMNS:
        br[c] = np.zeros(0, dtype=bool if c == "in_tree" else np.int64)
    br["scale"] = np.zeros(0, dtype=np.uint8)
    return br


def _junction_radius(graph: BranchGraph, coords, radius, shape) -> np.ndarray:
    """Radius (mm) at each node: the largest local radius over the voxels it owns
    (0 for nodes owning no voxel)."""
    out = np.zeros(graph.n_nodes)
    if not len(coords):
        return out
    lin = np.ravel_multi_index(coords.T, shape)
    order = np.argsort(lin)
    slin = lin[order]
    for nid, vox in enumerate(graph.node_voxels):
        if len(vox):
            pos = np.searchsorted(slin, np.ravel_multi_index(vox.T, shape))
            out[nid] = radius[order[pos]].max()
    return out


def _skeleton_points(graph: BranchGraph) -> tuple[np.ndarray, np.ndarray]:
    """All skeleton voxels of ``graph`` in raster order, with their branch id (0: node voxel)."""
    parts, labs = [], []
    for bid, p in graph.paths.items():
        parts.append(p)
        labs.append(np.full(len(p), bid, dtype=np.int64))
    for v in graph.node_voxels:
        if len(v):
            parts.append(v)
            labs.append(np.zeros(len(v), dtype=np.int64))
    if not parts:
        return np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64)
    c = np.concatenate(parts).astype(np.int64)
    b = np.concatenate(labs)
    o = np.lexsort((c[:, 2], c[:, 1], c[:, 0]))
    return np.ascontiguousarray(c[o]), b[o]


def _add_point_branches(graph: BranchGraph, sc: np.ndarray, sb: np.ndarray, gs: np.ndarray,
                        n_components: int) -> tuple[BranchGraph, np.ndarray]:
    """Give every mask component whose skeleton voxels own no branch a zero-length
    ``'point'`` branch: a self-loop on the node owning its first skeleton voxel, whose path
    is the component's skeleton voxels (module docstring). ``sc``/``sb``: skeleton voxels
    (raster order) and their branch (0: node voxel); ``gs``: their mask component (every
    component 1..n_components holds one). Returns the new graph and the updated ``sb``."""
    has = np.zeros(n_components + 1, dtype=bool)
    has[gs[sb > 0]] = True
    missing = np.flatnonzero(~has[1:]) + 1
    if not missing.size:
        return graph, sb
    shape = graph.shape
    parts = [np.ravel_multi_index(v.T, shape) for v in graph.node_voxels if len(v)]
    nids = [np.full(len(v), i, dtype=np.int64) for i, v in enumerate(graph.node_voxels) if len(v)]
    nlin = np.concatenate(parts)
    nid = np.concatenate(nids)
    o = np.argsort(nlin)
    nlin, nid = nlin[o], nid[o]
    order = np.argsort(gs, kind="stable")  # raster order within each component
    bounds = np.searchsorted(gs[order], np.stack([missing, missing + 1]))
    sb = sb.copy()
    nodes = graph.nodes.copy()
    paths = dict(graph.paths)
    first_id = (int(graph.branches.index.max()) if graph.n_branches else 0) + 1
    rows = []
    for k, (a, b) in enumerate(zip(bounds[0].tolist(), bounds[1].tolist())):
        pts = order[a:b]
        node = int(nid[np.searchsorted(nlin, np.ravel_multi_index(sc[pts[0]], shape))])
        bid = first_id + k
        rows.append((node, node, "point", len(pts), 0.0, 0.0, np.nan,
                     int(nodes.at[node, "component"])))
        paths[bid] = np.ascontiguousarray(sc[pts])
        nodes.loc[node, "degree"] += 2
        sb[pts] = bid
    cols = ["src", "dst", "kind", "n_voxels", "length_mm", "euclidean_mm", "tortuosity",
            "component"]
    new = pd.DataFrame(rows, columns=cols,
                       index=pd.RangeIndex(first_id, first_id + len(rows), name="branch_id"))
    new = new.astype(graph.branches.dtypes.to_dict())
    branches = (new[graph.branches.columns] if not graph.n_branches
                else pd.concat([graph.branches, new[graph.branches.columns]]))
    branches.index = pd.Index(branches.index.to_numpy(dtype=np.int64), name="branch_id")
    return BranchGraph(shape=shape, spacing=graph.spacing, nodes=nodes,
                       node_voxels=graph.node_voxels, branches=branches, paths=paths), sb


def empty_tree(msk: np.ndarray, sp_t: tuple[float, float, float], opts: AnalysisOptions,
               flat_idx: np.ndarray) -> VesselTree:
    """The result of an empty mask: no skeleton, no branch, the columns of :func:`measure`."""
    graph = BranchGraph.empty(msk.shape, sp_t)
    z = np.zeros(0, dtype=np.int64)
    br = _empty_branches(graph, opts.inscribed, opts.curvature)
    return VesselTree(
        mask=msk, spacing=sp_t, branch_graph=graph, branches=br,
        labels=np.zeros(msk.shape, dtype=np.int32), skeleton_coords=np.zeros((0, 3), np.int64),
        skeleton_branch=z, radius_paper=np.zeros(0), radius_corrected=np.zeros(0),
        radius_method=opts.radius_method, scale_rule=opts.scale_rule, thresholds=None,
        options=opts.to_dict(), n_vessel_voxels=0, vessel_index=flat_idx, vessel_label=z)


def _free_ends(graph: BranchGraph) -> np.ndarray:
    """Free ends of each branch: its ``'endpoint'`` nodes, 2 for a point branch."""
    br = graph.branches
    if not len(br):
        return np.zeros(0, dtype=np.int64)
    kind = graph.nodes["kind"].to_numpy()
    ends = ((kind[br["src"].to_numpy()] == "endpoint").astype(np.int64)
            + (kind[br["dst"].to_numpy()] == "endpoint"))
    return np.where(br["kind"].to_numpy() == "point", 2, ends)


def measure(msk: np.ndarray, sp_t: tuple[float, float, float], skel: np.ndarray,
            flat_idx: np.ndarray, opts: AnalysisOptions) -> VesselTree:
    """Steps 2 to 8 of :func:`vesseltree.analyze` on a checked, non-empty mask.

    ``skel``: its skeleton (one voxel thick); ``flat_idx``: the raster indices of its voxels.
    Warnings name the line that called :func:`vesseltree.analyze`
    (``analyze -> _analyze_one -> measure``).
    """
    shape = msk.shape
    sp = np.asarray(sp_t, dtype=np.float64)
    vc = np.ascontiguousarray(np.stack(np.unravel_index(flat_idx, shape), axis=1), dtype=np.int64)
    voxvol = float(np.prod(sp))
    # 26-connected components of the mask: nothing below crosses them
    comp_v = labels_nb.components26(msk, vc)
    graph = build_graph(skel, sp_t)
    sc0, _ = _skeleton_points(graph)
    lin0 = np.ravel_multi_index(sc0.T, shape)  # sorted: sc0 is in raster order
    g0 = comp_v[np.searchsorted(flat_idx, lin0)]
    n_components = _check_covered(comp_v, g0, vc)
    # Eq. 1 on every voxel of the unpruned skeleton (pruning only removes voxels)
    r0 = paper_radius_at(msk, vc, sc0, sp, opts.m, comp_v, g0)
    warn_if_m_reaches_along(msk, vc, sc0, sp, opts.m, r0, comp_v, g0)
    graph = _pruned(graph, sc0, r0 + float(sp.max()), opts)

    sc, sb = _skeleton_points(graph)
    gs = comp_v[np.searchsorted(flat_idx, np.ravel_multi_index(sc.T, shape))]
    graph, sb = _add_point_branches(graph, sc, sb, gs, n_components)
    # Gamma': every skeleton voxel gets one branch (junction voxels: nearest branch voxel)
    owner = skeleton_owner(sc, sb, sp_t, shape, group=gs)
    # Eq. 3 and the Voronoi partition used by the corrected radius
    nearest, _ = nearest_seed(vc, sc, owner, sp, shape, comp_v, gs)
    lab_v = owner[nearest]
    labels = np.zeros(shape, dtype=np.int32)
    labels.reshape(-1)[flat_idx] = lab_v
    owned = np.bincount(nearest, minlength=len(sc)) * voxvol
    # Eq. 1 (both estimators) and Eq. 2
    r_paper = r0[np.searchsorted(lin0, np.ravel_multi_index(sc.T, shape))]
    r_corr = corrected_radius_at(sc, owned, sp, shape, opts.window, gs)
    nb = graph.n_branches
    ids = graph.branches.index.to_numpy()
    rb_paper = branch_radius(r_paper, owner, nb)[ids]
    rb_corr = branch_radius(r_corr, owner, nb)[ids]
    br = graph.branches.copy()
    br["radius_mm"] = rb_corr if opts.radius_method == "corrected" else rb_paper
    br["radius_paper_mm"] = rb_paper
    br["radius_corrected_mm"] = rb_corr
    extra = {}
    if opts.inscribed:  # VMTK's MaximumInscribedSphereRadius, Eq. 2 over the skeleton voxels
        r_ins = inscribed_radius_at(sc, nearest, vc, sp, shape, opts.window, gs)
        extra["radius_inscribed_mm"] = br["radius_inscribed_mm"] = (
            branch_radius(r_ins, owner, nb)[ids])
    br["length_end_corrected_mm"] = br["length_mm"] + _free_ends(graph) * br["radius_mm"]
    br["n_skeleton_voxels"] = np.bincount(owner, minlength=nb + 1)[ids]
    br["volume_mm3"] = np.bincount(lab_v, minlength=nb + 1)[ids] * voxvol
    orders = morphometry.branch_orders(graph.nodes, br, root=opts.root, radius="radius_mm")
    for c in _ORDER_COLUMNS:
        br[c] = orders[c].to_numpy()
    if opts.curvature:
        for c, v in _curvature_columns(graph, sc, nearest, vc, sp, opts.window, gs,
                                       br.index).items():
            extra[c] = br[c] = v
    thresholds = _branch_scales(br, opts.scale_rule)
    graph = graph.with_branch_columns(
        radius_mm=br["radius_mm"].to_numpy(), radius_paper_mm=rb_paper,
        radius_corrected_mm=rb_corr, **extra)
    return VesselTree(
        mask=msk, spacing=sp_t, branch_graph=graph, branches=br, labels=labels,
        skeleton_coords=sc, skeleton_branch=owner, radius_paper=r_paper,
        radius_corrected=r_corr, radius_method=opts.radius_method, scale_rule=opts.scale_rule,
        thresholds=thresholds, options=opts.to_dict(), n_vessel_voxels=len(vc),
        vessel_index=flat_idx, vessel_label=lab_v)


def _check_covered(comp_v: np.ndarray, g0: np.ndarray, vc: np.ndarray) -> int:
    """The number of mask components, after checking that each holds a skeleton voxel
    (``g0``: the component of each skeleton voxel); only a user skeleton can miss one."""
    covered = np.zeros(int(comp_v.max()) + 1, dtype=bool)
    covered[g0] = True
    if not covered[1:].all():
        first = vc[np.flatnonzero(~covered[comp_v])[0]]
        raise ValueError(
            f"skeleton: expected at least one skeleton voxel in every 26-connected component "
            f"of mask, got {int((~covered[1:]).sum())} component(s) without one (first voxel "
            f"{tuple(int(c) for c in first)})")
    return covered.size - 1


def _pruned(graph: BranchGraph, sc0: np.ndarray, radius: np.ndarray,
            opts: AnalysisOptions) -> BranchGraph:
    """Spur pruning under ``opts``; ``radius``: the local radius (mm) of each skeleton voxel
    ``sc0``, from which a junction's radius is its largest over the junction's voxels."""
    plf, pml = opts.prune_length_factor, opts.prune_min_length_mm
    if not (graph.n_branches and (plf > 0 or pml)):
        return graph
    jr = _junction_radius(graph, sc0, radius, graph.shape)
    return graph.prune(length_factor=plf if plf > 0 else None,
                       min_length_mm=pml, junction_radius=jr if plf > 0 else None)


def _curvature_columns(graph, sc, nearest, vc, sp, window, gs, index) -> dict:
    """Branch mean curvature and torsion (:mod:`vesseltree.curvature`): sub-voxel centerline
    from the Voronoi windows of analyze's partition, smoothing window 10 mean voxel sizes."""
    from .curvature import geometry_table, window_centroids

    pts = window_centroids(sc, nearest, vc, sp, graph.shape, window, gs)
    geo = geometry_table(graph, sc, pts, 10.0 * float(sp.mean()), index=index)
    return {c: geo[c].to_numpy() for c in _GEOMETRY_COLUMNS}


def _branch_scales(br: pd.DataFrame, rule: ScaleRule) -> np.ndarray | None:
    """Fill ``br["scale"]`` under ``rule``; the thresholds, or None (with a warning) when a
    quantile rule has fewer branches than scales."""
    radii = br["radius_mm"].to_numpy()
    basis = threshold_radii(radii, (br["kind"] == "point").to_numpy())
    s = rule.n_scales
    if rule.kind == "fixed" or len(basis) >= s:
        thresholds = rule.thresholds(basis)
        br["scale"] = scales.assign_scales(radii, thresholds)
        return thresholds
    warn(
        f"n_scales: {s} scales need at least {s} branches, got {len(basis)}; "
        "the 'scale' column is 0 and the scale methods need fewer scales or fixed thresholds "
        "(ScaleRule.fixed)", UserWarning)
    br["scale"] = np.zeros(len(br), dtype=rule.dtype)
    return None

"""One call for the whole vessel-tree pipeline, :func:`analyze` of Sadikine et al. (ISBI 2023), Sect. 2.1.

``analyze(mask, spacing)`` runs, with arrays in and arrays out at each step:

1. thinning (:func:`vesseltree.skeletonize`, Lee 1994),
2. branch graph (:func:`vesseltree.build_graph`), spur pruning,
3. point branches: a 26-connected component of the mask whose skeleton has no branch (a
   blob thinned to one voxel, an ``'isolated'`` node) gets a zero-length branch of its own,
   of kind ``'point'`` (see below),
4. ownership of junction voxels (:func:`vesseltree.labels.skeleton_owner`: nearest branch
   voxel of the same mask component, ties to the smallest branch id), giving the labelled
   skeleton Gamma',
5. Eq. 3 labels (:mod:`vesseltree.labels`: every vessel voxel -> nearest Gamma' voxel of
   its own 26-connected mask component),
6. Eq. 1 local radii, both the paper's estimator and the corrected one
   (:mod:`vesseltree.radius`), Eq. 2 branch radii (medians over Gamma'),
7. morphometry (:mod:`vesseltree.morphometry`): volumes, generation, Strahler order,
8. scales (:mod:`vesseltree.scales`): S - 1 thresholds on the branch radii under one
   :class:`vesseltree.ScaleRule`, S masks,

and returns a :class:`vesseltree.VesselTree`.

Components. Labels, radii and ownership never cross from one 26-connected component of the
mask to another, so every mask voxel carries the id of a branch of its own component
(``labels > 0`` exactly on the mask). A component whose skeleton has no branch (in practice
a small blob that thins to one voxel, an ``'isolated'`` node of the branch graph) becomes a
**point branch**: ``kind == 'point'``, ``length_mm == euclidean_mm == 0``, ``tortuosity``
NaN, its path is the voxel(s) of its node (shared with the node, which keeps owning them),
its radius is Eq. 1 / the corrected estimator at that voxel (the corrected one is then the
radius of the ball with the component's volume), and it labels the whole component. In the
branch graph and the networkx graph it is a self-loop edge on its node (whose ``degree``
becomes 2, as networkx counts a self-loop; the node keeps ``kind == 'isolated'``), so
``tree.graph.number_of_edges() == len(tree.branches)`` always. Point branches are numbered
after the branches of the thinned (pruned) skeleton, in raster order of their component;
they are generation 1, Strahler order 1, ``in_tree`` True, the root of their component.
They receive a scale, but do not set the per-volume quantile thresholds unless every
branch is a point (:func:`vesseltree.scales.threshold_radii`).

Lengths. ``length_mm`` follows the skeleton, which stops about one radius short of a
vessel's free end (thinning erodes the end cap); ``length_end_corrected_mm`` adds the
branch radius once per free end (``'endpoint'`` node; twice for a point branch), an
estimate of the length up to the tip. Along a coarse axis the skeleton stops further
short: with voxels much longer along one axis than another the lengths and radii are
biased (measured in ``docs/radius.md``), and analyze warns above
:data:`ANISOTROPY_WARN_RATIO`.

Where the answer is not a vessel measurement, analyze warns (``UserWarning``): a
user-supplied skeleton that is not one voxel thick (it is thinned first), junction clusters
bigger than a 3x3x3 block (:func:`vesseltree.graph.warn_thick_clusters`: sheets, surfaces
around cavities), an ``m`` whose nearest surface voxels reach along the vessel
(:func:`vesseltree.radius.warn_if_m_reaches_along`), extreme anisotropy.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import morphometry, scales
from ._kernels import labels_nb
from ._validation import check_mask, check_positive, check_positive_int, check_spacing
from .graph import BranchGraph, build_graph
from .inscribed import inscribed_radius_at
from .labels import nearest_seed, skeleton_owner
from .radius import (PAPER_M, _check_method, branch_radius, corrected_radius_at, paper_radius_at,
                     warn_if_m_reaches_along)
from .scales import UNSET, ScaleRule, threshold_radii
from .skeleton import skeletonize
from .tree import VesselTree

if TYPE_CHECKING:  # pragma: no cover
    from .structures import StructureTrees

__all__ = ["analyze", "threshold_radii", "ANISOTROPY_WARN_RATIO"]

_ORDER_COLUMNS = ["generation", "strahler", "parent", "root_node", "in_tree"]
# vesseltree.curvature.GEOMETRY_COLUMNS (that module, and scipy.signal, load only when asked)
_GEOMETRY_COLUMNS = ("curvature_per_mm", "torsion_per_mm")

#: analyze warns when the largest voxel size exceeds the smallest by more than this factor:
#: at 3 the skeleton of a tube along the coarse axis is already ~14% shorter than at
#: isotropic spacing, and in-plane radii read ~7% high (docs/radius.md)
ANISOTROPY_WARN_RATIO = 3.0


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

def analyze(
    mask: npt.ArrayLike,
    spacing: float | tuple[float, float, float] = (1.0, 1.0, 1.0),
    *,
    m: int = PAPER_M,
    radius_method: Literal["corrected", "paper"] = "corrected",
    window: int = 5,
    prune_length_factor: float = 1.0,
    prune_min_length_mm: float | None = None,
    scale_rule: ScaleRule | int | None = None,
    root: int | Sequence[int] | None = None,
    skeleton: npt.ArrayLike | None = None,
    preserve_length: bool = True,
    inscribed: bool = True,
    curvature: bool = False,
    structures: Mapping[int, str] | bool | None = None,
    scale_basis: Literal["union", "structure"] | None = None,
    overlap: Literal["first", "error"] | None = None,
    n_scales=UNSET,
    prune=UNSET,
) -> VesselTree | "StructureTrees":
    """Analyse a binary vessel mask: skeleton, branches, radii, labels, orders, scales.

    Parameters
    ----------
    mask : array_like of bool or 0/1, shape (z, y, x), or mapping of str to such masks
        Vessel mask; not modified. A mapping ``{structure name: mask}`` (or an integer label
        map with ``structures``) gives one tree per anatomical structure
        (:func:`vesseltree.structures.analyze_structures`, ``docs/structures.md``).
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    m : int
        Number of nearest surface voxels in Eq. 1 (8, as the paper).
    radius_method : {"corrected", "paper"}
        Estimator behind ``radius_mm``, :attr:`VesselTree.local_radius` and the scales.
        Both are always computed (``radius_paper_mm``, ``radius_corrected_mm``).
    window : int
        Skeleton voxels averaged by the corrected estimator (:mod:`vesseltree.radius`).
    prune_length_factor : float
        Spur pruning: terminal branches shorter than this factor times the radius at their
        junction (the largest Eq. 1 radius over the junction's voxels plus the largest voxel
        size, which undoes most of Eq. 1's low bias) are removed. Spurs are the thinning's
        response to surface bumps (``docs/graph.md``). 0 turns this rule off.
    prune_min_length_mm : float, optional
        Spur pruning: terminal branches shorter than this (mm) are removed too. Pruning is
        off when ``prune_length_factor`` is 0 and this is None.
    scale_rule : ScaleRule or int, optional
        How branch radii are split into scales (:class:`vesseltree.ScaleRule`): the
        ``scale`` column, :attr:`VesselTree.thresholds` and the default of the scale
        methods. Default ``ScaleRule.quantiles(3)`` (Q1/Q3, the paper); an int S is short
        for ``ScaleRule.quantiles(S)``.
    root : int or sequence of int, optional
        Root node id(s) of the pruned graph for generation/Strahler orders (default: the
        largest-radius endpoint of each component). Node ids are only known after a first
        run: ``tree.branch_graph.nodes``.
    skeleton : array_like, optional
        A precomputed skeleton (subset of ``mask``, with at least one voxel in every
        26-connected component of ``mask``) instead of thinning. One that is not one voxel
        thick is thinned first (:func:`vesseltree.skeletonize` without the length repairs,
        which only removes voxels), with a warning.
    preserve_length : bool
        Passed to :func:`vesseltree.skeletonize` (ignored with ``skeleton``). ``True``
        (default): thinning with the length repairs (no ribbon eaten row by row, curve
        straightening). ``False``: scikit-image's thinning plus the topology repairs only.
    inscribed : bool
        Add ``radius_inscribed_mm``: Eq. 2 (branch median) over the inscribed-sphere radius,
        VMTK's ``MaximumInscribedSphereRadius`` (:mod:`vesseltree.inscribed`), from the same
        Voronoi partition as the corrected estimator (a fifth to a quarter of the rest of
        the analysis, measured in ``docs/centerlines.md``).
    curvature : bool
        Add ``curvature_per_mm`` and ``torsion_per_mm``: branch means from the smoothed
        sub-voxel centerline as ``vmtkbranchgeometry`` (:mod:`vesseltree.curvature`, window
        10 times the mean voxel size; NaN for point branches and branches of fewer than 4
        voxels). Off by default: it costs one to three times the rest of the analysis.
    structures : mapping of int to str, or True, optional
        ``mask`` is an integer label map (0 = background), one structure per label, named by
        this mapping (``True``: ``"label_<k>"``); one tree per structure.
    scale_basis : {"union", "structure"}, optional
        Per-structure analyses only: scale thresholds over all structures' branches (default,
        the paper's vessel mask) or per structure.
    overlap : {"first", "error"}, optional
        Mapping of masks only: a voxel set in several masks goes to the first (default) or
        is refused.
    n_scales : int
        Deprecated (one release): ``scale_rule=ScaleRule.quantiles(n_scales)``.
    prune : bool
        Deprecated (one release): ``prune=False`` is ``prune_length_factor=0`` (and no
        ``prune_min_length_mm``).

    Returns
    -------
    VesselTree or StructureTrees
        Every mask voxel carries the id of a branch of its own 26-connected component; a
        component whose skeleton has no branch (e.g. one voxel, a small blob, an all-ones
        box that thins to a point) gets a zero-length ``'point'`` branch (module docstring).
        A mapping of masks or a label map with ``structures`` gives a
        :class:`vesseltree.structures.StructureTrees` (one VesselTree per structure, a
        combined branch table with a ``structure`` column).

    Raises
    ------
    TypeError, ValueError
        Bad ``mask`` (non-binary, NaN, not 3D), ``spacing``, ``m``, ``window``,
        ``radius_method``, ``scale_rule``, ``prune*``, ``preserve_length``; a ``skeleton``
        of another shape, outside ``mask`` or missing a component of ``mask``.

    Warns
    -----
    UserWarning
        Empty mask (empty results); a quantile rule with fewer branches than scales
        (``scale`` column 0, :attr:`VesselTree.thresholds` None); and where the answer is not
        a vessel measurement (module docstring): a thick user skeleton, junction clusters
        bigger than 3x3x3, an ``m`` reaching along the vessel, anisotropy above
        :data:`ANISOTROPY_WARN_RATIO`.
    DeprecationWarning
        ``n_scales=`` or ``prune=``.
    """
    if isinstance(mask, Mapping) or structures is not None:
        from .structures import analyze_entry

        return analyze_entry(
            mask, spacing, structures, scale_basis, overlap, scale_rule=scale_rule,
            m=m, radius_method=radius_method, window=window,
            prune_length_factor=prune_length_factor, prune_min_length_mm=prune_min_length_mm,
            root=root, skeleton=skeleton, preserve_length=preserve_length,
            inscribed=inscribed, curvature=curvature, n_scales=n_scales, prune=prune)
    for value, name in ((scale_basis, "scale_basis"), (overlap, "overlap")):
        if value is not None:
            raise ValueError(f"{name}: only for several structures (a mapping of masks or a "
                             f"label map with structures=), got {name}={value!r} for one mask")
    for value, name in ((inscribed, "inscribed"), (curvature, "curvature")):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name}: expected a bool, got {value!r}")
    msk = check_mask(mask, "mask")
    sp_t = check_spacing(spacing, "spacing")
    m = check_positive_int(m, "m")
    window = check_positive_int(window, "window")
    radius_method = _check_method(radius_method, "radius_method")
    rule = scales.legacy_rule(scale_rule, n_scales=n_scales, where="analyze",
                              default=ScaleRule.quantiles())
    if not isinstance(preserve_length, (bool, np.bool_)):
        raise TypeError(f"preserve_length: expected a bool, got {preserve_length!r}")
    plf = check_positive(prune_length_factor, "prune_length_factor", allow_zero=True)
    pml = (None if prune_min_length_mm is None
           else check_positive(prune_min_length_mm, "prune_min_length_mm", allow_zero=True))
    if prune is not UNSET:
        plf, pml = _legacy_prune(prune, plf, pml)
    options = dict(m=m, radius_method=radius_method, window=window, prune_length_factor=plf,
                   prune_min_length_mm=pml, scale_rule=rule.to_dict(), root=root,
                   preserve_length=bool(preserve_length), skeleton_given=skeleton is not None,
                   inscribed=bool(inscribed), curvature=bool(curvature))
    _warn_anisotropy(sp_t)
    if skeleton is None:
        skel = skeletonize(msk, preserve_length=bool(preserve_length))
    else:
        skel = _user_skeleton(skeleton, msk)
    flat_idx = np.flatnonzero(msk)
    if not flat_idx.size:
        warnings.warn("mask is empty: no skeleton, no branch", UserWarning, stacklevel=2)
        return _empty_tree(msk, sp_t, radius_method, rule, options, flat_idx)
    return _analyze_nonempty(msk, sp_t, skel, flat_idx, m=m, window=window, plf=plf, pml=pml,
                             radius_method=radius_method, rule=rule, root=root, options=options,
                             inscribed=bool(inscribed), curvature=bool(curvature))


def _legacy_prune(prune, plf: float, pml: float | None) -> tuple[float, float | None]:
    """The deprecated ``prune`` flag (one release): False turns both pruning rules off."""
    if not isinstance(prune, (bool, np.bool_)):
        raise TypeError(f"prune: expected a bool, got {prune!r}")
    warnings.warn("analyze: prune= is deprecated; pruning is off with prune_length_factor=0 "
                  "(and no prune_min_length_mm)", DeprecationWarning, stacklevel=3)
    return (plf, pml) if prune else (0.0, None)


def _warn_anisotropy(spacing: tuple[float, float, float]) -> None:
    ratio = max(spacing) / min(spacing)
    if ratio > ANISOTROPY_WARN_RATIO:
        warnings.warn(
            f"spacing: voxels {ratio:.2g} times longer along one axis than another {spacing} "
            f"(anisotropy above {ANISOTROPY_WARN_RATIO:g}): branch lengths along the coarse axis "
            "read short and radii across it high (docs/radius.md); resample to a more "
            "isotropic grid for measurements", UserWarning, stacklevel=3)


def _user_skeleton(skeleton, msk: np.ndarray) -> np.ndarray:
    """Check a supplied skeleton; thin it (with a warning) when it is not one voxel thick."""
    skel = check_mask(skeleton, "skeleton")
    if skel.shape != msk.shape:
        raise ValueError(f"skeleton: expected the shape of mask {msk.shape}, got {skel.shape}")
    if (skel & ~msk).any():
        raise ValueError("skeleton: expected a subset of mask, got voxels outside it")
    thin = skeletonize(skel, preserve_length=False)
    removed = int(skel.sum() - thin.sum())
    if removed:
        warnings.warn(
            f"skeleton: not one voxel thick ({removed} of {int(skel.sum())} voxels are removed "
            "by thinning); it was thinned before measuring", UserWarning, stacklevel=4)
        return thin
    return skel


def _empty_tree(msk, sp_t, radius_method, rule, options, flat_idx) -> VesselTree:
    graph = BranchGraph.empty(msk.shape, sp_t)
    z = np.zeros(0, dtype=np.int64)
    br = _empty_branches(graph, options["inscribed"], options["curvature"])
    return VesselTree(
        mask=msk, spacing=sp_t, branch_graph=graph, branches=br,
        labels=np.zeros(msk.shape, dtype=np.int32), skeleton_coords=np.zeros((0, 3), np.int64),
        skeleton_branch=z, radius_paper=np.zeros(0), radius_corrected=np.zeros(0),
        radius_method=radius_method, scale_rule=rule, thresholds=None, options=options,
        n_vessel_voxels=0, vessel_index=flat_idx, vessel_label=z)


def _free_ends(graph: BranchGraph) -> np.ndarray:
    """Free ends of each branch: its ``'endpoint'`` nodes, 2 for a point branch."""
    br = graph.branches
    if not len(br):
        return np.zeros(0, dtype=np.int64)
    kind = graph.nodes["kind"].to_numpy()
    ends = ((kind[br["src"].to_numpy()] == "endpoint").astype(np.int64)
            + (kind[br["dst"].to_numpy()] == "endpoint"))
    return np.where(br["kind"].to_numpy() == "point", 2, ends)


def _analyze_nonempty(msk, sp_t, skel, flat_idx, *, m, window, plf, pml, radius_method, rule,
                      root, options, inscribed=True, curvature=False) -> VesselTree:
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
    covered = np.zeros(int(comp_v.max()) + 1, dtype=bool)
    covered[g0] = True
    if not covered[1:].all():  # only a user skeleton can miss a component
        first = vc[np.flatnonzero(~covered[comp_v])[0]]
        raise ValueError(
            f"skeleton: expected at least one skeleton voxel in every 26-connected component "
            f"of mask, got {int((~covered[1:]).sum())} component(s) without one (first voxel "
            f"{tuple(int(c) for c in first)})")
    # Eq. 1 on every voxel of the unpruned skeleton (pruning only removes voxels)
    r0 = paper_radius_at(msk, vc, sc0, sp, m, comp_v, g0)
    warn_if_m_reaches_along(msk, vc, sc0, sp, m, r0, comp_v, g0, stacklevel=4)
    if graph.n_branches and (plf > 0 or pml):
        jr = _junction_radius(graph, sc0, r0 + float(sp.max()), shape)
        graph = graph.prune(length_factor=plf if plf > 0 else None,
                            min_length_mm=pml, junction_radius=jr if plf > 0 else None)

    sc, sb = _skeleton_points(graph)
    gs = comp_v[np.searchsorted(flat_idx, np.ravel_multi_index(sc.T, shape))]
    graph, sb = _add_point_branches(graph, sc, sb, gs, covered.size - 1)
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
    r_corr = corrected_radius_at(sc, owned, sp, shape, window, gs)
    nb = graph.n_branches
    ids = graph.branches.index.to_numpy()
    rb_paper = branch_radius(r_paper, owner, nb)[ids]
    rb_corr = branch_radius(r_corr, owner, nb)[ids]
    br = graph.branches.copy()
    br["radius_mm"] = rb_corr if radius_method == "corrected" else rb_paper
    br["radius_paper_mm"] = rb_paper
    br["radius_corrected_mm"] = rb_corr
    extra = {}
    if inscribed:  # VMTK's MaximumInscribedSphereRadius, Eq. 2 over the skeleton voxels
        r_ins = inscribed_radius_at(sc, nearest, vc, sp, shape, window, gs)
        extra["radius_inscribed_mm"] = br["radius_inscribed_mm"] = (
            branch_radius(r_ins, owner, nb)[ids])
    br["length_end_corrected_mm"] = br["length_mm"] + _free_ends(graph) * br["radius_mm"]
    br["n_skeleton_voxels"] = np.bincount(owner, minlength=nb + 1)[ids]
    br["volume_mm3"] = np.bincount(lab_v, minlength=nb + 1)[ids] * voxvol
    orders = morphometry.branch_orders(graph.nodes, br, root=root, radius="radius_mm")
    for c in _ORDER_COLUMNS:
        br[c] = orders[c].to_numpy()
    if curvature:
        for c, v in _curvature_columns(graph, sc, nearest, vc, sp, window, gs, br.index).items():
            extra[c] = br[c] = v
    thresholds = _branch_scales(br, rule)
    graph = graph.with_branch_columns(
        radius_mm=br["radius_mm"].to_numpy(), radius_paper_mm=rb_paper,
        radius_corrected_mm=rb_corr, **extra)
    return VesselTree(
        mask=msk, spacing=sp_t, branch_graph=graph, branches=br, labels=labels,
        skeleton_coords=sc, skeleton_branch=owner, radius_paper=r_paper,
        radius_corrected=r_corr, radius_method=radius_method, scale_rule=rule,
        thresholds=thresholds, options=options, n_vessel_voxels=len(vc),
        vessel_index=flat_idx, vessel_label=lab_v)


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
    warnings.warn(
        f"n_scales: {s} scales need at least {s} branches, got {len(basis)}; "
        "the 'scale' column is 0 and the scale methods need fewer scales or fixed thresholds "
        "(ScaleRule.fixed)", UserWarning, stacklevel=4)
    br["scale"] = np.zeros(len(br), dtype=rule.dtype)
    return None

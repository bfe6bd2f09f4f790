"""One call for the whole vessel-tree pipeline of Sadikine et al. (ISBI 2023), Sect. 2.1.

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
8. scales (:mod:`vesseltree.scales`): S - 1 thresholds on the branch radii, S masks.

and returns a :class:`VesselTree`.

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
branch is a point (:func:`threshold_radii`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import morphometry, scales
from .graph import BranchGraph, build_graph
from ._kernels import labels_nb
from .labels import nearest_seed, skeleton_owner
from .radius import _check_method, branch_radius, corrected_radius_at, paper_radius_at
from .skeleton import skeletonize
from ._validation import check_mask, check_nonnegative_int, check_positive, check_spacing

__all__ = ["analyze", "VesselTree", "threshold_radii"]

_ORDER_COLUMNS = ["generation", "strahler", "parent", "root_node", "in_tree"]


@dataclass(eq=False)
class VesselTree:
    """Result of :func:`analyze`.

    Attributes
    ----------
    mask : bool array (z, y, x)
        The vessel mask (a copy of the input).
    spacing : tuple of 3 floats
        Voxel size in mm.
    branch_graph : BranchGraph
        The (pruned) branch graph; its ``branches`` carry the radius columns.
    branches : pandas.DataFrame
        Indexed by ``branch_id`` (1..n): the graph's columns (src, dst, kind, n_voxels,
        length_mm, euclidean_mm, tortuosity, component; ``kind == 'point'`` for the
        zero-length branch of a component without branch, see the module docstring) plus ``radius_mm`` (Eq. 2 with the
        chosen ``radius_method``), ``radius_paper_mm`` (Eq. 2 over Eq. 1 exactly),
        ``radius_corrected_mm``, ``n_skeleton_voxels`` (Gamma' voxels, junction voxels
        included), ``volume_mm3`` (mm^3 of the vessel voxels labelled with the branch by
        Eq. 3), ``generation``, ``strahler``, ``parent``, ``root_node``, ``in_tree``
        (:mod:`vesseltree.morphometry`) and ``scale`` (1..S at ``n_scales``, 0 when the
        volume has fewer branches than scales).
    labels : int32 array (z, y, x)
        Eq. 3: branch id of the nearest labelled skeleton voxel of the same 26-connected
        mask component on every vessel voxel (> 0 exactly on the mask), 0 elsewhere.
    skeleton_coords : (n, 3) int64 array
        Skeleton voxels (raster order) of the pruned skeleton.
    skeleton_branch : (n,) int64 array
        Branch owning each skeleton voxel (Gamma'); junction voxels included.
    radius_paper, radius_corrected : (n,) float64 arrays
        Local radius (mm) of each skeleton voxel, Eq. 1 and corrected estimator.
    radius_method : str
        ``"corrected"`` or ``"paper"``: what ``radius_mm`` and :attr:`local_radius` use.
    n_scales : int
        Default number of scales of :meth:`scale_masks`.
    thresholds : array or None
        Scale thresholds (mm) at ``n_scales``, None when there are fewer branches than scales.
    options : dict
        The options :func:`analyze` ran with.
    n_vessel_voxels : int
        Number of mask voxels.
    vessel_index, vessel_label : (n_vessel_voxels,) int64 arrays
        Flat (raster) index of every mask voxel and its Eq. 3 label: the sparse form of
        :attr:`labels`, used to build scale volumes without scanning the whole box.
    """

    mask: np.ndarray
    spacing: tuple[float, float, float]
    branch_graph: BranchGraph
    branches: pd.DataFrame
    labels: np.ndarray
    skeleton_coords: np.ndarray
    skeleton_branch: np.ndarray
    radius_paper: np.ndarray
    radius_corrected: np.ndarray
    radius_method: str = "corrected"
    n_scales: int = 3
    thresholds: np.ndarray | None = None
    options: dict = field(default_factory=dict)
    n_vessel_voxels: int = 0
    vessel_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    vessel_label: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    # -------------------------------------------------------------- volumes
    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape (z, y, x) of the analysed volume.

        Returns
        -------
        tuple of 3 ints
        """
        return tuple(self.mask.shape)

    def _scatter(self, values, dtype) -> np.ndarray:
        out = np.zeros(self.shape, dtype=dtype)
        c = self.skeleton_coords
        if len(c):
            out[c[:, 0], c[:, 1], c[:, 2]] = values
        return out

    @property
    def skeleton(self) -> np.ndarray:
        """The (pruned) skeleton.

        Returns
        -------
        numpy.ndarray of bool, shape (z, y, x)
        """
        return self._scatter(True, bool)

    @property
    def skeleton_labels(self) -> np.ndarray:
        """The labelled skeleton Gamma'.

        Returns
        -------
        numpy.ndarray of int32, shape (z, y, x)
            Branch id on every skeleton voxel (junction voxels: their owner), 0 elsewhere.
        """
        return self._scatter(self.skeleton_branch, np.int32)

    @property
    def local_radius(self) -> np.ndarray:
        """Local radius (Eq. 1 or the corrected estimator, per :attr:`radius_method`).

        Returns
        -------
        numpy.ndarray of float32, shape (z, y, x)
            Radius in mm on skeleton voxels, 0 elsewhere.
        """
        v = self.radius_corrected if self.radius_method == "corrected" else self.radius_paper
        return self._scatter(v, np.float32)

    def local_radius_volume(self, method: Literal["paper", "corrected"] | None = None) -> np.ndarray:
        """Like :attr:`local_radius`, for either estimator.

        Parameters
        ----------
        method : {"paper", "corrected"}, optional
            Estimator (default: :attr:`radius_method`).

        Returns
        -------
        numpy.ndarray of float32, shape (z, y, x)
            Local radius (mm) on skeleton voxels, 0 elsewhere.
        """
        method = _check_method(method or self.radius_method)
        return self._scatter(self.radius_corrected if method == "corrected" else self.radius_paper,
                             np.float32)

    # -------------------------------------------------------------- graph
    @cached_property
    def graph(self):
        """The branch graph as networkx.

        Returns
        -------
        networkx.MultiGraph
            Nodes: the graph nodes; edges keyed by branch id, one per row of
            :attr:`branches` (a ``'point'`` branch is a self-loop on its node), with every
            column of :attr:`branches` (radius_mm, ...) as attributes.
        """
        cols = {c: self.branches[c] for c in self.branches.columns
                if c not in self.branch_graph.branches.columns}
        return self.branch_graph.with_branch_columns(**cols).to_networkx()

    # -------------------------------------------------------------- scales
    def _radius_lut(self, radius: str | None) -> np.ndarray:
        col = {None: "radius_mm", "paper": "radius_paper_mm",
               "corrected": "radius_corrected_mm"}.get(radius)
        if col is None:
            raise ValueError(f"radius: expected None, 'paper' or 'corrected', got {radius!r}")
        n = len(self.branches)
        lut = np.full(n + 1, np.nan)
        if n:
            lut[self.branches.index.to_numpy()] = self.branches[col].to_numpy(dtype=float)
        return lut

    def _threshold_radii(self, lut: np.ndarray) -> np.ndarray:
        # the branch radii of ``lut`` (indexed by branch id) that set per-volume quantiles
        is_point = np.zeros(len(lut) - 1, dtype=bool)
        if len(self.branches):
            is_point[self.branches.index.to_numpy() - 1] = (
                self.branches["kind"].to_numpy() == "point")
        return threshold_radii(lut[1:], is_point)

    def scale_thresholds(self, n_scales: int | None = None,
                         method: str | Sequence[float] = "quantile", *,
                         quantiles: Sequence[float] | None = None,
                         radius: str | None = None) -> np.ndarray:
        """S - 1 thresholds (mm) on the branch radii, see :func:`vesseltree.scales.scale_thresholds`.

        Parameters
        ----------
        n_scales : int, optional
            S (>= 2; default: ``analyze``'s ``n_scales``).
        method : "quantile" or sequence of float
            Per-volume quantiles, or fixed strictly increasing thresholds in mm.
        quantiles : sequence of float, optional
            Explicit quantile levels in (0, 1) (S = len + 1).
        radius : {None, "paper", "corrected"}
            Branch radius column used (default ``radius_mm``).

        Returns
        -------
        numpy.ndarray of float64, shape (S - 1,)

        Raises
        ------
        ValueError
            Fewer branches than scales with quantile thresholds (names ``n_scales`` and
            the number of branches), bad levels, thresholds or ``radius``.
        """
        n_scales = self._n_scales(n_scales)
        lut = self._radius_lut(radius)
        return scales.scale_thresholds(self._threshold_radii(lut), n_scales, method,
                                       quantiles=quantiles)

    def _n_scales(self, n_scales: int | None) -> int:
        # S: the analysis' n_scales by default, else a checked int >= 2
        return self.n_scales if n_scales is None else check_nonnegative_int(
            n_scales, "n_scales", minimum=2)

    def _scale_lut(self, n_scales, method, thresholds, quantiles, radius) -> tuple[np.ndarray, int]:
        lut_r = self._radius_lut(radius)
        if thresholds is not None:
            t = scales.scale_thresholds(None, method=thresholds)
        else:
            n = self._n_scales(n_scales)
            if not self.n_vessel_voxels:  # empty mask: empty scales, no error
                s = n if quantiles is None else len(quantiles) + 1
                return np.zeros(1, dtype=np.uint8), s
            t = scales.scale_thresholds(self._threshold_radii(lut_r), n, method,
                                        quantiles=quantiles)
        lut = scales.assign_scales(lut_r, t)
        lut[0] = 0
        return lut, t.size + 1

    def scale_labels(self, n_scales: int | None = None,
                     method: str | Sequence[float] = "quantile",
                     thresholds: Sequence[float] | None = None, *,
                     quantiles: Sequence[float] | None = None,
                     radius: str | None = None) -> np.ndarray:
        """uint8 volume: 0 background, 1..S the scale of each vessel voxel (1 = smallest).

        Parameters
        ----------
        n_scales : int, optional
            S (default: ``analyze``'s ``n_scales``), quantile thresholds (Q1/Q3 for S = 3).
        method : "quantile" or sequence of thresholds (mm)
            See :func:`vesseltree.scales.scale_thresholds`.
        thresholds : sequence of float, optional
            Fixed thresholds in mm (S = len + 1); overrides ``n_scales`` and ``method``.
        quantiles : sequence of float, optional
            Explicit quantile levels.
        radius : {None, "paper", "corrected"}
            Branch radius column used (default ``radius_mm``).

        Returns
        -------
        numpy.ndarray of uint8, shape (z, y, x)

        Raises
        ------
        ValueError
            With quantile thresholds, fewer branches than scales (the message names
            ``n_scales`` and the number of branches); bad thresholds or levels.

        Notes
        -----
        An empty mask gives all zeros.
        """
        lut, _ = self._scale_lut(n_scales, method, thresholds, quantiles, radius)
        out = np.zeros(self.shape, dtype=np.uint8)
        if self.n_vessel_voxels and lut.size > 1:
            out.reshape(-1)[self.vessel_index] = lut[self.vessel_label]
        return out

    def scale_masks(self, n_scales: int | None = None,
                    method: str | Sequence[float] = "quantile",
                    thresholds: Sequence[float] | None = None, *,
                    quantiles: Sequence[float] | None = None,
                    radius: str | None = None) -> np.ndarray:
        """The S scale masks y^1..y^S; they partition the mask.

        Parameters
        ----------
        n_scales : int, optional
            S (default: ``analyze``'s ``n_scales``), quantile thresholds (Q1/Q3 for S = 3).
        method : "quantile" or sequence of float
            See :func:`vesseltree.scales.scale_thresholds`.
        thresholds : sequence of float, optional
            Fixed thresholds in mm (S = len + 1); overrides ``n_scales`` and ``method``.
        quantiles : sequence of float, optional
            Explicit quantile levels.
        radius : {None, "paper", "corrected"}
            Branch radius column used (default ``radius_mm``).

        Returns
        -------
        numpy.ndarray of bool, shape (S, z, y, x)
            ``out[s - 1]``: vessel voxels of scale s (1 = smallest vessels); every mask
            voxel is in exactly one of them. All False for an empty mask.

        Raises
        ------
        ValueError
            With quantile thresholds, fewer branches than scales (the message names
            ``n_scales`` and the number of branches); bad thresholds or levels.
        """
        lut, s = self._scale_lut(n_scales, method, thresholds, quantiles, radius)
        out = np.zeros((s,) + self.shape, dtype=bool)
        if self.n_vessel_voxels and lut.size > 1:
            sc = lut[self.vessel_label].astype(np.int64) - 1
            flat = out.reshape(s, -1)
            flat[sc, self.vessel_index] = True
        return out

    def scale_volumes(self, n_scales: int | None = None,
                      method: str | Sequence[float] = "quantile",
                      thresholds: Sequence[float] | None = None, *,
                      quantiles: Sequence[float] | None = None,
                      radius: str | None = None) -> np.ndarray:
        """Volume (mm^3) of each scale 1..S.

        Parameters
        ----------
        n_scales, method, thresholds, quantiles, radius
            As :meth:`scale_masks`.

        Returns
        -------
        numpy.ndarray of float64, shape (S,)
            Entry s - 1: mm^3 of the vessel voxels of scale s; the sum is the mask volume.

        Raises
        ------
        ValueError
            As :meth:`scale_masks`.
        """
        lut, s = self._scale_lut(n_scales, method, thresholds, quantiles, radius)
        counts = np.zeros(s + 1)
        if self.n_vessel_voxels and lut.size > 1:
            counts = np.bincount(lut[self.vessel_label], minlength=s + 1).astype(float)
        return counts[1:] * float(np.prod(self.spacing))

    # -------------------------------------------------------------- summary
    def summary(self) -> dict[str, Any]:
        """Per-volume summary, see :func:`vesseltree.morphometry.summarize`.

        Returns
        -------
        dict
            Plain JSON-able types (counts, lengths, radius statistics, scale volumes).
        """
        return morphometry.summarize(self)

    def __repr__(self) -> str:
        return (f"VesselTree(shape={self.shape}, spacing={self.spacing}, "
                f"n_branches={len(self.branches)}, vessel_voxels={self.n_vessel_voxels}, "
                f"radius_method={self.radius_method!r})")


def _empty_branches(graph: BranchGraph) -> pd.DataFrame:
    br = graph.branches.copy()
    for c in ("radius_mm", "radius_paper_mm", "radius_corrected_mm", "volume_mm3"):
        br[c] = np.zeros(0, dtype=float)
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


def threshold_radii(radii: np.ndarray, is_point: np.ndarray) -> np.ndarray:
    """The branch radii that set the per-volume quantile thresholds.

    Zero-length ``'point'`` branches (mask fragments whose skeleton is a single voxel) are
    left out, unless every branch is one, so that segmentation debris does not pull Q1 and
    Q3 down; they still receive a scale from the thresholds.

    Parameters
    ----------
    radii : numpy.ndarray, shape (n_b,)
        Branch radii (mm).
    is_point : numpy.ndarray of bool, shape (n_b,)
        Which branches are point branches.

    Returns
    -------
    numpy.ndarray
        The radii of the non-point branches, or all radii when there are none.
    """
    return radii if is_point.all() else radii[~is_point]


def analyze(
    mask: npt.ArrayLike,
    spacing: float | tuple[float, float, float] = (1.0, 1.0, 1.0),
    *,
    m: int = 8,
    radius_method: Literal["corrected", "paper"] = "corrected",
    window: int = 5,
    prune: bool = True,
    prune_length_factor: float = 1.0,
    prune_min_length_mm: float | None = None,
    n_scales: int = 3,
    root: int | Sequence[int] | None = None,
    skeleton: npt.ArrayLike | None = None,
    preserve_length: bool = True,
) -> VesselTree:
    """Analyse a binary vessel mask: skeleton, branches, radii, labels, orders, scales.

    Parameters
    ----------
    mask : array_like of bool or 0/1, shape (z, y, x)
        Vessel mask; not modified.
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    m : int
        Number of nearest surface voxels in Eq. 1 (8, as the paper).
    radius_method : {"corrected", "paper"}
        Estimator behind ``radius_mm``, :attr:`VesselTree.local_radius` and the scales.
        Both are always computed (``radius_paper_mm``, ``radius_corrected_mm``).
    window : int
        Skeleton voxels averaged by the corrected estimator (:mod:`vesseltree.radius`).
    prune : bool
        Remove spurs: terminal branches shorter than ``prune_length_factor`` times the
        radius at their junction (the largest Eq. 1 radius over the junction's voxels plus
        the largest voxel size, which undoes most of Eq. 1's low bias) or than
        ``prune_min_length_mm``. Spurs are the thinning's response to surface bumps: the
        smooth test phantoms have none (branch count = segment count either way); on the
        3D-IRCADb masks about 10-15% of the branches are spurs (patient 1.1: 394 -> 330).
    prune_length_factor : float
        See ``prune``.
    prune_min_length_mm : float, optional
        See ``prune``.
    n_scales : int
        Number of scales S for the ``scale`` column and the default of
        :meth:`VesselTree.scale_masks` (quantile thresholds, Q1/Q3 for S = 3).
    root : int or sequence of int, optional
        Root node id(s) of the pruned graph for generation/Strahler orders (default: the
        largest-radius endpoint of each component). Node ids are only known after a first
        run: ``tree.branch_graph.nodes``.
    skeleton : array_like, optional
        A precomputed skeleton (subset of ``mask``, with at least one voxel in every
        26-connected component of ``mask``) instead of thinning.
    preserve_length : bool
        Passed to :func:`vesseltree.skeletonize` (ignored with ``skeleton``). ``True``
        (default): thinning with the length repairs (no ribbon eaten row by row, curve
        straightening). ``False``: scikit-image's thinning plus the topology repairs only.

    Returns
    -------
    VesselTree
        Every mask voxel carries the id of a branch of its own 26-connected component; a
        component whose skeleton has no branch (e.g. one voxel, a small blob, an all-ones
        box that thins to a point) gets a zero-length ``'point'`` branch (module docstring).

    Raises
    ------
    TypeError, ValueError
        Bad ``mask`` (non-binary, NaN, not 3D), ``spacing``, ``m``, ``window``,
        ``radius_method``, ``n_scales``, ``prune*``, ``preserve_length``; a ``skeleton``
        of another shape, outside ``mask`` or missing a component of ``mask``.

    Warns
    -----
    UserWarning
        Empty mask (empty results), fewer branches than scales (``scale`` column 0,
        :attr:`VesselTree.thresholds` None).
    """
    msk = check_mask(mask, "mask")
    sp_t = check_spacing(spacing, "spacing")
    sp = np.asarray(sp_t, dtype=np.float64)
    m = check_nonnegative_int(m, "m", minimum=1)
    window = check_nonnegative_int(window, "window", minimum=1)
    radius_method = _check_method(radius_method, "radius_method")
    n_scales = check_nonnegative_int(n_scales, "n_scales", minimum=2)
    if not isinstance(prune, (bool, np.bool_)):
        raise TypeError(f"prune: expected a bool, got {prune!r}")
    if not isinstance(preserve_length, (bool, np.bool_)):
        raise TypeError(f"preserve_length: expected a bool, got {preserve_length!r}")
    plf = check_positive(prune_length_factor, "prune_length_factor", allow_zero=True)
    pml = (None if prune_min_length_mm is None
           else check_positive(prune_min_length_mm, "prune_min_length_mm", allow_zero=True))
    options = dict(m=m, radius_method=radius_method, window=window, prune=bool(prune),
                   prune_length_factor=plf, prune_min_length_mm=pml, n_scales=n_scales,
                   root=root, preserve_length=bool(preserve_length))
    shape = msk.shape
    flat_idx = np.flatnonzero(msk)
    vc = np.ascontiguousarray(np.stack(np.unravel_index(flat_idx, shape), axis=1), dtype=np.int64)
    voxvol = float(np.prod(sp))

    if skeleton is None:
        skel = skeletonize(msk, preserve_length=bool(preserve_length))
    else:
        skel = check_mask(skeleton, "skeleton")
        if skel.shape != shape:
            raise ValueError(f"skeleton: expected the shape of mask {shape}, got {skel.shape}")
        if (skel & ~msk).any():
            raise ValueError("skeleton: expected a subset of mask, got voxels outside it")

    if not len(vc):
        warnings.warn("mask is empty: no skeleton, no branch", UserWarning, stacklevel=2)
        graph = BranchGraph.empty(shape, sp_t)
        z = np.zeros(0, dtype=np.int64)
        return VesselTree(
            mask=msk, spacing=sp_t, branch_graph=graph, branches=_empty_branches(graph),
            labels=np.zeros(shape, dtype=np.int32), skeleton_coords=np.zeros((0, 3), np.int64),
            skeleton_branch=z, radius_paper=np.zeros(0), radius_corrected=np.zeros(0),
            radius_method=radius_method, n_scales=n_scales, thresholds=None, options=options,
            n_vessel_voxels=0, vessel_index=flat_idx, vessel_label=z)

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
    if prune and graph.n_branches and (plf > 0 or pml):
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
    br["n_skeleton_voxels"] = np.bincount(owner, minlength=nb + 1)[ids]
    br["volume_mm3"] = np.bincount(lab_v, minlength=nb + 1)[ids] * voxvol
    orders = morphometry.branch_orders(graph.nodes, br, root=root, radius="radius_mm")
    for c in _ORDER_COLUMNS:
        br[c] = orders[c].to_numpy()
    thresholds = None
    radii = br["radius_mm"].to_numpy()
    basis = threshold_radii(radii, (br["kind"] == "point").to_numpy())
    if len(basis) >= n_scales:
        thresholds = scales.scale_thresholds(basis, n_scales)
        br["scale"] = scales.assign_scales(radii, thresholds)
    else:
        warnings.warn(
            f"n_scales: {n_scales} scales need at least {n_scales} branches, got {len(basis)}; "
            "the 'scale' column is 0 and scale_masks() needs fewer scales or fixed thresholds",
            UserWarning, stacklevel=2)
        br["scale"] = np.zeros(nb, dtype=np.uint8)
    graph = graph.with_branch_columns(
        radius_mm=br["radius_mm"].to_numpy(), radius_paper_mm=rb_paper,
        radius_corrected_mm=rb_corr)
    return VesselTree(
        mask=msk, spacing=sp_t, branch_graph=graph, branches=br, labels=labels,
        skeleton_coords=sc, skeleton_branch=owner, radius_paper=r_paper,
        radius_corrected=r_corr, radius_method=radius_method, n_scales=n_scales,
        thresholds=thresholds, options=options, n_vessel_voxels=len(vc),
        vessel_index=flat_idx, vessel_label=lab_v)

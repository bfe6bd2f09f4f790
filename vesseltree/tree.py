"""The result of :func:`vesseltree.analyze`: :class:`VesselTree`.

Arrays (labels, skeleton, radii), the branch table and graph, and the scale volumes under one
:class:`vesseltree.ScaleRule`. How each is computed: :mod:`vesseltree.analysis`.
``vesseltree.tree.analyze`` is the same function as ``vesseltree.analyze``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import morphometry, scales
from .graph import BranchGraph
from .radius import _check_method
from .scales import UNSET, ScaleRule

__all__ = ["analyze", "VesselTree", "threshold_radii"]


@dataclass(eq=False)
class VesselTree:
    """Result of :func:`vesseltree.analyze`.

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
        (:mod:`vesseltree.morphometry`), ``length_end_corrected_mm`` (``length_mm`` plus
        ``radius_mm`` per free end, module docstring of :mod:`vesseltree.analysis`) and
        ``scale`` (1..S under :attr:`scale_rule`, 0 when a quantile rule has fewer branches
        than scales).
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
    scale_rule : ScaleRule
        The scale rule of the analysis (:class:`vesseltree.ScaleRule`): the ``scale`` column,
        :attr:`thresholds` and the default of the scale methods. :attr:`n_scales` is its S.
    thresholds : array or None
        This volume's scale thresholds (mm) under :attr:`scale_rule`, None when a quantile
        rule has fewer branches than scales.
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
    scale_rule: ScaleRule = field(default_factory=ScaleRule.quantiles)
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
    @property
    def n_scales(self) -> int:
        """Number of scales S of :attr:`scale_rule`.

        Returns
        -------
        int
        """
        return self.scale_rule.n_scales

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

    def _rule(self, rule, legacy: dict, where: str) -> ScaleRule:
        # the rule of a call: explicit, or from the deprecated keywords, or the analysis' own
        return scales.legacy_rule(rule, **legacy, where=f"VesselTree.{where}",
                                  default=self.scale_rule)

    def _thresholds(self, rule: ScaleRule, lut: np.ndarray) -> np.ndarray:
        is_point = np.zeros(len(lut) - 1, dtype=bool)
        if len(self.branches):
            is_point[self.branches.index.to_numpy() - 1] = (
                self.branches["kind"].to_numpy() == "point")
        return rule.thresholds(scales.threshold_radii(lut[1:], is_point))

    def scale_thresholds(self, rule: ScaleRule | int | None = None, *, radius: str | None = None,
                         n_scales=UNSET, method=UNSET, quantiles=UNSET) -> np.ndarray:
        """S - 1 thresholds (mm) on this volume's branch radii under a scale rule.

        Parameters
        ----------
        rule : ScaleRule or int, optional
            Default: :attr:`scale_rule` (the analysis' rule). An int S is short for
            ``ScaleRule.quantiles(S)``. Quantile rules leave point branches out of the
            quantiles (:func:`vesseltree.scales.threshold_radii`).
        radius : {None, "paper", "corrected"}
            Branch radius column used (default ``radius_mm``).
        n_scales, method, quantiles
            Deprecated (one release), see :func:`vesseltree.scales.legacy_rule`.

        Returns
        -------
        numpy.ndarray of float64, shape (S - 1,)

        Raises
        ------
        ValueError
            Fewer branches than scales with a quantile rule (names ``n_scales`` and the number
            of branches), bad ``radius``.
        """
        r = self._rule(rule, dict(n_scales=n_scales, method=method, quantiles=quantiles),
                       "scale_thresholds")
        return self._thresholds(r, self._radius_lut(radius))

    def _scale_lut(self, rule, radius, legacy: dict, where: str) -> tuple[ScaleRule, np.ndarray]:
        """The rule of a scale method's call (:meth:`_rule`) and its branch id -> scale table
        (entry 0: background; all zeros for an empty mask)."""
        r = self._rule(rule, legacy, where)
        lut_r = self._radius_lut(radius)
        if not self.n_vessel_voxels and r.kind == "quantile":
            return r, np.zeros(1, dtype=r.dtype)
        lut = scales.assign_scales(lut_r, self._thresholds(r, lut_r))
        lut[0] = 0
        return r, lut

    def scale_labels(self, rule: ScaleRule | int | None = None, *, radius: str | None = None,
                     n_scales=UNSET, method=UNSET, thresholds=UNSET, quantiles=UNSET) -> np.ndarray:
        """Scale class volume: 0 background, 1..S the scale of each vessel voxel (1 = smallest).

        Parameters
        ----------
        rule : ScaleRule or int, optional
            Default: :attr:`scale_rule`; an int S is short for ``ScaleRule.quantiles(S)``.
        radius : {None, "paper", "corrected"}
            Branch radius column used (default ``radius_mm``).
        n_scales, method, thresholds, quantiles
            Deprecated (one release): pass a :class:`~vesseltree.ScaleRule`.

        Returns
        -------
        numpy.ndarray of uint8 (uint16 beyond 255 scales), shape (z, y, x)
            All zeros for an empty mask.

        Raises
        ------
        ValueError
            With a quantile rule, fewer branches than scales (the message names ``n_scales``
            and the number of branches).
        """
        r, lut = self._scale_lut(rule, radius, dict(n_scales=n_scales, method=method,
                                                    thresholds=thresholds, quantiles=quantiles),
                                 "scale_labels")
        out = np.zeros(self.shape, dtype=r.dtype)
        if self.n_vessel_voxels and lut.size > 1:
            out.reshape(-1)[self.vessel_index] = lut[self.vessel_label]
        return out

    def scale_masks(self, rule: ScaleRule | int | None = None, *, radius: str | None = None,
                    n_scales=UNSET, method=UNSET, thresholds=UNSET, quantiles=UNSET) -> np.ndarray:
        """The S scale masks y^1..y^S; they partition the mask.

        Parameters
        ----------
        rule : ScaleRule or int, optional
            Default: :attr:`scale_rule`; an int S is short for ``ScaleRule.quantiles(S)``.
        radius : {None, "paper", "corrected"}
            Branch radius column used (default ``radius_mm``).
        n_scales, method, thresholds, quantiles
            Deprecated (one release): pass a :class:`~vesseltree.ScaleRule`.

        Returns
        -------
        numpy.ndarray of bool, shape (S, z, y, x)
            ``out[s - 1]``: vessel voxels of scale s (1 = smallest vessels); every mask
            voxel is in exactly one of them. All False for an empty mask.

        Raises
        ------
        ValueError
            As :meth:`scale_labels`.
        """
        r, lut = self._scale_lut(rule, radius, dict(n_scales=n_scales, method=method,
                                                    thresholds=thresholds, quantiles=quantiles),
                                 "scale_masks")
        s = r.n_scales
        out = np.zeros((s,) + self.shape, dtype=bool)
        if self.n_vessel_voxels and lut.size > 1:
            sc = lut[self.vessel_label].astype(np.int64) - 1
            out.reshape(s, -1)[sc, self.vessel_index] = True
        return out

    def scale_volumes(self, rule: ScaleRule | int | None = None, *, radius: str | None = None,
                      n_scales=UNSET, method=UNSET, thresholds=UNSET, quantiles=UNSET) -> np.ndarray:
        """Volume (mm^3) of each scale 1..S.

        Parameters
        ----------
        rule, radius, n_scales, method, thresholds, quantiles
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
        r, lut = self._scale_lut(rule, radius, dict(n_scales=n_scales, method=method,
                                                    thresholds=thresholds, quantiles=quantiles),
                                 "scale_volumes")
        counts = np.zeros(r.n_scales + 1)
        if self.n_vessel_voxels and lut.size > 1:
            counts = np.bincount(lut[self.vessel_label], minlength=r.n_scales + 1).astype(float)
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


def __getattr__(name: str):
    # analyze lives in vesseltree.analysis (which imports this module); kept importable here
    if name in ("analyze", "threshold_radii"):
        from . import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'vesseltree.tree' has no attribute {name!r}")

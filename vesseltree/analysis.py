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

and returns a :class:`vesseltree.VesselTree`. Steps 2 to 8 run in
:mod:`vesseltree.analysis_chain`.

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Sequence

import numpy as np
import numpy.typing as npt

from . import scales
from ._validation import check_mask, check_positive, check_positive_int, check_spacing
from .analysis_chain import empty_tree, measure
from .radius import PAPER_M, _check_method
from .scales import UNSET, ScaleRule, threshold_radii
from .skeleton import skeletonize
from .tree import VesselTree
from ._warnings import warn

if TYPE_CHECKING:  # pragma: no cover
    from .structures import StructureTrees

__all__ = ["analyze", "threshold_radii", "ANISOTROPY_WARN_RATIO", "AnalysisOptions"]

#: analyze warns when the largest voxel size exceeds the smallest by more than this factor:
#: at 3 the skeleton of a tube along the coarse axis is already ~14% shorter than at
#: isotropic spacing, and in-plane radii read ~7% high (docs/radius.md)
ANISOTROPY_WARN_RATIO = 3.0


@dataclass(frozen=True)
class AnalysisOptions:
    """How :func:`analyze` measures a mask: its measurement keywords, checked, as one value.

    :func:`analyze` builds it from its keywords of the same names, defaults and meaning
    (:meth:`check`) and records :meth:`to_dict` as :attr:`VesselTree.options`.

    Parameters
    ----------
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
    scale_rule : ScaleRule
        The scale rule (``analyze(scale_rule=)``, resolved; default ``ScaleRule.quantiles(3)``).
    root : int or sequence of int, optional
        Root node id(s) of the pruned graph for generation/Strahler orders (default: the
        largest-radius endpoint of each component). Node ids are only known after a first
        run: ``tree.branch_graph.nodes``.
    preserve_length : bool
        Passed to :func:`vesseltree.skeletonize` (ignored with ``skeleton``). ``True``
        (default): thinning with the length repairs (no ribbon eaten row by row, curve
        straightening). ``False``: scikit-image's thinning plus the topology repairs only.
    skeleton_given : bool
        Whether ``analyze(skeleton=)`` gave a precomputed skeleton instead of thinning: a
        subset of ``mask`` with at least one voxel in every 26-connected component of
        ``mask``; one that is not one voxel thick is thinned first
        (:func:`vesseltree.skeletonize` without the length repairs, which only removes
        voxels), with a warning.
    inscribed : bool
        Add ``radius_inscribed_mm``: Eq. 2 (branch median) over the inscribed-sphere radius,
        VMTK's ``MaximumInscribedSphereRadius`` (:mod:`vesseltree.inscribed`), from the same
        Voronoi partition as the corrected estimator (its cost: ``docs/centerlines.md``).
    curvature : bool
        Add ``curvature_per_mm`` and ``torsion_per_mm``: branch means from the smoothed
        sub-voxel centerline as ``vmtkbranchgeometry`` (:mod:`vesseltree.curvature`, window
        10 times the mean voxel size; NaN for point branches and branches of fewer than 4
        voxels). Off by default: it costs more than the rest of the analysis
        (``docs/centerlines.md``).
    """

    m: int = PAPER_M
    radius_method: str = "corrected"
    window: int = 5
    prune_length_factor: float = 1.0
    prune_min_length_mm: float | None = None
    scale_rule: ScaleRule = field(default_factory=ScaleRule.quantiles)
    root: Any = None
    preserve_length: bool = True
    skeleton_given: bool = False
    inscribed: bool = True
    curvature: bool = False

    @classmethod
    def check(cls, *, m, radius_method, window, prune_length_factor, prune_min_length_mm,
              scale_rule, root, preserve_length, skeleton_given, inscribed, curvature,
              n_scales=UNSET, prune=UNSET) -> AnalysisOptions:
        """The options of :func:`analyze`'s keywords of the same names, checked in the order
        of its errors (``inscribed`` and ``curvature``, checked before the mask, are not);
        the deprecated ``n_scales`` and ``prune`` merged in (a ``DeprecationWarning`` at the
        caller's line)."""
        m = check_positive_int(m, "m")
        window = check_positive_int(window, "window")
        radius_method = _check_method(radius_method, "radius_method")
        rule = scales.legacy_rule(scale_rule, n_scales=n_scales, where="analyze",
                                  default=ScaleRule.quantiles())
        _check_bool(preserve_length, "preserve_length")
        plf = check_positive(prune_length_factor, "prune_length_factor", allow_zero=True)
        pml = (None if prune_min_length_mm is None
               else check_positive(prune_min_length_mm, "prune_min_length_mm", allow_zero=True))
        if prune is not UNSET:
            plf, pml = _legacy_prune(prune, plf, pml)
        return cls(m=m, radius_method=radius_method, window=window, prune_length_factor=plf,
                   prune_min_length_mm=pml, scale_rule=rule, root=root,
                   preserve_length=bool(preserve_length), skeleton_given=bool(skeleton_given),
                   inscribed=bool(inscribed), curvature=bool(curvature))

    def to_dict(self) -> dict:
        """The options as :attr:`VesselTree.options` holds them (the rule as its dict)."""
        return dict(m=self.m, radius_method=self.radius_method, window=self.window,
                    prune_length_factor=self.prune_length_factor,
                    prune_min_length_mm=self.prune_min_length_mm,
                    scale_rule=self.scale_rule.to_dict(), root=self.root,
                    preserve_length=self.preserve_length, skeleton_given=self.skeleton_given,
                    inscribed=self.inscribed, curvature=self.curvature)


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
    m, radius_method, window, prune_length_factor, prune_min_length_mm, root, skeleton, \
preserve_length, inscribed, curvature
        How the mask is measured, documented once in :class:`AnalysisOptions` (same names,
        defaults and meaning; ``skeleton``: under ``skeleton_given``).
    scale_rule : ScaleRule or int, optional
        How branch radii are split into scales (:class:`vesseltree.ScaleRule`): the
        ``scale`` column, :attr:`VesselTree.thresholds`, the scale methods' default. Default
        ``ScaleRule.quantiles(3)`` (Q1/Q3, the paper); an int S: ``ScaleRule.quantiles(S)``.
    structures : mapping of int to str, or True, optional
        ``mask`` is an integer label map (0 = background), one structure per label, named by
        this mapping (``True``: ``"label_<k>"``); one tree per structure.
    scale_basis, overlap : str, optional
        Several structures only, as in :func:`vesseltree.structures.analyze_structures`
        (``overlap``: a mapping of masks only); defaults ``"union"`` and ``"first"``.
    n_scales, prune
        Deprecated (one release): ``scale_rule=ScaleRule.quantiles(n_scales)``;
        ``prune=False`` is ``prune_length_factor=0`` (and no ``prune_min_length_mm``).

    Returns
    -------
    VesselTree or StructureTrees
        Every mask voxel carries the id of a branch of its own 26-connected component (a
        zero-length ``'point'`` branch for a component without one, module docstring).
        Several structures: a :class:`vesseltree.structures.StructureTrees`.

    Raises
    ------
    TypeError, ValueError
        A bad argument, named; a ``skeleton`` of another shape, outside ``mask`` or missing
        a component of ``mask``.

    Warns
    -----
    UserWarning
        Empty mask; a quantile rule with fewer branches than scales (``scale`` column 0,
        ``thresholds`` None); where the answer is not a vessel measurement (module docstring).
    DeprecationWarning
        ``n_scales=`` or ``prune=``.
    """
    options = dict(m=m, radius_method=radius_method, window=window,
                   prune_length_factor=prune_length_factor,
                   prune_min_length_mm=prune_min_length_mm, scale_rule=scale_rule, root=root,
                   skeleton=skeleton, preserve_length=preserve_length, inscribed=inscribed,
                   curvature=curvature, n_scales=n_scales, prune=prune)
    if isinstance(mask, Mapping) or structures is not None:
        from .structures import analyze_entry

        return analyze_entry(mask, spacing, structures, scale_basis, overlap, **options)
    return _analyze_one(mask, spacing, scale_basis, overlap, **options)


def _analyze_one(mask, spacing, scale_basis, overlap, *, skeleton, **options) -> VesselTree:
    """:func:`analyze` of one mask: its arguments checked (the order of the errors is the
    order below), the skeleton, then :func:`vesseltree.analysis_chain.measure`."""
    for value, name in ((scale_basis, "scale_basis"), (overlap, "overlap")):
        if value is not None:
            raise ValueError(f"{name}: only for several structures (a mapping of masks or a "
                             f"label map with structures=), got {name}={value!r} for one mask")
    _check_bool(options["inscribed"], "inscribed")
    _check_bool(options["curvature"], "curvature")
    msk = check_mask(mask, "mask")
    sp_t = check_spacing(spacing, "spacing")
    opts = AnalysisOptions.check(**options, skeleton_given=skeleton is not None)
    _warn_anisotropy(sp_t)
    if skeleton is None:
        skel = skeletonize(msk, preserve_length=opts.preserve_length)
    else:
        skel = _user_skeleton(skeleton, msk)
    flat_idx = np.flatnonzero(msk)
    if not flat_idx.size:
        warn("mask is empty: no skeleton, no branch", UserWarning)
        return empty_tree(msk, sp_t, opts, flat_idx)
    return measure(msk, sp_t, skel, flat_idx, opts)


def _check_bool(value, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {value!r}")


def _legacy_prune(prune, plf: float, pml: float | None) -> tuple[float, float | None]:
    """The deprecated ``prune`` flag (one release): False turns both pruning rules off."""
    _check_bool(prune, "prune")
    warn("analyze: prune= is deprecated; pruning is off with prune_length_factor=0 "
         "(and no prune_min_length_mm)", DeprecationWarning)
    return (plf, pml) if prune else (0.0, None)


def _warn_anisotropy(spacing: tuple[float, float, float]) -> None:
    ratio = max(spacing) / min(spacing)
    if ratio > ANISOTROPY_WARN_RATIO:
        warn(
            f"spacing: voxels {ratio:.2g} times longer along one axis than another {spacing} "
            f"(anisotropy above {ANISOTROPY_WARN_RATIO:g}): branch lengths along the coarse axis "
            "read short and radii across it high (docs/radius.md); resample to a more "
            "isotropic grid for measurements", UserWarning)


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
        warn(
            f"skeleton: not one voxel thick ({removed} of {int(skel.sum())} voxels are removed "
            "by thinning); it was thinned before measuring", UserWarning)
        return thin
    return skel

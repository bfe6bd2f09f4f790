"""One tree per anatomical system: a label map or several masks, analysed structure by structure.

The portal vein and the hepatic veins (3D-IRCADb's ``venoussystem``) are two vascular trees
that touch inside the liver; analysed as one mask they form one graph in which generation
and Strahler orders run from one tree into the other (``docs/structures.md`` shows it on
3D-IRCADb). :func:`analyze_structures` runs :func:`vesseltree.analyze` on each structure's
own mask, so each gets its own skeleton, branches, radii, roots and orders, and puts the
results side by side (:class:`StructureTrees`): a combined branch table with a ``structure``
column, a combined scale volume, per-structure summaries.

Voxels
------
Every voxel belongs to at most one structure. A label map gives that by construction. With
masks, a voxel set in several of them (overlapping segmentations) goes to the structure listed
first (``overlap="first"``, the counts are kept in :attr:`StructureTrees.overlap_voxels`) or
the call is refused (``overlap="error"``). Structures that merely **touch** (voxels of one
26-adjacent to voxels of the other, counted in :attr:`StructureTrees.contact_voxels`) keep
their voxels: each is analysed on its own mask only, so the contact is a wall for both. No
skeleton, label (Eq. 3), radius (Eq. 1) or window crosses it, a branch never continues into
the other structure, and each structure's roots are chosen within it (its largest-radius
endpoint per component, as :func:`vesseltree.morphometry.branch_orders`). The union of the
structures' labels covers exactly the union of their masks.

Scales
------
``scale_basis="union"`` (default) sets one set of thresholds for the whole vessel mask, the
paper's per-volume rule: a quantile rule is applied to the branch radii of all structures
pooled (point branches left out, as :func:`vesseltree.scales.threshold_radii`), and every
structure's ``scale`` column, thresholds and scale methods use those thresholds (its
:attr:`~vesseltree.VesselTree.scale_rule` becomes ``ScaleRule.fixed(thresholds)``).
``scale_basis="structure"`` keeps each structure's own quantiles. A fixed rule gives the same
thresholds either way.
"""
from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import scales
from ._validation import check_mask, check_spacing
from .scales import UNSET, ScaleRule, as_scale_rule
from ._warnings import warn

__all__ = ["StructureTrees", "analyze_structures", "analyze_entry"]

_BASES = ("union", "structure")
_OVERLAPS = ("first", "error")


@dataclass(eq=False)
class StructureTrees:
    """Result of :func:`analyze_structures`.

    Attributes
    ----------
    trees : dict of str to VesselTree
        One analysis per structure, in the order given.
    spacing : tuple of 3 floats
        Voxel size in mm (z, y, x).
    scale_rule : ScaleRule
        The rule the thresholds come from.
    scale_basis : {"union", "structure"}
        Thresholds over all structures' branches, or per structure (module docstring).
    thresholds : numpy.ndarray or None
        ``"union"``: the shared thresholds (mm), None when a quantile rule had fewer branches
        than scales; ``"structure"``: None (see each tree's ``thresholds``).
    overlap_voxels : dict of (str, str) to int
        Voxels set in both masks of a pair, given to the first of the two.
    contact_voxels : dict of (str, str) to int
        Voxels of the first structure with a 26-neighbour in the second.
    """

    trees: dict
    spacing: tuple[float, float, float]
    scale_rule: ScaleRule
    scale_basis: str
    thresholds: np.ndarray | None = None
    overlap_voxels: dict = field(default_factory=dict)
    contact_voxels: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Structure names, in order.

        Returns
        -------
        list of str
        """
        return list(self.trees)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape (z, y, x) of the volume.

        Returns
        -------
        tuple of 3 ints
        """
        return next(iter(self.trees.values())).shape

    @property
    def branches(self) -> pd.DataFrame:
        """All branch tables, one after the other.

        Returns
        -------
        pandas.DataFrame
            Columns ``structure``, ``branch_id`` (the structure's own id) and every column
            of the trees' tables; a RangeIndex.
        """
        parts = []
        for name, tree in self.trees.items():
            t = tree.branches.reset_index()
            t.insert(0, "structure", name)
            parts.append(t)
        return pd.concat(parts, ignore_index=True)

    def structure_map(self) -> np.ndarray:
        """Which structure holds each voxel.

        Returns
        -------
        numpy.ndarray of uint8 (uint16 beyond 255 structures), shape (z, y, x)
            0 on the background, k for the k-th structure (1-based, :attr:`names` order).
        """
        dt = np.uint8 if len(self.trees) < 256 else np.uint16
        out = np.zeros(self.shape, dtype=dt)
        for k, tree in enumerate(self.trees.values(), start=1):
            out.reshape(-1)[tree.vessel_index] = k
        return out

    def scale_labels(self) -> np.ndarray:
        """Scale class of every voxel of the union mask under :attr:`scale_basis`.

        Returns
        -------
        numpy.ndarray of uint8 (uint16 beyond 255 scales), shape (z, y, x)
            0 background, 1..S (1 = smallest vessels); the structures' own scale volumes
            side by side.

        Raises
        ------
        ValueError
            A quantile rule with fewer branches than scales (in the union, or in a structure
            with ``scale_basis="structure"``).
        """
        if self.scale_basis == "union" and self.thresholds is None:
            raise ValueError(
                f"scale_rule: {self.scale_rule.n_scales} scales need at least "
                f"{self.scale_rule.n_scales} branches over all structures; use fewer scales "
                "or fixed thresholds in mm")
        out = np.zeros(self.shape, dtype=self.scale_rule.dtype)
        for tree in self.trees.values():
            lab = tree.scale_labels()
            out.reshape(-1)[tree.vessel_index] = lab.reshape(-1)[tree.vessel_index]
        return out

    def scale_masks(self) -> np.ndarray:
        """The S scale masks of the union mask (a partition of it).

        Returns
        -------
        numpy.ndarray of bool, shape (S, z, y, x)
        """
        lab = self.scale_labels()
        return lab[None] == np.arange(1, self.scale_rule.n_scales + 1,
                                      dtype=lab.dtype)[:, None, None, None]

    def summary(self) -> dict[str, Any]:
        """Per-structure summaries (:meth:`vesseltree.VesselTree.summary`) and the shared part.

        Returns
        -------
        dict
            ``structures``: name -> summary; ``scale_basis``, ``scale_rule``,
            ``scale_thresholds_mm`` (union basis), ``overlap_voxels`` and
            ``contact_voxels`` as ``"a|b": count``.
        """
        out: dict[str, Any] = {
            "structures": {name: t.summary() for name, t in self.trees.items()},
            "scale_basis": self.scale_basis,
            "scale_rule": self.scale_rule.to_dict(),
            "overlap_voxels": {f"{a}|{b}": int(n) for (a, b), n in self.overlap_voxels.items()},
            "contact_voxels": {f"{a}|{b}": int(n) for (a, b), n in self.contact_voxels.items()},
        }
        if self.scale_basis == "union" and self.thresholds is not None:
            out["scale_thresholds_mm"] = [float(t) for t in self.thresholds]
        return out

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}: {len(t.branches)} branches" for n, t in self.trees.items())
        return f"StructureTrees({parts}; scale_basis={self.scale_basis!r})"


def _structure_masks(structures, names) -> dict[str, np.ndarray]:
    """name -> boolean mask, from a mapping of masks or an integer label map."""
    if isinstance(structures, Mapping):
        if names is not None:
            raise ValueError("names: only for a label map; a mapping already names its masks")
        if not structures:
            raise ValueError("structures: expected at least one structure, got an empty mapping")
        out = {}
        for name, m in structures.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"structures: expected non-empty str names, got {name!r}")
            out[name] = check_mask(m, f"structures[{name!r}]")
        shapes = {n: m.shape for n, m in out.items()}
        if len(set(shapes.values())) > 1:
            raise ValueError(f"structures: expected masks of one shape, got {shapes}")
        return out
    lab = np.asarray(structures)
    if lab.ndim != 3 or not (np.issubdtype(lab.dtype, np.integer) or lab.dtype == bool):
        raise TypeError(f"structures: expected a mapping of name -> mask or a 3D integer label "
                        f"map, got {type(structures).__name__} of dtype "
                        f"{getattr(lab, 'dtype', None)} and {lab.ndim} dimensions")
    if lab.size and lab.min() < 0:
        raise ValueError(f"structures: expected labels >= 0 (0 = background), got {int(lab.min())}")
    present = [int(v) for v in np.unique(lab) if v != 0]
    if names is None:
        names = {v: f"label_{v}" for v in present}
    if not isinstance(names, Mapping):
        raise TypeError(f"names: expected a mapping label -> name, got {type(names).__name__}")
    missing = [v for v in present if v not in names]
    if missing:
        raise ValueError(f"names: expected a name for every label of the map, missing {missing}")
    out = {}
    for v in sorted(names):
        name = names[v]
        if not isinstance(name, str) or not name or name in out:
            raise ValueError(f"names: expected distinct non-empty str names, got {name!r} for {v}")
        out[name] = lab == v
    if not out:
        raise ValueError("structures: the label map holds no label other than 0")
    return out


def _resolve_overlaps(masks: dict[str, np.ndarray], overlap: str) -> dict:
    """Give voxels in several masks to the first structure; returns the pair counts."""
    names = list(masks)
    counts = {}
    taken = np.zeros(next(iter(masks.values())).shape, dtype=bool)
    owner_first = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            n = int(np.count_nonzero(masks[a] & masks[b]))
            if n:
                counts[(a, b)] = n
    if counts and overlap == "error":
        pairs = ", ".join(f"{a}/{b}: {n} voxels" for (a, b), n in counts.items())
        raise ValueError(f"structures: masks overlap ({pairs}); pass overlap='first' to give "
                         "shared voxels to the structure listed first")
    for a in names:
        owner_first[a] = masks[a] & ~taken
        taken |= owner_first[a]
    masks.update(owner_first)
    return counts


def _contacts(masks: dict[str, np.ndarray]) -> dict:
    """(b, a) -> voxels of b with a 26-neighbour in a (lookups from b's voxel list)."""
    names = list(masks)
    out = {}
    offsets = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)
                        if (i, j, k) != (0, 0, 0)])
    for b in names:
        vox = np.argwhere(masks[b])
        if not len(vox):
            continue
        hi = np.array(masks[b].shape) - 1
        for a in names:
            if a == b:
                continue
            hit = np.zeros(len(vox), dtype=bool)
            for off in offsets:
                nb = np.clip(vox + off, 0, hi)  # clipped: the voxel itself, never in a
                hit |= masks[a][nb[:, 0], nb[:, 1], nb[:, 2]]
            if hit.any():
                out[(b, a)] = int(hit.sum())
    return out


def _with_thresholds(tree, thresholds: np.ndarray):
    """The tree under fixed ``thresholds`` (new object; the tree is not modified)."""
    rule = ScaleRule.fixed(thresholds)
    br = tree.branches.copy()
    br["scale"] = scales.assign_scales(br["radius_mm"].to_numpy(dtype=float), thresholds)
    return dataclasses.replace(tree, branches=br, scale_rule=rule,
                               thresholds=np.asarray(thresholds, dtype=np.float64))


def analyze_structures(structures, spacing=(1.0, 1.0, 1.0), *,
                       names: Mapping[int, str] | None = None,
                       overlap: Literal["first", "error"] = "first",
                       scale_basis: Literal["union", "structure"] = "union",
                       scale_rule: ScaleRule | int | None = None,
                       **analyze_options) -> StructureTrees:
    """Analyse each anatomical structure as a tree of its own (module docstring).

    Parameters
    ----------
    structures : mapping of str to array_like, or array_like of int
        ``{name: mask}`` (binary masks of one shape, z, y, x), or a label map (0 =
        background, one integer per structure).
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    names : mapping of int to str, optional
        Label map only: the name of each label (default ``"label_<k>"``).
    overlap : {"first", "error"}
        Masks only: voxels set in several masks go to the structure listed first, or raise.
    scale_basis : {"union", "structure"}
        Scale thresholds over all structures' branches (the paper's vessel mask) or per
        structure.
    scale_rule : ScaleRule or int, optional
        Scale rule (default ``ScaleRule.quantiles(3)``); an int S is short for quantiles.
    **analyze_options
        Passed to :func:`vesseltree.analyze` for every structure (``m``, ``radius_method``,
        ``window``, ``root`` is refused: node ids differ per structure).

    Returns
    -------
    StructureTrees

    Raises
    ------
    TypeError, ValueError
        Bad ``structures`` (empty, shapes differ, non-integer label map, overlapping masks
        with ``overlap="error"``), ``names``, ``overlap``, ``scale_basis``, ``scale_rule``,
        or an option :func:`vesseltree.analyze` refuses.

    Warns
    -----
    UserWarning
        An empty structure, and (union basis) fewer branches than scales over all
        structures: ``scale`` columns 0 and :attr:`StructureTrees.thresholds` None.
    """
    from .analysis import analyze

    if overlap not in _OVERLAPS:
        raise ValueError(f"overlap: expected one of {_OVERLAPS}, got {overlap!r}")
    if scale_basis not in _BASES:
        raise ValueError(f"scale_basis: expected one of {_BASES}, got {scale_basis!r}")
    if "root" in analyze_options or "skeleton" in analyze_options:
        raise ValueError("root/skeleton: not supported per structure; analyse the structure "
                         "alone with vesseltree.analyze to set them")
    rule = as_scale_rule(ScaleRule.quantiles() if scale_rule is None else scale_rule)
    sp = check_spacing(spacing, "spacing")
    masks = _structure_masks(structures, names)
    overlaps = _resolve_overlaps(masks, overlap) if isinstance(structures, Mapping) else {}
    contacts = _contacts(masks)
    trees = {}
    with warnings.catch_warnings():
        if scale_basis == "union":  # a structure's own quantiles do not matter here
            warnings.filterwarnings("ignore", message="n_scales: ", category=UserWarning)
        for name, m in masks.items():
            trees[name] = analyze(m, sp, scale_rule=rule, **analyze_options)
    thresholds = None
    if scale_basis == "union":
        thresholds = _union_thresholds(trees, rule)
        if thresholds is None:
            for name, t in trees.items():
                br = t.branches.copy()
                br["scale"] = np.zeros(len(br), dtype=rule.dtype)
                trees[name] = dataclasses.replace(t, branches=br, thresholds=None)
        else:
            trees = {name: _with_thresholds(t, thresholds) for name, t in trees.items()}
    return StructureTrees(trees=trees, spacing=sp, scale_rule=rule, scale_basis=scale_basis,
                          thresholds=thresholds, overlap_voxels=overlaps, contact_voxels=contacts)


def _union_thresholds(trees: dict, rule: ScaleRule) -> np.ndarray | None:
    """Thresholds of ``rule`` over the pooled branch radii (point branches out unless all
    are points); None, with a warning, when a quantile rule has too few branches."""
    if rule.kind == "fixed":
        return rule.thresholds()
    radii = np.concatenate([t.branches["radius_mm"].to_numpy(dtype=float)
                            for t in trees.values()] or [np.zeros(0)])
    point = np.concatenate([(t.branches["kind"] == "point").to_numpy()
                            for t in trees.values()] or [np.zeros(0, bool)])
    basis = scales.threshold_radii(radii, point)
    if basis.size < rule.n_scales:
        warn(
            f"n_scales: {rule.n_scales} scales need at least {rule.n_scales} branches over all "
            f"structures, got {basis.size}; the 'scale' columns are 0", UserWarning)
        return None
    return rule.thresholds(basis)


def analyze_entry(structures, spacing, names, scale_basis, overlap, *, scale_rule,
                  **options) -> StructureTrees:
    """:func:`vesseltree.analyze` given a mapping of masks or a label map (``structures``
    names its labels): its structure options checked, then :func:`analyze_structures`."""
    from .analysis import _legacy_prune

    if isinstance(structures, Mapping):
        if names is not None:
            raise ValueError("structures: only for a label map; a mapping of masks already "
                             "names its structures")
        kw = {"overlap": "first" if overlap is None else overlap}
    else:
        if overlap is not None:
            raise ValueError(f"overlap: only for a mapping of masks (a label map cannot "
                             f"overlap), got overlap={overlap!r}")
        if names is True:
            names = None
        elif not isinstance(names, Mapping):
            raise TypeError(f"structures: expected a mapping label -> name or True, got "
                            f"{names!r}")
        kw = {"names": names}
    if options.pop("root") is not None or options.pop("skeleton") is not None:
        raise ValueError("root/skeleton: not supported per structure; analyse the structure "
                         "alone with vesseltree.analyze to set them")
    n_scales, prune = options.pop("n_scales"), options.pop("prune")
    rule = scales.legacy_rule(scale_rule, n_scales=n_scales, where="analyze",
                              default=ScaleRule.quantiles())
    if prune is not UNSET:
        options["prune_length_factor"], options["prune_min_length_mm"] = _legacy_prune(
            prune, options["prune_length_factor"], options["prune_min_length_mm"])
    return analyze_structures(structures, spacing, scale_rule=rule,
                              scale_basis="union" if scale_basis is None else scale_basis,
                              **kw, **options)

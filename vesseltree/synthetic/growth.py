"""Tree growth of the phantoms: :func:`make_phantom` and its grower.

A seeded, recursive branching tree of tapered, mildly curved tubes obeying Murray's law
``r**g = r1**g + r2**g`` (Murray 1926), grown breadth first by :class:`_TreeGrower` from a
:class:`~vesseltree.synthetic.spec.PhantomSpec`, with optional anastomoses
(:mod:`.loops`), then rasterized with per-voxel ground truth (:mod:`.primitives`).
"""
from __future__ import annotations

from collections import deque
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ._geometry import PieceStore, clip_to_box, cross, polyline, rotate, unit_perpendicular
from .loops import add_loops
from .phantom import Phantom, piece_table, segment_table
from .primitives import rasterize
from .segments import Geometry, SegmentRecord, arc_lengths
from .spec import PhantomSpec
from .._warnings import warn

__all__ = ["make_phantom", "grow_phantom"]


class _TreeGrower:
    """Grows the segments of one phantom, generation by generation (breadth first).

    State: the random generator (the only one: same spec, same tree), the grown
    segments, their pieces (for collision tests) and the queue of segments still to
    branch.
    """

    def __init__(self, spec: PhantomSpec) -> None:
        self.spec = spec
        self.rng = np.random.default_rng(spec.seed)
        self.lo = np.zeros(3)
        self.hi = spec.extent  # voxel centres span [0, extent]
        self.step = 0.5 * spec.min_radius  # collision sampling: physical, independent of spacing
        self.pieces = PieceStore()
        self.segments: list[SegmentRecord] = []
        self._queue: deque = deque()

    def grow(self) -> int:
        """Grow the root, every bifurcation, then the loops; return the loops added."""
        self._add(0, 0, self._root())
        while self._queue:
            self._bifurcate(*self._queue.popleft())
        if not self.spec.loops:
            return 0
        s = self.spec
        return add_loops(self.segments, self.pieces, s.loops, self.rng, s.clearance, self.step,
                         s.min_radius)

    def _geometry(self, start, direction, r_start, max_length=np.inf) -> Geometry:
        """A tapered, curved segment of random length leaving ``start``, cut at the box."""
        s, rng = self.spec, self.rng
        length = min(r_start * rng.uniform(*s.length_ratio), max_length)
        turn = np.radians(s.curvature * rng.uniform(0.5, 1.5)) if s.curvature > 0 else 0.0
        pts, d_end = polyline(start, direction, length, turn, rng)
        r_end_full = r_start * (1.0 - s.taper)
        pts, cut = clip_to_box(pts, r_start + (r_end_full - r_start) * arc_lengths(pts) / length,
                               self.lo, self.hi)
        cum = arc_lengths(pts)
        radii = r_start + (r_end_full - r_start) * cum / length
        if len(pts) >= 2:
            dv = pts[-1] - pts[-2]
            d_end = dv / max(np.linalg.norm(dv), 1e-12)
        return Geometry(pts, radii, float(cum[-1]), cut, d_end)

    def _root(self) -> Geometry:
        """The root: enters at the middle of the low face of the longest axis, inwards."""
        s, rng, extent = self.spec, self.rng, self.hi
        main = int(np.argmax(extent))
        start = extent / 2.0
        start[main] = s.root_radius + s.min_radius
        for ax in range(3):
            if ax != main:
                start[ax] += rng.uniform(-0.1, 0.1) * extent[ax]
        direction = np.zeros(3)
        direction[main] = 1.0
        direction = rotate(direction, unit_perpendicular(direction, rng), np.radians(rng.uniform(0, 10)))
        if np.any(start < self.lo + s.root_radius) or np.any(start > self.hi - s.root_radius):
            raise ValueError(
                f"root_radius: expected a radius that fits in the volume (extent "
                f"{extent.tolist()} mm), got {s.root_radius!r}{s.root_hint}"
            )
        # the root leaves at least 60% of the main axis to its subtree
        g = self._geometry(start, direction, s.root_radius, max_length=0.4 * extent[main])
        if g.length < 3 * s.root_radius:
            raise ValueError(
                f"root_radius: expected a radius small enough for a root of >= 3 radii inside "
                f"the volume (extent {extent.tolist()} mm), got {s.root_radius!r}{s.root_hint}"
            )
        return g

    def _add(self, parent_id: int, generation: int, g: Geometry) -> None:
        """Record a tree segment and its pieces; queue it for branching if it may branch."""
        sid = len(self.segments) + 1
        self.segments.append(SegmentRecord.tree(sid, parent_id, generation, g))
        self.pieces.add(sid, g.pts, g.radii)
        if not g.cut and generation < self.spec.depth:
            self._queue.append((sid, generation, g))

    def _bifurcate(self, pid: int, gen: int, parent: Geometry) -> None:
        """Give segment ``pid`` two children (Murray radii) if an orientation fits."""
        s, rng = self.spec, self.rng
        big_r = float(parent.radii[-1])
        q = 0.5 + s.asymmetry * rng.uniform(-0.5, 0.5)
        r1 = big_r * q ** (1.0 / s.murray_exponent)
        r2 = big_r * (1.0 - q) ** (1.0 / s.murray_exponent)
        if min(r1, r2) * (1.0 - s.taper) < s.min_radius:  # thinnest point of the children
            return
        th1, th2 = self._angles(big_r, r1, r2)
        for g1, g2 in self._orientations(parent.pts[-1], parent.d_end, th1, th2, r1, r2):
            if self._fits(pid, g1, g2):
                self.segments[pid - 1].terminal = False
                self._add(pid, gen + 1, g1)
                self._add(pid, gen + 1, g2)
                return

    def _angles(self, big_r: float, r1: float, r2: float) -> tuple[float, float]:
        """Angles (radians) of the two children to the parent's direction."""
        if self.spec.branch_angle is None:  # Murray's optimum
            c1 = (big_r ** 4 + r1 ** 4 - r2 ** 4) / (2 * big_r ** 2 * r1 ** 2)
            c2 = (big_r ** 4 + r2 ** 4 - r1 ** 4) / (2 * big_r ** 2 * r2 ** 2)
            return np.arccos(np.clip(c1, -1, 1)), np.arccos(np.clip(c2, -1, 1))
        total = np.radians(self.spec.branch_angle)
        th1 = total * r2 ** 2 / (r1 ** 2 + r2 ** 2)
        return th1, total - th1

    def _orientations(self, node, pdir, th1, th2, r1, r2) -> list[tuple[Geometry, Geometry]]:
        """``max_tries`` random child pairs long enough to keep, most space-filling first.

        Children pointing to free space: a greedy, seeded stand-in for VascuSynth's demand
        map (Hamarneh & Jassi 2010)."""
        s, rng = self.spec, self.rng
        cands = []
        for _ in range(s.max_tries):
            a1 = max(th1 + np.radians(rng.normal(0, s.angle_jitter)), 0.0)
            a2 = max(th2 + np.radians(rng.normal(0, s.angle_jitter)), 0.0)
            rot_axis = cross(pdir, unit_perpendicular(pdir, rng))
            g1 = self._geometry(node, rotate(pdir, rot_axis, a1), r1)
            g2 = self._geometry(node, rotate(pdir, rot_axis, -a2), r2)
            if g1.length < 3 * r1 or g2.length < 3 * r2:
                continue
            score = sum(self.pieces.free_space(g.pts[-1], self.lo, self.hi) for g in (g1, g2))
            cands.append((score, len(cands), g1, g2))
        cands.sort(key=lambda c: (-c[0], c[1]))
        return [(g1, g2) for _, _, g1, g2 in cands]

    def _fits(self, pid: int, g1: Geometry, g2: Geometry) -> bool:
        """Both children clear of the other tubes, touching their parent and each other
        only next to the shared node."""
        s = self.spec
        parent = [({pid}, True)]  # children start inside the parent's end cap
        if self.pieces.collides(g1.pts, g1.radii, s.clearance, parent, self.step):
            return False
        sibling = PieceStore()
        sibling.add(-1, g1.pts, g1.radii)
        if sibling.collides(g2.pts, g2.radii, s.clearance, [({-1}, True)], self.step):
            return False
        return not self.pieces.collides(g2.pts, g2.radii, s.clearance, parent, self.step)

    def phantom(self) -> Phantom:
        """Rasterize the grown segments into a read-only :class:`Phantom`."""
        s = self.spec
        a, b, r0, r1, lab = self.pieces.arrays()
        mask, label, radius = rasterize(s.shape, s.spacing, a, b, r0, r1, lab, False, s.supersample)
        for arr in (mask, label, radius):
            arr.setflags(write=False)
        return Phantom(mask=mask, spacing=tuple(s.spacing),
                       segments=segment_table([r.row() for r in self.segments]),
                       segment_id=label, radius=radius, seed=s.seed,
                       pieces=piece_table(a, b, r0, r1, lab))


def grow_phantom(spec: PhantomSpec) -> Phantom:
    """Grow and rasterize the phantom of a validated :class:`PhantomSpec`.

    Warns (``RuntimeWarning``, at the caller of the public function) when fewer loops
    than ``spec.loops`` fit.
    """
    grower = _TreeGrower(spec)
    added = grower.grow()
    if added < spec.loops:
        warn(
            f"loops: {spec.loops} requested, only {added} anastomoses fit this tree",
            RuntimeWarning)
    return grower.phantom()


def make_phantom(
    shape: Sequence[int] = (128, 256, 256),
    spacing: float | ArrayLike = (1.0, 1.0, 1.0),
    *,
    seed: int = 0,
    root_radius: float | None = None,
    depth: int = 7,
    murray_exponent: float = 3.0,
    asymmetry: float = 0.4,
    branch_angle: float | None = None,
    angle_jitter: float = 8.0,
    curvature: float = 20.0,
    taper: float = 0.05,
    length_ratio: tuple[float, float] = (5.0, 10.0),
    loops: int = 0,
    min_radius: float | None = None,
    clearance: float | None = None,
    supersample: int = 2,
    max_tries: int = 12,
) -> Phantom:
    """Generate a seeded branching vessel tree and rasterize it with ground truth.

    The root enters the volume at the middle of the low face of its longest physical axis
    and grows inwards. Every segment is a tube whose radius decreases linearly by the
    fraction ``taper``; unless it is terminal it splits into two children whose radii obey
    Murray's law ``R**g = r1**g + r2**g`` (``R`` the parent's end radius,
    ``g = murray_exponent``) with the flow split ``q = r1**g / R**g`` drawn uniformly in
    ``[0.5 - asymmetry / 2, 0.5 + asymmetry / 2]``.

    Parameters
    ----------
    shape, spacing, seed, root_radius, ..., max_tries
        The volume (shape (z, y, x), voxel size in mm), the seed of the only random
        generator (same seed, same arrays) and the tree's parameters ``root_radius``,
        ``depth``, ``murray_exponent``, ``asymmetry``, ``branch_angle``, ``angle_jitter``,
        ``curvature``, ``taper``, ``length_ratio``, ``loops``, ``min_radius``,
        ``clearance``, ``supersample`` and ``max_tries``, documented once in
        :class:`PhantomSpec` (same names, defaults and meaning).

    Returns
    -------
    Phantom

    See Also
    --------
    PhantomSpec : the same parameters as a value object (``.generate()``: this phantom).

    Raises
    ------
    ValueError, TypeError
        Naming the invalid argument (e.g. ``root_radius`` too thin for ``min_radius``).

    Warns
    -----
    RuntimeWarning
        When fewer than ``loops`` anastomoses fit.

    Notes
    -----
    A bifurcation is kept only if both children fit: each must be at least
    ``min_radius`` thick along its whole length, at least 3 radii long once cut at the
    volume boundary (shrunk by its radius), ``clearance`` away from every tube it does not
    share a node with, and in contact with its parent and its sibling only in one run next
    to the shared node (no second contact, hence no spurious loop); otherwise the parent is
    terminal. A segment cut at the boundary is terminal. Every bifurcation of the table is
    therefore a true three-way junction, and with ``loops=0`` the union of the tubes is a
    tree. Its rasterized mask is one 26-connected component; rarely, the V-shaped crotch of
    a junction of thin tubes digitizes into a one-voxel tunnel, as happens in real masks (how
    often: docs/benchmarks/synthetic.md).
    """
    spec = PhantomSpec(
        shape=shape, spacing=spacing, seed=seed, root_radius=root_radius, depth=depth,
        murray_exponent=murray_exponent, asymmetry=asymmetry, branch_angle=branch_angle,
        angle_jitter=angle_jitter, curvature=curvature, taper=taper, length_ratio=length_ratio,
        loops=loops, min_radius=min_radius, clearance=clearance, supersample=supersample,
        max_tries=max_tries,
    )
    return grow_phantom(spec)

"""Synthetic vessel phantoms with known ground truth, and a CT-like renderer.

A VascuSynth-like generator (Hamarneh & Jassi 2010, in spirit, not in code) for tests,
demos and benchmarks that need vessel masks without downloads:

* geometric primitives: :func:`tube` (tapered cylinder or capsule), :func:`torus`,
  :func:`rasterize_segments` (many tubes at once, with per-voxel ground truth);
* :func:`make_phantom`: a seeded recursive branching tree of tapered, mildly curved tubes
  obeying Murray's law ``r**g = r1**g + r2**g`` (``g = murray_exponent``, 3 by default,
  Murray 1926) with random asymmetry, optional anastomoses (loops);
* :func:`render_ct`: a contrast-enhanced CT-like image of a phantom (liver parenchyma in a
  body, bright vessels, optional hypodense tumours, partial-volume blur, noise).

Conventions
-----------
Axes are (z, y, x). Every length (coordinates, radii, blur) is in millimetres; voxel index
``i`` on an axis of spacing ``s`` has its centre at the physical coordinate ``i * s``.
Partial volume: a voxel is split into ``supersample**3`` sub-voxels and belongs to the mask
when at least half of their centres lie inside the shape, exactly half counting only when
the voxel centre is inside too (an unbiased tie-break; ``supersample=1``: centre test).
Rasterization runs in Numba kernels (:mod:`vesseltree._kernels.raster_nb`) whose work is
proportional to the shapes' bounding boxes, not to the volume.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from vesseltree._kernels import raster_nb
from vesseltree._validation import (
    as_shape3,
    check_nonnegative_int,
    check_positive,
    check_spacing,
)

__all__ = [
    "tube",
    "torus",
    "rasterize_segments",
    "Phantom",
    "make_phantom",
    "CT",
    "render_ct",
]

MAX_SUPERSAMPLE = 4  # 4**3 = 64 sub-samples fit one int64 bit set per voxel
_CAPS = ("flat", "round")


# --------------------------------------------------------------------------- validation
def _check_supersample(value) -> int:
    s = check_nonnegative_int(value, "supersample", minimum=1)
    if s > MAX_SUPERSAMPLE:
        raise ValueError(
            f"supersample: expected an integer in [1, {MAX_SUPERSAMPLE}], got {value!r}"
        )
    return s


def _check_caps(caps) -> bool:
    """Return True for flat caps."""
    if caps not in _CAPS:
        raise ValueError(f"caps: expected one of {_CAPS}, got {caps!r}")
    return caps == "flat"


def _check_point(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected 3 numbers (mm, z, y, x), got {value!r}") from exc
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected 3 finite numbers (mm, z, y, x), got {value!r}")
    return arr


def _check_points(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected an (n, 3) array of mm coordinates, got {value!r}") from exc
    if arr.ndim == 1 and arr.shape == (3,):
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(
            f"{name}: expected an (n, 3) array of (z, y, x) mm coordinates, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite coordinates, got NaN or inf")
    return np.ascontiguousarray(arr)


def _check_radii(value, name: str, n: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected positive numbers (mm), got {value!r}") from exc
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected a scalar or {n} radii, got shape {arr.shape}")
    if not np.all(np.isfinite(arr) & (arr > 0)):
        bad = arr[~(np.isfinite(arr) & (arr > 0))][:5]
        raise ValueError(f"{name}: expected finite radii > 0 (mm), got {bad.tolist()}")
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------- primitives
def _bits_dtype(s: int):
    n = s ** 3
    return np.uint8 if n <= 8 else (np.int32 if n <= 31 else np.int64)


def _rasterize(shape, spacing, starts, ends, r0, r1, labels, flat, s):
    """Validated inputs in; (mask, label int32, radius float32) out."""
    bits = np.zeros(shape, dtype=_bits_dtype(s))
    best = np.empty(shape, dtype=np.float32)  # read only where label != 0
    label = np.zeros(shape, dtype=np.int32)
    radius = np.zeros(shape, dtype=np.float32)
    mask = np.zeros(shape, dtype=bool)
    sp = np.asarray(spacing, dtype=np.float64)
    if len(starts):
        labels = np.ascontiguousarray(labels, dtype=np.int32)
        raster_nb.rasterize_pieces(starts, ends, r0, r1, labels, sp, flat, s, bits, best, label, radius)
        raster_nb.finalize_coverage(starts, ends, r0, r1, sp, s, bits, best, label, radius, mask)
    return mask, label, radius


def tube(
    shape: Sequence[int],
    start: ArrayLike,
    end: ArrayLike,
    radius: float,
    spacing: float | ArrayLike = (1.0, 1.0, 1.0),
    *,
    radius_end: float | None = None,
    caps: str = "flat",
    supersample: int = 1,
) -> np.ndarray:
    """Boolean mask of a straight (tapered) tube between two points.

    Parameters
    ----------
    shape : 3 ints
        Output shape (z, y, x).
    start, end : 3 floats
        Axis end points in mm (z, y, x); voxel ``i`` has its centre at ``i * spacing``.
    radius : float
        Radius at ``start`` in mm (> 0).
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    radius_end : float, optional
        Radius at ``end`` in mm; defaults to ``radius`` (a cylinder). The radius varies
        linearly along the axis.
    caps : {"flat", "round"}
        "flat": cut perpendicular to the axis at the end points (a frustum, volume
        ``pi L (r0**2 + r0 r1 + r1**2) / 3``); "round": the union of the balls of radius
        ``r(t)`` centred along the axis, i.e. the convex hull of the two end balls (a
        capsule, volume ``pi r**2 L + 4 pi r**3 / 3``, when the radius is constant;
        ``start == end`` gives a ball).
    supersample : int in [1, 4]
        Partial volume: a voxel is set when at least half of its ``supersample**3``
        sub-samples are inside (exactly half: when its centre is inside too).

    Returns
    -------
    numpy.ndarray of bool, shape ``shape``

    Raises
    ------
    ValueError, TypeError
        Naming the invalid argument (e.g. ``end`` equal to ``start`` with flat caps).
    """
    shape = as_shape3(shape)
    spacing = check_spacing(spacing)
    a = _check_point(start, "start")
    b = _check_point(end, "end")
    r0 = check_positive(radius, "radius")
    r1 = r0 if radius_end is None else check_positive(radius_end, "radius_end")
    flat = _check_caps(caps)
    s = _check_supersample(supersample)
    if flat and np.array_equal(a, b):
        raise ValueError(
            f"end: expected a point different from start with caps='flat', got {b.tolist()}"
        )
    mask, _, _ = _rasterize(
        shape, spacing, a[None], b[None], np.array([r0]), np.array([r1]),
        np.array([1], dtype=np.int32), flat, s,
    )
    return mask


def torus(
    shape: Sequence[int],
    center: ArrayLike,
    major_radius: float,
    minor_radius: float,
    spacing: float | ArrayLike = (1.0, 1.0, 1.0),
    *,
    axis: int = 0,
    supersample: int = 1,
) -> np.ndarray:
    """Boolean mask of a torus (a closed ring of tube, i.e. a vessel loop).

    Parameters
    ----------
    shape : 3 ints
        Output shape (z, y, x).
    center : 3 floats
        Centre in mm (z, y, x).
    major_radius : float
        Radius of the ring's centre line in mm (> 0).
    minor_radius : float
        Tube radius in mm, ``0 < minor_radius < major_radius`` (a ring with a hole).
        Volume ``2 pi**2 R r**2``.
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    axis : {0, 1, 2}
        Axis of symmetry; the ring lies in the plane perpendicular to it.
    supersample : int in [1, 4]
        Partial-volume sub-samples per axis (see :func:`tube`).

    Returns
    -------
    numpy.ndarray of bool, shape ``shape``

    Raises
    ------
    ValueError
        Naming ``minor_radius`` when ``minor_radius >= major_radius`` (a horn or spindle
        torus, without a hole), or the other invalid argument.
    """
    shape = as_shape3(shape)
    spacing = check_spacing(spacing)
    c = _check_point(center, "center")
    big = check_positive(major_radius, "major_radius")
    small = check_positive(minor_radius, "minor_radius")
    if small >= big:
        raise ValueError(
            f"minor_radius: expected a tube radius < major_radius ({big} mm) so that the ring "
            f"has a hole, got {minor_radius!r}"
        )
    if isinstance(axis, bool) or axis not in (0, 1, 2):
        raise ValueError(f"axis: expected 0, 1 or 2 (z, y, x), got {axis!r}")
    s = _check_supersample(supersample)
    mask = np.zeros(shape, dtype=bool)
    raster_nb.rasterize_torus(c, int(axis), big, small, np.asarray(spacing, dtype=np.float64), s, mask)
    return mask


def rasterize_segments(
    shape: Sequence[int],
    starts: ArrayLike,
    ends: ArrayLike,
    radii_start: float | ArrayLike,
    radii_end: float | ArrayLike,
    spacing: float | ArrayLike = (1.0, 1.0, 1.0),
    *,
    supersample: int = 2,
    caps: str = "round",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterize many straight tubes at once, with per-voxel ground truth.

    Parameters
    ----------
    shape : 3 ints
        Output shape (z, y, x).
    starts, ends : (n, 3) floats
        Axis end points in mm (z, y, x).
    radii_start, radii_end : float or (n,) floats
        Radii in mm (> 0) at ``starts`` and ``ends`` (linear in between).
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    supersample : int in [1, 4]
        Partial-volume sub-samples per axis; coverage is that of the union of the tubes.
    caps : {"round", "flat"}
        End caps, as in :func:`tube`.

    Returns
    -------
    mask : bool array
        Union of the tubes.
    segment_id : int32 array
        0 on background; ``k + 1`` on voxels of the mask where tube ``k`` is the "nearest
        covering" tube: among the tubes covering at least one sub-sample of the voxel, the
        one in which the voxel centre ``p`` lies deepest, i.e. with the smallest
        ``f_k(p) = min_t |p - c_k(t)| - r_k(t)`` (``c_k(t)`` its axis points, ``r_k(t)`` its
        radius there; round caps); ties keep the lower index.
    radius : float32 array
        True radius (mm) of that tube at the axis point ``c_k(t*)`` achieving the minimum:
        for an untapered tube, the axis point nearest to the voxel centre. 0 off the mask.
        (Flat caps: ``f_k = max(h - r_k(t), -t, t - L)`` and the radius at the clamped
        projection ``t``.)

    Raises
    ------
    ValueError, TypeError
        Naming the invalid argument (``starts``/``ends`` not (n, 3) finite, radii not > 0,
        zero-length segments with flat caps, ...).

    Notes
    -----
    Work is proportional to the sum of the tubes' bounding-box volumes.
    """
    shape = as_shape3(shape)
    spacing = check_spacing(spacing)
    a = _check_points(starts, "starts")
    b = _check_points(ends, "ends")
    if a.shape != b.shape:
        raise ValueError(
            f"ends: expected the same shape as starts {a.shape}, got {b.shape}"
        )
    n = a.shape[0]
    r0 = _check_radii(radii_start, "radii_start", n)
    r1 = _check_radii(radii_end, "radii_end", n)
    flat = _check_caps(caps)
    s = _check_supersample(supersample)
    if flat and n:
        same = np.all(a == b, axis=1)
        if same.any():
            raise ValueError(
                "ends: expected every end to differ from its start with caps='flat', "
                f"got zero-length segments at indices {np.flatnonzero(same)[:5].tolist()}"
            )
    labels = np.arange(1, n + 1, dtype=np.int32)
    return _rasterize(shape, spacing, a, b, r0, r1, labels, flat, s)


# --------------------------------------------------------------------------- the tree
_SEGMENT_COLUMNS = [
    "segment_id", "parent_id", "generation", "start_node", "end_node",
    "z0", "y0", "x0", "z1", "y1", "x1",
    "radius_start_mm", "radius_end_mm", "length_mm", "n_pieces", "terminal", "loop",
]
_PIECE_COLUMNS = ["segment_id", "z0", "y0", "x0", "z1", "y1", "x1", "radius_start_mm", "radius_end_mm"]


@dataclass(frozen=True, eq=False)
class Phantom:
    """A rasterized vessel tree with its ground truth.

    Attributes
    ----------
    mask : bool array (z, y, x)
        Vessel voxels.
    spacing : tuple of 3 floats
        Voxel size in mm (z, y, x); voxel ``i`` has its centre at ``i * spacing``.
    segments : pandas.DataFrame
        One row per segment (a vessel between two nodes): ``segment_id`` (from 1),
        ``parent_id`` (0 for the root; for a loop, the segment whose end it leaves from),
        ``generation`` (0 for the root), ``start_node`` / ``end_node`` (node ``0`` is the
        root's start, node ``k`` the end of tree segment ``k``; loops join two existing
        nodes), end points ``z0, y0, x0, z1, y1, x1`` in mm, ``radius_start_mm``,
        ``radius_end_mm``, ``length_mm`` (arc length of the centre line), ``n_pieces``
        (straight pieces of a curved segment), ``terminal`` (no children) and ``loop``
        (an anastomosis added by ``loops``).
    segment_id : int32 array (z, y, x)
        Per voxel, the segment whose tube holds the voxel centre deepest (see
        :func:`rasterize_segments`), 0 on the background.
    radius : float32 array (z, y, x)
        Per voxel, the true radius (mm) of that segment at the centre-line point whose ball
        holds the voxel centre deepest (the nearest centre-line point when the radius does
        not vary), 0 on the background.
    seed : int
        Seed that generated it.
    pieces : pandas.DataFrame
        The straight pieces actually rasterized (several per curved segment, consecutive
        pieces share end points): ``segment_id, z0, y0, x0, z1, y1, x1, radius_start_mm,
        radius_end_mm``.
    """

    mask: np.ndarray
    spacing: tuple
    segments: pd.DataFrame
    segment_id: np.ndarray
    radius: np.ndarray
    seed: int
    pieces: pd.DataFrame = field(repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape (z, y, x) of the volume."""
        return tuple(self.mask.shape)

    def axis_points(self, step_mm: float | None = None) -> pd.DataFrame:
        """Points sampled along every segment's centre line.

        Parameters
        ----------
        step_mm : float, optional
            Distance between consecutive points along a piece; default half the smallest
            voxel size. Both ends of every piece are included.

        Returns
        -------
        pandas.DataFrame
            Columns ``segment_id``, ``z, y, x`` (mm) and ``radius_mm`` (true radius there).
        """
        step = 0.5 * min(self.spacing) if step_mm is None else check_positive(step_mm, "step_mm")
        p = self.pieces
        a = p[["z0", "y0", "x0"]].to_numpy()
        b = p[["z1", "y1", "x1"]].to_numpy()
        lengths = np.linalg.norm(b - a, axis=1)
        counts = np.maximum(np.ceil(lengths / step).astype(int), 1) + 1
        t = np.concatenate([np.linspace(0.0, 1.0, c) for c in counts])
        idx = np.repeat(np.arange(len(p)), counts)
        pts = a[idx] + t[:, None] * (b - a)[idx]
        r0 = p["radius_start_mm"].to_numpy()[idx]
        r1 = p["radius_end_mm"].to_numpy()[idx]
        return pd.DataFrame({
            "segment_id": p["segment_id"].to_numpy()[idx],
            "z": pts[:, 0], "y": pts[:, 1], "x": pts[:, 2],
            "radius_mm": r0 + t * (r1 - r0),
        })

    def graph(self):
        """Ground-truth graph as a :class:`networkx.MultiGraph`.

        Nodes are the root start (0) and segment ends (``k`` = end of segment ``k``), with
        attributes ``pos`` (mm, z, y, x); one edge per segment (keyed by its id) with the
        segment's row as attributes. A tree phantom (``loops=0``) gives a tree.

        Returns
        -------
        networkx.MultiGraph
        """
        import networkx as nx

        g = nx.MultiGraph()
        seg = self.segments
        root = seg.loc[seg["parent_id"] == 0].iloc[0]
        g.add_node(0, pos=(root["z0"], root["y0"], root["x0"]))
        for row in seg.itertuples(index=False):
            if not row.loop:
                g.add_node(int(row.end_node), pos=(row.z1, row.y1, row.x1))
        for row in seg.itertuples(index=False):
            g.add_edge(int(row.start_node), int(row.end_node), key=int(row.segment_id), **row._asdict())
        return g


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (np.cross is slow on tiny arrays)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation matrix about unit ``axis`` by ``angle`` radians."""
    c, s = np.cos(angle), np.sin(angle)
    x, y, z = axis
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) * c + k * s + np.outer(axis, axis) * (1.0 - c)


def _rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation of ``v`` about unit ``axis`` by ``angle`` radians."""
    return _rotation(axis, angle) @ v


def _unit_perpendicular(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random unit vector perpendicular to unit ``d``."""
    while True:
        w = rng.normal(size=3)
        w -= np.dot(w, d) * d
        n = np.linalg.norm(w)
        if n > 1e-6:
            return w / n


class _Pieces:
    """Growing store of straight pieces (for collision checks and rasterization)."""

    def __init__(self):
        self.a: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.r0: list[float] = []
        self.r1: list[float] = []
        self.seg: list[int] = []
        self._cache = None

    def add(self, seg_id, pts, radii):
        self._cache = None
        for k in range(len(pts) - 1):
            self.a.append(pts[k])
            self.b.append(pts[k + 1])
            self.r0.append(radii[k])
            self.r1.append(radii[k + 1])
            self.seg.append(seg_id)

    def arrays(self):
        """``(a, b, r0, r1, seg)`` as arrays (cached until the next :meth:`add`)."""
        if self._cache is None:
            if not self.a:
                z = np.zeros((0, 3))
                self._cache = (z, z, np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int32))
            else:
                self._cache = (np.array(self.a), np.array(self.b), np.array(self.r0),
                               np.array(self.r1), np.array(self.seg, dtype=np.int32))
        return self._cache

    def collides(self, pts, radii, clearance, neighbours, step):
        """True if the tube along polyline ``pts`` (radii per vertex) would touch a stored
        tube it should not.

        Stored pieces must stay ``clearance`` (mm, surface to surface) away, except those of
        the ``neighbours``: a list of ``(segment_ids, at_start)`` groups that share an end
        node with the polyline (at its first vertex if ``at_start``, else at its last).
        A neighbour may touch the polyline only in one run of samples next to the shared
        node: once the surfaces have separated, the gap may not shrink again (by more than
        ``step / 4``), else the two would meet twice and close a spurious loop.
        """
        if not self.a:
            return False
        a, b, r0, r1, seg = self.arrays()
        samples, srad = [], []
        for k in range(len(pts) - 1):
            n = max(int(np.ceil(np.linalg.norm(pts[k + 1] - pts[k]) / step)), 1)
            t = np.linspace(0.0, 1.0, n + 1)
            samples.append(pts[k] + t[:, None] * (pts[k + 1] - pts[k]))
            srad.append(radii[k] + t * (radii[k + 1] - radii[k]))
        p = np.concatenate(samples)  # ordered from the first vertex to the last
        rp = np.concatenate(srad)
        # keep the pieces whose box, grown by the radii and clearance, meets the samples' box
        reach = np.maximum(r0, r1) + rp.max() + clearance
        keep = np.all((np.minimum(a, b) - reach[:, None] <= p.max(axis=0))
                      & (np.maximum(a, b) + reach[:, None] >= p.min(axis=0)), axis=1)
        if not keep.any():
            return False
        a, b, r0, r1, seg = a[keep], b[keep], r0[keep], r1[keep], seg[keep]
        v = b - a
        vv = np.maximum(np.einsum("ij,ij->i", v, v), 1e-12)
        t = np.clip(np.einsum("pij,ij->pi", p[:, None, :] - a[None], v) / vv, 0.0, 1.0)
        closest = a[None] + t[..., None] * v[None]
        d = np.linalg.norm(p[:, None, :] - closest, axis=-1)
        gap = d - (r0 + t * (r1 - r0)) - rp[:, None]
        others = np.ones(len(seg), dtype=bool)
        for seg_ids, at_start in neighbours:
            cols = np.isin(seg, list(seg_ids))
            if not cols.any():
                continue
            others &= ~cols
            g = gap[:, cols].min(axis=1)
            if not at_start:
                g = g[::-1]
            apart = np.flatnonzero(g > 0)
            if apart.size == 0:
                return True  # runs inside its neighbour all along
            tail = g[apart[0]:]
            if np.any(np.maximum.accumulate(tail) - tail > 0.25 * step):
                return True
        return bool(np.any(gap[:, others] < clearance))


def _free_space(point, lo, hi, pieces) -> float:
    """Distance from ``point`` to the box boundary or to the nearest stored centre line."""
    d = float(min(np.min(point - lo), np.min(hi - point)))
    if pieces.a:
        a, b = pieces.arrays()[:2]
        v = b - a
        vv = np.maximum(np.einsum("ij,ij->i", v, v), 1e-12)
        t = np.clip(np.einsum("ij,ij->i", point - a, v) / vv, 0.0, 1.0)
        d = min(d, float(np.min(np.linalg.norm(point - a - t[:, None] * v, axis=1))))
    return d


def _polyline(start, direction, length, turn, rng, curvature_on):
    """Vertices of an arc-like chain of straight pieces turning by ``turn`` radians."""
    if not curvature_on or turn == 0.0:
        return np.array([start, start + direction * length]), direction
    n = int(min(12, max(2, np.ceil(np.degrees(turn) / 6.0))))
    axis = _unit_perpendicular(direction, rng)
    step_angle = turn / n
    step = _rotation(axis, step_angle)
    pts = [start]
    # rotate half a step first so that the chord keeps the requested mean direction
    d = _rotate(direction, axis, -turn / 2 + step_angle / 2)
    for k in range(n):
        pts.append(pts[-1] + d * (length / n))
        if k < n - 1:
            d = step @ d
    return np.array(pts), d / np.linalg.norm(d)


def _clip_to_box(pts, radius_at, lo, hi):
    """Cut the polyline where it leaves the box shrunk by the local radius.

    Returns (vertices, reached_boundary)."""
    out = [pts[0]]
    for k in range(1, len(pts)):
        a, b = out[-1], pts[k]
        r = radius_at(k)
        if np.all(b >= lo + r) and np.all(b <= hi - r):
            out.append(b)
            continue
        v = b - a
        tmax = 1.0
        for ax in range(3):
            if v[ax] > 0:
                tmax = min(tmax, (hi[ax] - r - a[ax]) / v[ax])
            elif v[ax] < 0:
                tmax = min(tmax, (lo[ax] + r - a[ax]) / v[ax])
        if tmax > 0:
            out.append(a + max(tmax, 0.0) * v)
        return np.array(out), True
    return np.array(out), False


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
    shape : 3 ints
        Volume shape (z, y, x).
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    seed : int
        Seed of the only random generator used: same seed, same arrays.
    root_radius : float, optional
        Root radius in mm; default 5% of the smallest physical extent of the volume
        (``(n - 1) * spacing`` along each axis, from the first to the last voxel centre),
        at least ``2 * min_radius``.
    depth : int >= 0
        Number of bifurcation generations (0: the root alone).
    murray_exponent : float > 0
        Exponent ``g`` of Murray's law (3: Murray 1926; ~2.7 observed in large vessels).
    asymmetry : float in [0, 1]
        Spread of the flow split between the two children (0: symmetric).
    branch_angle : float, optional
        Opening angle between the two children in degrees, shared in inverse proportion to
        their cross-sections (the larger child deviates less). Default: Murray's optimum,
        ``cos(theta1) = (R**4 + r1**4 - r2**4) / (2 R**2 r1**2)`` and symmetrically.
    angle_jitter : float >= 0
        Standard deviation (degrees) of a random perturbation of each branching angle.
    curvature : float in [0, 180)
        Mean total turn (degrees) of a segment along its length; the segment is an arc of
        ``ceil(turn / 6 deg)`` (2 to 12) straight pieces in a random plane, the turn drawn
        uniformly in ``[0.5, 1.5] * curvature``. 0: straight segments (one piece).
    taper : float in [0, 1)
        Fraction of its start radius a segment loses along its length.
    length_ratio : (float, float)
        A segment's length is its start radius times a ratio drawn uniformly in this range
        (the root's is at most 40% of the volume's longest axis).
    loops : int >= 0
        Number of anastomoses to add: straight tubes joining a terminal node to a nearby
        node of another branch (not a parent, child or sibling), radius the smaller of the
        two nodes' radii, leaving both nodes at >= 80 degrees from every vessel there, and
        clear of the other tubes. Each adds one cycle to the graph (and one tunnel to the
        mask). Fewer are added, with a warning, when too few pairs fit.
    min_radius : float, optional
        Children whose end radius (after taper) would be thinner than this (mm) are not
        grown; default the largest voxel size (one voxel along the coarsest axis), so every
        tube is at least a voxel thick.
    clearance : float, optional
        Minimum surface-to-surface gap (mm) between non-adjacent tubes (branches are
        re-oriented up to ``max_tries`` times to respect it); default twice the largest
        voxel size, so that ``loops=0`` gives a mask without spurious contacts.
    supersample : int in [1, 4]
        Partial-volume sub-samples per axis (see :func:`rasterize_segments`).
    max_tries : int >= 1
        Random orientations tried for a bifurcation before the parent is made terminal.

    Returns
    -------
    Phantom

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
    a junction of thin tubes digitizes into a one-voxel tunnel (measured in 1 of 16 default
    phantoms, see docs/benchmarks/synthetic.md), as happens in real masks.
    """
    shape = as_shape3(shape)
    spacing = check_spacing(spacing)
    seed = check_nonnegative_int(seed, "seed")
    depth = check_nonnegative_int(depth, "depth")
    loops = check_nonnegative_int(loops, "loops")
    max_tries = check_nonnegative_int(max_tries, "max_tries", minimum=1)
    s = _check_supersample(supersample)
    sp = np.asarray(spacing, dtype=np.float64)
    extent = (np.asarray(shape) - 1) * sp  # voxel centres span [0, extent]
    if min(shape) < 2:
        raise ValueError(f"shape: expected at least 2 voxels along each axis, got {shape}")
    if min_radius is None:
        min_radius = float(np.max(sp))
    min_radius = check_positive(min_radius, "min_radius")
    default_root = root_radius is None
    if default_root:
        root_radius = max(0.05 * float(np.min(extent)), 2.0 * min_radius)
    root_radius = check_positive(root_radius, "root_radius")
    if clearance is None:
        clearance = 2.0 * float(np.max(sp))
    clearance = check_positive(clearance, "clearance", allow_zero=True)
    gamma = check_positive(murray_exponent, "murray_exponent")
    asymmetry = check_positive(asymmetry, "asymmetry", allow_zero=True)
    if asymmetry > 1:
        raise ValueError(f"asymmetry: expected a number in [0, 1], got {asymmetry!r}")
    if branch_angle is not None:
        branch_angle = check_positive(branch_angle, "branch_angle")
        if branch_angle >= 180:
            raise ValueError(f"branch_angle: expected degrees in (0, 180), got {branch_angle!r}")
    angle_jitter = check_positive(angle_jitter, "angle_jitter", allow_zero=True)
    curvature = check_positive(curvature, "curvature", allow_zero=True)
    if curvature >= 180:
        raise ValueError(f"curvature: expected degrees in [0, 180), got {curvature!r}")
    taper = check_positive(taper, "taper", allow_zero=True)
    if taper >= 1:
        raise ValueError(f"taper: expected a fraction in [0, 1), got {taper!r}")
    try:
        lr_lo, lr_hi = (float(v) for v in length_ratio)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"length_ratio: expected (low, high) positive numbers, got {length_ratio!r}"
        ) from exc
    if not (np.isfinite(lr_lo) and np.isfinite(lr_hi) and 0 < lr_lo <= lr_hi):
        raise ValueError(f"length_ratio: expected 0 < low <= high, got {length_ratio!r}")
    hint = " (the default, from shape and spacing)" if default_root else ""
    if root_radius * (1.0 - taper) < min_radius:
        raise ValueError(
            f"root_radius: expected a radius with root_radius * (1 - taper) >= min_radius "
            f"({min_radius} mm), got {root_radius!r}{hint}"
        )

    rng = np.random.default_rng(seed)
    lo = np.zeros(3)
    hi = extent
    main = int(np.argmax(extent))
    step = 0.5 * min_radius  # collision sampling: physical, so trees do not depend on spacing
    pieces = _Pieces()
    rows: list[dict] = []
    children: dict[int, list[int]] = {}

    def segment_geometry(start, direction, r_start, max_length=np.inf):
        length = min(r_start * rng.uniform(lr_lo, lr_hi), max_length)
        turn = np.radians(curvature * rng.uniform(0.5, 1.5)) if curvature > 0 else 0.0
        pts, d_end = _polyline(start, direction, length, turn, rng, curvature > 0)
        r_end_full = r_start * (1.0 - taper)
        cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])

        def radius_at(k):
            return r_start + (r_end_full - r_start) * cum[k] / length

        pts, cut = _clip_to_box(pts, radius_at, lo, hi)
        cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        radii = r_start + (r_end_full - r_start) * cum / length
        if len(pts) >= 2:
            dv = pts[-1] - pts[-2]
            d_end = dv / max(np.linalg.norm(dv), 1e-12)
        return pts, radii, float(cum[-1]), cut, d_end

    # ---- root
    start = extent / 2.0
    start[main] = root_radius + min_radius
    for ax in range(3):
        if ax != main:
            start[ax] += rng.uniform(-0.1, 0.1) * extent[ax]
    direction = np.zeros(3)
    direction[main] = 1.0
    direction = _rotate(direction, _unit_perpendicular(direction, rng), np.radians(rng.uniform(0, 10)))
    if np.any(start < lo + root_radius) or np.any(start > hi - root_radius):
        raise ValueError(
            f"root_radius: expected a radius that fits in the volume (extent {extent.tolist()} mm), "
            f"got {root_radius!r}{hint}"
        )
    # the root leaves at least 60% of the main axis to its subtree
    pts, radii, length, cut, d_end = segment_geometry(start, direction, root_radius,
                                                      max_length=0.4 * extent[main])
    if length < 3 * root_radius:
        raise ValueError(
            f"root_radius: expected a radius small enough for a root of >= 3 radii inside the "
            f"volume (extent {extent.tolist()} mm), got {root_radius!r}{hint}"
        )
    queue = []

    def add_segment(parent_id, generation, pts, radii, length, cut, d_end):
        sid = len(rows) + 1
        rows.append(dict(
            segment_id=sid, parent_id=parent_id, generation=generation,
            start_node=parent_id, end_node=sid,
            z0=pts[0][0], y0=pts[0][1], x0=pts[0][2], z1=pts[-1][0], y1=pts[-1][1], x1=pts[-1][2],
            radius_start_mm=float(radii[0]), radius_end_mm=float(radii[-1]), length_mm=length,
            n_pieces=len(pts) - 1, terminal=True, loop=False,
            # unit directions of the centre line at both ends (used to place loops)
            dir_start=(pts[1] - pts[0]) / np.linalg.norm(pts[1] - pts[0]),
            dir_end=(pts[-1] - pts[-2]) / np.linalg.norm(pts[-1] - pts[-2]),
        ))
        pieces.add(sid, pts, radii)
        children[sid] = []
        if not cut and generation < depth:
            queue.append((sid, generation, pts, radii, d_end))
        return sid

    add_segment(0, 0, pts, radii, length, cut, d_end)

    # ---- bifurcations, breadth first (generation by generation)
    qi = 0
    while qi < len(queue):
        pid, gen, ppts, pradii, pdir = queue[qi]
        qi += 1
        big_r = float(pradii[-1])
        q = 0.5 + asymmetry * rng.uniform(-0.5, 0.5)
        r1 = big_r * q ** (1.0 / gamma)
        r2 = big_r * (1.0 - q) ** (1.0 / gamma)
        if min(r1, r2) * (1.0 - taper) < min_radius:  # thinnest point of the children
            continue
        if branch_angle is None:
            c1 = (big_r ** 4 + r1 ** 4 - r2 ** 4) / (2 * big_r ** 2 * r1 ** 2)
            c2 = (big_r ** 4 + r2 ** 4 - r1 ** 4) / (2 * big_r ** 2 * r2 ** 2)
            th1, th2 = np.arccos(np.clip(c1, -1, 1)), np.arccos(np.clip(c2, -1, 1))
        else:
            total = np.radians(branch_angle)
            th1 = total * r2 ** 2 / (r1 ** 2 + r2 ** 2)
            th2 = total - th1
        node = ppts[-1]
        # draw max_tries orientations, then keep the most space-filling one that is clear
        # of the other tubes (children pointing to free space: a greedy, seeded stand-in
        # for VascuSynth's demand map)
        cands = []
        for _ in range(max_tries):
            a1 = max(th1 + np.radians(rng.normal(0, angle_jitter)), 0.0)
            a2 = max(th2 + np.radians(rng.normal(0, angle_jitter)), 0.0)
            n = _unit_perpendicular(pdir, rng)
            rot_axis = _cross(pdir, n)
            g1 = segment_geometry(node, _rotate(pdir, rot_axis, a1), r1)
            g2 = segment_geometry(node, _rotate(pdir, rot_axis, -a2), r2)
            if g1[2] < 3 * r1 or g2[2] < 3 * r2:
                continue
            score = sum(_free_space(g[0][-1], lo, hi, pieces) for g in (g1, g2))
            cands.append((score, len(cands), g1, g2))
        cands.sort(key=lambda c: (-c[0], c[1]))
        parent = [({pid}, True)]  # children start inside the parent's end cap
        for _, _, g1, g2 in cands:
            if pieces.collides(g1[0], g1[1], clearance, parent, step):
                continue
            # siblings share the node: they may touch only next to it
            tmp = _Pieces()
            tmp.add(-1, g1[0], g1[1])
            if tmp.collides(g2[0], g2[1], clearance, [({-1}, True)], step):
                continue
            if pieces.collides(g2[0], g2[1], clearance, parent, step):
                continue
            rows[pid - 1]["terminal"] = False
            k1 = add_segment(pid, gen + 1, *g1)
            k2 = add_segment(pid, gen + 1, *g2)
            children[pid] = [k1, k2]
            break

    # ---- loops (anastomoses) between a terminal node and a nearby non-adjacent node
    if loops:
        _add_loops(rows, pieces, loops, rng, clearance, step, min_radius)

    a, b, r0, r1, lab = pieces.arrays()
    mask, label, radius = _rasterize(shape, spacing, a, b, r0, r1, lab, False, s)
    segments = pd.DataFrame(rows, columns=_SEGMENT_COLUMNS)
    for col in ("segment_id", "parent_id", "generation", "start_node", "end_node", "n_pieces"):
        segments[col] = segments[col].astype(np.int64)
    segments["terminal"] = segments["terminal"].astype(bool)
    segments["loop"] = segments["loop"].astype(bool)
    piece_table = pd.DataFrame({
        "segment_id": lab.astype(np.int64),
        "z0": a[:, 0], "y0": a[:, 1], "x0": a[:, 2],
        "z1": b[:, 0], "y1": b[:, 1], "x1": b[:, 2],
        "radius_start_mm": r0, "radius_end_mm": r1,
    }, columns=_PIECE_COLUMNS)
    for arr in (mask, label, radius):
        arr.setflags(write=False)
    return Phantom(mask=mask, spacing=tuple(spacing), segments=segments, segment_id=label,
                   radius=radius, seed=seed, pieces=piece_table)


def _opens_wide(rows, seg_ids, node, c, min_angle_deg=80.0) -> bool:
    """True if direction ``c`` leaving ``node`` makes at least ``min_angle_deg`` with every
    segment leaving that node (a narrow crotch would digitize into spurious tunnels)."""
    cos_max = np.cos(np.radians(min_angle_deg))
    for k in seg_ids:
        row = rows[k - 1]
        e = row["dir_start"] if row["start_node"] == node else -row["dir_end"]
        if float(np.dot(c, e)) > cos_max:
            return False
    return True


def _add_loops(rows, pieces, loops, rng, clearance, step, min_radius):
    """Append up to ``loops`` anastomosis segments to ``rows`` / ``pieces``."""
    import warnings

    pos = {0: np.array([rows[0]["z0"], rows[0]["y0"], rows[0]["x0"]])}
    rad = {0: rows[0]["radius_start_mm"]}
    adj: dict[int, set] = {0: set()}
    seg_at: dict[int, set] = {0: set()}
    for r in rows:
        k = r["end_node"]
        pos[k] = np.array([r["z1"], r["y1"], r["x1"]])
        rad[k] = r["radius_end_mm"]
        adj.setdefault(k, set())
        seg_at.setdefault(k, set())
        adj[k].add(r["start_node"])
        adj[r["start_node"]].add(k)
        seg_at[k].add(r["segment_id"])
        seg_at[r["start_node"]].add(r["segment_id"])
    tips = [r["end_node"] for r in rows if r["terminal"]]
    nodes = sorted(pos)
    cands = []
    for u in tips:
        near2 = set(adj[u])
        for w in adj[u]:
            near2 |= adj[w]
        for v in nodes:
            if v == u or v == 0 or v in near2:
                continue
            d = float(np.linalg.norm(pos[u] - pos[v]))
            rc = min(rad[u], rad[v])
            if d > 3 * (rad[u] + rad[v]):
                cands.append((d, u, v, rc))
    cands.sort()
    added = 0
    used = set()
    order = list(range(len(cands)))
    # prefer short connections, with a seeded shuffle among similar lengths
    order.sort(key=lambda i: cands[i][0] * rng.uniform(1.0, 1.5))
    for i in order:
        if added >= loops:
            break
        d, u, v, rc = cands[i]
        if (min(u, v), max(u, v)) in used or rc < min_radius:
            continue
        c = (pos[v] - pos[u]) / d
        if not (_opens_wide(rows, seg_at[u], u, c) and _opens_wide(rows, seg_at[v], v, -c)):
            continue
        pts = np.array([pos[u], pos[v]])
        radii = np.array([rc, rc])
        if pieces.collides(pts, radii, clearance, [(seg_at[u], True), (seg_at[v], False)], step):
            continue
        sid = len(rows) + 1
        # u is a terminal node, i.e. the end of tree segment u
        rows.append(dict(
            segment_id=sid, parent_id=u, generation=rows[u - 1]["generation"] + 1,
            start_node=u, end_node=v,
            z0=pts[0][0], y0=pts[0][1], x0=pts[0][2], z1=pts[1][0], y1=pts[1][1], x1=pts[1][2],
            radius_start_mm=rc, radius_end_mm=rc, length_mm=d, n_pieces=1, terminal=False, loop=True,
            dir_start=c, dir_end=c,
        ))
        pieces.add(sid, pts, radii)
        used.add((min(u, v), max(u, v)))
        added += 1
    if added < loops:
        warnings.warn(
            f"loops: {loops} requested, only {added} anastomoses fit this tree", RuntimeWarning,
            stacklevel=3,
        )


# --------------------------------------------------------------------------- CT rendering
@dataclass(frozen=True, eq=False)
class CT:
    """A CT-like image rendered from a vessel mask, with its masks.

    Attributes
    ----------
    image : float32 array (z, y, x)
        Hounsfield units, after blur and noise.
    liver, body, tumours, vessels : bool arrays (z, y, x)
        Regions as painted before blur: ``body`` (soft tissue, contains the liver),
        ``liver`` (parenchyma, tumours and the vessels inside it), ``tumours`` (voxels
        painted at ``tumour_hu``: tumour spheres in the liver, vessels excluded),
        ``vessels`` (the input mask, painted last, on top of everything).
    spacing : tuple of 3 floats
        Voxel size in mm (z, y, x).
    seed : int
        Seed of the tumour placement and of the noise.
    """

    image: np.ndarray
    liver: np.ndarray
    body: np.ndarray
    tumours: np.ndarray
    vessels: np.ndarray
    spacing: tuple
    seed: int


def _check_finite(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return v


def _ellipsoid(shape, spacing, center, semi) -> np.ndarray:
    z, y, x = (np.arange(n) * s for n, s in zip(shape, spacing))
    dz = ((z - center[0]) / semi[0]) ** 2
    dy = ((y - center[1]) / semi[1]) ** 2
    dx = ((x - center[2]) / semi[2]) ** 2
    return (dz[:, None, None] + dy[None, :, None] + dx[None, None, :]) <= 1.0


def render_ct(
    phantom_or_mask: Phantom | ArrayLike,
    spacing: float | ArrayLike | None = None,
    *,
    seed: int = 0,
    parenchyma_hu: float = 100.0,
    vessel_hu: float = 180.0,
    body_hu: float = 40.0,
    air_hu: float = -1000.0,
    tumours: int = 0,
    tumour_hu: float = 40.0,
    tumour_radius: tuple[float, float] = (4.0, 10.0),
    blur_mm: float = 0.7,
    noise_sd: float = 12.0,
) -> CT:
    """Render a contrast-enhanced, CT-like image of a vessel mask.

    Painting order: air everywhere; a body (an elliptic cylinder along z filling 94% of
    each in-plane axis, widened if needed to hold every vessel voxel with 2 mm to spare)
    at ``body_hu``; a liver-like ellipsoid at ``parenchyma_hu``, centred
    on the vessels' bounding box with semi-axes 1.25 times its half extents plus 3 mm,
    clipped to an elliptic cylinder of 80% of each in-plane axis (a rim of body remains;
    a centred ellipsoid of 70% of each axis when there are no vessels); ``tumours``
    hypodense balls inside the liver at ``tumour_hu``; the vessels at ``vessel_hu``. The
    image is then blurred by a Gaussian point-spread function of standard deviation
    ``blur_mm`` (mm, so ``blur_mm / spacing`` voxels per axis: partial volume) and white
    Gaussian noise of standard deviation ``noise_sd`` HU is added.

    Parameters
    ----------
    phantom_or_mask : Phantom or 3D binary array
        The vessels. A :class:`Phantom` brings its spacing.
    spacing : float or 3 floats, optional
        Voxel size in mm (z, y, x); default the phantom's, or 1 mm for a bare mask.
    seed : int
        Seed of tumour placement and noise.
    parenchyma_hu, vessel_hu, body_hu, air_hu, tumour_hu : float
        Intensities (HU) of the regions before blur and noise.
    tumours : int >= 0
        Number of tumour balls.
    tumour_radius : (float, float)
        Range (mm) of the tumours' radii, drawn uniformly.
    blur_mm : float >= 0
        Standard deviation (mm) of the Gaussian blur; 0 disables it.
    noise_sd : float >= 0
        Standard deviation (HU) of the additive noise; 0 disables it.

    Returns
    -------
    CT

    Raises
    ------
    ValueError, TypeError
        Naming the invalid argument (e.g. ``spacing`` differing from the phantom's, or
        ``tumours`` > 0 with an empty liver region).
    """
    from scipy import ndimage

    if isinstance(phantom_or_mask, Phantom):
        vessels = np.array(phantom_or_mask.mask, dtype=bool, order="C")
        own = phantom_or_mask.spacing
        if spacing is not None and tuple(check_spacing(spacing)) != tuple(own):
            raise ValueError(
                f"spacing: expected None or the phantom's spacing {tuple(own)}, got {spacing!r}"
            )
        spacing = tuple(own)
    else:
        from vesseltree._validation import check_mask

        vessels = check_mask(phantom_or_mask, "phantom_or_mask")
        spacing = check_spacing((1.0, 1.0, 1.0) if spacing is None else spacing)
    seed = check_nonnegative_int(seed, "seed")
    levels = {name: _check_finite(v, name) for name, v in dict(
        parenchyma_hu=parenchyma_hu, vessel_hu=vessel_hu, body_hu=body_hu,
        air_hu=air_hu, tumour_hu=tumour_hu).items()}
    n_tumours = check_nonnegative_int(tumours, "tumours")
    blur_mm = check_positive(blur_mm, "blur_mm", allow_zero=True)
    noise_sd = check_positive(noise_sd, "noise_sd", allow_zero=True)
    try:
        t_lo, t_hi = (float(v) for v in tumour_radius)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"tumour_radius: expected (low, high) in mm, got {tumour_radius!r}") from exc
    if not (np.isfinite(t_lo) and np.isfinite(t_hi) and 0 < t_lo <= t_hi):
        raise ValueError(f"tumour_radius: expected 0 < low <= high (mm), got {tumour_radius!r}")

    shape = vessels.shape
    sp = np.asarray(spacing, dtype=np.float64)
    extent = (np.asarray(shape) - 1) * sp
    rng = np.random.default_rng(seed)

    centre = extent / 2.0
    semi = np.array([np.inf, 0.47 * (extent[1] + sp[1]), 0.47 * (extent[2] + sp[2])])
    if vessels.any():
        # grow the body, keeping its aspect, until it holds every vessel voxel (+ 2 mm)
        _, vy, vx = np.nonzero(vessels)
        q = np.sqrt(((vy * sp[1] - centre[1]) / semi[1]) ** 2 + ((vx * sp[2] - centre[2]) / semi[2]) ** 2)
        grow = float(q.max()) + 2.0 / min(semi[1], semi[2])
        semi[1:] *= max(1.0, grow)
    body = _ellipsoid(shape, spacing, centre, semi)
    if vessels.any():
        idx = [np.flatnonzero(vessels.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
        v_lo = np.array([i[0] for i in idx]) * sp
        v_hi = np.array([i[-1] for i in idx]) * sp
        liver = _ellipsoid(shape, spacing, (v_lo + v_hi) / 2, 1.25 * (v_hi - v_lo) / 2 + 3.0)
    else:
        liver = _ellipsoid(shape, spacing, centre, 0.35 * (extent + sp))
    # keep a rim of body tissue around the liver
    liver &= _ellipsoid(shape, spacing, centre, np.array([np.inf, 0.4 * (extent[1] + sp[1]),
                                                          0.4 * (extent[2] + sp[2])]))

    tumour = np.zeros(shape, dtype=bool)
    if n_tumours:
        where = np.flatnonzero(liver)
        if where.size == 0:
            raise ValueError("tumours: expected 0 when the liver region is empty, got "
                             f"{n_tumours}")
        centres = np.stack(np.unravel_index(rng.choice(where, n_tumours), shape), axis=1) * sp
        radii = rng.uniform(t_lo, t_hi, n_tumours)
        balls, _, _ = _rasterize(shape, spacing, np.ascontiguousarray(centres),
                                 np.ascontiguousarray(centres), radii, radii,
                                 np.ones(n_tumours, dtype=np.int32), False, 2)
        tumour = balls & liver & ~vessels

    image = np.full(shape, levels["air_hu"], dtype=np.float32)
    image[body] = levels["body_hu"]
    image[liver] = levels["parenchyma_hu"]
    image[tumour] = levels["tumour_hu"]
    image[vessels] = levels["vessel_hu"]
    if blur_mm > 0:
        image = ndimage.gaussian_filter(image, sigma=tuple(blur_mm / sp), mode="nearest")
    if noise_sd > 0:
        image += rng.standard_normal(shape, dtype=np.float32) * np.float32(noise_sd)
    return CT(image=image, liver=liver, body=body, tumours=tumour, vessels=vessels,
              spacing=tuple(spacing), seed=seed)

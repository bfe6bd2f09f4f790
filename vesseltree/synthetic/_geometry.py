"""Vector helpers, centre-line shapes and the piece store of the tree grower (private).

A *piece* is a straight tube between two points with linearly varying radius (mm, axes
z, y, x); a curved segment is a chain of pieces. :class:`PieceStore` keeps every piece grown
so far, for the collision and free-space tests and for the final rasterization.
"""
from __future__ import annotations

import numpy as np

__all__ = ["cross", "rotation", "rotate", "unit_perpendicular", "polyline", "clip_to_box",
           "PieceStore"]


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (np.cross is slow on tiny arrays)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation matrix about unit ``axis`` by ``angle`` radians."""
    c, s = np.cos(angle), np.sin(angle)
    x, y, z = axis
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) * c + k * s + np.outer(axis, axis) * (1.0 - c)


def rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation of ``v`` about unit ``axis`` by ``angle`` radians."""
    return rotation(axis, angle) @ v


def unit_perpendicular(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random unit vector perpendicular to unit ``d``."""
    while True:
        w = rng.normal(size=3)
        w -= np.dot(w, d) * d
        n = np.linalg.norm(w)
        if n > 1e-6:
            return w / n


def polyline(start, direction, length, turn, rng):
    """Vertices of an arc of ``length`` mm leaving ``start`` along unit ``direction``.

    The arc turns by ``turn`` radians in a random plane through ``direction`` and is cut
    into ``ceil(turn / 6 deg)`` (2 to 12) straight pieces whose chord keeps ``direction``;
    ``turn == 0``: one straight piece (``rng`` unused). Returns (vertices (n, 3), unit
    direction of the last piece).
    """
    if turn == 0.0:
        return np.array([start, start + direction * length]), direction
    n = int(min(12, max(2, np.ceil(np.degrees(turn) / 6.0))))
    axis = unit_perpendicular(direction, rng)
    step_angle = turn / n
    step = rotation(axis, step_angle)
    pts = [start]
    # rotate half a step first so that the chord keeps the requested mean direction
    d = rotate(direction, axis, -turn / 2 + step_angle / 2)
    for k in range(n):
        pts.append(pts[-1] + d * (length / n))
        if k < n - 1:
            d = step @ d
    return np.array(pts), d / np.linalg.norm(d)


def clip_to_box(pts, radii, lo, hi):
    """Cut the polyline ``pts`` where it leaves the box ``[lo, hi]`` shrunk by the local
    radius (``radii[k]`` at vertex ``k``).

    Returns (vertices, reached_boundary)."""
    out = [pts[0]]
    for k in range(1, len(pts)):
        a, b = out[-1], pts[k]
        r = radii[k]
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
            out.append(a + tmax * v)
        return np.array(out), True
    return np.array(out), False


class PieceStore:
    """Growing store of straight pieces (for collision checks and rasterization)."""

    def __init__(self):
        self.a: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.r0: list[float] = []
        self.r1: list[float] = []
        self.seg: list[int] = []
        self._cache = None

    def add(self, seg_id, pts, radii):
        """Store the pieces of polyline ``pts`` (radii per vertex) under ``seg_id``."""
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

    def collides(self, pts, radii, clearance, neighbours, step) -> bool:
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
        p, rp = _sample_polyline(pts, radii, step)
        near = self._gaps(p, rp, clearance)
        if near is None:
            return False
        gap, seg = near
        others = np.ones(len(seg), dtype=bool)
        for seg_ids, at_start in neighbours:
            cols = np.isin(seg, list(seg_ids))
            if not cols.any():
                continue
            others &= ~cols
            g = gap[:, cols].min(axis=1)
            if _meets_twice(g if at_start else g[::-1], step):
                return True
        return bool(np.any(gap[:, others] < clearance))

    def _gaps(self, p, rp, clearance):
        """Surface-to-surface gaps (samples x pieces) between the sampled tube (centres
        ``p``, radii ``rp``) and the stored pieces near it, with those pieces' segment ids;
        ``None`` when no stored piece is near."""
        a, b, r0, r1, seg = self.arrays()
        # keep the pieces whose box, grown by the radii and clearance, meets the samples' box
        reach = np.maximum(r0, r1) + rp.max() + clearance
        keep = np.all((np.minimum(a, b) - reach[:, None] <= p.max(axis=0))
                      & (np.maximum(a, b) + reach[:, None] >= p.min(axis=0)), axis=1)
        if not keep.any():
            return None
        a, b, r0, r1, seg = a[keep], b[keep], r0[keep], r1[keep], seg[keep]
        v = b - a
        vv = np.maximum(np.einsum("ij,ij->i", v, v), 1e-12)
        t = np.clip(np.einsum("pij,ij->pi", p[:, None, :] - a[None], v) / vv, 0.0, 1.0)
        closest = a[None] + t[..., None] * v[None]
        d = np.linalg.norm(p[:, None, :] - closest, axis=-1)
        return d - (r0 + t * (r1 - r0)) - rp[:, None], seg

    def free_space(self, point, lo, hi) -> float:
        """Distance from ``point`` to the box boundary or to the nearest stored centre line."""
        d = float(min(np.min(point - lo), np.min(hi - point)))
        if self.a:
            a, b = self.arrays()[:2]
            v = b - a
            vv = np.maximum(np.einsum("ij,ij->i", v, v), 1e-12)
            t = np.clip(np.einsum("ij,ij->i", point - a, v) / vv, 0.0, 1.0)
            d = min(d, float(np.min(np.linalg.norm(point - a - t[:, None] * v, axis=1))))
        return d


def _sample_polyline(pts, radii, step):
    """Points every ``<= step`` mm along the polyline (both ends of every piece included,
    ordered from the first vertex to the last) and the radius there."""
    samples, srad = [], []
    for k in range(len(pts) - 1):
        n = max(int(np.ceil(np.linalg.norm(pts[k + 1] - pts[k]) / step)), 1)
        t = np.linspace(0.0, 1.0, n + 1)
        samples.append(pts[k] + t[:, None] * (pts[k + 1] - pts[k]))
        srad.append(radii[k] + t * (radii[k + 1] - radii[k]))
    return np.concatenate(samples), np.concatenate(srad)


def _meets_twice(g, step) -> bool:
    """True when the gaps ``g`` (from the shared node outwards) never open, or open and
    then shrink again by more than ``step / 4`` (a second contact)."""
    apart = np.flatnonzero(g > 0)
    if apart.size == 0:
        return True  # runs inside its neighbour all along
    tail = g[apart[0]:]
    return bool(np.any(np.maximum.accumulate(tail) - tail > 0.25 * step))

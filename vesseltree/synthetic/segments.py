"""One grown vessel segment (:class:`SegmentRecord`), the unit of the phantom tables."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["Geometry", "SegmentRecord", "arc_lengths", "unit"]


def unit(v: np.ndarray) -> np.ndarray:
    """``v / |v|``."""
    return v / np.linalg.norm(v)


def arc_lengths(pts: np.ndarray) -> np.ndarray:
    """Cumulated length (mm) along the polyline ``pts`` at each vertex (0 at the first)."""
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])


class Geometry(NamedTuple):
    """Centre line of a candidate segment.

    ``pts`` (n, 3) vertices in mm, ``radii`` (n,) radius at each vertex, ``length`` arc
    length (mm), ``cut`` whether the volume boundary cut it, ``d_end`` unit direction at
    its end.
    """

    pts: np.ndarray
    radii: np.ndarray
    length: float
    cut: bool
    d_end: np.ndarray


@dataclass
class SegmentRecord:
    """A segment between two nodes of the phantom graph (a row of ``Phantom.segments``).

    ``start``/``end`` are its end points (mm), ``dir_start``/``dir_end`` the unit
    directions of its centre line there (used to place loops); the other fields are the
    table columns of the same meaning (see :class:`~vesseltree.synthetic.Phantom`).
    """

    segment_id: int
    parent_id: int
    generation: int
    start_node: int
    end_node: int
    start: np.ndarray
    end: np.ndarray
    radius_start: float
    radius_end: float
    length: float
    n_pieces: int
    dir_start: np.ndarray
    dir_end: np.ndarray
    terminal: bool = True
    loop: bool = False

    @classmethod
    def tree(cls, segment_id: int, parent_id: int, generation: int, g: Geometry) -> SegmentRecord:
        """A tree segment from its parent's end (node ``parent_id``) to its own (node
        ``segment_id``), terminal until it gets children."""
        pts = g.pts
        return cls(
            segment_id=segment_id, parent_id=parent_id, generation=generation,
            start_node=parent_id, end_node=segment_id, start=pts[0], end=pts[-1],
            radius_start=float(g.radii[0]), radius_end=float(g.radii[-1]), length=g.length,
            n_pieces=len(pts) - 1, dir_start=unit(pts[1] - pts[0]), dir_end=unit(pts[-1] - pts[-2]),
        )

    def row(self) -> dict:
        """The table row (column name -> value)."""
        (z0, y0, x0), (z1, y1, x1) = self.start, self.end
        return dict(
            segment_id=self.segment_id, parent_id=self.parent_id, generation=self.generation,
            start_node=self.start_node, end_node=self.end_node,
            z0=z0, y0=y0, x0=x0, z1=z1, y1=y1, x1=x1,
            radius_start_mm=self.radius_start, radius_end_mm=self.radius_end,
            length_mm=self.length, n_pieces=self.n_pieces, terminal=self.terminal, loop=self.loop,
        )

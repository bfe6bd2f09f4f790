"""The :class:`Phantom` record: a rasterized vessel tree with its ground truth tables."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vesseltree._validation import check_positive

__all__ = ["Phantom", "SEGMENT_COLUMNS", "PIECE_COLUMNS", "segment_table", "piece_table"]


SEGMENT_COLUMNS = [
    "segment_id", "parent_id", "generation", "start_node", "end_node",
    "z0", "y0", "x0", "z1", "y1", "x1",
    "radius_start_mm", "radius_end_mm", "length_mm", "n_pieces", "terminal", "loop",
]
PIECE_COLUMNS = ["segment_id", "z0", "y0", "x0", "z1", "y1", "x1", "radius_start_mm", "radius_end_mm"]


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


_INT_COLUMNS = ("segment_id", "parent_id", "generation", "start_node", "end_node", "n_pieces")


def segment_table(rows: list[dict]) -> pd.DataFrame:
    """The ``segments`` table of a :class:`Phantom` from one dict per segment (keys beyond
    :data:`SEGMENT_COLUMNS` are dropped), with integer and boolean columns typed."""
    segments = pd.DataFrame(rows, columns=SEGMENT_COLUMNS)
    for col in _INT_COLUMNS:
        segments[col] = segments[col].astype(np.int64)
    segments["terminal"] = segments["terminal"].astype(bool)
    segments["loop"] = segments["loop"].astype(bool)
    return segments


def piece_table(a, b, r0, r1, seg) -> pd.DataFrame:
    """The ``pieces`` table of a :class:`Phantom` from the piece arrays (starts, ends,
    radii at both ends, segment ids)."""
    return pd.DataFrame({
        "segment_id": seg.astype(np.int64),
        "z0": a[:, 0], "y0": a[:, 1], "x0": a[:, 2],
        "z1": b[:, 0], "y1": b[:, 1], "x1": b[:, 2],
        "radius_start_mm": r0, "radius_end_mm": r1,
    }, columns=PIECE_COLUMNS)

"""Anastomoses (loops) added to a grown phantom tree (private)."""
from __future__ import annotations

import numpy as np

from ._geometry import PieceStore
from .segments import SegmentRecord

__all__ = ["add_loops"]


def _opens_wide(records, seg_ids, node, c, min_angle_deg=80.0) -> bool:
    """True if direction ``c`` leaving ``node`` makes at least ``min_angle_deg`` with every
    segment leaving that node (a narrow crotch would digitize into spurious tunnels)."""
    cos_max = np.cos(np.radians(min_angle_deg))
    for k in seg_ids:
        rec = records[k - 1]
        e = rec.dir_start if rec.start_node == node else -rec.dir_end
        if float(np.dot(c, e)) > cos_max:
            return False
    return True


def _node_graph(records):
    """Node positions and radii, node adjacency and the segments at each node."""
    root = records[0]
    pos = {0: root.start.copy()}
    rad = {0: root.radius_start}
    adj: dict[int, set] = {0: set()}
    seg_at: dict[int, set] = {0: set()}
    for r in records:
        k = r.end_node
        pos[k] = r.end.copy()
        rad[k] = r.radius_end
        adj.setdefault(k, set()).add(r.start_node)
        seg_at.setdefault(k, set()).add(r.segment_id)
        adj[r.start_node].add(k)
        seg_at[r.start_node].add(r.segment_id)
    return pos, rad, adj, seg_at


def _candidate_pairs(records, pos, rad, adj):
    """``(distance, tip, node, radius)`` for every terminal node and every node that is
    not its parent, child or sibling, at least 3 summed radii away; sorted."""
    tips = [r.end_node for r in records if r.terminal]
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
            if d > 3 * (rad[u] + rad[v]):
                cands.append((d, u, v, min(rad[u], rad[v])))
    cands.sort()
    return cands


def add_loops(records: list[SegmentRecord], pieces: PieceStore, n_loops: int,
              rng: np.random.Generator, clearance: float, step: float, min_radius: float) -> int:
    """Append up to ``n_loops`` anastomosis segments to ``records`` and ``pieces``.

    Candidates are straight tubes from a terminal node to a node of another branch, of
    the smaller of the two nodes' radii (at least ``min_radius``), leaving both nodes wide
    of the vessels there and clear of the other tubes; short ones are preferred, with a
    seeded shuffle among similar lengths. Returns the number added.
    """
    pos, rad, adj, seg_at = _node_graph(records)
    cands = _candidate_pairs(records, pos, rad, adj)
    order = list(range(len(cands)))
    order.sort(key=lambda i: cands[i][0] * rng.uniform(1.0, 1.5))
    added = 0
    used = set()
    for i in order:
        if added >= n_loops:
            break
        d, u, v, rc = cands[i]
        if (min(u, v), max(u, v)) in used or rc < min_radius:
            continue
        c = (pos[v] - pos[u]) / d
        if not (_opens_wide(records, seg_at[u], u, c) and _opens_wide(records, seg_at[v], v, -c)):
            continue
        pts = np.array([pos[u], pos[v]])
        radii = np.array([rc, rc])
        if pieces.collides(pts, radii, clearance, [(seg_at[u], True), (seg_at[v], False)], step):
            continue
        sid = len(records) + 1
        # u is a terminal node, i.e. the end of tree segment u
        records.append(SegmentRecord(
            segment_id=sid, parent_id=u, generation=records[u - 1].generation + 1,
            start_node=u, end_node=v, start=pts[0], end=pts[1], radius_start=rc, radius_end=rc,
            length=d, n_pieces=1, dir_start=c, dir_end=c, terminal=False, loop=True,
        ))
        pieces.add(sid, pts, radii)
        used.add((min(u, v), max(u, v)))
        added += 1
    return added

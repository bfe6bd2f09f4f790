# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Curve straightening of a thinned skeleton near the repairs (the second step of the
``length`` rule of ``vesseltree.skeletonize``).

Refusing the sweep-eaten ribbon tips during thinning can leave a curve with detours:
refused and deleted voxels alternate along a two-voxel-thick bar, which thins to a
diagonal zigzag (every step sqrt(3) instead of 1 on an axis-aligned tube at a sub-voxel
offset) or to periodic one-voxel bumps. Here a curve voxel (two skeleton neighbours), or a
pair of adjacent curve voxels, moves to deleted mask voxels when the 26-path through them
becomes strictly shorter:

* through simple additions and deletions only (the topology is kept);
* the new voxels touching nothing but the path;
* not nearer the wall of the mask than before along the move (:func:`central_enough`);
* endpoints and junction voxels never move;
* only voxels of the repair zone move, and only to voxels of the zone: the mask voxels
  within Chebyshev distance ``zone_radius`` of a voxel the thinning's re-check refused
  (:func:`mark_zone`), so that with no refusal the thinning's output is kept exactly.

Inputs are the thinning's working arrays (layout in ``thinning_state.pxd``): ``img`` the
0/1 skeleton (modified), ``marks`` with REFUSED (from the thinning) and ZONE, and the
``in_mask`` bit set of the mask voxels (both set by :func:`mark_zone`).
"""
from libc.string cimport memcpy
from libc.stdint cimport uint8_t, uint32_t

from vesseltree._kernels.neighbourhood cimport (
    ADJ, CENTER, CENTER_BIT, EULER_HIGH, EULER_LOW, is_simple, load_tables, n_neighbours,
    neighbourhood, vt_ctz32, vt_popcount32,
)
from vesseltree._kernels.thinning_state cimport REFUSED, ZONE, Grid, is_mask_voxel, set_mask_voxel

load_tables(ADJ, EULER_LOW, EULER_HIGH)

cdef enum:
    RUN_CAP = 32                # longest mask run measured by mask_run

cdef double EPS = 1e-9          # path lengths closer than this are equal
cdef double STEP[4]             # length of a 26-step by its squared length (0-3)
STEP[0] = 0.0
STEP[1] = 1.0
STEP[2] = 1.4142135623730951
STEP[3] = 1.7320508075688772


cdef inline int sqdist(int k, int j) noexcept nogil:
    """Squared distance between the cube cells ``k`` and ``j``."""
    cdef int dz = k // 9 - j // 9, dy = (k // 3) % 3 - (j // 3) % 3, dx = k % 3 - j % 3
    return dz * dz + dy * dy + dx * dx


cdef inline int iabs(int a) noexcept nogil:
    return a if a >= 0 else -a


cdef inline int cheb(int dz, int dy, int dx) noexcept nogil:
    """Chebyshev norm of an offset."""
    cdef int m = iabs(dz)
    if iabs(dy) > m:
        m = iabs(dy)
    if iabs(dx) > m:
        m = iabs(dx)
    return m


cdef inline double step_len(int dz, int dy, int dx) noexcept nogil:
    """Length of a 26-step (an offset of Chebyshev norm <= 1)."""
    return STEP[dz * dz + dy * dy + dx * dx]


cdef inline double chamfer(int dz, int dy, int dx) noexcept nogil:
    """Length of the shortest 26-path along an offset: sqrt(3), sqrt(2), 1 steps."""
    cdef int a = iabs(dz), b = iabs(dy), c = iabs(dx), t
    if a < b:
        t = a; a = b; b = t
    if b < c:
        t = b; b = c; c = t
    if a < b:
        t = a; a = b; b = t
    return c * STEP[3] + (b - c) * STEP[2] + (a - b)


cdef inline int degree(const uint8_t* img, Py_ssize_t v, const Py_ssize_t* rows) noexcept nogil:
    """Skeleton neighbours of ``v``."""
    return n_neighbours(neighbourhood(img, v, rows))


cdef inline bint deleted_in_zone(const uint8_t* img, const uint8_t* marks, Py_ssize_t v) noexcept nogil:
    """``v`` is a mask voxel of the repair zone that the thinning deleted (ZONE is set on
    mask voxels only)."""
    return img[v] == 0 and (marks[v] & ZONE)


cdef inline int mask_run(const uint8_t* in_mask, Py_ssize_t v, Py_ssize_t d) noexcept nogil:
    """Mask voxels met from ``v`` stepping by ``d`` before the background (at most
    RUN_CAP); the zero shell of the volume stops the walk
    inside the volume."""
    cdef int k = 0
    while k < RUN_CAP and is_mask_voxel(in_mask, v + (k + 1) * d):
        k += 1
    return k


cdef inline int off_centre(const uint8_t* in_mask, Py_ssize_t v, Py_ssize_t d) noexcept nogil:
    """How far ``v`` is off the middle of the mask along the line of step ``d``: |mask
    voxels ahead - mask voxels behind| (runs capped at RUN_CAP)."""
    cdef int t = mask_run(in_mask, v, d) - mask_run(in_mask, v, -d)
    return t if t >= 0 else -t


cdef inline bint central_enough(const uint8_t* in_mask, Py_ssize_t p, Py_ssize_t d,
                                Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """A move of ``p`` to ``p + d`` on a path a-p-b does not take the curve nearer the
    wall: along the line of ``d`` the new voxel is no further off the middle of the mask
    than ``p`` or than one of the path neighbours ``a``, ``b`` (a bump is brought back in
    line with its neighbours; a central curve is not pulled into the inside of a bend)."""
    cdef int t = off_centre(in_mask, p + d, d)
    return (t <= off_centre(in_mask, p, d)
            or (t <= off_centre(in_mask, a, d) and t <= off_centre(in_mask, b, d)))


cdef bint try_pair(uint8_t* img, Py_ssize_t p1, Py_ssize_t p2, Py_ssize_t q1, Py_ssize_t q2,
                   const Py_ssize_t* rows) noexcept nogil:
    """Replace the curve voxels p1, p2 by q1, q2 through four simple operations (add q1,
    add q2, delete p1, delete p2, each tested on the current image), then require q1 and q2
    to have two skeleton neighbours each. Undo everything and return False otherwise."""
    cdef int done = 0
    img[q1] = 1
    if is_simple(neighbourhood(img, q1, rows)):
        done = 1
        img[q2] = 1
        if is_simple(neighbourhood(img, q2, rows)):
            done = 2
            if is_simple(neighbourhood(img, p1, rows)):
                done = 3
                img[p1] = 0
                if is_simple(neighbourhood(img, p2, rows)):
                    done = 4
                    img[p2] = 0
                    if degree(img, q1, rows) == 2 and degree(img, q2, rows) == 2:
                        return True
    if done >= 4:
        img[p2] = 1
    if done >= 3:
        img[p1] = 1
    if done >= 1:
        img[q2] = 0
    img[q1] = 0
    return False


cdef void mark_zone(uint8_t* marks, uint8_t* in_mask, const Grid* g,
                    const Py_ssize_t* mask_voxels, Py_ssize_t n, int radius,
                    Py_ssize_t* scratch) noexcept nogil:
    """Fill the ``in_mask`` bit set from the mask voxels (``mask_voxels[:n]``), then set
    ZONE on every mask voxel within Chebyshev distance ``radius`` of a REFUSED one;
    ``radius < 0``: on every mask voxel. ``scratch`` has room for ``n`` entries."""
    cdef Py_ssize_t i, v, z, y, x, z0, z1, y0, y1, x0, x1, a, b, c, u, nref = 0
    cdef Py_ssize_t nz = g.nz, ny = g.ny, nx = g.nx, sz = g.ny * g.nx
    for i in range(n):
        v = mask_voxels[i]
        set_mask_voxel(in_mask, v)
        if radius < 0:
            marks[v] |= ZONE
        elif marks[v] & REFUSED:
            scratch[nref] = v
            nref += 1
    for i in range(nref):
        v = scratch[i]
        z = v // sz
        y = (v // nx) % ny
        x = v % nx
        z0 = z - radius if z - radius > 0 else 0
        z1 = z + radius if z + radius < nz - 1 else nz - 1
        y0 = y - radius if y - radius > 0 else 0
        y1 = y + radius if y + radius < ny - 1 else ny - 1
        x0 = x - radius if x - radius > 0 else 0
        x1 = x + radius if x + radius < nx - 1 else nx - 1
        for a in range(z0, z1 + 1):
            for b in range(y0, y1 + 1):
                for c in range(x0, x1 + 1):
                    u = a * sz + b * nx + c
                    if is_mask_voxel(in_mask, u):
                        marks[u] |= ZONE


cdef int best_single_move(const uint8_t* img, const uint8_t* marks, const uint8_t* in_mask,
                          const Grid* g, Py_ssize_t p, uint32_t m, int k1, int k2) noexcept nogil:
    """Cube cell ``k`` of the best single move of the curve voxel ``p`` (neighbourhood
    ``m``, path neighbours at cells ``k1``, ``k2``), or -1.

    ``p`` moves to a deleted mask voxel ``q`` of the zone adjacent to both path neighbours
    ``a`` and ``b`` when a-q-b is strictly shorter than a-p-b (the shortest such), ``q`` is
    central enough, touches no other skeleton voxel, is a simple point of S + q and ``p``
    one of S + q.
    """
    cdef double cost = STEP[sqdist(k1, CENTER)] + STEP[sqdist(k2, CENTER)]
    cdef double c, best_c
    cdef int k, best_k = -1
    cdef Py_ssize_t q
    cdef uint32_t mq, expect
    if cost <= chamfer(k1 // 9 - k2 // 9, (k1 // 3) % 3 - (k2 // 3) % 3, k1 % 3 - k2 % 3) + EPS:
        return -1                         # a-p-b is already a shortest path
    best_c = cost - EPS
    for k in range(27):
        if k == CENTER or k == k1 or k == k2:
            continue
        if not ((ADJ[k] >> k1) & 1) or not ((ADJ[k] >> k2) & 1):
            continue
        c = STEP[sqdist(k, k1)] + STEP[sqdist(k, k2)]
        if c >= best_c:
            continue
        q = p + g.offs[k]
        if not deleted_in_zone(img, marks, q):
            continue
        if not central_enough(in_mask, p, g.offs[k], p + g.offs[k1], p + g.offs[k2]):
            continue                      # q is nearer the wall
        # q's skeleton neighbours are exactly p, a and b
        mq = neighbourhood(img, q, g.rows)
        expect = (((<uint32_t>1) << (26 - k)) | ((<uint32_t>1) << (k1 - k + CENTER))
                  | ((<uint32_t>1) << (k2 - k + CENTER)))
        if mq != expect:
            continue
        if not is_simple(mq | CENTER_BIT):
            continue                      # adding q would change the topology
        if not is_simple(m | ((<uint32_t>1) << k)):
            continue                      # p is not simple once q is added
        best_c = c
        best_k = k
    return best_k


cdef bint best_pair_move(uint8_t* img, const uint8_t* marks, const uint8_t* in_mask,
                         const Grid* g, Py_ssize_t p, int ka, int kp2,
                         Py_ssize_t* q_out) noexcept nogil:
    """Best pair move of the curve voxels ``p`` (= p1) and its path neighbour ``p2`` at
    cube cell ``kp2`` (``p``'s other path neighbour ``a`` at cell ``ka``): deleted mask
    voxels ``q1``, ``q2`` of the zone such that a-q1-q2-b is a strictly shorter 26-path
    than a-p1-p2-b (``b``: ``p2``'s other neighbour), the shortest one that
    :func:`try_pair` accepts. Fills ``q_out[0:2]`` and returns True, or returns False.
    """
    cdef Py_ssize_t p2 = p + g.offs[kp2], sz = g.ny * g.nx, sy = g.nx, q1, q2, pb
    cdef uint32_t rest2
    cdef int kb, j1, j2, az, ay, ax, bz, by, bx, pz, py, px, uz, uy, ux, vz, vy, vx
    cdef double cost, c, c1, best_c
    cdef bint found = False
    if not (marks[p2] & ZONE):
        return False
    rest2 = neighbourhood(img, p2, g.rows) & ~(<uint32_t> CENTER_BIT)
    if vt_popcount32(rest2) != 2:
        return False
    kb = vt_ctz32(rest2)
    if kb == 26 - kp2:                    # that bit is p itself
        kb = vt_ctz32(rest2 & (rest2 - 1))
    # offsets from p: a, p2 (pz..), b
    az, ay, ax = ka // 9 - 1, (ka // 3) % 3 - 1, ka % 3 - 1
    pz, py, px = kp2 // 9 - 1, (kp2 // 3) % 3 - 1, kp2 % 3 - 1
    bz, by, bx = pz + kb // 9 - 1, py + (kb // 3) % 3 - 1, px + kb % 3 - 1
    if bz == az and by == ay and bx == ax:
        return False
    cost = step_len(az, ay, ax) + step_len(pz, py, px) + step_len(bz - pz, by - py, bx - px)
    if cost <= chamfer(bz - az, by - ay, bx - ax) + EPS:
        return False                      # a-p1-p2-b is already a shortest path
    best_c = cost - EPS
    pb = p + bz * sz + by * sy + bx
    for j1 in range(27):
        uz, uy, ux = j1 // 9 - 1, (j1 // 3) % 3 - 1, j1 % 3 - 1
        if cheb(uz - az, uy - ay, ux - ax) != 1:
            continue                      # q1 must touch a (and not be a)
        if (uz == 0 and uy == 0 and ux == 0) or j1 == kp2:
            continue
        c1 = step_len(uz - az, uy - ay, ux - ax)
        if c1 + chamfer(bz - uz, by - uy, bx - ux) >= best_c:
            continue
        q1 = p + g.offs[j1]
        if not deleted_in_zone(img, marks, q1):
            continue
        if not central_enough(in_mask, p, g.offs[j1], p + g.offs[ka], pb):
            continue
        for j2 in range(27):
            vz, vy, vx = pz + j2 // 9 - 1, py + (j2 // 3) % 3 - 1, px + j2 % 3 - 1
            if cheb(vz - uz, vy - uy, vx - ux) != 1 or cheb(bz - vz, by - vy, bx - vx) != 1:
                continue
            if vz == az and vy == ay and vx == ax:
                continue
            if (vz == 0 and vy == 0 and vx == 0) or j2 == CENTER:
                continue                  # q2 is p1 or p2
            c = c1 + step_len(vz - uz, vy - uy, vx - ux) + step_len(bz - vz, by - vy, bx - vx)
            if c >= best_c:
                continue
            q2 = p2 + g.offs[j2]
            if not deleted_in_zone(img, marks, q2):
                continue
            if not central_enough(in_mask, p2, g.offs[j2], p + g.offs[ka], pb):
                continue
            if try_pair(img, p, p2, q1, q2, g.rows):
                # undo, keep looking for a shorter valid pair
                img[p] = 1
                img[p2] = 1
                img[q1] = 0
                img[q2] = 0
                best_c = c
                q_out[0] = q1
                q_out[1] = q2
                found = True
    return found


cdef Py_ssize_t straighten_curves(uint8_t* img, const uint8_t* marks, const uint8_t* in_mask,
                                  const Grid* g, const Py_ssize_t* skel, Py_ssize_t nskel,
                                  Py_ssize_t* work) noexcept nogil:
    """Shorten detours of the skeleton's curves by simple moves; return the number of moves.

    ``img``: the thinned 0/1 image; ``marks``: ZONE on the mask voxels of the repair zone
    and ``in_mask`` the mask voxels (:func:`mark_zone`); ``skel[:nskel]``: the skeleton
    voxels; ``work`` has room for ``2 * nskel + 2`` entries (the work list). A curve
    voxel is one with exactly two skeleton neighbours; it is tried for a single move
    (:func:`best_single_move`), else with either path neighbour for a pair move
    (:func:`best_pair_move`).

    Every operation is a simple addition or deletion, so the topology of the skeleton is
    kept; the skeleton stays in the mask, and every voxel keeps its number of skeleton
    neighbours (endpoints and junctions stay where they are). Each move shortens the summed
    length of the skeleton's adjacencies, so the passes end; they repeat until one moves
    nothing.
    """
    cdef Py_ssize_t moves = 0, i, n_list, nlive, p, cap = 2 * nskel + 2
    cdef Py_ssize_t q[2]
    cdef uint32_t m, rest
    q[0] = -1
    q[1] = -1
    cdef int k1, k2, best_k, side
    cdef bint moved = True
    memcpy(work, skel, nskel * sizeof(Py_ssize_t))
    n_list = nskel
    while moved:
        moved = False
        i = 0
        while i < n_list:
            p = work[i]
            i += 1
            if not img[p] or not (marks[p] & ZONE):
                continue                  # moved away earlier, or no repair nearby
            m = neighbourhood(img, p, g.rows)
            rest = m & ~(<uint32_t> CENTER_BIT)
            if vt_popcount32(rest) != 2:
                continue
            k1 = vt_ctz32(rest)
            k2 = vt_ctz32(rest & (rest - 1))
            best_k = best_single_move(img, marks, in_mask, g, p, m, k1, k2)
            if best_k >= 0:
                img[p + g.offs[best_k]] = 1
                img[p] = 0
                work[i - 1] = p + g.offs[best_k]
                moves += 1
                moved = True
                continue
            for side in range(2):
                if (best_pair_move(img, marks, in_mask, g, p, k1 if side == 0 else k2,
                                   k2 if side == 0 else k1, q) and n_list < cap):
                    try_pair(img, p, p + g.offs[k2 if side == 0 else k1], q[0], q[1], g.rows)
                    work[i - 1] = q[0]
                    work[n_list] = q[1]   # p2's entry is now stale
                    n_list += 1
                    moves += 1
                    moved = True
                    break
        # drop the stale entries
        nlive = 0
        for i in range(n_list):
            if img[work[i]]:
                work[nlive] = work[i]
                nlive += 1
        n_list = nlive
    return moves

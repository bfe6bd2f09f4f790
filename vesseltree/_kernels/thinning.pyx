# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""3D Lee-Kashyap-Chu (1994) thinning: a ``nogil`` kernel that never changes the topology.

The kernel follows the two-step scheme of Lee et al. (1994), Sect. 3, in the visiting order
of scikit-image 0.26 (``skimage.morphology.skeletonize`` on 3D input, itself a port of
Fiji's Skeletonize3D by I. Arganda-Carreras):

* six sub-iterations per pass, one per border direction, in the order
  (y-1, y+1, x+1, x-1, z+1, z-1) [scikit-image's border ids 4, 3, 2, 1, 5, 6];
* step 1 collects, in raster (z, y, x) order, every foreground voxel whose neighbour in the
  current direction is background, that is not an endpoint (exactly one 26-neighbour), whose
  removal keeps the Euler characteristic (Lee's condition 1) and leaves one 26-connected
  component in its 26-neighbourhood (conditions 2-3, Lee's octree labelling);
* step 2 re-checks the candidates sequentially, deleting them one at a time;
* passes repeat until a whole pass changes nothing.

The only difference from scikit-image is the step-2 test (``mode``). scikit-image and
Fiji re-check only "at most one component in the 26-neighbourhood": a voxel that has become
isolated (zero components) is deleted, which empties whole components (scikit-image issue
3757: bars and cylinders vanish), and Euler invariance is not re-evaluated. And since the
candidates of one sub-iteration are deleted in raster order, a one-voxel-thick ribbon whose
voxels were all selected is eaten row after row along the sweep (the "trunk loses half its
length" fault). Step 2 here requires, against the current image:

* mode >= 1: exactly one 26-component and Euler invariance. Together these are exactly the
  (26, 6) simple-point condition, so every deletion is a simple deletion and the number of
  26-components, tunnels and cavities of the input is preserved;
* mode 2: and not a "sweep-eaten ribbon tip": the voxel is one voxel thick across the
  current direction (its opposite neighbour is background), all its neighbours now come
  after it in raster order (it is at the front of the sweep) though they did not when it
  was selected, and a chain of at least ``max_chain`` (default 4) sweep-front deletions of
  this sub-iteration ends next to it, before it. That is the signature of row-by-row
  eating; refusing it stops the chain after ``max_chain`` rows, and the later directions
  thin the ribbon across its width instead. (Chains of 1-3 rows are ordinary tip erosion,
  which scikit-image also does; stopping them too would move many voxels for nothing.)

Mode 2 then straightens the curves (``straighten_curves``) near the repairs only: the
mask voxels within Chebyshev distance ``zone_radius`` (default 2) of a voxel the re-check
refused get a ZONE bit, and only they move or receive a moved voxel, so that with no
refusal the output is scikit-image's exactly (its own staircases are kept). The
ribbon-tip refusals can leave a curve with detours: refused and deleted voxels alternate along a two-voxel-thick
bar, which thins to a diagonal zigzag (every step sqrt(3) instead of 1 on an axis-aligned
tube at a sub-voxel offset) or to periodic one-voxel bumps. A curve voxel (two skeleton
neighbours) or a pair of adjacent curve voxels is moved to deleted mask voxels when the
26-path through them becomes strictly shorter, through simple additions and deletions
only (topology kept), the new voxels touching nothing but the path, and not nearer the
wall of the mask than before along the move (``central_enough``): endpoints and junction
voxels never move. Deleted mask voxels are marked (DELETED) during thinning for this.

Work is proportional to the object: after one 8-bytes-at-a-time scan of the (cropped)
volume, step 1 visits only a work list, in raster order, of the foreground voxels whose
3x3x3 neighbourhood changed since they last failed the candidate test in some direction (a
"dirty" bit per direction); the others cannot have become candidates. This does not change
the result. The Euler test is two table look-ups and the neighbourhood is read with one
4-byte load per row of three voxels. The straightening visits only the skeleton, and the
final clean-up only the mask voxels.
"""
from libc.stdlib cimport malloc, free, realloc
from libc.string cimport memcpy, memset
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t

import numpy as np

cdef extern from *:
    """
    static inline int vt_ctz32(unsigned int x) { return __builtin_ctz(x); }
    static inline int vt_popcount32(unsigned int x) { return __builtin_popcount(x); }
    #include <string.h>
    /* three consecutive 0/1 bytes -> 3 bits, with one (unaligned) 4-byte load */
    static inline unsigned int vt_row3(const unsigned char* p) {
        unsigned int x;
        memcpy(&x, p, 4);
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        x = __builtin_bswap32(x);
    #endif
        return (x & 1u) | ((x >> 7) & 2u) | ((x >> 14) & 4u);
    }
    """
    int vt_ctz32(unsigned int x) nogil
    int vt_popcount32(unsigned int x) nogil
    unsigned int vt_row3(const uint8_t* p) nogil

# Neighbourhood bits: bit k = (dz + 1) * 9 + (dy + 1) * 3 + (dx + 1); the centre is bit 13.
DEF CENTER = 13
# bits of a voxel byte in the kernel's working image (see thin_kernel)
DEF FOREGROUND = 0x01
DEF ALL_DIRECTIONS = 0x7E   # dirty bits: neighbourhood changed since last tested, per direction
DEF IN_TODO = 0x80          # listed in the work list (or about to be merged into it)
DEF DELETED = 0x80          # background byte: a mask voxel deleted by the thinning
DEF CHAIN_MAX = 63          # sweep-front chain lengths live in bits 1-6 of a deleted voxel
DEF ZONE = 0x02             # after thinning: mask voxel near a repair (straightening may move it)
DEF ZONE_RADIUS = 2         # Chebyshev radius of the repair zone around each refused voxel

cdef uint32_t ADJ[27]            # 26-adjacency inside the 3x3x3 cube, centre excluded
cdef uint32_t OCT_BITS[8][8]     # for each octant, the cube bits of its 8 voxels (index a*4+b*2+c)
cdef int EULER_DELTA[256]        # 8 x local Euler change of deleting the centre, per octant config
# The four octants below the centre (dz <= 0) only see neighbourhood bits 0-17, the four
# above (dz >= 0) bits 9-26: their summed EULER_DELTA is tabulated on those 18 bits, so the
# Euler test costs two look-ups.
cdef signed char EULER_LOW[1 << 18]
cdef signed char EULER_HIGH[1 << 18]


def _init_tables():
    """Fill the neighbourhood tables (computed here from first principles, see module notes)."""
    cdef int k, j, a, b, c, i
    cdef int dz, dy, dx, ez, ey, ex
    for k in range(27):
        dz, dy, dx = k // 9 - 1, (k // 3) % 3 - 1, k % 3 - 1
        ADJ[k] = 0
        if k == CENTER:
            continue
        for j in range(27):
            if j == CENTER or j == k:
                continue
            ez, ey, ex = j // 9 - 1, (j // 3) % 3 - 1, j % 3 - 1
            if abs(ez - dz) <= 1 and abs(ey - dy) <= 1 and abs(ex - dx) <= 1:
                ADJ[k] |= (<uint32_t>1) << j
    # octants: signs (sz, sy, sx); voxel (a, b, c) of the octant sits at (a*sz, b*sy, c*sx)
    i = 0
    for sz in (-1, 1):
        for sy in (-1, 1):
            for sx in (-1, 1):
                for a in range(2):
                    for b in range(2):
                        for c in range(2):
                            OCT_BITS[i][a * 4 + b * 2 + c] = (
                                (a * sz + 1) * 9 + (b * sy + 1) * 3 + (c * sx + 1))
                i += 1
    # Euler change of deleting the centre voxel, restricted to the cells of its closed cube
    # that touch the octant's vertex v: 8 * ([v freed] - 1/2 sum[edge freed]
    # + 1/4 sum[face freed] - 1/8 [cube freed]). A cell is freed when no other voxel of the
    # octant contains it. The 8 octant terms add up to 8 * (chi(X) - chi(X minus centre)).
    cdef int cfg, vertex, edges, faces
    for cfg in range(256):
        if not (cfg & 1):
            EULER_DELTA[cfg] = 0
            continue
        vertex = 1 if (cfg & 0xFE) == 0 else 0
        # edge along axis: voxels whose offset is 0 along that axis (and not the centre)
        edges = 0
        # axis z (a = 0): bits b*2+c in {1,2,3}
        edges += 1 if (cfg & ((1 << 1) | (1 << 2) | (1 << 3))) == 0 else 0
        # axis y (b = 0): bits a*4+c in {1,4,5}
        edges += 1 if (cfg & ((1 << 1) | (1 << 4) | (1 << 5))) == 0 else 0
        # axis x (c = 0): bits a*4+b*2 in {2,4,6}
        edges += 1 if (cfg & ((1 << 2) | (1 << 4) | (1 << 6))) == 0 else 0
        # face normal to an axis: the single voxel offset only along that axis
        faces = 0
        faces += 1 if (cfg & (1 << 4)) == 0 else 0
        faces += 1 if (cfg & (1 << 2)) == 0 else 0
        faces += 1 if (cfg & (1 << 1)) == 0 else 0
        EULER_DELTA[cfg] = 8 * vertex - 4 * edges + 2 * faces - 1


_init_tables()


cdef int euler_change8_direct(uint32_t m, int first, int last) noexcept nogil:
    """Sum of EULER_DELTA over octants ``first``..``last - 1``, bit by bit."""
    cdef int o, j, cfg, s = 0
    for o in range(first, last):
        cfg = 0
        for j in range(8):
            if m & ((<uint32_t>1) << OCT_BITS[o][j]):
                cfg |= 1 << j
        s += EULER_DELTA[cfg]
    return s


cdef void _fill_euler_halves() noexcept nogil:
    cdef uint32_t idx
    for idx in range(1 << 18):
        # octants 0-3 have sz = -1 (dz in {-1, 0}), 4-7 have sz = +1 (dz in {0, 1})
        EULER_LOW[idx] = <signed char> euler_change8_direct(idx | (1 << CENTER), 0, 4)
        EULER_HIGH[idx] = <signed char> euler_change8_direct((idx << 9) | (1 << CENTER), 4, 8)


_fill_euler_halves()


cdef inline uint32_t neighbourhood(const uint8_t* img, Py_ssize_t v, const Py_ssize_t* rows) noexcept nogil:
    """27-bit neighbourhood of ``v``; ``rows`` are the offsets of the 9 rows' first voxel.

    Reads one byte past the last voxel of the last row (the buffer must allow it).
    """
    cdef uint32_t m = 0
    cdef int r
    for r in range(9):
        m |= vt_row3(img + v + rows[r]) << (3 * r)
    return m


cdef inline bint is_endpoint(uint32_t m) noexcept nogil:
    """Exactly one foreground voxel among the 26 neighbours."""
    return vt_popcount32(m & ~((<uint32_t>1) << CENTER)) == 1


cdef inline bint is_sweep_front(uint32_t m) noexcept nogil:
    """The centre has neighbours, all after it in raster order (bits 14-26)."""
    cdef uint32_t rest = m & ~((<uint32_t>1) << CENTER)
    return rest != 0 and (rest & (((<uint32_t>1) << CENTER) - 1)) == 0


cdef inline int euler_change8(uint32_t m) noexcept nogil:
    """8 x (change of the Euler characteristic when the centre is deleted); centre set."""
    return EULER_LOW[m & 0x3FFFF] + EULER_HIGH[m >> 9]


cdef inline int n_components(uint32_t m) noexcept nogil:
    """Number of 26-components of the neighbours (centre excluded), capped at 2."""
    cdef uint32_t rest = m & ~((<uint32_t>1) << CENTER)
    cdef uint32_t comp, frontier, new
    cdef int count = 0, i
    while rest:
        comp = rest & (~rest + 1)
        frontier = comp
        while frontier:
            i = vt_ctz32(frontier)
            frontier &= frontier - 1
            new = ADJ[i] & rest & ~comp
            comp |= new
            frontier |= new
        rest &= ~comp
        count += 1
        if count >= 2:
            return 2
    return count


cdef inline int chain_behind(const uint8_t* img, Py_ssize_t v, const Py_ssize_t* offs) noexcept nogil:
    """Longest chain of sweep-front deletions, this sub-iteration, ending next to ``v`` and
    before it in raster order (deleted voxels keep that length in bits 1-6)."""
    cdef int k, best = 0, d
    cdef uint8_t byte
    for k in range(CENTER):
        byte = img[v + offs[k]]
        if not (byte & FOREGROUND):
            d = (byte >> 1) & CHAIN_MAX
            if d > best:
                best = d
    return best


cdef bint zero_shell(const uint8_t* img, Py_ssize_t nz, Py_ssize_t ny, Py_ssize_t nx) noexcept nogil:
    """True when the outer one-voxel shell of the volume is all background."""
    cdef Py_ssize_t z, y, x, sz = ny * nx
    for y in range(ny):
        for x in range(nx):
            if img[y * nx + x] or img[(nz - 1) * sz + y * nx + x]:
                return False
    for z in range(nz):
        for x in range(nx):
            if img[z * sz + x] or img[z * sz + (ny - 1) * nx + x]:
                return False
        for y in range(ny):
            if img[z * sz + y * nx] or img[z * sz + y * nx + nx - 1]:
                return False
    return True


cdef void radix_sort(Py_ssize_t* a, Py_ssize_t* tmp, Py_ssize_t n, Py_ssize_t maxkey) noexcept nogil:
    """Sort ``a[:n]`` (non-negative keys <= maxkey) in place; ``tmp`` has room for n."""
    cdef Py_ssize_t count[256]
    cdef Py_ssize_t i, total, c
    cdef int shift = 0
    cdef Py_ssize_t* src = a
    cdef Py_ssize_t* dst = tmp
    cdef Py_ssize_t* swap
    while shift == 0 or (maxkey >> shift) > 0:
        for i in range(256):
            count[i] = 0
        for i in range(n):
            count[(src[i] >> shift) & 0xFF] += 1
        total = 0
        for i in range(256):
            c = count[i]
            count[i] = total
            total += c
        for i in range(n):
            c = (src[i] >> shift) & 0xFF
            dst[count[c]] = src[i]
            count[c] += 1
        swap = src
        src = dst
        dst = swap
        shift += 8
    if src != a:
        memcpy(a, src, n * sizeof(Py_ssize_t))


cdef double STEP[4]               # length of a 26-step by its squared length (0-3)
STEP[0] = 0.0
STEP[1] = 1.0
STEP[2] = 1.4142135623730951
STEP[3] = 1.7320508075688772
DEF EPS = 1e-9


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


cdef inline bint is_simple(uint32_t m) noexcept nogil:
    """(26, 6) simple point: one 26-component in N26*, Euler invariance; centre set."""
    return n_components(m) == 1 and euler_change8(m) == 0


cdef inline int degree(const uint8_t* img, Py_ssize_t v, const Py_ssize_t* rows) noexcept nogil:
    return vt_popcount32(neighbourhood(img, v, rows) & ~((<uint32_t>1) << CENTER))


DEF RUN_CAP = 32


cdef inline int mask_run(const uint8_t* img, Py_ssize_t v, Py_ssize_t d) noexcept nogil:
    """Mask voxels met from ``v`` stepping by ``d`` before the background (at most RUN_CAP).
    Every non-zero byte is a mask voxel and the zero shell stops the walk in the buffer."""
    cdef int k = 0
    while k < RUN_CAP and img[v + (k + 1) * d] != 0:
        k += 1
    return k


cdef inline int off_centre(const uint8_t* img, Py_ssize_t v, Py_ssize_t d) noexcept nogil:
    """How far ``v`` is off the middle of the mask along the line of step ``d``: |mask
    voxels ahead - mask voxels behind| (runs capped at RUN_CAP)."""
    cdef int t = mask_run(img, v, d) - mask_run(img, v, -d)
    return t if t >= 0 else -t


cdef inline bint central_enough(const uint8_t* img, Py_ssize_t p, Py_ssize_t d,
                                Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """A move of ``p`` to ``p + d`` on a path a-p-b does not take the curve nearer the
    wall: along the line of ``d`` the new voxel is no further off the middle of the mask
    than ``p`` or than one of the path neighbours ``a``, ``b`` (a bump is brought back in
    line with its neighbours; a central curve is not pulled into the inside of a bend)."""
    cdef int t = off_centre(img, p + d, d)
    return t <= off_centre(img, p, d) or (t <= off_centre(img, a, d) and t <= off_centre(img, b, d))


cdef inline void set_on(uint8_t* img, Py_ssize_t v) noexcept nogil:
    """Make the mask voxel ``v`` a skeleton voxel (its ZONE bit kept)."""
    img[v] = FOREGROUND | (img[v] & ZONE)


cdef inline void set_off(uint8_t* img, Py_ssize_t v) noexcept nogil:
    """Make the mask voxel ``v`` a deleted mask voxel (its ZONE bit kept)."""
    img[v] = DELETED | (img[v] & ZONE)


cdef bint try_pair(uint8_t* img, Py_ssize_t p1, Py_ssize_t p2, Py_ssize_t q1, Py_ssize_t q2,
                   const Py_ssize_t* rows) noexcept nogil:
    """Replace the curve voxels p1, p2 by q1, q2 through four simple operations (add q1,
    add q2, delete p1, delete p2, each tested on the current image), then require q1 and q2
    to have two skeleton neighbours each. Undo everything and return False otherwise."""
    cdef int done = 0
    set_on(img, q1)
    if is_simple(neighbourhood(img, q1, rows)):
        done = 1
        set_on(img, q2)
        if is_simple(neighbourhood(img, q2, rows)):
            done = 2
            if is_simple(neighbourhood(img, p1, rows)):
                done = 3
                set_off(img, p1)
                if is_simple(neighbourhood(img, p2, rows)):
                    done = 4
                    set_off(img, p2)
                    if degree(img, q1, rows) == 2 and degree(img, q2, rows) == 2:
                        return True
    if done >= 4:
        set_on(img, p2)
    if done >= 3:
        set_on(img, p1)
    if done >= 1:
        set_off(img, q2)
    set_off(img, q1)
    return False


cdef Py_ssize_t straighten_curves(uint8_t* img, Py_ssize_t* skel, Py_ssize_t nskel,
                                  Py_ssize_t* spare, const Py_ssize_t* offs,
                                  const Py_ssize_t* rows) noexcept nogil:
    """Shorten detours of the skeleton's curves by simple moves; return the number of moves.

    ``img``: the thinned image, skeleton voxels 1, deleted mask voxels DELETED, others 0,
    the mask voxels of the repair zone (near a refused voxel) with the ZONE bit as well;
    only voxels of the zone move, and only to voxels of the zone (p, p2, q, q1, q2 below);
    ``skel[:nskel]``: the skeleton voxels; ``spare`` has room for ``2 * nskel + 2``
    entries (the work list). A curve voxel is one with exactly two skeleton neighbours.

    * single move: a curve voxel ``p`` between ``a`` and ``b`` moves to a deleted mask voxel
      ``q`` adjacent to both when a-q-b is strictly shorter than a-p-b, ``q`` touches no
      other skeleton voxel, ``q`` is a simple point of S + q and ``p`` one of S + q;
    * pair move (where no single move applies): two adjacent curve voxels ``p1``, ``p2``
      on a path a-p1-p2-b move to deleted mask voxels ``q1``, ``q2`` when a-q1-q2-b is a
      strictly shorter 26-path, through four simple operations (add q1, add q2, delete
      p1, delete p2), ``q1`` and ``q2`` ending with two skeleton neighbours each.

    Every operation is a simple addition or deletion, so the topology of the skeleton is
    kept; the skeleton stays in the mask, and every voxel keeps its number of skeleton
    neighbours (endpoints and junctions stay where they are). Only paths longer than the
    shortest 26-path between their ends are examined. Each move shortens the summed
    length of the skeleton's adjacencies, so the passes end; they repeat until one moves
    nothing.
    """
    cdef Py_ssize_t moves = 0, i, n_list, nlive, p, q, p2, q1, q2, best_q1, best_q2
    cdef Py_ssize_t sz = offs[22], sy = offs[16]
    cdef uint32_t m, rest, mq, m2, rest2, expect
    cdef int k, k1, k2, best_k, side, kp2, ka, kb, j1, j2
    cdef int az, ay, ax, bz, by, bx, pz, py, px, uz, uy, ux, vz, vy, vx
    cdef double cost, c, c1, best_c
    cdef bint moved = True
    cdef Py_ssize_t* lst = spare
    memcpy(lst, skel, nskel * sizeof(Py_ssize_t))
    n_list = nskel
    while moved:
        moved = False
        i = 0
        while i < n_list:
            p = lst[i]
            i += 1
            if not (img[p] & FOREGROUND):
                continue                          # moved away earlier in this pass
            if not (img[p] & ZONE):
                continue                          # no repair nearby: left as thinned
            m = neighbourhood(img, p, rows)
            rest = m & ~((<uint32_t>1) << CENTER)
            if vt_popcount32(rest) != 2:
                continue
            k1 = vt_ctz32(rest)
            k2 = vt_ctz32(rest & (rest - 1))
            cost = STEP[sqdist(k1, CENTER)] + STEP[sqdist(k2, CENTER)]
            if cost <= chamfer(k1 // 9 - k2 // 9, (k1 // 3) % 3 - (k2 // 3) % 3,
                               k1 % 3 - k2 % 3) + EPS:
                best_k = -1                       # a-p-b is already a shortest path
            else:
                best_c = cost - EPS
                best_k = -1
                for k in range(27):
                    if k == CENTER or k == k1 or k == k2:
                        continue
                    if not ((ADJ[k] >> k1) & 1) or not ((ADJ[k] >> k2) & 1):
                        continue
                    c = STEP[sqdist(k, k1)] + STEP[sqdist(k, k2)]
                    if c >= best_c:
                        continue
                    q = p + offs[k]
                    if img[q] != (DELETED | ZONE):       # not a deleted mask voxel of the zone
                        continue
                    if not central_enough(img, p, offs[k], p + offs[k1], p + offs[k2]):
                        continue                  # q is nearer the wall
                    # q's skeleton neighbours are exactly p, a and b
                    mq = neighbourhood(img, q, rows)
                    expect = (((<uint32_t>1) << (26 - k)) | ((<uint32_t>1) << (k1 - k + CENTER))
                              | ((<uint32_t>1) << (k2 - k + CENTER)))
                    if mq != expect:
                        continue
                    if not is_simple(mq | ((<uint32_t>1) << CENTER)):
                        continue                  # adding q would change the topology
                    if not is_simple(m | ((<uint32_t>1) << k)):
                        continue                  # p is not simple once q is added
                    best_c = c
                    best_k = k
            if best_k >= 0:
                q = p + offs[best_k]
                set_on(img, q)
                set_off(img, p)
                lst[i - 1] = q
                moves += 1
                moved = True
                continue
            # pair moves: p = p1 with its neighbour p2 (either side) also a curve voxel
            for side in range(2):
                kp2 = k2 if side == 0 else k1
                ka = k1 if side == 0 else k2
                p2 = p + offs[kp2]
                if not (img[p2] & ZONE):
                    continue
                m2 = neighbourhood(img, p2, rows)
                rest2 = m2 & ~((<uint32_t>1) << CENTER)
                if vt_popcount32(rest2) != 2:
                    continue
                kb = vt_ctz32(rest2)
                if kb == 26 - kp2:                # that bit is p itself
                    kb = vt_ctz32(rest2 & (rest2 - 1))
                # offsets from p: a, p2 (pz..), b
                az, ay, ax = ka // 9 - 1, (ka // 3) % 3 - 1, ka % 3 - 1
                pz, py, px = kp2 // 9 - 1, (kp2 // 3) % 3 - 1, kp2 % 3 - 1
                bz, by, bx = pz + kb // 9 - 1, py + (kb // 3) % 3 - 1, px + kb % 3 - 1
                if bz == az and by == ay and bx == ax:
                    continue
                cost = (step_len(az, ay, ax) + step_len(pz, py, px)
                        + step_len(bz - pz, by - py, bx - px))
                if cost <= chamfer(bz - az, by - ay, bx - ax) + EPS:
                    continue                      # a-p1-p2-b is already a shortest path
                best_c = cost - EPS
                best_q1 = -1
                best_q2 = -1
                for j1 in range(27):
                    uz, uy, ux = j1 // 9 - 1, (j1 // 3) % 3 - 1, j1 % 3 - 1
                    if cheb(uz - az, uy - ay, ux - ax) != 1:
                        continue                  # q1 must touch a (and not be a)
                    if (uz == 0 and uy == 0 and ux == 0) or j1 == kp2:
                        continue
                    c1 = step_len(uz - az, uy - ay, ux - ax)
                    if c1 + chamfer(bz - uz, by - uy, bx - ux) >= best_c:
                        continue
                    q1 = p + offs[j1]
                    if img[q1] != (DELETED | ZONE):
                        continue
                    if not central_enough(img, p, offs[j1], p + offs[ka],
                                          p + bz * sz + by * sy + bx):
                        continue
                    for j2 in range(27):
                        vz, vy, vx = pz + j2 // 9 - 1, py + (j2 // 3) % 3 - 1, px + j2 % 3 - 1
                        if cheb(vz - uz, vy - uy, vx - ux) != 1 or cheb(bz - vz, by - vy, bx - vx) != 1:
                            continue
                        if vz == az and vy == ay and vx == ax:
                            continue
                        if (vz == 0 and vy == 0 and vx == 0) or j2 == CENTER:
                            continue              # q2 is p1 or p2
                        c = c1 + step_len(vz - uz, vy - uy, vx - ux) + step_len(bz - vz, by - vy, bx - vx)
                        if c >= best_c:
                            continue
                        q2 = p2 + offs[j2]
                        if img[q2] != (DELETED | ZONE):
                            continue
                        if not central_enough(img, p2, offs[j2], p + offs[ka],
                                              p + bz * sz + by * sy + bx):
                            continue
                        if try_pair(img, p, p2, q1, q2, rows):
                            # undo, keep looking for a shorter valid pair
                            set_on(img, p)
                            set_on(img, p2)
                            set_off(img, q1)
                            set_off(img, q2)
                            best_c = c
                            best_q1 = q1
                            best_q2 = q2
                if best_q1 >= 0 and n_list < 2 * nskel + 2:
                    try_pair(img, p, p2, best_q1, best_q2, rows)
                    lst[i - 1] = best_q1
                    lst[n_list] = best_q2          # p2's entry is now stale
                    n_list += 1
                    moves += 1
                    moved = True
                    break
        # drop the stale entries
        nlive = 0
        for i in range(n_list):
            if img[lst[i]] & FOREGROUND:
                lst[nlive] = lst[i]
                nlive += 1
        n_list = nlive
    return moves


cdef inline bint push(Py_ssize_t** lst, Py_ssize_t* n, Py_ssize_t* cap, Py_ssize_t v) noexcept nogil:
    """Append ``v`` to a growable list; False when memory ran out."""
    cdef Py_ssize_t* grown
    if n[0] >= cap[0]:
        grown = <Py_ssize_t*> realloc(lst[0], (2 * cap[0] + 16) * sizeof(Py_ssize_t))
        if grown == NULL:
            return False
        lst[0] = grown
        cap[0] = 2 * cap[0] + 16
    lst[0][n[0]] = v
    n[0] += 1
    return True


cdef void mark_zone(uint8_t* img, Py_ssize_t nz, Py_ssize_t ny, Py_ssize_t nx,
                    const Py_ssize_t* rep, Py_ssize_t nrep, int radius) noexcept nogil:
    """Set ZONE on every mask voxel (non-zero byte) within Chebyshev distance ``radius``
    of a voxel of ``rep``; ``radius < 0``: on every mask voxel of the volume."""
    cdef Py_ssize_t i, v, z, y, x, z0, z1, y0, y1, x0, x1, a, b, c, sz = ny * nx, u
    if radius < 0:
        for i in range(nz * sz):
            if img[i]:
                img[i] |= ZONE
        return
    for i in range(nrep):
        v = rep[i]
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
                    if img[u]:
                        img[u] |= ZONE


cdef int thin_kernel(uint8_t* img, Py_ssize_t nz, Py_ssize_t ny, Py_ssize_t nx,
                     int mode, int max_chain, bint straight, int zone_radius,
                     uint8_t* rep_out, int64_t* stats) noexcept nogil:
    """Thin ``img`` in place; return 0, or -1 when memory could not be allocated, -2 for a
    value other than 0 and 1, -3 when the outer shell is not background (nothing changed).

    Preconditions: ``img`` is C-contiguous (nz, ny, nx), holds only 0 and 1, its outer
    one-voxel shell is 0 (the caller pads), so no neighbour access leaves the array, and at
    least one readable byte follows it (``neighbourhood`` loads 4 bytes per row).
    ``stats`` has room for 9 counters (see ``thin``).

    Voxel bytes: bit 0 is the image. A foreground byte also holds one "dirty" bit per
    direction (bits 1-6: the neighbourhood changed since the voxel last failed the
    candidate test in that direction) and IN_TODO (bit 7); a voxel deleted at the sweep
    front holds the length of its chain in bits 1-6 until the end of the sub-iteration,
    every other deleted voxel (and that one afterwards) is DELETED (0x80) until the end.
    ``straight`` (mode 2): straighten the curves afterwards, only within ``zone_radius``
    (Chebyshev) of a voxel the re-check refused (isolated, Euler or ribbon tip);
    ``zone_radius < 0``: everywhere. ``rep_out`` (NULL, or the size of ``img``, zeros):
    receives 1 at every voxel the re-check refused at least once.
    Work list: ``todo`` holds, in raster order, the foreground voxels with a dirty bit.
    Only they can become candidates, so step 1 visits only them; voxels made dirty by a
    deletion are collected in ``fresh``, sorted and merged in after each sub-iteration.
    """
    cdef Py_ssize_t sy = nx, sz = ny * nx, total = nz * ny * nx
    cdef Py_ssize_t offs[27]
    cdef Py_ssize_t rows[9]
    cdef Py_ssize_t border[6]
    cdef int k, j, comps
    cdef Py_ssize_t n = 0, i, v, u, ncand, w, ntodo, nfresh, a, b, last
    cdef uint64_t word
    cdef uint32_t m
    cdef uint8_t bit
    cdef bint changed, front
    cdef int unchanged
    cdef Py_ssize_t* todo = NULL
    cdef Py_ssize_t* merged = NULL
    cdef Py_ssize_t* fresh = NULL
    cdef Py_ssize_t* cand = NULL
    cdef uint32_t* cand_m = NULL
    cdef Py_ssize_t* front_deleted = NULL
    cdef Py_ssize_t* allv = NULL
    cdef Py_ssize_t* straight_list = NULL
    cdef Py_ssize_t nfront = 0, nskel
    cdef Py_ssize_t* rep = NULL               # voxels refused by the re-check (repeats allowed)
    cdef Py_ssize_t nrep = 0, caprep = 0
    cdef bint oom = False

    for k in range(27):
        offs[k] = (k // 9 - 1) * sz + ((k // 3) % 3 - 1) * sy + (k % 3 - 1)
    for k in range(9):
        rows[k] = offs[3 * k]
    # scikit-image 0.26 border order 4, 3, 2, 1, 5, 6 = y-1, y+1, x+1, x-1, z+1, z-1
    border[0] = -sy
    border[1] = sy
    border[2] = 1
    border[3] = -1
    border[4] = sz
    border[5] = -sz

    # the volume is mostly background: skip it 8 bytes at a time
    i = 0
    while i + 8 <= total:
        memcpy(&word, img + i, 8)
        if word != 0:
            if word & 0xFEFEFEFEFEFEFEFEULL:
                return -2                       # a value other than 0 and 1
            for k in range(8):
                n += img[i + k]
        i += 8
    while i < total:
        if img[i] > 1:
            return -2
        n += img[i]
        i += 1
    if not zero_shell(img, nz, ny, nx):
        return -3
    todo = <Py_ssize_t*> malloc((n + 1) * sizeof(Py_ssize_t))
    merged = <Py_ssize_t*> malloc((n + 1) * sizeof(Py_ssize_t))
    fresh = <Py_ssize_t*> malloc((n + 1) * sizeof(Py_ssize_t))
    cand = <Py_ssize_t*> malloc((n + 1) * sizeof(Py_ssize_t))
    cand_m = <uint32_t*> malloc((n + 1) * sizeof(uint32_t))
    front_deleted = <Py_ssize_t*> malloc((n + 1) * sizeof(Py_ssize_t))
    allv = <Py_ssize_t*> malloc((n + 1) * sizeof(Py_ssize_t))
    if (todo == NULL or merged == NULL or fresh == NULL or cand == NULL or cand_m == NULL
            or front_deleted == NULL or allv == NULL):
        free(todo); free(merged); free(fresh); free(cand); free(cand_m)
        free(front_deleted); free(allv)
        return -1
    ntodo = 0
    i = 0
    while i < total:
        if i + 8 <= total:
            memcpy(&word, img + i, 8)
            if word == 0:
                i += 8
                continue
            last = i + 8
        else:
            last = total
        while i < last:
            if img[i]:
                img[i] = FOREGROUND | ALL_DIRECTIONS | IN_TODO
                todo[ntodo] = i
                ntodo += 1
            i += 1
    memcpy(allv, todo, ntodo * sizeof(Py_ssize_t))   # every mask voxel, raster order

    unchanged = 0
    while unchanged < 6:
        unchanged = 0
        for j in range(6):
            stats[5] += 1
            bit = <uint8_t> (2 << j)
            # step 1: candidates, raster order, tested on the image as it is now
            ncand = 0
            stats[6] += ntodo
            for i in range(ntodo):
                v = todo[i]
                if not (img[v] & bit):
                    continue
                if (img[v + border[j]] & 1) == 0:
                    stats[7] += 1
                    m = neighbourhood(img, v, rows)
                    if (not is_endpoint(m) and euler_change8(m) == 0
                            and n_components(m) == 1):
                        cand[ncand] = v
                        cand_m[ncand] = m
                        ncand += 1
                        continue
                img[v] &= ~bit
            # step 2: sequential re-check
            changed = False
            nfront = 0
            nfresh = 0
            for i in range(ncand):
                v = cand[i]
                m = neighbourhood(img, v, rows)
                if m != cand_m[i]:
                    # the neighbourhood changed since selection: test again
                    comps = n_components(m)
                    if comps > 1:                      # scikit-image refuses these too
                        stats[1] += 1
                        continue
                    if mode >= 1:
                        if comps == 0:                 # last voxel of a component
                            stats[0] += 1
                            if not push(&rep, &nrep, &caprep, v):
                                oom = True
                                break
                            continue
                        if euler_change8(m) != 0:      # would open a tunnel or a cavity
                            stats[2] += 1
                            if not push(&rep, &nrep, &caprep, v):
                                oom = True
                                break
                            continue
                    if (mode >= 2 and (img[v - border[j]] & 1) == 0 and is_sweep_front(m)
                            and not is_sweep_front(cand_m[i])
                            and chain_behind(img, v, offs) >= max_chain):
                        stats[3] += 1                  # the sweep would eat a thin ribbon
                        if not push(&rep, &nrep, &caprep, v):
                            oom = True
                            break
                        continue
                # (an unchanged neighbourhood is still simple, with the same front status)
                if is_sweep_front(m):
                    # deleted at the sweep front: keep the chain length in the upper bits
                    img[v] = <uint8_t> (min(chain_behind(img, v, offs) + 1, CHAIN_MAX) << 1)
                    front_deleted[nfront] = v
                    nfront += 1
                else:
                    img[v] = DELETED
                stats[4] += 1
                changed = True
                for k in range(27):
                    u = v + offs[k]
                    if img[u] & 1:
                        img[u] |= ALL_DIRECTIONS
                        if not (img[u] & IN_TODO):
                            img[u] |= IN_TODO
                            fresh[nfresh] = u
                            nfresh += 1
            for i in range(nfront):
                img[front_deleted[i]] = DELETED
            if oom:
                break
            # keep the voxels still foreground and dirty, merge in the fresh ones
            w = 0
            for i in range(ntodo):
                v = todo[i]
                if (img[v] & FOREGROUND) and (img[v] & ALL_DIRECTIONS):
                    todo[w] = v
                    w += 1
                elif img[v] & FOREGROUND:
                    img[v] &= ~IN_TODO
            if nfresh > 0:
                radix_sort(fresh, merged, nfresh, total)
                a = 0
                b = 0
                i = 0
                while a < w or b < nfresh:
                    if b >= nfresh or (a < w and todo[a] < fresh[b]):
                        merged[i] = todo[a]
                        a += 1
                    else:
                        merged[i] = fresh[b]
                        b += 1
                    i += 1
                memcpy(todo, merged, i * sizeof(Py_ssize_t))
                w = i
            ntodo = w
            if not changed:
                unchanged += 1
        if oom:
            break
    if oom:
        free(todo); free(merged); free(fresh); free(cand); free(cand_m)
        free(front_deleted); free(allv); free(rep)
        return -1
    # every non-zero byte is now a mask voxel: the skeleton (bit 0 set) or DELETED
    nskel = 0
    for i in range(n):
        v = allv[i]
        if img[v] & FOREGROUND:
            img[v] = FOREGROUND
            cand[nskel] = v
            nskel += 1
    if rep_out != NULL:
        for i in range(nrep):
            rep_out[rep[i]] = 1
    if mode >= 2 and straight and nskel > 0 and (nrep > 0 or zone_radius < 0):
        straight_list = <Py_ssize_t*> malloc((2 * nskel + 2) * sizeof(Py_ssize_t))
        if straight_list == NULL:
            for i in range(n):
                img[allv[i]] &= FOREGROUND
            free(todo); free(merged); free(fresh); free(cand); free(cand_m)
            free(front_deleted); free(allv); free(rep)
            return -1
        mark_zone(img, nz, ny, nx, rep, nrep, zone_radius)
        stats[8] += straighten_curves(img, cand, nskel, straight_list, offs, rows)
        free(straight_list)
    for i in range(n):
        img[allv[i]] &= FOREGROUND
    free(todo); free(merged); free(fresh); free(cand); free(cand_m)
    free(front_deleted); free(allv); free(rep)
    return 0


def _raise_for(int rc, str name):
    if rc == -1:
        raise MemoryError("thinning: could not allocate the work lists")
    if rc == -2:
        raise ValueError(f"{name}: expected only 0 and 1 values")
    if rc == -3:
        raise ValueError(f"{name}: expected a background (0) one-voxel shell on every face "
                         "(pad the volume by one voxel)")


def thin(uint8_t[:, :, ::1] img not None, int mode=2, int max_chain=4, bint straighten=True,
         int zone_radius=ZONE_RADIUS):
    """Thin a padded binary volume in place (Lee et al. 1994).

    Parameters
    ----------
    img : uint8 array (nz, ny, nx), C-contiguous
        Values 0 and 1 only, and a zero one-voxel shell on every face (checked: ValueError
        otherwise; the public ``vesseltree.skeletonize`` pads).
    mode : int
        Step-2 re-check. 0: scikit-image 0.26 exactly ("<= 1 component in the
        26-neighbourhood"), faults included. 1: the full simple-point condition (exactly one
        component and Euler invariance): every deletion keeps the topology. 2 (default): 1,
        and no sweep-eaten ribbon tip, then straightened curves (see the module notes).
    max_chain : int
        Mode 2: sweep-front deletions allowed in a row before a ribbon tip is kept (1-63).
    straighten : bool
        Mode 2: straighten the curves after thinning (default), near repairs only. False
        gives the thinning alone (for comparisons).
    zone_radius : int
        Mode 2: the straightening moves only mask voxels within this Chebyshev distance of
        a voxel the re-check refused (default 2); negative: everywhere (the behaviour
        before the repair zone, for comparisons).

    Returns
    -------
    stats : int64 array (8,)
        Re-check refusals because the voxel had become isolated (0), would split its
        neighbourhood (1; scikit-image refuses these too), would change the Euler
        characteristic (2), was a sweep-eaten ribbon tip (3); number of deleted voxels (4);
        number of sub-iterations (5); foreground voxels visited in step 1 (6); of them,
        border voxels whose neighbourhood was tested (7), neither depending on the
        background around the object; curve straightening moves (8).
    """
    cdef Py_ssize_t nz = img.shape[0], ny = img.shape[1], nx = img.shape[2]
    stats_arr = np.zeros(9, dtype=np.int64)
    cdef int64_t[::1] stats = stats_arr
    cdef int rc = 0
    cdef Py_ssize_t total = nz * ny * nx
    cdef uint8_t* work
    if mode < 0 or mode > 2:
        raise ValueError(f"mode: expected 0, 1 or 2, got {mode}")
    if max_chain < 1 or max_chain > CHAIN_MAX:
        raise ValueError(f"max_chain: expected an integer in [1, {CHAIN_MAX}], got {max_chain}")
    if nz < 3 or ny < 3 or nx < 3:
        return stats_arr
    # private copy with slack after the end (see the kernel's preconditions)
    work = <uint8_t*> malloc(total + 8)
    if work == NULL:
        raise MemoryError("thinning: could not allocate the working copy")
    with nogil:
        memcpy(work, &img[0, 0, 0], total)
        memset(work + total, 0, 8)
        rc = thin_kernel(work, nz, ny, nx, mode, max_chain, straighten, zone_radius, NULL,
                         &stats[0])
        if rc == 0:
            memcpy(&img[0, 0, 0], work, total)
    free(work)
    _raise_for(rc, "img")
    return stats_arr


def thin_buffer(uint8_t[::1] buf not None, shape, int mode=2, int max_chain=4,
                bint straighten=True, int zone_radius=ZONE_RADIUS, repaired=None):
    """Like :func:`thin`, on a flat buffer holding the padded volume, without a copy.

    ``buf[:nz * ny * nx]`` is the C-ordered padded volume of ``shape = (nz, ny, nx)`` (same
    preconditions as :func:`thin`); ``buf`` must be at least one byte longer (the row loads
    read one byte past the last voxel). Used by ``vesseltree.skeletonize``. ``repaired``
    (optional, a zeroed C-contiguous uint8 array of at least ``nz * ny * nx`` elements)
    receives 1 at every voxel the re-check refused at least once (modes 1-2: isolated,
    Euler, ribbon tip), i.e. the voxels the repairs kept at some point.
    """
    cdef Py_ssize_t nz, ny, nx
    nz, ny, nx = (int(d) for d in shape)
    stats_arr = np.zeros(9, dtype=np.int64)
    cdef int64_t[::1] stats = stats_arr
    cdef int rc = 0
    cdef uint8_t[::1] rep_view
    cdef uint8_t* rep_ptr = NULL
    if mode < 0 or mode > 2:
        raise ValueError(f"mode: expected 0, 1 or 2, got {mode}")
    if max_chain < 1 or max_chain > CHAIN_MAX:
        raise ValueError(f"max_chain: expected an integer in [1, {CHAIN_MAX}], got {max_chain}")
    if repaired is not None:
        rep_view = repaired.reshape(-1)
        if rep_view.shape[0] < nz * ny * nx:
            raise ValueError(f"repaired: expected at least prod(shape) = {nz * ny * nx} "
                             f"elements, got {rep_view.shape[0]}")
        if rep_view.shape[0] > 0:
            rep_ptr = &rep_view[0]
    if nz < 0 or ny < 0 or nx < 0 or buf.shape[0] < nz * ny * nx + 1:
        raise ValueError(f"buf: expected at least prod(shape) + 1 = {nz * ny * nx + 1} bytes, "
                         f"got {buf.shape[0]}")
    if nz < 3 or ny < 3 or nx < 3:
        return stats_arr
    with nogil:
        rc = thin_kernel(&buf[0], nz, ny, nx, mode, max_chain, straighten, zone_radius,
                         rep_ptr, &stats[0])
    _raise_for(rc, "buf")
    return stats_arr


def _neighbourhood_tests(uint8_t[:, :, ::1] cube not None):
    """Test hook for a 3x3x3 cube of 0/1 (its centre taken as foreground).

    Returns (endpoint, 8 x Euler change by the two-look-up tables, 26-components of the
    neighbours capped at 2, 8 x Euler change octant by octant).
    """
    if cube.shape[0] != 3 or cube.shape[1] != 3 or cube.shape[2] != 3:
        raise ValueError(f"cube: expected shape (3, 3, 3), got {(cube.shape[0], cube.shape[1], cube.shape[2])}")
    cdef uint8_t buf[32]
    cdef Py_ssize_t rows[9]
    cdef int k
    memset(buf, 0, 32)
    for k in range(27):
        buf[k] = 1 if cube[k // 9, (k // 3) % 3, k % 3] else 0
    for k in range(9):
        rows[k] = 3 * k - 13
    cdef uint32_t m = neighbourhood(buf, 13, rows) | (1 << CENTER)
    return (bool(is_endpoint(m)), int(euler_change8(m)), int(n_components(m)),
            int(euler_change8_direct(m, 0, 8)))

# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Topology tests on a voxel's 3x3x3 neighbourhood, shared by the thinning and the curve
straightening kernels (declarations and inline tests in ``neighbourhood.pxd``).

* Euler characteristic change of deleting the centre (Lee, Kashyap & Chu 1994, Sect. 3,
  condition 1): the 8 octants of the neighbourhood each contribute
  ``8 * ([vertex freed] - 1/2 [edges freed] + 1/4 [faces freed] - 1/8 [cube freed])``,
  tabulated per octant configuration (``EULER_DELTA``); the four octants below the centre
  only see neighbourhood bits 0-17 and the four above bits 9-26, so their sums are
  tabulated on those 18 bits (``EULER_LOW``, ``EULER_HIGH``) and the test costs two
  look-ups.
* 26-components of the neighbours (conditions 2-3), by flood fill over ``ADJ``.

All tables are computed here, at import, from first principles.
"""
from libc.string cimport memcpy, memset
from libc.stdint cimport uint8_t, uint32_t

cdef uint32_t OCT_BITS[8][8]     # for each octant, the cube bits of its 8 voxels (index a*4+b*2+c)
cdef int EULER_DELTA[256]        # 8 x local Euler change of deleting the centre, per octant config


def _init_tables():
    """Fill ``ADJ``, ``OCT_BITS`` and ``EULER_DELTA`` (module notes)."""
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
    """Sum ``EULER_DELTA`` over the four low and the four high octants of every 18-bit
    half neighbourhood."""
    cdef uint32_t idx
    for idx in range(1 << EULER_HALF_BITS):
        # octants 0-3 have sz = -1 (dz in {-1, 0}), 4-7 have sz = +1 (dz in {0, 1})
        EULER_LOW[idx] = <signed char> euler_change8_direct(idx | CENTER_BIT, 0, 4)
        EULER_HIGH[idx] = <signed char> euler_change8_direct((idx << 9) | CENTER_BIT, 4, 8)


_fill_euler_halves()


cdef void load_tables(uint32_t* adj, signed char* low, signed char* high) noexcept nogil:
    """Copy the tables computed here into another module's copies."""
    memcpy(adj, ADJ, sizeof(ADJ))
    memcpy(low, EULER_LOW, sizeof(EULER_LOW))
    memcpy(high, EULER_HIGH, sizeof(EULER_HIGH))


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
    cdef uint32_t m = neighbourhood(buf, 13, rows) | CENTER_BIT
    return (bool(is_endpoint(m)), int(euler_change8(m)), int(n_components(m)),
            int(euler_change8_direct(m, 0, 8)))

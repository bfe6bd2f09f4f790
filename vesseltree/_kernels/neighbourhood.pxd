# cython: language_level=3
"""Shared declarations of the 3x3x3 neighbourhood tests (see neighbourhood.pyx).

A module that cimports the tests calls ``load_tables(ADJ, EULER_LOW, EULER_HIGH)`` once at
import: the tables are computed once, in neighbourhood.pyx, and copied into the module.

A voxel's neighbourhood is a 27-bit word: bit ``k = (dz + 1) * 9 + (dy + 1) * 3 + (dx + 1)``
is set when the voxel at offset (dz, dy, dx) is foreground; the centre is bit 13.
"""
from libc.stdint cimport uint8_t, uint32_t

cdef extern from *:
    """
    #include <string.h>
    #include <stdint.h>
    /* per-module copies of the tables (filled by load_tables at import): direct addressing
       in the hot loops instead of a pointer into the neighbourhood module */
    static uint32_t vt_adj[27];
    static signed char vt_euler_low[1 << 18];
    static signed char vt_euler_high[1 << 18];
    static inline int vt_ctz32(unsigned int x) { return __builtin_ctz(x); }
    static inline int vt_popcount32(unsigned int x) { return __builtin_popcount(x); }
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
    # 26-adjacency inside the 3x3x3 cube, centre excluded
    uint32_t ADJ "vt_adj"[27]
    # 8 x Euler change of deleting the centre, summed over the four octants below (LOW,
    # bits 0-17) and above (HIGH, bits 9-26) the centre
    signed char EULER_LOW "vt_euler_low"[262144]
    signed char EULER_HIGH "vt_euler_high"[262144]

cdef enum:
    CENTER = 13                 # bit of the centre voxel
    CENTER_BIT = 1 << 13
    EULER_HALF_BITS = 18        # the Euler tables are indexed by 18 neighbourhood bits

cdef void load_tables(uint32_t* adj, signed char* low, signed char* high) noexcept nogil
cdef int euler_change8_direct(uint32_t m, int first, int last) noexcept nogil


cdef inline uint32_t neighbourhood(const uint8_t* img, Py_ssize_t v, const Py_ssize_t* rows) noexcept nogil:
    """27-bit neighbourhood of ``v`` in a 0/1 image; ``rows`` are the offsets of the 9
    rows' first voxel. Reads one byte past the last voxel of the last row."""
    cdef uint32_t m = 0
    cdef int r
    for r in range(9):
        m |= vt_row3(img + v + rows[r]) << (3 * r)
    return m


cdef inline int n_neighbours(uint32_t m) noexcept nogil:
    """Foreground voxels among the 26 neighbours."""
    return vt_popcount32(m & ~(<uint32_t> CENTER_BIT))


cdef inline bint is_endpoint(uint32_t m) noexcept nogil:
    """Exactly one foreground voxel among the 26 neighbours."""
    return n_neighbours(m) == 1


cdef inline int euler_change8(uint32_t m) noexcept nogil:
    """8 x (change of the Euler characteristic when the centre is deleted); centre set."""
    return EULER_LOW[m & 0x3FFFF] + EULER_HIGH[m >> 9]


cdef inline int n_components(uint32_t m) noexcept nogil:
    """Number of 26-components of the neighbours (centre excluded), capped at 2."""
    cdef uint32_t rest = m & ~(<uint32_t> CENTER_BIT)
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


cdef inline bint is_simple(uint32_t m) noexcept nogil:
    """(26, 6) simple point: one 26-component in N26*, Euler invariance; centre set."""
    return n_components(m) == 1 and euler_change8(m) == 0

# cython: language_level=3
"""Working state of the thinning and straightening kernels (declarations only).

Two arrays, each with its own named, non-overlapping bit fields:

``img`` (uint8, the volume being thinned; the neighbourhood tests read bit 0 only)

==========  ======  ==================================================================
FOREGROUND  0       the image: 1 for a voxel still in the object (0 for a deleted
                    voxel, which carries no other bit)
DIRTY_ALL   1-6     for a foreground voxel, per border direction ``j``, bit ``2 << j``:
                    its neighbourhood changed since it last failed the candidate test
                    in that direction (only such voxels can become candidates)
IN_TODO     7       a foreground voxel listed in the work list (or about to be merged in)
==========  ======  ==================================================================

After the thinning every byte is 0 or FOREGROUND.

``marks`` (uint8, zero-initialised, same size)

==========  ======  ==================================================================
CHAIN_BITS  0-5     for a voxel deleted at the sweep front: the length (1-63) of the
                    chain of sweep-front deletions ending at it (read only within its
                    sub-iteration)
REFUSED     6       the step-2 re-check refused the voxel at least once
ZONE        7       straightening: the mask voxel is near a refused one, so it may move
                    or receive a moved voxel
==========  ======  ==================================================================

``in_mask`` (a bit set, one bit per voxel, for the straightening): the voxel belongs to
the input mask (a mask voxel with ``img == 0`` was deleted by the thinning).
"""
from libc.stdint cimport int64_t, uint8_t

cdef enum:
    N_DIRECTIONS = 6            # border directions, one sub-iteration each
    CHAIN_MAX = 63              # longest chain CHAIN_BITS can hold

cdef enum ImageBit:             # img
    FOREGROUND = 0x01
    DIRTY_ALL = 0x7E
    IN_TODO = 0x80

cdef enum MarkBit:              # marks
    CHAIN_BITS = 0x3F
    REFUSED = 0x40
    ZONE = 0x80


cdef struct Grid:
    Py_ssize_t nz, ny, nx, total
    Py_ssize_t offs[27]         # offset of cube cell k = (dz + 1) * 9 + (dy + 1) * 3 + (dx + 1)
    Py_ssize_t rows[9]          # offsets of the first voxel of the 9 rows of the cube
    Py_ssize_t border[6]        # border directions, scikit-image's visiting order


# Counters of one thinning (returned to Python in the order of thinning.STATS_FIELDS).
cdef struct ThinStats:
    int64_t refused_isolated     # re-check: the last voxel of a component
    int64_t refused_split        # re-check: would split its neighbourhood (skimage too)
    int64_t refused_euler        # re-check: would change the Euler characteristic
    int64_t refused_ribbon_tip   # re-check: the sweep would eat a thin ribbon
    int64_t deleted              # voxels deleted
    int64_t subiterations        # sub-iterations run
    int64_t visited              # foreground voxels visited by step 1
    int64_t tested               # of them, border voxels whose neighbourhood was tested
    int64_t straightened         # curve straightening moves


cdef inline void make_grid(Grid* g, Py_ssize_t nz, Py_ssize_t ny, Py_ssize_t nx) noexcept nogil:
    """Fill ``g`` for a volume of shape (nz, ny, nx)."""
    cdef int k
    cdef Py_ssize_t sy = nx, sz = ny * nx
    g.nz = nz
    g.ny = ny
    g.nx = nx
    g.total = nz * ny * nx
    for k in range(27):
        g.offs[k] = (k // 9 - 1) * sz + ((k // 3) % 3 - 1) * sy + (k % 3 - 1)
    for k in range(9):
        g.rows[k] = g.offs[3 * k]
    # scikit-image 0.26 border order 4, 3, 2, 1, 5, 6 = y-1, y+1, x+1, x-1, z+1, z-1
    g.border[0] = -sy
    g.border[1] = sy
    g.border[2] = 1
    g.border[3] = -1
    g.border[4] = sz
    g.border[5] = -sz


cdef inline bint is_mask_voxel(const uint8_t* in_mask, Py_ssize_t v) noexcept nogil:
    """Bit ``v`` of the ``in_mask`` bit set."""
    return (in_mask[v >> 3] >> (v & 7)) & 1


cdef inline void set_mask_voxel(uint8_t* in_mask, Py_ssize_t v) noexcept nogil:
    """Set bit ``v`` of the ``in_mask`` bit set."""
    in_mask[v >> 3] |= <uint8_t> (1 << (v & 7))

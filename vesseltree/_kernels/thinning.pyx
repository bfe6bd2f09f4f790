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
  component in its 26-neighbourhood (conditions 2-3; tests in ``neighbourhood.pyx``);
* step 2 re-checks the candidates sequentially, deleting them one at a time;
* passes repeat until a whole pass changes nothing.

The only difference from scikit-image is the step-2 test (``mode``). scikit-image and
Fiji re-check only "at most one component in the 26-neighbourhood": a voxel that has become
isolated (zero components) is deleted, which empties whole components (scikit-image issue
3757: bars and cylinders vanish), and Euler invariance is not re-evaluated. And since the
candidates of one sub-iteration are deleted in raster order, a one-voxel-thick ribbon whose
voxels were all selected is eaten row after row along the sweep. Step 2 here requires,
against the current image:

* ``MODE_TOPOLOGY`` (1) and up: exactly one 26-component and Euler invariance. Together
  these are exactly the (26, 6) simple-point condition, so every deletion is a simple
  deletion and the number of 26-components, tunnels and cavities of the input is preserved;
* ``MODE_LENGTH`` (2): and not a "sweep-eaten ribbon tip": the voxel is one voxel thick
  across the current direction (its opposite neighbour is background), all its neighbours
  now come after it in raster order (it is at the front of the sweep) though they did not
  when it was selected, and a chain of at least ``max_chain`` (default 4) sweep-front
  deletions of this sub-iteration ends next to it, before it. That is the signature of
  row-by-row eating; refusing it stops the chain after ``max_chain`` rows, and the later
  directions thin the ribbon across its width instead. (Chains of 1-3 rows are ordinary
  tip erosion, which scikit-image also does.) Then the curves are straightened near the
  refused voxels (``straighten.pyx``).

Work is proportional to the object: after one 8-bytes-at-a-time scan of the (cropped)
volume, step 1 visits only a work list, in raster order, of the foreground voxels whose
3x3x3 neighbourhood changed since they last failed the candidate test in some direction
(the DIRTY bits of ``thinning_state.pxd``); the others cannot have become candidates. This
does not change the result. The work lists are NumPy arrays owned by the Python wrapper.
"""
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

import numpy as np

from vesseltree._kernels.neighbourhood cimport (
    ADJ, CENTER_BIT, EULER_HIGH, EULER_LOW, euler_change8, is_endpoint, load_tables,
    n_components, neighbourhood, vt_ctz32,
)
from vesseltree._kernels.straighten cimport mark_zone, straighten_curves
from vesseltree._kernels.thinning_state cimport (
    CHAIN_BITS, CHAIN_MAX, DIRTY_ALL, FOREGROUND, IN_TODO, N_DIRECTIONS, REFUSED, Grid,
    ThinStats, make_grid,
)

from vesseltree._kernels.neighbourhood import _neighbourhood_tests  # noqa: F401  (test hook)

__all__ = ["thin", "thin_buffer", "STATS_FIELDS", "ZONE_RADIUS"]

load_tables(ADJ, EULER_LOW, EULER_HIGH)

cdef enum Mode:
    MODE_SKIMAGE = 0            # scikit-image 0.26's re-check, faults included
    MODE_TOPOLOGY = 1           # simple-point re-check
    MODE_LENGTH = 2             # and no sweep-eaten ribbon tip, then straightening

cdef enum InputCheck:
    INPUT_OK = 0
    INPUT_NOT_BINARY = -2       # a value other than 0 and 1
    INPUT_SHELL_SET = -3        # a foreground voxel on the outer one-voxel shell

cdef enum:
    DEFAULT_ZONE_RADIUS = 2     # Chebyshev radius of the repair zone around refused voxels

ZONE_RADIUS = DEFAULT_ZONE_RADIUS
# names of the counters returned by thin() and thin_buffer(), in order (ThinStats)
STATS_FIELDS = ("refused_isolated", "refused_split", "refused_euler", "refused_ribbon_tip",
                "deleted", "subiterations", "visited", "tested", "straightened")


# work lists of one thinning, each with room for n + 1 entries (n mask voxels)
cdef struct Lists:
    Py_ssize_t* todo            # foreground voxels with a DIRTY bit, raster order
    Py_ssize_t* merged          # scratch of the merge and of the radix sort
    Py_ssize_t* fresh           # voxels made dirty in this sub-iteration
    Py_ssize_t* cand            # step-1 candidates; afterwards the skeleton voxels
    uint32_t* cand_m            # their neighbourhoods when selected
    Py_ssize_t* allv            # every mask voxel, raster order


cdef inline bint is_sweep_front(uint32_t m) noexcept nogil:
    """The centre has neighbours, all after it in raster order (bits 14-26)."""
    cdef uint32_t rest = m & ~(<uint32_t> CENTER_BIT)
    return rest != 0 and (rest & ((<uint32_t> CENTER_BIT) - 1)) == 0


cdef inline int chain_behind(const uint8_t* marks, Py_ssize_t v, const Py_ssize_t* offs,
                             uint32_t m, uint32_t m_selected) noexcept nogil:
    """Longest chain of sweep-front deletions, this sub-iteration, ending next to ``v`` and
    before it in raster order. Only neighbours deleted since ``v`` was selected (set in its
    neighbourhood then, ``m_selected``, clear now, ``m``) can hold one, so only their
    marks are read."""
    cdef uint32_t gone = m_selected & ~m & ((<uint32_t> CENTER_BIT) - 1)
    cdef int best = 0, d
    while gone:
        d = marks[v + offs[vt_ctz32(gone)]] & CHAIN_BITS
        if d > best:
            best = d
        gone &= gone - 1
    return best


cdef bint zero_shell(const uint8_t* img, const Grid* g) noexcept nogil:
    """True when the outer one-voxel shell of the volume is all background."""
    cdef Py_ssize_t z, y, x, nz = g.nz, ny = g.ny, nx = g.nx, sz = g.ny * g.nx
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


cdef InputCheck count_foreground(const uint8_t* img, const Grid* g, Py_ssize_t* n) noexcept nogil:
    """Count the foreground voxels into ``n``, checking that the image holds only 0 and 1
    and has a background shell. The volume is mostly background: 8 bytes at a time."""
    cdef Py_ssize_t i = 0, total = g.total, count = 0
    cdef uint64_t word
    cdef int k
    while i + 8 <= total:
        memcpy(&word, img + i, 8)
        if word != 0:
            if word & 0xFEFEFEFEFEFEFEFEULL:
                return INPUT_NOT_BINARY
            for k in range(8):
                count += img[i + k]
        i += 8
    while i < total:
        if img[i] > 1:
            return INPUT_NOT_BINARY
        count += img[i]
        i += 1
    if not zero_shell(img, g):
        return INPUT_SHELL_SET
    n[0] = count
    return INPUT_OK


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


cdef Py_ssize_t init_work_list(uint8_t* img, const Grid* g, Lists* L) noexcept nogil:
    """Mark every mask voxel dirty in every direction and IN_TODO; list them, in raster
    order, in ``todo`` and ``allv``. Returns their number."""
    cdef Py_ssize_t i = 0, last, ntodo = 0, total = g.total
    cdef uint64_t word
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
                img[i] = FOREGROUND | DIRTY_ALL | IN_TODO
                L.todo[ntodo] = i
                ntodo += 1
            i += 1
    memcpy(L.allv, L.todo, ntodo * sizeof(Py_ssize_t))
    return ntodo


cdef Py_ssize_t select_candidates(uint8_t* img, const Grid* g, Lists* L, Py_ssize_t ntodo, int j,
                                  ThinStats* stats) noexcept nogil:
    """Lee's step 1 for direction ``j`` over the work list: the candidates, in raster
    order, with their neighbourhoods. A voxel that fails loses its DIRTY bit for ``j``."""
    cdef Py_ssize_t i, v, ncand = 0
    cdef uint8_t dirty = 2 << j
    cdef uint32_t m
    stats.visited += ntodo
    for i in range(ntodo):
        v = L.todo[i]
        if not (img[v] & dirty):
            continue
        if (img[v + g.border[j]] & FOREGROUND) == 0:
            stats.tested += 1
            m = neighbourhood(img, v, g.rows)
            if not is_endpoint(m) and euler_change8(m) == 0 and n_components(m) == 1:
                L.cand[ncand] = v
                L.cand_m[ncand] = m
                ncand += 1
                continue
        img[v] &= ~dirty
    return ncand


cdef bint refuse(const uint8_t* img, uint8_t* marks, const Grid* g, Py_ssize_t v, uint32_t m,
                 uint32_t m_selected, int j, int mode, int max_chain, ThinStats* stats) noexcept nogil:
    """Lee's step 2 for a candidate whose neighbourhood changed since it was selected:
    True (and counted, and marked REFUSED in modes 1-2) when it must stay."""
    cdef int comps = n_components(m)
    if comps > 1:                         # scikit-image refuses these too
        stats.refused_split += 1
        return True
    if mode >= MODE_TOPOLOGY:
        if comps == 0:                    # last voxel of a component
            stats.refused_isolated += 1
            marks[v] |= REFUSED
            return True
        if euler_change8(m) != 0:         # would open a tunnel or a cavity
            stats.refused_euler += 1
            marks[v] |= REFUSED
            return True
    if (mode >= MODE_LENGTH and (img[v - g.border[j]] & FOREGROUND) == 0 and is_sweep_front(m)
            and not is_sweep_front(m_selected)
            and chain_behind(marks, v, g.offs, m, m_selected) >= max_chain):
        stats.refused_ribbon_tip += 1     # the sweep would eat a thin ribbon
        marks[v] |= REFUSED
        return True
    return False


cdef Py_ssize_t delete_candidates(uint8_t* img, uint8_t* marks, const Grid* g, Lists* L,
                                  Py_ssize_t ncand, int j, int mode, int max_chain,
                                  ThinStats* stats) noexcept nogil:
    """Lee's step 2: delete the candidates one at a time unless :func:`refuse` keeps them;
    the neighbours of a deleted voxel become dirty (new ones listed in ``fresh``). Returns
    the number of fresh voxels; ``stats.deleted`` counts the deletions."""
    cdef Py_ssize_t i, v, u, nfresh = 0
    cdef uint32_t m
    cdef int k, chain
    for i in range(ncand):
        v = L.cand[i]
        m = neighbourhood(img, v, g.rows)
        # (an unchanged neighbourhood is still simple, with the same front status)
        if m != L.cand_m[i] and refuse(img, marks, g, v, m, L.cand_m[i], j, mode, max_chain, stats):
            continue
        img[v] = 0
        if is_sweep_front(m):
            # deleted at the sweep front: remember the length of the chain it ends
            chain = min(chain_behind(marks, v, g.offs, m, L.cand_m[i]) + 1, CHAIN_MAX)
            marks[v] |= chain
        stats.deleted += 1
        for k in range(27):
            u = v + g.offs[k]
            if img[u] & FOREGROUND:
                img[u] |= DIRTY_ALL
                if not (img[u] & IN_TODO):
                    img[u] |= IN_TODO
                    L.fresh[nfresh] = u
                    nfresh += 1
    return nfresh


cdef Py_ssize_t merge_work_list(uint8_t* img, const Grid* g, Lists* L, Py_ssize_t ntodo,
                                Py_ssize_t nfresh) noexcept nogil:
    """Keep the work-list voxels still foreground and dirty, merge in the fresh ones (sorted
    into raster order); return the new length."""
    cdef Py_ssize_t i, v, w = 0, a = 0, b = 0
    for i in range(ntodo):
        v = L.todo[i]
        if (img[v] & FOREGROUND) and (img[v] & DIRTY_ALL):
            L.todo[w] = v
            w += 1
        elif img[v] & FOREGROUND:
            img[v] &= ~IN_TODO
    if nfresh == 0:
        return w
    radix_sort(L.fresh, L.merged, nfresh, g.total)
    i = 0
    while a < w or b < nfresh:
        if b >= nfresh or (a < w and L.todo[a] < L.fresh[b]):
            L.merged[i] = L.todo[a]
            a += 1
        else:
            L.merged[i] = L.fresh[b]
            b += 1
        i += 1
    memcpy(L.todo, L.merged, i * sizeof(Py_ssize_t))
    return i


cdef Py_ssize_t lee_thinning(uint8_t* img, uint8_t* marks, const Grid* g, Lists* L,
                             int mode, int max_chain, ThinStats* stats) noexcept nogil:
    """Thin ``img`` in place (passes of six sub-iterations until one pass changes nothing);
    list the skeleton voxels in ``L.cand`` (raster order) and return their number. On
    return every byte of ``img`` is 0 or FOREGROUND."""
    cdef Py_ssize_t ntodo = init_work_list(img, g, L), n = ntodo, ncand, nfresh, i, nskel = 0
    cdef Py_ssize_t deleted_before
    cdef int j, unchanged = 0
    while unchanged < N_DIRECTIONS:
        unchanged = 0
        for j in range(N_DIRECTIONS):
            stats.subiterations += 1
            ncand = select_candidates(img, g, L, ntodo, j, stats)
            deleted_before = stats.deleted
            nfresh = delete_candidates(img, marks, g, L, ncand, j, mode, max_chain, stats)
            ntodo = merge_work_list(img, g, L, ntodo, nfresh)
            if stats.deleted == deleted_before:
                unchanged += 1
    for i in range(n):
        if img[L.allv[i]] & FOREGROUND:
            img[L.allv[i]] = FOREGROUND
            L.cand[nskel] = L.allv[i]
            nskel += 1
    return nskel


cdef Py_ssize_t* _ptr(Py_ssize_t[::1] arr) except NULL:
    """Address of the first element of a non-empty intp array (kept alive by the caller)."""
    return &arr[0]


def _check_options(int mode, int max_chain):
    if mode < MODE_SKIMAGE or mode > MODE_LENGTH:
        raise ValueError(f"mode: expected 0, 1 or 2, got {mode}")
    if max_chain < 1 or max_chain > CHAIN_MAX:
        raise ValueError(f"max_chain: expected an integer in [1, {CHAIN_MAX}], got {max_chain}")


cdef object _thin_padded(uint8_t* img, Py_ssize_t nz, Py_ssize_t ny, Py_ssize_t nx, int mode,
                         int max_chain, bint straighten, int zone_radius, uint8_t* rep_out,
                         str name):
    """Thin the padded 0/1 volume at ``img`` (at least one readable byte after it) in place
    and return the counters (int64 array in the order of STATS_FIELDS). The buffers are
    NumPy arrays, freed with this frame. Raises ValueError naming ``name`` for a value
    other than 0 and 1 or a foreground shell (``img`` unchanged)."""
    cdef Grid g
    cdef ThinStats stats
    cdef Lists L
    cdef Py_ssize_t n = 0, nskel, i
    cdef Py_ssize_t* work_ptr
    cdef InputCheck rc
    make_grid(&g, nz, ny, nx)
    memset(&stats, 0, sizeof(ThinStats))
    with nogil:
        rc = count_foreground(img, &g, &n)
    if rc == INPUT_NOT_BINARY:
        raise ValueError(f"{name}: expected only 0 and 1 values")
    if rc == INPUT_SHELL_SET:
        raise ValueError(f"{name}: expected a background (0) one-voxel shell on every face "
                         "(pad the volume by one voxel)")
    marks_arr = np.zeros(g.total, dtype=np.uint8)
    cdef uint8_t[::1] marks = marks_arr
    cdef uint8_t[::1] in_mask
    lists = [np.empty(n + 1, dtype=np.intp) for _ in range(5)]
    cand_m = np.empty(n + 1, dtype=np.uint32)
    cdef uint32_t[::1] cand_m_view = cand_m
    L.todo, L.merged, L.fresh = _ptr(lists[0]), _ptr(lists[1]), _ptr(lists[2])
    L.cand, L.allv = _ptr(lists[3]), _ptr(lists[4])
    L.cand_m = &cand_m_view[0]
    with nogil:
        nskel = lee_thinning(img, &marks[0], &g, &L, mode, max_chain, &stats)
        if rep_out != NULL:
            for i in range(n):
                if marks[L.allv[i]] & REFUSED:
                    rep_out[L.allv[i]] = 1
    refusals = stats.refused_isolated + stats.refused_euler + stats.refused_ribbon_tip
    if mode == MODE_LENGTH and straighten and nskel > 0 and (refusals > 0 or zone_radius < 0):
        work = np.empty(2 * nskel + 2, dtype=np.intp)
        work_ptr = _ptr(work)
        in_mask = np.zeros(g.total // 8 + 1, dtype=np.uint8)
        with nogil:
            mark_zone(&marks[0], &in_mask[0], &g, L.allv, n, zone_radius, L.fresh)
            stats.straightened = straighten_curves(img, &marks[0], &in_mask[0], &g, L.cand,
                                                   nskel, work_ptr)
    return np.array([stats.refused_isolated, stats.refused_split, stats.refused_euler,
                     stats.refused_ribbon_tip, stats.deleted, stats.subiterations,
                     stats.visited, stats.tested, stats.straightened], dtype=np.int64)


def thin(uint8_t[:, :, ::1] img not None, int mode=MODE_LENGTH, int max_chain=4,
         bint straighten=True, int zone_radius=DEFAULT_ZONE_RADIUS):
    """Thin a padded binary volume in place (Lee et al. 1994).

    Parameters
    ----------
    img : uint8 array (nz, ny, nx), C-contiguous
        Values 0 and 1 only, and a zero one-voxel shell on every face (checked: ValueError
        otherwise, ``img`` unchanged; the public ``vesseltree.skeletonize`` pads).
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
        a voxel the re-check refused (default 2); negative: everywhere (for comparisons).

    Returns
    -------
    stats : int64 array (9,)
        The counters named by ``STATS_FIELDS``, in that order: re-check refusals because
        the voxel had become isolated, would split its neighbourhood (scikit-image refuses
        these too), would change the Euler characteristic, was a sweep-eaten ribbon tip;
        deleted voxels; sub-iterations; foreground voxels visited in step 1; of them,
        border voxels whose neighbourhood was tested (neither depending on the background
        around the object); curve straightening moves.
    """
    cdef Py_ssize_t nz = img.shape[0], ny = img.shape[1], nx = img.shape[2]
    cdef Py_ssize_t total = nz * ny * nx
    _check_options(mode, max_chain)
    if nz < 3 or ny < 3 or nx < 3:
        return np.zeros(len(STATS_FIELDS), dtype=np.int64)
    # private copy with slack after the end (the neighbourhood loads read past the last voxel)
    arr = np.asarray(img)
    work = np.zeros(total + 8, dtype=np.uint8)
    work[:total] = arr.reshape(-1)
    cdef uint8_t[::1] w = work
    stats = _thin_padded(&w[0], nz, ny, nx, mode, max_chain, straighten, zone_radius, NULL, "img")
    arr[...] = work[:total].reshape(nz, ny, nx)
    return stats


def thin_buffer(uint8_t[::1] buf not None, shape, int mode=MODE_LENGTH, int max_chain=4,
                bint straighten=True, int zone_radius=DEFAULT_ZONE_RADIUS, repaired=None):
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
    cdef uint8_t[::1] rep_view
    cdef uint8_t* rep_ptr = NULL
    _check_options(mode, max_chain)
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
        return np.zeros(len(STATS_FIELDS), dtype=np.int64)
    return _thin_padded(&buf[0], nz, ny, nx, mode, max_chain, straighten, zone_radius,
                        rep_ptr, "buf")

# cython: language_level=3
"""Curve straightening after the thinning (see straighten.pyx)."""
from libc.stdint cimport uint8_t

from vesseltree._kernels.thinning_state cimport Grid

cdef void mark_zone(uint8_t* marks, uint8_t* in_mask, const Grid* g,
                    const Py_ssize_t* mask_voxels, Py_ssize_t n, int radius,
                    Py_ssize_t* scratch) noexcept nogil

cdef Py_ssize_t straighten_curves(uint8_t* img, const uint8_t* marks, const uint8_t* in_mask,
                                  const Grid* g, const Py_ssize_t* skel, Py_ssize_t nskel,
                                  Py_ssize_t* work) noexcept nogil

"""The Numba decorator of kernel helpers that only read and write their caller's arrays.

A helper called once per voxel or per branch from an ``@njit`` kernel pays, by default,
Numba's atomic reference counting on every array argument, at every call (and
``inline="always"`` does not remove it). A helper that creates, stores and returns no array
needs none of it: :data:`borrowing` compiles it without reference counting (Numba's
``_nrt=False``), so a call costs a plain function call. Such a helper must not allocate
(``np.empty``, ``copy``, ...): Numba refuses to compile that without the runtime.
"""
from __future__ import annotations

from numba import njit

__all__ = ["borrowing"]

#: ``@borrowing`` compiles a helper with ``njit(cache=True)`` and no reference counting
borrowing = njit(cache=True, _nrt=False)

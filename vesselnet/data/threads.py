"""torch's CPU thread count kept across :mod:`vesseltree`'s parallel Numba kernels.

vesseltree's parallel kernels (the branch radii and nearest-branch labels of
:func:`vesseltree.analyze`) run on Numba's OpenMP threading layer, which shares the OpenMP
runtime with torch. When Numba starts that layer (at the first parallel kernel of a process)
it sets the runtime's thread count of the calling thread to Numba's own (every core), over
``OMP_NUM_THREADS`` and :func:`torch.set_num_threads`: torch then runs its intra-op work on
that many threads, and a torch imported later starts from that count.

:func:`keep_torch_threads` wraps the calls from vesselnet into vesseltree's analysis (the
scale targets of :mod:`vesselnet.data.targets`, the ground truth of a cross-validation, the
demo's analysis) and sets torch's count back afterwards. When torch is installed but not yet
imported, it is imported first, so that its count is the one it starts with before Numba
changes the runtime. Without torch there is nothing to keep.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

__all__ = ["keep_torch_threads"]


def _torch():
    """The torch module, imported when needed; None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


@contextmanager
def keep_torch_threads() -> Iterator[None]:
    """Run the block, then set torch's CPU thread count back to what it was before it.

    Examples
    --------
    >>> with keep_torch_threads():  # doctest: +SKIP
    ...     tree = vesseltree.analyze(mask, spacing)
    """
    torch = _torch()
    before = None if torch is None else torch.get_num_threads()
    try:
        yield
    finally:
        if before is not None and torch.get_num_threads() != before:
            torch.set_num_threads(before)

"""Digital topology of 3D binary masks: components, cavities, tunnels, Euler characteristic.

Conventions: the (26, 6) pair of digital topology. Foreground voxels are 26-connected (share
a face, an edge or a corner) and are seen as closed unit cubes; the background is
6-connected (shares a face). The volume is surrounded by background.

For such a set X the Betti numbers are

* ``b0`` = number of 26-connected components of X;
* ``b2`` = number of cavities: 6-connected components of the background that do not reach
  the outside of the volume;
* ``b1`` = number of tunnels (independent loops, "handles"), from the Euler-Poincare formula
  ``chi = b0 - b1 + b2``.

The Euler characteristic ``chi`` is computed exactly by counting the cells of the union of
closed voxel cubes: ``chi = vertices - edges + faces - cubes``. A solid ball has
(b0, b1, b2) = (1, 0, 0), a solid torus (1, 1, 0), a hollow sphere (1, 0, 1).

These are used to check that thinning (``vesseltree.skeletonize``) keeps the topology; a
skeleton's tunnels are the loops of its branch graph.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage as ndi

from ._validation import check_mask

__all__ = ["count_components", "count_cavities", "euler_characteristic", "count_tunnels",
           "betti_numbers"]

_FULL26 = np.ones((3, 3, 3), dtype=bool)


def _cropped(mask) -> np.ndarray:
    """Validated mask cropped to its bounding box plus a one-voxel background shell."""
    arr = check_mask(mask, "mask")
    if not arr.any():
        return np.zeros((1, 1, 1), dtype=bool)
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(arr.any(axis=other))
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return np.pad(arr[tuple(box)], 1)


def count_components(mask: ArrayLike) -> int:
    """Number of 26-connected components of the foreground of a 3D mask (``b0``).

    Parameters
    ----------
    mask : array_like, shape (z, y, x)
        Binary mask (bool or 0/1); not modified.

    Returns
    -------
    int
        0 for an empty mask.

    Raises
    ------
    TypeError, ValueError
        Naming ``mask`` if it is not a 3D binary array.
    """
    arr = _cropped(mask)
    return int(ndi.label(arr, structure=_FULL26)[1])


def count_cavities(mask: ArrayLike) -> int:
    """Number of cavities (``b2``): 6-connected background components enclosed by the foreground.

    The volume is surrounded by background, so background touching the array border is
    never a cavity.

    Parameters
    ----------
    mask : array_like, shape (z, y, x)
        Binary mask (bool or 0/1); not modified.

    Returns
    -------
    int

    Raises
    ------
    TypeError, ValueError
        Naming ``mask`` if it is not a 3D binary array.
    """
    arr = _cropped(mask)
    # the one-voxel shell makes the outside a single background component
    return int(ndi.label(~arr)[1]) - 1


def _any_window(arr: np.ndarray, span: tuple[int, int, int]) -> np.ndarray:
    """OR of ``arr`` over every window of size ``span`` (each entry 1 or 2)."""
    out = arr
    for axis, s in enumerate(span):
        if s == 2:
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[axis] = slice(0, -1)
            hi[axis] = slice(1, None)
            out = out[tuple(lo)] | out[tuple(hi)]
    return out


def euler_characteristic(mask: ArrayLike) -> int:
    """Euler characteristic of the foreground as a union of closed unit cubes (26-connectivity).

    Computed exactly as vertices - edges + faces - cubes of the cubical complex: a grid
    vertex, edge or face belongs to the set when any voxel containing it is foreground.

    Parameters
    ----------
    mask : array_like, shape (z, y, x)
        Binary mask (bool or 0/1); not modified.

    Returns
    -------
    int
        ``chi = b0 - b1 + b2``; 0 for an empty mask.

    Raises
    ------
    TypeError, ValueError
        Naming ``mask`` if it is not a 3D binary array.
    """
    arr = _cropped(mask)  # zero shell: every cell of a foreground voxel has all its windows
    cubes = int(arr.sum())
    vertices = int(_any_window(arr, (2, 2, 2)).sum())
    edges = 0
    faces = 0
    for axis in range(3):
        # an edge along `axis` is shared by the 4 voxels around it (span 2 in the other axes)
        span_e = tuple(1 if a == axis else 2 for a in range(3))
        # a face normal to `axis` is shared by the 2 voxels on either side of it
        span_f = tuple(2 if a == axis else 1 for a in range(3))
        edges += int(_any_window(arr, span_e).sum())
        faces += int(_any_window(arr, span_f).sum())
    return vertices - edges + faces - cubes


def count_tunnels(mask: ArrayLike) -> int:
    """Number of tunnels (``b1``, independent loops): components + cavities - Euler characteristic.

    Parameters
    ----------
    mask : array_like, shape (z, y, x)
        Binary mask (bool or 0/1); not modified.

    Returns
    -------
    int

    Raises
    ------
    TypeError, ValueError
        Naming ``mask`` if it is not a 3D binary array.
    """
    return betti_numbers(mask)[1]


def betti_numbers(mask: ArrayLike) -> tuple[int, int, int]:
    """Betti numbers of the foreground, (26, 6) digital topology (module docstring).

    Parameters
    ----------
    mask : array_like, shape (z, y, x)
        Binary mask (bool or 0/1); not modified.

    Returns
    -------
    (b0, b1, b2) : tuple of 3 ints
        Components, tunnels, cavities; e.g. (1, 1, 0) for a solid torus.

    Raises
    ------
    TypeError, ValueError
        Naming ``mask`` if it is not a 3D binary array.
    """
    b0 = count_components(mask)
    b2 = count_cavities(mask)
    chi = euler_characteristic(mask)
    return b0, b0 + b2 - chi, b2

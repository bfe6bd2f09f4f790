"""Tests for vesseltree.topology: components, cavities, tunnels, Euler characteristic.

References: analytic shapes with known Betti numbers, scikit-image's ``euler_number``
(connectivity 3 = 26-connectivity), and brute-force cell enumeration / union-find written
here independently of the window-based implementation.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from skimage.measure import euler_number

from vesseltree.topology import (
    betti_numbers,
    count_cavities,
    count_components,
    count_tunnels,
    euler_characteristic,
)


# ----------------------------------------------------------------------------- references
def brute_euler(mask: np.ndarray) -> int:
    """chi = V - E + F - C of the union of closed unit cubes, enumerating cells with sets."""
    verts, edges, faces = set(), set(), set()
    cubes = 0
    for z, y, x in zip(*np.nonzero(mask)):
        cubes += 1
        for dz, dy, dx in itertools.product((0, 1), repeat=3):
            verts.add((2 * (z + dz), 2 * (y + dy), 2 * (x + dx)))
        # cells in doubled coordinates: an odd coordinate spans the cube along that axis
        for axis in range(3):
            others = [a for a in range(3) if a != axis]
            for d1, d2 in itertools.product((0, 1), repeat=2):
                c = [2 * z, 2 * y, 2 * x]
                c[axis] += 1
                c[others[0]] += 2 * d1
                c[others[1]] += 2 * d2
                edges.add(tuple(c))
            for d in (0, 1):
                c = [2 * z + 1, 2 * y + 1, 2 * x + 1]
                c[axis] = 2 * [z, y, x][axis] + 2 * d
                faces.add(tuple(c))
    return len(verts) - len(edges) + len(faces) - cubes


def brute_components(mask: np.ndarray) -> int:
    """26-connected components by union-find over voxel pairs."""
    pts = [tuple(p) for p in np.argwhere(mask)]
    parent = {p: p for p in pts}

    def find(p):
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for p in pts:
        for d in itertools.product((-1, 0, 1), repeat=3):
            q = (p[0] + d[0], p[1] + d[1], p[2] + d[2])
            if q in parent:
                parent[find(p)] = find(q)
    return len({find(p) for p in pts})


def grid(n=21):
    return np.mgrid[-(n // 2):n // 2 + 1, -(n // 2):n // 2 + 1, -(n // 2):n // 2 + 1]


# ----------------------------------------------------------------------------- analytic shapes
def test_ball_shell_torus():
    z, y, x = grid()
    r = np.sqrt(x**2 + y**2 + z**2)
    assert betti_numbers(r < 7) == (1, 0, 0)
    assert betti_numbers((r < 8) & (r > 5)) == (1, 0, 1)  # hollow sphere: one cavity
    ring = np.sqrt(x**2 + y**2)
    assert betti_numbers((ring - 6) ** 2 + z**2 < 2.5**2) == (1, 1, 0)  # solid torus


def test_two_linked_rings_and_disjoint_pieces():
    z, y, x = grid(31)
    a = (np.sqrt(x**2 + y**2) - 7) ** 2 + z**2 < 2.0**2             # ring in the xy plane
    b = (np.sqrt((x - 7) ** 2 + z**2) - 7) ** 2 + y**2 < 2.0**2     # ring in the xz plane
    assert not (a & b).any()
    assert betti_numbers(a | b) == (2, 2, 0)


def test_cube_wireframe_has_five_loops():
    # the 12 edges of a cube: a graph with 8 vertices and 12 edges, 12 - 8 + 1 = 5 loops
    m = np.zeros((12, 12, 12), bool)
    lo, hi = 1, 10
    for axis in range(3):
        for a, b in itertools.product((lo, hi), repeat=2):
            idx = [a, b]
            sl = [None, None, None]
            others = [k for k in range(3) if k != axis]
            sl[axis] = slice(lo, hi + 1)
            sl[others[0]] = idx[0]
            sl[others[1]] = idx[1]
            m[tuple(sl)] = True
    assert betti_numbers(m) == (1, 5, 0)


def test_plate_with_holes():
    m = np.zeros((3, 20, 30), bool)
    m[1, 2:18, 2:28] = True
    for k in range(4):  # 4 separate square holes
        m[1, 5:8, 4 + 6 * k:7 + 6 * k] = False
    assert count_tunnels(m) == 4
    assert count_components(m) == 1
    assert count_cavities(m) == 0


def test_diagonal_contact_is_connected_in_26_not_for_background():
    m = np.zeros((4, 4, 4), bool)
    m[1, 1, 1] = m[2, 2, 2] = True  # corner contact only
    assert count_components(m) == 1
    assert euler_characteristic(m) == 1
    # a hollow 3x3x3 cube: the centre is a 6-connected background cavity
    c = np.ones((5, 5, 5), bool)
    c[0, :, :] = c[-1, :, :] = c[:, 0, :] = c[:, -1, :] = c[:, :, 0] = c[:, :, -1] = False
    c[2, 2, 2] = False
    assert betti_numbers(c) == (1, 0, 1)


def test_empty_and_touching_the_border():
    assert betti_numbers(np.zeros((3, 4, 5), bool)) == (0, 0, 0)
    full = np.ones((4, 5, 6), bool)  # touching every face: the outside still surrounds it
    assert betti_numbers(full) == (1, 0, 0)


# ----------------------------------------------------------------------------- peers / brute force
@given(st.integers(0, 2**32 - 1), st.floats(0.15, 0.75))
def test_euler_matches_skimage_and_brute_force(seed, density):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(2, 8, 3))
    m = rng.random(shape) < density
    chi = euler_characteristic(m)
    assert chi == euler_number(m, connectivity=3)
    assert chi == brute_euler(m)
    assert count_components(m) == brute_components(m)


@given(st.integers(0, 2**32 - 1))
def test_betti_invariant_under_axis_permutation_and_flip(seed):
    rng = np.random.default_rng(seed)
    m = rng.random(tuple(rng.integers(3, 9, 3))) < 0.4
    ref = betti_numbers(m)
    perm = tuple(rng.permutation(3))
    assert betti_numbers(np.transpose(m, perm)) == ref
    assert betti_numbers(m[::-1, :, ::-1]) == ref


def test_input_not_modified_and_dtypes():
    rng = np.random.default_rng(1)
    m = rng.random((6, 7, 8)) < 0.5
    for arr in (m, m.astype(np.uint8), m.astype(float), np.asfortranarray(m)):
        before = arr.copy()
        assert betti_numbers(arr) == betti_numbers(m)
        np.testing.assert_array_equal(arr, before)


@pytest.mark.parametrize("func", [count_components, count_cavities, count_tunnels,
                                  euler_characteristic, betti_numbers])
@pytest.mark.parametrize("bad, exc", [
    (np.zeros((4, 4), bool), ValueError),
    (np.full((3, 3, 3), np.nan), ValueError),
    (np.full((3, 3, 3), 2), ValueError),
    (np.array([["a"]], dtype=object), TypeError),
])
def test_bad_input_names_mask(func, bad, exc):
    with pytest.raises(exc, match="mask"):
        func(bad)

"""Every vesseltree warning names the caller's line, however deep it is raised.

A warning attributed to a frame inside vesseltree points the user at our code, and Python's
default filters hide a ``DeprecationWarning`` that is not attributed to ``__main__``. Each
call below warns from a different depth (the argument checks, the per-structure path, the
measurement chain, the scale methods, the labels); each warning must carry this file's name.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import vesseltree as vt
from vesseltree.synthetic import tube


def _capsule() -> np.ndarray:
    return tube((24, 24, 40), (12, 12, 6), (12, 12, 34), 3.0)


def _pair() -> dict:
    m = _capsule()
    return {"a": m, "b": np.roll(m, 10, axis=0) & ~m}


def _thick_skeleton():
    m = _capsule()
    skel = np.zeros_like(m)
    skel[12, 11:13, 8:32] = True  # two voxels wide
    return vt.analyze(m, skeleton=skel)


CALLS = {
    "analyze n_scales= (one mask)": (lambda: vt.analyze(_capsule(), n_scales=2), DeprecationWarning),
    "analyze n_scales= (structures)": (lambda: vt.analyze(_pair(), n_scales=2), DeprecationWarning),
    "analyze prune=": (lambda: vt.analyze(_capsule(), prune=False), DeprecationWarning),
    "empty mask": (lambda: vt.analyze(np.zeros((4, 4, 4), bool)), UserWarning),
    "anisotropy": (lambda: vt.analyze(_capsule(), spacing=(4.0, 1.0, 1.0)), UserWarning),
    "thick user skeleton": (_thick_skeleton, UserWarning),
    "m reaching along": (lambda: vt.analyze(_capsule(), m=200), UserWarning),
    "fewer branches than scales": (lambda: vt.analyze(_capsule()), UserWarning),
    "VesselTree.scale_masks n_scales=": (
        lambda: vt.analyze(_capsule(), scale_rule=vt.ScaleRule.fixed([1.0])).scale_masks(
            n_scales=None, method=[2.0]), DeprecationWarning),
    "labels without seeds": (
        lambda: vt.nearest_branch_labels(_capsule(), np.zeros((24, 24, 40), np.int32)),
        UserWarning),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_warning_points_at_the_callers_line(name):
    call, category = CALLS[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    ours = [w for w in caught if issubclass(w.category, category)]
    assert ours, f"{name}: no {category.__name__} raised"
    for w in ours:
        assert w.filename == __file__, f"{name}: {w.message} attributed to {w.filename}:{w.lineno}"

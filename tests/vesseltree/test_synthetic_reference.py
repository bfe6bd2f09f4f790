"""Reference outputs of the phantom generator, recorded from the single-module
implementation (``vesseltree/synthetic.py`` at commit 0959c75) before it was split into the
``vesseltree.synthetic`` package: same seed, same arrays and tables, bit for bit.

The hashes were computed by the old code, not by the code under test, so they check
independently that the refactor changed no behaviour. They depend on NumPy's random
streams and SciPy's Gaussian filter, so they are compared only under the NumPy/SciPy
versions they were recorded with (skipped, with the reason, elsewhere).
"""
from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
import scipy

from vesseltree.synthetic import make_phantom, rasterize_segments, render_ct, torus, tube

RECORDED_WITH = {"numpy": "2.4", "scipy": "1.17"}

CASES = {
    "default_small": dict(shape=(40, 64, 64), spacing=(1.0, 0.8, 0.8), seed=4, root_radius=3.0),
    "loops": dict(shape=(48, 80, 80), spacing=1.0, seed=2, loops=2, root_radius=4.0),
    "too_many_loops": dict(shape=(30, 40, 40), spacing=(1.0, 1.0, 1.0), seed=0, loops=50),
    "straight_aniso": dict(shape=(48, 40, 56), spacing=(0.7, 1.0, 0.9), seed=7, curvature=0.0,
                           taper=0.0, supersample=1, branch_angle=70.0),
    "murray": dict(shape=(64, 64, 64), spacing=1.0, seed=0, depth=4, murray_exponent=2.7,
                   asymmetry=0.8, angle_jitter=0.0, length_ratio=(4.0, 6.0), max_tries=3),
}

# sha256 prefixes (see _digest) of the old implementation's outputs
REFERENCE = {
    "default_small": dict(mask="ae5d60019810c213", segment_id="dad49d42670c2f7f",
                          radius="b71851a0771088c5", ct="9846c6baf2713062",
                          segments="a1b9b23c5b5142ce", pieces="b1f7931e8a43e443",
                          n_segments=15, n_loops=0),
    "loops": dict(mask="efb4577edff56b61", segment_id="25921dd6cbe6a0b2",
                  radius="5cc20a516c870703", ct="fdfc1ba275acabbd",
                  segments="90d7862cb1d44cf1", pieces="59a301dd3e2a6975",
                  n_segments=23, n_loops=2),
    "too_many_loops": dict(mask="e16ec9cb459b3253", segment_id="514f3504c20ab4f5",
                           radius="81539cfb1e6e836f", ct="a6aa6d4d000625d2",
                           segments="173038a35b365f01", pieces="e6586e444b35cd50",
                           n_segments=5, n_loops=0),
    "straight_aniso": dict(mask="58a653ba8023ff55", segment_id="4d66e7e61098d401",
                           radius="be7d6baf47a6ace9", ct="c02e83acf35afe6b",
                           segments="5d67cf78a22950d5", pieces="707787028a459245",
                           n_segments=7, n_loops=0),
    "murray": dict(mask="6b720075f7738ec0", segment_id="74c562f921305439",
                   radius="335c292512eaa063", ct="75af6ab5c9fbff07",
                   segments="bcaaf8846649efaa", pieces="984e5df7d1d42ab8",
                   n_segments=11, n_loops=0),
}
PRIMITIVES = {"tube": "e7ddee8cf3782eb9", "torus": "4ab793a0cc3d2471",
              "segments": "69f85860c867570c", "ct_bare": "0918dd7204ef91ef"}


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


pytestmark = pytest.mark.skipif(
    (_minor(np.__version__), _minor(scipy.__version__))
    != (RECORDED_WITH["numpy"], RECORDED_WITH["scipy"]),
    reason=f"reference hashes recorded with numpy {RECORDED_WITH['numpy']} and scipy "
    f"{RECORDED_WITH['scipy']} (random streams and filters may differ in other versions)",
)


def _digest(*arrays) -> str:
    """sha256 prefix of the arrays' dtypes, shapes and bytes."""
    m = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        m.update(str((a.dtype.str, a.shape)).encode())
        m.update(a.tobytes())
    return m.hexdigest()[:16]


def _table_digest(df) -> str:
    return _digest(*[df[c].to_numpy() for c in df.columns])


@pytest.mark.parametrize("name", list(CASES))
def test_phantom_and_ct_identical_to_the_old_implementation(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # too_many_loops warns
        p = make_phantom(**CASES[name])
    ct = render_ct(p, seed=3, tumours=2)
    got = dict(
        mask=_digest(p.mask), segment_id=_digest(p.segment_id), radius=_digest(p.radius),
        ct=_digest(ct.image, ct.liver, ct.body, ct.tumours),
        segments=_table_digest(p.segments), pieces=_table_digest(p.pieces),
        n_segments=len(p.segments), n_loops=int(p.segments["loop"].sum()),
    )
    assert got == REFERENCE[name]


def test_primitives_identical_to_the_old_implementation():
    got = {
        "tube": _digest(tube((20, 24, 28), (3, 4, 5), (15, 18, 20), 3.0, (1.0, 0.9, 0.8),
                             radius_end=2.0, caps="round", supersample=3)),
        "torus": _digest(torus((30, 30, 30), (15, 14, 16), 9.0, 3.0, 1.0, axis=1, supersample=2)),
        "segments": _digest(*rasterize_segments(
            (30, 32, 34), [[5, 5, 5], [10, 20, 8]], [[20, 25, 28], [25, 6, 30]], [3.0, 2.0],
            [1.5, 2.5], (1.0, 0.9, 1.1), caps="flat", supersample=4)),
    }
    bare = np.zeros((24, 30, 30), bool)
    bare[8:16, 10:20, 12:18] = True
    got["ct_bare"] = _digest(render_ct(bare, (1.2, 0.8, 0.8), seed=5, blur_mm=0.0, tumours=1).image)
    assert got == PRIMITIVES

"""The thinning kernel (vesseltree._kernels.thinning) against reference outputs recorded
from its previous implementation (one module with malloc'ed buffers and the working state
packed in the image bytes, commit 0959c75), before it was split into the neighbourhood,
thinning and straightening modules: same skeletons, same repaired voxels, same counters,
for every re-check mode, with and without straightening, repair zone or not.

The hashes were computed by the old kernel, not by the code under test. The inputs come
from the phantom generator and NumPy's random generator, so the comparison runs only under
the NumPy/SciPy versions of the recording (skipped with the reason elsewhere).
"""
from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
import scipy

from vesseltree._kernels.thinning import STATS_FIELDS, ZONE_RADIUS, thin, thin_buffer
from vesseltree.synthetic import make_phantom, torus, tube

RECORDED_WITH = ("2.4", "1.17")  # numpy, scipy

# "volume:options" -> (skeleton digest, repaired digest, counters in STATS_FIELDS order)
REFERENCE = {
    "ph4:mode=0": ("dfb11e4a225f4e9d", "c6d17b04b8504e5a", [0, 39, 0, 0, 2358, 18, 11519, 3184, 0]),
    "ph4:mode=1": ("dfb11e4a225f4e9d", "c6d17b04b8504e5a", [0, 39, 0, 0, 2358, 18, 11519, 3184, 0]),
    "ph4:mode=2": ("88bda1809468e08b", "eed0d375326db619", [0, 38, 0, 9, 2358, 18, 11539, 3199, 4]),
    "ph4:mode=2,straighten=False": ("1639921d0a39d988", "eed0d375326db619", [0, 38, 0, 9, 2358, 18, 11539, 3199, 0]),
    "ph4:mode=2,zone_radius=-1": ("f3efda72e83a4bf6", "eed0d375326db619", [0, 38, 0, 9, 2358, 18, 11539, 3199, 12]),
    "ph4:mode=2,max_chain=2": ("d7bd2cb4650ba5a0", "634a5f773d4da9d7", [0, 37, 0, 11, 2358, 18, 11540, 3201, 5]),
    "ph_loops:mode=0": ("cbc7b7dff50488d9", "a2021b00c69fb6bd", [0, 72, 0, 0, 4352, 24, 21192, 5870, 0]),
    "ph_loops:mode=1": ("cbc7b7dff50488d9", "a2021b00c69fb6bd", [0, 72, 0, 0, 4352, 24, 21192, 5870, 0]),
    "ph_loops:mode=2": ("4bce9a45abaed1a8", "54fb3d13be7a2605", [0, 71, 0, 11, 4352, 24, 21208, 5883, 7]),
    "ph_loops:mode=2,straighten=False": ("1db0307ecee6d8f6", "54fb3d13be7a2605", [0, 71, 0, 11, 4352, 24, 21208, 5883, 0]),
    "ph_loops:mode=2,zone_radius=-1": ("6b9298689682fc72", "54fb3d13be7a2605", [0, 71, 0, 11, 4352, 24, 21208, 5883, 30]),
    "ph_loops:mode=2,max_chain=2": ("9740623fdc51edb9", "06a305225a3c36a7", [0, 66, 0, 27, 4352, 24, 21216, 5915, 17]),
    "tube_off:mode=0": ("f446897e1070050f", "f446897e1070050f", [0, 0, 0, 0, 1654, 18, 8460, 1654, 0]),
    "tube_off:mode=1": ("a3e7277528eb650c", "a3e7277528eb650c", [1, 0, 0, 0, 1653, 18, 8466, 1660, 0]),
    "tube_off:mode=2": ("f8394f1903c60c50", "0a2f5e3d16549163", [0, 35, 0, 16, 1611, 18, 8726, 1864, 7]),
    "tube_off:mode=2,straighten=False": ("66c6acff6f4d7c41", "0a2f5e3d16549163", [0, 35, 0, 16, 1611, 18, 8726, 1864, 0]),
    "tube_off:mode=2,zone_radius=-1": ("f8394f1903c60c50", "0a2f5e3d16549163", [0, 35, 0, 16, 1611, 18, 8726, 1864, 7]),
    "tube_off:mode=2,max_chain=2": ("5faa2df0f63ee084", "87c0c29e7d6273bc", [0, 33, 0, 24, 1609, 18, 8742, 1892, 11]),
    "torus:mode=0": ("53df7b332e1770e3", "33bffa2a57c237d3", [0, 0, 0, 0, 3544, 24, 22114, 3892, 0]),
    "torus:mode=1": ("53df7b332e1770e3", "33bffa2a57c237d3", [0, 0, 0, 0, 3544, 24, 22114, 3892, 0]),
    "torus:mode=2": ("53df7b332e1770e3", "cf95347c1a7d5174", [0, 2, 0, 4, 3544, 24, 22126, 3898, 0]),
    "torus:mode=2,straighten=False": ("53df7b332e1770e3", "cf95347c1a7d5174", [0, 2, 0, 4, 3544, 24, 22126, 3898, 0]),
    "torus:mode=2,zone_radius=-1": ("53df7b332e1770e3", "cf95347c1a7d5174", [0, 2, 0, 4, 3544, 24, 22126, 3898, 0]),
    "torus:mode=2,max_chain=2": ("53df7b332e1770e3", "1bd83b7de5a58b65", [0, 2, 0, 8, 3544, 24, 22132, 3902, 0]),
    "random:mode=0": ("9e153edd82fd7e0c", "08f630e093b67810", [0, 200, 0, 0, 3880, 36, 38435, 26831, 0]),
    "random:mode=1": ("9e153edd82fd7e0c", "08f630e093b67810", [0, 200, 0, 0, 3880, 36, 38435, 26831, 0]),
    "random:mode=2": ("9e153edd82fd7e0c", "7f5f95d53e2eb119", [0, 200, 0, 1, 3880, 36, 38436, 26832, 0]),
    "random:mode=2,straighten=False": ("9e153edd82fd7e0c", "7f5f95d53e2eb119", [0, 200, 0, 1, 3880, 36, 38436, 26832, 0]),
    "random:mode=2,zone_radius=-1": ("a9dc84053cbc731e", "7f5f95d53e2eb119", [0, 200, 0, 1, 3880, 36, 38436, 26832, 10]),
    "random:mode=2,max_chain=2": ("30ef57dae1fc93ff", "24dd520bae66eb73", [0, 197, 0, 10, 3878, 36, 38444, 26840, 1]),
}

OPTIONS = {
    "mode=0": dict(mode=0), "mode=1": dict(mode=1), "mode=2": dict(mode=2),
    "mode=2,straighten=False": dict(mode=2, straighten=False),
    "mode=2,zone_radius=-1": dict(mode=2, zone_radius=-1),
    "mode=2,max_chain=2": dict(mode=2, max_chain=2),
}


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


_SAME_VERSIONS = (_minor(np.__version__), _minor(scipy.__version__)) == RECORDED_WITH
reference = pytest.mark.skipif(
    not _SAME_VERSIONS,
    reason=f"reference outputs recorded with numpy {RECORDED_WITH[0]} and scipy "
    f"{RECORDED_WITH[1]} (the input volumes depend on their random streams)",
)


def _digest(a) -> str:
    a = np.ascontiguousarray(a)
    m = hashlib.sha256()
    m.update(str((a.dtype.str, a.shape)).encode())
    m.update(a.tobytes())
    return m.hexdigest()[:16]


def _volume(name: str) -> np.ndarray:
    if name == "ph4":
        return make_phantom((40, 64, 64), (1.0, 0.8, 0.8), seed=4, root_radius=3.0).mask
    if name == "ph_loops":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return make_phantom((48, 80, 80), seed=2, loops=2, root_radius=4.0).mask
    if name == "tube_off":
        return tube((30, 30, 60), (14.3, 15.4, 4), (14.3, 15.4, 55), 3.2, supersample=2)
    if name == "torus":
        return torus((24, 40, 40), (12, 20, 20), 12.0, 4.0, axis=0)
    return np.random.default_rng(0).random((20, 22, 24)) < 0.55


@reference
@pytest.mark.parametrize("volume", ["ph4", "ph_loops", "tube_off", "torus", "random"])
def test_kernel_reproduces_the_previous_implementation(volume):
    padded = np.pad(_volume(volume).astype(np.uint8), 1)
    for label, kwargs in OPTIONS.items():
        work = padded.copy()
        stats = thin(work, **kwargs)
        buf = np.zeros(padded.size + 8, np.uint8)
        buf[:padded.size] = padded.ravel()
        repaired = np.zeros(padded.shape, np.uint8)
        stats_buf = thin_buffer(buf, padded.shape, repaired=repaired, **kwargs)
        assert np.array_equal(buf[:padded.size].reshape(padded.shape), work)
        np.testing.assert_array_equal(stats, stats_buf)
        got = (_digest(work), _digest(repaired), stats.tolist())
        assert got == REFERENCE[f"{volume}:{label}"], label


def test_counters_are_named_and_consistent():
    mask = tube((20, 20, 40), (9.6, 10.3, 3), (9.6, 10.3, 36), 3.0, supersample=2)
    padded = np.pad(mask.astype(np.uint8), 1)
    work = padded.copy()
    stats = dict(zip(STATS_FIELDS, thin(work)))
    assert len(STATS_FIELDS) == 9 and ZONE_RADIUS == 2
    assert stats["deleted"] == padded.sum() - work.sum()
    assert stats["tested"] <= stats["visited"]
    assert stats["subiterations"] % 6 == 0 and stats["subiterations"] >= 6
    assert set(np.unique(work)) <= {0, 1} and not (work & ~padded).any()
    # scikit-image's rule refuses nothing for a topology reason, so it never straightens
    skimage_stats = dict(zip(STATS_FIELDS, thin(padded.copy(), mode=0)))
    assert skimage_stats["refused_isolated"] == skimage_stats["refused_euler"] == 0
    assert skimage_stats["refused_ribbon_tip"] == skimage_stats["straightened"] == 0


def test_failed_precondition_leaves_the_buffer_untouched():
    vol = np.zeros((6, 6, 6), np.uint8)
    vol[2:4, 2:4, 2:4] = 1
    vol[0, 3, 3] = 1  # on the shell
    buf = np.zeros(vol.size + 8, np.uint8)
    buf[:vol.size] = vol.ravel()
    before = buf.copy()
    with pytest.raises(ValueError, match="shell"):
        thin_buffer(buf, vol.shape)
    np.testing.assert_array_equal(buf, before)
    with pytest.raises(ValueError, match="max_chain"):
        thin(np.zeros((3, 3, 3), np.uint8), 2, 64)

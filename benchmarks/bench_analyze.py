"""Benchmark: ``vesseltree.analyze`` end to end vs the same pipeline composed from peers.

Run: ``pytest benchmarks/bench_analyze.py --benchmark-enable -s`` (``-s`` prints the ratio
summary at the end). Rounds: ``VESSELTREE_BENCH_ROUNDS`` (default 3), after one warm-up
call of each pipeline (Numba JIT and caches excluded: "warm").

Peer pipeline (what a user would compose from scikit-image, scipy and skan):

1. ``skimage.morphology.skeletonize`` (Lee thinning, 3D);
2. surface voxels ``mask & ~binary_erosion(mask)``, ``scipy.spatial.cKDTree`` query of the
   8 nearest surface voxels of every skeleton voxel, radius = the 8th distance (Eq. 1);
3. ``skan.Skeleton`` graph, per-branch median of the local radii over each path (Eq. 2);
4. Eq. 3 labels with ``scipy.ndimage.distance_transform_edt(..., return_indices=True)`` on
   the whole volume (seeds: skan paths labelled by path id);
5. Q1/Q3 split of the branch radii into 3 scale masks.

Ours does more (spur pruning, both radius estimators, generation/Strahler orders, volumes),
so the ratio is conservative. Inputs: the 256x256x128 (z=128) phantom of
``make_phantom`` (seed 0) and patient 1.1's native mask (portal vein + venous system, from
``MASKS_DICOM.zip``; skipped when the data is absent). No timing is asserted: figures go to
``docs/benchmarks.md``.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from vesseltree.tree import analyze

skan = pytest.importorskip("skan")
from skimage.morphology import skeletonize as sk_skeletonize  # noqa: E402

ROUNDS = int(os.environ.get("VESSELTREE_BENCH_ROUNDS", "3"))


def peer_pipeline(mask: np.ndarray, spacing, m: int = 8, n_scales: int = 3):
    """The peer composition (module docstring). Returns (labels, scale masks, radii)."""
    sp = np.asarray(spacing, dtype=float)
    skel = sk_skeletonize(mask)
    surf = mask & ~ndi.binary_erosion(mask, border_value=0)
    sc = np.argwhere(skel)
    d, _ = cKDTree(np.argwhere(surf) * sp).query(sc * sp, k=m)
    local = np.zeros(mask.shape, dtype=np.float64)
    local[tuple(sc.T)] = d[:, -1]
    g = skan.Skeleton(skel, spacing=sp)
    seeds = np.zeros(mask.shape, dtype=np.int32)
    radii = np.zeros(g.n_paths)
    for i in range(g.n_paths):
        coords = g.path_coordinates(i).astype(np.intp)
        radii[i] = np.median(local[tuple(coords.T)])
        seeds[tuple(coords.T)] = i + 1
    _, ind = ndi.distance_transform_edt(seeds == 0, sampling=sp, return_indices=True)
    labels = np.where(mask, seeds[ind[0], ind[1], ind[2]], 0)
    t = np.quantile(radii, [0.25, 0.75])
    lut = np.concatenate([[0], 1 + (radii > t[0]) + (radii > t[1])]).astype(np.uint8)
    sl = lut[labels]
    return labels, np.stack([sl == s for s in range(1, n_scales + 1)]), radii


def ours_pipeline(mask: np.ndarray, spacing, **options):
    tree = analyze(mask, spacing, **options)
    return tree.labels, tree.scale_masks(), tree.branches["radius_mm"].to_numpy()


# analyze's optional branch-geometry columns, timed against the default in the same run:
# without the inscribed radius (inscribed=False) and with curvature/torsion (curvature=True)
_VARIANTS = {
    "ours": ours_pipeline,
    "ours-no-inscribed": lambda mask, spacing: ours_pipeline(mask, spacing, inscribed=False),
    "ours+curvature": lambda mask, spacing: ours_pipeline(mask, spacing, curvature=True),
    "peer": peer_pipeline,
}


SUMMARY_TITLE = "vesseltree.analyze vs the peer pipeline (warm)"
CASES = {"phantom": "phantom_case", "ircadb-1.1": "ircadb_case"}  # benchmarks/conftest.py


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("impl", list(_VARIANTS))
def test_analyze(benchmark, request, summary, case, impl):
    mask, spacing = request.getfixturevalue(CASES[case])
    fn = _VARIANTS[impl]
    benchmark.group = f"analyze {case} {mask.shape}"
    benchmark.extra_info.update(vessel_voxels=int(mask.sum()), spacing=list(spacing))
    fn(mask, spacing)  # warm-up (JIT, caches)
    labels, masks, radii = benchmark.pedantic(fn, args=(mask, spacing), rounds=ROUNDS, iterations=1)
    # both produce a labelling of the whole mask and a partition into 3 scales
    assert ((labels > 0) == mask).all()
    assert (masks.sum(0) == mask).all()
    summary.record(benchmark, case, impl, fn, mask, spacing)

#!/usr/bin/env python
"""The three local-radius estimators side by side on elliptic tubes (docs/radius.md, last section).

Straight elliptic tubes of known semi-axes a <= b (an affine image of
``vesseltree.synthetic.tube``, the helper of ``tests/vesseltree/test_inscribed.py``), oblique,
random direction and sub-voxel offset, partial volume (supersample 2), at 1 x 1 x 1 mm and
1.5 x 0.9 x 0.9 mm; the full ``analyze`` pipeline (thinning, branch graph, Eq. 2 medians over
the tube's longest branch). For each estimator the error is taken against the radius it
stands for: ``inscribed`` against a (the largest ball centred on the axis), ``corrected``
against sqrt(a b) (the area-equivalent radius), ``paper`` (Eq. 1) against a as well (the
nearest surface voxels lie where the wall is closest). Two distance-transform references
(the Euclidean distance from the skeleton voxel to the nearest background voxel centre,
``scipy.ndimage.distance_transform_edt`` with ``sampling=spacing``, raw and minus half the
smallest voxel size) show why the inscribed estimator is not built on them.

Then, on branching phantoms (``make_phantom``, circular tubes, curved, with junctions; the
true branch radius is Eq. 2 over the phantom's true radius field on the same skeleton voxels),
the median signed and absolute branch error of the inscribed and corrected estimators; and,
with ``--ircadb``, the median ratio inscribed / corrected of the branch radii of 3D-IRCADb
patient 1.1 (portal vein + venous system).

Usage::

    python scripts/radius_estimators.py [--tubes 4] [--seed 0] [--ircadb DIR]

prints Markdown tables (errors in voxels of the smallest spacing).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.vesseltree.test_inscribed import elliptic_tube  # noqa: E402
from vesseltree import analyze, make_phantom  # noqa: E402
from vesseltree.radius import branch_radius, local_radius  # noqa: E402

SPACINGS = [(1.0, 1.0, 1.0), (1.5, 0.9, 0.9)]
# (tube radius in voxels before the stretch, stretch per axis z, y, x)
SHAPES = [(2.0, (1, 1, 1)), (4.0, (1, 1, 1)), (3.0, (1, 1, 1.7)), (4.0, (1, 1.8, 1)),
          (5.0, (1.7, 1, 1)), (7.0, (1, 1.8, 1))]


def one_tube(rng, spacing, radius_vox, stretch):
    sp = np.asarray(spacing, float)
    h = sp.min()
    r = radius_vox * h
    length = max(40.0, 8 * radius_vox) * h
    shape = tuple(int(np.ceil((length + 4 * r * max(stretch) + 8 * h) / s)) for s in sp)
    centre = np.array(shape) * sp / 2 + rng.uniform(-0.5, 0.5, 3) * sp
    mask, a, b, _, _ = elliptic_tube(shape, centre, rng.normal(size=3), r, length, sp, stretch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # one branch: fewer than 3 scales
        tree = analyze(mask, spacing)
    bid = int(tree.branches["length_mm"].idxmax())
    owner = tree.skeleton_branch
    nb = int(tree.branches.index.max())
    _, ins = local_radius(mask, tree.skeleton, spacing, method="inscribed", output="points")
    edt = ndi.distance_transform_edt(mask, sampling=sp)[tuple(tree.skeleton_coords.T)]
    est = {
        "paper": tree.branches.at[bid, "radius_paper_mm"],
        "corrected": tree.branches.at[bid, "radius_corrected_mm"],
        "inscribed": branch_radius(ins, owner, nb)[bid],
        "edt": branch_radius(edt, owner, nb)[bid],
        "edt-half": branch_radius(edt - 0.5 * h, owner, nb)[bid],
    }
    target = {"paper": a, "corrected": np.sqrt(a * b), "inscribed": a, "edt": a, "edt-half": a}
    return a / h, b / h, {k: (est[k] - target[k]) / h for k in est}


def phantom_rows(seeds=(0, 1, 2)):
    """Inscribed vs corrected on branching phantoms against the true radius field."""
    print("| spacing (mm) | seed | branches | inscribed: median error (abs) | "
          "corrected: median error (abs) |")
    print("|---|---|---|---|---|")
    for spacing in [(1.0, 1.0, 1.0), (1.5, 0.8, 0.8), (0.8, 1.0, 0.6)]:
        h = min(spacing)
        shape = tuple(int(round(e / s)) for e, s in zip((105.0, 150.0, 150.0), spacing))
        for seed in seeds:
            ph = make_phantom(shape, spacing, seed=seed, root_radius=8 * h, min_radius=1.5 * h,
                              depth=5)
            tree = analyze(ph.mask, spacing)
            ids = tree.branches.index.to_numpy()
            nb = int(ids.max())
            truth = branch_radius(ph.radius[tuple(tree.skeleton_coords.T)],
                                  tree.skeleton_branch, nb)[ids]
            _, ins = local_radius(ph.mask, tree.skeleton, spacing, method="inscribed",
                                  output="points")
            cells = []
            for est in (branch_radius(ins, tree.skeleton_branch, nb)[ids],
                        tree.branches["radius_corrected_mm"].to_numpy()):
                e = (est - truth) / h
                cells.append(f"{np.median(e):+.2f} ({np.median(np.abs(e)):.2f})")
            sp = ", ".join(f"{s:g}" for s in spacing)
            print(f"| {sp} | {seed} | {len(ids)} | " + " | ".join(cells) + " |")


def ircadb_ratio(root: Path):
    from vesseltree import load_volume

    vol = load_volume(root / "3Dircadb1.1" / "MASKS_DICOM.zip")
    tree = analyze(vol.data, vol.spacing)
    ids = tree.branches.index.to_numpy()
    _, ins = local_radius(vol.data, tree.skeleton, vol.spacing, method="inscribed",
                          output="points")
    r_ins = branch_radius(ins, tree.skeleton_branch, int(ids.max()))[ids]
    r_cor = tree.branches["radius_corrected_mm"].to_numpy()
    long_ = tree.branches["length_mm"].to_numpy() > 15
    print(f"3D-IRCADb 1.1: {len(ids)} branches, median inscribed / corrected "
          f"{np.median(r_ins / r_cor):.3f} (branches longer than 15 mm: "
          f"{np.median(r_ins[long_] / r_cor[long_]):.3f})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tubes", type=int, default=4, help="random tubes per row")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ircadb", type=Path, default=None,
                    help="folder holding 3Dircadb1.N (adds the patient 1.1 ratio)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    keys = ["inscribed", "corrected", "paper", "edt", "edt-half"]
    print("| spacing (mm) | a, b, sqrt(ab) (voxels) | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for spacing in SPACINGS:
        for radius_vox, stretch in SHAPES:
            rows = [one_tube(rng, spacing, radius_vox, stretch) for _ in range(args.tubes)]
            a = np.mean([r[0] for r in rows])
            b = np.mean([r[1] for r in rows])
            cells = []
            for k in keys:
                e = np.array([r[2][k] for r in rows])
                cells.append(f"{np.median(e):+.2f} ({np.abs(e).max():.2f})")
            sp = ", ".join(f"{s:g}" for s in spacing)
            ab = np.mean([np.sqrt(r[0] * r[1]) for r in rows])
            print(f"| {sp} | {a:.2f}, {b:.2f}, {ab:.2f} | " + " | ".join(cells) + " |")
    print()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        phantom_rows()
        if args.ircadb is not None:
            print()
            ircadb_ratio(args.ircadb)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

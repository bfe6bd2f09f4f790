#!/usr/bin/env python
"""Which thin vessels survive the resize to the paper's grid? Label-resampling rules on 3D-IRCADb.

For each of the 19 ``MASKS_DICOM.zip`` of 3D-IRCADb-01 (vessel = portal vein + venous system
as :func:`vesseltree.load_volume` matches them), the vessel mask is cropped to the liver box
(+ ``margin_mm``) and resampled to the prepared grid of :class:`vesselnet.data.PrepareConfig`
(128 x 256 x 256 voxels, isotropic as the paper's and, second, each axis zoomed on its own)
with each label rule of :mod:`vesselnet.data.labels`, plus ``linear`` at level 0.3 (a lower
threshold). Measured:

``present``   share of the native branches (:func:`vesseltree.analyze` on the native crop,
              default options) of which at least half of the voxels (their Eq. 3 voxels,
              each mapped to the nearest prepared voxel) fall on the resampled mask;
``continuous`` share of the native branches whose centre line (mapped, rounded) lies at
              least 90% on the resampled mask (``linear_centerline``: 100% by construction);
``extra_components`` 26-components of the resampled mask minus those of the native crop;
``volume``    resampled volume / native volume (mm^3);
``shift``     mean distance (mm) from the centre line of the resampled mask
              (:func:`vesseltree.skeletonize`) to the native centre line, world coordinates;
``shift95``   its 95th percentile.

Then, on the mask of the default rule, the two scale-target rules (``default``, ``paper``,
:mod:`vesselnet.data.targets`): thresholds and the share of vessel voxels whose scale agrees.

Writes ``docs/figures/ircadb_resampling.csv``, ``docs/figures/ircadb_targets.csv`` and prints
Markdown tables (pasted into ``docs/data.md``). Run it outside the test suite (about 20 minutes
on 2 busy CPUs)::

    nice python scripts/ircadb_resampling.py [--data DIR] [--patients 1 7 12]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from vesseltree.datasets import ircadb_root  # the one data-location rule

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ircadb_root(REPO)  # vesseltree.datasets: VESSELTREE_IRCADB, else ../shared/data
RULES = [("nearest", 0.5), ("linear", 0.5), ("linear", 0.3), ("sdf", 0.5), ("linear_centerline", 0.5)]


def _name(rule, level):
    return rule if level == 0.5 else f"{rule}@{level}"


def _load(mask_zip: Path):
    from vesseltree.io import load_volume

    vol = load_volume(mask_zip)
    liver = load_volume(mask_zip, structures="liver").data
    return vol, liver


def measure(vol, liver, config) -> tuple[list[dict], dict]:
    """Rows (one per rule) and the target-rule comparison for one mask on one grid."""
    from scipy import ndimage
    from scipy.spatial import cKDTree

    from vesseltree import analyze, skeletonize
    from vesselnet.data.labels import resample_label
    from vesselnet.data.preprocess import crop_box
    from vesselnet.data.targets import scale_targets
    from vesselnet.data.transform import plan_grid

    sp = np.asarray(vol.spacing)
    lo, hi = crop_box(liver, vol.spacing, config.margin_mm)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    cropped = np.zeros_like(vol.data)
    cropped[box] = vol.data[box]
    t = plan_grid(vol.shape, vol.spacing, vol.affine, (lo, hi), target_shape=config.target_shape,
                  target_spacing=config.target_spacing, isotropic=config.isotropic)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        native = analyze(vol.data[box], vol.spacing)
    lab = native.labels
    vox = np.argwhere(lab > 0)
    ids = lab[lab > 0]
    n_vox = np.bincount(ids)[1:]
    j = np.rint(t.to_prepared(vox + np.asarray(lo))).astype(np.int64)
    line_j = np.rint(t.to_prepared(native.skeleton_coords + np.asarray(lo))).astype(np.int64)
    n_line = np.bincount(native.skeleton_branch)[1:]
    native_line = cKDTree((native.skeleton_coords + np.asarray(lo)) * sp)
    native_mm3 = float(vol.data[box].sum() * np.prod(sp))
    s26 = np.ones((3, 3, 3), dtype=bool)
    native_comp = ndimage.label(vol.data[box], s26)[1]

    def covered(r, jj, owner, n):
        ok = np.all((jj >= 0) & (jj < np.asarray(t.shape)), axis=1)
        hit = np.zeros(len(jj))
        hit[ok] = r[jj[ok, 0], jj[ok, 1], jj[ok, 2]]
        frac = np.bincount(owner, weights=hit, minlength=n.size + 1)[1:] / np.maximum(1, n)
        return frac[n > 0]

    rows = []
    masks = {}
    for rule, level in RULES:
        t0 = time.perf_counter()
        r = resample_label(cropped, vol.spacing, t, rule, threshold=level)
        sec = time.perf_counter() - t0
        line = t.to_original(np.argwhere(skeletonize(r))) * sp
        d = native_line.query(line)[0] if len(line) else np.array([np.nan])
        rows.append({
            "rule": _name(rule, level),
            "present": float(np.mean(covered(r, j, ids, n_vox) >= 0.5)),
            "continuous": float(np.mean(covered(r, line_j, native.skeleton_branch, n_line) >= 0.9)),
            "extra_components": int(ndimage.label(r, s26)[1] - native_comp),
            "volume": float(r.sum() * np.prod(t.spacing)) / native_mm3,
            "shift_mm": float(np.mean(d)), "shift95_mm": float(np.percentile(d, 95)),
            "seconds": round(sec, 2)})
        masks[_name(rule, level)] = r
    chosen = masks[config.label_resampling]
    v = chosen.astype(bool)
    trow = {}
    labels = {}
    for rule in ("default", "paper"):
        sc, info, flags = scale_targets(chosen, t.spacing, config.n_scales, rule)
        labels[rule] = (np.argmax(sc, axis=0) + 1)[v]
        trow[f"{rule}_branches"] = info["n_branches"]
        trow[f"{rule}_thresholds_mm"] = "/".join(f"{x:.2f}" for x in info["thresholds_mm"])
        counts = np.bincount(labels[rule], minlength=config.n_scales + 1)[1:] / v.sum()
        trow[f"{rule}_scale_share"] = "/".join(f"{c:.2f}" for c in counts)
    trow["agree"] = float(np.mean(labels["default"] == labels["paper"]))
    geo = {"crop": "x".join(str(b - a) for a, b in zip(lo, hi)),
           "prepared_mm": "x".join(f"{s:.3g}" for s in dict.fromkeys(np.round(t.spacing, 4))),
           "native_mm": "x".join(f"{s:.3g}" for s in vol.spacing),
           "native_branches": int(len(native.branches))}
    for row in rows:
        row.update(geo)
    trow.update(geo)
    return rows, trow


def _tables(df: pd.DataFrame, tf: pd.DataFrame | None, title: str) -> str:
    names = [_name(r, lv) for r, lv in RULES]
    order = sorted(df["patient"].unique(), key=lambda s: int(s.split(".")[1]))
    wide = df.pivot(index="patient", columns="rule", values="present")
    out = [f"### {title}\n",
           "| patient | native mm | crop (voxels) | prepared mm | native branches | "
           + " | ".join(f"`{n}`" for n in names) + " |",
           "|---" * (5 + len(names)) + "|"]
    for pt in order:
        g = df[df.patient == pt].iloc[0]
        out.append(f"| {pt} | {g.native_mm} | {g.crop} | {g.prepared_mm} | {g.native_branches} | "
                   + " | ".join(f"{100 * wide.loc[pt, n]:.1f}%" for n in names) + " |")
    out.append("| **mean** | | | | | " + " | ".join(f"**{100 * wide[n].mean():.1f}%**" for n in names) + " |")
    out += ["", "| rule | present: mean (min) | centre line >= 90% covered: mean (min) | extra "
            "26-components (mean) | volume ratio: mean (min-max) | centre-line shift mm: mean "
            "(95th pct) | seconds |", "|---|---|---|---|---|---|---|"]
    for n in names:
        g = df[df.rule == n]
        out.append(f"| `{n}` | {100 * g.present.mean():.1f}% ({100 * g.present.min():.1f}%) | "
                   f"{100 * g.continuous.mean():.1f}% ({100 * g.continuous.min():.1f}%) | "
                   f"{g.extra_components.mean():.1f} | {g.volume.mean():.3f} "
                   f"({g.volume.min():.3f}-{g.volume.max():.3f}) | {g.shift_mm.mean():.2f} "
                   f"({g.shift95_mm.mean():.2f}) | {g.seconds.mean():.1f} |")
    if tf is not None:
        out += ["", "| patient | thresholds mm: default | paper | branches: default | paper | "
                "scale shares 1/2/3: default | paper | voxels with the same scale |",
                "|---|---|---|---|---|---|---|---|"]
        for _, g in tf.iterrows():
            out.append(f"| {g.patient} | {g.default_thresholds_mm} | {g.paper_thresholds_mm} | "
                       f"{g.default_branches} | {g.paper_branches} | {g.default_scale_share} | "
                       f"{g.paper_scale_share} | {100 * g.agree:.1f}% |")
        out.append(f"| **mean** | | | | | | | **{100 * tf.agree.mean():.1f}%** |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help="3D-IRCADb-01 folder (default: "
                   "$VESSELTREE_IRCADB, else ../shared/data/3Dircadb1 beside the checkout)")
    p.add_argument("--patients", nargs="*", type=int, default=list(range(1, 20)))
    p.add_argument("--out", type=Path, default=REPO / "docs" / "figures")
    args = p.parse_args(argv)
    if args.data is None:
        args.data = _default_data()
    from dataclasses import replace

    from vesselnet.data.config import PrepareConfig

    grids = {"isotropic": PrepareConfig(), "per_axis": replace(PrepareConfig(), isotropic=False)}
    rows, trows = [], []
    t0 = time.perf_counter()
    for k in args.patients:
        name = f"3Dircadb1.{k}"
        zp = args.data / name / "MASKS_DICOM.zip"
        if not zp.is_file():
            print(f"skip {name}: no {zp}", file=sys.stderr)
            continue
        t1 = time.perf_counter()
        vol, liver = _load(zp)
        for grid, config in grids.items():
            r, tr = measure(vol, liver, config)
            for row in r + [tr]:
                row.update(patient=f"1.{k}", grid=grid)
            rows += r
            trows.append(tr)
        print(f"{name}: {time.perf_counter() - t1:.0f} s", file=sys.stderr, flush=True)
    if not rows:
        print("no data", file=sys.stderr)
        return 1
    df, tf = pd.DataFrame(rows), pd.DataFrame(trows)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "ircadb_resampling.csv", index=False)
    tf.to_csv(args.out / "ircadb_targets.csv", index=False)
    print(f"config: {PrepareConfig().to_dict()}\nmachine: {platform.machine()}, "
          f"{os.cpu_count()} CPUs; {time.perf_counter() - t0:.0f} s\n")
    print(_tables(df[df.grid == "isotropic"], tf[tf.grid == "isotropic"],
                  "128 x 256 x 256, isotropic voxels (the default, the paper's)"))
    print(_tables(df[df.grid == "per_axis"], tf[tf.grid == "per_axis"],
                  "128 x 256 x 256, each axis zoomed on its own (isotropic=False)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

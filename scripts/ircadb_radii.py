#!/usr/bin/env python
"""Branch radii of the 19 3D-IRCADb-01 vessel masks (the paper's Fig. 4).

Runs ``vesseltree analyze`` (the command line, through :func:`vesseltree.cli.main`) on the
vessel masks of patients 1.1 to 1.19 (portal vein + venous system, or vena cava where there is
no venous system; ``--liver-only`` keeps the voxels inside the liver mask), then writes

- ``docs/figures/ircadb_branch_radii.png``: letter-value plot of the branch radii, one box per
  patient;
- ``docs/figures/ircadb_summary.csv`` and ``docs/ircadb.md``: per-patient table (geometry,
  branch count, radius quartiles, thresholds of the 3 scales, run time);
- ``docs/figures/ircadb_1.1_scales_mip.png`` and ``..._radius_mip.png``: the MIPs written by
  ``vesseltree analyze`` for patient 1.1 (the paper's Fig. 2b on real data), and
  ``docs/figures/phantom_scales_mip.png``: the same on a synthetic vessel tree made with
  ``vesseltree phantom`` (Fig. 2b is drawn on a synthetic vasculature).

The per-patient outputs of ``vesseltree analyze`` (tables, graphs, NIfTI volumes, MIPs) go to
``--work`` (default: a folder in the system's temporary directory), never into the repository.

Usage::

    python scripts/ircadb_radii.py [--data ../shared/data/3Dircadb1] [--work DIR]
                                   [--liver-only] [--radius-method corrected|paper]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("VESSELTREE_IRCADB", REPO.parent / "shared" / "data" / "3Dircadb1"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding 3Dircadb1.N")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vesseltree_ircadb")
    ap.add_argument("--liver-only", action="store_true")
    ap.add_argument("--radius-method", choices=("corrected", "paper"), default="corrected")
    ap.add_argument("--patients", nargs="*", type=int, default=list(range(1, 20)))
    ap.add_argument("--figure", type=Path, default=REPO / "docs" / "figures" / "ircadb_branch_radii.png")
    ap.add_argument("--table", type=Path, default=REPO / "docs" / "ircadb.md")
    ap.add_argument("--skip-existing", action="store_true",
                    help="reuse OUT/<patient>/summary.json when present (resume a run)")
    args = ap.parse_args(argv)

    from vesseltree.cli import main as cli_main
    from vesseltree.plot import letter_value_plot

    inputs = []
    for n in args.patients:
        folder = args.data / f"3Dircadb1.{n}"
        if not (folder / "MASKS_DICOM.zip").is_file():
            print(f"missing {folder / 'MASKS_DICOM.zip'}", file=sys.stderr)
            return 2
        inputs.append(folder)
    work = args.work / ("liver" if args.liver_only else "all") / args.radius_method
    todo = [p for p in inputs if not (args.skip_existing and (work / p.name / "summary.json").is_file())]
    opts = ["--out", str(work), "--radius-method", args.radius_method]
    if args.liver_only:
        opts.append("--liver-only")
    t0 = time.perf_counter()
    rc = 0
    if todo:
        rc = cli_main(["analyze", *map(str, todo), *opts])
    wall = time.perf_counter() - t0

    radii, rows = {}, []
    for folder in inputs:
        out = work / folder.name
        short = folder.name.replace("3Dircadb", "")
        if not (out / "summary.json").is_file():
            print(f"no result for {folder.name}", file=sys.stderr)
            continue
        summary = json.loads((out / "summary.json").read_text())
        branches = pd.read_csv(out / "branches.csv")
        r = branches["radius_mm"].to_numpy(dtype=float) if len(branches) else np.zeros(0)
        radii[short] = r
        q1, med, q3 = (np.percentile(r, [25, 50, 75]) if r.size else (np.nan,) * 3)
        rows.append({
            "patient": short,
            "structures": summary["source"].split(":")[-1],
            "shape": "x".join(map(str, summary["shape"])),
            "spacing_mm": "x".join(f"{s:.3g}" for s in summary["spacing_mm"]),
            "vessel_voxels": int(sum(summary["scale_voxels"])),
            "branches": int(r.size),
            "radius_q1_mm": round(float(q1), 3),
            "radius_median_mm": round(float(med), 3),
            "radius_q3_mm": round(float(q3), 3),
            "radius_max_mm": round(float(r.max()), 3) if r.size else np.nan,
            "scale_voxels_1_2_3": "/".join(map(str, summary["scale_voxels"])),
            "analyze_s": summary.get("analyze_seconds"),
        })
    if not radii:
        print("no results", file=sys.stderr)
        return 2
    table = pd.DataFrame(rows)
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    label = "vessels in the liver" if args.liver_only else "portal vein + venous system"
    letter_value_plot(
        radii, args.figure,
        title=f"3D-IRCADb-01: branch radii per patient ({label}, {args.radius_method} estimator)",
        figsize=(11, 4.5),
    )
    csv_path = args.figure.with_name("ircadb_summary.csv")
    table.to_csv(csv_path, index=False)
    total = sum(float(t) for t in table["analyze_s"] if t == t)
    md = [
        "# 3D-IRCADb-01: branch radii of the 19 vessel masks",
        "",
        "Generated by `python scripts/ircadb_radii.py"
        + (" --liver-only" if args.liver_only else "")
        + (f" --radius-method {args.radius_method}" if args.radius_method != "corrected" else "")
        + "`, which runs `vesseltree analyze` on the `MASKS_DICOM.zip` of patients 1.1 to 1.19 "
        f"({label}; default structures: `portalvein` (`portalvein1` for 1.10) + `venoussystem`, "
        "or `venacava` where there is no `venoussystem`), native resolution, spacing from the "
        "DICOM tags.",
        "",
        "![branch radii](figures/ircadb_branch_radii.png)",
        "",
        "Scale classes of patient 1.1 (maximum projection along z; each ray shows the largest "
        "scale it crosses) and the branch radius of each vessel voxel, as written by "
        "`vesseltree analyze` (`scales_mip.png`, `radius_mip.png`); the last figure is the same "
        "projection for a synthetic tree (`vesseltree phantom`, seed 0), the setting of the "
        "paper's Fig. 2b:",
        "",
        "![patient 1.1 scales](figures/ircadb_1.1_scales_mip.png)"
        " ![patient 1.1 radii](figures/ircadb_1.1_radius_mip.png)"
        " ![phantom scales](figures/phantom_scales_mip.png)",
        "",
        "The letter-value plot (the paper's Fig. 4) shows one box per patient: the widest box "
        "holds the middle half of the branch radii, each narrower box the next half of the "
        "remaining tails. As in the paper, the distributions differ much between volumes, "
        "which is why the scale thresholds (Q1 and Q3 of the branch radii) are computed per "
        "volume.",
        "",
        table.to_markdown(index=False) if _has_tabulate() else _md_table(table),
        "",
        f"Total `analyze` time (pipeline only, excluding reading and writing): {total:.0f} s; "
        f"wall time of this run: {wall:.0f} s on {platform.machine()} with {os.cpu_count()} "
        "logical CPUs (shared with other jobs, timings indicative only).",
        "Machine-readable copy: [`figures/ircadb_summary.csv`](figures/ircadb_summary.csv).",
        "",
    ]
    args.table.write_text("\n".join(md))
    figdir = args.figure.parent
    import shutil

    first = work / "3Dircadb1.1"
    for kind in ("scales", "radius"):
        if (first / f"{kind}_mip.png").is_file():
            shutil.copyfile(first / f"{kind}_mip.png", figdir / f"ircadb_1.1_{kind}_mip.png")
    phantom = work.parent / "phantom.nii.gz"
    if cli_main(["phantom", str(phantom), "--seed", "0", "-q"]) == 0 and cli_main(
        ["analyze", str(phantom), "--out", str(work.parent / "phantom_out"), "-q",
         "--radius-method", args.radius_method]
    ) == 0:
        shutil.copyfile(work.parent / "phantom_out" / "phantom" / "scales_mip.png",
                        figdir / "phantom_scales_mip.png")
    print(f"wrote {args.figure}, {csv_path}, {args.table}")
    return rc


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def _md_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


if __name__ == "__main__":
    sys.exit(main())

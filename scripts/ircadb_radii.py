#!/usr/bin/env python
"""Branch radii of the 19 3D-IRCADb-01 vessel masks (the paper's Fig. 4).

Runs ``vesseltree analyze`` (the command line, through :func:`vesseltree.cli.main`) on the
vessel masks of patients 1.1 to 1.19 (portal vein + venous system, or vena cava where there is
no venous system), twice: the whole masks, and the voxels inside the liver mask only
(``--liver-only``, the usual hepatic-vessel ground truth). Then writes

- ``docs/figures/ircadb_branch_radii.png`` and ``docs/figures/ircadb_branch_radii_liver.png``:
  letter-value plots of the branch radii, one box per patient;
- ``docs/figures/ircadb_summary.csv`` (both variants) and ``docs/ircadb.md``: per-patient tables
  (geometry, branch count, radius quartiles, voxels per scale, run time);
- ``docs/figures/ircadb_1.1_scales_mip.png`` and ``..._radius_mip.png``: the MIPs written by
  ``vesseltree analyze`` for patient 1.1 (the paper's Fig. 2b on real data), and
  ``docs/figures/phantom_scales_mip.png``: the same for a synthetic tree made with
  ``vesseltree phantom`` (the paper draws Fig. 2b on a synthetic vasculature).

The per-patient outputs of ``vesseltree analyze`` (tables, graphs, NIfTI volumes, MIPs) go to
``--work`` (default: a folder in the system's temporary directory), never into the repository.

Usage::

    python scripts/ircadb_radii.py [--data DIR] [--work DIR]
                                   [--radius-method corrected|paper] [--skip-existing]

``--data`` defaults to the rule of :mod:`vesseltree.datasets` (``VESSELTREE_IRCADB``, else
``../shared/data/3Dircadb1`` beside the checkout).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vesseltree.datasets import ircadb_root  # the one data-location rule

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ircadb_root(REPO)  # vesseltree.datasets: VESSELTREE_IRCADB, else ../shared/data
VARIANTS = {
    "all": ("portal vein + venous system", "ircadb_branch_radii.png", []),
    "liver": ("vessels inside the liver", "ircadb_branch_radii_liver.png", ["--liver-only"]),
}


def run_variant(variant, inputs, work, radius_method, skip_existing, figdir):
    """Run ``vesseltree analyze`` on every input; return (table, radii, wall seconds, rc)."""
    from vesseltree.cli import main as cli_main
    from vesseltree.plot import letter_value_plot

    label, figure, flags = VARIANTS[variant]
    out_root = work / variant / radius_method
    todo = [p for p in inputs if not (skip_existing and (out_root / p.name / "summary.json").is_file())]
    t0 = time.perf_counter()
    rc = 0
    if todo:
        rc = cli_main(["analyze", *map(str, todo), "--out", str(out_root),
                       "--radius-method", radius_method, *flags])
    wall = time.perf_counter() - t0
    radii, rows = {}, []
    for folder in inputs:
        out = out_root / folder.name
        short = folder.name.replace("3Dircadb", "")
        if not (out / "summary.json").is_file():
            print(f"no result for {folder.name} ({variant})", file=sys.stderr)
            continue
        summary = json.loads((out / "summary.json").read_text())
        branches = pd.read_csv(out / "branches.csv")
        r = branches["radius_mm"].to_numpy(dtype=float) if len(branches) else np.zeros(0)
        radii[short] = r
        q1, med, q3 = np.percentile(r, [25, 50, 75]) if r.size else (np.nan,) * 3
        rows.append({
            "variant": variant,
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
    if radii:
        letter_value_plot(
            radii, figdir / figure,
            title=f"3D-IRCADb-01: branch radii per patient ({label}, {radius_method} estimator)",
            figsize=(11, 4.5), xlabel="patient",
        )
    return pd.DataFrame(rows), radii, wall, rc, out_root


def _md_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def _parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding 3Dircadb1.N")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vesseltree_ircadb")
    ap.add_argument("--radius-method", choices=("corrected", "paper"), default="corrected")
    ap.add_argument("--patients", nargs="*", type=int, default=list(range(1, 20)))
    ap.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--figdir", type=Path, default=REPO / "docs" / "figures")
    ap.add_argument("--table", type=Path, default=REPO / "docs" / "ircadb.md")
    ap.add_argument("--skip-existing", action="store_true",
                    help="reuse WORK/<variant>/<method>/<patient>/summary.json when present")
    return ap.parse_args(argv)


def _commit() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _header(radius_method: str) -> list[str]:
    return [
        "# 3D-IRCADb-01: branch radii of the 19 vessel masks",
        "",
        "Generated by `python scripts/ircadb_radii.py"
        + (f" --radius-method {radius_method}" if radius_method != "corrected" else "")
        + "`, which runs `vesseltree analyze` on the `MASKS_DICOM.zip` of patients 1.1 to 1.19 "
        "at native resolution, spacing from the DICOM tags. Vessel structures: `portalvein` "
        "(`portalvein1` for 1.10) + `venoussystem`, or `venacava` for the 7 patients without "
        "`venoussystem` (the CLI's default); first the whole masks, then only their voxels "
        f"inside the `liver` mask (`--liver-only`). Code at commit `{_commit()}`.",
        "",
        "Each letter-value plot (the paper's Fig. 4) has one box per patient: the widest box "
        "holds the middle half of the branch radii, each narrower box half of the remaining "
        "tails. As in the paper, the distributions differ between volumes, which is why the "
        "scale thresholds (Q1 and Q3 of the branch radii) are computed per volume.",
        "",
    ]


def _variant_section(variant: str, table: pd.DataFrame, wall: float) -> list[str]:
    label, figure, _ = VARIANTS[variant]
    total = sum(float(t) for t in table["analyze_s"] if t == t)
    return [
        f"## {label[0].upper() + label[1:]}",
        "",
        f"![branch radii, {label}](figures/{figure})",
        "",
        _md_table(table.drop(columns="variant")),
        "",
        f"`analyze` itself (pipeline, excluding reading and writing files): {total:.0f} s "
        f"for {len(table)} volumes; wall time of the whole command, figures and NIfTI "
        f"writing included: {wall:.0f} s ({platform.machine()}, {os.cpu_count()} logical "
        "CPUs shared with other jobs: indicative only).",
        "",
    ]


def _phantom_section(args) -> list[str]:
    """Run ``vesseltree phantom`` + ``analyze`` for the synthetic Fig. 2b; its Markdown."""
    from vesseltree.cli import main as cli_main

    phantom = args.work / "phantom.nii.gz"
    ph_out = args.work / "phantom_out"
    if cli_main(["phantom", str(phantom), "--seed", "0", "-q"]) == 0 and cli_main(
        ["analyze", str(phantom), "--out", str(ph_out), "-q", "--radius-method", args.radius_method]
    ) == 0:
        shutil.copyfile(ph_out / "phantom" / "scales_mip.png", args.figdir / "phantom_scales_mip.png")
    return [
        "## Scale classes (Fig. 2b)",
        "",
        "Maximum projections along z written by `vesseltree analyze`: the scale classes of "
        "patient 1.1 (whole mask; each ray shows the largest scale it crosses), the branch "
        "radius of each of its vessel voxels, and the scale classes of a synthetic tree "
        "(`vesseltree phantom OUT --seed 0`), the setting of the paper's Fig. 2b.",
        "",
        "![patient 1.1 scales](figures/ircadb_1.1_scales_mip.png)",
        "![patient 1.1 radii](figures/ircadb_1.1_radius_mip.png)",
        "![phantom scales](figures/phantom_scales_mip.png)",
        "",
        "Machine-readable copy of the tables: [`figures/ircadb_summary.csv`](figures/ircadb_summary.csv).",
        "",
    ]


def main(argv=None) -> int:
    from vesseltree.io import atomic_write

    args = _parse_args(argv)
    inputs = []
    for n in args.patients:
        folder = args.data / f"3Dircadb1.{n}"
        if not (folder / "MASKS_DICOM.zip").is_file():
            print(f"missing {folder / 'MASKS_DICOM.zip'}", file=sys.stderr)
            return 2
        inputs.append(folder)
    args.figdir.mkdir(parents=True, exist_ok=True)
    md = _header(args.radius_method)
    tables, rc = [], 0
    for variant in args.variants:
        table, radii, wall, code, out_root = run_variant(
            variant, inputs, args.work, args.radius_method, args.skip_existing, args.figdir)
        rc = rc or code
        if table.empty:
            continue
        tables.append(table)
        md += _variant_section(variant, table, wall)
        if variant == "all":
            first = out_root / "3Dircadb1.1"
            for kind in ("scales", "radius"):
                if (first / f"{kind}_mip.png").is_file():
                    shutil.copyfile(first / f"{kind}_mip.png",
                                    args.figdir / f"ircadb_1.1_{kind}_mip.png")
    if not tables:
        print("no results", file=sys.stderr)
        return 2
    pd.concat(tables).to_csv(args.figdir / "ircadb_summary.csv", index=False)
    md += _phantom_section(args)
    with atomic_write(args.table) as tmp:
        tmp.write_text("\n".join(md))
    print(f"wrote {args.table} and figures in {args.figdir}")
    return rc


if __name__ == "__main__":
    sys.exit(main())

"""``vesselnet prepare SOURCE --out DIR``: preprocess a dataset into a cached prepared folder.

``SOURCE`` is ``synthetic`` / ``synthetic:N`` (seeded phantoms with CT), a 3D-IRCADb-01 folder,
or an MSD / nnU-Net NIfTI folder (``dataset.json``). Each case is cropped to the liver,
resampled to the prepared grid (the paper's 128 x 256 x 256 isotropic voxels by default),
normalised, and gets its S scale targets from ``vesseltree.analyze`` (:mod:`vesselnet.data`).
A second run reads the cache (and says how long that took); a changed parameter or source
file recomputes the cases concerned. Writes ``DIR/manifest.json``, ``DIR/cases/*.npz`` and,
unless ``--no-figures``, ``DIR/figures/<case>.png`` (a mid slice of image, vessel and scales).
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["add_parser", "run"]

_HELP = "preprocess a dataset (crop, resample, scale targets) into a cached folder"


def add_parser(subparsers) -> None:
    """Add the ``prepare`` sub-command."""
    from vesseltree.cli import positive_float
    from vesselnet.commands._common import add_command

    p = add_command(subparsers, "prepare", _HELP, __doc__)
    p.add_argument("source", help="synthetic[:N], a 3D-IRCADb-01 folder or an MSD/nnU-Net folder")
    p.add_argument("--out", type=Path, required=True, help="prepared folder (created)")
    p.add_argument("--config", type=Path, help="YAML file of PrepareConfig keys (flags override it)")
    g = p.add_argument_group("preprocessing (PrepareConfig)")
    g.add_argument("--target-shape", type=int, nargs=3, metavar=("D", "H", "W"))
    g.add_argument("--target-spacing", type=positive_float, nargs=3, metavar=("Z", "Y", "X"),
                   help="prepared voxel size in mm instead of a shape")
    g.add_argument("--anisotropic", action="store_true", help="zoom each axis on its own to fill the box")
    g.add_argument("--hu-window", type=float, nargs=2, metavar=("LOW", "HIGH"))
    g.add_argument("--crop", choices=("liver", "none"))
    g.add_argument("--margin-mm", type=float)
    g.add_argument("--label-resampling", help="linear_centerline (default), linear, nearest, sdf")
    g.add_argument("--n-scales", type=int)
    g.add_argument("--target-rule", choices=("default", "paper"))
    g.add_argument("--vessel-in-liver", action="store_true", help="keep vessel voxels inside the liver only")
    s = p.add_argument_group("source options")
    s.add_argument("--patients", nargs="+", help="3D-IRCADb patients (e.g. 1 7 or 1.7)")
    s.add_argument("--structures", nargs="+", help="3D-IRCADb vessel structures")
    s.add_argument("--vessel-labels", nargs="+", help="NIfTI label names forming the vessel mask")
    s.add_argument("--seed", type=int, help="synthetic: seed of the first case")
    s.add_argument("--shape", type=int, nargs=3, metavar=("Z", "Y", "X"), help="synthetic: volume shape")
    p.add_argument("--overwrite", action="store_true", help="recompute every case")
    p.add_argument("--no-figures", action="store_true", help="no per-case figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--traceback", action="store_true", help="show the traceback of an error")
    p.set_defaults(func=run)


def _config(args):
    from vesselnet.commands._common import yaml_mapping
    from vesselnet.data import PrepareConfig

    base: dict = {}
    if args.config is not None:
        base.update(yaml_mapping(args.config, "--config", "PrepareConfig keys"))
    flags = {"target_shape": args.target_shape, "target_spacing": args.target_spacing,
             "hu_window": args.hu_window, "crop": args.crop, "margin_mm": args.margin_mm,
             "label_resampling": args.label_resampling, "n_scales": args.n_scales,
             "target_rule": args.target_rule}
    base.update({k: v for k, v in flags.items() if v is not None})
    if args.target_spacing is not None and args.target_shape is None:
        base["target_shape"] = None
    if args.anisotropic:
        base["isotropic"] = False
    if args.vessel_in_liver:
        base["vessel_in_liver"] = True
    return PrepareConfig.from_dict(base)


def _source(args):
    from vesseltree.cli import UserError
    from vesselnet.data.sources import open_source, source_kind

    kind = source_kind(args.source)
    allowed = {"synthetic": {"seed", "shape"}, "ircadb": {"patients", "structures"},
               "nifti": {"vessel_labels"}}[kind]
    given = {k: getattr(args, k) for k in ("patients", "structures", "vessel_labels", "seed", "shape")
             if getattr(args, k) is not None}
    wrong = sorted(set(given) - allowed)
    if wrong:
        raise UserError(f"--{wrong[0].replace('_', '-')}: not an option of a {kind} source "
                        f"(its options: {', '.join('--' + a.replace('_', '-') for a in sorted(allowed))})")
    return open_source(args.source, **given)


def run(args) -> int:
    """Run ``vesselnet prepare``; returns the exit code."""
    from vesselnet.data import prepare

    config = _config(args)
    source = _source(args)
    ds = prepare(source, args.out, config, progress=not args.quiet, overwrite=args.overwrite,
                 figures=not args.no_figures)
    st = ds.prepare_stats
    print(f"vesselnet prepare: {len(ds)} case(s) in {str(args.out)!r}: {len(st['computed'])} computed, "
          f"{len(st['reused'])} read from the cache, in {st['seconds']:.2f} s")
    for cid in ds.case_ids:
        e = ds.manifest["cases"][cid]
        shape = "x".join(map(str, e["transform"]["shape"]))
        sp = "x".join(f"{v:.3g}" for v in dict.fromkeys(round(x, 4) for x in e["spacing"]))
        tg = e["record"].get("targets") or {}
        thr = tg.get("thresholds_mm")
        thr = "/".join(f"{t:.2f}" for t in thr) if thr else "-"
        state = ("cached" if cid in st["reused"]
                 else f"{st['reasons'][cid]}, {e['record'].get('seconds', 0):.1f} s")
        print(f"  {cid}: {shape} voxels of {sp} mm, {tg.get('n_branches', '-')} branches, scale "
              f"thresholds {thr} mm, flags: {', '.join(e['flags']) or '-'} ({state})")
    if not args.no_figures:
        print(f"  figures: {str(Path(args.out) / 'figures')}")
    sys.stdout.flush()
    return 0

"""Command-line interface: ``vesseltree analyze`` and ``vesseltree phantom``.

``vesseltree analyze INPUT [INPUT ...]`` runs :func:`vesseltree.pipeline.analyze_file` on each
input (NIfTI, .npy/.npz, a 3D-IRCADb ``MASKS_DICOM.zip``, its extracted folder, or a patient
folder holding it): ``OUT/<name>/`` gets ``branches.csv``, ``graph.graphml``,
``labels.nii.gz``, ``scales.nii.gz``, ``summary.json``, ``radius_mip.png``, ``scales_mip.png``
and ``manifest.json``, written as one unit (:mod:`vesseltree.outputs`: a killed run leaves
only hidden ``.<name>.partial-*`` folders, removed by the next run; an existing folder is
replaced only with ``--overwrite``). ``--structures A B`` analyses one tree per structure
(:mod:`vesseltree.pipeline_structures`), ``--export-vtp`` adds ``centerlines.vtp`` and
``surface.vtp``. Across inputs, ``OUT/cohort.csv`` (one row per input) and
``OUT/branch_radii.png`` (a letter-value plot of the branch radii, one box per volume, paper
Fig. 4), both in natural order of the names (:mod:`vesseltree.cohort`). ``--jobs N`` runs N
inputs at a time in worker processes, ``--scheduler ADDRESS`` on a Dask cluster; the tables
are the same either way. A progress bar runs when several inputs are given. An input that
fails is reported and skipped, the others go on, the failed ones are listed at the end and
the exit code is 2.

``vesseltree phantom OUT`` writes a synthetic vessel phantom (:func:`vesseltree.make_phantom`):
the mask, and beside it the CT rendering, the true radius map and the segment table
(:func:`phantom_paths`).

Errors are printed on stderr as one line, exit code 2, without traceback (``--traceback``
shows it); Ctrl-C exits with code 130.
"""
from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from vesseltree import pipeline
from vesseltree.cohort import describe_error
from vesseltree.pipeline import (UserError, branch_radius_volume, unique_names, volume_name,
                                 write_graphml)
from vesseltree.scales import ScaleRule

__all__ = ["main", "build_parser", "analyze_file", "volume_name", "write_graphml",
           "branch_radius_volume", "UserError", "positive_float"]

PROG = "vesseltree"
RUN_FIGURE = "branch_radii.png"


# --------------------------------------------------------------------------------------------
# analyze


def analyze_file(path, out_dir, *, overwrite: bool = True, **options) -> dict:
    """:func:`vesseltree.pipeline.analyze_file` with ``overwrite=True`` by default.

    Kept here for callers of the earlier releases (``vesselnet.demo`` reruns into its own
    results folder); new code calls :func:`vesseltree.pipeline.analyze_file`.
    """
    return pipeline.analyze_file(path, out_dir, overwrite=overwrite, **options)


def _scale_rule(args) -> ScaleRule:
    if args.thresholds is not None:
        return ScaleRule.fixed(args.thresholds)
    return ScaleRule.quantiles(args.n_scales if args.n_scales is not None else 3)


def _options(args, rule) -> dict:
    """Keyword arguments of :func:`vesseltree.pipeline.analyze_file` from the command line."""
    return dict(spacing=args.spacing, structures=args.structures,
                per_structure=args.structures is not None and not args.merge_structures,
                liver_only=args.liver_only, scale_rule=rule, scale_basis=args.scale_basis,
                radius_method=args.radius_method, curvature=args.curvature,
                export_vtp=args.export_vtp, figures=not args.no_figures,
                projection_axis=args.axis, overwrite=args.overwrite)


def _report(args, outcome, say) -> None:
    """Warnings, the error or a one-line result of one input, as it finishes."""
    name = outcome["name"]
    for w in outcome["warnings"]:
        _eprint(f"{PROG}: warning: {name}: {w}")
    if not outcome["ok"]:
        if args.traceback and outcome.get("traceback"):
            _eprint(outcome["traceback"].rstrip())
        hint = " (rerun with --traceback)" if outcome.get("internal") and not args.traceback else ""
        prefix = f"{PROG}: " if outcome.get("internal") else f"{PROG}: error: "
        _eprint(f"{prefix}{outcome['error']}{hint}")
        return
    if args.quiet:
        return
    res = outcome["result"]
    r = res["radii"]
    say(f"{name}: {len(r)} branches, median radius "
        f"{np.median(r) if len(r) else float('nan'):.3g} mm "
        f"({res['summary']['analyze_seconds']:.1f} s) -> {res['dir']}")


def _cmd_analyze(args) -> int:
    from vesseltree import cohort
    from vesseltree.outputs import check_out_folder

    out_dir = check_out_folder(args.out).resolve()
    rule = _scale_rule(args)
    if args.structures is not None:
        args.structures = [n.strip() for item in args.structures for n in item.split(",")
                           if n.strip()]
        pipeline.parse_structures(args.structures)  # a bad item stops before any work
    elif args.merge_structures or args.scale_basis != "union":
        raise UserError("--merge-structures/--scale-basis: name the structures with "
                        "--structures NAME [NAME ...]")
    if args.export_vtp:
        pipeline._check_vtk()
    names = unique_names(args.inputs)
    options = _options(args, rule)
    jobs = [{"path": str(Path(p).resolve()) if args.scheduler else p, "out_dir": str(out_dir),
             "name": n, "options": options} for p, n in zip(args.inputs, names)]
    progress = None
    if len(jobs) > 1:
        from tqdm.auto import tqdm

        progress = tqdm(total=len(jobs), desc="analyze", unit="volume", file=sys.stderr,
                        disable=args.quiet)
    say = (lambda m: progress.write(m, file=sys.stderr)) if progress is not None else _eprint

    def done(outcome):
        _report(args, outcome, say)
        if progress is not None:
            progress.set_postfix_str(outcome["name"])
            progress.update(1)

    if args.traceback and args.jobs == 1 and args.scheduler is None:
        outcomes = _run_raising(jobs, done)
    else:
        outcomes = cohort.run_jobs(jobs, n_jobs=args.jobs, scheduler=args.scheduler, on_done=done)
    if progress is not None:
        progress.close()
    if len(jobs) > 1:  # a cohort: one row per input (a single input has its summary.json)
        cohort.write_cohort_table(outcomes, out_dir / cohort.COHORT_TABLE)
    _run_figure(args, out_dir, cohort.radii_by_input(outcomes))
    failures = [o["name"] for o in outcomes if not o["ok"]]
    if failures and len(jobs) > 1:
        _eprint(f"{PROG}: error: {len(failures)} of {len(jobs)} input(s) failed: "
                f"{', '.join(cohort.natural_sorted(failures))}")
    return 2 if failures else 0


def _run_raising(jobs, done) -> list[dict]:
    """--traceback, serial: errors propagate with their traceback (main() re-raises them);
    the outcomes are :func:`vesseltree.cohort.analyze_job`'s records."""
    outcomes = []
    for job in jobs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = pipeline.analyze_file(job["path"], job["out_dir"], name=job["name"],
                                        **job["options"])
        outcomes.append({"name": job["name"], "path": job["path"], "ok": True, "result": res,
                         "warnings": [str(w.message) for w in caught]})
        done(outcomes[-1])
    return outcomes


def _run_figure(args, out_dir: Path, radii: dict) -> None:
    """OUT/branch_radii.png describes this run: rewritten, or removed when this run has none."""
    path = out_dir / RUN_FIGURE
    if radii and not args.no_figures:
        from vesseltree.plot import letter_value_plot

        letter_value_plot(radii, path, title="Branch radii per volume")
    elif path.is_file():
        path.unlink()
        if not args.quiet:
            _eprint(f"{PROG}: removed {str(path)!r} of an earlier run (no figure in this run)")


# --------------------------------------------------------------------------------------------
# phantom


def phantom_paths(output) -> dict[str, Path]:
    """Files ``vesseltree phantom OUT`` writes: the mask at ``OUT`` and beside it, with the
    same extension, ``<stem>_ct``, ``<stem>_radius`` and ``<stem>_segments.csv``."""
    from vesseltree.io import split_extension

    p = Path(output)
    stem, ext = split_extension(p.name)
    if ext not in (".nii.gz", ".nii", ".npy", ".npz"):
        raise UserError(f"OUT: expected a file name ending in .nii.gz, .nii, .npy or .npz, "
                        f"got {str(p)!r}")
    return {"mask": p, "ct": p.with_name(f"{stem}_ct{ext}"),
            "radius": p.with_name(f"{stem}_radius{ext}"),
            "segments": p.with_name(f"{stem}_segments.csv")}


def _cmd_phantom(args) -> int:
    from vesseltree.io import atomic_write, save_volume
    from vesseltree.synthetic import make_phantom, render_ct

    paths = phantom_paths(args.output)
    kw = {"seed": args.seed}
    if args.depth is not None:
        kw["depth"] = args.depth
    if args.loops:
        kw["loops"] = args.loops
    if args.shape is not None:
        kw["shape"] = tuple(args.shape)
    if args.spacing is not None:
        kw["spacing"] = tuple(args.spacing)
    ph = make_phantom(**kw)
    reached = int(ph.segments["generation"].max()) if len(ph.segments) else 0
    if args.depth is not None and reached < args.depth:
        _eprint(f"{PROG}: warning: --depth {args.depth}: the phantom has {reached} generation(s); "
                "thinner children did not fit (they must stay above the minimum radius, inside "
                "the volume and apart from other tubes): use a larger --shape or finer --spacing")
    mask = np.asarray(ph.mask)
    spacing = tuple(ph.spacing)
    ct = render_ct(ph, seed=args.seed, tumours=args.tumours)
    save_volume(paths["mask"], mask, spacing)
    save_volume(paths["ct"], ct.image, spacing)
    save_volume(paths["radius"], np.asarray(ph.radius, dtype=np.float32), spacing)
    with atomic_write(paths["segments"]) as tmp:
        ph.segments.to_csv(tmp, index=False)
    if not args.quiet:
        _eprint(f"{PROG}: wrote phantom {mask.shape} spacing {spacing} mm, "
                f"{int(mask.sum())} vessel voxels, {len(ph.segments)} segments -> "
                f"{paths['mask']}; CT (HU) -> {paths['ct'].name}, true radius (mm) -> "
                f"{paths['radius'].name}, segments -> {paths['segments'].name}")
    return 0


# --------------------------------------------------------------------------------------------
# parser and entry point


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: one line, exit 2
        self.print_usage(sys.stderr)
        raise SystemExit(_fail(f"{self.prog}: error: {message}"))


def _eprint(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fail(msg: str) -> int:
    _eprint(msg)
    return 2


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (a size in mm)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number (mm), got {text!r}")
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number (mm), got {text!r}")
    return v


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return v

    return parse


_scales = _int_at_least(2)
_positive_int = _int_at_least(1)


def _add_analyze(sub, common) -> None:
    a = sub.add_parser(
        "analyze", parents=[common],
        help="skeleton, branch radii, labels, scales, tables and figures for vessel masks",
        description=(
            "Runs vesseltree.analyze on each input and writes into OUT/<name>/: branches.csv, "
            "graph.graphml, labels.nii.gz, scales.nii.gz, summary.json, radius_mip.png, "
            "scales_mip.png and manifest.json, as one unit (complete, or a hidden folder marked "
            "incomplete); across inputs OUT/branch_radii.png (letter-value plot of branch "
            "radii, one box per volume)."
        ),
    )
    a.add_argument("inputs", nargs="+", metavar="INPUT",
                   help=".nii/.nii.gz, .npy, .npz, MASKS_DICOM.zip or its folder")
    a.add_argument("--spacing", nargs=3, type=positive_float, metavar=("Z", "Y", "X"),
                   help="voxel size in mm, overrides the file's (.npy default: 1 1 1)")
    a.add_argument("--structures", nargs="+", action="extend", metavar="NAME",
                   help="one tree per structure: 3D-IRCADb mask names (A+B unites two masks "
                        "into one structure, 'A|B' takes the first the archive holds; "
                        "...=NAME renames), or label values of a label "
                        "map (1=portalvein 2=venoussystem); put them after the inputs. "
                        "Default: one tree of portalvein + venoussystem (venacava when there "
                        "is no venoussystem)")
    a.add_argument("--merge-structures", action="store_true",
                   help="analyse the --structures united as one tree (one mask) instead")
    a.add_argument("--scale-basis", choices=("union", "structure"), default="union",
                   help="with --structures: scale thresholds over all structures' branches "
                        "(the paper's vessel mask) or per structure (default: %(default)s)")
    a.add_argument("--liver-only", action="store_true",
                   help="3D-IRCADb: keep vessel voxels inside the liver mask only")
    a.add_argument("--out", default="vesseltree_out", metavar="DIR",
                   help="output folder (default: %(default)s)")
    a.add_argument("--overwrite", action="store_true",
                   help="replace OUT/<name>/ folders of an earlier run (default: refuse)")
    rule = a.add_mutually_exclusive_group()
    rule.add_argument("--n-scales", type=_scales, default=None, metavar="S",
                      help="number of vessel scales, per-volume quantile thresholds (default: 3, "
                           "thresholds Q1 and Q3)")
    rule.add_argument("--thresholds", nargs="+", type=positive_float, metavar="MM",
                      help="fixed scale thresholds on the branch radius (mm, strictly increasing) "
                           "instead of per-volume quantiles; S = their number + 1")
    a.add_argument("--radius-method", choices=("corrected", "paper"), default="corrected",
                   help="local radius estimator: bias-corrected or exactly the paper's Eq. 1 "
                        "(default: %(default)s)")
    a.add_argument("--curvature", action="store_true",
                   help="add curvature_per_mm and torsion_per_mm to branches.csv (smoothed "
                        "centerline, as vmtkbranchgeometry; about doubles the analysis time)")
    a.add_argument("--export-vtp", action="store_true",
                   help="write centerlines.vtp (VMTK/Slicer/ParaView) and surface.vtp; needs "
                        "the optional vtk package")
    a.add_argument("--jobs", "-j", type=_positive_int, default=1, metavar="N",
                   help="analyse N inputs at a time in worker processes (default: %(default)s)")
    a.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the inputs on a Dask cluster (tcp://host:8786; needs the optional "
                        "dask extra, and inputs and --out on a file system the workers see)")
    a.add_argument("--axis", type=int, choices=(0, 1, 2), default=0,
                   help="projection axis of the MIP figures (0 = z, axial; default: %(default)s)")
    a.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    a.set_defaults(func=_cmd_analyze)


def _add_phantom(sub, common) -> None:
    ph = sub.add_parser(
        "phantom", parents=[common],
        help="write a synthetic vessel-tree phantom: mask, CT rendering, true radius, segments",
        description=("Writes a synthetic vessel tree (vesseltree.make_phantom) as a mask to OUT "
                     "and beside it, with the same extension, <stem>_ct (CT-like image in HU, "
                     "vesseltree.render_ct), <stem>_radius (true vessel radius in mm of every "
                     "vessel voxel) and <stem>_segments.csv (one row per segment: end points, "
                     "radii, generation, parent). Same seed, same files."))
    ph.add_argument("output", metavar="OUT", help="mask file (.nii.gz, .nii, .npy or .npz)")
    ph.add_argument("--shape", nargs=3, type=_positive_int, metavar=("Z", "Y", "X"),
                    help="volume shape in voxels (default: make_phantom's)")
    ph.add_argument("--spacing", nargs=3, type=positive_float, metavar=("Z", "Y", "X"),
                    help="voxel size in mm (default: make_phantom's)")
    ph.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    ph.add_argument("--depth", type=int, default=None,
                    help="bifurcation generations (default: make_phantom's)")
    ph.add_argument("--loops", type=int, default=0,
                    help="anastomoses (cycles) to add (default: %(default)s)")
    ph.add_argument("--tumours", type=_int_at_least(0), default=0, metavar="N",
                    help="hypodense tumours in the CT rendering (default: %(default)s)")
    ph.set_defaults(func=_cmd_phantom)


def build_parser() -> argparse.ArgumentParser:
    from vesseltree import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--traceback", action="store_true", help="show tracebacks of errors")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    parser = _Parser(prog=PROG, description="Vascular morphometry from 3D vessel masks.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    _add_analyze(sub, common)
    _add_phantom(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 2 error, 130 interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        _eprint(f"{PROG}: interrupted")
        return 130
    except (UserError, ValueError, TypeError, OSError) as exc:
        if args.traceback:
            raise
        return _fail(f"{PROG}: error: {describe_error(exc)}")
    except Exception as exc:  # an unexpected failure: still one line, say how to see more
        if args.traceback:
            raise
        return _fail(f"{PROG}: internal error ({type(exc).__name__}): {exc} (rerun with --traceback)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Command-line interface of vesselnet: ``vesselnet evaluate`` (later: ``train``, ``predict``).

``vesselnet evaluate PRED GT`` compares predicted masks with ground-truth masks. ``PRED`` and
``GT`` are two cases, or two folders whose cases are paired by name (``case01.nii.gz`` with
``case01.npy``); a case is anything ``vesseltree.load_volume`` reads (NIfTI, ``.npy``,
``.npz``, a 3D-IRCADb ``MASKS_DICOM.zip`` or patient folder, named after the patient:
:mod:`vesselnet.evaluate_inputs`), so ``vesselnet predict``'s ``masks/`` folder pairs with the
``3Dircadb1/`` folder. 3D-IRCADb ground truths take ``--structures`` (united; default portal
vein + venous system) and ``--liver-only`` as ``load_volume``. Cases without a partner are
listed on stderr and in the summary, and skipped. For every pair it computes DSC,
Jaccard, clDice, HD, HD95, ASSD (mm) and, unless ``--no-vessel``, the recall of each
ground-truth vessel scale and the branch detection rate (:mod:`vesselnet.metrics`), with a
progress bar, and prints a Table-1-style Markdown summary (mean +- std) on stdout. With
``--out DIR`` it writes:

``metrics.csv``        one row per case (fractions in [0, 1], distances in mm, empty = undefined)
``summary.md``         the Markdown summary, plus the unmatched files
``summary.csv``        mean, std, n, n_defined, n_undefined per metric
``figures/``           with ``--figures``: ``<case>_slices.png`` and ``<case>_mip.png`` (the
                       paper's Fig. 5: TP / FP / FN coloured, axes in mm, slices titled in
                       mm, projections with the errors over the TPs and one panel per class;
                       the CT of ``--image`` underneath; :mod:`vesselnet.plot`) and
                       ``scale_recall.png`` (recall per scale, mean +- std over the cases)

Spacing: ``--spacing Z Y X`` (mm) if given, else the ground truth file's voxel size (NIfTI
header, ``spacing`` array of an ``.npz``); ``.npy`` carries none and defaults to 1 mm with a
warning. Two NIfTI files of a pair whose voxel sizes differ are an error.

Errors (unreadable file, non-binary mask, shape mismatch, bad spacing, nothing to pair) are
printed on stderr as one line and give exit code 2 (``--traceback`` shows the traceback).
Needs neither a GPU nor torch.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from vesseltree.cli import UserError, describe_error, positive_float
from vesseltree.io import split_extension

from vesselnet.evaluate_inputs import load_mask as _load_mask
from vesselnet.evaluate_inputs import match_pairs

__all__ = ["main", "build_parser", "match_pairs", "evaluate_paths", "EvaluationResult", "PROG"]

PROG = "vesselnet"


# --------------------------------------------------------------------------------------------
# evaluation


@dataclass
class EvaluationResult:
    """What :func:`evaluate_paths` computed."""

    evaluator: object  # vesselnet.metrics.CaseEvaluator
    pairs: list = field(default_factory=list)
    unmatched_pred: list = field(default_factory=list)
    unmatched_gt: list = field(default_factory=list)
    spacings: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    failures: list = field(default_factory=list)  # (case, message) of the pairs not evaluated
    reoriented: list = field(default_factory=list)  # cases whose prediction was put on gt's grid
    single: bool = False  # pred and gt are one case each (not folders of cases)


def _carries_spacing(path: Path, vol) -> bool:
    """Whether the file stores a voxel size (NIfTI, DICOM, .npz with spacing or affine)."""
    ext = split_extension(Path(path).name)[1]
    if ext == ".npy":
        return False
    if ext == ".npz":
        import numpy as np

        with np.load(path, allow_pickle=False) as z:
            return "spacing" in z.files or "affine" in z.files
    return True


def _same(a, b) -> bool:
    return all(abs(x - y) <= 1e-3 * max(abs(y), 1e-12) for x, y in zip(a, b))


def _on_gt_grid(name, p, pvol, pf, g, gvol, gf, override) -> tuple:
    """The prediction on the ground truth's grid, and whether it had to be reoriented.

    Both files with an orientation: compared in physical space (axis flips/permutations
    undone, anything else refused). Both with a voxel size only: they must agree.
    """
    from vesseltree.geometry import align_to_grid

    pred_name, gt_name = f"pred file {str(pf)!r}", f"gt file {str(gf)!r}"
    if pvol.has_affine and gvol.has_affine:
        try:
            aligned = align_to_grid(p, pvol.affine, gvol.affine, g.shape, name=pred_name,
                                    ref_name=gt_name)
        except ValueError:
            if override is None and not _same(sorted(pvol.spacing), sorted(gvol.spacing)):
                raise ValueError(_spacing_message(name, pf, pvol, gf, gvol)) from None
            raise
        return aligned, aligned is not p
    if override is None and _carries_spacing(pf, pvol) and _carries_spacing(gf, gvol) \
            and not _same(pvol.spacing, gvol.spacing):
        raise ValueError(_spacing_message(name, pf, pvol, gf, gvol))
    return p, False


def _spacing_message(name, pf, pvol, gf, gvol) -> str:
    return (f"pred, gt: voxel sizes differ for case {name!r}: {str(pf)!r} has "
            f"{tuple(round(s, 6) for s in pvol.spacing)} mm, {str(gf)!r} has "
            f"{tuple(round(s, 6) for s in gvol.spacing)} mm (pass --spacing to override)")


def _evaluate_pair(res: EvaluationResult, name: str, pf: Path, gf: Path, override, figures_dir,
                   gt_options=None, image=None):
    with warnings.catch_warnings(record=True) as caught:  # e.g. NIfTI header disagreements
        warnings.simplefilter("always")
        g, gvol = _load_mask(gf, "gt", override, **(gt_options or {}))
        p, pvol = _load_mask(pf, "pred", override)
    res.warnings += [f"{name}: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
    p, moved = _on_gt_grid(name, p, pvol, pf, g, gvol, gf, override)
    if p.shape != g.shape:
        raise ValueError(
            f"pred, gt: shapes differ for case {name!r}: {str(pf)!r} has {p.shape}, "
            f"{str(gf)!r} has {g.shape}")
    if moved:
        res.reoriented.append(name)
        res.warnings.append(f"{name}: {pf.name} is stored with other axis flips/order than "
                            f"{gf.name}; compared on the ground truth's grid")
    if override is None and split_extension(Path(gf).name)[1] == ".npy":
        res.warnings.append(f"{name}: {gf.name} has no voxel size; using 1 mm (pass --spacing)")
    sp = gvol.spacing
    res.spacings[name] = tuple(sp)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res.evaluator.update(p, g, sp, case=name)
    res.warnings += [f"{name}: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
    if figures_dir is not None:
        from vesselnet.plot import save_case_figures

        ct = _case_image(res, name, image, override, gvol, g.shape)
        res.figures += save_case_figures(p, g, sp, figures_dir, name, image=ct)


def _case_image(res: EvaluationResult, name: str, image, override, gvol, shape):
    """The CT under the figures of case ``name`` (``--image``), or None with a warning."""
    if image is None:
        return None
    from vesselnet.evaluate_inputs import find_image, load_image

    path = find_image(image, name, single=res.single)
    if path is None:
        res.warnings.append(f"{name}: no image for it under --image {str(image)!r}; figures "
                            "without CT")
        return None
    return load_image(path, override, gvol, shape)


def evaluate_paths(pred, gt, *, spacing=None, n_scales: int = 3, vessel: bool = True,
                   min_fraction: float = 0.5, figures_dir=None, progress: bool | None = None,
                   keep_going: bool = False, structures=None, liver_only: bool = False,
                   image=None) -> EvaluationResult:
    """Evaluate prediction files against ground-truth files (see the module docstring).

    Parameters
    ----------
    pred, gt : path-like
        Two cases or two folders of cases (:func:`match_pairs`): anything
        ``vesseltree.load_volume`` reads, 3D-IRCADb patient folders and ``MASKS_DICOM.zip``
        included (:mod:`vesselnet.evaluate_inputs`).
    spacing : 3 floats, optional
        Voxel size (mm, z, y, x) overriding the files'.
    structures : str or sequence of str, optional
        3D-IRCADb ground truths: the structures to unite (default portal vein + venous
        system, as ``load_volume``).
    liver_only : bool
        3D-IRCADb ground truths: keep the vessel voxels inside the liver mask.
    image : path-like, optional
        With ``figures_dir``: the CT drawn under the figures, a case or a 3D-IRCADb patient
        folder (one pair), or a folder of them named like the cases.
    n_scales : int >= 2
        Ground-truth scales for the per-scale recall.
    vessel : bool
        Compute the per-scale recall and branch detection (:func:`vesseltree.analyze`).
    figures_dir : path-like, optional
        Write the Fig. 5 overlays of every case there.
    progress : bool, optional
        Progress bar on stderr (default: only on a terminal).
    keep_going : bool
        ``False`` (default): the first bad pair raises. ``True``: it is recorded in
        ``failures`` and the other pairs are evaluated (what the command does).

    Raises
    ------
    ValueError
        Naming the argument or the file at fault (with ``keep_going``: only when nothing
        can be paired).
    """
    from tqdm.auto import tqdm

    from vesseltree.validation import check_spacing
    from vesselnet.metrics import CaseEvaluator

    sp_override = None if spacing is None else check_spacing(spacing, "spacing")
    pairs, up, ug = match_pairs(pred, gt)
    if not pairs:
        raise ValueError(
            f"pred, gt: no file of {str(pred)!r} has a partner with the same name stem in {str(gt)!r}"
        )
    ev = CaseEvaluator(n_scales=n_scales, vessel=vessel, min_fraction=min_fraction)
    from vesselnet.evaluate_inputs import is_case

    res = EvaluationResult(ev, pairs, up, ug, single=is_case(Path(gt)))
    gt_options = {"structures": structures, "liver_only": bool(liver_only)}
    bar = tqdm(pairs, desc="evaluate", unit="case", file=sys.stderr,
               disable=(None if progress is None else not progress))
    for name, pf, gf in bar:
        try:
            _evaluate_pair(res, name, pf, gf, sp_override, figures_dir, gt_options, image)
        except ValueError as exc:
            if not keep_going:
                raise
            res.failures.append((name, str(exc)))
    if figures_dir is not None and vessel and len(ev):
        from vesselnet.plot import plot_scale_recall

        mean, std = ev.scale_recall_summary()
        if not all(m != m for m in mean):  # at least one scale defined
            path = Path(figures_dir) / "scale_recall.png"
            plot_scale_recall(mean, std, path=path, title=f"recall per scale ({len(ev)} case(s))")
            res.figures.append(path)
    return res


# --------------------------------------------------------------------------------------------
# command line


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="compare predicted masks with ground-truth masks (DSC, clDice, HD, per-scale recall, ...)",
        description=(
            "Compare predicted binary masks with ground-truth masks: two files, or two folders "
            "paired by name stem (NIfTI, .npy, .npz). Prints a Markdown summary (mean +- std)."
        ),
    )
    p.add_argument("pred", help="prediction file or folder")
    p.add_argument("gt", help="ground-truth file or folder: what vesseltree.load_volume reads "
                              "(NIfTI, .npy, .npz, a 3D-IRCADb MASKS_DICOM.zip or patient "
                              "folder), or a folder of them (e.g. 3Dircadb1/)")
    p.add_argument("--structures", nargs="+", metavar="NAME",
                   help="3D-IRCADb ground truths: structures to unite (default: portalvein + "
                        "venoussystem, as vesseltree.load_volume)")
    p.add_argument("--liver-only", action="store_true",
                   help="3D-IRCADb ground truths: keep the vessel voxels inside the liver mask")
    p.add_argument("--image", metavar="PATH",
                   help="with --figures: the CT under the figures (a file or a 3D-IRCADb "
                        "patient folder; for folders of cases, a folder of them named like "
                        "the cases)")
    p.add_argument("--spacing", nargs=3, type=positive_float, metavar=("Z", "Y", "X"),
                   help="voxel size in mm, overriding the files' (default: the ground truth's)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="write metrics.csv, summary.md, summary.csv (and figures/) there, as one "
                        "unit (complete, or a hidden folder marked incomplete)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the --out folder of an earlier evaluate run (default: refuse)")
    p.add_argument("--figures", action="store_true",
                   help="with --out: Fig. 5 overlays per case and the per-scale recall bar chart")
    p.add_argument("--n-scales", type=int, default=3, metavar="S",
                   help="number of ground-truth vessel scales for the per-scale recall (>= 2, default 3)")
    p.add_argument("--min-fraction", type=float, default=0.5, metavar="F",
                   help="a ground-truth branch is detected when this share of its voxels is predicted (default 0.5)")
    p.add_argument("--no-vessel", action="store_true",
                   help="skip the per-scale recall and branch detection (no vesseltree.analyze)")
    p.add_argument("--name", default="prediction", help="row name in the Markdown summary")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--traceback", action="store_true", help="show the traceback of an error")
    p.set_defaults(func=_cmd_evaluate)


def build_parser() -> argparse.ArgumentParser:
    """The ``vesselnet`` parser; each command adds its sub-parser (``_add_<command>``)."""
    parser = argparse.ArgumentParser(prog=PROG, description="vesselnet: scale-aware liver-vessel segmentation")
    from vesselnet import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_evaluate(sub)
    for module in _command_modules():
        module.add_parser(sub)
    return parser


def _command_modules() -> list:
    """The modules of :mod:`vesselnet.commands`, one per command, in name order.

    Each exposes ``add_parser(subparsers)``, which adds its sub-parser and sets ``func`` (a
    callable taking the parsed arguments and returning the exit code). They import torch only
    inside ``func``, so ``vesselnet evaluate`` and ``--help`` stay torch-free.
    """
    import importlib
    import pkgutil

    import vesselnet.commands as commands

    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"vesselnet.commands.{name}") for name in names]


EVALUATE_TOOL = "vesselnet evaluate"
EVALUATE_FILES = ("metrics.csv", "summary.md", "summary.csv", "figures")


def _cmd_evaluate(args) -> int:
    if args.figures and args.out is None:
        raise UserError("--figures: needs --out DIR to write the figures into")
    if args.image is not None and not args.figures:
        raise UserError("--image: the CT is drawn under the figures; add --figures (and --out)")
    if args.image is not None and not Path(args.image).exists():
        raise UserError(f"--image: no such file or folder: {args.image!r}")
    if args.n_scales < 2:
        raise UserError(f"--n-scales: expected an integer >= 2, got {args.n_scales}")
    if not (0 < args.min_fraction <= 1):
        raise UserError(f"--min-fraction: expected a number in (0, 1], got {args.min_fraction}")
    unit = None
    if args.out is not None:
        from vesseltree.outputs import OutputUnit, check_out_folder

        target = Path(args.out).resolve()
        if target.exists() and not target.is_dir():
            raise UserError(f"--out: {str(args.out)!r} exists and is a file, not a folder; "
                            "choose another output folder")
        check_out_folder(target.parent, "--out")
        unit = OutputUnit(target, tool=EVALUATE_TOOL, known_files=EVALUATE_FILES,
                          overwrite=args.overwrite, param="--out")
        unit.check_target()  # before the evaluation
    if unit is None:
        return _evaluate_and_report(args, None)
    with unit:
        rc = _evaluate_and_report(args, unit)
        if rc is None:  # nothing evaluated: nothing written
            return 2
        unit.commit(inputs=[str(args.pred), str(args.gt)])
    print(f"{PROG} evaluate: wrote {str(args.out)!r}", file=sys.stderr)
    return rc


def _evaluate_and_report(args, unit):
    """Evaluate, print, and write the tables into ``unit`` (if any). Returns the exit code,
    or None when no case could be evaluated."""
    figures_dir = unit.path("figures") if (unit is not None and args.figures) else None
    res = evaluate_paths(
        args.pred, args.gt, spacing=args.spacing, n_scales=args.n_scales, vessel=not args.no_vessel,
        min_fraction=args.min_fraction, figures_dir=figures_dir,
        progress=False if args.quiet else None, keep_going=True,
        structures=args.structures, liver_only=args.liver_only, image=args.image,
    )
    _say = lambda msg: print(f"{PROG} evaluate: {msg}", file=sys.stderr)  # noqa: E731
    for p in res.unmatched_pred:
        _say(f"warning: no ground truth for prediction {str(p)!r}; skipped")
    for p in res.unmatched_gt:
        _say(f"warning: no prediction for ground truth {str(p)!r}; skipped")
    for w in res.warnings:
        _say(f"warning: {w}")
    for _, msg in res.failures:
        _say(f"error: {msg}")
    if res.failures:
        _say(f"error: {len(res.failures)} of {len(res.pairs)} case(s) failed: "
             + ", ".join(n for n, _ in res.failures))
    ev = res.evaluator
    if not len(ev):
        return None
    md = ev.to_markdown(name=args.name) + _markdown_notes(res)
    sys.stdout.write(md)
    if unit is not None:
        from vesseltree.io import atomic_write

        ev.to_csv(unit.path("metrics.csv"))
        unit.wrote("metrics.csv")
        ev.summary().to_csv(unit.path("summary.csv"), float_format="%.6g")
        unit.wrote("summary.csv")
        with atomic_write(unit.path("summary.md")) as tmp:
            tmp.write_text(md, encoding="utf-8")
        unit.wrote("summary.md")
        if figures_dir is not None and figures_dir.exists():
            unit.wrote("figures")
    return 2 if res.failures else 0


def _markdown_notes(res: EvaluationResult) -> str:
    md = ""
    if res.unmatched_pred or res.unmatched_gt:
        md += "\nUnmatched files (skipped):\n\n"
        md += "".join(f"- prediction without ground truth: `{p}`\n" for p in res.unmatched_pred)
        md += "".join(f"- ground truth without prediction: `{p}`\n" for p in res.unmatched_gt)
    if res.failures:
        md += "\nCases not evaluated (errors):\n\n"
        md += "".join(f"- `{name}`: {msg}\n" for name, msg in res.failures)
    if res.reoriented:
        md += ("\nPredictions compared on the ground truth's grid (stored with other axis "
               "flips/order): " + ", ".join(f"`{n}`" for n in res.reoriented) + "\n")
    return md


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vesselnet`` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (argparse prints them)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except (UserError, ValueError, TypeError, OSError) as exc:
        if getattr(args, "traceback", False):
            raise
        print(f"{PROG} {args.command}: error: {describe_error(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Command-line interface of vesselnet: ``vesselnet evaluate`` (later: ``train``, ``predict``).

``vesselnet evaluate PRED GT`` compares predicted masks with ground-truth masks. ``PRED`` and
``GT`` are two files, or two folders whose files (NIfTI ``.nii``/``.nii.gz``, ``.npy``,
``.npz``) are paired by name stem (``case01.nii.gz`` with ``case01.npy``); files without a
partner are listed on stderr and in the summary, and skipped. For every pair it computes DSC,
Jaccard, clDice, HD, HD95, ASSD (mm) and, unless ``--no-vessel``, the recall of each
ground-truth vessel scale and the branch detection rate (:mod:`vesselnet.metrics`), with a
progress bar, and prints a Table-1-style Markdown summary (mean +- std) on stdout. With
``--out DIR`` it writes:

``metrics.csv``        one row per case (fractions in [0, 1], distances in mm, empty = undefined)
``summary.md``         the Markdown summary, plus the unmatched files
``summary.csv``        mean, std, n, n_defined, n_undefined per metric
``figures/``           with ``--figures``: ``<case>_slices.png`` and ``<case>_mip.png`` (the
                       paper's Fig. 5: TP / FP / FN coloured, :mod:`vesselnet.plot`) and
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

from vesseltree.cli import UserError, positive_float

__all__ = ["main", "build_parser", "match_pairs", "evaluate_paths", "EvaluationResult", "PROG"]

PROG = "vesselnet"
_EXTENSIONS = (".nii.gz", ".nii", ".npy", ".npz")




# --------------------------------------------------------------------------------------------
# pairing


def _split_name(p: Path) -> tuple[str, str] | None:
    low = p.name.lower()
    for ext in _EXTENSIONS:
        if low.endswith(ext) and len(low) > len(ext):
            return p.name[: -len(ext)], ext
    return None


def _list_volumes(folder: Path, arg: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name.startswith("."):
            continue
        split = _split_name(p)
        if split is None:
            continue
        stem = split[0]
        if stem in found:
            raise ValueError(
                f"{arg}: two files with the name stem {stem!r} in {str(folder)!r}: "
                f"{found[stem].name!r} and {p.name!r}"
            )
        found[stem] = p
    return found


def match_pairs(pred, gt) -> tuple[list[tuple[str, Path, Path]], list[Path], list[Path]]:
    """Pair prediction and ground-truth files.

    Parameters
    ----------
    pred, gt : path-like
        Two files (one pair, named after the ground truth's stem) or two folders (files
        paired by name stem, extension ignored: ``.nii.gz``, ``.nii``, ``.npy``, ``.npz``).

    Returns
    -------
    pairs : list of (name, pred_path, gt_path)
        Sorted by name.
    unmatched_pred, unmatched_gt : list of Path
        Files of one folder without a partner in the other.

    Raises
    ------
    ValueError
        Naming ``pred`` or ``gt``: a path that does not exist, a file paired with a folder,
        an unsupported extension, two files with the same stem in one folder.
    """
    pp, gp = Path(pred), Path(gt)
    for arg, p in (("pred", pp), ("gt", gp)):
        if not p.exists():
            raise ValueError(f"{arg}: no such file or folder: {str(p)!r}")
    if pp.is_dir() != gp.is_dir():
        raise ValueError(
            f"pred, gt: expected two files or two folders, got {'folder' if pp.is_dir() else 'file'} "
            f"{str(pp)!r} and {'folder' if gp.is_dir() else 'file'} {str(gp)!r}"
        )
    if not pp.is_dir():
        for arg, p in (("pred", pp), ("gt", gp)):
            if _split_name(p) is None:
                raise ValueError(
                    f"{arg}: unsupported file {str(p)!r}; expected one of {', '.join(_EXTENSIONS)}"
                )
        return [(_split_name(gp)[0], pp, gp)], [], []
    pv, gv = _list_volumes(pp, "pred"), _list_volumes(gp, "gt")
    names = sorted(set(pv) & set(gv))
    pairs = [(n, pv[n], gv[n]) for n in names]
    return pairs, [pv[n] for n in sorted(set(pv) - set(gv))], [gv[n] for n in sorted(set(gv) - set(pv))]


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


def _load_mask(path: Path, arg: str, spacing):
    from vesseltree.io import as_binary_mask, load_volume

    try:
        vol = load_volume(path, spacing=spacing)
    except FileNotFoundError as exc:
        raise ValueError(f"{arg}: no such file: {str(path)!r}") from exc
    except ValueError as exc:
        raise ValueError(f"{arg} file {str(path)!r}: {exc}") from exc
    except Exception as exc:  # corrupt files raise all sorts of errors in the readers
        raise ValueError(f"{arg} file {str(path)!r}: cannot read it ({type(exc).__name__}: {exc})") from exc
    return as_binary_mask(vol.data, f"{arg} file {str(path)!r}"), vol


def evaluate_paths(pred, gt, *, spacing=None, n_scales: int = 3, vessel: bool = True,
                   min_fraction: float = 0.5, figures_dir=None, progress: bool | None = None
                   ) -> EvaluationResult:
    """Evaluate prediction files against ground-truth files (see the module docstring).

    Parameters
    ----------
    pred, gt : path-like
        Two files or two folders (:func:`match_pairs`).
    spacing : 3 floats, optional
        Voxel size (mm, z, y, x) overriding the files'.
    n_scales : int >= 2
        Ground-truth scales for the per-scale recall.
    vessel : bool
        Compute the per-scale recall and branch detection (:func:`vesseltree.analyze`).
    figures_dir : path-like, optional
        Write the Fig. 5 overlays of every case there.
    progress : bool, optional
        Progress bar on stderr (default: only on a terminal).

    Raises
    ------
    ValueError
        Naming the argument or the file at fault.
    """
    from tqdm.auto import tqdm

    from vesseltree._validation import check_spacing
    from vesselnet.metrics import CaseEvaluator

    sp_override = None if spacing is None else check_spacing(spacing, "spacing")
    pairs, up, ug = match_pairs(pred, gt)
    if not pairs:
        raise ValueError(
            f"pred, gt: no file of {str(pred)!r} has a partner with the same name stem in {str(gt)!r}"
        )
    ev = CaseEvaluator(n_scales=n_scales, vessel=vessel, min_fraction=min_fraction)
    res = EvaluationResult(ev, pairs, up, ug)
    bar = tqdm(pairs, desc="evaluate", unit="case", file=sys.stderr,
               disable=(None if progress is None else not progress))
    for name, pf, gf in bar:
        g, gvol = _load_mask(gf, "gt", sp_override)
        p, pvol = _load_mask(pf, "pred", sp_override)
        if p.shape != g.shape:
            raise ValueError(
                f"pred, gt: shapes differ for case {name!r}: {str(pf)!r} has {p.shape}, "
                f"{str(gf)!r} has {g.shape}"
            )
        sp = gvol.spacing
        if sp_override is None:
            if _split_name(gf)[1] == ".npy":
                res.warnings.append(f"{name}: {gf.name} has no voxel size; using 1 mm (pass --spacing)")
            if _split_name(pf)[1] in (".nii", ".nii.gz") and _split_name(gf)[1] in (".nii", ".nii.gz"):
                if any(abs(a - b) > 1e-3 * max(abs(b), 1e-12) for a, b in zip(pvol.spacing, sp)):
                    raise ValueError(
                        f"pred, gt: voxel sizes differ for case {name!r}: {str(pf)!r} has "
                        f"{tuple(round(s, 6) for s in pvol.spacing)} mm, {str(gf)!r} has "
                        f"{tuple(round(s, 6) for s in sp)} mm (pass --spacing to override)"
                    )
        res.spacings[name] = tuple(sp)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ev.update(p, g, sp, case=name)
        res.warnings += [f"{name}: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
        if figures_dir is not None:
            from vesselnet.plot import save_case_figures

            res.figures += save_case_figures(p, g, sp, figures_dir, name)
    if figures_dir is not None and vessel:
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
    p.add_argument("gt", help="ground-truth file or folder")
    p.add_argument("--spacing", nargs=3, type=positive_float, metavar=("Z", "Y", "X"),
                   help="voxel size in mm, overriding the files' (default: the ground truth's)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="write metrics.csv, summary.md, summary.csv (and figures/) there")
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


def _cmd_evaluate(args) -> int:
    if args.figures and args.out is None:
        raise UserError("--figures: needs --out DIR to write the figures into")
    if args.n_scales < 2:
        raise UserError(f"--n-scales: expected an integer >= 2, got {args.n_scales}")
    if not (0 < args.min_fraction <= 1):
        raise UserError(f"--min-fraction: expected a number in (0, 1], got {args.min_fraction}")
    out: Path | None = args.out
    if out is not None:
        if out.exists() and not out.is_dir():
            raise UserError(f"--out: {str(out)!r} exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
    res = evaluate_paths(
        args.pred, args.gt, spacing=args.spacing, n_scales=args.n_scales, vessel=not args.no_vessel,
        min_fraction=args.min_fraction, figures_dir=(out / "figures") if args.figures else None,
        progress=False if args.quiet else None,
    )
    for p in res.unmatched_pred:
        print(f"{PROG} evaluate: warning: no ground truth for prediction {str(p)!r}; skipped", file=sys.stderr)
    for p in res.unmatched_gt:
        print(f"{PROG} evaluate: warning: no prediction for ground truth {str(p)!r}; skipped", file=sys.stderr)
    for w in res.warnings:
        print(f"{PROG} evaluate: warning: {w}", file=sys.stderr)
    ev = res.evaluator
    md = ev.to_markdown(name=args.name)
    if res.unmatched_pred or res.unmatched_gt:
        md += "\nUnmatched files (skipped):\n\n"
        md += "".join(f"- prediction without ground truth: `{p}`\n" for p in res.unmatched_pred)
        md += "".join(f"- ground truth without prediction: `{p}`\n" for p in res.unmatched_gt)
    sys.stdout.write(md)
    if out is not None:
        ev.to_csv(out / "metrics.csv")
        ev.summary().to_csv(out / "summary.csv", float_format="%.6g")
        (out / "summary.md").write_text(md, encoding="utf-8")
        print(f"{PROG} evaluate: wrote {len(ev)} case(s) to {str(out)!r}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vesselnet`` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (argparse prints them)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    try:
        return int(args.func(args))
    except (UserError, ValueError, TypeError, OSError) as exc:
        if getattr(args, "traceback", False):
            raise
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

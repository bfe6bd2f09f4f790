"""Command-line interface: ``vesseltree analyze`` and ``vesseltree phantom``.

``vesseltree analyze INPUT [INPUT ...]`` runs :func:`vesseltree.analyze` on each input (NIfTI,
.npy/.npz, a 3D-IRCADb ``MASKS_DICOM.zip``, its extracted folder, or a patient folder holding
it) and writes, for each, into ``OUT/<name>/``:

``branches.csv``     one row per branch (length, radius, tortuosity, ...)
``graph.graphml``    the branch graph (networkx); array attributes as JSON strings
``labels.nii.gz``    nearest-branch labels (int32, 0 = background), input geometry
``scales.nii.gz``    scale classes (uint8, 0 = background, 1..S, 1 = smallest vessels)
``summary.json``     per-volume summary plus the input's geometry and the options used
``radius_mip.png``   maximum projection of the branch radius of every vessel voxel
``scales_mip.png``   maximum projection of the scale classes (paper Fig. 2b)

and, across inputs, ``OUT/branch_radii.png``: a letter-value plot of the branch radii, one box
per volume (paper Fig. 4). A progress bar runs when several inputs are given. An input that
fails is reported and skipped; the exit code is then 2.

``vesseltree phantom OUT`` writes a synthetic vessel phantom (:func:`vesseltree.make_phantom`).

Errors are printed on stderr as one line, exit code 2, without traceback (``--traceback``
shows it).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["main", "build_parser", "analyze_file", "volume_name", "write_graphml",
           "branch_radius_volume"]

PROG = "vesseltree"


class UserError(Exception):
    """An error caused by the command line or the inputs (exit code 2)."""


# --------------------------------------------------------------------------------------------
# helpers


def volume_name(path) -> str:
    """Short name of an input: the patient folder for DICOM masks, else the file stem."""
    p = Path(path)
    name = p.name
    low = name.lower()
    for ext in (".nii.gz", ".nii", ".npy", ".npz", ".zip"):
        if low.endswith(ext):
            name = name[: -len(ext)]
            break
    if name.upper() in {"MASKS_DICOM", "PATIENT_DICOM"} and p.resolve().parent.name:
        name = p.resolve().parent.name
    return name or "volume"


def _unique_names(paths: Sequence[str]) -> list[str]:
    names, seen = [], {}
    for p in paths:
        base = volume_name(p)
        n = seen.get(base, 0)
        seen[base] = n + 1
        names.append(base if n == 0 else f"{base}_{n + 1}")
    return names


def _plain(value):
    """JSON/GraphML-friendly version of a value (numpy scalars -> Python, arrays -> lists)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, (int, str)) or value is None:
        return value
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    return str(value)


def _graphml_value(value):
    """GraphML holds str, int, float and bool only: others become JSON strings, None dropped."""
    v = _plain(value)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return json.dumps(v, separators=(",", ":"))


def write_graphml(graph, path) -> Path:
    """Write a networkx graph as GraphML (atomic), converting array/list attributes such as
    branch paths to JSON strings and dropping ``None``/NaN values."""
    import networkx as nx

    g = graph.__class__()
    g.graph.update(
        {str(k): v for k, v in ((k, _graphml_value(v)) for k, v in graph.graph.items()) if v is not None}
    )
    for n, attrs in graph.nodes(data=True):
        g.add_node(_graphml_value(n), **{
            str(k): v for k, v in ((k, _graphml_value(v)) for k, v in attrs.items()) if v is not None
        })
    if graph.is_multigraph():
        edges = ((u, v, k, d) for u, v, k, d in graph.edges(keys=True, data=True))
    else:
        edges = ((u, v, None, d) for u, v, d in graph.edges(data=True))
    for u, v, k, attrs in edges:
        clean = {str(a): b for a, b in ((a, _graphml_value(b)) for a, b in attrs.items()) if b is not None}
        if k is None:
            g.add_edge(_graphml_value(u), _graphml_value(v), **clean)
        else:
            g.add_edge(_graphml_value(u), _graphml_value(v), key=_graphml_value(k), **clean)
    from vesseltree.io import atomic_write

    with atomic_write(path) as tmp:
        nx.write_graphml(g, tmp)
    p = Path(path)
    return p


def _write_text(path: Path, text: str) -> None:
    from vesseltree.io import atomic_write

    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def branch_radius_volume(labels: np.ndarray, branches) -> np.ndarray:
    """Each vessel voxel gets the radius (mm) of its branch; 0 elsewhere.

    ``labels``: int volume of branch ids (0 background, ``VesselTree.labels``); ``branches``:
    a DataFrame indexed by branch id (or with a ``branch_id`` column) with ``radius_mm``.
    Returns a float32 volume of the labels' shape.
    """
    ids = branches["branch_id"].to_numpy() if "branch_id" in branches.columns else branches.index.to_numpy()
    radii = branches["radius_mm"].to_numpy(dtype=float)
    top = int(max(labels.max(initial=0), ids.max(initial=0)))
    lut = np.zeros(top + 1, dtype=np.float32)
    lut[np.asarray(ids, dtype=np.int64)] = np.nan_to_num(radii, nan=0.0)
    return lut[labels]



# --------------------------------------------------------------------------------------------
# analyze


def analyze_file(
    path,
    out_dir,
    *,
    name: str | None = None,
    spacing=None,
    structures=None,
    liver_only: bool = False,
    n_scales: int = 3,
    radius_method: str = "corrected",
    figures: bool = True,
    projection_axis: int = 0,
    thresholds=None,
) -> dict:
    """Analyse one input and write its outputs into ``out_dir/<name>/``.

    ``thresholds`` (mm, increasing) fixes the scale thresholds instead of the per-volume
    quantiles of ``n_scales`` (then S = len(thresholds) + 1); it also works for volumes with
    fewer branches than scales, where quantile thresholds raise.

    Returns
    -------
    dict
        ``{"name", "dir", "radii" (branch radii in mm), "summary"}``.
    """
    from vesseltree.io import as_binary_mask, load_volume, save_volume

    name = name or volume_name(path)
    p = Path(path)
    is_dicom = p.is_dir() or p.name.lower().endswith(".zip")
    kw = {}
    if is_dicom:
        kw["structures"] = structures
        kw["restrict_to"] = "liver" if liver_only else None
    elif structures is not None or liver_only:
        raise UserError(f"{p}: --structures and --liver-only apply to 3D-IRCADb DICOM masks only")
    vol = load_volume(p, spacing=spacing, **kw)
    data = as_binary_mask(vol.data, p.name)
    from vesseltree.tree import analyze

    t0 = time.perf_counter()
    if thresholds is not None:
        n_scales = len(thresholds) + 1
    tree = analyze(data, vol.spacing, radius_method=radius_method, n_scales=n_scales)
    seconds = time.perf_counter() - t0
    # scales first: with fewer branches than scales this raises before anything is written
    try:
        if thresholds is not None:
            scales = tree.scale_labels(thresholds=list(thresholds))
            used = [float(t) for t in thresholds]
        else:
            scales = tree.scale_labels(n_scales=n_scales)
            used = tree.scale_thresholds(n_scales).tolist() if len(tree.branches) else None
    except ValueError as exc:
        if thresholds is not None:
            raise
        raise UserError(f"{exc} (use --thresholds MM ... for such volumes)") from exc
    scales = np.asarray(scales, dtype=np.uint8)
    out = Path(out_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    branches = tree.branches
    from vesseltree.io import atomic_write

    with atomic_write(out / "branches.csv") as tmp:
        # the index is the branch id (from 1), the key of labels.nii.gz
        branches.to_csv(tmp, index=True, index_label=branches.index.name or "branch_id")
    write_graphml(tree.graph, out / "graph.graphml")
    labels = np.asarray(tree.labels, dtype=np.int32)
    save_volume(out / "labels.nii.gz", labels, vol.spacing, vol.affine)
    save_volume(out / "scales.nii.gz", scales, vol.spacing, vol.affine)
    summary = dict(_plain(tree.summary()))
    summary.update(
        {
            "name": name,
            "source": vol.source,
            "shape": list(vol.data.shape),
            "spacing_mm": list(vol.spacing),
            "n_scales": n_scales,
            "radius_method": radius_method,
            "scale_thresholds_mm": used,
            "scale_rule": "fixed thresholds (mm)" if thresholds is not None else "quantiles",
            "scale_voxels": [int((scales == s).sum()) for s in range(1, n_scales + 1)],
            "scale_volume_mm3": [
                float((scales == s).sum() * np.prod(vol.spacing)) for s in range(1, n_scales + 1)
            ],
            "analyze_seconds": round(seconds, 3),
        }
    )
    _write_text(out / "summary.json", json.dumps(_plain(summary), indent=2) + "\n")
    if figures:
        from vesseltree.plot import radius_mip, scale_mip

        radius_mip(
            branch_radius_volume(labels, branches), out / "radius_mip.png",
            axis=projection_axis, spacing=vol.spacing, title=f"{name}: branch radius (max)",
        )
        scale_mip(
            scales, out / "scales_mip.png", axis=projection_axis, spacing=vol.spacing,
            n_scales=n_scales, title=f"{name}: largest scale",
        )
    radii = branches["radius_mm"].to_numpy(dtype=float) if len(branches) else np.zeros(0)
    return {"name": name, "dir": out, "radii": radii, "summary": summary}


def _cmd_analyze(args) -> int:
    from vesseltree.plot import letter_value_plot

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = _unique_names(args.inputs)
    if args.structures is not None:
        args.structures = [n.strip() for item in args.structures for n in item.split(",") if n.strip()]
    results, failures = [], []
    items = list(zip(args.inputs, names))
    progress = None
    if len(items) > 1:
        from tqdm.auto import tqdm

        progress = tqdm(items, desc="analyze", unit="volume", file=sys.stderr, disable=args.quiet)
        iterator = progress
    else:
        iterator = items
    for path, name in iterator:
        if progress is not None:
            progress.set_postfix_str(name)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = analyze_file(
                    path, out_dir, name=name, spacing=args.spacing, structures=args.structures,
                    liver_only=args.liver_only, n_scales=args.n_scales,
                    radius_method=args.radius_method, figures=not args.no_figures,
                    projection_axis=args.axis, thresholds=args.thresholds,
                )
            for w in caught:
                _eprint(f"{PROG}: warning: {name}: {w.message}")
        except (UserError, ValueError, TypeError, OSError) as exc:
            if args.traceback:
                raise
            failures.append(name)
            msg = str(exc)
            named = msg.startswith((str(path), Path(path).name))  # the reader named the file
            _eprint(f"{PROG}: error: {msg}" if named else f"{PROG}: error: {path}: {msg}")
            continue
        except Exception as exc:  # keep going with the other inputs
            if args.traceback:
                raise
            failures.append(name)
            _eprint(f"{PROG}: internal error ({type(exc).__name__}) on {path}: {exc} "
                    "(rerun with --traceback)")
            continue
        results.append(res)
        if not args.quiet:
            s = res["summary"]
            msg = (
                f"{name}: {len(res['radii'])} branches, median radius "
                f"{np.median(res['radii']) if len(res['radii']) else float('nan'):.3g} mm "
                f"({s['analyze_seconds']:.1f} s) -> {res['dir']}"
            )
            (progress.write(msg, file=sys.stderr) if progress is not None else _eprint(msg))
    if progress is not None:
        progress.close()
    if results and not args.no_figures:
        letter_value_plot(
            {r["name"]: r["radii"] for r in results}, out_dir / "branch_radii.png",
            title="Branch radii per volume",
        )
    if failures and len(items) > 1:
        _eprint(f"{PROG}: error: {len(failures)} of {len(items)} input(s) failed: {', '.join(failures)}")
    return 2 if failures else 0


# --------------------------------------------------------------------------------------------
# phantom


def _cmd_phantom(args) -> int:
    from vesseltree.io import save_volume
    from vesseltree.synthetic import make_phantom

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
    mask = np.asarray(ph.mask)
    spacing = tuple(getattr(ph, "spacing", args.spacing or (1.0, 1.0, 1.0)))
    path = save_volume(args.output, mask, spacing)
    if not args.quiet:
        _eprint(f"{PROG}: wrote phantom {mask.shape} spacing {spacing} mm, "
                f"{int(mask.sum())} vessel voxels -> {path}")
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


def build_parser() -> argparse.ArgumentParser:
    from vesseltree import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--traceback", action="store_true", help="show tracebacks of errors")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    parser = _Parser(prog=PROG, description="Vascular morphometry from 3D vessel masks.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    a = sub.add_parser(
        "analyze", parents=[common],
        help="skeleton, branch radii, labels, scales, tables and figures for vessel masks",
        description=(
            "Runs vesseltree.analyze on each input and writes into OUT/<name>/: branches.csv, "
            "graph.graphml, labels.nii.gz, scales.nii.gz, summary.json, radius_mip.png and "
            "scales_mip.png; across inputs OUT/branch_radii.png (letter-value plot of branch "
            "radii, one box per volume)."
        ),
    )
    a.add_argument("inputs", nargs="+", metavar="INPUT",
                   help=".nii/.nii.gz, .npy, .npz, MASKS_DICOM.zip or its folder")
    a.add_argument("--spacing", nargs=3, type=positive_float, metavar=("Z", "Y", "X"),
                   help="voxel size in mm, overrides the file's (.npy default: 1 1 1)")
    a.add_argument("--structures", action="append", metavar="NAME[,NAME...]",
                   help="3D-IRCADb structures to unite, comma-separated or repeated "
                        "(default: portalvein + venoussystem, or venacava when there is no "
                        "venoussystem)")
    a.add_argument("--liver-only", action="store_true",
                   help="3D-IRCADb: keep vessel voxels inside the liver mask only")
    a.add_argument("--out", default="vesseltree_out", metavar="DIR",
                   help="output folder (default: %(default)s)")
    a.add_argument("--n-scales", type=_scales, default=3, metavar="S",
                   help="number of vessel scales (default: %(default)s, thresholds Q1 and Q3)")
    a.add_argument("--thresholds", nargs="+", type=positive_float, metavar="MM",
                   help="fixed scale thresholds on the branch radius (mm, increasing) instead of "
                        "per-volume quantiles; S = their number + 1 (overrides --n-scales)")
    a.add_argument("--radius-method", choices=("corrected", "paper"), default="corrected",
                   help="local radius estimator: bias-corrected or exactly the paper's Eq. 1 "
                        "(default: %(default)s)")
    a.add_argument("--axis", type=int, choices=(0, 1, 2), default=0,
                   help="projection axis of the MIP figures (0 = z, axial; default: %(default)s)")
    a.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    a.set_defaults(func=_cmd_analyze)

    ph = sub.add_parser("phantom", parents=[common], help="write a synthetic vessel-tree phantom mask")
    ph.add_argument("output", metavar="OUT", help="output file (.nii.gz, .nii, .npy or .npz)")
    ph.add_argument("--shape", nargs=3, type=_positive_int, metavar=("Z", "Y", "X"),
                    help="volume shape in voxels (default: make_phantom's)")
    ph.add_argument("--spacing", nargs=3, type=positive_float, metavar=("Z", "Y", "X"),
                    help="voxel size in mm (default: make_phantom's)")
    ph.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    ph.add_argument("--depth", type=int, default=None,
                    help="bifurcation generations (default: make_phantom's)")
    ph.add_argument("--loops", type=int, default=0,
                    help="anastomoses (cycles) to add (default: %(default)s)")
    ph.set_defaults(func=_cmd_phantom)
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
        return _fail(f"{PROG}: error: {exc}")
    except Exception as exc:  # an unexpected failure: still one line, say how to see more
        if args.traceback:
            raise
        return _fail(f"{PROG}: internal error ({type(exc).__name__}): {exc} (rerun with --traceback)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

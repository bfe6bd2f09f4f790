"""From a mask file to its output folder: :func:`analyze_file`.

One input (NIfTI, ``.npy``/``.npz``, a 3D-IRCADb ``MASKS_DICOM.zip``, its extracted folder or
a patient folder holding it) is read (:func:`vesseltree.io.load_volume`), analysed
(:func:`vesseltree.analyze`) under one :class:`vesseltree.ScaleRule`, and written into
``OUT/<name>/`` as one unit (:class:`vesseltree.outputs.OutputUnit`: complete, or hidden and
marked incomplete):

``branches.csv``     one row per branch (length, radius, tortuosity, scale, ...)
``graph.graphml``    the branch graph (networkx); array attributes as JSON strings
``labels.nii.gz``    nearest-branch labels (int32, 0 = background), input geometry
``scales.nii.gz``    scale classes (uint8, uint16 beyond 255 scales; 0 = background, 1..S)
``summary.json``     per-volume summary, the input's geometry, the options and the scale rule
                     used, and the warnings the analysis gave
``radius_mip.png``   maximum projection of the branch radius of every vessel voxel
``scales_mip.png``   maximum projection of the scale classes (paper Fig. 2b)
``manifest.json``    tool, version, files, input (written last)

Every output takes its scales from the tree's rule, so ``branches.csv``, ``graph.graphml``,
``scales.nii.gz`` and ``summary.json`` always agree. The ``vesseltree analyze`` command and
``vesselnet.demo`` both call :func:`analyze_file`.

With ``export_vtp``: ``centerlines.vtp`` (one polyline per branch, VMTK's
``MaximumInscribedSphereRadius`` and the branch table as cell data) and ``surface.vtp`` (the
scale masks' surface, world mm), :mod:`vesseltree.export` (optional ``vtk`` package).

One tree per structure (``per_structure=True`` with ``structures``, ``vesseltree analyze
--structures A B``): each structure is analysed as its own tree
(:func:`vesseltree.structures.analyze_structures`) and the folder holds the same files for
all of them together (:mod:`vesseltree.pipeline_structures`): ``branches.csv`` with
``structure``, ``branch_id`` (the structure's own) and ``label`` (the value in
``labels.nii.gz``, unique over the structures) columns, ``structures.nii.gz`` (0 background,
k for the k-th structure), one ``graph.graphml`` holding every structure's graph, and
``summary.json`` with one summary per structure. Structures are named 3D-IRCADb masks
(``portalvein``; ``venacava+venoussystem`` unites two masks into one structure) or, for a
label map (NIfTI, ``.npy``, ``.npz`` of integers), labels (``1=portalvein``, ``2``,
``3+4=veins``): :func:`parse_structures`.

The files are written by :mod:`vesseltree.pipeline_outputs` (one order, one set of writers for
one tree and for several structures).
"""
from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from pathlib import Path

import numpy as np

from .outputs import OutputUnit, check_output_name
from .pipeline_outputs import (branch_radius_volume, case_summary, write_case_files,
                               write_graphml, write_vtk_files)
from .scales import UNSET, ScaleRule, legacy_rule

__all__ = ["analyze_file", "volume_name", "unique_names", "write_graphml",
           "branch_radius_volume", "parse_structures", "CASE_FILES", "TOOL", "UserError"]

TOOL = "vesseltree analyze"
CASE_FILES = ("branches.csv", "graph.graphml", "labels.nii.gz", "scales.nii.gz", "summary.json",
              "radius_mip.png", "scales_mip.png", "structures.nii.gz", "centerlines.vtp",
              "surface.vtp")


class UserError(Exception):
    """An error caused by the command line or the inputs (the commands exit with code 2)."""


def volume_name(path) -> str:
    """Output name of an input: the patient folder for DICOM masks, else the file stem;
    made safe for a folder name (:func:`vesseltree.io.safe_output_name`)."""
    from .io import safe_output_name, split_extension

    p = Path(path)
    name = split_extension(p.name)[0]
    if name.upper() in {"MASKS_DICOM", "PATIENT_DICOM"} and p.resolve().parent.name:
        name = p.resolve().parent.name
    return safe_output_name(name, default="volume")


def unique_names(paths) -> list[str]:
    """:func:`volume_name` of each path; repeated names get ``_2``, ``_3``, ..."""
    names, seen = [], {}
    for p in paths:
        base = volume_name(p)
        n = seen.get(base, 0)
        seen[base] = n + 1
        names.append(base if n == 0 else f"{base}_{n + 1}")
    return names


def parse_structures(items) -> list[tuple[str, tuple[str, ...]]]:
    """Structures named on the command line: ``[(name, parts), ...]``.

    An item is ``PART``, ``PART+PART...`` (parts united into one structure) or either
    followed by ``=NAME``; a part is a 3D-IRCADb mask name (``portalvein``), alternatives
    ``A|B`` (the first the archive holds: ``venoussystem|venacava``), or, for a label map, a
    label value (``1``). The name defaults to the item without ``=NAME``.

    Raises
    ------
    UserError
        An empty item or name, or a name given twice.
    """
    if isinstance(items, str):
        items = [items]
    out = []
    for item in items:
        text = str(item).strip()
        parts_text, eq, name = text.partition("=")
        parts = tuple(q.strip() for q in parts_text.split("+"))
        name = name.strip() if eq else "+".join(parts)
        if not text or not all(parts) or not name or not all(
                a.strip() for q in parts for a in q.split("|")):
            raise UserError(f"--structures: expected NAME, NAME+NAME or NAME=LABEL items, "
                            f"got {item!r}")
        out.append((name, parts))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise UserError(f"--structures: expected distinct structure names, got {names}")
    if not out:
        raise UserError("--structures: expected at least one structure name")
    return out


def _label_values(parts, path: Path) -> list[int]:
    vals = []
    for q in parts:
        try:
            v = int(q)
        except ValueError:
            v = 0
        if v < 1 or str(v) != q.lstrip("+"):
            raise UserError(f"{path}: --structures: a label map's structures are label values "
                            f">= 1 (e.g. 1=portalvein 2=venoussystem), got {q!r}")
        vals.append(v)
    return vals


def _label_map_structures(vol, path: Path, items, per_structure: bool):
    """Masks of a label map's structures (or their union)."""
    data = np.asarray(vol.data)
    if not (np.issubdtype(data.dtype, np.integer) or data.dtype == bool):
        raise UserError(f"{path}: --structures: expected a label map of integers, got dtype "
                        f"{data.dtype}")
    masks = {}
    for name, parts in items:
        vals = _label_values(parts, path)
        if name == "+".join(parts):  # no =NAME: label_1, label_3+label_4
            name = "+".join(f"label_{v}" for v in vals)
        masks[name] = np.isin(data, vals)
    if per_structure:
        return masks
    return np.logical_or.reduce(list(masks.values()))


def _resolve_alternatives(path: Path, items):
    """Items with every ``A|B`` part replaced by the first alternative the archive holds."""
    if not any("|" in q for _, parts in items for q in parts):
        return items
    from ._dicom import _match_structures
    from .io import list_structures

    available = list_structures(path)
    out = []
    for name, parts in items:
        chosen = []
        for q in parts:
            alts = [a.strip() for a in q.split("|")]
            for a in alts:
                try:
                    _match_structures([a], available, str(path))
                except ValueError:
                    continue
                chosen.append(a)
                break
            else:
                raise UserError(f"{path}: --structures: none of {', '.join(alts)} in the "
                                f"archive; available: {', '.join(available)}")
        out.append((name, tuple(chosen)))
    return out


def _read_input(path: Path, spacing, structures, liver_only: bool, per_structure: bool = False):
    """The volume and its mask (bool array), or ``{structure: mask}`` with ``per_structure``."""
    from .io import as_binary_mask, file_kind, load_volume

    dicom = file_kind(path).startswith("dicom")
    items = parse_structures(structures) if structures is not None else None
    if per_structure and items is None:
        raise UserError("per_structure: name the structures (--structures NAME [NAME ...])")
    if liver_only and not dicom:
        raise UserError(f"{path}: --liver-only applies to 3D-IRCADb DICOM masks only")
    if not dicom:
        vol = load_volume(path, spacing=spacing)
        if items is None:
            return vol, as_binary_mask(vol.data, path.name)
        return vol, _label_map_structures(vol, path, items, per_structure)
    restrict = "liver" if liver_only else None
    if items is not None:
        items = _resolve_alternatives(path, items)
    if not per_structure:
        wanted = None if items is None else [q for _, parts in items for q in parts]
        vol = load_volume(path, spacing=spacing, structures=wanted, restrict_to=restrict)
        return vol, as_binary_mask(vol.data, path.name)
    masks, sources, vol = {}, [], None
    for name, parts in items:
        v = load_volume(path, spacing=spacing, structures=list(parts), restrict_to=restrict)
        masks[name] = as_binary_mask(v.data, f"{path.name}:{name}")
        sources.append(v.source)
        vol = vol or v
    return dataclasses.replace(vol, source=" | ".join(sources)), masks


def analyze_file(
    path,
    out_dir,
    *,
    name: str | None = None,
    spacing=None,
    structures=None,
    per_structure: bool = False,
    liver_only: bool = False,
    scale_rule: ScaleRule | int | None = None,
    scale_basis: str = "union",
    radius_method: str = "corrected",
    curvature: bool = False,
    export_vtp: bool = False,
    figures: bool = True,
    projection_axis: int = 0,
    overwrite: bool = False,
    n_scales=UNSET,
    thresholds=UNSET,
) -> dict:
    """Analyse one input and write its outputs into ``out_dir/<name>/`` as one unit.

    Parameters
    ----------
    path : path-like
        The mask (module docstring).
    out_dir : path-like
        Parent folder of the output folder (created).
    name : str, optional
        Output folder name (default :func:`volume_name` of ``path``); a plain name, never a
        path (``ValueError`` otherwise).
    spacing : 3 floats, optional
        Voxel size (mm) overriding the file's.
    structures, per_structure, liver_only
        3D-IRCADb DICOM masks: the structures to read, by name; a label map: its label
        values (``"1=portalvein"``; :func:`parse_structures`). United into one mask, or one
        tree each with ``per_structure``. ``liver_only``: DICOM masks, voxels in the liver.
    scale_rule, scale_basis, radius_method, curvature
        As :func:`vesseltree.analyze` (``scale_basis``: ``per_structure`` only): one scale
        rule for every output, default ``ScaleRule.quantiles(3)``.
    export_vtp : bool
        Write ``centerlines.vtp`` and ``surface.vtp`` (needs the optional ``vtk`` package).
    figures, projection_axis
        Write the two MIP figures, projected along this axis (0 = z).
    overwrite : bool
        Replace an existing output folder of an earlier run (otherwise an error).
    n_scales, thresholds
        Deprecated (one release): ``scale_rule=ScaleRule.quantiles(n_scales)`` /
        ``ScaleRule.fixed(thresholds)``.

    Returns
    -------
    dict
        ``{"name", "dir", "radii" (branch radii in mm, all structures), "summary",
        "structures" (names, or None for one tree)}``.

    Raises
    ------
    UserError, ValueError, OSError
        Unreadable input, a quantile rule with too few branches (nothing written), an output
        folder that exists (without ``overwrite``) or is not one, ``export_vtp`` without vtk.
    """
    rule = legacy_rule(scale_rule, n_scales=n_scales, thresholds=thresholds,
                       where="analyze_file", default=ScaleRule.quantiles())
    if export_vtp:
        _check_vtk()
    p = Path(path)
    name = volume_name(p) if name is None else check_output_name(name, "name")
    unit = OutputUnit(Path(out_dir) / name, tool=TOOL, known_files=CASE_FILES, overwrite=overwrite)
    vol, data = _read_input(p, spacing, structures, liver_only, per_structure)
    unit.check_target()  # input errors first, then the output folder, then the (long) analysis
    options = dict(scale_rule=rule, radius_method=radius_method, curvature=bool(curvature),
                   figures=figures, axis=projection_axis, export_vtp=export_vtp)
    if isinstance(data, dict):
        from . import pipeline_structures

        return pipeline_structures.run(unit, vol, data, name, scale_basis=scale_basis, **options)
    return _run_tree(unit, vol, data, name, **options)


def _run_tree(unit, vol, mask: np.ndarray, name: str, *, scale_rule, radius_method: str,
              curvature: bool, figures: bool, axis: int, export_vtp: bool) -> dict:
    """:func:`analyze_file` for one tree: analyse ``mask``, write ``unit``, the result."""
    from .analysis import analyze

    tree, scales, seconds, messages = run_analysis(functools.partial(
        analyze, mask, vol.spacing, scale_rule=scale_rule, radius_method=radius_method,
        curvature=curvature))
    thresholds = None if tree.thresholds is None else tree.thresholds.tolist()
    summary = case_summary(
        tree.summary(), vol, name, scales, seconds, messages, n_scales=tree.n_scales,
        radius_method=tree.radius_method,
        scale_fields={"scale_rule": tree.scale_rule.to_dict(), "scale_thresholds_mm": thresholds})
    branches = tree.branches
    with unit:
        # the index is the branch id (from 1), the key of labels.nii.gz
        write_case_files(unit, vol, name, table=branches,
                         index_label=branches.index.name or "branch_id", graph=tree.graph,
                         labels=np.asarray(tree.labels, dtype=np.int32), scales=scales,
                         n_scales=tree.n_scales, summary=summary, radius_table=branches,
                         figures=figures, axis=axis)
        if export_vtp:
            write_vtk_files(unit, tree, vol)
        unit.commit(inputs=[vol.source])
    return case_result(name, unit, branches, summary, None)


def run_analysis(analyse) -> tuple:
    """``(result, scales, seconds, messages)`` of ``analyse()`` (a call returning a tree or
    :class:`vesseltree.structures.StructureTrees`): its scale volume, computed before anything
    is written (a quantile rule with too few branches is a :class:`UserError`), the time of
    both, and the messages of the warnings it gave, which are also passed on to the caller."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = analyse()
        scales = _scales_of(result)  # raises before anything is written
    seconds = time.perf_counter() - t0
    for w in caught:  # pass them on to the caller, and keep them in the summary
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, scales, seconds, [str(w.message) for w in caught]


def case_result(name: str, unit, table, summary: dict, structures) -> dict:
    """The dict :func:`analyze_file` returns (``table``: the branches written)."""
    radii = table["radius_mm"].to_numpy(dtype=float) if len(table) else np.zeros(0)
    return {"name": name, "dir": unit.target, "radii": radii, "summary": summary,
            "structures": structures}


def _scales_of(tree) -> np.ndarray:
    try:
        return tree.scale_labels()
    except ValueError as exc:  # a quantile rule with fewer branches than scales
        raise UserError(f"{exc} (use --thresholds MM ... for such volumes)") from exc


def _check_vtk() -> None:
    try:
        import vtkmodules.vtkIOXML  # noqa: F401
    except ImportError as exc:
        raise UserError("--export-vtp: the .vtp files need the optional 'vtk' package "
                        "(pip install 'vesseltree[vtk]')") from exc

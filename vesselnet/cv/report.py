"""The cross-validation report: Table 1 (Markdown + CSV) and Fig. 5-style overlays.

Built only from what :func:`vesselnet.cv.run_cv` saved (``cv.json``, ``splits.json``, each
unit's ``result.json`` and ``metrics.csv``, the predicted and ground-truth masks), so it can be
rebuilt at any time (``build_report(OUT)``) and never holds a retyped number.

``OUT/report/``:

``table1.md``   Table 1: one row per preset, ``mean ± std`` over the folds of each metric
                (a fold's value is the mean over its held-out cases), best mean in bold; then
                the same pooled over all held-out cases; then every fold; failed folds named
``table1.csv``  one row per preset: ``<metric>_mean``, ``<metric>_std`` (over folds, raw units:
                fractions and mm), ``folds_done``, ``folds_failed``
``folds.csv``   one row per (preset, fold): status, cases, fold means, error
``cases.csv``   one row per (preset, fold, case): every metric
``figures/fig5_<preset>.png``   the paper's Fig. 5 for one held-out case (the first case of
                fold 0), TP / FP / FN projections, the same case for every preset

Standard deviations are population ones (``ddof=0``, as everywhere in
:mod:`vesselnet.metrics`); undefined values (an empty scale) are left out of means and counted.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["build_report", "TABLE_COLUMNS"]

#: metric columns of Table 1 (recall columns are added per scale)
TABLE_COLUMNS = ("dsc", "jaccard", "cldice", "hd", "hd95")


def _read(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _columns(n_scales: int) -> list[str]:
    return list(TABLE_COLUMNS) + [f"recall_s{k}" for k in range(1, n_scales + 1)]


def _accumulator(columns):
    from vesselnet.metrics.accumulator import MetricAccumulator

    acc = MetricAccumulator()
    acc.columns = tuple(columns)
    return acc


def _collect(out: Path, plan: dict, folds: list):
    import pandas as pd

    rows, cases = [], []
    for name in plan["presets"]:
        for k in range(len(folds)):
            unit = out / name / f"fold_{k}"
            res = _read(unit / "result.json")
            status = "pending" if res is None else res.get("status", "pending")
            row = {"preset": name, "fold": k, "status": status, "cases": len(folds[k]),
                   "error": (res or {}).get("error", "")}
            if status == "done" and (unit / "metrics.csv").is_file():
                df = pd.read_csv(unit / "metrics.csv", index_col="case")
                for cid, values in df.iterrows():
                    cases.append({"preset": name, "fold": k, "case": cid, **values.to_dict()})
                row.update({c: float(np.nanmean(df[c])) if df[c].notna().any() else np.nan
                            for c in df.columns})
            elif status == "done":
                row.update(status="failed", error="metrics.csv is missing")
            rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(cases)


def _best(values: dict, column: str) -> set:
    """Rows holding the best mean of a column (none when fewer than two rows or all tie)."""
    from vesselnet.metrics.accumulator import column_info

    defined = {n: round(float(v), 10) for n, v in values.items() if np.isfinite(v)}
    if len(defined) < 2 or len(set(defined.values())) == 1:
        return set()
    best = (max if column_info(column).higher_is_better else min)(defined.values())
    return {n for n, v in defined.items() if v == best}


def _table(title: str, accs: dict, columns: list[str], notes: dict, unit: str) -> list[str]:
    from vesselnet.metrics.accumulator import column_info

    lines = [f"### {title}", "", "| Model | " + " | ".join(column_info(c).header() for c in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    best = {c: _best({n: a.mean(c) if len(a) else np.nan for n, a in accs.items()}, c) for c in columns}
    for name, acc in accs.items():
        if len(acc) == 0:
            cells = ["n/a"] * len(columns)
        else:
            cells = [acc.formatted(c) for c in columns]
            cells = [f"**{t}**" if name in best[c] else t for t, c in zip(cells, columns)]
        label = name + (f" ({notes[name]})" if notes.get(name) else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"mean ± std (ddof=0) over {unit}; best mean per column in bold.")
    return lines + [""]


def build_report(out_dir, *, figures: bool = True) -> dict:
    """Write ``OUT/report`` from the saved results (module docstring).

    Returns
    -------
    dict
        ``{"markdown": text, "files": [paths], "failed": [(preset, fold, error)]}``.

    Raises
    ------
    ValueError
        ``out_dir`` holds no cv (no ``cv.json``).
    """
    from vesselnet.cv.splits import load_splits
    from vesseltree.io import atomic_write

    out = Path(out_dir)
    plan = _read(out / "cv.json")
    if plan is None:
        raise ValueError(f"out_dir: {str(out)!r} holds no cv (no readable cv.json)")
    folds = load_splits(out / "splits.json")
    n_scales = int(plan["prepare"]["n_scales"])
    columns = _columns(n_scales)
    per_fold, per_case = _collect(out, plan, folds)
    fold_accs, case_accs, notes, failed = {}, {}, {}, []
    for name in plan["presets"]:
        mine = per_fold[per_fold["preset"] == name]
        fa, ca = _accumulator(columns), _accumulator(columns)
        for _, r in mine[mine["status"] == "done"].iterrows():
            fa.add({c: r.get(c, np.nan) for c in columns}, case=f"fold {r['fold']}")
        if len(per_case):
            for _, r in per_case[per_case["preset"] == name].iterrows():
                ca.add({c: r.get(c, np.nan) for c in columns}, case=f"{r['fold']}/{r['case']}")
        bad = mine[mine["status"] != "done"]
        if len(bad):
            notes[name] = ", ".join(f"fold {int(r['fold'])} {r['status']}" for _, r in bad.iterrows())
            failed += [(name, int(r["fold"]), r["error"]) for _, r in bad.iterrows() if r["status"] == "failed"]
        fold_accs[name], case_accs[name] = fa, ca
    n_cases = sum(len(f) for f in folds)
    md = [f"## Cross-validation: {len(plan['presets'])} preset(s), {len(folds)} folds, {n_cases} cases",
          "", f"Data: `{json.dumps(plan['data'])}` (evaluated on the {plan['eval_grid']} grid); splits: "
          f"`splits.json`; prediction: {json.dumps(plan['predict'])}.", ""]
    md += _table("Table 1: mean ± std over folds", fold_accs, columns, notes,
                 f"the {len(folds)} folds (a fold's value: mean over its held-out cases)")
    md += _table("Pooled over held-out cases", case_accs, columns, notes, "every held-out case")
    md += _fold_lines(per_fold, columns)
    if failed:
        md += ["### Failed", ""] + [f"- {n} fold {k}: {e}" for n, k, e in failed] + [""]
    rep = out / "report"
    files = []
    figs = _figures(out, plan, folds, per_case, rep / "figures") if figures else []
    if figs:
        md += ["### Fig. 5: one held-out case per preset", ""]
        md += [f"![{p.stem}](figures/{p.name})" for p in figs] + [""]
    text = "\n".join(md)
    for name, write in (("table1.md", lambda t: t.write_text(text, encoding="utf-8")),
                        ("table1.csv", lambda t: _summary_frame(fold_accs, columns, per_fold).to_csv(t, float_format="%.10g")),
                        ("folds.csv", lambda t: per_fold.to_csv(t, index=False, float_format="%.10g")),
                        ("cases.csv", lambda t: per_case.to_csv(t, index=False, float_format="%.10g"))):
        with atomic_write(rep / name, Path(name).suffix) as tmp:
            write(tmp)
        files.append(rep / name)
    return {"markdown": text, "files": files + figs, "failed": failed}


def _fold_lines(per_fold, columns) -> list[str]:
    from vesselnet.metrics.accumulator import column_info

    lines = ["### Every fold (mean over its held-out cases)", "",
             "| Model | fold | status | " + " | ".join(column_info(c).header() for c in columns) + " |",
             "|---|---:|---|" + "---:|" * len(columns)]
    for _, r in per_fold.iterrows():
        if r["status"] == "done":
            cells = [("n/a" if not np.isfinite(r.get(c, np.nan)) else
                      f"{r[c] * column_info(c).scale():.2f}") for c in columns]
            status = "done"
        else:
            cells = [""] * len(columns)
            status = r["status"] + (f": {r['error']}" if r["error"] else "")
        lines.append(f"| {r['preset']} | {r['fold']} | {status} | " + " | ".join(cells) + " |")
    return lines + [""]


def _summary_frame(accs: dict, columns, per_fold):
    import pandas as pd

    rows = []
    for name, acc in accs.items():
        mine = per_fold[per_fold["preset"] == name]
        row = {"preset": name, "folds_done": int((mine["status"] == "done").sum()),
               "folds_failed": int((mine["status"] == "failed").sum())}
        for c in columns:
            row[f"{c}_mean"] = acc.mean(c) if len(acc) else np.nan
            row[f"{c}_std"] = acc.std(c) if len(acc) else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("preset")


def _figures(out: Path, plan: dict, folds, per_case, fig_dir: Path) -> list[Path]:
    from vesselnet.plot import overlay_mip
    from vesseltree.io import load_volume

    cid = folds[0][0]
    gt_path = out / "gt" / f"{cid}.nii.gz"
    if not gt_path.is_file():
        return []
    gt_vol = load_volume(gt_path)
    gt = np.asarray(gt_vol.data) != 0
    paths = []
    for name in plan["presets"]:
        pred_path = out / name / "fold_0" / "pred" / f"{cid}.nii.gz"
        if not pred_path.is_file():
            continue
        pred = np.asarray(load_volume(pred_path).data) != 0
        dsc = ""
        if len(per_case):
            hit = per_case[(per_case["preset"] == name) & (per_case["case"] == cid)]
            if len(hit):
                dsc = f", DSC {100 * float(hit['dsc'].iloc[0]):.1f}%"
        path = fig_dir / f"fig5_{name}.png"
        overlay_mip(pred, gt, gt_vol.spacing, path=path, title=f"{name}: {cid}{dsc}")
        paths.append(path)
    return paths

"""What a study leaves beside its trials: ``trials.csv``, ``best.json``, ``best.yaml`` and
``search.png`` (objective per trial, validation curves, parameter importances).

``best.yaml`` is the base config of the study (preset or ``--config``, *without* the
per-trial overrides such as a shorter ``--epochs``) with the best trial's values, written by
:func:`vesselnet.train.config.save_config`, so ``vesselnet train --config best.yaml`` trains
it. The figure is drawn with matplotlib (Agg backend).
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

__all__ = ["trial_rows", "write_summary", "plot_study"]

_STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


def trial_rows(study) -> list[dict]:
    """One plain row per trial: number, state, value, params, fold scores, seconds."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        seconds = None
        if t.datetime_start and t.datetime_complete:
            seconds = round((t.datetime_complete - t.datetime_start).total_seconds(), 3)
        rows.append({
            "number": t.number, "state": t.state.name, "value": t.value,
            **{k: v for k, v in t.params.items()},
            "fold_scores": t.user_attrs.get("fold_scores"),
            "last_report": (t.intermediate_values[max(t.intermediate_values)]
                            if t.intermediate_values else None),
            "seconds": seconds, "error": t.user_attrs.get("error"),
        })
    return rows


def counts(study) -> dict[str, int]:
    """Number of trials per state name."""
    out = {s: 0 for s in _STATES}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def _csv_text(rows: list[dict]) -> str:
    header: list[str] = []
    for r in rows:
        header += [k for k in r if k not in header]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (";".join(f"{x:.6g}" for x in v) if isinstance(v, list)
                             else repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def write_summary(study, out_dir, base_config, space, *, figure: bool = True) -> dict:
    """Write ``trials.csv``, ``best.json``, ``best.yaml`` and ``search.png`` (atomically).

    Returns
    -------
    dict
        ``counts``, ``best_trial``, ``best_value``, ``best_params``, ``best_config`` (path or
        None when no trial completed), ``figure`` (path or None).
    """
    from vesselnet.train.config import save_config
    from vesselnet.train.runlog import write_atomic

    out = Path(out_dir)
    rows = trial_rows(study)
    write_atomic(out / "trials.csv", _csv_text(rows))
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    info: dict = {"counts": counts(study), "best_trial": None, "best_value": None,
                  "best_params": None, "best_config": None, "figure": None}
    if complete:
        best = study.best_trial
        cfg = space.apply(base_config, best.params).replace({"name": f"{base_config.name}-tuned"})
        path = save_config(cfg, out / "best.yaml")
        info.update(best_trial=best.number, best_value=best.value, best_params=dict(best.params),
                    best_fold_scores=best.user_attrs.get("fold_scores"), best_config=str(path))
    if figure:
        info["figure"] = str(plot_study(study, out / "search.png"))
    write_atomic(out / "best.json", json.dumps(info, indent=2) + "\n")
    return info


def _importances(study) -> tuple[dict | None, str]:
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return None, f"needs 2 or more completed trials ({len(complete)} so far)"
    values = [t.value for t in complete]
    if max(values) - min(values) == 0:
        return None, "every completed trial has the same value"
    import optuna

    try:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()  # needs no scikit-learn
        return optuna.importance.get_param_importances(study, evaluator=evaluator), "PED-ANOVA"
    except (ValueError, RuntimeError) as exc:
        return None, f"not computable ({str(exc).splitlines()[0]})"


def plot_study(study, path) -> Path:
    """Three panels: objective per trial (complete, pruned at their last report, best so far),
    validation DSC per report step of every trial, and PED-ANOVA parameter importances (Optuna's default evaluator)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    trials = study.get_trials(deepcopy=False)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    done = [t for t in trials if t.state.name == "COMPLETE"]
    pruned = [t for t in trials if t.state.name == "PRUNED" and t.intermediate_values]
    ax.plot([t.number for t in done], [t.value for t in done], "o", color="C0", label="complete")
    ax.plot([t.number for t in pruned], [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
            "x", color="C3", label="pruned (last report)")
    best, xs, ys = -math.inf, [], []
    for t in sorted(done, key=lambda t: t.number):
        best = max(best, t.value)
        xs.append(t.number)
        ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="C2", label="best so far")
    ax.set(xlabel="trial", ylabel="objective (mean validation DSC)", title="objective per trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="best", fontsize=8)
    ax = axes[1]
    for t in trials:
        if t.intermediate_values:
            steps = sorted(t.intermediate_values)
            style = "--" if t.state.name == "PRUNED" else "-"
            ax.plot(steps, [t.intermediate_values[s] for s in steps], style, marker=".", lw=1)
    ax.set(xlabel="report step (fold x epochs + epoch)", ylabel="validation DSC",
           title="validation curves (dashed: pruned)")
    ax = axes[2]
    imp, how = _importances(study)
    if imp:
        names = list(imp)[::-1]
        ax.barh(names, [imp[n] for n in names], color="C1")
        ax.set(xlabel="importance", title=f"parameter importances ({how})")
    else:
        ax.axis("off")
        ax.set_title("parameter importances")
        ax.text(0.5, 0.5, how, ha="center", va="center", wrap=True, transform=ax.transAxes)
    fig.suptitle(f"study {study.study_name!r}: {len(done)} complete, "
                 f"{sum(t.state.name == 'PRUNED' for t in trials)} pruned, "
                 f"{sum(t.state.name == 'FAIL' for t in trials)} failed")
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=110)
        tmp.replace(p)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return p

"""The main job on its embedded default: ``python -m vesselnet.demo`` (what ``make demo`` runs).

With no data path it works on a synthetic vessel phantom with known radii (the paper's
256x256x128 box), end to end:

1. ``vesseltree.synthetic``: a seeded branching tree (Murray's law) and a CT-like image;
2. ``vesseltree analyze``: skeleton, branch graph, radii (Eq. 1-2), nearest-branch labels
   (Eq. 3), S scale masks, tables and figures, plus the error of the estimated branch radii
   against the phantom's ground truth;
3. ``vesselnet evaluate``: DSC, Jaccard, clDice, Hausdorff (mm), per-scale recall and branch
   detection of a *simulated* prediction that misses every vessel thinner than a radius, so
   the per-scale recall shows which scale is lost;
4. when torch is installed: a few optimisation steps of the multi-task network with the total
   loss (Eq. 9) on a crop of the CT and its scale masks, to show the pieces fit together. It
   is not a trained model.

Give ``--mask FILE`` (NIfTI, .npy, .npz or a 3D-IRCADb ``MASKS_DICOM.zip``) to analyse a real
mask instead of the phantom (steps 2-3 then use it; step 4 needs the phantom's CT).

Outputs go under ``--out`` (default ``results/``); a ``demo_summary.json`` lists them.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["run_demo", "main"]


def _say(msg: str) -> None:
    print(f"[demo] {msg}", file=sys.stderr, flush=True)


def _radius_errors(labels: np.ndarray, branches, phantom) -> dict:
    """Median |estimated - true| branch radius (mm and voxels) against the phantom.

    The true radius of a branch is the median of the phantom's per-voxel true radius over the
    voxels that Eq. 3 assigns to the branch.
    """
    inside = labels > 0
    ids = labels[inside]
    true = phantom.radius[inside].astype(float)
    order = np.argsort(ids, kind="stable")
    ids, true = ids[order], true[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    true_by_branch = {int(ids[s]): float(np.median(part)) for s, part in zip(starts, np.split(true, starts[1:]))}
    b = branches
    rows = [(float(b.at[j, "radius_mm"]), float(b.at[j, "radius_paper_mm"]), t)
            for j, t in true_by_branch.items() if j in b.index]
    est, paper, truth = (np.array(c) for c in zip(*rows)) if rows else (np.zeros(0),) * 3
    voxel = float(min(phantom.spacing))
    return {
        "branches_compared": len(rows),
        "corrected_median_abs_error_mm": float(np.median(np.abs(est - truth))) if rows else None,
        "paper_eq1_median_abs_error_mm": float(np.median(np.abs(paper - truth))) if rows else None,
        "corrected_median_abs_error_voxels": float(np.median(np.abs(est - truth)) / voxel) if rows else None,
    }


def _train_steps(ct, phantom, scale_labels: np.ndarray, *, steps: int, crop: int, seed: int,
                 n_scales: int) -> dict:
    """A few Adam steps of MultiTaskResUNet3d + TotalLoss (Eq. 9) on one crop; CPU or CUDA."""
    import torch

    from vesselnet.losses import TotalLoss
    from vesselnet.models import MultiTaskResUNet3d

    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # crop centred on the vessels' centre of mass, inside the volume
    centre = np.round(np.argwhere(phantom.mask).mean(axis=0)).astype(int)
    lo = [int(np.clip(c - crop // 2, 0, n - crop)) for c, n in zip(centre, phantom.mask.shape)]
    sl = tuple(slice(a, a + crop) for a in lo)
    image = ct.image[sl].astype(np.float32)
    image = (np.clip(image, -100.0, 300.0) - 100.0) / 200.0  # HU window around the liver
    scales = scale_labels[sl]
    x = torch.from_numpy(image)[None, None].to(device)
    y_s = torch.from_numpy(np.stack([scales == s for s in range(1, n_scales + 1)]).astype(np.float32))
    y_s = y_s[None].to(device)  # (1, S, D, H, W)
    net = MultiTaskResUNet3d(num_scales=n_scales, levels=4, base_channels=8).to(device)
    # batch of one: pooled L_c has no positive pair, so contrast voxels sampled per scale
    loss_fn = TotalLoss(num_scales=n_scales, seed=seed, mode="voxel").to(device)
    opt = torch.optim.Adam(net.parameters(), lr=3e-4)
    net.train()
    history = []
    t0 = time.perf_counter()
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        loss, terms = loss_fn(net(x), None, y_s, return_terms=True)
        loss.backward()
        opt.step()
        history.append({k: float(v) for k, v in terms.items()})
        _say(f"step {step + 1}/{steps}: total loss {history[-1]['total']:.4f}")
    return {
        "device": str(device),
        "crop_zyx": [list(map(int, lo)), [crop] * 3],
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "seconds": round(time.perf_counter() - t0, 2),
        "loss_terms_per_step": history,
        "note": "a few optimisation steps on one crop to exercise Eq. 4-9; not a trained model",
    }


def run_demo(out="results", *, mask=None, shape=(128, 256, 256), spacing=(1.0, 1.0, 1.0),
             seed: int = 0, n_scales: int = 3, drop_radius_mm: float | None = None,
             train_steps: int = 3, crop: int = 64) -> dict:
    """Run the demo and return its summary (also written to ``out/demo_summary.json``).

    Parameters
    ----------
    out : path-like
        Output folder (created).
    mask : path-like, optional
        A vessel mask file to analyse instead of the synthetic phantom.
    shape, spacing, seed
        Phantom box (z, y, x), voxel size (mm) and seed.
    n_scales : int
        Number S of vessel scales.
    drop_radius_mm : float, optional
        The simulated prediction misses every vessel voxel whose true radius is below this
        (default: the first quartile of the true radii over the vessel voxels).
    train_steps : int
        Optimisation steps of step 4 (0 skips it).
    crop : int
        Edge of the cubic CT crop used in step 4.
    """
    from vesseltree.cli import analyze_file
    from vesseltree.io import save_volume
    from vesselnet.cli import evaluate_paths

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"seed": seed}
    t0 = time.perf_counter()
    phantom = ct = None
    if mask is None:
        from vesseltree.synthetic import make_phantom, render_ct

        _say(f"1/4 phantom {tuple(shape)} at spacing {tuple(spacing)} mm, seed {seed}")
        phantom = make_phantom(shape, spacing, seed=seed)
        ct = render_ct(phantom, seed=seed, tumours=2)
        data_dir = out / "phantom"
        data_dir.mkdir(exist_ok=True)
        mask_path = save_volume(data_dir / "mask.nii.gz", phantom.mask.astype(np.uint8), phantom.spacing)
        save_volume(data_dir / "ct.nii.gz", ct.image, phantom.spacing)
        save_volume(data_dir / "true_radius.nii.gz", phantom.radius, phantom.spacing)
        phantom.segments.to_csv(data_dir / "segments.csv", index=False)
        summary["phantom"] = {"dir": str(data_dir), "segments": len(phantom.segments),
                              "vessel_voxels": int(phantom.mask.sum())}
    else:
        mask_path = Path(mask)
        _say(f"1/4 input mask {mask_path}")

    _say("2/4 vesseltree analyze")
    res = analyze_file(mask_path, out / "analysis", name="vessels", n_scales=n_scales)
    summary["analysis"] = {k: res["summary"][k] for k in ("analyze_seconds", "scale_voxels")
                           if k in res["summary"]}
    summary["analysis"].update({"dir": str(res["dir"]), "branches": int(len(res["radii"]))})
    import pandas as pd

    from vesseltree.cli import branch_radius_volume
    from vesseltree.io import load_volume

    labels = np.asarray(load_volume(res["dir"] / "labels.nii.gz").data, dtype=np.int32)
    scale_labels = np.asarray(load_volume(res["dir"] / "scales.nii.gz").data, dtype=np.uint8)
    branches = pd.read_csv(res["dir"] / "branches.csv", index_col=0)
    if phantom is not None:
        summary["radius_accuracy"] = _radius_errors(labels, branches, phantom)
        _say(f"   branch radius error vs ground truth: {summary['radius_accuracy']}")

    _say("3/4 vesselnet evaluate on a simulated prediction")
    gt_vol = load_volume(mask_path)
    gt = np.asarray(gt_vol.data) != 0
    # ground-truth radius per voxel: the phantom's, else the estimated radius of its branch
    true_radius = phantom.radius if phantom is not None else branch_radius_volume(labels, branches)
    cut = float(np.quantile(true_radius[gt], 0.25)) if drop_radius_mm is None else float(drop_radius_mm)
    pred = gt & (true_radius >= cut)
    ev_dir = out / "evaluation"
    (ev_dir / "pred").mkdir(parents=True, exist_ok=True)
    (ev_dir / "gt").mkdir(parents=True, exist_ok=True)
    save_volume(ev_dir / "pred" / "vessels.nii.gz", pred.astype(np.uint8), gt_vol.spacing, gt_vol.affine)
    save_volume(ev_dir / "gt" / "vessels.nii.gz", gt.astype(np.uint8), gt_vol.spacing, gt_vol.affine)
    ev = evaluate_paths(ev_dir / "pred", ev_dir / "gt", n_scales=n_scales,
                        figures_dir=ev_dir / "figures", progress=False).evaluator
    ev.to_csv(ev_dir / "metrics.csv")
    md = ev.to_markdown(name=f"prediction missing vessels thinner than {cut:.2f} mm")
    (ev_dir / "summary.md").write_text(md, encoding="utf-8")
    summary["evaluation"] = {"dir": str(ev_dir), "dropped_below_radius_mm": cut}
    print(md)

    if train_steps > 0 and phantom is not None:
        try:
            import torch  # noqa: F401
        except ImportError:
            _say("4/4 skipped: torch is not installed (pip install .[net])")
        else:
            _say(f"4/4 {train_steps} step(s) of Eq. 9 on a {crop}^3 crop")
            summary["training_smoke"] = _train_steps(ct, phantom, scale_labels, steps=train_steps,
                                                     crop=crop, seed=seed, n_scales=n_scales)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    _say(f"done in {summary['seconds']} s; outputs under {out}/")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the demo; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m vesselnet.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument("--mask", default=None, help="analyse this mask file instead of the phantom")
    p.add_argument("--shape", type=int, nargs=3, default=(128, 256, 256), metavar=("Z", "Y", "X"))
    p.add_argument("--spacing", type=float, nargs=3, default=(1.0, 1.0, 1.0), metavar=("Z", "Y", "X"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-scales", type=int, default=3)
    p.add_argument("--train-steps", type=int, default=3)
    args = p.parse_args(argv)
    try:
        run_demo(args.out, mask=args.mask, shape=tuple(args.shape), spacing=tuple(args.spacing),
                 seed=args.seed, n_scales=args.n_scales, train_steps=args.train_steps)
    except (ValueError, TypeError, OSError) as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

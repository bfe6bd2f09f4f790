"""``vesselnet predict CHECKPOINT INPUT... --out DIR``: vessel masks in the inputs' own geometry.

INPUT: CT volumes (NIfTI, ``.npz`` with spacing, ``.npy`` with ``--spacing``, a DICOM series
zip or folder), 3D-IRCADb patient folders (``3Dircadb1.N`` with ``PATIENT_DICOM.zip``; the
liver mask of ``MASKS_DICOM.zip`` gives the crop) or the folder holding them, or a prepared
folder (``vesselnet prepare``). The preprocessing comes from the checkpoint; the main decoder
predicts with Gaussian-weighted sliding windows (the training patch size) or the whole
prepared volume; ``--tta`` adds flip test-time augmentation. Per input, written atomically:

  DIR/probabilities/<case>.nii.gz   vessel probability (float32), the input's shape and affine
  DIR/masks/<case>.nii.gz           mask (probability >= --threshold), same geometry
  DIR/predictions.json              what was written, and the inputs that failed

An input that cannot be read or predicted is reported and the others are still predicted;
the exit code is then 1. A bad checkpoint or option is an error (exit code 2).
Then: ``vesselnet evaluate DIR/masks GT_DIR``.
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["add_parser", "run"]

_HELP = "predict vessel masks with a trained checkpoint (NIfTI out, input geometry)"


def add_parser(subparsers) -> None:
    """Add the ``predict`` sub-command."""
    from vesseltree.cli import positive_float
    from vesselnet.commands._common import add_command

    p = add_command(subparsers, "predict", _HELP, __doc__)
    p.add_argument("checkpoint", type=Path, help="checkpoint of vesselnet train (best.pt / last.pt)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="CT files or folders (see below)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--tta", action="store_true", help="flip test-time augmentation (8 passes)")
    p.add_argument("--overlap", type=float, default=0.5, help="sliding-window overlap in [0, 1) (default 0.5)")
    p.add_argument("--roi", type=int, nargs=3, metavar=("D", "H", "W"),
                   help="window size (default: the training patch size, or the whole prepared volume)")
    p.add_argument("--batch-size", type=int, default=1, help="windows per network call (default 1)")
    p.add_argument("--threshold", type=float, default=0.5, help="mask threshold on the probability (default 0.5)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--spacing", type=positive_float, nargs=3, metavar=("Z", "Y", "X"),
                   help="voxel size in mm overriding the inputs' (needed for .npy)")
    p.add_argument("--liver-masks", type=Path, metavar="DIR",
                   help="liver masks named like the inputs (<stem>.nii.gz), for the liver crop")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--traceback", action="store_true", help="show the traceback of an error")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run ``vesselnet predict``; 0 when every input was predicted, 1 when some failed."""
    from vesseltree.cli import UserError
    from vesselnet.predict.pipeline import predict_files

    if args.liver_masks is not None and not args.liver_masks.is_dir():
        raise UserError(f"--liver-masks: no such folder: {str(args.liver_masks)!r}")
    try:
        report = predict_files(
            args.checkpoint, args.inputs, args.out, spacing=args.spacing, liver_dir=args.liver_masks,
            progress=False if args.quiet else None, device=args.device, tta=args.tta,
            overlap=args.overlap, batch_size=args.batch_size, roi_size=args.roi,
            threshold=args.threshold,
        )
    except ValueError as exc:  # CheckpointError is a ValueError
        raise UserError(str(exc)) from exc
    for row in report.written:
        flag = f" (flags: {', '.join(row['flags'])})" if row["flags"] else ""
        print(f"{row['case_id']}\t{row['mask']}\t{row['vessel_voxels']} vessel voxels\t{row['seconds']} s{flag}")
    print(f"vesselnet predict: {len(report.written)} case(s) written to {str(args.out)!r}; "
          f"summary {str(report.summary_path)!r}", file=sys.stderr)
    if report.failed:
        print(f"vesselnet predict: {len(report.failed)} input(s) failed:", file=sys.stderr)
        for row in report.failed:
            where = "" if row["input"] in row["error"] else f"{row['input']}: "
            print(f"  {where}{row['error']}", file=sys.stderr)
        return 1
    return 0

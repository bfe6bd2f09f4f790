"""Predict vessel masks with a trained checkpoint, in the input's original geometry.

:class:`CheckpointPredictor` reads a checkpoint through the one loader
(:func:`vesselnet.train.checkpoint.load_model`, ``torch.load(weights_only=True)``), takes the
preprocessing from it (its ``prepare`` record, a :class:`vesselnet.data.PrepareConfig`: never
re-specified by hand) and, for each case:

1. :func:`vesselnet.data.preprocess` (crop, resample, normalise; no vessel mask needed);
2. the main decoder ``D_0`` only (eval mode), sliding windows of the training patch size with
   Gaussian-weighted overlaps, or the whole prepared volume when training used whole volumes
   (:mod:`vesselnet.predict.sliding`), optional flip test-time augmentation;
3. :func:`vesselnet.data.restore` of the probability map to the original grid (trilinear; 0
   outside the crop), and the mask ``probability >= threshold`` there (for the multi-class
   baseline the class probabilities are restored and the mask is ``argmax > 0``, the
   trainer's own decision; the probability map is ``1 - p(background)``).

:func:`predict_files` runs it over many inputs (:mod:`vesselnet.predict.inputs`) with the model
loaded once, the next input read in a background thread while the current one is predicted,
a progress bar, and per input, written atomically (temporary file + ``os.replace``)::

    OUT/probabilities/<case>.nii.gz   float32 in [0, 1], the input's shape and affine
    OUT/masks/<case>.nii.gz           uint8 0/1, same geometry
    OUT/predictions.json              per case: input, outputs, shapes, spacing, flags, seconds;
                                      failures with their error

An input that cannot be read or predicted is listed as failed and the others go on.
"""
from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

__all__ = ["CheckpointPredictor", "CasePrediction", "PredictionReport", "predict_files", "write_prediction"]


@dataclass
class CasePrediction:
    """One case predicted on its original grid.

    Attributes
    ----------
    case_id : str
    probability : numpy.ndarray of float32, shape (z, y, x)
        Vessel probability in [0, 1] (0 outside the prepared grid, e.g. outside the liver box).
    mask : numpy.ndarray of bool, shape (z, y, x)
        ``probability >= threshold`` (multi-class baseline: ``argmax > 0``).
    spacing : tuple of 3 float
        Original voxel size (mm).
    affine : numpy.ndarray, shape (4, 4)
        Original affine (index (z, y, x, 1) -> RAS+ mm, :mod:`vesseltree.io`).
    prepared_shape : tuple of 3 int
        Shape of the grid the network saw.
    flags : tuple of str
        Preprocessing flags (e.g. ``"no_liver"``: the crop fell back to the whole volume).
    seconds : float
        Time of preprocessing + network + restoring.
    """

    case_id: str
    probability: np.ndarray
    mask: np.ndarray
    spacing: tuple
    affine: np.ndarray
    prepared_shape: tuple
    flags: tuple = ()
    seconds: float = 0.0


@dataclass
class PredictionReport:
    """What :func:`predict_files` did: ``written`` (one dict per case) and ``failed``
    (``{"input", "case_id", "error"}``), also in ``OUT/predictions.json``."""

    out_dir: Path
    written: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    summary_path: Path | None = None


def _probability(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0.0 < float(x) < 1.0:
        raise ValueError(f"{name}: expected a number in (0, 1), got {x!r}")
    return float(x)


class CheckpointPredictor:
    """A trained network with its preprocessing, ready to predict cases.

    Parameters
    ----------
    checkpoint : path-like
        A checkpoint of :func:`vesselnet.train.train` (``best.pt`` or ``last.pt``).
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    tta : bool
        Flip test-time augmentation over the three axes (8 passes).
    overlap : float in [0, 1)
        Sliding-window overlap.
    batch_size : int
        Windows per network call.
    roi_size : 3 ints, optional
        Window size; default the training ``data.patch_size``, or the whole prepared volume when
        training used whole volumes.
    threshold : float in (0, 1)
        Probability threshold of the mask.
    amp : {"auto", "off"}
        bf16 autocast on CUDA with ``"auto"``; float32 on CPU always.

    Raises
    ------
    vesselnet.train.CheckpointError
        Not a readable vesselnet checkpoint, invalid config, weights that do not fit it, or no
        preprocessing record / one that this version cannot read (checkpoint/config mismatch).
    ValueError
        A bad option, naming it.
    """

    def __init__(self, checkpoint, *, device: str = "auto", tta: bool = False, overlap: float = 0.5,
                 batch_size: int = 1, roi_size: Sequence[int] | None = None, threshold: float = 0.5,
                 amp: str = "auto", progress: bool = False) -> None:
        from vesseltree.validation import check_nonnegative_int
        from vesselnet.data import PrepareConfig
        from vesselnet.predict.sliding import _check_roi, network_divisor
        from vesselnet.train.checkpoint import CheckpointError, load_model
        from vesselnet.train.config import TrainConfig
        from vesselnet.train.distributed import resolve_device

        self.device = resolve_device(device if isinstance(device, str) else str(device))
        self.threshold = _probability(threshold, "threshold")
        if isinstance(overlap, bool) or not isinstance(overlap, (int, float)) or not 0 <= overlap < 1:
            raise ValueError(f"overlap: expected a number in [0, 1), got {overlap!r}")
        self.overlap, self.tta, self.progress = float(overlap), bool(tta), bool(progress)
        self.batch_size = check_nonnegative_int(batch_size, "batch_size", minimum=1)
        if amp not in ("auto", "off"):
            raise ValueError(f"amp: expected 'auto' or 'off', got {amp!r}")
        self.path = Path(checkpoint)
        self.model, ckpt = load_model(self.path, device=self.device)
        self.config = TrainConfig.from_dict(ckpt["config"])
        record = ckpt.get("prepare")
        if not isinstance(record, dict):
            raise CheckpointError(
                f"checkpoint {str(self.path)!r}: holds no preprocessing record ('prepare'), so the "
                "preprocessing of its training data is unknown; train from a prepared dataset "
                "(vesselnet prepare) so that prediction can repeat it")
        try:
            self.prepare = PrepareConfig.from_dict(record)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint {str(self.path)!r}: its preprocessing record does not fit this "
                f"vesselnet's PrepareConfig ({exc})") from exc
        if self.config.model.in_channels != 1:
            raise CheckpointError(
                f"checkpoint {str(self.path)!r}: the network takes {self.config.model.in_channels} "
                "input channels; prediction feeds one CT channel")
        patch = self.config.data.patch_size
        self.roi_size = _check_roi(roi_size if roi_size is not None else patch)
        divisor = network_divisor(self.model)
        if self.roi_size is not None and any(r % divisor for r in self.roi_size):
            raise ValueError(f"roi_size: {self.roi_size} must be divisible by the network's size "
                             f"divisor {divisor} (2**depth) along every axis")
        self.amp = amp == "auto" and self.device.type == "cuda"
        self.epoch = int(ckpt.get("epoch", 0))

    def describe(self) -> dict:
        """Plain record of the model and the inference options (for summaries)."""
        return {"checkpoint": str(self.path), "preset": self.config.name, "epoch": self.epoch,
                "device": str(self.device), "tta": self.tta, "overlap": self.overlap,
                "roi_size": None if self.roi_size is None else list(self.roi_size),
                "threshold": self.threshold, "prepare": self.prepare.to_dict()}

    def check_prepared(self, config) -> None:
        """Raise ValueError unless a prepared case was made with this checkpoint's preprocessing."""
        if config.to_dict() != self.prepare.to_dict():
            mine, theirs = self.prepare.to_dict(), config.to_dict()
            diff = sorted(k for k in mine if mine[k] != theirs.get(k))
            raise ValueError(
                f"prepared data made with another preprocessing than checkpoint {str(self.path)!r} "
                f"(differs at {', '.join(diff)}); predict from the original images instead, or "
                "prepare them with the checkpoint's settings")

    def predict_prepared_image(self, image: np.ndarray, classes: bool = False) -> np.ndarray:
        """Probability on the prepared grid of a (1, D, H, W) or (D, H, W) normalised image
        (with ``classes`` and the multi-class baseline: the (K, D, H, W) class probabilities)."""
        import torch

        from vesselnet.predict.sliding import predict_volume

        ctx = (torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext())
        with ctx:
            return predict_volume(self.model, image, self.roi_size, overlap=self.overlap,
                                  batch_size=self.batch_size, tta=self.tta, device=self.device,
                                  progress=self.progress, classes=classes)

    def prepared_mask(self, image: np.ndarray) -> np.ndarray:
        """The vessel mask on the prepared grid: ``probability >= threshold``, or for the
        multi-class baseline ``argmax > 0`` (a scale class beats the background)."""
        p = self.predict_prepared_image(image, classes=True)
        if p.ndim == 4:
            return p[1:].max(axis=0) > p[0]
        return p >= self.threshold

    def _restored(self, image: np.ndarray, t) -> tuple[np.ndarray, np.ndarray]:
        """(probability, mask) on the original grid of a prepared image with transform ``t``."""
        from vesselnet.data.transform import restore

        p = self.predict_prepared_image(image, classes=True)
        if p.ndim == 3:
            full = np.clip(restore(p, t, order=1, cval=0.0), 0.0, 1.0).astype(np.float32)
            return full, full >= self.threshold
        fg = np.clip(restore(p[1:], t, order=1, cval=0.0), 0.0, 1.0)  # scale classes, 0 outside
        prob = np.clip(fg.sum(axis=0), 0.0, 1.0).astype(np.float32)  # 1 - p(background)
        return prob, fg.max(axis=0) > 1.0 - prob  # argmax > 0

    def predict_case(self, case) -> CasePrediction:
        """Predict a :class:`vesselnet.data.Case` (original geometry) or a
        :class:`vesselnet.data.PreparedCase`; the result is on the original grid."""
        import warnings

        from vesselnet.data.case import Case
        from vesselnet.data.preprocess import PreparedCase, preprocess  # the function, not the module

        t0 = time.perf_counter()
        if isinstance(case, Case):
            plain = Case(case.case_id, case.image, None, case.liver, case.spacing, case.affine, case.source)
            if plain.image is None:
                raise ValueError(f"case {case.case_id!r}: no image to predict from")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "no_liver" is reported as a flag
                prepared = preprocess(plain, self.prepare)
        elif isinstance(case, PreparedCase):
            prepared = case
        else:
            raise TypeError(f"case: expected a vesselnet.data.Case or PreparedCase, got {type(case).__name__}")
        t = prepared.transform
        full, mask = self._restored(prepared.image, t)
        return CasePrediction(prepared.case_id, full, mask, tuple(t.original_spacing),
                              np.asarray(t.original_affine, dtype=float), tuple(t.shape),
                              tuple(f for f in prepared.flags if f in ("no_liver",)),
                              round(time.perf_counter() - t0, 3))


# --------------------------------------------------------------------------------------------
# files


def _inside(path: Path, root: Path) -> Path:
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real_root != real and real_root not in real.parents:
        raise ValueError(f"output {str(path)!r} would be written outside --out {str(root)!r}; refused")
    return path


def write_prediction(pred: CasePrediction, out_dir) -> dict:
    """Write the probability map and the mask of one case (both or neither, atomically).

    Returns
    -------
    dict
        ``{"probability": path, "mask": path}`` (strings).
    """
    from vesselnet.data.case import check_case_id
    from vesseltree.io import atomic_write, save_volume

    out = Path(out_dir)
    cid = check_case_id(pred.case_id, "case_id")
    prob_path = _inside(out / "probabilities" / f"{cid}.nii.gz", out)
    mask_path = _inside(out / "masks" / f"{cid}.nii.gz", out)
    with ExitStack() as stack:
        tp = stack.enter_context(atomic_write(prob_path, ".nii.gz"))
        tm = stack.enter_context(atomic_write(mask_path, ".nii.gz"))
        save_volume(tp, pred.probability.astype(np.float32), pred.spacing, pred.affine)
        save_volume(tm, pred.mask.astype(np.uint8), pred.spacing, pred.affine)
    return {"probability": str(prob_path), "mask": str(mask_path)}


def _write_json(path: Path, data: dict) -> None:
    from vesseltree.io import atomic_write

    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text if isinstance(exc, (ValueError, OSError, KeyError)) else f"{type(exc).__name__}: {text}"


def predict_files(checkpoint, inputs: Iterable, out_dir, *, spacing: Sequence[float] | None = None,
                  liver_dir=None, progress: bool | None = None, **options) -> PredictionReport:
    """Predict every input and write its probability map and mask (module docstring).

    Parameters
    ----------
    checkpoint : path-like or CheckpointPredictor
    inputs : iterable of path-like
        Files and folders (:mod:`vesselnet.predict.inputs`).
    out_dir : path-like
        Output folder (created).
    spacing : 3 floats, optional
        Voxel size (mm) overriding the inputs' (needed for ``.npy``).
    liver_dir : path-like, optional
        Liver masks named like the inputs, for the liver crop.
    progress : bool, optional
        Progress bar over the inputs on stderr (default: only on a terminal).
    **options
        :class:`CheckpointPredictor` options (``device``, ``tta``, ``overlap``, ...).

    Returns
    -------
    PredictionReport
        Failures are listed, not raised.

    Raises
    ------
    ValueError, CheckpointError
        Bad checkpoint, options or output folder (before anything is predicted).
    """
    from vesselnet.predict.inputs import discover_inputs
    from vesseltree.validation import check_spacing

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir: {str(out)!r} exists and is not a folder")
    sp = None if spacing is None else check_spacing(spacing, "spacing")
    predictor = checkpoint if isinstance(checkpoint, CheckpointPredictor) else CheckpointPredictor(checkpoint, **options)
    items = discover_inputs(inputs)
    out.mkdir(parents=True, exist_ok=True)
    report = PredictionReport(out)
    _predict_items(predictor, items, _case_loader(predictor, sp, liver_dir), report, progress)
    report.summary_path = out / "predictions.json"
    _write_json(report.summary_path, {"model": predictor.describe(), "cases": report.written,
                                      "failed": report.failed})
    return report


def _case_loader(predictor: CheckpointPredictor, spacing, liver_dir):
    """``load(item) -> case``: an input read in original geometry, or a prepared case checked
    against the checkpoint's preprocessing."""
    from vesselnet.data.preprocess import PreparedCase
    from vesselnet.predict.inputs import load_input

    def load(item):
        case = load_input(item, spacing=spacing, liver_dir=liver_dir)
        if isinstance(case, PreparedCase):
            from vesselnet.data import PreparedDataset

            predictor.check_prepared(PreparedDataset(item.path).config)
            case.case_id = item.case_id
        return case

    return load


def _predict_items(predictor: CheckpointPredictor, items: list, load, report: PredictionReport,
                   progress: bool | None) -> None:
    """Predict and write every item into ``report`` (written or failed), the next item read in
    a background thread while the current one is predicted."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(items), desc="predict", unit="case", file=sys.stderr,
               disable=(None if progress is None else not progress))
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(load, items[0])
        for k, item in enumerate(items):
            try:
                case = future.result()
            except Exception as exc:  # noqa: BLE001 - reported, the other inputs go on
                case, error = None, exc
            if k + 1 < len(items):
                future = pool.submit(load, items[k + 1])
            if case is not None:
                try:
                    report.written.append(_predict_one(predictor, item, case, report.out_dir))
                    error = None
                except Exception as exc:  # noqa: BLE001
                    error = exc
            if error is not None:
                report.failed.append({"case_id": item.case_id, "input": item.source, "error": _short(error)})
            bar.update(1)
    bar.close()


def _predict_one(predictor: CheckpointPredictor, item, case, out: Path) -> dict:
    """Predict one case, write its files, and return its row of the report."""
    pred = predictor.predict_case(case)
    files = write_prediction(pred, out)
    return {"case_id": item.case_id, "input": item.source, **files,
            "shape": list(pred.probability.shape), "spacing": list(pred.spacing),
            "prepared_shape": list(pred.prepared_shape), "flags": list(pred.flags),
            "vessel_voxels": int(pred.mask.sum()), "seconds": pred.seconds}

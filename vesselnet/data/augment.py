"""Augmentation of a batch on its own device (the paper's list: rotation, translation, flipping,
gamma correction; Sect. 3.2).

One affine map per case, drawn from a ``torch.Generator``, moves the image and every label
together: :func:`torch.nn.functional.affine_grid` builds one sampling grid per case and
:func:`torch.nn.functional.grid_sample` reads the image (trilinear) and the labels (nearest
neighbour, vessel and scales in one call, so labels stay 0/1 and the scales stay a partition
of the vessel) through it. The whole batch is one call each, on the batch's device (a GPU is
not starved by CPU workers).

The map is a rigid motion in millimetres about the volume's centre (the spacing of each case
is used, so a rotation of a volume with non-cubic voxels or a non-cubic shape is a true
rotation), combined with axis flips: output point ``p`` (mm, from the centre) reads the input
at ``A @ p + t`` where ``A = R @ F``. Points outside the input read background (labels 0, the
image its case's minimum). Gamma correction, ``x -> lo + (hi - lo) * ((x - lo) / (hi - lo))**g``
with ``lo, hi`` the case's minimum and maximum, preserves the order of intensities.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["Augmenter", "affine_batch", "rotation_matrix", "gamma_batch"]


def rotation_matrix(angles_zyx: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (B, 3, 3) in (z, y, x) coordinates from angles (B, 3) in radians
    about the z, y and x axes (applied x first, then y, then z)."""
    a = angles_zyx.to(torch.float64)
    c, s = torch.cos(a), torch.sin(a)
    one, zero = torch.ones_like(c[:, 0]), torch.zeros_like(c[:, 0])

    def mat(rows):
        return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)

    # coordinates (z, y, x): a rotation about z mixes y and x, etc.
    rz = mat([[one, zero, zero], [zero, c[:, 0], -s[:, 0]], [zero, s[:, 0], c[:, 0]]])
    ry = mat([[c[:, 1], zero, s[:, 1]], [zero, one, zero], [-s[:, 1], zero, c[:, 1]]])
    rx = mat([[c[:, 2], -s[:, 2], zero], [s[:, 2], c[:, 2], zero], [zero, zero, one]])
    return rz @ ry @ rx


def _theta(matrix: torch.Tensor, offset: torch.Tensor, shape, spacing: torch.Tensor) -> torch.Tensor:
    """affine_grid's (B, 3, 4) in normalised (x, y, z) coordinates (align_corners=False)."""
    half = torch.tensor(shape, dtype=torch.float64).flip(0) / 2 * spacing.to(torch.float64).flip(-1)
    rev = [2, 1, 0]
    a = matrix.to(torch.float64)[:, rev][:, :, rev]  # (z, y, x) -> (x, y, z)
    t = offset.to(torch.float64)[:, rev]
    e, e_inv = torch.diag_embed(half), torch.diag_embed(1.0 / half)
    return torch.cat([e_inv @ a @ e, (e_inv @ t[..., None])], dim=2)


def affine_batch(batch: dict, matrix: torch.Tensor, offset: torch.Tensor) -> dict:
    """Apply one affine map per case to the image and the labels of ``batch``.

    Parameters
    ----------
    batch : dict
        ``image`` (B, 1, D, H, W); optional ``vessel`` (B, 1, ...) and ``scales`` (B, S, ...);
        ``spacing`` (B, 3) mm (1 mm when absent). Not modified.
    matrix : torch.Tensor, shape (B, 3, 3)
        ``A`` in (z, y, x) coordinates (rotation times flips).
    offset : torch.Tensor, shape (B, 3)
        ``t`` in mm, (z, y, x).

    Returns
    -------
    dict
        A new batch (other entries shared).
    """
    image = batch["image"]
    b, _, d, h, w = image.shape
    spacing = batch.get("spacing")
    spacing = torch.ones(b, 3, dtype=torch.float64) if spacing is None else spacing.detach().cpu()
    theta = _theta(matrix.detach().cpu(), offset.detach().cpu(), (d, h, w), spacing)
    grid = F.affine_grid(theta.to(device=image.device, dtype=torch.float32), [b, 1, d, h, w],
                         align_corners=False)
    low = image.amin(dim=(1, 2, 3, 4), keepdim=True)
    out = dict(batch)
    out["image"] = F.grid_sample(image - low, grid, mode="bilinear", padding_mode="zeros",
                                 align_corners=False) + low
    labels = [batch[k] for k in ("vessel", "scales") if batch.get(k) is not None]
    if labels:
        moved = F.grid_sample(torch.cat(labels, dim=1), grid, mode="nearest",
                              padding_mode="zeros", align_corners=False)
        start = 0
        for k in ("vessel", "scales"):
            if batch.get(k) is not None:
                n = batch[k].shape[1]
                out[k] = moved[:, start:start + n]
                start += n
    return out


def gamma_batch(image: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """Gamma correction per case (module docstring); ``gamma`` (B,), 1 = unchanged."""
    lo = image.amin(dim=(1, 2, 3, 4), keepdim=True)
    hi = image.amax(dim=(1, 2, 3, 4), keepdim=True)
    rng = (hi - lo).clamp_min(torch.finfo(image.dtype).tiny)
    g = gamma.to(image.device, image.dtype).view(-1, 1, 1, 1, 1)
    return lo + rng * ((image - lo) / rng).clamp(0, 1) ** g


def _pair(v, name):
    if v is None:
        return None
    lo, hi = (float(x) for x in v)
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise ValueError(f"{name}: expected 0 < low <= high, got {v!r}")
    return lo, hi


class Augmenter(torch.nn.Module):
    """Random rotation, translation, flips and gamma, one draw per case (module docstring).

    Parameters
    ----------
    rotation_deg : float or 3 floats
        Angles about z, y, x drawn uniformly in ``[-r, r]`` degrees.
    translation : float or 3 floats
        Shifts drawn uniformly in ``[-f, f]`` times the volume's extent along z, y, x.
    flip_axes : sequence of int
        Axes (0 = z, 1 = y, 2 = x) flipped, each with probability ``flip_p``.
    gamma : (low, high) or None
        Gamma drawn log-uniformly in this range.
    p : float
        Probability of each of rotation, translation and gamma for a case.
    flip_p : float
        Probability of flipping each axis of ``flip_axes``.
    """

    def __init__(self, rotation_deg=15.0, translation=0.1, flip_axes: Sequence[int] = (0, 1, 2),
                 gamma=(0.7, 1.5), p: float = 0.5, flip_p: float = 0.5):
        super().__init__()
        self.rotation_deg = self._triple(rotation_deg, "rotation_deg")
        self.translation = self._triple(translation, "translation")
        axes = tuple(int(a) for a in flip_axes)
        if any(a not in (0, 1, 2) for a in axes):
            raise ValueError(f"flip_axes: expected axes among 0 (z), 1 (y), 2 (x), got {flip_axes!r}")
        self.flip_axes = tuple(sorted(set(axes)))
        self.gamma = _pair(gamma, "gamma")
        for name, v in (("p", p), ("flip_p", flip_p)):
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"{name}: expected a probability in [0, 1], got {v!r}")
        self.p, self.flip_p = float(p), float(flip_p)

    @staticmethod
    def _triple(v, name) -> tuple[float, float, float]:
        vals = (float(v),) * 3 if isinstance(v, (int, float)) else tuple(float(x) for x in v)
        if len(vals) != 3 or not all(math.isfinite(x) and x >= 0 for x in vals):
            raise ValueError(f"{name}: expected a number >= 0 or 3 of them, got {v!r}")
        return vals

    def sample(self, batch_size: int, shape, spacing: torch.Tensor, generator: torch.Generator) -> dict:
        """Draw the per-case parameters: ``matrix`` (B, 3, 3), ``offset`` (B, 3) mm,
        ``gamma`` (B,). Drawn on the generator's device, returned on the CPU (float64)."""
        u = torch.rand(batch_size, 13, generator=generator, dtype=torch.float64,
                       device=generator.device).cpu()
        on = (u[:, 9:12] < self.p).to(torch.float64)  # rotation, translation, gamma
        rot = torch.tensor(self.rotation_deg, dtype=torch.float64) * (2 * u[:, 0:3] - 1)
        matrix = rotation_matrix(torch.deg2rad(rot) * on[:, :1])
        flips = torch.ones(batch_size, 3, dtype=torch.float64)
        for a in self.flip_axes:
            flips[:, a] = torch.where(u[:, 6 + a] < self.flip_p, -1.0, 1.0)
        matrix = matrix @ torch.diag_embed(flips)
        extent = torch.tensor(shape, dtype=torch.float64) * spacing.detach().cpu().to(torch.float64)
        offset = torch.tensor(self.translation, dtype=torch.float64) * (2 * u[:, 3:6] - 1) * extent
        offset = offset * on[:, 1:2]
        gamma = torch.ones(batch_size, dtype=torch.float64)
        if self.gamma is not None:
            lo, hi = math.log(self.gamma[0]), math.log(self.gamma[1])
            gamma = torch.where(on[:, 2] > 0, torch.exp(lo + (hi - lo) * u[:, 12]), gamma)
        return {"matrix": matrix, "offset": offset, "gamma": gamma}

    def forward(self, batch: dict, generator: torch.Generator) -> dict:
        """Augment ``batch`` (not modified) on its device; same generator state, same output."""
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
        image = batch["image"]
        if image.ndim != 5 or image.shape[1] != 1:
            raise ValueError(f"batch['image']: expected (B, 1, D, H, W), got {tuple(image.shape)}")
        b = image.shape[0]
        spacing = batch.get("spacing")
        spacing = torch.ones(b, 3, dtype=torch.float64) if spacing is None else spacing
        params = self.sample(b, tuple(image.shape[2:]), spacing, generator)
        out = affine_batch(batch, params["matrix"], params["offset"])
        if self.gamma is not None:
            out["image"] = gamma_batch(out["image"], params["gamma"])
        return out

    def extra_repr(self) -> str:
        return (f"rotation_deg={self.rotation_deg}, translation={self.translation}, "
                f"flip_axes={self.flip_axes}, gamma={self.gamma}, p={self.p}, flip_p={self.flip_p}")

"""Synthetic vessel phantoms with known ground truth, and a CT-like renderer.

A VascuSynth-like generator (Hamarneh & Jassi 2010, in spirit, not in code) for tests,
demos and benchmarks that need vessel masks without downloads:

* :mod:`.primitives`: :func:`tube` (tapered cylinder or capsule), :func:`torus`,
  :func:`rasterize_segments` (many tubes at once, with per-voxel ground truth);
* :mod:`.growth`: :func:`make_phantom`, a seeded recursive branching tree of tapered,
  mildly curved tubes obeying Murray's law ``r**g = r1**g + r2**g`` (``g =
  murray_exponent``, 3 by default, Murray 1926) with random asymmetry and optional
  anastomoses (:mod:`.loops`); its parameters as a value object, :class:`PhantomSpec`
  (:mod:`.spec`); the result, :class:`Phantom` (:mod:`.phantom`);
* :mod:`.ct`: :func:`render_ct`, a contrast-enhanced CT-like image of a phantom (liver
  parenchyma in a body, bright vessels, optional hypodense tumours, partial-volume blur,
  noise).

Conventions
-----------
Axes are (z, y, x). Every length (coordinates, radii, blur) is in millimetres; voxel index
``i`` on an axis of spacing ``s`` has its centre at the physical coordinate ``i * s``.
Partial volume: a voxel is split into ``supersample**3`` sub-voxels and belongs to the mask
when at least half of their centres lie inside the shape, exactly half counting only when
the voxel centre is inside too (an unbiased tie-break; ``supersample=1``: centre test).
Rasterization runs in Numba kernels (:mod:`vesseltree._kernels.raster_nb`) whose work is
proportional to the shapes' bounding boxes, not to the volume.
"""
from __future__ import annotations

from ._checks import MAX_SUPERSAMPLE
from .ct import CT, render_ct
from .growth import make_phantom
from .phantom import Phantom
from .primitives import rasterize_segments, torus, tube
from .spec import PhantomSpec

__all__ = [
    "tube",
    "torus",
    "rasterize_segments",
    "Phantom",
    "PhantomSpec",
    "make_phantom",
    "CT",
    "render_ct",
    "MAX_SUPERSAMPLE",
]

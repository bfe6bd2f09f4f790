"""The validated parameters of a phantom tree (:class:`PhantomSpec`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vesseltree._validation import as_shape3, check_nonnegative_int, check_positive, check_spacing

from ._checks import check_range, check_supersample

__all__ = ["PhantomSpec"]


def _check_below(value: float, name: str, bound: float, expected: str, *,
                 inclusive: bool = False) -> float:
    """``value`` (already a finite float) if it is < ``bound`` (<= with ``inclusive``),
    else a ValueError naming ``name``."""
    if value > bound or (value == bound and not inclusive):
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return value


@dataclass(frozen=True)
class PhantomSpec:
    """Parameters of a phantom tree (:func:`~vesseltree.synthetic.make_phantom`), validated.

    On construction every field is checked (``ValueError``/``TypeError`` naming it) and the
    ``None`` defaults are replaced by their values; ``shape`` becomes a tuple of 3 ints,
    ``spacing`` a tuple of 3 floats, ``length_ratio`` a tuple of 2 floats. Frozen: a spec
    is a value; :meth:`generate` grows its phantom.

    Parameters
    ----------
    shape : 3 ints
        Volume shape (z, y, x).
    spacing : float or 3 floats
        Voxel size in mm (z, y, x).
    seed : int
        Seed of the only random generator used: same seed, same arrays.
    root_radius : float, optional
        Root radius in mm; default 5% of the smallest physical extent of the volume
        (``(n - 1) * spacing`` along each axis, from the first to the last voxel centre),
        at least ``2 * min_radius``.
    depth : int >= 0
        Number of bifurcation generations (0: the root alone).
    murray_exponent : float > 0
        Exponent ``g`` of Murray's law (3: Murray 1926; ~2.7 observed in large vessels).
    asymmetry : float in [0, 1]
        Spread of the flow split between the two children (0: symmetric).
    branch_angle : float, optional
        Opening angle between the two children in degrees, shared in inverse proportion to
        their cross-sections (the larger child deviates less). Default: Murray's optimum,
        ``cos(theta1) = (R**4 + r1**4 - r2**4) / (2 R**2 r1**2)`` and symmetrically.
    angle_jitter : float >= 0
        Standard deviation (degrees) of a random perturbation of each branching angle.
    curvature : float in [0, 180)
        Mean total turn (degrees) of a segment along its length; the segment is an arc of
        ``ceil(turn / 6 deg)`` (2 to 12) straight pieces in a random plane, the turn drawn
        uniformly in ``[0.5, 1.5] * curvature``. 0: straight segments (one piece).
    taper : float in [0, 1)
        Fraction of its start radius a segment loses along its length.
    length_ratio : (float, float)
        A segment's length is its start radius times a ratio drawn uniformly in this range
        (the root's is at most 40% of the volume's longest axis).
    loops : int >= 0
        Number of anastomoses to add: straight tubes joining a terminal node to a nearby
        node of another branch (not a parent, child or sibling), radius the smaller of the
        two nodes' radii, leaving both nodes at >= 80 degrees from every vessel there, and
        clear of the other tubes. Each adds one cycle to the graph (and one tunnel to the
        mask). Fewer are added, with a warning, when too few pairs fit.
    min_radius : float, optional
        Children whose end radius (after taper) would be thinner than this (mm) are not
        grown; default the largest voxel size (one voxel along the coarsest axis), so every
        tube is at least a voxel thick.
    clearance : float, optional
        Minimum surface-to-surface gap (mm) between non-adjacent tubes (branches are
        re-oriented up to ``max_tries`` times to respect it); default twice the largest
        voxel size, so that ``loops=0`` gives a mask without spurious contacts.
    supersample : int in [1, 4]
        Partial-volume sub-samples per axis (see :func:`rasterize_segments`).
    max_tries : int >= 1
        Random orientations tried for a bifurcation before the parent is made terminal.

    Attributes
    ----------
    default_root : bool
        Whether ``root_radius`` was derived from shape and spacing (error messages say so).
    """

    shape: tuple = (128, 256, 256)
    spacing: tuple = (1.0, 1.0, 1.0)
    seed: int = 0
    root_radius: float | None = None
    depth: int = 7
    murray_exponent: float = 3.0
    asymmetry: float = 0.4
    branch_angle: float | None = None
    angle_jitter: float = 8.0
    curvature: float = 20.0
    taper: float = 0.05
    length_ratio: tuple = (5.0, 10.0)
    loops: int = 0
    min_radius: float | None = None
    clearance: float | None = None
    supersample: int = 2
    max_tries: int = 12
    default_root: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        values = self._checked_counts()
        values.update(self._checked_sizes(values["shape"], values["spacing"]))
        values.update(self._checked_shape_parameters())
        for name, value in values.items():
            object.__setattr__(self, name, value)
        if self.root_radius * (1.0 - self.taper) < self.min_radius:
            raise ValueError(
                f"root_radius: expected a radius with root_radius * (1 - taper) >= min_radius "
                f"({self.min_radius} mm), got {self.root_radius!r}{self.root_hint}"
            )

    def generate(self):
        """Grow and rasterize the phantom: ``make_phantom`` with these parameters.

        Returns
        -------
        Phantom
        """
        from .growth import grow_phantom

        return grow_phantom(self)

    @property
    def extent(self) -> np.ndarray:
        """Physical extent (mm) spanned by the voxel centres, ``(shape - 1) * spacing``."""
        return (np.asarray(self.shape) - 1) * np.asarray(self.spacing, dtype=np.float64)

    @property
    def root_hint(self) -> str:
        """Suffix of the ``root_radius`` error messages when the radius is the default."""
        return " (the default, from shape and spacing)" if self.default_root else ""

    def _checked_counts(self) -> dict:
        return dict(
            shape=as_shape3(self.shape),
            spacing=check_spacing(self.spacing),
            seed=check_nonnegative_int(self.seed, "seed"),
            depth=check_nonnegative_int(self.depth, "depth"),
            loops=check_nonnegative_int(self.loops, "loops"),
            max_tries=check_nonnegative_int(self.max_tries, "max_tries", minimum=1),
            supersample=check_supersample(self.supersample),
        )

    def _checked_sizes(self, shape, spacing) -> dict:
        """min_radius, root_radius and clearance (mm), defaults from shape and spacing."""
        sp = np.asarray(spacing, dtype=np.float64)
        extent = (np.asarray(shape) - 1) * sp
        if min(shape) < 2:
            raise ValueError(f"shape: expected at least 2 voxels along each axis, got {shape}")
        min_radius = float(np.max(sp)) if self.min_radius is None else self.min_radius
        min_radius = check_positive(min_radius, "min_radius")
        default_root = self.root_radius is None
        root = max(0.05 * float(np.min(extent)), 2.0 * min_radius) if default_root else self.root_radius
        clearance = 2.0 * float(np.max(sp)) if self.clearance is None else self.clearance
        return dict(
            min_radius=min_radius,
            root_radius=check_positive(root, "root_radius"),
            default_root=default_root,
            clearance=check_positive(clearance, "clearance", allow_zero=True),
        )

    def _checked_shape_parameters(self) -> dict:
        """Murray exponent, asymmetry, angles, curvature, taper and length ratio."""
        out = dict(murray_exponent=check_positive(self.murray_exponent, "murray_exponent"))
        out["asymmetry"] = _check_below(
            check_positive(self.asymmetry, "asymmetry", allow_zero=True), "asymmetry",
            1.0, "a number in [0, 1]", inclusive=True)
        angle = self.branch_angle
        if angle is not None:
            angle = _check_below(check_positive(angle, "branch_angle"), "branch_angle", 180.0,
                                 "degrees in (0, 180)")
        out["branch_angle"] = angle
        out["angle_jitter"] = check_positive(self.angle_jitter, "angle_jitter", allow_zero=True)
        out["curvature"] = _check_below(
            check_positive(self.curvature, "curvature", allow_zero=True), "curvature", 180.0,
            "degrees in [0, 180)")
        out["taper"] = _check_below(check_positive(self.taper, "taper", allow_zero=True),
                                    "taper", 1.0, "a fraction in [0, 1)")
        out["length_ratio"] = check_range(self.length_ratio, "length_ratio")
        return out

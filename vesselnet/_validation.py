"""Input checks for the PyTorch side (vesselnet).

Every check names the argument, states what was expected and what was received, and raises
``TypeError`` (wrong kind of object) or ``ValueError`` (wrong shape or values) *before* any
computation, never an ``AssertionError``. Scalar checks reuse :mod:`vesseltree.validation`.

Value checks on tensors (``check_unit_interval``, ``check_class_ids``) read back one boolean
from the device, which costs a synchronisation on GPU; they are done once per loss call.
"""
from __future__ import annotations

from numbers import Real
from typing import Sequence

import torch

from vesseltree.validation import check_nonnegative_int, check_positive

__all__ = [
    "check_positive",
    "check_nonnegative_int",
    "check_tensor",
    "check_volume",
    "check_same_shape",
    "check_unit_interval",
    "check_class_ids",
    "check_weights",
    "check_choice",
    "describe",
    "check_finite",
    "finite_checks_enabled",
    "set_finite_checks",
]


def describe(value) -> str:
    """Short human description of ``value`` for error messages.

    Parameters
    ----------
    value : object

    Returns
    -------
    str
        Shape and dtype of a tensor, else the ``repr`` cut to 80 characters.
    """
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_tensor(x, name: str, *, ndim: int | None = None, floating: bool = False) -> torch.Tensor:
    """Return ``x`` if it is a tensor with ``ndim`` dimensions (and a floating dtype), or raise.

    Parameters
    ----------
    x : object
        Value to check.
    name : str
        Argument name used in error messages.
    ndim : int, optional
        Required number of dimensions.
    floating : bool, default False
        Require a floating-point dtype.

    Returns
    -------
    torch.Tensor
        ``x`` itself.

    Raises
    ------
    TypeError
        Naming ``name``: not a tensor, or not floating when required.
    ValueError
        Naming ``name``: wrong number of dimensions.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {describe(x)}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}D tensor, got {describe(x)}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got {describe(x)}")
    return x


def check_volume(
    x, name: str, *, channels: int | None = None, floating: bool = True
) -> torch.Tensor:
    """Check a non-empty (B, C, D, H, W) tensor, optionally with exactly ``channels`` channels.

    Parameters
    ----------
    x : object
        Value to check.
    name : str
        Argument name used in error messages.
    channels : int, optional
        Required C.
    floating : bool, default True
        Require a floating-point dtype.

    Returns
    -------
    torch.Tensor
        ``x`` itself.

    Raises
    ------
    TypeError
        Naming ``name``: not a tensor, or not floating when required.
    ValueError
        Naming ``name``: not 5D (the message gives the (B, C, D, H, W) layout), wrong
        channel count, or empty.
    """
    if isinstance(x, torch.Tensor) and x.ndim != 5:
        raise ValueError(f"{name}: expected a 5D tensor (B, C, D, H, W), got {describe(x)}")
    check_tensor(x, name, ndim=5, floating=floating)
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name}: expected {channels} channel(s) (B, {channels}, D, H, W), got {describe(x)}"
        )
    if x.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty tensor, got {describe(x)}")
    return x


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Raise ValueError naming ``name_b`` if the two tensors' shapes differ.

    Parameters
    ----------
    a, b : torch.Tensor
        Tensors to compare; ``a`` is the reference.
    name_a, name_b : str
        Their argument names.

    Raises
    ------
    ValueError
        Naming ``name_b``, with both shapes.
    """
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{name_b}: expected the shape of {name_a} {tuple(a.shape)}, got {tuple(b.shape)}"
        )


def check_unit_interval(t: torch.Tensor, name: str) -> None:
    """Raise ValueError if a float/bool/int tensor holds values outside [0, 1] or NaN.

    Parameters
    ----------
    t : torch.Tensor
        Mask or soft target (bool tensors pass without a check).
    name : str
        Argument name used in error messages.

    Raises
    ------
    ValueError
        Naming ``name``, with up to 5 offending values.
    """
    if t.dtype == torch.bool:
        return
    bad = ~((t >= 0) & (t <= 1))  # NaN fails both comparisons
    if bool(bad.any()):
        vals = t[bad]
        raise ValueError(
            f"{name}: expected values in [0, 1] (a mask or soft target), got values "
            f"{vals[:5].tolist()}"
        )


def check_class_ids(t: torch.Tensor, name: str, num_classes: int) -> None:
    """Raise if an integer class-id tensor holds ids outside ``[0, num_classes)``.

    Parameters
    ----------
    t : torch.Tensor
        Integer class ids.
    name : str
        Argument name used in error messages.
    num_classes : int
        Number of classes C.

    Raises
    ------
    TypeError
        Naming ``name`` for a floating, bool or complex tensor.
    ValueError
        Naming ``name``, with up to 5 offending ids.
    """
    if t.is_floating_point() or t.dtype == torch.bool or t.is_complex():
        raise TypeError(
            f"{name}: expected integer class ids in [0, {num_classes}), got {describe(t)}"
        )
    bad = (t < 0) | (t >= num_classes)
    if bool(bad.any()):
        raise ValueError(
            f"{name}: expected class ids in [0, {num_classes}), got values "
            f"{torch.unique(t[bad])[:5].tolist()}"
        )


def check_weights(values, name: str, length: int | None = None) -> tuple[float, ...]:
    """Return a sequence of finite non-negative numbers (of ``length``) as a tuple of floats.

    Parameters
    ----------
    values : sequence of numbers or torch.Tensor
        Weights (a tensor is flattened).
    name : str
        Argument name used in error messages.
    length : int, optional
        Required number of values.

    Returns
    -------
    tuple of float

    Raises
    ------
    TypeError
        Naming ``name``: not a sequence, or non-numeric (bool included) entries.
    ValueError
        Naming ``name``: negative, NaN or infinite values, or a wrong length.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().reshape(-1).tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name}: expected a sequence of non-negative numbers, got {describe(values)}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, Real):
            raise TypeError(f"{name}: expected numbers, got {describe(values)}")
        fv = float(v)
        if not (fv >= 0 and fv != float("inf")):
            raise ValueError(f"{name}: expected finite values >= 0, got {describe(values)}")
        out.append(fv)
    if length is not None and len(out) != length:
        raise ValueError(f"{name}: expected {length} values, got {len(out)} ({describe(values)})")
    return tuple(out)


def check_choice(value, name: str, choices: Sequence) -> object:
    """Return ``value`` if it is one of ``choices``, else raise ValueError.

    Parameters
    ----------
    value : object
    name : str
        Argument name used in error messages.
    choices : sequence
        Allowed values.

    Returns
    -------
    object
        ``value``.

    Raises
    ------
    ValueError
        Naming ``name``, listing the choices.
    """
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, got {describe(value)}")
    return value


# --------------------------------------------------------------------------------------------
# finite checks at the model/loss boundary (switchable, on by default)

_FINITE_CHECKS = [True]


def finite_checks_enabled() -> bool:
    """Whether :func:`check_finite` checks anything (default True; see :func:`set_finite_checks`)."""
    return _FINITE_CHECKS[0]


def set_finite_checks(enabled: bool) -> bool:
    """Switch the ``isfinite`` checks of network inputs and loss inputs on or off.

    The checks cost one reduction and one device synchronisation per checked tensor; switch
    them off only when speed matters more than a clear error on NaN/inf input.

    Parameters
    ----------
    enabled : bool
        New state (for this process).

    Returns
    -------
    bool
        The previous state (to restore it).
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled: expected True or False, got {describe(enabled)}")
    previous, _FINITE_CHECKS[0] = _FINITE_CHECKS[0], enabled
    return previous


def check_finite(t: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ValueError naming ``name`` if a floating tensor holds NaN or infinite values.

    Does nothing when the checks are switched off (:func:`set_finite_checks`) or for
    non-floating tensors.

    Parameters
    ----------
    t : torch.Tensor
        Tensor to check.
    name : str
        Argument name used in error messages.

    Returns
    -------
    torch.Tensor
        ``t`` itself.

    Raises
    ------
    ValueError
        Naming ``name``, with the number of NaN and infinite values and the first position.
    """
    if not _FINITE_CHECKS[0] or not t.is_floating_point():
        return t
    finite = torch.isfinite(t)
    if bool(finite.all()):
        return t
    bad = ~finite
    n_nan = int(torch.isnan(t).sum())
    n_inf = int(bad.sum()) - n_nan
    first = tuple(int(i) for i in torch.nonzero(bad)[0].tolist())
    raise ValueError(
        f"{name}: expected finite values, got {n_nan} NaN and {n_inf} infinite value(s) "
        f"of {t.numel()} ({describe(t)}), first at index {first}"
    )

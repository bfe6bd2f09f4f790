"""The search space of ``vesselnet tune``: which loss weights are searched, over which ranges.

The paper (Sadikine et al., ISBI 2023, Sect. 3.2) tuned the weights of Eq. 9 with Optuna,
``L_total = L_mt + sum_s lambda_s L_s + lambda_c L_c`` and the temperature ``tau`` of Eq. 8,
and reports lambda_1..3 = 0.78, 0.48, 0.54, lambda_c = 0.53, tau = 0.94. The parameters:

=============  ==========================  ==========================  ================
name           config key                  default range               rule
=============  ==========================  ==========================  ================
``lambda_s``   ``loss.lambdas[s - 1]``     [0, 1]                      >= 0
``lambda_c``   ``loss.lambda_c``           [0, 1]                      >= 0
``tau``        ``loss.tau``                [0.05, 1]                   > 0
``lr``         ``optim.lr``                [1e-4, 1e-3], log scale     > 0 (not searched
                                                                       by default)
=============  ==========================  ==========================  ================

``s`` runs over 1 .. S (``model.num_scales``; scale 1 = smallest vessels). A space is written
as a mapping (YAML file or :func:`parse_param` flags), each entry a ``[low, high]`` list, a
mapping ``{low: .., high: .., log: true}`` or ``null`` (do not search; keep the config's
value); names not given keep their default range. The paper's values lie inside the default
ranges.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Mapping

from vesselnet.train._rules import decimal_value

__all__ = [
    "ParamRange",
    "SearchSpace",
    "valid_names",
    "default_space",
    "load_space",
    "parse_param",
]


@dataclass(frozen=True)
class ParamRange:
    """One searched parameter: a float in ``[low, high]``, sampled on a log scale if ``log``."""

    name: str
    low: float
    high: float
    log: bool = False

    def to_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "log": self.log}


# name -> (strictly positive?, default (low, high, log), searched by default?)
_FIXED = {
    "lambda_c": (False, (0.0, 1.0, False), True),
    "tau": (True, (0.05, 1.0, False), True),
    "lr": (True, (1e-4, 1e-3, True), False),
}


def valid_names(num_scales: int) -> list[str]:
    """Parameter names for a model of ``num_scales`` scales: ``lambda_1 .. lambda_S``,
    ``lambda_c``, ``tau``, ``lr``."""
    return [f"lambda_{s}" for s in range(1, num_scales + 1)] + list(_FIXED)


def _rule(name: str) -> tuple[bool, tuple[float, float, bool], bool]:
    if name in _FIXED:
        return _FIXED[name]
    return (False, (0.0, 1.0, False), True)  # lambda_s


def _where(source: str | None) -> str:
    return f"search space ({source})" if source else "search space"


class SearchSpace:
    """Validated ranges of the searched parameters (module docstring).

    Parameters
    ----------
    ranges : mapping of name -> ParamRange
        Already validated (use :func:`default_space`, :func:`load_space`).
    num_scales : int
        S of the model the space belongs to.
    """

    def __init__(self, ranges: Mapping[str, ParamRange], num_scales: int) -> None:
        self.ranges = dict(ranges)
        self.num_scales = num_scales

    @property
    def names(self) -> list[str]:
        return list(self.ranges)

    def to_dict(self) -> dict:
        """Plain data (goes into the study record and ``tune.json``)."""
        return {name: r.to_dict() for name, r in self.ranges.items()}

    def suggest(self, trial) -> dict[str, float]:
        """Draw every parameter from an Optuna trial (``trial.suggest_float``)."""
        return {n: float(trial.suggest_float(n, r.low, r.high, log=r.log)) for n, r in self.ranges.items()}

    def overrides(self, params: Mapping[str, float], config) -> dict:
        """Nested config overrides that set ``params`` in ``config`` (a ``TrainConfig``)."""
        lambdas = list(config.loss.lambdas)
        loss: dict = {}
        out: dict = {}
        for name, value in params.items():
            if name.startswith("lambda_") and name != "lambda_c":
                lambdas[int(name.split("_")[1]) - 1] = float(value)
                loss["lambdas"] = lambdas
            elif name in ("lambda_c", "tau"):
                loss[name] = float(value)
            elif name == "lr":
                out["optim"] = {"lr": float(value)}
            else:
                raise ValueError(f"params: unknown parameter {name!r}; valid parameters: "
                                 f"{', '.join(valid_names(self.num_scales))}")
        if loss:
            out["loss"] = loss
        return out

    def apply(self, config, params: Mapping[str, float]):
        """``config`` (a ``TrainConfig``) with ``params`` set; a new validated config."""
        return config.replace(self.overrides(params, config))

    def check_config(self, config) -> None:
        """Refuse a space whose parameters the config's model does not use.

        Raises
        ------
        ValueError
            Loss weights searched for a model kind other than ``multitask``, or a space built
            for another number of scales.
        """
        if config.model.num_scales != self.num_scales:
            raise ValueError(
                f"search space: built for {self.num_scales} scales, the config's model.num_scales "
                f"is {config.model.num_scales}")
        loss_params = [n for n in self.ranges if n != "lr"]
        if loss_params and config.model.kind != "multitask":
            raise ValueError(
                f"search space: {', '.join(loss_params)} weigh the multi-task loss (Eq. 5 / 9), "
                f"which model.kind {config.model.kind!r} does not use; tune a multitask preset "
                f"(multitask, multitask-contrastive) or search lr only")

    def __repr__(self) -> str:
        parts = [f"{n}=[{r.low:g}, {r.high:g}{', log' if r.log else ''}]" for n, r in self.ranges.items()]
        return f"SearchSpace({', '.join(parts)})"


def default_space(num_scales: int = 3) -> SearchSpace:
    """lambda_1..S and lambda_c in [0, 1], tau in [0.05, 1] (lr not searched)."""
    ranges = {}
    for name in valid_names(num_scales):
        _, (lo, hi, log), searched = _rule(name)
        if searched:
            ranges[name] = ParamRange(name, lo, hi, log)
    return SearchSpace(ranges, num_scales)


def _number(value, what: str) -> float:
    value = decimal_value(value)  # PyYAML reads 1e-4 as a string
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{what}: expected a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what}: expected a finite number, got {value!r}")
    return value


def check_range(name: str, spec, source: str | None = None) -> ParamRange:
    """A validated :class:`ParamRange` from ``[low, high]`` or ``{low, high, log}``.

    Raises
    ------
    ValueError, TypeError
        Naming the parameter: not a pair/mapping, non-numbers, a negative bound (or zero for
        ``tau``, ``lr`` and log ranges), an inverted or empty range.
    """
    where = f"{_where(source)} '{name}'"
    log = False
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"low", "high", "log"})
        if unknown or not {"low", "high"} <= set(spec):
            raise ValueError(f"{where}: expected a mapping with keys low, high (and optional log), "
                             f"got keys {sorted(spec)}")
        low, high, log = spec["low"], spec["high"], spec.get("log", False)
        if not isinstance(log, bool):
            raise TypeError(f"{where}: 'log' must be true or false, got {log!r}")
    elif isinstance(spec, (list, tuple)) and len(spec) == 2:
        low, high = spec
    else:
        raise TypeError(f"{where}: expected [low, high] or {{low: .., high: .., log: ..}}, got {spec!r}")
    low, high = _number(low, f"{where} low"), _number(high, f"{where} high")
    positive = _rule(name)[0] or log
    if low < 0 or high < 0:
        raise ValueError(f"{where}: negative bound in [{low:g}, {high:g}]; {name} must be "
                         f"{'> 0' if positive else '>= 0'}")
    if positive and low <= 0:
        why = "a log-scale range" if log and not _rule(name)[0] else name
        raise ValueError(f"{where}: low must be > 0 for {why}, got {low:g}")
    if low > high:
        raise ValueError(f"{where}: inverted range, low {low:g} > high {high:g} (write [{high:g}, {low:g}])")
    if low == high:
        raise ValueError(f"{where}: empty range, low = high = {low:g}; to fix a value set it in "
                         f"the config and give null here (not searched)")
    return ParamRange(name, low, high, log)


def load_space(spec: Mapping | None = None, num_scales: int = 3, *,
               source: str | None = None) -> SearchSpace:
    """The default space updated by ``spec`` (a parsed YAML mapping; ``null`` drops a name).

    Parameters
    ----------
    spec : mapping, optional
        ``{name: [low, high] | {low, high, log} | None}``.
    num_scales : int
        S of the model (names ``lambda_1 .. lambda_S``).
    source : str, optional
        Where ``spec`` comes from (a file name, ``--param``), quoted in errors.

    Raises
    ------
    ValueError, TypeError
        Unknown names (listing the valid ones), bad ranges (:func:`check_range`), or an empty
        space.
    """
    space = default_space(num_scales)
    if spec is None:
        return space
    if not isinstance(spec, Mapping):
        raise TypeError(f"{_where(source)}: expected a mapping of parameter names to ranges, "
                        f"got {type(spec).__name__}")
    valid = valid_names(num_scales)
    ranges = dict(space.ranges)
    for name, value in spec.items():
        if name not in valid:
            raise ValueError(f"{_where(source)}: unknown parameter {name!r}; valid parameters: "
                             f"{', '.join(valid)}")
        if value is None:
            ranges.pop(name, None)
        else:
            ranges[name] = check_range(name, value, source)
    if not ranges:
        raise ValueError(f"{_where(source)}: no parameter left to search (every one is null)")
    ordered = {n: ranges[n] for n in valid if n in ranges}
    return SearchSpace(ordered, num_scales)


def parse_param(text: str) -> tuple[str, object]:
    """One ``--param`` flag: ``NAME=LOW:HIGH``, ``NAME=LOW:HIGH:log`` or ``NAME=off``.

    Returns
    -------
    (name, spec)
        ``spec`` as :func:`load_space` takes it (a mapping, or None for ``off``).

    Raises
    ------
    ValueError
        A malformed flag, quoting it.
    """
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"--param: expected NAME=LOW:HIGH[:log] or NAME=off, got {text!r}")
    if rest.strip().lower() == "off":
        return name, None
    parts = rest.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].strip().lower() != "log"):
        raise ValueError(f"--param: expected NAME=LOW:HIGH[:log] or NAME=off, got {text!r}")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"--param {name}: bounds must be numbers, got {rest!r}") from None
    return name, {"low": low, "high": high, "log": len(parts) == 3}

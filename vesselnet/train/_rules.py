"""Value rules of the training config: each names the key on a type or range error.

A rule is a callable ``rule(value, key) -> value`` that returns the normalised value (e.g.
an int where a float is expected becomes a float, a list becomes a tuple) or raises
:class:`ConfigError` (a ``ValueError``) or :class:`ConfigTypeError` (a ``TypeError``) whose
message starts with ``config key 'KEY'``.
"""
from __future__ import annotations

import math
import re
from numbers import Integral, Real
from typing import Callable, Sequence

__all__ = [
    "ConfigError",
    "ConfigTypeError",
    "Rule",
    "boolean",
    "integer",
    "number",
    "choice",
    "optional",
    "text",
    "int_tuple",
    "number_tuple",
    "mapping",
    "class_weights_rule",
    "string_tuple",
    "device",
]

Rule = Callable[[object, str], object]


class ConfigError(ValueError):
    """A config value out of range, an unknown key or an unknown preset."""


class ConfigTypeError(TypeError):
    """A config value of the wrong type."""


def _shown(value) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _type_error(key: str, expected: str, value) -> ConfigTypeError:
    return ConfigTypeError(f"config key '{key}': expected {expected}, got {_shown(value)}")


def _range_error(key: str, expected: str, value) -> ConfigError:
    return ConfigError(f"config key '{key}': expected {expected}, got {_shown(value)}")


def _of_type(kind: type, expected: str) -> Rule:
    """A value of ``kind`` (returned as is); ``expected`` says it in the error."""

    def rule(value, key):
        if not isinstance(value, kind):
            raise _type_error(key, expected, value)
        return value

    return rule


def boolean() -> Rule:
    """true or false (YAML booleans; 0/1 and strings are refused)."""
    return _of_type(bool, "true or false")


def integer(minimum: int | None = None, maximum: int | None = None) -> Rule:
    """An integer (not a bool) in ``[minimum, maximum]``."""

    def rule(value, key):
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise _type_error(key, "an integer", value)
        value = int(value)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            lo = "-inf" if minimum is None else minimum
            hi = "inf" if maximum is None else maximum
            raise _range_error(key, f"an integer in [{lo}, {hi}]", value)
        return value

    return rule


#: A number in decimal notation, as YAML 1.2 reads it (``1e-3``, ``+2.5E+1``, ``.5``, ``3``).
#: PyYAML follows YAML 1.1, whose floats need a dot and a signed exponent, so it reads
#: ``1e-3`` as a string; :func:`number` takes such a string as the number it writes.
_DECIMAL = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def decimal_value(value):
    """``value`` as a float when it is a string in :data:`_DECIMAL` notation (YAML 1.2's
    reading of ``1e-3``), else ``value`` unchanged (for the caller's own type check)."""
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return float(value)
    return value


def _as_real(value, key: str) -> float:
    """``value`` as a float: a real number (not a bool) or a string in :data:`_DECIMAL`
    notation; anything else is a :class:`ConfigTypeError` naming ``key``."""
    value = decimal_value(value)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise _type_error(key, "a number", value)
    return float(value)


def number(minimum: float | None = None, *, strict: bool = False,
           maximum: float | None = None) -> Rule:
    """A finite real number (ints accepted, returned as float) >= / > ``minimum``.

    A string in decimal notation (``"1e-3"``: YAML 1.2 reads it as a number, PyYAML's
    YAML 1.1 as a string) counts as the number it writes; other strings are refused.
    """

    def rule(value, key):
        value = _as_real(value, key)
        bad = not math.isfinite(value)
        if minimum is not None:
            bad = bad or (value <= minimum if strict else value < minimum)
        if maximum is not None:
            bad = bad or value > maximum
        if bad:
            parts = ["a finite number"]
            if minimum is not None:
                parts.append(f"{'>' if strict else '>='} {minimum:g}")
            if maximum is not None:
                parts.append(f"<= {maximum:g}")
            raise _range_error(key, " ".join(parts), value)
        return value

    return rule


def choice(*options: str) -> Rule:
    """One of the given strings."""

    def rule(value, key):
        if not isinstance(value, str):
            raise _type_error(key, f"one of {list(options)}", value)
        if value not in options:
            raise _range_error(key, f"one of {list(options)}", value)
        return value

    return rule


def text() -> Rule:
    """Any string."""
    return _of_type(str, "a string")


def optional(inner: Rule) -> Rule:
    """``None`` (YAML ``null``) or what ``inner`` accepts."""

    def rule(value, key):
        return None if value is None else inner(value, key)

    return rule


def _sequence(value, key: str, what: str, length: int | None) -> Sequence:
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)):
        raise _type_error(key, f"a list of {what}", value)
    if length is not None and len(value) != length:
        raise _range_error(key, f"a list of {length} {what}", value)
    return value


def int_tuple(length: int | None = None, minimum: int | None = None) -> Rule:
    """A list of integers (>= ``minimum``), returned as a tuple."""
    item = integer(minimum)

    def rule(value, key):
        seq = _sequence(value, key, "integers", length)
        return tuple(item(v, f"{key}[{i}]") for i, v in enumerate(seq))

    return rule


def number_tuple(length: int | None = None, minimum: float | None = None,
                 strict: bool = False, maximum: float | None = None) -> Rule:
    """A list of finite numbers, returned as a tuple of floats."""
    item = number(minimum, strict=strict, maximum=maximum)

    def rule(value, key):
        seq = _sequence(value, key, "numbers", length)
        return tuple(item(v, f"{key}[{i}]") for i, v in enumerate(seq))

    return rule


def mapping() -> Rule:
    """A mapping with string keys of plain YAML values (checked further by its consumer)."""

    def rule(value, key):
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _type_error(key, "a mapping with string keys", value)
        return _plain(value, key)

    return rule


def _plain(value, key):
    """Deep copy of plain YAML data (dict/list/str/int/float/bool/None); lists -> lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise _type_error(key, "plain YAML data (mapping, list, string, number, bool, null)", value)


def class_weights_rule() -> Rule:
    """``"batch"``, ``null`` or a list of non-negative numbers."""
    weights = number_tuple(minimum=0.0)

    def rule(value, key):
        if value is None:
            return None
        if isinstance(value, str):
            return choice("batch")(value, key)
        return weights(value, key)

    return rule


def string_tuple(what: str = "strings") -> Rule:
    """A list of strings, returned as a tuple."""

    def rule(value, key):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise _type_error(key, f"a list of {what} (strings)", value)
        return tuple(value)

    return rule


def device() -> Rule:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    expected = "'auto', 'cpu', 'cuda' or 'cuda:N'"

    def rule(value, key):
        if not isinstance(value, str):
            raise _type_error(key, expected, value)
        if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
            return value
        raise _range_error(key, expected, value)

    return rule

"""Lazy public names for the vesselnet packages (one helper instead of a copy per package).

A package lists ``{public name: defining module}`` and gets a module-level ``__getattr__``,
``__dir__`` and ``__all__``: a name is imported on first access and cached on the package, so
``import vesselnet.data`` (or ``.cv``, ``.predict``, ``.tune``) stays cheap and imports torch
only when a name that needs it is used.
"""
from __future__ import annotations

import importlib
import sys
from typing import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable, Callable, list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` exporting ``exports`` lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Public name -> the module that defines it.

    Returns
    -------
    tuple
        The module-level ``__getattr__`` and ``__dir__`` functions and the sorted ``__all__``.
    """
    names = sorted(exports)

    def __getattr__(name: str):
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__, names

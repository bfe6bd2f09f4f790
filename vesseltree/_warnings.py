"""Warnings raised at the user's line.

:func:`warn` gives :func:`warnings.warn` the stack level of the first frame outside the
vesseltree package, however deep inside vesseltree the warning is raised: the message names
the caller's file and line, and Python's default filters (which show a
``DeprecationWarning`` only when it is attributed to ``__main__``) treat it as the caller's.
A hand-counted ``stacklevel`` goes stale each time a function is split in two.
"""
from __future__ import annotations

import os
import sys
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _inside_package(frame) -> bool:
    return os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR)


def user_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside vesseltree, counted from the caller of
    this function (1 = that caller)."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and _inside_package(frame):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """:func:`warnings.warn` ``message`` attributed to the first frame outside vesseltree."""
    warnings.warn(message, category, stacklevel=user_stacklevel())

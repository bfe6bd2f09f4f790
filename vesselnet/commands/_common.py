"""What the command modules of :mod:`vesselnet.commands` share (not a command itself).

:func:`add_command` builds a sub-parser from its module's docstring (first paragraph: the
description; the rest: the epilog, shown as written); :func:`yaml_mapping` reads the YAML file
behind an option (``--config``, ``--space``, ``--overrides``, ...) with ``yaml.safe_load`` and
refuses anything but a mapping, naming the option.
"""
from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_command", "yaml_mapping"]


def add_command(subparsers, name: str, help: str, doc: str) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` to ``subparsers`` and return its parser.

    Parameters
    ----------
    subparsers
        What ``ArgumentParser.add_subparsers`` returned.
    name, help : str
        The command and its one-line help in ``vesselnet --help``.
    doc : str
        The command module's docstring: its first paragraph is the description, the rest the
        epilog (kept as written: ``RawDescriptionHelpFormatter``).
    """
    description, _, epilog = doc.partition("\n\n")
    return subparsers.add_parser(name, help=help, description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog)


def yaml_mapping(path: Path, option: str, holds: str) -> dict:
    """The mapping in the YAML file ``path`` given as ``option`` (``{}`` for an empty file).

    Parameters
    ----------
    path : pathlib.Path
        The file (read with ``yaml.safe_load``: plain data only).
    option : str
        The option that named it, e.g. ``"--config"`` (starts every error message).
    holds : str
        What the mapping holds, for the error message, e.g. ``"PrepareConfig keys"``.

    Raises
    ------
    vesseltree.cli.UserError
        The file cannot be read or is not YAML, or holds something else than a mapping.
    """
    import yaml

    from vesseltree.cli import UserError

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{option}: cannot read {str(path)!r} as plain YAML ({reason})") from exc
    if data is not None and not isinstance(data, dict):
        raise UserError(f"{option}: {str(path)!r} must hold a mapping of {holds}, "
                        f"got {type(data).__name__}")
    return data or {}

"""Fingerprint of the code that makes a prepared case (part of every cache key).

The files hashed are the import closure, within ``vesseltree`` and ``vesselnet.data``, of the
modules that load, preprocess and save a case: the static imports of each module (read from its
source with :mod:`ast`, not executed), followed recursively. A name imported from a *package*
(``from vesseltree import analyze``, served lazily by the package) counts as the module that
defines it, and package ``__init__`` files themselves (name maps, versions) are left out. A
compiled extension counts as the Cython sources (``.pyx``/``.pxd``) of its folder. So editing
the analysis, the resampling or a reader invalidates prepared cases, while editing a command
line or a plotting module does not.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

__all__ = ["code_files", "code_fingerprint"]

_ROOTS = ("vesseltree", "vesselnet.data")
_ENTRIES = ("vesselnet.data.preprocess", "vesselnet.data.cache", "vesselnet.data.sources.synthetic",
            "vesselnet.data.sources.ircadb", "vesselnet.data.sources.nifti")


def _root_dirs() -> dict[str, Path]:
    spec = importlib.util.find_spec("vesseltree")  # locates, does not import
    return {"vesseltree": Path(spec.origin).parent, "vesselnet.data": Path(__file__).resolve().parent}


def _root(name: str) -> str | None:
    return next((r for r in _ROOTS if name == r or name.startswith(r + ".")), None)


def _locate(name: str, dirs: dict[str, Path]) -> tuple[str, Path] | None:
    """(kind, path) of a module by path arithmetic (nothing imported): kind is "package"
    (its ``__init__.py``), "module" (``.py``) or "extension" (its folder)."""
    root = _root(name)
    if root is None:
        return None
    rel = [p for p in name[len(root):].split(".") if p]
    base = dirs[root].joinpath(*rel)
    if (base / "__init__.py").is_file():
        return "package", base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return "module", base.with_suffix(".py")
    if rel and (any(base.parent.glob(base.name + ".*.so")) or base.with_suffix(".pyx").is_file()):
        return "extension", base.parent
    return None


def _package_names(init: Path, package: str) -> dict[str, str]:
    """Name -> defining module, from a package ``__init__``: ``from .x import name`` statements
    and lazy maps (dict literals of ``"name": "package.module"`` strings)."""
    out: dict[str, str] = {}
    for node in ast.walk(ast.parse(init.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for a in node.names:
                out[a.asname or a.name] = f"{package}.{node.module}"
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and isinstance(v, ast.Constant) and isinstance(v.value, str) \
                        and _root(v.value):
                    out[str(k.value)] = v.value
    return out


def _imports(name: str, path: Path, is_pkg: bool, dirs: dict[str, Path]) -> set[str]:
    """Module names (within the roots) a module imports, from its source."""
    pkg = name if is_pkg else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = pkg
            for _ in range(max(0, node.level - 1)):
                base = base.rpartition(".")[0]
            mod = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
            found = _locate(mod, dirs)
            if found is None:
                continue
            if found[0] == "package":
                names = _package_names(found[1], mod)
                for a in node.names:
                    sub = f"{mod}.{a.name}"
                    out.add(sub if _locate(sub, dirs) else names.get(a.name, mod))
            else:
                out.add(mod)
    return {m for m in out if _root(m)}


@lru_cache(maxsize=None)
def code_files() -> tuple[Path, ...]:
    """The source files of the import closure (module docstring), sorted."""
    dirs = _root_dirs()
    files: set[Path] = set()
    seen: set[str] = set()
    todo = list(_ENTRIES)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found = _locate(name, dirs)
        if found is None:
            continue
        kind, path = found
        if kind == "extension":
            files.update(p for p in path.iterdir() if p.suffix in (".pyx", ".pxd"))
            continue
        if kind == "module":
            files.add(path)
        todo.extend(_imports(name, path, kind == "package", dirs))
    return tuple(sorted(files))


def code_fingerprint() -> str:
    """SHA-256 over the files of :func:`code_files` (names and contents)."""
    h = hashlib.sha256()
    for f in code_files():
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()

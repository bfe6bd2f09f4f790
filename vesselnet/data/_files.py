"""Files the data layer reads from strangers: content fingerprints and archive checks.

* :func:`file_record`: path, size and SHA-256 of a file (or of every file of a folder), the
  part of a cache key that makes a changed source file recompute.
* :func:`check_zip`: an archive is read in memory by :mod:`vesseltree.io`, never extracted;
  before that, its member names and sizes are checked (:func:`vesseltree.io.open_zip_safely`):
  an absolute name or a ``..`` part is refused, and the total uncompressed size is bounded,
  so that a zip bomb cannot fill the memory.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["file_record", "check_zip"]

_CACHE: dict[tuple, str] = {}


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _CACHE[key] = h.hexdigest()
    return _CACHE[key]


def file_record(path) -> dict:
    """``{"path", "size", "sha256"}`` of a file; for a folder, over its files (sorted).

    Raises
    ------
    FileNotFoundError
        Naming the path.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"path: no such file or folder: {str(p)!r}")
    if p.is_file():
        return {"path": str(p), "size": p.stat().st_size, "sha256": _sha256(p)}
    h = hashlib.sha256()
    size = 0
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        rel = f.relative_to(p).as_posix()
        h.update(f"{rel}\0{_sha256(f)}\0".encode())
        size += f.stat().st_size
    return {"path": str(p), "size": size, "sha256": h.hexdigest()}


def check_zip(path, max_bytes: int | None = None) -> None:
    """Refuse a zip with unsafe member names or too large an uncompressed size.

    The checks of :func:`vesseltree.io.open_zip_safely` (the reader behind
    :func:`vesseltree.load_volume`), run before any member is read; ``max_bytes`` bounds the
    total uncompressed size (default: vesseltree's, 4 GiB).

    Raises
    ------
    ValueError
        Naming the file: not a zip (corrupt, truncated), a member with an absolute path, a
        ``..`` part or a link, a total uncompressed size above ``max_bytes``.
    """
    from vesseltree.io import open_zip_safely

    with open_zip_safely(Path(path), max_total_bytes=max_bytes):
        pass


def is_within(path, root) -> bool:
    """Whether ``path`` resolves inside ``root`` (symlinks and ``..`` resolved)."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True

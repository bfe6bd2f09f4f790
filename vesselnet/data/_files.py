"""Files the data layer reads from strangers: content fingerprints and archive checks.

* :func:`file_record`: path, size and SHA-256 of a file (or of every file of a folder), the
  part of a cache key that makes a changed source file recompute.
* :func:`check_zip`: an archive is read in memory by :mod:`vesseltree.io`, never extracted;
  before that, its member names and sizes are checked: an absolute name or a ``..`` part is
  refused (a reader that extracts it would write outside its folder), and the total
  uncompressed size is bounded (:data:`MAX_ZIP_BYTES`), so that a zip bomb cannot fill the
  memory. :mod:`zipfile` stops decompressing a member at its declared size and then fails the
  CRC, so the declared sizes bound what is actually inflated.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path, PurePosixPath

__all__ = ["file_record", "check_zip", "MAX_ZIP_BYTES"]

#: largest total uncompressed size of an archive (bytes); a 3D-IRCADb CT zip holds ~70 MB
MAX_ZIP_BYTES = 4 * 1024 ** 3

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


def check_zip(path, max_bytes: int = MAX_ZIP_BYTES) -> None:
    """Refuse a zip with unsafe member names or too large an uncompressed size.

    Uses :func:`vesseltree.archive.open_zip_safely` where it exists (the reader behind
    :func:`vesseltree.load_volume`), else the same checks here.

    Raises
    ------
    ValueError
        Naming the file: not a zip (corrupt, truncated), a member with an absolute path or a
        ``..`` part, a total uncompressed size above ``max_bytes``.
    """
    p = Path(path)
    try:
        from vesseltree.archive import open_zip_safely
    except ImportError:  # an older vesseltree: the checks below
        pass
    else:
        with open_zip_safely(p, max_total_bytes=max_bytes):
            return
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"path: {str(p)!r} is not a readable zip file (corrupt or truncated: {exc})") from exc
    except OSError as exc:
        raise ValueError(f"path: cannot open {str(p)!r}: {exc}") from exc
    total = 0
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
            raise ValueError(
                f"path: {str(p)!r} holds a member with an unsafe name {name!r} (absolute or with "
                "'..'); refused")
        total += int(info.file_size)
    if total > max_bytes:
        raise ValueError(
            f"path: {str(p)!r} would inflate to {total / 1024 ** 2:.0f} MiB, above the bound of "
            f"{max_bytes / 1024 ** 2:.0f} MiB (a zip bomb?); refused")


def is_within(path, root) -> bool:
    """Whether ``path`` resolves inside ``root`` (symlinks and ``..`` resolved)."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True

"""Reading zip archives that come from elsewhere, safely: :func:`open_zip_safely`.

A zip is untrusted input (a downloaded dataset, a colleague's export). Before anything is
read, :func:`open_zip_safely` checks the member list:

- a member name that is absolute (``/x``, ``C:/x``), holds a ``..`` component, a backslash
  or a NUL byte, or a member that is a symbolic link, is refused (``ValueError`` naming the
  member): nothing can land outside the intended folder;
- the total uncompressed size declared by the members is bounded (``max_total_bytes``,
  default :data:`MAX_ZIP_BYTES`, 4 GiB: the largest 3D-IRCADb ``MASKS_DICOM.zip`` holds
  0.7 GB), as is the number of members: a zip bomb is refused before it fills memory or disk.

Members are then read one at a time into memory (:meth:`SafeZip.read`) or extracted under a
folder (:meth:`SafeZip.extract_all`, each file written atomically under its checked name).
Python's :mod:`zipfile` never inflates more than a member's declared size, and a member whose
data do not match its header (size or CRC) is an error, so the bound holds even for headers
that lie.
"""
from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

__all__ = ["open_zip_safely", "SafeZip", "MAX_ZIP_BYTES", "MAX_ZIP_MEMBERS"]

#: default bound on the total uncompressed size of an archive (bytes)
MAX_ZIP_BYTES = 4 * 2**30
#: default bound on the number of members
MAX_ZIP_MEMBERS = 200_000

_DRIVE = re.compile(r"^[A-Za-z]:")


def _check_member_name(name: str, where: str) -> str:
    bad = (not name or name.startswith("/") or "\\" in name or "\0" in name
           or _DRIVE.match(name) or ".." in PurePosixPath(name).parts)
    if bad:
        raise ValueError(
            f"path: {where} holds a member named {name!r} that would land outside the folder it "
            "is read into (absolute, drive letter, '..' or backslash); refusing the archive")
    return name


class SafeZip:
    """A zip file whose member names and sizes were checked (see :func:`open_zip_safely`).

    Attributes
    ----------
    path : pathlib.Path
        The archive.
    members : list of str
        The file members (folders left out), in archive order.
    total_bytes : int
        Their total declared uncompressed size.
    """

    def __init__(self, zf: zipfile.ZipFile, path: Path, infos: list):
        self._zf = zf
        self.path = path
        self._infos = {i.filename: i for i in infos}
        self.members = [i.filename for i in infos]
        self.total_bytes = int(sum(i.file_size for i in infos))

    def __enter__(self) -> "SafeZip":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the archive."""
        self._zf.close()

    def read(self, member: str) -> bytes:
        """The bytes of one member (at most its declared size).

        Raises
        ------
        ValueError
            An unknown member, or one whose data are corrupt or do not match its header.
        """
        info = self._infos.get(member)
        if info is None:
            raise ValueError(f"path: no member {member!r} in {str(self.path)!r}")
        try:
            return self._zf.read(info)
        except Exception as exc:  # BadZipFile (CRC, sizes), zlib.error, EOFError, OSError
            raise ValueError(
                f"path: corrupt member {member!r} in {str(self.path)!r}: {exc}") from exc

    def extract_all(self, dest) -> list[Path]:
        """Write every member under ``dest`` (created); returns the written paths.

        Each file is written to a temporary name beside its final one and moved into place,
        so an interrupted extraction leaves no half-written member under its real name.
        """
        from vesseltree.io import atomic_write

        root = Path(dest).resolve()
        written = []
        for name in self.members:
            target = (root / name).resolve()
            if not target.is_relative_to(root):  # a symlink inside dest: refuse
                raise ValueError(f"path: member {name!r} of {str(self.path)!r} resolves outside "
                                 f"{str(root)!r}")
            data = self.read(name)
            with atomic_write(target) as tmp:
                tmp.write_bytes(data)
            written.append(target)
        return written


def open_zip_safely(path, *, max_total_bytes: int | None = None,
                    max_members: int | None = None) -> SafeZip:
    """Open an untrusted zip archive after checking its member names and sizes.

    Parameters
    ----------
    path : str or path-like
        The zip file.
    max_total_bytes : int, optional
        Bound on the total declared uncompressed size (default :data:`MAX_ZIP_BYTES`).
    max_members : int, optional
        Bound on the number of members (default :data:`MAX_ZIP_MEMBERS`).

    Returns
    -------
    SafeZip
        Use as a context manager; ``members``, ``read(member)``, ``extract_all(dest)``.

    Raises
    ------
    ValueError
        Not a readable zip; a member name that is absolute or holds ``..`` (or a backslash,
        a drive letter, NUL), a symbolic link; more members or more uncompressed bytes than
        the bounds. Each message names the file and the offending member or bound.

    Examples
    --------
    >>> with open_zip_safely("3Dircadb1.1/PATIENT_DICOM.zip") as zf:  # doctest: +SKIP
    ...     first = zf.read(zf.members[0])
    """
    p = Path(path)
    limit = MAX_ZIP_BYTES if max_total_bytes is None else int(max_total_bytes)
    nmax = MAX_ZIP_MEMBERS if max_members is None else int(max_members)
    where = repr(str(p))
    try:
        zf = zipfile.ZipFile(p)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"path: {where} is not a readable zip file (corrupt or not a zip: {exc})") from exc
    except OSError as exc:
        raise ValueError(f"path: cannot open {where}: {exc}") from exc
    try:
        infos = zf.infolist()
        if len(infos) > nmax:
            raise ValueError(f"path: {where} holds {len(infos)} members, more than the bound "
                             f"max_members={nmax}")
        files = []
        for info in infos:
            _check_member_name(info.filename, where)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ValueError(f"path: {where} holds a symbolic link member {info.filename!r}; "
                                 "refusing the archive")
            if not info.is_dir():
                files.append(info)
        total = sum(i.file_size for i in files)
        if total > limit:
            raise ValueError(
                f"path: {where} would inflate to {total / 2**20:.1f} MiB uncompressed, more than "
                f"the bound max_total_bytes={limit} ({limit / 2**20:.0f} MiB); a zip bomb or an "
                "unexpected archive (raise the bound if it is legitimate)")
    except BaseException:
        zf.close()
        raise
    return SafeZip(zf, p, files)

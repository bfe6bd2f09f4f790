"""What every source of cases offers (the contract of ``docs/data.md``)."""
from __future__ import annotations

from typing import Iterator

from ..case import Case

__all__ = ["Source"]


class Source:
    """A list of cases loaded on demand.

    Subclasses set ``case_ids`` and implement :meth:`load`, :meth:`record` and
    :meth:`case_record`.
    """

    case_ids: list[str]

    def __len__(self) -> int:
        return len(self.case_ids)

    def __iter__(self) -> Iterator[Case]:
        for cid in self.case_ids:
            yield self.load(cid)

    def _check_id(self, case_id) -> str:
        if case_id not in self.case_ids:
            shown = ", ".join(self.case_ids[:10]) + (" ..." if len(self.case_ids) > 10 else "")
            raise KeyError(f"case_id: no case {case_id!r} in this {type(self).__name__}; "
                           f"cases: {shown}")
        return case_id

    def load(self, case_id: str) -> Case:  # pragma: no cover - abstract
        """The case ``case_id`` in original geometry."""
        raise NotImplementedError

    def record(self) -> dict:  # pragma: no cover - abstract
        """Plain JSON-able description of the source (kind, location, options)."""
        raise NotImplementedError

    def case_record(self, case_id: str) -> dict:  # pragma: no cover - abstract
        """Plain JSON-able description of one case, cheap (no pixel read): files with their
        size and SHA-256, or generator parameters. Part of the cache key."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} cases)"

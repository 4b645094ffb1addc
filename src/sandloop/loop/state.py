"""RunState: a paused run as data, to continue in another process with :func:`sandloop.resume`.

Part of ``loop``. A state is the run's journal records (the same records a journal file holds,
see :mod:`sandloop.loop.journal`), so a paused run and a crashed one are resumed by one code
path. ``to_dict()`` is JSON; ``from_dict()`` refuses a newer format version clearly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandloop.errors import ConfigError
from sandloop.loop.journal import check_header

__all__ = ("STATE_VERSION", "RunState")

#: The version of :meth:`RunState.to_dict`'s format.
STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class RunState:
    """A run stopped for decisions (``status == "needs_approval"``).

    Attributes:
        run_id: The run's id (a resumed run keeps it).
        records: Its journal records, header first.
    """

    run_id: str
    records: list[dict[str, Any]]

    @property
    def pending(self) -> list[dict[str, Any]]:
        """The deferred calls (``call_id``, ``tool``, ``action``, ``call``) of the last pause."""
        for record in reversed(self.records):
            if record.get("kind") == "paused":
                return list(record.get("pending") or [])
        return []

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with a ``version``."""
        return {"version": STATE_VERSION, "run_id": self.run_id, "records": list(self.records)}

    @classmethod
    def from_dict(cls, data: Any) -> RunState:
        """Rebuild a state from :meth:`to_dict` output.

        Raises:
            ConfigError: not a state, or one written by a newer sandloop.
        """
        if not isinstance(data, dict) or not isinstance(data.get("records"), list):
            raise ConfigError("not a RunState description (no records)")
        version = data.get("version")
        if not isinstance(version, int) or version > STATE_VERSION:
            raise ConfigError(
                f"RunState version {version!r} is newer than this sandloop reads "
                f"({STATE_VERSION}): upgrade sandloop"
            )
        records = data["records"]
        if not all(isinstance(r, dict) and isinstance(r.get("kind"), str) for r in records):
            raise ConfigError("not a RunState description (a record is not an object)")
        check_header(records, "RunState")
        return cls(str(data.get("run_id") or records[0].get("run_id")), records)

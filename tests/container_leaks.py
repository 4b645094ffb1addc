"""The check behind ``tests/conftest.py``'s ``no_sandloop_container_left``: after a test module
that uses Docker, no sandloop container this test process made is left.

A sandloop container carries ``LABEL`` and the owner labels of the process that made it
(``org.sandloop.host-pid``). Containers that were there before the module started (another
module's leftovers, already reported there) are not counted again. An engine removes an
auto-remove container a moment after it stops, so one still listed is given a few seconds to go.
"""

from __future__ import annotations

import os
import time
from typing import Any

from sandloop.sandboxes.docker import LABEL

#: Seconds a container still listed may take to be removed by its engine.
SETTLE = 5.0


def sandloop_containers(client: Any, pid: int | None = None) -> dict[str, str]:
    """``{id: name}`` of the sandloop containers made by process ``pid`` (default: this one)."""
    labels = [LABEL, f"org.sandloop.host-pid={pid if pid is not None else os.getpid()}"]
    return {c.id: c.name for c in client.containers.list(all=True, filters={"label": labels})}


def leaked(client: Any, before: set[str], *, settle: float = SETTLE) -> list[str]:
    """Names of this process's sandloop containers not among ``before``, once those still
    being removed had ``settle`` seconds to go; sorted."""
    deadline = time.monotonic() + settle
    while True:
        left = {cid: name for cid, name in sandloop_containers(client).items() if cid not in before}
        if not left or time.monotonic() >= deadline:
            return sorted(left.values())
        time.sleep(0.1)


def engine() -> Any | None:
    """A docker SDK client when an engine answers, else ``None`` (no check without one)."""
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception:  # no SDK, no engine: the module's Docker tests skip (or fail) on their own
        return None
    return client

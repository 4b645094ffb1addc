"""The documented way to leave a daemon running really keeps it, in a real container.

The runner kills a command's process group when the command returns. ``Sandbox.exec``'s
docstring names the idiom that starts a process outliving its command; this test takes the
idiom from that docstring, runs it many times (the losing idioms lose a daemon only when the
command's end wins a race, so one try proves little) and counts the survivors.
"""

from __future__ import annotations

import re

import pytest

from sandloop.sandboxes import Sandbox
from sandloop.sandboxes.docker import DockerSandbox

pytestmark = pytest.mark.docker

TRIES = 30


def documented_idiom() -> str:
    """The ``setsid ... cmd ...`` idiom the docstring of ``Sandbox.exec`` recommends first."""
    doc = " ".join((Sandbox.exec.__doc__ or "").split())
    found = re.search(r"outlive the command.*?``(setsid[^`]*cmd[^`]*)``", doc)
    assert found is not None, "Sandbox.exec no longer documents a daemon idiom"
    return found[1]


async def test_the_documented_daemon_idiom_survives_the_command(base_image: str) -> None:
    idiom = documented_idiom()
    async with DockerSandbox(base_image) as sandbox:
        for i in range(TRIES):
            # A daemon's output goes to a log, as it does in real use (a daemon holding the
            # command's stdout open only delays the command's end by the runner's grace).
            daemon = f"sleep {1000 + i} </dev/null >/dev/null 2>&1"
            command = idiom.replace("log", "/dev/null").replace("cmd", daemon)
            done = await sandbox.exec(command, timeout=30)
            assert done.exit_code == 0, done
        listing = await sandbox.exec(["ps", "-eo", "args"])
        alive = {line for line in listing.stdout.decode().splitlines() if line.startswith("sleep")}
        assert alive == {f"sleep {1000 + i}" for i in range(TRIES)}, f"{idiom!r}: {len(alive)}"
        # A daemon started so is still there for the next command, and the sandbox closes it.
        assert (await sandbox.exec("pgrep -x sleep | wc -l")).stdout.strip() == str(TRIES).encode()

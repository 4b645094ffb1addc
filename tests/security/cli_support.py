"""``sandloop run`` as an attacker meets it: a subprocess against the scripted server, with a
real Docker sandbox bind-mounting a fresh git repository (uniquely named: test dirs are not
packages).

The CLI runs under a small wrapper that reports its own peak RSS (``VmHWM``) and caps its
address space at :data:`ADDRESS_SPACE_CAP`: a safety net so a regression cannot take the
memory of the machine the suite shares; it is far above what a correct run uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandloop.cli.demo_command import demo_data
from sandloop.testing import ScriptedResponsesServer, message, shell_call

#: Address-space cap of the CLI process under test (bytes).
ADDRESS_SPACE_CAP = 6 << 30

_WRAPPER = """
import resource, sys
cap = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from sandloop.cli import main
try:
    code = main(sys.argv[3:])
finally:
    with open(sys.argv[1], "w") as out:
        # VmHWM, not ru_maxrss: Linux carries a parent's high-water mark across fork+exec into
        # ru_maxrss, so a big test process would inflate the CLI's figure.
        with open("/proc/self/status") as status:
            hwm = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
        out.write(hwm)
sys.exit(code)
"""


@dataclass(frozen=True)
class CliRun:
    """What a ``sandloop run`` left: its process result, peak RSS (KiB) and the requests."""

    done: subprocess.CompletedProcess[str]
    peak_rss_kib: int
    requests: list[Any]


def make_repo(parent: Path) -> Path:
    """The demo's buggy project as a committed git repository under ``parent``."""
    path = parent / "repo"
    shutil.copytree(demo_data() / "project", path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(path)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "buggy"], check=True)
    return path


def run_commands(
    repo: Path, commands: list[str], *, image: str, env: dict[str, str], rss_file: Path
) -> CliRun:
    """``sandloop run --json`` on ``repo``: the scripted model runs ``commands`` in one shell
    call, then answers. ``env`` is the CLI's whole extra environment (HOME, SANDLOOP_HOME...)."""
    script = [[shell_call(commands, timeout_ms=60_000)], [message("done", phase="final_answer")]]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SANDLOOP_"))}
    base.pop("XDG_STATE_HOME", None)
    with ScriptedResponsesServer(script) as server:
        argv = ["run", "--json", "--repo", str(repo), "--base-url", server.base_url, "attack"]
        done = subprocess.run(
            [sys.executable, "-c", _WRAPPER, str(rss_file), str(ADDRESS_SPACE_CAP), *argv],
            capture_output=True,
            text=True,
            timeout=240,
            env={**base, "SANDLOOP_IMAGE": image, "COLUMNS": "200", **env},
        )
        requests = list(server.create_requests)
    rss = int(rss_file.read_text()) if rss_file.exists() else -1
    return CliRun(done, rss, requests)

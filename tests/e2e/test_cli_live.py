"""The live display of the real ``sandloop run`` in a pseudo-terminal (screen emulated by pyte),
against the scripted server, with a real Docker sandbox: a running command's clock ticks while
it prints nothing, its last lines show as they arrive, hostile output does not reach the
terminal as control, a retry and a failing command are said as they are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from terminal_support import Terminal  # type: ignore[import-not-found, unused-ignore]

from sandloop.testing import (
    ScriptedResponsesServer,
    Turn,
    TurnLike,
    message,
    server_error,
    shell_call,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

#: Hostile output, then silence until the test creates the file it waits for.
HOSTILE_THEN_WAIT = (
    "head -c 3000 /dev/urandom; echo; "
    "printf 'first line\\n\\033]0;pwned\\007\\033[2J\\033[H\\033[31mred\\033[0m after\\n'; "
    "echo last before the wait; "
    "while [ ! -e go ]; do sleep 0.05; done; echo released"
)
#: An endless-looking flood, cut by its own timeout, then a failing command.
FLOOD = "yes flood"
FAILING = "echo '3 tests failed' >&2; exit 1"


@pytest.fixture
def repo(tmp_path: Path, base_image: str) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    (path / "README.md").write_text("a repository\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(path)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    return path


def test_a_run_as_a_terminal_shows_it(repo: Path, tmp_path: Path, base_image: str) -> None:
    script: list[TurnLike] = [
        Turn([shell_call([HOSTILE_THEN_WAIT])], faults=[server_error(500)]),
        [shell_call([FLOOD], timeout_ms=1500), shell_call([FAILING], call_id="call_fail")],
        [message("Done: the tests fail.", phase="final_answer")],
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(SANDLOOP_HOME=str(tmp_path / "home"), SANDLOOP_IMAGE=base_image)
    with ScriptedResponsesServer(script) as server:
        argv = [sys.executable, "-m", "sandloop.cli", "run", "--repo", str(repo)]
        term = Terminal([*argv, "--base-url", server.base_url, "go"], env=env, columns=90)
        try:
            # The command is silent now: only the clock moves, to 2 s and beyond.
            waiting = term.wait_for(
                lambda t: "│ last before the wait" in t and _clock(t) >= 2, timeout=90
            )
            (repo / "go").touch()
            status = term.finish()
        finally:
            term.close()
    assert status == 0, term.text()
    lines = waiting.splitlines()
    assert lines[0].startswith("sandloop run")  # the clear-screen was not obeyed
    retry = re.compile(r"↻ retrying in [\d.]+ s after HTTP 500 \(attempt 2 of 3\)")
    assert any(retry.fullmatch(line) for line in lines), lines
    assert "  │ red after" in lines  # colours and titles removed, the text kept
    assert term.screen.title != "pwned"  # the title sequence never reached the terminal
    assert b"\x1b]0;pwned" not in term.raw
    for line in lines:  # binary output: nothing but printable text on screen
        assert all(c.isprintable() for c in line), line
    end = term.text()
    assert "│ released" not in end  # running calls' lines go when they end
    assert re.search(r"^✓ shell head -c 3000 .*…  exit 0 · \d", end, re.MULTILINE)  # one row
    assert re.search(r"✗ shell yes flood  timeout · \d", end)
    assert re.search(r"✗ shell echo '3 tests failed' >&2; exit 1  exit 1 · \d", end)
    assert "    │ 3 tests failed" in end
    assert "completed in 3 turn(s)" in end


def _clock(screen: str) -> int:
    """The seconds the running call's clock shows (``-1`` when no call runs)."""
    found = re.search(r"running shell: .*  (\d+)s$", screen, re.MULTILINE)
    return int(found.group(1)) if found else -1

"""`sandloop run` shows the diff stat by default and the diff itself with ``--diff``; through
the real CLI process against the scripted server (``--local``: the commands run on this machine,
in a scratch repository)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandloop.testing import ScriptedResponsesServer, message, shell_call


def run_edit(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "notes.txt").write_text("one\ntwo\n")
    (repo / "dirty.txt").write_text("the user's own edit\n")  # there before the run: not shown
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SANDLOOP_"))}
    env.update(SANDLOOP_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    script = [
        [shell_call("printf 'one\\n2\\n' > notes.txt")],
        [message("edited", phase="final_answer")],
    ]
    with ScriptedResponsesServer(script) as server:
        return subprocess.run(
            [sys.executable, "-m", "sandloop", "run", "--local", "--repo", str(repo),
             "--base-url", server.base_url, *flags, "Edit the notes"],
            capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip


def test_the_stat_is_the_default(tmp_path: Path) -> None:
    done = run_edit(tmp_path)
    assert done.returncode == 0, done.stderr
    assert " notes.txt +1 -1" in done.stdout
    assert "+++ b/notes.txt" not in done.stdout


@pytest.mark.parametrize("json_output", [False, True], ids=["terminal", "json"])
def test_diff_shows_the_diff_of_the_run(tmp_path: Path, json_output: bool) -> None:
    done = run_edit(tmp_path, "--diff", *(["--json"] if json_output else []))
    assert done.returncode == 0, done.stderr
    expected = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+2\n"
    if json_output:
        ended = json.loads(done.stdout.splitlines()[-1])
        assert ended["event"] == "run_ended"
        assert ended["diff"] == expected
        return
    assert " notes.txt +1 -1" in done.stdout  # the stat stays
    assert expected in done.stdout
    assert "dirty.txt" not in done.stdout

"""What `sandloop run` says when the model server cannot be reached or keeps failing: the URL,
whether and how often the request was retried, and where to look next (`sandloop doctor`).

Through the real CLI process, against a closed port on 127.0.0.1 and the scripted server
answering HTTP 500. ``--local`` keeps Docker out of it: no command ever runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from sandloop.testing import ScriptedResponsesServer, Turn, message, server_error


def sandloop(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SANDLOOP_"))}
    env.update(SANDLOOP_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    return subprocess.run(
        [sys.executable, "-m", "sandloop", "run", "--local", "--repo", str(repo), *args, "Do it"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nobody listens


def test_a_closed_port_names_the_url_the_retries_and_doctor(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    done = sandloop(tmp_path, "--base-url", url, "--max-retries", "1")
    assert done.returncode == 1
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("sandloop: error")]
    assert f"POST {url}/responses: connection failed" in error
    assert "(sent 2 times: 1 retry)" in error
    assert "`sandloop doctor` checks the endpoint" in error
    assert "--max-retries" in error


def test_a_closed_port_without_retries_says_it_was_not_retried(tmp_path: Path) -> None:
    done = sandloop(tmp_path, "--base-url", f"http://127.0.0.1:{closed_port()}/v1",
                    "--max-retries", "0")  # fmt: skip
    assert done.returncode == 1
    assert "(not retried: retries are off)" in done.stderr
    assert "sandloop doctor" in done.stderr


def test_a_persistent_500_says_the_same_with_its_retries(tmp_path: Path) -> None:
    failing = [Turn(None, faults=[server_error(500, "scripted outage")]) for _ in range(3)]
    with ScriptedResponsesServer(failing, check_protocol=False) as server:
        url = server.base_url
        done = sandloop(tmp_path, "--base-url", url)  # the default: 2 retries
        assert len(server.create_requests) == 3
    assert done.returncode == 1
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("sandloop: error")]
    assert f"POST {url}/responses: HTTP 500" in error
    assert "scripted outage" in error
    assert "(sent 3 times: 2 retries)" in error
    assert "`sandloop doctor` checks the endpoint" in error


def test_a_retried_500_is_shown_with_its_wait_and_attempt(tmp_path: Path) -> None:
    turns = [Turn(None, faults=[server_error(500)]), Turn([message("done")])]
    with ScriptedResponsesServer(turns, check_protocol=False) as server:
        done = sandloop(tmp_path, "--base-url", server.base_url)
    assert done.returncode == 0, done.stderr
    (notice,) = [line for line in done.stdout.splitlines() if line.startswith("↻")]
    assert notice.startswith("↻ retrying in ")
    assert notice.endswith(" s after HTTP 500 (attempt 2 of 3)")

"""Which Authorization header `sandloop run` sends: the key from ``OPENAI_API_KEY`` (trimmed),
and to a server on this machine without a key a placeholder, since some local proxies answer 401
to a request without the header. Through the real CLI process; the scripted server records the
headers. A server elsewhere without a key is refused before any request (tests/e2e/test_cli.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandloop.client import NO_KEY
from sandloop.testing import ScriptedResponsesServer, message


def header_sent(tmp_path: Path, **env: str) -> str:
    (tmp_path / "repo").mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SANDLOOP_"))}
    clean.update(SANDLOOP_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    clean.update(env)
    with ScriptedResponsesServer([[message("hi", phase="final_answer")]]) as server:
        done = subprocess.run(
            [sys.executable, "-m", "sandloop", "run", "--local", "--repo", str(tmp_path / "repo"),
             "--base-url", server.base_url, "Say hi"],
            capture_output=True, text=True, timeout=120, env=clean, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        (request,) = server.create_requests
    return request.headers["authorization"]


def test_a_local_server_without_a_key_gets_a_placeholder(tmp_path: Path) -> None:
    assert header_sent(tmp_path) == f"Bearer {NO_KEY}" == "Bearer sandloop-no-key"


@pytest.mark.parametrize("raw", ["sk-local", "  sk-local\n"], ids=["plain", "padded"])
def test_the_key_from_the_environment_is_sent_trimmed(tmp_path: Path, raw: str) -> None:
    assert header_sent(tmp_path, OPENAI_API_KEY=raw) == "Bearer sk-local"

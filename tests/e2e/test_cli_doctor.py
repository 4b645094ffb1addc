"""``sandloop doctor`` as a subprocess: each problem is named with the command that fixes it."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sandloop.client import PROBE_ID
from sandloop.testing import ScriptedResponsesServer


def doctor(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "sandloop.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean,
    )


def line(output: str, name: str) -> str:
    return next(row for row in output.splitlines() if f"  {name}  " in f"{row}  ")


def test_without_an_engine_docker_fails_with_a_fix(tmp_path: Path) -> None:
    done = doctor(DOCKER_HOST=f"unix://{tmp_path}/none.sock", OPENAI_BASE_URL="ftp://x")
    assert done.returncode == 1
    assert line(done.stdout, "docker engine").startswith("FAIL")
    assert "fix: start the Docker engine" in done.stdout
    assert "sandloop run --local" in done.stdout
    assert line(done.stdout, "base url").startswith("FAIL")
    assert line(done.stdout, "api key").startswith("warn")
    assert "2 problem(s)" in done.stdout


@pytest.mark.docker
def test_with_an_engine_the_images_and_gvisor_are_checked(
    docker_client: Any, engine_runtimes: list[str]
) -> None:
    with ScriptedResponsesServer() as server:
        done = doctor(OPENAI_API_KEY="sk-" + "x" * 40, OPENAI_BASE_URL=server.base_url)
    assert line(done.stdout, "docker engine").startswith("ok")
    images = [row for row in done.stdout.splitlines() if " image " in f" {row}"]
    assert images, done.stdout
    assert line(done.stdout, "api key").startswith("ok")
    assert "x" * 40 not in done.stdout  # the key is never printed whole
    gvisor = line(done.stdout, "gvisor")
    assert gvisor.startswith("ok" if "runsc" in engine_runtimes else "warn"), gvisor
    base = line(done.stdout, "image base")
    assert base.startswith(("ok", "FAIL"))
    assert done.returncode == (0 if base.startswith("ok") else 1)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_closed_endpoint_is_a_failure_naming_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    done = doctor(OPENAI_BASE_URL=url, DOCKER_HOST="unix:///nonexistent.sock")
    assert done.returncode == 1
    row = line(done.stdout, "endpoint")
    assert row.startswith("FAIL")
    assert f"nothing answers at {url}/responses/{PROBE_ID}" in row
    assert "fix: start the server" in done.stdout
    assert "everything sandloop needs is here" not in done.stdout


def test_the_scripted_server_is_probed_without_a_model_request() -> None:
    with ScriptedResponsesServer() as server:
        done = doctor(OPENAI_BASE_URL=server.base_url, DOCKER_HOST="unix:///nonexistent.sock")
        assert line(done.stdout, "endpoint").startswith("ok"), done.stdout
        # One free GET, no POST /responses: no tokens spent, and no protocol problem.
        assert [(r.method, r.path) for r in server.requests] == [("GET", f"/responses/{PROBE_ID}")]
        assert server.create_requests == []


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 404
    content_type = "text/html"
    seen_auth: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).seen_auth.append(self.headers.get("Authorization"))
        body = b'{"error": {"message": "bad key"}}' if self.status == 401 else b"<h1>no</h1>"
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("status", "content_type", "expected"),
    [(404, "text/html", "not the Responses API"), (401, "application/json", "refused the API key")],
)
def test_a_server_that_is_not_the_api_or_refuses_the_key_fails(
    status: int, content_type: str, expected: str
) -> None:
    handler: type[_Answer] = type(
        "Handler", (_Answer,), {"status": status, "content_type": content_type}
    )
    handler.seen_auth = []
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
            done = doctor(
                OPENAI_BASE_URL=url,
                OPENAI_API_KEY="sk-" + "k" * 30,
                DOCKER_HOST="unix:///nonexistent.sock",
            )
        finally:
            httpd.shutdown()
            thread.join()
    row = line(done.stdout, "endpoint")
    assert row.startswith("FAIL"), done.stdout
    assert expected in row
    assert handler.seen_auth == ["Bearer sk-" + "k" * 30]


def test_an_engine_without_gvisor_is_a_warning_with_a_fix() -> None:
    from sandloop.cli.doctor import _gvisor

    check = _gvisor(["io.containerd.runc.v2", "runc"])
    assert check.level == "warn"
    assert "it has io.containerd.runc.v2, runc" in check.found
    assert "daemon.json" in check.fix

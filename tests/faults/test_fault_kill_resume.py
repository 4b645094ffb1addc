"""``kill -9`` of ``sandloop run`` at seeded points, then ``sandloop resume``: the same repository.

The scripted model decides each turn from what the request says (so a request sent again after
the kill gets the same answer): run a command, write a file with a patch, run a long command,
answer. When it reads that a call's effect is unknown after a crash, it runs that command again
under a new call id, as a careful model would. Every command notes its start and end in
``.git/ran`` (outside the compared tree), so a call executed twice shows. The kill lands during a
model request (the server delays each answer), during the long command, or at seeded moments
between; then ``sandloop resume RUN_ID`` must finish with the files of an uninterrupted run, no
call that has a recorded output executed again, and the server's protocol checks (every call
answered exactly once per request) passing on every request.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandloop.loop.journal import read_journal
from sandloop.testing import (
    RecordedRequest,
    ScriptedResponsesServer,
    Turn,
    apply_patch_call,
    delay,
    message,
    shell_call,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SEED = 20261202
LONG = "echo c3-start >> .git/ran; sleep 3; printf 'three\\n' > c.txt; echo c3-end >> .git/ran"
COMMANDS = {
    "c1": "echo c1-start >> .git/ran; printf 'one\\n' > a.txt; echo c1-end >> .git/ran",
    "c3": LONG,
    "c3b": LONG.replace("c3-", "c3b-"),
}
EXPECTED = {"a.txt": "one\n", "b.txt": "two\n", "c.txt": "three\n", "base.txt": "base\n"}


def model(request: RecordedRequest) -> list[dict[str, Any]]:
    """The next step, from the outputs this request carries (chained: only the new items)."""
    outputs = {
        i["call_id"]: i for i in request.body["input"] if str(i.get("type")).endswith("_output")
    }
    if not outputs:
        return [shell_call(COMMANDS["c1"], call_id="c1")]
    if "c1" in outputs:
        return [apply_patch_call("create_file", "b.txt", "+two\n", call_id="c2")]
    if "c2" in outputs:
        return [shell_call(COMMANDS["c3"], call_id="c3")]
    if "c3" in outputs and "unknown" in json.dumps(outputs["c3"]):
        return [shell_call(COMMANDS["c3b"], call_id="c3b")]
    return [message("Done.", phase="final_answer")]


def _server() -> ScriptedResponsesServer:
    # The same deciding turn many times over: which entry answers a request does not matter.
    return ScriptedResponsesServer([Turn(model, faults=[delay(0.5)]) for _ in range(12)]).start()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    (path / "base.txt").write_text("base\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(path)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    return path


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(SANDLOOP_HOME=str(home), COLUMNS="200")
    return env


def _run_command(repo: Path, image: str, server: ScriptedResponsesServer) -> list[str]:
    command = [sys.executable, "-m", "sandloop.cli", "run", "--repo", str(repo)]
    return [*command, "--image", image, "--base-url", server.base_url, "--json", "Do it"]


def _files(repo: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in repo.iterdir() if p.is_file()}


def _ran(repo: Path) -> list[str]:
    path = repo / ".git" / "ran"
    return path.read_text().split() if path.exists() else []


def _points() -> list[tuple[str, float]]:
    rng = random.Random(SEED)
    return [
        ("request", 2),  # the second model request, while the server thinks
        ("request", 4),
        ("command", 0),  # the long command is running
        *(("after", round(rng.uniform(0.3, 4.0), 2)) for _ in range(2)),
    ]


def _kill_at(
    point: tuple[str, float], proc: subprocess.Popen[str], server: Any, repo: Path
) -> None:
    kind, value = point
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        requests = len(server.create_requests)
        if kind == "request" and requests >= value:
            break
        if kind == "command" and "c3-start" in _ran(repo):
            break
        if kind == "after" and requests >= 1:
            time.sleep(value)
            break
        time.sleep(0.01)
    proc.kill()  # SIGKILL: nothing of the process runs after this
    proc.communicate(timeout=60)


def _wait_no_containers(docker_client: Any, pid: int) -> None:
    label = {"label": f"org.sandloop.host-pid={pid}"}
    for _ in range(200):  # the runner exits when its channel closes; the engine removes it
        if not docker_client.containers.list(all=True, filters=label, sparse=True):
            return
        time.sleep(0.05)
    for container in docker_client.containers.list(all=True, filters=label, sparse=True):
        container.remove(force=True)
    pytest.fail("the killed run's container was not removed")


def test_an_uninterrupted_run_gives_the_expected_repository(
    repo: Path, tmp_path: Path, image: str
) -> None:
    server = _server()
    try:
        done = subprocess.run(
            _run_command(repo, image, server),
            env=_env(tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        server.close()
    assert done.returncode == 0, done.stderr[-2000:]
    assert _files(repo) == EXPECTED
    assert _ran(repo) == ["c1-start", "c1-end", "c3-start", "c3-end"]


@pytest.mark.parametrize("point", _points(), ids=lambda p: f"{p[0]}-{p[1]}")
def test_kill_then_resume_ends_like_an_uninterrupted_run(
    repo: Path, tmp_path: Path, image: str, docker_client: Any, point: tuple[str, float]
) -> None:
    home = tmp_path / "home"
    server = _server()
    try:
        with subprocess.Popen(
            _run_command(repo, image, server),
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc:
            _kill_at(point, proc, server, repo)
        _wait_no_containers(docker_client, proc.pid)
        (run_dir,) = (home / "runs").iterdir()
        before = read_journal(run_dir / "journal.jsonl")
        done = subprocess.run(
            [sys.executable, "-m", "sandloop.cli", "resume", run_dir.name, "--json"],
            env=_env(home),
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=180,
        )
        requests = list(server.create_requests)
    finally:
        server.close()
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    assert _files(repo) == EXPECTED
    ran = _ran(repo)
    if point[0] == "request":  # killed while the server thought: the request is sent again
        assert before[-1]["kind"] == "request", before[-1]
    if point[0] == "command":  # killed mid-command: its effect is unknown, the model redoes it
        assert "c3-end" not in ran
        assert "c3b-start" in ran
    # A call whose output was journaled before the kill never ran again.
    recorded = {r["call_id"] for r in before if r["kind"] == "call_finished"}
    for call_id in ("c1", "c3", "c3b"):
        starts = ran.count(f"{call_id}-start")
        assert starts <= 1, (call_id, ran)
        if call_id in recorded:
            assert starts == 1, (call_id, ran)
    # Every call was answered, once per request that answers it, as the server saw it
    # (its protocol checks turned any other request into a 400, and the resume would fail).
    answered: dict[str, set[str]] = {}
    for request in requests:
        for item in request.body["input"]:
            if str(item.get("type")).endswith("_output"):
                answered.setdefault(item["call_id"], set()).add(
                    request.body["previous_response_id"]
                )
                same = [i for i in request.body["input"] if i.get("call_id") == item["call_id"]]
                assert len(same) == 1, item["call_id"]
    assert {"c1", "c2"} <= set(answered)
    assert "c3" in answered
    keys = {r.body.get("prompt_cache_key") for r in requests}
    assert len(keys) == 1, keys  # one prompt cache key, across the kill
    after = read_journal(run_dir / "journal.jsonl")
    assert after[-1] == {"kind": "end", "status": "completed"}

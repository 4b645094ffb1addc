"""SIGINT and SIGTERM reach ``sandloop run`` at random points of a multi-turn run.

The points are drawn from a seeded generator (reproducible), over the whole run after the first
model request: while the model "thinks" (the scripted server delays), while commands run, while
patches are written. Whatever the point, the process exits with the signal's status (or 0 when
the run had already finished), the transcript ends with an ``end`` record and holds every
response and tool output up to the interruption, no file is half-patched, and the container
is gone.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from faults_support import require_image

from sandloop.testing import (
    ScriptedResponsesServer,
    Turn,
    apply_patch_call,
    delay,
    message,
    shell_call,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SEED = 20261122
POINTS = 3  # per signal
WINDOW = 3.0  # seconds after the first model request in which the signal lands

ORIGINAL = {f"mod{n}.py": "".join(f"value_{n}_{i} = {i}\n" for i in range(40)) for n in range(3)}


def _patched(text: str) -> str:
    return text.replace(" = 0\n", " = 1000\n").replace(" = 39\n", " = 3900\n")


def _update(name: str) -> dict[str, Any]:
    n = name[3]
    diff = (
        f"@@\n-value_{n}_0 = 0\n+value_{n}_0 = 1000\n value_{n}_1 = 1\n"
        f"@@\n value_{n}_38 = 38\n-value_{n}_39 = 39\n+value_{n}_39 = 3900\n"
    )
    return apply_patch_call("update_file", name, diff, call_id=f"call_{name}")


def _script() -> list[Any]:
    think = [delay(0.4)]
    return [
        Turn([shell_call(["ls", "sleep 0.5; echo slept"], call_id="call_ls")], faults=think),
        Turn([_update(name) for name in ORIGINAL], faults=think),
        Turn([shell_call(["python3 -B -c 'import mod0, mod1, mod2'", "sleep 0.5"])], faults=think),
        Turn([message("Done.", phase="final_answer")], faults=think),
    ]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    for name, text in ORIGINAL.items():
        (path / name).write_text(text)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(path)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    return path


def _points() -> list[tuple[int, float]]:
    rng = random.Random(SEED)
    return [
        (signum, round(rng.uniform(0.0, WINDOW), 3))
        for signum in (signal.SIGINT, signal.SIGTERM)
        for _ in range(POINTS)
    ]


@pytest.mark.parametrize(("signum", "after"), _points(), ids=lambda v: str(v))
def test_a_signal_at_a_random_point_leaves_everything_consistent(
    repo: Path, tmp_path: Path, docker_client: Any, signum: int, after: float
) -> None:
    image = require_image(docker_client)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(SANDLOOP_HOME=str(home), COLUMNS="200")
    server = ScriptedResponsesServer(_script()).start()
    label = "org.sandloop.host-pid=none"
    try:
        command = [sys.executable, "-m", "sandloop.cli", "run", "--repo", str(repo)]
        command += ["--image", image, "--base-url", server.base_url, "--json", "Change it"]
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        ) as proc:
            label = f"org.sandloop.host-pid={proc.pid}"
            try:
                _wait_for_first_request(server, proc)
                time.sleep(after)
                proc.send_signal(signum)
                out, err = proc.communicate(timeout=90)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
    finally:
        server.close()
        left = docker_client.containers.list(all=True, filters={"label": label})
        for container in left:
            container.remove(force=True)  # only after a failure: never leak containers
    assert left == [], "the container outlived the signal"
    finished = proc.returncode != 128 + signum
    # 128+n: the run was interrupted and cleaned up. -n: the signal came as the process was
    # already exiting, after the run ended (Python then dies by the signal, as Unix expects;
    # the shell shows 128+n). 0: the run had finished.
    assert proc.returncode in (0, 128 + signum, -signum), (proc.returncode, err[-2000:])
    records = _transcript(home)
    assert records[0]["type"] == "run"
    assert records[-1]["type"] == "end"
    assert records[-1]["status"] == ("completed" if finished else "cancelled"), records[-1]
    _check_outputs_follow_calls(records)
    # Interrupted or not, the run leaves its result, and every call it started has an output
    # in the transcript (an interrupted one says so).
    (run_dir,) = (home / "runs").iterdir()
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == records[-1]["status"]
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    started = {e["call_id"] for e in events if e["event"] == "tool_call_started"}
    answered = {r["call_id"] for r in records if r["type"] == "tool_output"}
    assert started <= answered, started - answered
    for name, text in ORIGINAL.items():
        assert (repo / name).read_text() in (text, _patched(text)), name
    assert sorted(p.name for p in repo.iterdir() if p.name != ".git") == sorted(ORIGINAL)
    assert out  # --json printed the run's events


def _wait_for_first_request(server: ScriptedResponsesServer, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while not server.create_requests:
        if proc.poll() is not None:
            pytest.fail(f"sandloop exited before its first request: {proc.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail("sandloop never asked the model")
        time.sleep(0.02)


def _transcript(home: Path) -> list[dict[str, Any]]:
    (run_dir,) = (home / "runs").iterdir()
    lines = (run_dir / "transcript.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]  # every line whole: flushed record by record


def _check_outputs_follow_calls(records: list[dict[str, Any]]) -> None:
    called: set[str] = set()
    answered: list[str] = []
    for record in records:
        if record["type"] == "response":
            for item in record["response"].get("output", []):
                if "call_id" in item:
                    called.add(item["call_id"])
        elif record["type"] == "tool_output":
            assert record["call_id"] in called, record
            answered.append(record["call_id"])
    assert len(answered) == len(set(answered))  # no call answered twice

"""A RunSpec made in this process runs in another one (``python -c`` reading its JSON).

The scripted Responses server runs here, on 127.0.0.1; the child process gets no client, no
tool object and no sandbox, only the spec's JSON file. Its function tools live in an importable
module (``run_spec_support``); with a Docker sandbox the child starts the container itself
(an unstarted sandbox is the run's to start and remove) and edits the repository bind-mounted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import run_spec_support

import sandloop
from sandloop import Agent, ApplyPatchTool, ClientSettings, RetryPolicy, RunSpec, ShellTool
from sandloop.testing import (
    ScriptedResponsesServer,
    apply_patch_call,
    function_call,
    message,
    shell_call,
)

SRC = Path(sandloop.__file__).parents[1]
CHILD = (
    "import json, sys\n"
    "from sandloop import RunSpec\n"
    "spec = RunSpec.from_dict(json.load(open(sys.argv[1])))\n"
    "result = spec.run_sync()\n"
    "open(sys.argv[2], 'w').write(json.dumps(result.to_dict()))\n"
)


def run_elsewhere(spec: RunSpec, tmp_path: Path) -> sandloop.RunResult:
    """Write the spec to a file, run it with ``python -c`` in a fresh process, read its result."""
    spec_file, result_file = tmp_path / "spec.json", tmp_path / "result.json"
    spec_file.write_text(json.dumps(spec.to_dict()))
    here = str(Path(run_spec_support.__file__).parent)
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), here])
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(spec_file), str(result_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return sandloop.RunResult.from_dict(json.loads(result_file.read_text()))


def outputs(server: ScriptedResponsesServer) -> list[dict[str, Any]]:
    return [
        item
        for request in server.create_requests
        for item in request.body["input"]
        if str(item.get("type", "")).endswith("_output")
    ]


def test_a_spec_runs_in_another_process(tmp_path: Path) -> None:
    log = tmp_path / "pids.log"
    script = [
        [function_call("add", {"a": 2, "b": 3}, call_id="c1")],
        [function_call("note_pid", {"path": str(log)}, call_id="c2")],
        [message("2 + 3 = 5", phase="final_answer")],
    ]
    with ScriptedResponsesServer(script) as server:
        agent = Agent(model="gpt-5.1", tools=[run_spec_support.add, run_spec_support.note_pid])
        settings = ClientSettings(base_url=server.base_url, retry=RetryPolicy(max_retries=0))
        spec = RunSpec(agent, "add 2 and 3", client=settings, labels={"case": "sum"})
        result = run_elsewhere(spec, tmp_path)
        sent = outputs(server)
    assert result.status == "completed"
    assert result.final_output == "2 + 3 = 5"
    assert result.turns == 3
    [child_pid] = log.read_text().split()
    assert int(child_pid) != os.getpid()  # the tool ran in the other process
    assert [(o["call_id"], o["output"]) for o in sent] == [("c1", "5"), ("c2", child_pid)]


@pytest.mark.docker
def test_a_spec_with_an_unstarted_docker_sandbox_runs_in_another_process(
    tmp_path: Path, base_image: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "price.py").write_text("def total(a, b):\n    return a - b\n")
    fix = "@@\n def total(a, b):\n-    return a - b\n+    return a + b\n"
    script = [
        [apply_patch_call("update_file", "price.py", fix, call_id="p1")],
        [shell_call(["python3 -c 'import price; print(price.total(2, 3))'"], call_id="s1")],
        [message("fixed", phase="final_answer")],
    ]
    with ScriptedResponsesServer(script) as server:
        agent = Agent(model="gpt-5.1", tools=[ShellTool(), ApplyPatchTool()])
        spec = RunSpec(
            agent,
            "fix total()",
            sandbox=sandloop.DockerSandbox(base_image, workspace=str(repo)),
            client=ClientSettings(base_url=server.base_url, retry=RetryPolicy(max_retries=0)),
        )
        result = run_elsewhere(spec, tmp_path)
        sent = outputs(server)
    assert result.status == "completed"
    assert (repo / "price.py").read_text() == "def total(a, b):\n    return a + b\n"
    patched, shelled = sent
    assert patched["status"] == "completed"
    assert shelled["output"][0]["stdout"] == "5\n"
    assert shelled["output"][0]["outcome"] == {"type": "exit", "exit_code": 0}

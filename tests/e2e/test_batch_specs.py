"""``run_batch`` over RunSpecs: two specs on one repository, each with its own scripted server,
run two at a time in real copy-mode Docker sandboxes; a second call skips both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from sandloop.batch import LocalExecutor, run_batch
from sandloop.batch.layout import BatchDir
from sandloop.batch.task_run import BATCH_LABEL
from sandloop.client import ClientSettings, RetryPolicy
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.shell import ShellTool
from sandloop.loop import Agent, RunSpec
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.testing import ScriptedResponsesServer, apply_patch_call, message

BUGGY = "def add(a, b):\n    return a - b\n"
FIX = "@@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
TEST = "python3 -c 'from calc.ops import add; assert add(2, 3) == 5'"


def _spec(task_id: str, repo: Path, image: str, url: str) -> RunSpec:
    return RunSpec(
        Agent(model="m", tools=[ShellTool(), ApplyPatchTool()]),
        "fix add",
        sandbox=DockerSandbox(image, workspace=repo, mount="copy"),
        client=ClientSettings(base_url=url, retry=RetryPolicy(max_retries=0)),
        labels={"id": task_id},
        metadata={"test": TEST},
    )


@pytest.mark.docker
def test_run_batch_runs_specs_and_skips_them_the_second_time(
    tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    repo = tmp_path / "repo"
    (repo / "calc").mkdir(parents=True)
    (repo / "calc" / "ops.py").write_text(BUGGY)
    out = tmp_path / "out"
    fixing = [[apply_patch_call("update_file", "calc/ops.py", FIX)], [message("Fixed.")]]

    async def go(specs: list[RunSpec]) -> list[dict[str, Any]]:
        runs = run_batch(specs, executor=LocalExecutor(workers=2), out=out)
        return [record async for record in runs]

    with ScriptedResponsesServer(fixing) as one, ScriptedResponsesServer([[message("no")]]) as two:
        specs = [
            _spec("a", repo, base_image, one.base_url),
            _spec("b", repo, base_image, two.base_url),
        ]
        records = anyio.run(go, specs)
        assert (len(one.requests), len(two.requests)) == (2, 1)
    assert {r["id"]: r["status"] for r in records} == {"a": "solved", "b": "unsolved"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["statuses"]["solved"] == 1
    assert len((out / "results.jsonl").read_text().splitlines()) == 2

    with ScriptedResponsesServer([]) as one, ScriptedResponsesServer([]) as two:
        specs = [
            _spec("a", repo, base_image, one.base_url),
            _spec("b", repo, base_image, two.base_url),
        ]
        assert anyio.run(go, specs) == []
        assert one.requests == two.requests == []
    batch = f"{BATCH_LABEL}={BatchDir(out).batch_id}"
    assert docker_client.containers.list(all=True, filters={"label": batch}) == []

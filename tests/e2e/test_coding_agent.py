"""A coding agent fixes a failing test in a real git repository, end to end.

The scripted server plays the model over a real socket: it runs the tests (``shell_call``),
reads the buggy file (``shell_call`` with ``cat``), fixes it (``apply_patch_call`` update_file),
adds a regression test (``apply_patch_call`` create_file), runs the tests again and answers.
Each scripted turn checks what the model would see in the request. The run must end with the
tests passing in the repository on the host, which the sandbox bind-mounts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from sandloop.client import ResponsesClient
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.shell import ShellTool
from sandloop.loop import Agent, run
from sandloop.sandboxes import LocalSandbox, Sandbox
from sandloop.testing import (
    RecordedRequest,
    ScriptedResponsesServer,
    apply_patch_call,
    message,
    shell_call,
)

# -B: a fix of the same size within the same second would otherwise leave a stale .pyc in use.
TEST_COMMAND = "python3 -B -m unittest discover -s tests -t . -v"

FILES = {
    ".gitignore": "__pycache__/\n",
    "calc/__init__.py": "",
    "calc/ops.py": (
        '"""Arithmetic."""\n\n\n'
        "def add(a, b):\n"
        '    """Return the sum of a and b."""\n'
        "    return a - b\n\n\n"
        "def neg(a):\n"
        "    return -a\n"
    ),
    "tests/__init__.py": "",
    "tests/test_ops.py": (
        "import unittest\n\n"
        "from calc.ops import add, neg\n\n\n"
        "class OpsTest(unittest.TestCase):\n"
        "    def test_add(self):\n"
        "        self.assertEqual(add(2, 3), 5)\n\n"
        "    def test_neg(self):\n"
        "        self.assertEqual(neg(4), -4)\n"
    ),
}

FIX = (
    "@@ def add(a, b):\n"
    '     """Return the sum of a and b."""\n'
    "-    return a - b\n+    return a + b\n"
)

REGRESSION_TEST = (
    "import unittest\n"
    "\n"
    "from calc.ops import add\n"
    "\n"
    "\n"
    "class AddRegressionTest(unittest.TestCase):\n"
    "    def test_add_is_commutative(self):\n"
    "        self.assertEqual(add(-1, 7), add(7, -1))\n"
    "        self.assertEqual(add(-1, 7), 6)\n"
)
# create_file's diff is the whole file, each line prefixed with "+".
REGRESSION_DIFF = "".join("+" + line for line in REGRESSION_TEST.splitlines(keepends=True))


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small git repository whose test suite fails: ``add`` subtracts."""
    root = tmp_path / "repo"
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "calc with a bug")
    # The repository really is broken before the run.
    assert _host_tests(root).returncode != 0
    return root


def _host_tests(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", "tests", "-t", "."],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


# --- what the model "sees" ----------------------------------------------------------------


def _output_for(request: RecordedRequest, call_id: str) -> dict[str, Any]:
    """The output item answering ``call_id`` in the request's input."""
    found = [
        item
        for item in request.body["input"]
        if item.get("call_id") == call_id and str(item.get("type")).endswith("_output")
    ]
    assert len(found) == 1, f"expected one output for {call_id}, got {found}"
    output: dict[str, Any] = found[0]
    return output


def _check_mode(request: RecordedRequest, *, stateless: bool) -> None:
    body = request.body
    if stateless:
        assert body.get("previous_response_id") is None
        assert body.get("store") is False
        # The whole history is replayed: it starts with the user's task.
        first = body["input"][0]
        assert first.get("role") == "user"
    else:
        assert body["previous_response_id"].startswith("resp_")
        assert all(item.get("role") != "user" for item in body["input"] if isinstance(item, dict))


Turn = Callable[[RecordedRequest], list[dict[str, Any]]]


def _script(*, stateless: bool) -> list[Turn | list[dict[str, Any]]]:
    def run_tests_first(request: RecordedRequest) -> list[dict[str, Any]]:
        assert request.body["input"][-1]["content"] == "Make the failing test pass."
        tools = [t["type"] for t in request.body["tools"]]
        assert sorted(tools) == ["apply_patch", "shell"]
        return [shell_call([TEST_COMMAND, "git status --short"], call_id="call_t1")]

    def read_the_code(request: RecordedRequest) -> list[dict[str, Any]]:
        _check_mode(request, stateless=stateless)
        out = _output_for(request, "call_t1")
        tests, status = out["output"]
        # unittest reports on stderr; the model sees the failure and its cause.
        assert tests["outcome"] == {"type": "exit", "exit_code": 1}
        assert "FAIL: test_add" in tests["stderr"]
        assert "AssertionError: -1 != 5" in tests["stderr"]
        assert "FAILED (failures=1)" in tests["stderr"]
        assert status == {"stdout": "", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}
        return [shell_call("cat calc/ops.py", call_id="call_cat", max_output_length=2000)]

    def fix_it(request: RecordedRequest) -> list[dict[str, Any]]:
        _check_mode(request, stateless=stateless)
        out = _output_for(request, "call_cat")
        assert out["max_output_length"] == 2000
        assert out["output"][0]["stdout"] == FILES["calc/ops.py"]
        return [
            apply_patch_call("update_file", "calc/ops.py", FIX, call_id="call_fix"),
            apply_patch_call(
                "create_file", "tests/test_regression.py", REGRESSION_DIFF, call_id="call_new"
            ),
        ]

    def run_tests_again(request: RecordedRequest) -> list[dict[str, Any]]:
        _check_mode(request, stateless=stateless)
        for call_id in ("call_fix", "call_new"):
            out = _output_for(request, call_id)
            assert out["status"] == "completed", out
        return [shell_call([TEST_COMMAND, "git status --short"], call_id="call_t2")]

    def answer(request: RecordedRequest) -> list[dict[str, Any]]:
        _check_mode(request, stateless=stateless)
        if stateless:  # every call of the run and its output, replayed in order
            ids = [i["call_id"] for i in request.body["input"] if "call_id" in i]
            assert ids == [
                *("call_t1", "call_t1", "call_cat", "call_cat"),
                *("call_fix", "call_new", "call_fix", "call_new", "call_t2", "call_t2"),
            ]
        tests, status = _output_for(request, "call_t2")["output"]
        assert tests["outcome"] == {"type": "exit", "exit_code": 0}
        assert "Ran 3 tests" in tests["stderr"]
        assert tests["stderr"].rstrip().endswith("OK")
        assert status["stdout"] == " M calc/ops.py\n?? tests/test_regression.py\n"
        return [
            message(
                "Fixed `add` (it subtracted) and added a regression test.", phase="final_answer"
            )
        ]

    return [run_tests_first, read_the_code, fix_it, run_tests_again, answer]


# --- the runs -------------------------------------------------------------------------------


@asynccontextmanager
async def _sandbox(kind: str, repo: Path, request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    if kind == "local":
        async with LocalSandbox(repo) as local:
            yield local
        return
    image = request.getfixturevalue("base_image")
    from sandloop.sandboxes.docker import DockerSandbox

    async with DockerSandbox(image, workspace=repo) as container:
        yield container


@pytest.mark.parametrize("stateless", [False, True], ids=["previous_response_id", "stateless"])
@pytest.mark.parametrize("kind", [pytest.param("docker", marks=pytest.mark.docker), "local"])
async def test_agent_fixes_the_failing_test(
    repo: Path, kind: str, stateless: bool, request: pytest.FixtureRequest
) -> None:
    agent = Agent(
        model="gpt-test",
        instructions="You are a careful coding agent.",
        tools=[ShellTool(), ApplyPatchTool()],
        store=not stateless,
    )
    async with (
        _sandbox(kind, repo, request) as sandbox,
        ScriptedResponsesServer(_script(stateless=stateless)) as server,
        ResponsesClient(base_url=server.base_url, max_retries=0) as client,
    ):
        result = await run(agent, "Make the failing test pass.", sandbox=sandbox, client=client)

    assert result.status == "completed"
    assert result.turns == 5
    assert result.final_output == "Fixed `add` (it subtracted) and added a regression test."
    # The fix and the new test are in the user's repository, and its tests pass there.
    assert "    return a + b\n" in (repo / "calc/ops.py").read_text()
    assert (repo / "tests/test_regression.py").read_text() == REGRESSION_TEST
    host = _host_tests(repo)
    assert host.returncode == 0, host.stderr
    assert "Ran 3 tests" in host.stderr
    assert _git(repo, "status", "--short") == " M calc/ops.py\n?? tests/test_regression.py\n"

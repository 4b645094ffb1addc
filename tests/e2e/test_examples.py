"""Every example in ``examples/`` runs: alone (a scripted model when there is no API key) and
with ``--base-url`` pointing at a scripted server this test starts from the example's own script.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    for text in expected:
        assert text in done.stdout


FUNCTION_TOOLS = (
    "refunds made: [{'order_id': 'A-1001', 'amount_cents': 3499, 'reason': 'damaged'}]",
    '"enum": ["damaged", "late", "other"]',
    "answer after 3 model calls: Sorry about the lid!",
)
CUSTOM_TOOL = ("tool definition: grammar (lark)", "answer: 3 pallets hold 1275 bottles")
CODING_AGENT = (
    "apply_patch -> completed",
    "answer after 4 turns: Fixed shout()",
    "return greet(name).upper()",
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("function_tools", FUNCTION_TOOLS), ("custom_tool_grammar", CUSTOM_TOOL)],
)
def test_example_runs_without_an_api_key(name: str, expected: tuple[str, ...]) -> None:
    done = run_example(name)
    check(done, *expected)
    assert "ScriptedResponsesServer plays the model" in done.stderr


@pytest.mark.parametrize(
    ("name", "expected"),
    [("function_tools", FUNCTION_TOOLS), ("custom_tool_grammar", CUSTOM_TOOL)],
)
def test_example_uses_the_base_url(name: str, expected: tuple[str, ...]) -> None:
    with load(name).scripted_model() as server:
        done = run_example(name, "--base-url", server.base_url)
        check(done, *expected)
        assert len(server.create_requests) >= 2
    assert "ScriptedResponsesServer plays the model" not in done.stderr


@pytest.mark.docker
def test_coding_agent_in_docker(base_image: str) -> None:
    done = run_example("coding_agent")
    check(done, "sandbox: DockerSandbox(", *CODING_AGENT)


def test_coding_agent_in_a_local_sandbox_with_base_url() -> None:
    with load("coding_agent").scripted_model() as server:
        done = run_example("coding_agent", "--local", "--base-url", server.base_url)
        check(done, "sandbox: LocalSandbox(", *CODING_AGENT)


def test_testing_your_agent_runs_its_tests() -> None:
    done = run_example("testing_your_agent")
    check(done, "ok   test_the_agent_answers_from_the_tool_output", "3 tests passed")

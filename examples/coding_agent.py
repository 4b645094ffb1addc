"""A coding agent through the library API: shell + apply_patch in a hardened Docker sandbox.

Builds a tiny repository with a bug in a temporary directory, bind-mounts it into a
``DockerSandbox`` (no network, no capabilities, non-root) and streams the run's events: the
model's text, each tool call and how it ended. Without a Docker engine (or with ``--local``) it
uses a ``LocalSandbox`` instead: the same tools, but commands run on this machine unisolated.

Run it:

    python examples/coding_agent.py                   # no OPENAI_API_KEY: a scripted model
    OPENAI_API_KEY=sk-... python examples/coding_agent.py
    python examples/coding_agent.py --base-url http://127.0.0.1:8000/v1 [--local]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import anyio

import sandloop
from sandloop.testing import (
    RecordedRequest,
    ScriptedResponsesServer,
    apply_patch_call,
    message,
    shell_call,
)

FILES = {
    "greet.py": 'def greet(name):\n    return "Hello " + name + "!"\n\n\ndef shout(name):\n'
    "    return greet(name).lower()\n",
    "test_greet.py": "import unittest\n\nfrom greet import greet, shout\n\n\n"
    "class GreetTest(unittest.TestCase):\n"
    "    def test_greet(self):\n        self.assertEqual(greet('Ada'), 'Hello Ada!')\n\n"
    "    def test_shout(self):\n        self.assertEqual(shout('Ada'), 'HELLO ADA!')\n",
}
TESTS = "python3 -B -m unittest -q"
FIX = "@@ def shout(name):\n-    return greet(name).lower()\n+    return greet(name).upper()\n"

agent = sandloop.Agent(
    model="gpt-5.1",
    instructions="You are a careful coding agent. Run the tests, fix the code with apply_patch, "
    "run the tests again, then say what you changed.",
    tools=[sandloop.ShellTool(), sandloop.ApplyPatchTool()],
    max_turns=20,
)

TASK = "test_shout fails. Fix the bug."


def scripted_model() -> ScriptedResponsesServer:
    """What a model would do here, played by the scripted server (each turn checks its input)."""

    def exit_code(request: RecordedRequest) -> int:
        return int(request.body["input"][0]["output"][0]["outcome"]["exit_code"])

    def fix(request: RecordedRequest) -> list[dict[str, object]]:
        assert exit_code(request) == 1, "the tests should fail before the fix"
        explain = message("shout() lower-cases; it should upper-case.", phase="commentary")
        return [explain, apply_patch_call("update_file", "greet.py", FIX)]

    def done(request: RecordedRequest) -> list[dict[str, object]]:
        assert exit_code(request) == 0, "the tests should pass after the fix"
        return [message("Fixed shout(): it now calls upper().", phase="final_answer")]

    return ScriptedResponsesServer(
        [[shell_call([TESTS])], fix, lambda request: [shell_call([TESTS])], done]
    )


async def make_sandbox(repo: Path, local: bool) -> sandloop.Sandbox:
    if not local:
        docker = sandloop.DockerSandbox(workspace=repo)
        try:
            await docker.start()
            return docker
        except sandloop.SandboxUnavailableError as exc:
            print(f"no Docker sandbox ({exc}); using a LocalSandbox (NOT isolated)")
    sandbox = sandloop.LocalSandbox(repo)
    await sandbox.start()
    return sandbox


async def main(base_url: str | None, local: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        for name, text in FILES.items():
            (repo / name).write_text(text)
        async with (
            sandloop.ResponsesClient(base_url=base_url) as client,
            await make_sandbox(repo, local) as sandbox,
        ):
            print(f"sandbox: {sandbox!r}")
            async for event in sandloop.stream(agent, TASK, sandbox=sandbox, client=client):
                if isinstance(event, sandloop.ToolCallStarted):
                    print(f"  {event.tool}: {event.call.type} {event.call_id}")
                elif isinstance(event, sandloop.ToolCallFinished):
                    print(f"  {event.tool} -> {event.status} in {event.duration:.2f}s")
                elif isinstance(event, sandloop.RunEnded):
                    print(f"answer after {event.result.turns} turns: {event.result.final_output}")
        print("greet.py now:\n" + (repo / "greet.py").read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="a Responses API to use instead of the scripted model")
    parser.add_argument("--local", action="store_true", help="use a LocalSandbox (no Docker)")
    args = parser.parse_args()
    if args.base_url or os.environ.get("OPENAI_API_KEY"):
        anyio.run(main, args.base_url, args.local)
    else:
        print("No OPENAI_API_KEY: a ScriptedResponsesServer plays the model.", file=sys.stderr)
        with scripted_model() as server:
            anyio.run(main, server.base_url, args.local)

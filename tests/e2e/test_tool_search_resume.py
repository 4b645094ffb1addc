"""A run killed (SIGKILL) after a tool search loaded a tool, resumed from its journal: the tool
stays loaded, in chained and stateless mode.

The run goes in a child process: search, then a call to the loaded ``slow_lookup`` that hangs
the first time. The test kills the child once the call started, then resumes the journal here,
against the same scripted server (so chained mode can go on from the stored response). The
resumed run must run the call again (it is idempotent, and still loaded: not refused as a tool
no search loaded) and send the next request with the loading output still in the conversation,
which the server's checks verify.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tool_search_support as support

import sandloop
from sandloop.client import ResponsesClient
from sandloop.items import FunctionCallOutput
from sandloop.loop.journal import read_journal
from sandloop.testing import ScriptedResponsesServer, function_call, message, tool_search_call

CHILD = """
import sys
import sandloop
import tool_search_support as support
from sandloop.client import ResponsesClient
client = ResponsesClient(base_url=sys.argv[1], max_retries=0)
agent = support.agent(store=sys.argv[3] == "chained")
sandloop.run_sync(agent, "find the archived record k1", client=client, journal=sys.argv[2])
"""


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the run ended before the call started: {err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the call never started")
        time.sleep(0.02)


@pytest.mark.parametrize("mode", ["chained", "stateless"])
def test_a_killed_run_resumes_with_its_loaded_tools(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "started"
    monkeypatch.setenv(support.MARKER, str(marker))
    journal = tmp_path / "run.jsonl"
    turns = [
        [tool_search_call("archived record", call_id="ts1")],
        [function_call("slow_lookup", {"key": "k1"}, call_id="c1")],
        [message("found it")],
    ]
    here = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path, here])}
    with ScriptedResponsesServer(turns) as server:
        command = [sys.executable, "-c", CHILD, server.base_url, str(journal), mode]
        proc = subprocess.Popen(command, env=env, text=True, stderr=subprocess.PIPE)
        _wait_for(marker, proc)
        proc.kill()  # SIGKILL mid-call: no clean-up runs
        proc.communicate(timeout=30)
        kinds = [r["kind"] for r in read_journal(journal)]
        assert kinds[-1] == "call_started"
        assert "end" not in kinds
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        result = sandloop.resume_sync(journal, client=client)
        requests = server.create_requests
    assert result.final_output == "found it"
    assert [o.output for o in result.items if isinstance(o, FunctionCallOutput)] == ["record k1"]
    assert len(requests) == 3
    last = requests[-1].body
    loading = [i for i in last["input"] if i.get("type") == "tool_search_output"]
    if mode == "chained":
        assert last["previous_response_id"] == result.responses[1].id
        assert loading == []
    else:
        assert loading[0]["tools"][0]["name"] == "slow_lookup"
    assert read_journal(journal)[-1] == {"kind": "end", "status": "completed"}

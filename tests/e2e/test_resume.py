"""Resume: a run continued from its journal cut at every step, and a deferred approval resumed
from JSON in a fresh process.

Real sockets against ScriptedResponsesServer with its protocol checks on (stateless mode: each
request must replay the whole history verbatim and answer every call exactly once), real
LocalSandbox subprocesses, a side-effect counter to prove no completed call ran twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sandloop
from sandloop.client import ResponsesClient
from sandloop.executors.function import tool
from sandloop.executors.shell import ShellTool
from sandloop.loop import Agent, RunState
from sandloop.loop.journal import read_journal
from sandloop.loop.resume import UNKNOWN_EFFECT
from sandloop.sandboxes import LocalSandbox
from sandloop.testing import (
    RecordedRequest,
    ScriptedResponsesServer,
    Turn,
    function_call,
    message,
    shell_call,
)

COUNTER = "SANDLOOP_TEST_COUNTER"


@tool
def bump(name: str) -> str:
    """Count one more for ``name``.

    Args:
        name: What to count.
    """
    path = Path(os.environ[COUNTER])
    with path.open("a") as fh:
        fh.write(name + "\n")
    return f"bumped {name}"


@tool(idempotent=True)
def look(name: str) -> str:
    """Look at ``name`` (safe to repeat).

    Args:
        name: What to look at.
    """
    path = Path(os.environ[COUNTER])
    with path.open("a") as fh:
        fh.write("look-" + name + "\n")
    return f"saw {name}"


def _turns() -> list[Any]:
    return [
        [function_call("bump", {"name": "a"}, call_id="c_a")],
        [
            function_call("bump", {"name": "b"}, call_id="c_b"),
            function_call("look", {"name": "x"}, call_id="c_x"),
        ],
        [shell_call("echo done >> edits.txt", call_id="c_sh")],
        [message("all done", phase="final_answer")],
    ]


def _agent() -> Agent:
    return Agent(model="m", tools=[bump, look, ShellTool()], store=False)


def _answers(requests: list[RecordedRequest]) -> dict[str, int]:
    """How often the server saw an output for each call id, over all requests of one run."""
    final = requests[-1].body["input"]  # stateless: the last request holds the whole history
    seen: dict[str, int] = {}
    for item in final:
        if str(item.get("type", "")).endswith("_output"):
            seen[item["call_id"]] = seen.get(item["call_id"], 0) + 1
    return seen


@pytest.fixture
def counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "counter.txt"
    path.touch()
    monkeypatch.setenv(COUNTER, str(path))
    return path


def _full_run(tmp_path: Path) -> tuple[list[dict[str, Any]], Path]:
    work = tmp_path / "full-work"
    work.mkdir()
    journal = tmp_path / "full.jsonl"
    with ScriptedResponsesServer(_turns()) as server:
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        result = sandloop.run_sync(
            _agent(), "go", sandbox=LocalSandbox(work), client=client, journal=journal
        )
    assert result.final_output == "all done"
    return read_journal(journal), work


def test_the_journal_records_every_step(tmp_path: Path, counter: Path) -> None:
    records, _ = _full_run(tmp_path)
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "header"
    assert kinds[-1] == "end"
    assert kinds.count("request") == kinds.count("response") == 4
    assert kinds.count("call_started") == kinds.count("call_finished") == 4
    assert records[0]["prompt_cache_key"].startswith("sandloop-")


def test_the_journal_holds_no_api_key(tmp_path: Path, counter: Path) -> None:
    journal = tmp_path / "key.jsonl"
    secret = "sk-test-never-in-the-journal-1234"
    with ScriptedResponsesServer([[message("hi")]]) as server:
        client = ResponsesClient(base_url=server.base_url, api_key=secret, max_retries=0)
        sandloop.run_sync(Agent(model="m"), "x", client=client, journal=journal)
        assert server.create_requests[0].headers["authorization"] == f"Bearer {secret}"
        base_url = server.base_url
    text = journal.read_text()
    assert secret not in text
    assert base_url in text


def test_resume_from_every_cut_of_the_journal(tmp_path: Path, counter: Path) -> None:
    """Cut the journal after each record (a kill at that point), resume, compare."""
    records, full_work = _full_run(tmp_path)
    expected_work = (full_work / "edits.txt").read_text()
    key = records[0]["prompt_cache_key"]
    for cut in range(1, len(records)):
        kept = records[:cut]
        counter.write_text("")
        for rec in kept:  # the effects that happened before the kill
            if rec["kind"] == "call_finished" and rec["call_id"] in ("c_a", "c_b"):
                counter.write_text(counter.read_text() + rec["call_id"][-1] + "\n")
        work = tmp_path / f"work-{cut}"
        work.mkdir()
        if any(r["kind"] == "call_finished" and r["call_id"] == "c_sh" for r in kept):
            (work / "edits.txt").write_text(expected_work)
        journal = tmp_path / f"cut-{cut}.jsonl"
        text = "".join(json.dumps(r) + "\n" for r in kept)
        journal.write_text(text + '{"kind": "call_fin')  # and a torn line, killed mid-write
        responses = sum(r["kind"] == "response" for r in kept)
        script = _turns()[responses:]
        with ScriptedResponsesServer(script) as server:
            client = ResponsesClient(base_url=server.base_url, max_retries=0)
            result = sandloop.resume_sync(
                journal, agent=_agent(), sandbox=LocalSandbox(work), client=client
            )
            requests = list(server.create_requests)
        assert result.final_output == "all done", cut
        assert result.run_id == records[0]["run_id"]
        assert all(r.body["prompt_cache_key"] == key for r in requests), cut
        if requests:
            assert all(n == 1 for n in _answers(requests).values()), cut
        lines = counter.read_text().split()
        for name in ("a", "b"):
            call_id = f"c_{name}"
            started = any(r["kind"] == "call_started" and r["call_id"] == call_id for r in kept)
            finished = any(r["kind"] == "call_finished" and r["call_id"] == call_id for r in kept)
            if started and not finished:
                # Cut short by the crash: not run again, and the model is told so.
                assert name not in lines, (cut, lines)
                outputs = [i for i in result.items if getattr(i, "call_id", "") == call_id]
                assert outputs[-1].output == UNKNOWN_EFFECT
            else:
                assert lines.count(name) == 1, (cut, lines)  # never twice
        shell_started = any(r.get("call_id") == "c_sh" for r in kept)
        shell_finished = any(r["kind"] == "call_finished" and r["call_id"] == "c_sh" for r in kept)
        if shell_started and not shell_finished:  # unknown effect: not run again
            assert not (work / "edits.txt").exists(), cut
        else:  # run exactly once, before the kill or after the resume
            assert (work / "edits.txt").read_text() == expected_work, cut
        # The resumed run went on journaling: the file now ends with its end.
        assert read_journal(journal)[-1] == {"kind": "end", "status": "completed"}


def test_resume_of_a_completed_run_sends_nothing(tmp_path: Path, counter: Path) -> None:
    records, work = _full_run(tmp_path)
    journal = tmp_path / "done.jsonl"
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    with ScriptedResponsesServer([]) as server:
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        result = sandloop.resume_sync(
            journal, agent=_agent(), sandbox=LocalSandbox(work), client=client
        )
        assert server.create_requests == []
    assert result.final_output == "all done"


def test_a_newer_journal_is_refused(tmp_path: Path) -> None:
    journal = tmp_path / "new.jsonl"
    journal.write_text(json.dumps({"kind": "header", "version": 99, "run_id": "r"}) + "\n")
    with pytest.raises(sandloop.ConfigError, match="newer"):
        sandloop.resume_sync(journal, agent=_agent())


RESUME_SCRIPT = """
import json, sys
import sandloop
state = sandloop.RunState.from_dict(json.load(open(sys.argv[1])))
decisions = json.loads(sys.argv[2])
result = sandloop.resume_sync(state, decisions=decisions)
print(json.dumps({"status": result.status, "final": result.final_output}))
"""


def test_a_deferred_approval_resumed_from_json_in_a_fresh_process(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    agent = Agent(model="m", tools=[ShellTool()], store=False, approval_policy="all")

    def after_decisions(request: RecordedRequest) -> Turn:
        outputs = {i["call_id"]: i for i in request.body["input"] if "output" in i}
        assert outputs["c_ok"]["output"][0]["stdout"] == "ran\n"
        assert "not today" in json.dumps(outputs["c_no"])
        return Turn([message("finished", phase="final_answer")])

    turns: list[Any] = [
        [
            shell_call("echo ran | tee -a log.txt", call_id="c_ok"),
            shell_call("echo nope >> log.txt", call_id="c_no"),
        ],
        after_decisions,
    ]
    with ScriptedResponsesServer(turns) as server:
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        paused = sandloop.run_sync(
            agent, "go", sandbox=LocalSandbox(work), client=client, approve="defer"
        )
        assert paused.status == "needs_approval"
        assert [(p.call_id, p.tool, p.action) for p in paused.pending_approvals] == [
            ("c_ok", "shell", "echo ran | tee -a log.txt"),
            ("c_no", "shell", "echo nope >> log.txt"),
        ]
        assert not (work / "log.txt").exists()  # nothing ran before the decision
        assert paused.state is not None
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(paused.to_dict()["state"]))
        decisions = json.dumps({"c_ok": True, "c_no": "not today"})
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        done = subprocess.run(
            [sys.executable, "-c", RESUME_SCRIPT, str(state_file), decisions],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"status": "completed", "final": "finished"}
    assert (work / "log.txt").read_text() == "ran\n"
    with pytest.raises(sandloop.ConfigError, match="newer"):
        RunState.from_dict({**paused.state.to_dict(), "version": 2})
    with pytest.raises(sandloop.ConfigError, match="no call is waiting"):
        sandloop.resume_sync(paused.state, decisions={"c_other": True})


def test_cli_defer_exits_3_and_resume_allows_and_denies(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(SANDLOOP_HOME=str(home), PYTHONPATH=os.pathsep.join(sys.path))

    def check_answers(request: RecordedRequest) -> Turn:
        outputs = {i["call_id"]: i for i in request.body["input"] if "output" in i}
        assert outputs["c_yes"]["output"][0]["stdout"] == "yes\n"
        assert "denied on the command line" in json.dumps(outputs["c_no"])
        return Turn([message("ok", phase="final_answer")])

    turns: list[Any] = [
        [
            shell_call("echo yes | tee -a log.txt", call_id="c_yes"),
            shell_call("echo no >> log.txt", call_id="c_no"),
        ],
        check_answers,
    ]
    cli = [sys.executable, "-m", "sandloop.cli"]
    with ScriptedResponsesServer(turns) as server:
        first = subprocess.run(
            [
                *cli,
                "run",
                "--local",
                "--repo",
                str(repo),
                "--base-url",
                server.base_url,
                "--approve",
                "defer",
                "--json",
                "go",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert first.returncode == 3, first.stderr
        assert "c_yes  shell: echo yes | tee -a log.txt" in first.stderr
        assert not (repo / "log.txt").exists()
        (run_dir,) = (home / "runs").iterdir()
        second = subprocess.run(
            [*cli, "resume", run_dir.name, "--allow", "c_yes", "--deny", "c_no", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=repo,
        )
        assert second.returncode == 0, second.stderr
    assert (repo / "log.txt").read_text() == "yes\n"
    events = [json.loads(line) for line in second.stdout.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "tool_call_finished" for e in events)


@pytest.mark.docker
def test_copy_mode_resume_reapplies_the_journaled_changes(tmp_path: Path, base_image: str) -> None:
    from sandloop.executors.apply_patch import ApplyPatchTool

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "ops.py").write_text("def add(a, b):\n    return a - b\n")
    fixed = "def add(a, b):\n    return a + b\n"
    fix = "@@\n def add(a, b):\n-    return a - b\n+    return a + b\n"

    def sees_the_fix(request: RecordedRequest) -> Turn:
        (out,) = [i for i in request.body["input"] if i.get("call_id") == "c_cat" and "output" in i]
        assert out["output"][0]["stdout"] == fixed  # the fresh copy has the journaled change
        return Turn([message("done", phase="final_answer")])

    turns: list[Any] = [
        [_patch("c_fix", fix)],
        [shell_call("cat ops.py", call_id="c_cat")],
        sees_the_fix,
    ]
    agent = Agent(model="m", tools=[ShellTool(), ApplyPatchTool()], store=False)
    journal = tmp_path / "copy.jsonl"
    with ScriptedResponsesServer([*turns[:2], [message("done", phase="final_answer")]]) as server:
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        sandbox = sandloop.DockerSandbox(base_image, workspace=repo, mount="copy")
        sandloop.run_sync(agent, "fix", sandbox=sandbox, client=client, journal=journal)
    records = read_journal(journal)
    cut = next(i for i, r in enumerate(records) if r["kind"] == "changes") + 1
    # The crash: right after the patch's call finished, before its turn ended.
    assert [r["kind"] for r in records[cut - 2 : cut + 1]] == [
        "call_finished",
        "changes",
        "outputs",
    ]
    journal.write_text("".join(json.dumps(r) + "\n" for r in records[:cut]))
    with ScriptedResponsesServer(turns[1:]) as server:
        client = ResponsesClient(base_url=server.base_url, max_retries=0)
        # No sandbox given: a fresh copy like the journaled one.
        result = sandloop.resume_sync(journal, agent=agent, client=client)
    assert result.final_output == "done"
    assert (repo / "ops.py").read_text() == "def add(a, b):\n    return a - b\n"
    assert result.changes is not None
    assert result.changes.paths == ("ops.py",)


def _patch(call_id: str, diff: str) -> dict[str, Any]:
    from sandloop.testing import apply_patch_call

    return apply_patch_call("update_file", "ops.py", diff, call_id=call_id)

"""Cassettes without the CLI: recording through a RecordingClient, replaying through the
player's scripted server, and how a divergence is described. No Docker needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandloop.cli.changes import diff_stat, tree_diff
from sandloop.client.recording import RecordingClient
from sandloop.errors import BadRequestError, ConfigError
from sandloop.executors.function import tool
from sandloop.loop import Agent, run
from sandloop.testing import ScriptedResponsesServer, function_call, message
from sandloop.testing.cassette import Cassette, CassettePlayer, request_difference


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend.
    """
    return a + b


AGENT = Agent("gpt-test", instructions="Use add.", tools=[add])


def script() -> list[Any]:
    return [[function_call("add", {"a": 2, "b": 3})], [message("5", phase="final_answer")]]


async def record(tmp_path: Path) -> Path:
    cassette = Cassette(meta={"task": "2+3"})
    with ScriptedResponsesServer(script()) as server:
        async with RecordingClient(listener=cassette.listener, base_url=server.base_url) as client:
            result = await run(AGENT, "2+3", client=client, stream=True)
    assert result.final_output == "5"
    path = tmp_path / "c.json"
    cassette.save(path)
    return path


async def test_a_recorded_run_replays_with_the_same_answer(tmp_path: Path) -> None:
    path = await record(tmp_path)
    cassette = Cassette.load(path)
    assert [e.request["input"][0]["type"] for e in cassette.exchanges] == [
        "message",
        "function_call_output",
    ]
    assert cassette.meta == {"task": "2+3"}
    player = CassettePlayer(cassette)
    # Not ``with``: the player's server holds one more turn, to explain an extra request.
    server = player.server().start()
    try:
        async with RecordingClient(listener=lambda *a: None, base_url=server.base_url) as client:
            result = await run(AGENT, "2+3", client=client)
    finally:
        server.close()
    assert result.final_output == "5"
    assert player.divergence is None
    assert player.unplayed() == 0


async def test_a_different_task_diverges_at_turn_1(tmp_path: Path) -> None:
    player = CassettePlayer(Cassette.load(await record(tmp_path)))
    server = player.server().start()
    try:
        async with RecordingClient(listener=lambda *a: None, base_url=server.base_url) as client:
            with pytest.raises(BadRequestError):
                await run(AGENT, "2+4", client=client)
    finally:
        server.close()
    assert player.divergence is not None
    assert player.divergence[0] == 1
    assert "text is '2+4', the cassette has '2+3'" in player.divergence[1]


async def test_a_run_longer_than_the_cassette_diverges(tmp_path: Path) -> None:
    cassette = Cassette.load(await record(tmp_path))
    del cassette.exchanges[1]  # the cassette ends before the final answer
    player = CassettePlayer(cassette)
    server = player.server().start()
    try:
        async with RecordingClient(listener=lambda *a: None, base_url=server.base_url) as client:
            with pytest.raises(BadRequestError):
                await run(AGENT, "2+3", client=client)
    finally:
        server.close()
    assert player.divergence == (
        2,
        "the run asked for another model call, the cassette ends after 1",
    )


EXIT_1 = {"type": "exit", "exit_code": 1}


def test_request_difference_names_what_differs() -> None:
    base = {
        "model": "m",
        "instructions": "i",
        "tools": [{"type": "shell"}],
        "input": [
            {"type": "message", "role": "user", "content": "fix it"},
            {
                "type": "shell_call_output",
                "call_id": "c1",
                "output": [{"stdout": "x", "stderr": "", "outcome": EXIT_1}],
            },
        ],
    }
    assert request_difference(base, base) is None
    same_but_text = _replace_output(base, stdout="different timing 0.002s")
    assert request_difference(base, same_but_text) is None
    other_exit = _replace_output(base, exit_code=0)
    detail = request_difference(base, other_exit)
    assert detail == (
        'input item 2 (shell_call_output c1): outcomes is ["exit 0"], the cassette has ["exit 1"]'
    )
    assert "model is 'n'" in str(request_difference(base, {**base, "model": "n"}))
    assert "tools are" in str(request_difference(base, {**base, "tools": []}))
    fewer = {**base, "input": base["input"][:1]}
    assert request_difference(base, fewer) == (
        "the request has 1 input item(s), the cassette has 2"
    )
    task = {**base, "input": [{"type": "message", "role": "user", "content": "other"}]}
    assert "text is 'other', the cassette has 'fix it'" in str(request_difference(base, task))


def _replace_output(body: dict[str, Any], **change: Any) -> dict[str, Any]:
    entry = dict(body["input"][1]["output"][0])
    if "stdout" in change:
        entry["stdout"] = change["stdout"]
    if "exit_code" in change:
        entry["outcome"] = {"type": "exit", "exit_code": change["exit_code"]}
    item = {**body["input"][1], "output": [entry]}
    return {**body, "input": [body["input"][0], item]}


def test_loading_a_bad_cassette_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read cassette"):
        Cassette.load(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text('{"format": "other"}')
    with pytest.raises(ConfigError, match="not a sandloop cassette"):
        Cassette.load(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        Cassette.load(tmp_path / "y.json")


def test_diff_stat_and_tree_diff(tmp_path: Path) -> None:
    before, after = tmp_path / "a", tmp_path / "b"
    for root in (before, after):
        (root / "pkg").mkdir(parents=True)
    (before / "pkg" / "m.py").write_text("one\ntwo\nthree\n")
    (after / "pkg" / "m.py").write_text("one\n2\nthree\nfour\n")
    (after / "new.txt").write_text("hello\n")
    (before / "gone.txt").write_text("bye\n")
    (after / "pkg" / "__pycache__").mkdir()
    (after / "pkg" / "__pycache__" / "m.pyc").write_bytes(b"\0")
    (after / "pkg" / "dashes.txt").write_text("-- not a header\n")
    (before / "pkg" / "dashes.txt").write_text("--- looks like a header\n")
    stats = {c.path: (c.added, c.removed, c.status) for c in diff_stat(tree_diff(before, after))}
    assert stats == {
        "pkg/m.py": (2, 1, "modified"),
        "pkg/dashes.txt": (1, 1, "modified"),
        "new.txt": (1, 0, "new"),
        "gone.txt": (0, 1, "deleted"),
    }

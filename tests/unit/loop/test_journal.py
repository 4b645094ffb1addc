"""The journal file: appended record by record, torn tails ignored and cut, versions checked,
never inside a bind-mounted workspace; RunState round-trips through JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandloop.errors import ConfigError
from sandloop.loop.journal import JOURNAL_VERSION, Journal, read_journal
from sandloop.loop.state import RunState


def _header() -> dict[str, object]:
    return {"version": JOURNAL_VERSION, "run_id": "run_1", "prompt_cache_key": "k", "input": []}


def test_every_record_is_on_disk_when_write_returns(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.write("header", **_header())
    # Read back while the journal is still open: nothing waits in a buffer.
    assert [r["kind"] for r in read_journal(path)] == ["header"]
    journal.write("request", turn=1)
    assert read_journal(path)[-1] == {"kind": "request", "turn": 1}
    journal.close()
    journal.close()  # twice is fine
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_torn_last_line_is_ignored_and_cut_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(json.dumps({"kind": "header", **_header()}) + '\n{"kind": "requ')
    assert [r["kind"] for r in read_journal(path)] == ["header"]
    journal = Journal(path)
    journal.write("request", turn=1)
    journal.close()
    assert [r["kind"] for r in read_journal(path)] == ["header", "request"]


def test_a_broken_line_before_the_last_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    header = json.dumps({"kind": "header", **_header()})
    path.write_text(header + "\nnot json\n" + json.dumps({"kind": "end"}) + "\n")
    with pytest.raises(ConfigError, match="line 2 is not JSON"):
        read_journal(path)


@pytest.mark.parametrize(
    ("first", "message"),
    [
        ({"kind": "request"}, "no header"),
        ({"kind": "header", "version": JOURNAL_VERSION + 1}, "newer"),
        ([1, 2], "not a journal record"),
    ],
)
def test_what_is_not_a_readable_journal_is_refused(
    tmp_path: Path, first: object, message: str
) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(json.dumps(first) + "\n")
    with pytest.raises(ConfigError, match=message):
        read_journal(path)


def test_a_journal_inside_the_workspace_is_refused(tmp_path: Path) -> None:
    workspace = tmp_path / "repo"
    (workspace / ".sandloop").mkdir(parents=True)
    with pytest.raises(ConfigError, match="inside the workspace"):
        Journal(workspace / ".sandloop" / "j.jsonl", forbidden=[workspace])
    assert not (workspace / ".sandloop" / "j.jsonl").exists()
    Journal(tmp_path / "outside.jsonl", forbidden=[workspace]).close()


def test_a_symlinked_journal_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    link = tmp_path / "j.jsonl"
    link.symlink_to(target)
    with pytest.raises(ConfigError):
        Journal(link.parent / link.name)
    assert target.read_text() == "keep\n"


def test_run_state_round_trips_and_refuses_a_newer_version() -> None:
    records = [
        {"kind": "header", **_header()},
        {"kind": "paused", "turn": 1, "items": [], "pending": [{"call_id": "c1"}]},
    ]
    state = RunState("run_1", records)
    again = RunState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert again.pending == [{"call_id": "c1"}]
    with pytest.raises(ConfigError, match="newer"):
        RunState.from_dict({**state.to_dict(), "version": 99})
    with pytest.raises(ConfigError, match="not a RunState"):
        RunState.from_dict({"version": 1})

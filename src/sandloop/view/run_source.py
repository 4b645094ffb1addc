"""Reading a run's record into a :class:`~sandloop.view.records.RunView`.

Part of ``view``, at its start. Three record formats hold a run:

* a ``sandloop run`` directory: ``transcript.jsonl`` (every request, response and tool output,
  each with the time it was written), ``journal.jsonl`` (the loop's journal, whose header
  describes the agent), ``result.json`` and ``changes.patch``;
* a journal alone (``run(..., journal=PATH)``; a batch task's directory holds one, next to its
  ``changes.patch``, ``result.json`` and test log): no times;
* a cassette (:mod:`sandloop.testing.cassette`): each request and its response; the tool outputs
  are read from the next request's input.

Everything in them may have been written by the model or the server: every field is checked for
its type, and a line that is not a JSON object is skipped (a torn last line is normal).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandloop.errors import ConfigError
from sandloop.view.records import RunView, TurnView
from sandloop.view.run_builder import (
    RunBuilder,
    as_dict,
    as_list,
    as_num,
    as_str,
    describe_agent,
    first_user_text,
    request_settings,
    text_of,
)

__all__ = ("MAX_SOURCE_BYTES", "load_run", "read_jsonl", "run_kind")

#: The largest record file read (larger ones are refused: a page of it would not open anyway).
MAX_SOURCE_BYTES = 1 << 30
#: Extra files of a run directory shown at the end of its page, when present.
_EXTRA_FILES = ("setup.txt", "test.txt")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; other lines (a torn last one) are skipped.

    Raises:
        ConfigError: it cannot be read, or is larger than :data:`MAX_SOURCE_BYTES`.
    """
    data = _read(path)
    records: list[dict[str, Any]] = []
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            raise ConfigError(f"{path} is larger than {MAX_SOURCE_BYTES >> 20} MiB")
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc


def run_kind(path: Path) -> str | None:
    """What run record ``path`` is: ``transcript``, ``journal``, ``cassette``, or ``None``."""
    if path.is_dir():
        for name, kind in (("transcript.jsonl", "transcript"), ("journal.jsonl", "journal")):
            if (path / name).is_file():
                return kind
        return None
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if b'"sandloop-cassette/' in head:
        return "cassette"
    first = head.split(b"\n", 1)[0]
    if b'"kind"' in first and b'"header"' in first:
        return "journal"
    if b'"type"' in first and b'"run"' in first:
        return "transcript"
    return None


def load_run(path: Path) -> RunView:
    """The run recorded at ``path`` (a run directory, a transcript, a journal or a cassette).

    Raises:
        ConfigError: ``path`` is none of those, or cannot be read.
    """
    kind = run_kind(path)
    folder = path if path.is_dir() else path.parent
    if kind == "transcript":
        file = path / "transcript.jsonl" if path.is_dir() else path
        view = _from_transcript(file, read_jsonl(file))
        journal = folder / "journal.jsonl"
        if journal.is_file() and file.name == "transcript.jsonl":
            describe_agent(view, _first_record(journal))
    elif kind == "journal":
        file = path / "journal.jsonl" if path.is_dir() else path
        view = _from_journal(file, read_jsonl(file))
    elif kind == "cassette":
        view = _from_cassette(path)
    else:
        raise ConfigError(
            f"{path} is not a run directory, transcript, journal, cassette or batch directory"
        )
    if path.is_dir() or path.name in ("transcript.jsonl", "journal.jsonl"):
        _add_files(view, folder)
    if not view.final_output:
        view.final_output = _final_answer(view)
    return view


def _from_transcript(path: Path, records: list[dict[str, Any]]) -> RunView:
    view = RunView(path, "transcript", live=True)
    build = RunBuilder(view)
    first = last = None
    for record in records:
        kind, at = record.get("type"), as_num(record.get("time"))
        first = first if first is not None else at
        last = at if at is not None else last
        if kind == "run":
            view.run_id, view.task = as_str(record.get("run_id")), as_str(record.get("task")) or ""
            view.model = as_str(record.get("model"))
            if sandbox := as_str(record.get("sandbox")):
                view.settings.append(("sandbox", sandbox))
        elif kind == "request":
            turn = build.turn(record.get("turn"))
            turn.started = at
            if turn.number == 1:
                request_settings(view, record.get("body"))
        elif kind == "response":
            _timed(build.response(record.get("turn"), record.get("response")), at)
        elif kind == "tool_output":
            call = build.output(
                record.get("output"),
                status=as_str(record.get("status")),
                error=as_str(record.get("error")),
                duration=as_num(record.get("duration")),
            )
            number = record.get("turn")
            if call is not None and isinstance(number, int) and number in build.by_turn:
                _timed(build.by_turn[number], at)
        elif kind == "error":  # this request failed (a retry, if any, is the next turn)
            message = as_str(as_dict(record.get("payload")).get("message"))
            build.turn(record.get("turn")).error = message or "the request failed"
        elif kind == "end":
            _end(view, record)
    if first is not None and last is not None:
        view.wall_time = last - first
    return view


def _timed(turn: TurnView, at: float | None) -> None:
    if at is not None and turn.started is not None:
        turn.duration = max(turn.duration or 0.0, at - turn.started)


def _end(view: RunView, record: dict[str, Any]) -> None:
    view.live = False
    view.status = as_str(record.get("status")) or view.status
    view.final_output = as_str(record.get("final_output")) or view.final_output
    view.error = as_str(record.get("error")) or view.error


def _from_journal(path: Path, records: list[dict[str, Any]]) -> RunView:
    view = RunView(path, "journal", live=True)
    build = RunBuilder(view)
    for record in records:
        kind = record.get("kind")
        if kind == "header":
            describe_agent(view, record)
        elif kind == "response":
            build.response(record.get("turn"), record.get("response"))
        elif kind == "call_finished":
            build.output(record.get("output"), status=as_str(record.get("status")))
        elif kind in ("outputs", "paused"):
            for item in as_list(record.get("items")):
                if isinstance(item, dict) and item.get("call_id") in build.by_call:
                    call = build.by_call[item["call_id"]]
                    call.output = call.output or item
        elif kind == "changes":
            view.diff = as_str(record.get("diff"))
        elif kind == "end":
            _end(view, record)
    return view


def _from_cassette(path: Path) -> RunView:
    try:
        data = json.loads(_read(path))
    except ValueError as exc:
        raise ConfigError(f"cassette {path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a sandloop cassette")
    meta = as_dict(data.get("meta"))
    view = RunView(path, "cassette", task=as_str(meta.get("task")) or "")
    view.model = as_str(meta.get("model"))
    view.settings.append(("recorded as", "a cassette: the model's side only, no tool timings"))
    build = RunBuilder(view)
    for number, exchange in enumerate(as_list(data.get("exchanges")), 1):
        if not isinstance(exchange, dict) or not isinstance(exchange.get("request"), dict):
            continue
        request = exchange["request"]
        if number == 1:
            request_settings(view, request)
            view.task = view.task or first_user_text(as_list(request.get("input")))
        for item in as_list(request.get("input")):
            build.output(item)
        build.response(number, exchange.get("response"))
    view.status = "recorded"
    return view


def _first_record(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as fh:
            record = json.loads(fh.readline(64 << 20))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _add_files(view: RunView, folder: Path) -> None:
    """The diff (``changes.patch``) and a batch task's logs, when the directory has them."""
    patch = folder / "changes.patch"
    if patch.is_file() and not patch.is_symlink():
        view.diff = _read(patch).decode("utf-8", "replace")
    for name in _EXTRA_FILES:
        file = folder / name
        if file.is_file() and not file.is_symlink():
            view.extra.append((name, _read(file).decode("utf-8", "replace")))


def _final_answer(view: RunView) -> str:
    """The last assistant message's text (a ``final_answer`` one preferred)."""
    last = ""
    for turn in reversed(view.turns):
        for item in reversed(turn.items):
            if item.get("type") == "message" and item.get("role") == "assistant":
                if item.get("phase") == "final_answer":
                    return text_of(item.get("content"))
                last = last or text_of(item.get("content"))
        if last:
            return last
    return last

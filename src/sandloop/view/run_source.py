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
from sandloop.view.records import CallView, RunView, TurnView

__all__ = ("MAX_SOURCE_BYTES", "load_run", "read_jsonl", "run_kind", "text_of")

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
            _describe(view, _first_record(journal))
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


class _Builder:
    """Turns, calls and outputs, as records name them."""

    def __init__(self, view: RunView) -> None:
        self.view = view
        self.by_turn: dict[int, TurnView] = {}
        self.by_call: dict[str, CallView] = {}

    def turn(self, number: Any) -> TurnView:
        key = number if isinstance(number, int) else len(self.by_turn) + 1
        turn = self.by_turn.get(key)
        if turn is None:
            turn = self.by_turn[key] = TurnView(key)
            self.view.turns.append(turn)
        return turn

    def response(self, number: Any, response: Any) -> TurnView:
        turn = self.turn(number)
        if not isinstance(response, dict):
            return turn
        turn.items = [i for i in _list(response.get("output")) if isinstance(i, dict)]
        turn.model = _str(response.get("model")) or self.view.model
        turn.status = _str(response.get("status"))
        usage = response.get("usage")
        turn.usage = usage if isinstance(usage, dict) else None
        turn.cost = _cost(turn.model, turn.usage)
        error = response.get("error")
        if isinstance(error, dict):
            turn.error = _str(error.get("message")) or json.dumps(error)[:500]
        for item in turn.items:
            call_id = item.get("call_id")
            if isinstance(call_id, str) and str(item.get("type", "")).endswith("_call"):
                turn.calls[call_id] = self.by_call[call_id] = CallView(call_id, item)
        return turn

    def output(self, item: Any, **facts: Any) -> CallView | None:
        if not isinstance(item, dict) or not isinstance(item.get("call_id"), str):
            return None
        call = self.by_call.get(item["call_id"])
        if call is not None:
            call.output = item
            for name, value in facts.items():
                if value is not None:
                    setattr(call, name, value)
        return call


def _from_transcript(path: Path, records: list[dict[str, Any]]) -> RunView:
    view = RunView(path, "transcript", live=True)
    build = _Builder(view)
    first = last = None
    for record in records:
        kind, at = record.get("type"), _num(record.get("time"))
        first = first if first is not None else at
        last = at if at is not None else last
        if kind == "run":
            view.run_id, view.task = _str(record.get("run_id")), _str(record.get("task")) or ""
            view.model = _str(record.get("model"))
            if sandbox := _str(record.get("sandbox")):
                view.settings.append(("sandbox", sandbox))
        elif kind == "request":
            turn = build.turn(record.get("turn"))
            turn.started = at
            if turn.number == 1:
                _request_settings(view, record.get("body"))
        elif kind == "response":
            _timed(build.response(record.get("turn"), record.get("response")), at)
        elif kind == "tool_output":
            call = build.output(
                record.get("output"),
                status=_str(record.get("status")),
                error=_str(record.get("error")),
                duration=_num(record.get("duration")),
            )
            number = record.get("turn")
            if call is not None and isinstance(number, int) and number in build.by_turn:
                _timed(build.by_turn[number], at)
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
    view.status = _str(record.get("status")) or view.status
    view.final_output = _str(record.get("final_output")) or view.final_output
    view.error = _str(record.get("error")) or view.error


def _from_journal(path: Path, records: list[dict[str, Any]]) -> RunView:
    view = RunView(path, "journal", live=True)
    build = _Builder(view)
    for record in records:
        kind = record.get("kind")
        if kind == "header":
            _describe(view, record)
        elif kind == "response":
            build.response(record.get("turn"), record.get("response"))
        elif kind == "call_finished":
            build.output(record.get("output"), status=_str(record.get("status")))
        elif kind in ("outputs", "paused"):
            for item in _list(record.get("items")):
                if isinstance(item, dict) and item.get("call_id") in build.by_call:
                    call = build.by_call[item["call_id"]]
                    call.output = call.output or item
        elif kind == "changes":
            view.diff = _str(record.get("diff"))
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
    meta = _dict(data.get("meta"))
    view = RunView(path, "cassette", task=_str(meta.get("task")) or "")
    view.model = _str(meta.get("model"))
    view.settings.append(("recorded as", "a cassette: the model's side only, no tool timings"))
    build = _Builder(view)
    for number, exchange in enumerate(_list(data.get("exchanges")), 1):
        if not isinstance(exchange, dict) or not isinstance(exchange.get("request"), dict):
            continue
        request = exchange["request"]
        if number == 1:
            _request_settings(view, request)
            view.task = view.task or _task(_list(request.get("input")))
        for item in _list(request.get("input")):
            build.output(item)
        build.response(number, exchange.get("response"))
    view.status = "recorded"
    return view


def _describe(view: RunView, header: dict[str, Any] | None) -> None:
    """The run's description from a journal header: the agent, its tools and sandbox."""
    if not header or header.get("kind") != "header":
        return
    view.run_id = view.run_id or _str(header.get("run_id"))
    view.task = view.task or _task(_list(header.get("input")))
    run = _dict(header.get("run"))
    agent = _dict(run.get("agent"))
    view.model = view.model or _str(agent.get("model"))
    view.instructions = view.instructions or _str(agent.get("instructions"))
    if not view.tools:
        view.tools = [_str(t.get("tool")) or "?" for t in _list(agent.get("tools")) if _is(t)]
    for key in ("max_turns", "timeout", "token_budget", "cost_budget", "approval_policy"):
        if agent.get(key) is not None and not any(k == key for k, _ in view.settings):
            view.settings.append((key.replace("_", " "), str(agent[key])))
    sandbox = run.get("sandbox")
    if isinstance(sandbox, dict) and not any(k == "sandbox" for k, _ in view.settings):
        view.settings.append(("sandbox", " ".join(_sandbox_words(sandbox))))


def _sandbox_words(sandbox: dict[str, Any]) -> list[str]:
    words = [str(sandbox.get("kind") or "sandbox")]
    for key in ("image", "root", "workspace", "mount", "network"):
        if sandbox.get(key) not in (None, "", {}):
            words.append(f"{key}={sandbox[key]}")
    return words


def _request_settings(view: RunView, body: Any) -> None:
    if not isinstance(body, dict):
        return
    view.model = view.model or _str(body.get("model"))
    view.instructions = view.instructions or _str(body.get("instructions"))
    if not view.tools:
        view.tools = [_tool_name(t) for t in _list(body.get("tools")) if _is(t)]
    if isinstance(body.get("reasoning"), dict):
        view.settings.append(("reasoning", json.dumps(body["reasoning"])))
    if body.get("store") is False:
        view.settings.append(("state", "stateless (store=false)"))


def _tool_name(tool: dict[str, Any]) -> str:
    kind = _str(tool.get("type")) or "?"
    name = _str(tool.get("name"))
    return f"{name} ({kind})" if name else kind


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


def _task(items: list[Any]) -> str:
    for item in items:
        if _is(item) and item.get("type", "message") == "message" and item.get("role") == "user":
            return text_of(item.get("content"))
    return ""


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    parts = [p.get("text") for p in _list(content) if _is(p)]
    return "".join(p for p in parts if isinstance(p, str))


def _cost(model: str | None, usage: dict[str, Any] | None) -> float | None:
    if model is None or usage is None:
        return None
    from pydantic import ValidationError

    from sandloop.items import Usage
    from sandloop.pricing import usage_cost

    try:
        return usage_cost(model, Usage.model_validate(usage))
    except (ValidationError, ValueError, TypeError):
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is(value: Any) -> bool:
    return isinstance(value, dict)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)

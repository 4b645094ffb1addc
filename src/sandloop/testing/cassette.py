"""Cassettes: record a run's model exchanges, then replay the model's side without a model.

A :class:`Cassette` holds each ``POST /responses`` request body and the Response it got. Record
one with :meth:`Cassette.listener` on a :class:`~sandloop.client.recording.RecordingClient`;
replay it with :class:`CassettePlayer`, which serves the recorded answers from a
:class:`~sandloop.testing.ScriptedResponsesServer` on 127.0.0.1 while the tools really run.

A replayed request must match its recorded one where it matters: the model, the instructions,
the tools, and each input item's type, role and call id, the text of messages, and how each
tool call ended (exit codes, patch status). Tool output text is not compared: it holds timings
and paths that differ between machines.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from sandloop.errors import ConfigError
from sandloop.testing._script import RecordedRequest, Turn
from sandloop.testing.server import ScriptedResponsesServer

__all__ = ("Cassette", "CassettePlayer", "Exchange", "request_difference")

FORMAT = "sandloop-cassette/1"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One model call: the request body sent and the Response (wire JSON) it got."""

    request: dict[str, Any]
    response: dict[str, Any]


@dataclass(slots=True)
class Cassette:
    """The model exchanges of one run, in order, plus free-form metadata (``task``, ``model``).

    Attributes:
        exchanges: The recorded model calls.
        meta: What the recorder wants to remember (the CLI stores the task and the model).
    """

    exchanges: list[Exchange] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    _pending: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | Path) -> Cassette:
        """Read a cassette file.

        Raises:
            ConfigError: the file is missing or is not a sandloop cassette.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read cassette {str(path)!r}: {exc.strerror}") from exc
        except ValueError as exc:
            raise ConfigError(f"cassette {str(path)!r} is not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"{str(path)!r} is not a sandloop cassette (format {FORMAT})")
        try:
            exchanges = [
                Exchange(dict(e["request"]), dict(e["response"])) for e in data["exchanges"]
            ]
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"cassette {str(path)!r} has a malformed exchange ({exc})") from exc
        return cls(exchanges, dict(data.get("meta") or {}))

    def save(self, path: str | Path) -> None:
        """Write the cassette as indented JSON (readable in a diff)."""
        data = {
            "format": FORMAT,
            "meta": self.meta,
            "exchanges": [{"request": e.request, "response": e.response} for e in self.exchanges],
        }
        Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", "utf-8")

    def listener(self, kind: str, payload: dict[str, Any]) -> None:
        """A ``RecordingClient`` listener: pairs each request with its response."""
        if kind == "request":
            self._pending = payload
        elif kind == "response" and self._pending is not None:
            self.exchanges.append(Exchange(self._pending, payload))
            self._pending = None
        elif kind == "error":
            self._pending = None


class CassettePlayer:
    """Serves a cassette's responses, checking each request against the recorded one.

    :meth:`server` gives a ScriptedResponsesServer playing the cassette: ``start()`` it, point
    the client at its ``base_url``, ``close()`` it after the run (not ``with``: it holds one
    more turn than the cassette, to explain an extra request, which ``with`` would report as
    unplayed). When a request diverges the server answers 400 and :attr:`divergence` says
    where and how; :meth:`unplayed` tells whether the run stopped short of the cassette.

    Args:
        cassette: What to play.
    """

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self.played = 0
        #: ``(turn, detail)`` of the first divergence, or ``None``.
        self.divergence: tuple[int, str] | None = None
        self._lock = threading.Lock()

    def server(self, **options: Any) -> ScriptedResponsesServer:
        """A ScriptedResponsesServer playing the cassette (protocol checks off: we check)."""
        turns: list[Any] = [self._turn for _ in self.cassette.exchanges]
        turns.append(self._extra)  # answers one request too many with a clear divergence
        return ScriptedResponsesServer(turns, check_protocol=False, **options)

    def unplayed(self) -> int:
        """How many recorded model calls the run did not make."""
        return len(self.cassette.exchanges) - self.played

    def _turn(self, request: RecordedRequest) -> Turn:
        with self._lock:
            number = self.played + 1
            exchange = self.cassette.exchanges[self.played]
            detail = request_difference(exchange.request, request.body)
            if detail is not None:
                self._diverge(number, detail)
            self.played = number
        response = exchange.response
        usage = response.get("usage")
        return Turn(
            list(response.get("output") or []),
            status=response.get("status", "completed"),
            usage=usage if isinstance(usage, dict) else None,
            error=response.get("error"),
            incomplete_reason=(response.get("incomplete_details") or {}).get(
                "reason", "max_output_tokens"
            ),
        )

    def _extra(self, request: RecordedRequest) -> NoReturn:
        count = len(self.cassette.exchanges)
        with self._lock:
            self._diverge(
                count + 1, f"the run asked for another model call, the cassette ends after {count}"
            )

    def _diverge(self, turn: int, detail: str) -> NoReturn:
        if self.divergence is None:
            self.divergence = (turn, detail)
        # Fails this request: the server answers 400 and the client raises.
        raise CassetteMismatch(f"turn {turn}: {detail}")


class CassetteMismatch(AssertionError):
    """Raised inside the server thread; the client sees a 400 and the player keeps the detail."""


def request_difference(expected: Mapping[str, Any], actual: Any) -> str | None:
    """What differs between a recorded request body and a new one, in words; ``None`` if equal.

    Compares what decides the model's answer: model, instructions, tools, and the input items
    (see the module docstring for what is compared inside each item).
    """
    if not isinstance(actual, Mapping):
        return "the request has no JSON body"
    for key in ("model", "instructions"):
        if expected.get(key) != actual.get(key):
            return (
                f"{key} is {_short(actual.get(key))}, the cassette has {_short(expected.get(key))}"
            )
    tools, recorded = _tool_names(actual), _tool_names(expected)
    if tools != recorded:
        return f"the tools are {tools}, the cassette has {recorded}"
    return _input_difference(_as_items(expected.get("input")), _as_items(actual.get("input")))


def _input_difference(expected: Sequence[Any], actual: Sequence[Any]) -> str | None:
    for index, (want, got) in enumerate(zip(expected, actual, strict=False), start=1):
        want_sig, got_sig = _signature(want), _signature(got)
        if want_sig != got_sig:
            keys = [
                k for k in want_sig.keys() | got_sig.keys() if want_sig.get(k) != got_sig.get(k)
            ]
            key = sorted(keys)[0]
            what = f"input item {index} ({_label(got)})"
            return (
                f"{what}: {key} is {_short(got_sig.get(key))}, "
                f"the cassette has {_short(want_sig.get(key))}"
            )
    if len(expected) != len(actual):
        return f"the request has {len(actual)} input item(s), the cassette has {len(expected)}"
    return None


def _as_items(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return list(value)


def _tool_names(body: Mapping[str, Any]) -> list[str]:
    names = []
    for tool in body.get("tools") or ():
        if isinstance(tool, Mapping):
            name = tool.get("name")
            names.append(f"{tool.get('type')}:{name}" if name else str(tool.get("type")))
    return sorted(names)


def _signature(item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        return {"type": repr(item)}
    kind = item.get("type", "message")
    sig: dict[str, Any] = {"type": kind}
    for key in ("role", "call_id"):
        if key in item:
            sig[key] = item[key]
    if kind == "local_shell_call_output":
        sig["id"] = item.get("id")
    if kind == "message" and item.get("role") in ("user", "system", "developer"):
        sig["text"] = _message_text(item.get("content"))
    elif kind == "shell_call_output":
        sig["outcomes"] = [_outcome(o) for o in item.get("output") or ()]
    elif kind in ("apply_patch_call_output", "local_shell_call_output"):
        sig["status"] = item.get("status")
    return sig


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, Mapping))


def _outcome(entry: Any) -> str:
    outcome = entry.get("outcome") if isinstance(entry, Mapping) else None
    if not isinstance(outcome, Mapping):
        return "unknown"
    if outcome.get("type") == "exit":
        return f"exit {outcome.get('exit_code')}"
    return str(outcome.get("type"))


def _label(item: Any) -> str:
    if not isinstance(item, Mapping):
        return type(item).__name__
    kind = str(item.get("type", "message"))
    if "call_id" in item:
        return f"{kind} {item['call_id']}"
    if "role" in item:
        return f"{kind} from {item['role']}"
    return kind


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."

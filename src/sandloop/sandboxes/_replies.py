"""What a runner reply may be: the host's check of every frame before it believes it.

The reply channel is reachable from inside the sandbox (any process there can write to the
container's stdout or stop the runner), so a frame is hostile input until checked here. In
order: its announced size against the largest cap of the requests still owed a reply (before
the body is read), its nesting depth (before it is decoded, without recursing), then its shape:
a JSON object whose ``id`` is a request still owed a reply and whose every field has the type
the request kind's reply has. :class:`FrameError` says what was wrong; ``RunnerClient`` then
counts the runner as dead.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = (
    "DEFAULT_READ_MAX",
    "EVENT_DATA",
    "PROC_WINDOW",
    "EventRule",
    "EventTally",
    "Expected",
    "FrameError",
    "check",
    "check_event",
    "decode",
    "expect",
    "hello",
)

Message = dict[str, Any]
Check = Callable[[Any], bool]

#: Nesting a frame may have (replies use 4 levels).
MAX_DEPTH = 16
#: Room a reply gets besides its payload: its other fields and an error message.
ENVELOPE = 64 * 1024
#: Cap of a reply that carries nothing but a few numbers (ping, cancel, shutdown).
SMALL = 4096
#: What ``read_file`` without ``max_bytes`` may return.
DEFAULT_READ_MAX = 64 * 1024 * 1024
LISTDIR_CAP = 16 * 1024 * 1024
SCREENSHOT_CAP = 64 * 1024 * 1024
DESKTOP_CAP = 1024 * 1024
#: Bytes one ``output`` event of a streaming ``exec`` carries at most (the runner's EVENT_DATA).
EVENT_DATA = 8192
#: Bytes one ``output`` event of a ``spawn`` carries at most (the runner's CHUNK).
PROC_DATA = 65536
#: Bytes of a process's stdout the runner may send before the host acknowledges them
#: (``proc_ack``): the flow-control window (the runner's PROC_WINDOW).
PROC_WINDOW = 256 * 1024
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_STRING = re.compile(rb'"[^"]*"')
_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')


class FrameError(Exception):
    """A frame the runner (or something posing as it) sent is not a valid reply."""


@dataclass(frozen=True, slots=True)
class EventRule:
    """What the event frames a request may get before its reply are.

    Attributes:
        kinds: The event kinds allowed (``output``; ``started`` for a ``spawn``).
        data_max: Bytes one ``output`` event may carry.
        budget: Bytes all ``output`` events of one stream may carry together (``None``: no
            total; a spawned process's stdout is bounded by the window instead).
        window: Bytes of stdout the events may carry beyond what the host acknowledged.
    """

    kinds: frozenset[str]
    data_max: int
    budget: int | None
    window: int | None = None

    @property
    def cap(self) -> int:
        """The largest event frame."""
        return _b64_len(self.data_max) + SMALL


@dataclass(frozen=True, slots=True)
class Expected:
    """What the reply to one request may be: its size cap and the shape of its result, and
    the events it may get first (``None``: none)."""

    op: str
    cap: int
    result: Mapping[str, Check]
    events: EventRule | None = None

    @property
    def largest(self) -> int:
        """The largest frame this request may still get: its reply or one of its events."""
        return max(self.cap, self.events.cap if self.events is not None else 0)


def decode(body: bytes) -> Message:
    """The frame's JSON object, refused when deeper than ``MAX_DEPTH`` or not an object."""
    _check_depth(body)
    try:
        # Decoded first: json.loads would guess UTF-16 or -32 from bytes, which the scan
        # above did not read as such.
        frame = _DECODER.decode(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"a frame that is not JSON ({exc})") from None
    if not isinstance(frame, dict):
        raise FrameError(f"a frame that is not a JSON object ({type(frame).__name__})")
    return frame


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


# Made once: json.loads with an option makes a decoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _check_depth(body: bytes) -> None:
    # Escapes first (only strings may hold them in valid JSON): then every string is "...".
    # What is left besides quotes and brackets cannot change the depth, so it goes; then each
    # pass removes the innermost bracket pairs: a document of depth d empties in d passes.
    shape = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    shape = _STRING.sub(b"", shape)
    for _ in range(MAX_DEPTH):
        if not shape:
            return
        shape, removed = _PAIR.subn(b"", shape)
        if not removed:
            break
    if shape:
        raise FrameError(f"a frame nested deeper than {MAX_DEPTH} levels or unbalanced")


def check(frame: Message, expected: Expected) -> Message:
    """Validate a reply frame (its id already matched) against what its request allows."""
    ok = frame.get("ok")
    if not isinstance(ok, bool):
        raise FrameError(f"a reply to {expected.op!r} whose 'ok' is not a boolean")
    if ok:
        result = frame.get("result")
        _fields(result, expected.result, f"the result of {expected.op!r}")
    else:
        _fields(frame.get("error"), _ERROR, f"the error of {expected.op!r}")
    return frame


def check_event(frame: Message, expected: Expected) -> Message:
    """Validate an event frame (its id already matched; it has no ``ok``): its ``event``."""
    rule = expected.events
    if rule is None:
        raise FrameError(f"an event for {expected.op!r}, which streams nothing")
    event = frame.get("event")
    if not isinstance(event, dict) or event.get("kind") not in rule.kinds:
        raise FrameError(f"an event for {expected.op!r} of no kind it may get ({event!r:.80})")
    if event["kind"] == "started":
        _fields(event, {"pid": _int}, f"the started event of {expected.op!r}")
        return event
    spec = {"stream": lambda v: v in ("stdout", "stderr"), "data": _b64(rule.data_max)}
    _fields(event, spec, f"an output event of {expected.op!r}")
    if not event["data"]:
        raise FrameError(f"an output event of {expected.op!r} without data")
    return event


class EventTally:
    """What one request's events carried so far, held against its rule's budget and window."""

    def __init__(self, rule: EventRule) -> None:
        self.rule = rule
        self.carried = {"stdout": 0, "stderr": 0}
        self.acked = 0
        self.started = False

    def admit(self, event: Message) -> int:
        """Count a checked event; returns its data's size. Raises FrameError past a limit."""
        if event["kind"] == "started":
            if self.started:
                raise FrameError("a second started event for one process")
            self.started = True
            return 0
        stream, size = event["stream"], _decoded_size(event["data"])
        self.carried[stream] += size
        budget, window = self.rule.budget, self.rule.window
        if budget is not None and self.carried[stream] > budget:
            raise FrameError(f"{self.carried[stream]} bytes of {stream} events; at most {budget}")
        if window is not None and stream == "stdout" and self.carried[stream] - self.acked > window:
            unacked = self.carried[stream] - self.acked
            raise FrameError(f"{unacked} unacknowledged bytes of stdout; the window is {window}")
        return size

    def ack(self, size: int) -> None:
        """The host consumed ``size`` more bytes of stdout (and tells the runner so)."""
        self.acked += size


def _decoded_size(data: str) -> int:
    return 3 * len(data) // 4 - len(data) + len(data.rstrip("="))


def _fields(value: Any, spec: Mapping[str, Check], where: str) -> None:
    if not isinstance(value, dict):
        raise FrameError(f"{where} is not an object")
    for name, valid in spec.items():
        if not valid(value.get(name, _MISSING)):
            shown = "missing" if name not in value else f"{value[name]!r:.80}"
            raise FrameError(f"{where} has a bad {name!r} ({shown})")


# --- field checks ---------------------------------------------------------------------------

_MISSING = object()


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: Any) -> bool:
    return _int(value) and value >= 0


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


def _str(value: Any) -> bool:
    return isinstance(value, str)


def _num(value: Any) -> bool:
    return (_int(value) or isinstance(value, float)) and math.isfinite(value) and value >= 0


def _nullable(valid: Check) -> Check:
    return lambda value: value is None or valid(value)


def _optional(valid: Check) -> Check:
    return lambda value: value is _MISSING or valid(value)


def _b64(limit: int) -> Check:
    """A base64 string of at most ``limit`` decoded bytes."""

    def valid(value: Any) -> bool:
        if value == "":  # no output: the common case, and valid
            return True
        if not isinstance(value, str) or len(value) % 4 or len(value) > _b64_len(limit):
            return False
        if not value.isascii():
            return False
        # Deleting the alphabet (C speed, unlike a regex over megabytes) leaves the padding.
        padding = value.encode("ascii").translate(None, _B64_ALPHABET)
        if padding not in (b"", b"=", b"==") or not value.endswith(padding.decode()):
            return False
        return 3 * len(value) // 4 - len(padding) <= limit

    return valid


def _entry(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and _str(value.get("path"))
        and value.get("kind") in ("file", "dir", "symlink", "other")
        and _count(value.get("size"))
        and _int(value.get("mode"))
        and 0 <= value["mode"] <= 0o7777
    )


def _entries(value: Any) -> bool:
    return isinstance(value, list) and all(_entry(item) for item in value)


def _ints(value: Any) -> bool:
    return isinstance(value, list) and all(_int(item) for item in value)


def _strs(value: Any) -> bool:
    return isinstance(value, list) and all(_str(item) for item in value)


_ERROR: Mapping[str, Check] = {
    "type": _str,
    "message": _str,
    "path": _optional(_str),
    "reason": _optional(_str),
}
_HELLO: Mapping[str, Check] = {
    "hello": lambda value: value == "sandloop-runner",
    "protocol": lambda value: value == 1,
    "pid": _int,
    "uid": _int,
    "gid": _int,
    "root": _str,
    "python": _str,
    "ops": _strs,
    "desktop": _optional(_bool),
}
_DESKTOP: Mapping[str, Mapping[str, Check]] = {
    "xdotool": {"exit_code": _nullable(_int), "stderr": _str},
    "ensure": {"width": _int, "height": _int, "mismatch": _optional(_bool)},
    "launch": {"pid": _int},
    "info": {"display": _str, "size": _nullable(_ints)},
}


# --- caps and shapes per request kind -------------------------------------------------------


def _b64_len(size: int) -> int:
    return 4 * ((max(size, 0) + 2) // 3)


def _slack(*texts: Any) -> int:
    # An error message may quote a path; JSON may escape each of its bytes to six.
    return ENVELOPE + sum(16 * len(str(text).encode("utf-8", "replace")) for text in texts)


def hello() -> Expected:
    """What the runner's first frame (id 0) may be."""
    return Expected("hello", ENVELOPE, _HELLO)


def expect(op: str, args: Mapping[str, Any], *, limit: int) -> Expected:
    """The cap and result shape of the reply to ``op`` with ``args``, at most ``limit`` bytes."""
    cap, result = _kind(op, args)
    return Expected(op, min(cap, limit), result, _events(op, args))


def _events(op: str, args: Mapping[str, Any]) -> EventRule | None:
    if op == "exec" and args.get("stream"):
        out = max(int(args.get("max_output", 0)), 0)
        return EventRule(frozenset({"output"}), min(EVENT_DATA, out), out)
    if op == "spawn":
        return EventRule(frozenset({"output", "started"}), PROC_DATA, None, PROC_WINDOW)
    return None


@functools.lru_cache(maxsize=32)
def _exec_shape(out: int) -> Mapping[str, Check]:
    """The result of an ``exec`` whose streams hold at most ``out`` bytes each (kept: every
    command asks for one of a few sizes)."""
    stream = _b64(out)
    shape = {"exit_code": _nullable(_int), "timed_out": _bool, "cancelled": _bool}
    shape.update(stdout=stream, stderr=stream, stdout_dropped=_count, stderr_dropped=_count)
    return {**shape, "duration": _num}


def _kind(op: str, args: Mapping[str, Any]) -> tuple[int, Mapping[str, Check]]:
    path = args.get("path", "")
    if op == "exec":
        out = int(args.get("max_output", 0))
        return 2 * _b64_len(out) + _slack(args.get("cwd", "")), _exec_shape(out)
    if op == "spawn":
        return _slack(args.get("cwd", ""), *args.get("argv", ())), {"exit_code": _int}
    if op == "proc_write":
        return SMALL, {"written": _count}
    if op == "read":
        most = int(args.get("max_bytes", DEFAULT_READ_MAX))
        return _b64_len(most) + _slack(path), {"data": _b64(most)}
    if op in ("write", "delete", "stat"):
        shapes: Mapping[str, Mapping[str, Check]] = {
            "write": {"size": _count},
            "delete": {},
            "stat": {"entry": _nullable(_entry)},
        }
        return _slack(path, path), shapes[op]
    if op == "write_files":
        paths = [item.get("path", "") for item in args.get("files", ())]
        return _slack(*paths), {"count": _count}
    if op == "listdir":
        return LISTDIR_CAP + _slack(path), {"entries": _entries}
    if op == "desktop":
        if args.get("do") == "screenshot":
            shot = {"width": _int, "height": _int, "png": _b64(SCREENSHOT_CAP)}
            return _b64_len(SCREENSHOT_CAP) + ENVELOPE, shot
        return DESKTOP_CAP, _DESKTOP.get(str(args.get("do")), {})
    small: Mapping[str, Mapping[str, Check]] = {"ping": {"pid": _int}, "cancel": {"found": _bool}}
    return SMALL, small.get(op, {})

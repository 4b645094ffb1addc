"""Every SandloopError survives pickle (a process pool, Ray) with its message and attributes."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import pytest

import sandloop
from sandloop.errors import SandloopError
from sandloop.loop import RunResult


def every_error_class() -> list[type[SandloopError]]:
    found: list[type[SandloopError]] = []
    todo: list[type[SandloopError]] = [SandloopError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


SAMPLES: dict[str, Any] = {
    "status_code": 429,
    "status": 409,
    "request_id": "req_1",
    "request": "POST http://127.0.0.1:1/v1/responses",
    "code": "rate_limit_exceeded",
    "body": {"error": {"message": "slow down"}},
    "path": "src/app.py",
    "reason": "not_found",
    "line_number": 7,
    "hunk": 2,
    "line": "-old",
    "closest": ("old line",),
    "turn": 3,
    "detail": "the input differs",
    "seconds": 2.5,
    "nothing_changed": False,
    "next_step": "Resend it.",
    "what": "stream",
    "size": 3 << 30,
    "limit": 128 << 20,
    "failures": [("a/b/stuck", "Operation not permitted")],
    "server": "github",
    "response": None,
    "text": '{"city": 1}',
    "errors": [{"loc": ["city"], "msg": "Input should be a valid string", "type": "string_type"}],
    "result": RunResult(run_id="run_1", status="max_turns", final_output="partial", items=[]),
}


def build(cls: type[SandloopError]) -> SandloopError:
    try:
        params = list(inspect.signature(cls).parameters.values())
    except ValueError:  # no __init__ of its own below Exception: the message only
        params = []
    kwargs = {p.name: SAMPLES[p.name] for p in params if p.kind is p.KEYWORD_ONLY}
    return cls(f"{cls.__name__} happened", **kwargs)


def test_the_walk_finds_the_whole_tree() -> None:
    public = {
        obj for obj in vars(sandloop.errors).values()
        if isinstance(obj, type) and issubclass(obj, SandloopError)
    }  # fmt: skip
    assert public <= set(every_error_class())
    assert len(public) >= 36


@pytest.mark.parametrize("cls", every_error_class(), ids=lambda c: c.__qualname__)
def test_every_error_survives_pickle_with_its_attributes(cls: type[SandloopError]) -> None:
    error = build(cls)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is cls
    assert str(again) == str(error)
    assert again.args == error.args
    assert vars(again).keys() == vars(error).keys()
    for name, value in vars(error).items():
        assert getattr(again, name) == value, name
    with pytest.raises(cls):
        raise again

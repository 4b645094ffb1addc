"""The client's documented defaults, the depth check, the inflater and error pickling."""

from __future__ import annotations

import inspect
import pickle
import re
import zlib
from pathlib import Path

import pytest

from sandloop import ClientLimits, ResponsesClient
from sandloop.client._body import PIECE, Inflater, check_depth
from sandloop.errors import (
    ResponseDeadlineError,
    ResponseStalledError,
    ResponseTooDeepError,
    ResponseTooLargeError,
)

README = Path(__file__).parents[3] / "README.md"


def test_the_readme_states_the_defaults_in_force() -> None:
    text = README.read_text()
    section = text[text.index("## Client timeouts and caps") :]
    params = inspect.signature(ResponsesClient).parameters
    assert f"`timeout` | {params['timeout'].default:g} s" in section
    assert f"`idle_timeout` | {params['idle_timeout'].default:g} s" in section
    limits = ClientLimits()
    for name in ("max_body_bytes", "max_stream_bytes", "max_line_bytes", "max_event_bytes"):
        mib = getattr(limits, name) // (1024 * 1024)
        assert re.search(rf"`{name}` \| {mib} MiB", section), name
    assert f"`max_json_depth` | {limits.max_json_depth}" in section


def test_depth_counts_brackets_outside_strings_only() -> None:
    check_depth('{"a": "[[[[[[[[[[[[[[[[[[[["}', 3, "x")
    check_depth("[[[]]]", 3, "x")
    with pytest.raises(ResponseTooDeepError):
        check_depth("[[[[]]]]", 3, "x")
    with pytest.raises(ResponseTooDeepError):
        check_depth("[" * 100_000, 128, "x")


def test_the_inflater_hands_out_bounded_pieces() -> None:
    bomb = zlib.compress(b"\0" * (8 * PIECE))
    pieces = list(Inflater("deflate", "x").feed(bomb))
    assert all(len(p) <= PIECE for p in pieces)
    assert b"".join(pieces) == b"\0" * (8 * PIECE)


@pytest.mark.parametrize(
    "error",
    [
        ResponseStalledError("m", seconds=1.5),
        ResponseDeadlineError("m", seconds=2.0),
        ResponseTooLargeError("m", what="line", limit=7),
        ResponseTooDeepError("m", limit=3),
    ],
)
def test_the_errors_pickle_with_their_attributes(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert vars(copy) == vars(error)
    assert str(copy) == "m"

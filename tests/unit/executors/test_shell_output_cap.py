"""The output cap shared by the shell tools: head + tail, a marker, never over the cap."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandloop.errors import ConfigError
from sandloop.executors._commands import CommandLimits, capture_bytes, fit_output
from sandloop.sandboxes.base import ExecResult

MARKER = re.compile(r"\n\[\.\.\. (\d+) bytes omitted \.\.\.\]\n")


def _result(stdout: bytes = b"", stderr: bytes = b"", **kw: object) -> ExecResult:
    return ExecResult(exit_code=kw.pop("exit_code", 0), stdout=stdout, stderr=stderr, **kw)  # type: ignore[arg-type]


def test_short_output_is_untouched() -> None:
    out = fit_output(_result(b"hello\n", b"warn\n"), 100)
    assert (out.stdout, out.stderr, out.exit_code, out.timed_out) == ("hello\n", "warn\n", 0, False)


def test_long_stdout_keeps_head_and_tail_and_says_how_much_was_cut() -> None:
    data = b"".join(b"line %04d\n" % i for i in range(1000))  # 10,000 bytes
    out = fit_output(_result(data), 200)
    assert len(out.stdout) <= 200
    assert out.stdout.startswith("line 0000\nline 0001\n")
    assert out.stdout.endswith("line 0998\nline 0999\n")
    match = MARKER.search(out.stdout)
    assert match is not None
    kept = len(out.stdout) - len(match.group(0))
    assert int(match.group(1)) == len(data) - kept


def test_cuts_fall_on_line_boundaries_when_near() -> None:
    data = b"".join(b"row %d of the table\n" % i for i in range(500))
    out = fit_output(_result(data), 400).stdout
    head, _, tail = MARKER.split(out)
    assert head.endswith(" of the table\n")
    assert tail.startswith("row ")
    assert all(line.startswith("row ") for line in (head + tail).splitlines())


def test_cap_counts_stdout_and_stderr_together() -> None:
    out = fit_output(_result(b"o" * 500, b"e" * 500), 300)
    assert len(out.stdout) + len(out.stderr) <= 300
    assert out.stdout.startswith("ooo")
    assert out.stderr.startswith("eee")
    assert MARKER.search(out.stdout)
    assert MARKER.search(out.stderr)


def test_a_short_stream_is_kept_whole_and_the_other_gets_the_rest() -> None:
    out = fit_output(_result(b"x" * 1000, b"short error\n"), 200)
    assert out.stderr == "short error\n"
    # All the room left goes to stdout (but a digit the marker did not need).
    assert 200 - len("short error\n") - 1 <= len(out.stdout) <= 200 - len("short error\n")


def test_bytes_the_sandbox_dropped_are_counted_in_the_marker() -> None:
    # The sandbox kept 8 head bytes and 8 tail bytes and dropped 1000 between them.
    out = fit_output(_result(b"AAAAAAAAZZZZZZZZ", stdout_dropped=1000), 100)
    assert out.stdout == "AAAAAAAA\n[... 1000 bytes omitted ...]\nZZZZZZZZ"


def test_characters_not_bytes_are_counted() -> None:
    text = "héllo wörld ✓ " * 10  # 140 characters, more bytes
    out = fit_output(_result(text.encode()), 140)
    assert out.stdout == text


def test_invalid_utf8_becomes_one_replacement_character_per_byte() -> None:
    out = fit_output(_result(b"ok \xff\xfe\x00 end"), 100)
    assert out.stdout == "ok \ufffd\ufffd\x00 end"


def test_timeout_has_no_exit_code() -> None:
    out = fit_output(_result(b"partial", exit_code=None, timed_out=True), 100)
    assert (out.stdout, out.exit_code, out.timed_out) == ("partial", None, True)


def test_a_cap_too_small_for_the_marker_still_holds() -> None:
    out = fit_output(_result(b"0123456789" * 10), 5)
    assert out.stdout == "01234"
    assert fit_output(_result(b"abc", b"def"), 0).stdout == ""


def test_capture_asks_the_sandbox_for_enough_bytes() -> None:
    assert capture_bytes(100) >= 400
    assert capture_bytes(7) % 2 == 0


def test_limits_resolve_timeouts_and_caps() -> None:
    limits = CommandLimits(default_timeout=30, max_timeout=60, default_max_output_length=1000)
    assert limits.timeout(None) == 30
    assert limits.timeout(0) == 30
    assert limits.timeout(1500) == 1.5
    assert limits.timeout(10_000_000) == 60
    assert limits.cap(None) == 1000
    assert limits.cap(-5) == 0
    assert limits.cap(10**12) == limits.max_output_length


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ConfigError, match="default_timeout"):
        CommandLimits(default_timeout=100, max_timeout=10)
    with pytest.raises(ConfigError, match="max_output_length"):
        CommandLimits(default_max_output_length=-1)


@given(
    stdout=st.binary(max_size=600),
    stderr=st.binary(max_size=600),
    dropped=st.integers(min_value=0, max_value=10**9),
    cap=st.integers(min_value=0, max_value=700),
)
def test_never_more_than_the_cap(stdout: bytes, stderr: bytes, dropped: int, cap: int) -> None:
    if dropped and len(stdout) < 2:
        dropped = 0
    out = fit_output(_result(stdout, stderr, stdout_dropped=dropped), cap)
    assert len(out.stdout) + len(out.stderr) <= cap
    # What is shown is valid text: no lone surrogates survive.
    (out.stdout + out.stderr).encode("utf-8")
    whole_out, whole_err = _escaped(stdout), _escaped(stderr)
    if not dropped and len(whole_out) + len(whole_err) <= cap:
        assert (out.stdout, out.stderr) == (whole_out, whole_err)


def _escaped(data: bytes) -> str:
    """The text a shell tool shows for ``data``: one U+FFFD per byte that is not UTF-8."""
    return re.sub("[\udc80-\udcff]", "\ufffd", data.decode("utf-8", "surrogateescape"))


@given(text=st.text(min_size=1, max_size=400), cap=st.integers(min_value=40, max_value=300))
def test_cut_text_is_head_marker_tail_of_the_original(text: str, cap: int) -> None:
    data = text.encode("utf-8", "surrogatepass")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return
    out = fit_output(_result(data), cap).stdout
    if len(text) <= cap:
        assert out == text
        return
    match = MARKER.search(out)
    assert match is not None
    head, tail = out[: match.start()], out[match.end() :]
    assert text.startswith(head)
    assert text.endswith(tail)
    assert int(match.group(1)) == len(data) - len((head + tail).encode())

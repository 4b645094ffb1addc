"""Pieces of the runner program tested directly: the bounded capture and the hello frame."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sandloop_runner import capture, common, files, framing, serve

from sandloop.sandboxes._runner_program import RUNNER_DIR


def test_capture_keeps_head_and_tail_with_bounded_memory() -> None:
    kept = capture.Capture(1000)
    chunk = bytes(range(256)) * 256  # 64 KiB
    for _ in range(2000):  # 128 MiB through the capture
        kept.feed(chunk)
        assert len(kept.head) + len(kept.tail) <= 1000 + 2 * 500 + common.CHUNK + len(chunk)
    body, dropped = kept.result()
    assert len(body) == 1000
    assert body[:500] == chunk[:500]
    assert body[500:] == chunk[-500:]
    assert dropped == 2000 * len(chunk) - 1000


def test_capture_under_the_cap_keeps_everything() -> None:
    kept = capture.Capture(1000)
    kept.feed(b"abc")
    kept.feed(b"def")
    assert kept.result() == (b"abcdef", 0)


def test_runner_says_hello_and_survives_stdin_eof(tmp_path: Path) -> None:
    """The runner is a standalone script: it greets, and exits cleanly when its input ends."""
    proc = subprocess.run(
        [sys.executable, str(RUNNER_DIR), str(tmp_path)],
        input=b"",
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (size,) = struct.unpack(">I", proc.stdout[:4])
    hello = json.loads(proc.stdout[4 : 4 + size])
    assert hello["id"] == 0
    assert hello["result"]["hello"] == "sandloop-runner"
    assert {"exec", "read", "write", "cancel"} <= set(hello["result"]["ops"])


def test_a_reply_over_the_frame_limit_is_an_error_not_a_broken_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client drops a channel that sends a frame over the limit: the runner must never send
    # one, so a request asking for too much fails alone.
    monkeypatch.setattr(framing, "MAX_FRAME", 4096)
    (tmp_path / "big").write_bytes(b"x" * 8192)
    read_fd, write_fd = os.pipe()
    try:
        runner = serve.Runner(str(tmp_path), -1, write_fd)
        runner.handle({"id": 7, "op": "read", "path": "big"})
        runner.handle({"id": 8, "op": "exec", "argv": ["head", "-c", "8192", "big"]})
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as fh:
            data = fh.read()
    finally:
        with contextlib.suppress(OSError):
            os.close(write_fd)
    replies = []
    while data:
        (size,) = struct.unpack(">I", data[:4])
        assert size <= 4096
        replies.append(json.loads(data[4 : 4 + size]))
        data = data[4 + size :]
    assert [(r["id"], r["ok"]) for r in replies] == [(7, False), (8, False)]
    assert replies[0]["error"]["reason"] == "too_large"
    assert "max_output" in replies[1]["error"]["message"]


def test_making_a_runner_leaves_the_process_umask_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A runner may share its process with other threads (as here, in a test, or a host that
    # serves file operations in-process) that are creating files: a umask set to 0 even
    # briefly would make those world-writable.
    mask = os.umask(0o022)
    os.umask(mask)

    def no_umask(value: int) -> int:
        raise AssertionError(f"os.umask({value:o}) called")

    monkeypatch.setattr(os, "umask", no_umask)
    runner = serve.Runner(str(tmp_path), -1, -1)
    assert runner.default_mode == 0o666 & ~mask


def test_a_walk_through_a_link_the_kernel_followed_anyway_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # gVisor's runsc follows a final symlink despite O_NOFOLLOW when O_DIRECTORY is given. Here
    # the kernel is made to behave so, and the link to be swapped in between the runner's look
    # at the name (a directory then) and its open: the walk must notice and refuse.
    from sandloop_runner import paths

    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("outside secret")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "d").symlink_to(tmp_path / "outside")
    real_open = os.open

    def runsc_open(name: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if flags & os.O_DIRECTORY:
            flags &= ~os.O_NOFOLLOW
        return real_open(name, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(paths, "_readlink", lambda dir_fd, name: None)  # "it was a directory"
    monkeypatch.setattr(os, "open", runsc_open)
    runner = serve.Runner(str(tmp_path / "ws"), -1, -1)
    with pytest.raises(common.FileOpError) as info:
        files.op_read(runner, {"path": "d/secret.txt"})
    assert info.value.reason == "escape"
    with pytest.raises(common.FileOpError):
        files.op_listdir(runner, {"path": "d"})

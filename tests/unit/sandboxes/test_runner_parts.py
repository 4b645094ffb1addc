"""Pieces of the runner program tested directly: the bounded capture and the hello frame."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

from sandloop.sandboxes import _runner
from sandloop.sandboxes._runner_backed import RUNNER_PATH


def test_capture_keeps_head_and_tail_with_bounded_memory() -> None:
    capture = _runner.Capture(1000)
    chunk = bytes(range(256)) * 256  # 64 KiB
    for _ in range(2000):  # 128 MiB through the capture
        capture.feed(chunk)
        assert len(capture.head) + len(capture.tail) <= 1000 + 2 * 500 + _runner.CHUNK + len(chunk)
    body, dropped = capture.result()
    assert len(body) == 1000
    assert body[:500] == chunk[:500]
    assert body[500:] == chunk[-500:]
    assert dropped == 2000 * len(chunk) - 1000


def test_capture_under_the_cap_keeps_everything() -> None:
    capture = _runner.Capture(1000)
    capture.feed(b"abc")
    capture.feed(b"def")
    assert capture.result() == (b"abcdef", 0)


def test_runner_says_hello_and_survives_stdin_eof(tmp_path: Path) -> None:
    """The runner is a standalone script: it greets, and exits cleanly when its input ends."""
    proc = subprocess.run(
        [sys.executable, str(RUNNER_PATH), str(tmp_path)],
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

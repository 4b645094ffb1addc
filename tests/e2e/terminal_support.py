"""The real ``sandloop`` CLI in a pseudo-terminal, its screen emulated by ``pyte``.

What a user sees is what the terminal shows after every escape sequence the display sent (the
spinner's redraws, erased lines): a pyte screen replays them, so tests assert on screen lines,
and ``tools/capture_live_run.py`` saves them as text.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence

import pyte


class Terminal:
    """A process on a pseudo-terminal of ``columns`` x ``lines`` with an emulated screen.

    Args:
        argv: The command.
        env: Its environment (``TERM``, ``COLUMNS`` and ``LINES`` are set here).
        columns: Terminal width.
        lines: Terminal height (tall enough that nothing scrolls off in a test).
    """

    def __init__(
        self, argv: Sequence[str], *, env: Mapping[str, str], columns: int = 100, lines: int = 60
    ) -> None:
        self.screen = pyte.Screen(columns, lines)
        self._stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        controller, worker = pty.openpty()
        os.set_blocking(controller, False)
        # The window size the process asks the terminal for (rich reads it).
        fcntl.ioctl(worker, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        full_env = dict(env, TERM="xterm-256color", COLUMNS=str(columns), LINES=str(lines))
        self.process = subprocess.Popen(
            list(argv),
            stdin=worker,
            stdout=worker,
            stderr=worker,
            env=full_env,
            start_new_session=True,
        )
        os.close(worker)
        self._fd = controller

    def pump(self, seconds: float = 0.05) -> bool:
        """Feed what the process wrote within ``seconds`` to the screen; False at its end."""
        ready, _, _ = select.select([self._fd], [], [], seconds)
        if not ready:
            return True
        try:
            data = os.read(self._fd, 65536)
        except OSError:  # EIO: the process and every holder of the terminal are gone
            return False
        if not data:
            return False
        self.raw += data
        self._stream.feed(data)
        return True

    def lines(self) -> list[str]:
        """The screen's rows, right-trimmed, trailing empty rows dropped."""
        rows = [row.rstrip() for row in self.screen.display]
        while rows and not rows[-1]:
            rows.pop()
        return rows

    def text(self) -> str:
        return "\n".join(self.lines())

    def wait_for(self, seen: Callable[[str], bool], *, timeout: float = 120) -> str:
        """Pump until ``seen(screen text)``; the screen text then. Fails past ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = self.pump()
            text = self.text()
            if seen(text):
                return text
            if not alive:
                break
        raise AssertionError(f"the screen never showed what was expected:\n{self.text()}")

    def finish(self, *, timeout: float = 120) -> int:
        """Pump until the process exits; its exit status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pump():
            if self.process.poll() is not None:
                while self.pump(0.2):  # what it wrote last
                    pass
                break
        try:
            return self.process.wait(timeout=max(deadline - time.monotonic(), 1))
        finally:
            self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

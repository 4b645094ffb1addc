"""A channel over plain descriptors: a local runner's pipes, or a connected Unix socket.

The runner protocol is one small frame each way per call, so a round trip is mostly overhead:
asyncio's transports and anyio's stream wrappers cost a few event-loop turns and buffer copies
per frame, which a subprocess round trip does not pay. :class:`FdStream` reads and writes the
descriptors itself (non-blocking ``read``/``write``, waiting with ``anyio.wait_readable`` /
``wait_writable`` only when the descriptor has nothing or is full): a reply costs one wait and
one ``read``, a request one ``write``.

Each operation still passes through the event loop at least once when it had to wait (it
waited), and a ``receive`` that found data at once yields to the loop before it returns: a reader
fed faster than it reads (a command flooding its output) never starves the other tasks.
"""

from __future__ import annotations

import errno
import os
import socket
from contextlib import suppress

import anyio
import anyio.abc
import anyio.lowlevel

__all__ = ("FdStream",)

_CLOSED = (errno.EBADF,)


class FdStream(anyio.abc.ByteStream):
    """A byte stream reading ``read_fd`` and writing ``write_fd`` (the same for a socket).

    Args:
        read_fd: The descriptor to read; made non-blocking, owned (closed) by the stream.
        write_fd: The descriptor to write; made non-blocking, owned (closed) by the stream.
    """

    def __init__(self, read_fd: int, write_fd: int) -> None:
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._closed = False

    @classmethod
    def of_socket(cls, sock: socket.socket) -> FdStream:
        """The stream over a connected socket (which it takes over)."""
        fd = sock.detach()
        return cls(fd, fd)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        waited = False
        while True:
            if self._closed:
                raise anyio.ClosedResourceError
            try:
                data = os.read(self._read_fd, max_bytes)
            except BlockingIOError:
                await anyio.wait_readable(self._read_fd)
                waited = True
                continue
            except OSError as exc:
                raise self._broken(exc) from exc
            if not data:
                raise anyio.EndOfStream
            if not waited:
                await anyio.lowlevel.checkpoint()
            return data

    def send_nowait(self, item: bytes | memoryview) -> int:
        """Write what the descriptor takes now, without waiting: the number of bytes written
        (``0`` when it is full). The caller sends the rest with :meth:`send`."""
        if self._closed:
            raise anyio.ClosedResourceError
        try:
            return os.write(self._write_fd, item)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise self._broken(exc) from exc

    async def send(self, item: bytes) -> None:
        await anyio.lowlevel.checkpoint_if_cancelled()
        view = memoryview(item)
        while view:
            sent = self.send_nowait(view)
            if not sent:
                await anyio.wait_writable(self._write_fd)
            view = view[sent:]

    def _broken(self, exc: OSError) -> Exception:
        if self._closed or exc.errno in _CLOSED:
            return anyio.ClosedResourceError()
        return anyio.BrokenResourceError()

    async def send_eof(self) -> None:
        # The runner protocol never needs it (the runner exits on ``shutdown``).
        raise NotImplementedError("the runner protocol does not use EOF")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        fds = {self._read_fd, self._write_fd}
        for fd in fds:
            anyio.notify_closing(fd)  # wake a task waiting to read or write
        for fd in fds:
            with suppress(OSError):
                os.close(fd)
        await anyio.lowlevel.checkpoint()

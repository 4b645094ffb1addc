"""Channels: async byte streams to a runner.

``LocalSandbox`` uses its subprocess's pipes directly (``StapledByteStream``). For a container the
channel is the engine's *attach* connection: a socket carrying our writes to the runner's stdin and,
from the engine, the runner's stdout and stderr multiplexed in frames of
``[stream, 0, 0, 0, size (4 bytes, big-endian)] + payload`` (the format of a container started
without a TTY; ``docker exec`` sockets use it too). :class:`MuxSocket` reads those frames;
:class:`AttachChannel` turns them into a plain byte stream of the runner's stdout and keeps the
tail of its stderr for error messages.

The socket may be a TLS socket (an engine reached over TCP with TLS): its reads and writes then
wait on ``SSLWantRead``/``SSLWantWrite`` as a plain socket waits on ``EAGAIN``, and a half-close
sends TLS's ``close_notify`` and keeps reading.

Knows sockets, not the docker SDK: a later backend (a remote engine, a Kubernetes attach
websocket) adds its own channel here and reuses everything above it.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from contextlib import suppress

import anyio
import anyio.abc

__all__ = ("STDERR", "STDOUT", "AttachChannel", "MuxSocket")

_FRAME = struct.Struct(">BxxxI")
STDOUT, STDERR = 1, 2
_STDERR_KEEP = 4096


class MuxSocket:
    """A connected engine socket (after the HTTP upgrade) speaking the multiplexed format.

    Args:
        sock: The socket; this object owns and closes it.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._raw = bytearray()
        self.closed = False

    async def read_frame(self) -> tuple[int, bytes]:
        """The next ``(stream, payload)`` frame.

        Raises:
            anyio.EndOfStream: The engine closed the stream (the process ended).
        """
        while True:
            if len(self._raw) >= _FRAME.size:
                kind, size = _FRAME.unpack_from(self._raw)
                if len(self._raw) >= _FRAME.size + size:
                    payload = bytes(self._raw[_FRAME.size : _FRAME.size + size])
                    del self._raw[: _FRAME.size + size]
                    return kind, payload
            await self._recv_more()

    async def _recv_more(self) -> None:
        while True:
            if self.closed:
                raise anyio.ClosedResourceError
            try:
                # A TLS socket may hold decrypted bytes the descriptor no longer shows as
                # readable: it is always read first, and waited on only when it has nothing.
                chunk = self._sock.recv(262144)
            except (BlockingIOError, ssl.SSLWantReadError):
                await anyio.wait_readable(self._sock)
                continue
            except ssl.SSLWantWriteError:
                await anyio.wait_writable(self._sock)
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            if not chunk:
                raise anyio.EndOfStream
            self._raw += chunk
            return

    async def send(self, data: bytes) -> None:
        """Write all of ``data`` to the process's stdin."""
        view = memoryview(data)
        while view:
            if self.closed:
                raise anyio.ClosedResourceError
            try:
                sent = self._sock.send(view)
            except (BlockingIOError, ssl.SSLWantWriteError):
                await anyio.wait_writable(self._sock)
                continue
            except ssl.SSLWantReadError:
                await anyio.wait_readable(self._sock)
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            view = view[sent:]

    def shutdown_write(self) -> None:
        """Close the process's stdin (the engine passes the half-close on)."""
        if isinstance(self._sock, ssl.SSLSocket):
            # close_notify, then reading goes on until the engine closes its side (a shutdown
            # of the descriptor would end the TLS session both ways).
            with suppress(ssl.SSLWantReadError, ssl.SSLWantWriteError):
                self._sock.unwrap()
            return
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise anyio.BrokenResourceError from exc

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            anyio.notify_closing(self._sock)  # wake a task waiting to read or write
            self._sock.close()


class AttachChannel(anyio.abc.ByteStream):
    """An engine attach socket as an anyio byte stream of the runner's stdout.

    Once the runner talks over another channel, :meth:`drain` hands the stream to a thread that
    reads it to its end.

    Args:
        sock: A connected socket after the HTTP upgrade; the channel owns and closes it.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._mux = MuxSocket(sock)
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._lock = threading.Lock()
        self._drain: _Drain | None = None

    @property
    def stderr_tail(self) -> str:
        """The last few KiB the runner wrote to stderr (for error messages)."""
        with self._lock:
            return self._stderr.decode("utf-8", "replace")

    def _keep_stderr(self, data: bytes | memoryview) -> None:
        with self._lock:
            self._stderr += data
            del self._stderr[:-_STDERR_KEEP]

    def drain(self) -> None:
        """Read the stream from now on in a thread, to its end or :meth:`aclose`: stderr's tail
        kept (for error messages, as before), stdout dropped. For when the runner talks over
        another channel: what the sandbox still writes to its stdout or stderr (the runner's
        messages, a command writing there) then neither blocks its writer nor piles up here.
        ``receive`` and ``send`` are not to be used after."""
        if self._drain is None:
            self._stdout.clear()
            self._drain = _Drain(self._mux, self._keep_stderr)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        while not self._stdout:
            kind, payload = await self._mux.read_frame()
            if kind == STDOUT:
                self._stdout += payload
            elif kind == STDERR:
                self._keep_stderr(payload)
        data = bytes(self._stdout[:max_bytes])
        del self._stdout[:max_bytes]
        return data

    async def send(self, item: bytes) -> None:
        await self._mux.send(item)

    async def send_eof(self) -> None:
        # The protocol never needs stdin EOF.
        raise NotImplementedError("the runner protocol does not use EOF")

    async def aclose(self) -> None:
        drain, self._drain = self._drain, None
        if drain is not None:
            drain.stop()
        await self._mux.aclose()


class _Drain:
    """A thread reading a multiplexed stream to its end (or :meth:`stop`): each stderr payload
    to ``keep``, stdout payloads dropped. Frames are taken apart as they come, never held
    whole, so what it holds is bounded by one read."""

    def __init__(self, mux: MuxSocket, keep: Callable[[memoryview], None]) -> None:
        self._sock = mux._sock
        self._keep = keep
        self._head = bytearray()
        self._kind = 0
        self._left = 0
        self._stop_r, self._stop_w = os.pipe()
        pending = bytes(mux._raw)  # read already, not yet taken apart
        mux._raw.clear()
        self._feed(memoryview(pending))
        self._thread = threading.Thread(target=self._run, name="sandloop-attach-drain", daemon=True)
        self._thread.start()

    def _feed(self, view: memoryview) -> None:
        while view:
            if not self._left:
                need = _FRAME.size - len(self._head)
                self._head += view[:need]
                view = view[need:]
                if len(self._head) == _FRAME.size:
                    self._kind, self._left = _FRAME.unpack(self._head)
                    self._head.clear()
                continue
            part = view[: self._left]
            view = view[self._left :]
            self._left -= len(part)
            if self._kind == STDERR:
                self._keep(part)

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._sock, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        try:
            while True:
                try:
                    chunk = self._sock.recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError) as exc:
                    # (TLS wanting to write is rare: a short poll then, instead of a spin.)
                    wait = 50 if isinstance(exc, ssl.SSLWantWriteError) else None
                    if any(fd == self._stop_r for fd, _ in poller.poll(wait)):
                        return
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                self._feed(memoryview(chunk))
        finally:
            os.close(self._stop_r)

    def stop(self) -> None:
        """End the thread (it reads nothing more) and wait for it."""
        with suppress(OSError):
            os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        os.close(self._stop_w)

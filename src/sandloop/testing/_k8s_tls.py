"""TLS in front of the Kubernetes API double, as a real API server has it.

Part of ``sandloop.testing`` (see ``k8s_double``). :class:`TLSFront` makes a throwaway
certificate authority, a server certificate for 127.0.0.1 and a client certificate (with the
``openssl`` command, as ``tls_engine`` does), and relays each TLS connection that shows a client
certificate of that authority, byte for byte, to the double's plain HTTP port (the attach
websocket passes through as it is). TLS is terminated on an asyncio loop of its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import threading
from pathlib import Path

from sandloop.testing.tls_engine import _issue, _new_ca

__all__ = ("TLSFront",)


class TLSFront:
    """``https://127.0.0.1:<port>`` relayed to ``127.0.0.1:<target_port>``.

    Args:
        folder: Where the certificates go (``ca/``, ``server/``, ``client/``).
        target_port: The double's plain HTTP port.
    """

    def __init__(self, folder: Path, target_port: int) -> None:
        if shutil.which("openssl") is None:
            raise RuntimeError("the double's TLS needs the openssl command")
        self.folder, self.target_port = folder, target_port
        _new_ca(folder / "ca", "sandloop test cluster CA")
        _issue(folder / "ca", folder / "server", "serverAuth", "subjectAltName=IP:127.0.0.1\n")
        _issue(folder / "ca", folder / "client", "clientAuth")
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def ca(self) -> Path:
        return self.folder / "ca" / "ca.pem"

    @property
    def client_cert(self) -> tuple[Path, Path]:
        """The client certificate and key the front accepts."""
        return self.folder / "client" / "cert.pem", self.folder / "client" / "key.pem"

    def _context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(
            self.folder / "server" / "cert.pem", self.folder / "server" / "key.pem"
        )
        context.load_verify_locations(self.ca)
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._listen())
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(30)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=self._context())
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._open.update((writer, up_writer))

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ssl.SSLError):
                while chunk := await source.read(262144):
                    sink.write(chunk)
                    await sink.drain()
            with contextlib.suppress(OSError, RuntimeError, ssl.SSLError):
                sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._open.difference_update((writer, up_writer))

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._open):
                writer.close()

        asyncio.run_coroutine_threadsafe(shut(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

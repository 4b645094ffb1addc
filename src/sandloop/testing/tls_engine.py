"""A Docker engine "elsewhere" for tests: a TLS endpoint on 127.0.0.1 in front of a local one.

:class:`EngineTLSProxy` makes a throwaway certificate authority, a server certificate for
127.0.0.1 and a client certificate (with the ``openssl`` command), then relays each TLS
connection that shows a client certificate of that authority, byte for byte, to the local
engine's Unix socket. The engine's hijacked connections (attach, exec) pass through as they
are. That is how ``DockerSandbox(docker_host=..., tls=...)`` is tested without a second machine:

    with EngineTLSProxy(tmp_path) as engine:
        async with DockerSandbox(docker_host=engine.url, tls=str(engine.client_certs),
                                 mount="copy", workspace=...) as sandbox:
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ("EngineTLSProxy",)

_DAYS = "2"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _new_ca(folder: Path, name: str) -> None:
    """``ca.pem`` and ``ca-key.pem`` of a new certificate authority in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", _DAYS, "-subj", f"/CN={name}",
        cwd=folder,
    )  # fmt: skip


def _issue(ca: Path, folder: Path, usage: str, extra: str = "") -> None:
    """``cert.pem`` and ``key.pem`` in ``folder``, signed by the authority in ``ca``."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "key.pem", "-out", "req.csr", "-subj", f"/CN=sandloop test {usage}",
        cwd=folder,
    )  # fmt: skip
    (folder / "ext.cnf").write_text(f"extendedKeyUsage={usage}\n{extra}")
    _openssl(
        "x509", "-req", "-in", "req.csr", "-CA", str(ca / "ca.pem"), "-CAkey",
        str(ca / "ca-key.pem"), "-CAcreateserial", "-out", "cert.pem", "-days", _DAYS,
        "-extfile", "ext.cnf",
        cwd=folder,
    )  # fmt: skip


class EngineTLSProxy:
    """TLS with client certificates on ``127.0.0.1:<port>``, relayed to a local engine.

    Args:
        folder: Where the certificates go (``ca/``, ``server/``, ``client/``).
        engine_socket: The local engine's Unix socket.
    """

    def __init__(self, folder: Path, *, engine_socket: str = "/var/run/docker.sock") -> None:
        if shutil.which("openssl") is None:
            raise RuntimeError("EngineTLSProxy needs the openssl command")
        self.folder, self.engine_socket = folder, engine_socket
        _new_ca(folder / "ca", "sandloop test CA")
        _issue(folder / "ca", folder / "server", "serverAuth", "subjectAltName=IP:127.0.0.1\n")
        _issue(folder / "ca", folder / "client", "clientAuth")
        shutil.copy(folder / "ca" / "ca.pem", folder / "client" / "ca.pem")
        self.connections = 0  # relayed connections (their TLS handshake passed)
        self._open: set[asyncio.StreamWriter] = set()
        self._relays: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The ``docker_host`` to give: ``tcp://127.0.0.1:<port>``."""
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def client_certs(self) -> Path:
        """A ``DOCKER_CERT_PATH`` directory: ``ca.pem``, and a client ``cert.pem``/``key.pem``."""
        return self.folder / "client"

    def untrusted_client_certs(self) -> Path:
        """The same layout, with a client certificate of another authority (to be refused)."""
        other = self.folder / "other-ca"
        if not (other / "client" / "cert.pem").is_file():
            _new_ca(other, "some other CA")
            _issue(other, other / "client", "clientAuth")
            shutil.copy(self.folder / "ca" / "ca.pem", other / "client" / "ca.pem")
        return other / "client"

    def _context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server = self.folder / "server"
        context.load_cert_chain(server / "cert.pem", server / "key.pem")
        context.load_verify_locations(self.folder / "ca" / "ca.pem")
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def __enter__(self) -> Self:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._start())
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="engine-tls-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("EngineTLSProxy did not start")
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._relay, "127.0.0.1", 0, ssl=self._context(), ssl_handshake_timeout=10
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _relay(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        self._open.add(client_out)
        try:
            engine_in, engine_out = await asyncio.open_unix_connection(self.engine_socket)
        except OSError:
            client_out.close()
            return
        self._open.add(engine_out)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, half: bool) -> None:
            with contextlib.suppress(OSError, ssl.SSLError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError, ssl.SSLError, RuntimeError):
                if half and dst.can_write_eof():
                    dst.write_eof()  # the client's close_notify: the engine sees stdin end
                else:
                    dst.close()

        await asyncio.gather(pump(client_in, engine_out, True), pump(engine_in, client_out, False))
        for writer in (engine_out, client_out):
            writer.close()
            self._open.discard(writer)
        self._relays.discard(task)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, server = self._loop, self._server
        if loop is not None and server is not None:

            async def stop() -> None:
                server.close()
                for writer in list(self._open):
                    writer.transport.abort()  # each relay then reads its end and finishes
                if self._relays:
                    await asyncio.wait(list(self._relays), timeout=5)

            asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

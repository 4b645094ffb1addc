"""The channel to a pod's runner: the pods ``attach`` websocket, as an anyio byte stream.

Part of ``sandboxes.kubernetes``. The official client's ``stream()`` is blocking and
thread-based; this speaks the websocket itself on an anyio socket, so reads, writes and
cancellation stay on the event loop. The connection takes the client configuration's server,
TLS settings (CA, client certificate, server name, ``verify_ssl``) and credentials (the bearer
token or what an exec/OIDC plugin refreshed into it), so it reaches whatever the REST calls
reach; an HTTP proxy in the configuration is refused (not supported here).

:class:`AttachChannel` gives the runner's stdout (channel 1) as the stream, keeps the tail of
stderr (channel 2) and the server's status (channel 3) for error messages, and writes to stdin
(channel 0), split into messages of at most ``_STDIN_CHUNK`` bytes.
"""

from __future__ import annotations

import json
import ssl
import struct
from contextlib import suppress
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import anyio
import anyio.abc
import kubernetes.client

from sandloop.errors import (
    ConfigError,
    SandboxEngineError,
    SandboxStartError,
    SandboxUnavailableError,
)
from sandloop.sandboxes.kubernetes._websocket import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    FrameReader,
    ProtocolError,
    accept_key,
    encode_frame,
    new_key,
)

__all__ = ("AttachChannel", "connect_attach")

#: The sub-protocols offered: v4 (a JSON Status on channel 3), then the original.
_PROTOCOLS = ("v4.channel.k8s.io", "channel.k8s.io")
_STDIN_CHUNK = 1 << 20
_STDERR_KEEP = 4096
_MAX_HEAD = 65536


def _ssl_context(configuration: kubernetes.client.Configuration) -> ssl.SSLContext:
    if configuration.verify_ssl:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
        if configuration.assert_hostname is False:
            context.check_hostname = False
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    return context


def _auth_headers(configuration: kubernetes.client.Configuration) -> list[str]:
    headers = []
    settings: dict[str, Any] = dict(configuration.auth_settings())
    for setting in settings.values():
        if setting.get("in") == "header" and setting.get("value"):
            headers.append(f"{setting['key']}: {setting['value']}")
    return headers


async def connect_attach(
    configuration: kubernetes.client.Configuration,
    namespace: str,
    pod: str,
    container: str,
    *,
    timeout: float,
) -> AttachChannel:
    """Open the pod's attach websocket (stdin, stdout, stderr, no TTY).

    Raises:
        SandboxEngineError: The server refused the attach (its status and message).
        SandboxUnavailableError: The server could not be reached.
        SandboxStartError: The answer was not a valid websocket upgrade.
    """
    if configuration.proxy:
        raise ConfigError(
            "KubernetesSandbox cannot attach through an HTTP proxy (proxy= in the configuration)"
        )
    url = urlsplit(configuration.host)
    secure = url.scheme == "https"
    host = url.hostname or "localhost"
    port = url.port or (443 if secure else 80)
    query = urlencode(
        {
            "container": container,
            "stdin": "true",
            "stdout": "true",
            "stderr": "true",
            "tty": "false",
        }
    )
    base = url.path.rstrip("/")
    path = f"{base}/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}/attach?{query}"
    key = new_key()
    request = [
        f"GET {path} HTTP/1.1",
        f"Host: {url.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Protocol: {', '.join(_PROTOCOLS)}",
        *_auth_headers(configuration),
    ]
    streams: list[anyio.abc.ByteStream] = []  # closed when anything below fails
    try:
        with anyio.fail_after(timeout):
            streams.append(await anyio.connect_tcp(host, port))
            if secure:
                from anyio.streams.tls import TLSStream

                streams.append(
                    await TLSStream.wrap(
                        streams[-1],
                        ssl_context=_ssl_context(configuration),
                        server_side=False,
                        hostname=configuration.tls_server_name or host,
                        standard_compatible=False,
                    )
                )
            await streams[-1].send(("\r\n".join(request) + "\r\n\r\n").encode("latin-1"))
            protocol, rest = await _read_upgrade(streams[-1], key)
    except BaseException as exc:
        for opened in reversed(streams):
            await anyio.aclose_forcefully(opened)
        where = f"attaching to pod {namespace}/{pod}"
        if isinstance(exc, TimeoutError):
            raise SandboxStartError(f"{where}: no answer within {timeout:g} s") from None
        if isinstance(exc, OSError | ssl.SSLError | anyio.BrokenResourceError | anyio.EndOfStream):
            raise SandboxUnavailableError(f"{where}: {exc!r}") from exc
        raise
    stream = streams[-1]
    return AttachChannel(stream, protocol, rest)


async def _read_upgrade(stream: anyio.abc.ByteStream, key: str) -> tuple[str, bytes]:
    head = bytearray()
    while b"\r\n\r\n" not in head:
        if len(head) > _MAX_HEAD:
            raise SandboxStartError("attach: the server's answer has no end of headers")
        head += await stream.receive()
    raw, _, rest = bytes(head).partition(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
    }
    if code != 101:
        body = await _rest_of_body(stream, rest, headers)
        try:
            message = str(json.loads(body).get("message"))
        except (ValueError, AttributeError):
            message = body.decode("utf-8", "replace")[:500] or lines[0]
        raise SandboxEngineError(f"attaching to the pod: {message} (HTTP {code})", status=code)
    if headers.get("sec-websocket-accept") != accept_key(key):
        raise SandboxStartError("attach: the server's websocket accept key is wrong")
    protocol = headers.get("sec-websocket-protocol", "")
    if protocol not in _PROTOCOLS:
        raise SandboxStartError(f"attach: the server chose an unknown sub-protocol {protocol!r}")
    return protocol, rest


async def _rest_of_body(
    stream: anyio.abc.ByteStream, rest: bytes, headers: dict[str, str]
) -> bytes:
    size = int(headers.get("content-length") or 0)
    body = bytearray(rest)
    with anyio.move_on_after(5):
        while len(body) < min(size, _MAX_HEAD):
            body += await stream.receive()
    return bytes(body[:size])


class AttachChannel(anyio.abc.ByteStream):
    """An open attach websocket as the byte stream of the runner's stdout.

    Args:
        stream: The connection after the upgrade; the channel owns and closes it.
        protocol: The negotiated sub-protocol.
        rest: Bytes that arrived after the upgrade's headers.
    """

    def __init__(self, stream: anyio.abc.ByteStream, protocol: str, rest: bytes = b"") -> None:
        self._stream = stream
        self.protocol = protocol
        self._reader = FrameReader(expect_masked=False)
        self._pending = bytearray(rest)
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._send_lock = anyio.Lock()
        self._closed = False
        #: The server's last message on the error channel (a Status dict in v4), if any.
        self.status: dict[str, Any] | None = None

    @property
    def stderr_tail(self) -> str:
        """The last few KiB the runner wrote to stderr, and the server's status (for errors)."""
        said = self._stderr.decode("utf-8", "replace")
        if self.status is not None and self.status.get("status") != "Success":
            said += f" [{self.status.get('message') or self.status}]"
        return said

    async def _frames(self) -> None:
        """Read more from the connection and sort the messages it completes."""
        data = bytes(self._pending) if self._pending else await self._stream.receive()
        self._pending.clear()
        try:
            messages = self._reader.feed(data)
        except ProtocolError as exc:
            raise anyio.BrokenResourceError(f"attach websocket: {exc}") from exc
        for message in messages:
            if message.opcode == CLOSE:
                raise anyio.EndOfStream
            if message.opcode == PING:
                await self._send_frame(PONG, message.data)
            elif message.opcode in (BINARY, TEXT) and len(message.data) > 1:
                self._sort(message.data[0], message.data[1:])

    def _sort(self, channel: int, payload: bytes) -> None:
        if channel == 1:
            self._stdout += payload
        elif channel == 2:
            self._stderr += payload
            del self._stderr[:-_STDERR_KEEP]
        elif channel == 3:
            try:
                self.status = json.loads(payload)
            except ValueError:
                self.status = {"status": "Failure", "message": payload.decode("utf-8", "replace")}

    async def receive(self, max_bytes: int = 65536) -> bytes:
        while not self._stdout:
            if self._closed:
                raise anyio.ClosedResourceError
            await self._frames()
        data = bytes(self._stdout[:max_bytes])
        del self._stdout[:max_bytes]
        return data

    async def _send_frame(self, opcode: int, payload: bytes) -> None:
        async with self._send_lock:
            await self._stream.send(encode_frame(opcode, payload, masked=True))

    async def send(self, item: bytes) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        view = memoryview(item)
        for start in range(0, len(view), _STDIN_CHUNK):
            await self._send_frame(BINARY, b"\x00" + bytes(view[start : start + _STDIN_CHUNK]))

    async def send_eof(self) -> None:
        raise NotImplementedError("the runner protocol does not use EOF")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        gone = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
        with anyio.move_on_after(1, shield=True), suppress(*gone):
            await self._send_frame(CLOSE, struct.pack(">H", 1000))
        await self._stream.aclose()

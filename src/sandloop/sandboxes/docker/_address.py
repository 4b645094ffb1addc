"""Which Docker engine a sandbox talks to: the local one, or one elsewhere over TCP+TLS or SSH.

Part of ``sandboxes.docker``. :class:`EngineAddress` is configuration (a ``DockerSandbox``
describes it in ``to_dict()``: the address and the path of a certificate directory, never key
material) and builds the SDK client from it. Without an address the standard variables decide,
as for the ``docker`` CLI: ``DOCKER_HOST``, ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``.

A certificate directory holds ``ca.pem`` (the engine's CA), ``cert.pem`` and ``key.pem`` (the
client's), the layout of ``DOCKER_CERT_PATH``. An engine reached over TCP or SSH is *remote*:
its containers cannot bind-mount this machine's directories. ``ssh://[user@]host[:port]`` is
reached through an ``ssh -L`` tunnel to the remote engine's socket (``_ssh``), which the client
owns and stops when it is closed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.tls

from sandloop.errors import ConfigError, SandboxUnavailableError
from sandloop.sandboxes.docker._engine import engine_errors
from sandloop.sandboxes.docker._ssh import SSHTunnel, ssh_target

__all__ = ("EngineAddress", "connect", "is_remote")

_SCHEMES = ("unix://", "tcp://", "https://", "http://", "ssh://", "npipe://")


def is_remote(client: docker.DockerClient) -> bool:
    """Whether the client's engine is reached over the network (TCP or SSH), not a local socket.

    A TCP engine on 127.0.0.1 counts as remote too: it may be a tunnel to another machine.
    """
    if isinstance(client, _TunnelledClient):
        return True
    base = str(client.api.base_url)
    return not base.startswith(("http+docker://localhost", "http+docker://localnpipe"))


@dataclass(frozen=True, slots=True)
class EngineAddress:
    """Where the engine is and how to trust it.

    Args:
        host: ``unix:///path``, ``tcp://host:port`` or ``ssh://[user@]host[:port]``; ``None``: the
            environment (``DOCKER_HOST``, else the local socket).
        tls: With a ``tcp://`` host: ``True`` for TLS with the certificates in
            ``DOCKER_CERT_PATH`` (default ``~/.docker``), or the path of such a directory.
            ``None``/``False``: no TLS (an engine's plain TCP port is root on its host).
    """

    host: str | None = None
    tls: bool | str | None = None

    def __post_init__(self) -> None:
        if self.host is not None and not self.host.startswith(_SCHEMES):
            raise ConfigError(
                f"docker_host {self.host!r} is not unix://, tcp:// or ssh:// (e.g. tcp://host:2376)"
            )
        if self.host is not None and self.host.startswith("ssh://"):
            ssh_target(self.host)  # a malformed address fails here, not at start
        if self.tls and not (self.host or "").startswith(("tcp://", "https://")):
            raise ConfigError("tls= needs a docker_host of tcp://HOST:PORT")

    def client(self, timeout: float) -> docker.DockerClient:
        """A connected client (``ping`` answered).

        Raises:
            ConfigError: a certificate file is missing.
            SandboxUnavailableError: no engine answers there (over TLS, the message names the
                certificates: an engine refusing a client certificate just closes the
                connection, as a dead one would).
        """
        host, tls = self._resolved()
        try:
            return _connected(host, tls, timeout)
        except SandboxUnavailableError as exc:
            if not tls:
                raise
            raise SandboxUnavailableError(
                f"{exc} (over TLS this is also how an engine refuses a client certificate "
                f"it does not trust: check the certificates given to reach {host})"
            ) from exc

    def _resolved(self) -> tuple[str | None, bool | str | None]:
        """The address and TLS to use: as given, else ``DOCKER_HOST`` and ``DOCKER_TLS_VERIFY``
        (any value but empty and ``0``: TLS with ``DOCKER_CERT_PATH``), as the docker CLI does."""
        if self.host is not None:
            return self.host, self.tls
        host = os.environ.get("DOCKER_HOST") or None
        verify = os.environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
        return host, (self.tls or verify) if host else None


def _connected(host: str | None, tls: bool | str | None, timeout: float) -> docker.DockerClient:
    if host is not None and host.startswith("ssh://"):
        # DOCKER_TLS_VERIFY is for TCP engines; over SSH the docker CLI ignores it too.
        return _over_ssh(host, timeout)
    with engine_errors(f"connecting to Docker{f' at {host}' if host else ''}"):
        if host is None:  # the local socket
            client = docker.DockerClient(timeout=int(timeout))
        else:
            client = docker.DockerClient(
                base_url=host,
                tls=_tls_config(tls) or False,
                timeout=int(timeout),
            )
        try:
            client.ping()
        except BaseException:
            client.close()
            raise
        return client


class _TunnelledClient(docker.DockerClient):
    """A client for an engine behind an :class:`SSHTunnel`; closing it stops the tunnel."""

    def __init__(self, tunnel: SSHTunnel, base_url: str, timeout: float) -> None:
        super().__init__(base_url=base_url, timeout=int(timeout))
        self.tunnel = tunnel

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.tunnel.close()


def _over_ssh(host: str, timeout: float) -> docker.DockerClient:
    tunnel = SSHTunnel(host)
    local = tunnel.open(timeout)
    try:
        with engine_errors(f"connecting to Docker at {host}"):
            client = _TunnelledClient(tunnel, local, timeout)
            try:
                client.ping()
            except BaseException:
                client.close()
                raise
            return client
    except BaseException:
        tunnel.close()
        raise


def connect(timeout: float = 60) -> docker.DockerClient:
    """A client for the environment's engine: ``DOCKER_HOST`` (with ``DOCKER_TLS_VERIFY`` and
    ``DOCKER_CERT_PATH``), else the local socket. The CLI's commands and the images use it."""
    return EngineAddress().client(timeout)


class _EngineTLS(docker.tls.TLSConfig):
    """docker-py's TLS settings, trusting only the engine's CA.

    requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` replace a session's own CA file
    (psf/requests#3829), which would verify the engine against the system's CAs instead: the
    session ignores the environment (proxies included: an engine is reached directly).
    """

    def configure_client(self, client: Any) -> None:
        super().configure_client(client)
        client.trust_env = False


def _tls_config(tls: bool | str | None) -> docker.tls.TLSConfig | None:
    if not tls:
        return None
    given = tls if isinstance(tls, str) else os.environ.get("DOCKER_CERT_PATH")
    folder = Path(given or Path.home() / ".docker").expanduser()
    files = {name: folder / name for name in ("ca.pem", "cert.pem", "key.pem")}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise ConfigError(f"TLS certificate file(s) missing: {', '.join(missing)}")
    return _EngineTLS(
        client_cert=(str(files["cert.pem"]), str(files["key.pem"])),
        ca_cert=str(files["ca.pem"]),
        verify=True,
    )

"""DockerSandbox on an engine "elsewhere": TCP with TLS client certificates, through
``sandloop.testing.EngineTLSProxy`` (a TLS endpoint on 127.0.0.1 relaying to the local engine's
Unix socket), as a remote engine is reached: by ``docker_host=``/``tls=`` or the variables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandloop.errors import ConfigError, SandboxUnavailableError
from sandloop.sandboxes.docker import LABEL, DockerSandbox
from sandloop.testing.tls_engine import EngineTLSProxy

pytestmark = pytest.mark.docker

_SOCKET = "/var/run/docker.sock"


@pytest.fixture
def proxy(
    docker_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EngineTLSProxy]:
    if not os.path.exists(_SOCKET):
        pytest.skip(f"the engine is not on {_SOCKET} (the proxy relays to that socket)")
    with EngineTLSProxy(tmp_path / "certs", engine_socket=_SOCKET) as engine:
        # requests would let this replace the engine's CA (psf/requests#3829): it must not.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(engine.untrusted_client_certs() / "cert.pem"))
        yield engine


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("one\n")
    return root


async def test_a_copy_mode_sandbox_works_through_tls(
    proxy: EngineTLSProxy, workspace: Path, base_image: str
) -> None:
    sandbox = DockerSandbox(
        base_image, docker_host=proxy.url, tls=str(proxy.client_certs), workspace=workspace,
        mount="copy",
    )  # fmt: skip
    async with sandbox:
        assert (await sandbox.exec("cat notes.txt; echo two >> notes.txt")).stdout == b"one\n"
        await sandbox.write_file("new.txt", b"x" * 300_000)  # frames bigger than a TLS record
        assert await sandbox.read_file("new.txt") == b"x" * 300_000
        diff = await sandbox.diff()
        assert "+two" in diff
        assert "new.txt" in diff
        relayed = proxy.connections
    assert relayed >= 2  # the API calls and the attach stream went through the proxy
    assert (workspace / "notes.txt").read_text() == "one\n"
    assert sandbox.to_dict()["docker_host"] == proxy.url


async def test_the_standard_variables_choose_the_engine(
    proxy: EngineTLSProxy, base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", proxy.url)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(proxy.client_certs))
    before = proxy.connections
    async with DockerSandbox(base_image) as sandbox:
        assert (await sandbox.exec(["echo", "hi"])).stdout == b"hi\n"
    assert proxy.connections > before
    assert sandbox.to_dict()["docker_host"] is None  # the variables decide where it is rebuilt


async def test_a_wrong_client_certificate_is_refused(
    proxy: EngineTLSProxy, base_image: str
) -> None:
    wrong = DockerSandbox(
        base_image, docker_host=proxy.url, tls=str(proxy.untrusted_client_certs())
    )
    with pytest.raises(SandboxUnavailableError, match="certificate"):
        await wrong.start()
    assert proxy.connections == 0  # no connection got past the handshake


async def test_a_bind_mount_on_a_remote_engine_is_refused(
    proxy: EngineTLSProxy, workspace: Path, base_image: str, docker_client: Any
) -> None:
    sandbox = DockerSandbox(
        base_image, docker_host=proxy.url, tls=str(proxy.client_certs), workspace=workspace
    )
    with pytest.raises(ConfigError, match="mount='copy'"):
        await sandbox.start()
    mine = [LABEL, f"org.sandloop.host-pid={os.getpid()}"]
    assert docker_client.containers.list(all=True, filters={"label": mine}) == []

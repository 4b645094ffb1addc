"""The socket offer on its own: one connection, with the token, and nothing left after."""

from __future__ import annotations

import base64
import socket
from pathlib import Path
from typing import Any

import anyio
import pytest

from sandloop.errors import SandboxError
from sandloop.sandboxes.docker._socket_channel import SocketOffer


def _connect_and_send(path: Path, data: bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    sock.sendall(data)
    return sock


async def _offer() -> SocketOffer:
    offer = await SocketOffer.open(None)
    assert offer is not None
    return offer


async def test_the_runner_with_the_token_gets_the_channel() -> None:
    offer = await _offer()
    kept: list[socket.socket] = []

    async def ask(op: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert op == "connect"
        assert args["path"] == "/run/sandloop-channel/runner.sock"
        token = base64.b64decode(args["token"])
        kept.append(_connect_and_send(offer.host_dir / "runner.sock", token + b"hello"))
        return {}

    try:
        stream = await offer.accept(ask)
        assert stream is not None
        assert await stream.receive() == b"hello"  # what follows the token is the channel's
        assert list(offer.host_dir.iterdir()) == []  # the socket file went with the accept
        await stream.aclose()
    finally:
        for sock in kept:
            sock.close()
        await offer.aclose()
    assert not offer.host_dir.exists()


@pytest.mark.parametrize("sent", [b"x" * 32, b"", b"short"], ids=["wrong", "none", "short"])
async def test_a_connection_without_the_token_is_refused(sent: bytes) -> None:
    offer = await _offer()
    kept: list[socket.socket] = []

    async def ask(op: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        sock = _connect_and_send(offer.host_dir / "runner.sock", sent)
        if len(sent) < 32:
            sock.shutdown(socket.SHUT_WR)  # and then nothing more
        kept.append(sock)
        return {}

    try:
        with anyio.fail_after(30):
            assert await offer.accept(ask) is None
        assert list(offer.host_dir.iterdir()) == []
    finally:
        for sock in kept:
            sock.close()
        await offer.aclose()


async def test_a_runner_that_cannot_connect_leaves_the_boot_channel_in_use() -> None:
    offer = await _offer()

    async def ask(op: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        raise SandboxError("the runner failed: cannot connect to /run/sandloop-channel/...")

    try:
        assert await offer.accept(ask) is None
        assert list(offer.host_dir.iterdir()) == []
    finally:
        await offer.aclose()


async def test_the_directory_is_not_made_inside_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "ws"))
    (tmp_path / "ws").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    assert await SocketOffer.open(tmp_path / "ws") is None
    assert list((tmp_path / "ws").iterdir()) == []


async def test_the_directory_of_a_dead_process_is_swept(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import shutil
    import tempfile

    # A short temporary directory of its own: a socket's path has at most 107 bytes.
    tmp_path = Path(tempfile.mkdtemp(prefix="sweep-", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = await anyio.run_process(["sh", "-c", "echo $$"])  # its pid is free again now
    stale = tmp_path / f"sandloop-channel-{int(dead.stdout)}-abc"
    (stale / "channel").mkdir(parents=True)
    alive = tmp_path / f"sandloop-channel-{os.getpid()}-def"
    alive.mkdir()
    offer = await _offer()
    try:
        assert not stale.exists()
        assert alive.exists()
        assert offer.host_dir.parent.name.startswith(f"sandloop-channel-{os.getpid()}-")
    finally:
        await offer.aclose()
        shutil.rmtree(tmp_path)

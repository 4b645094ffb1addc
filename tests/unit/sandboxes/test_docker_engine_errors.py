"""The docker boundary maps the SDK's errors by type and HTTP status, never by their words."""

from __future__ import annotations

import gc
import socket
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests

from sandloop.errors import SandboxEngineError, SandboxError, SandboxUnavailableError
from sandloop.sandboxes.docker._address import connect
from sandloop.sandboxes.docker._engine import engine_errors, remove_labelled


def _answer(cls: type[docker.errors.APIError], status: int) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return cls("connection refused; no such container; already in progress", response=response)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (_answer(docker.errors.NotFound, 404), 404),
        (_answer(docker.errors.APIError, 409), 409),
        (_answer(docker.errors.APIError, 500), 500),
        (docker.errors.NotFound("no response attached"), 404),
        (docker.errors.APIError("no response attached"), None),
        (docker.errors.DockerException("not an HTTP answer"), None),
    ],
)
def test_an_engine_answer_is_a_typed_error_with_its_status(
    error: docker.errors.DockerException, status: int | None
) -> None:
    with pytest.raises(SandboxEngineError) as info, engine_errors("removing the container"):
        raise error
    assert info.value.status == status
    assert info.value.__cause__ is error
    assert str(info.value).startswith("removing the container: ")


def test_an_unreachable_engine_is_unavailable_whatever_the_words() -> None:
    # As the SDK does it: the transport's error wrapped in a plain DockerException.
    error = docker.errors.DockerException("Error while fetching server API version")
    error.__cause__ = requests.exceptions.ConnectionError("words that name nothing")
    with pytest.raises(SandboxUnavailableError), engine_errors("connecting to Docker"):
        raise error


def test_words_alone_do_not_make_an_engine_unreachable() -> None:
    with pytest.raises(SandboxError) as info, engine_errors("starting"):
        raise docker.errors.DockerException("Connection refused")
    assert not isinstance(info.value, SandboxUnavailableError)


def test_an_engine_that_refuses_the_ping_leaves_no_connection_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An "engine" on a Unix socket: it tells its version, and answers the ping with a 500.
    path = tmp_path / "engine.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    version = b'{"ApiVersion": "1.41", "Version": "24.0"}'
    ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    busy = b'{"message": "busy"}'
    refused = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n%s" % (
        len(busy),
        busy,
    )
    open_connections: list[socket.socket] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            while request := conn.recv(65536):
                ping = b"/_ping" in request
                conn.sendall(refused if ping else ok % len(version) + version)
        open_connections.remove(conn)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            open_connections.append(conn)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(SandboxEngineError) as info:
                connect(timeout=5)
            gc.collect()
        for _ in range(500):  # the server sees the client close its end
            if not open_connections:
                break
            time.sleep(0.01)
    finally:
        server.close()
    assert info.value.status == 500
    assert open_connections == []  # the client closed its connections
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


class _Listed:
    def __init__(self, cid: str, error: Exception | None, removed: list[str]) -> None:
        self.id, self._error, self._removed = cid, error, removed

    def remove(self, force: bool = False) -> None:
        if self._error is not None:
            raise self._error
        self._removed.append(self.id)


class _Containers:
    def __init__(self, listed: dict[str, _Listed]) -> None:
        self.listed = listed
        self.filters: list[object] = []

    def list(self, *, all: bool, filters: dict[str, str]) -> list[_Listed]:
        self.filters.append(filters)
        return list(self.listed.values())


class _Client:
    def __init__(self, containers: _Containers) -> None:
        self.containers = containers


def test_removing_labelled_containers_passes_over_the_gone_and_the_refused() -> None:
    removed: list[str] = []
    listed = {
        "gone": _Listed("gone", docker.errors.NotFound("gone meanwhile"), removed),
        "stuck": _Listed("stuck", _answer(docker.errors.APIError, 500), removed),
        "ok": _Listed("ok", None, removed),
    }
    containers = _Containers(listed)
    client: Any = _Client(containers)
    assert remove_labelled(client, "org.sandloop.batch=b1") == 3
    assert removed == ["ok"]
    assert containers.filters == [{"label": ["org.sandloop.batch=b1"]}]

"""The docker boundary maps the SDK's errors by type and HTTP status, never by their words."""

from __future__ import annotations

import docker.errors
import pytest
import requests

from sandloop.errors import SandboxEngineError, SandboxError, SandboxUnavailableError
from sandloop.sandboxes.docker._engine import engine_errors


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

"""Shared fixtures. Docker-backed tests skip honestly without an engine, and fail instead when
``SANDLOOP_REQUIRE_DOCKER=1`` (CI sets it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRE_DOCKER = os.environ.get("SANDLOOP_REQUIRE_DOCKER") == "1"


def docker_unavailable(reason: str) -> None:
    """Skip the test, or fail it when CI demands a Docker engine."""
    if REQUIRE_DOCKER:
        pytest.fail(f"SANDLOOP_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(f"no Docker engine: {reason}")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A docker SDK client for an engine that answers ``ping``."""
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        docker_unavailable(f"the Docker engine did not answer ({exc.__class__.__name__}: {exc})")
    yield client
    client.close()

"""The Docker engine answers: every later integration test stands on this."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.docker


def test_engine_answers_with_version(docker_client: Any) -> None:
    version = docker_client.version()
    assert version["ApiVersion"]
    assert docker_client.ping() is True

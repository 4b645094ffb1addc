"""Fixtures of the fault tests. Every Docker-backed test ends by proving no container is left."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from faults_support import containers_left, require_image


@pytest.fixture
def image(docker_client: Any) -> Iterator[str]:
    """The coding image; after the test, none of the fault tests' containers may be left."""
    yield require_image(docker_client)
    left = containers_left(docker_client)
    for container in left:  # leave the engine clean for the next test, then fail loudly
        with contextlib.suppress(docker.errors.APIError):  # maybe being auto-removed already
            container.remove(force=True)
    assert left == [], f"containers left behind: {[c.short_id for c in left]}"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root

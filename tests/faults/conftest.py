"""Fixtures of the fault tests. Every Docker-backed test ends by proving no container is left.

The engine-restart test stops the Docker engine everyone shares: it is moved to the very end of
the session, after every other Docker test (CI runs the suite sequentially).
"""

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


RESTART_TEST = "test_fault_engine_restart.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the engine-restart test last of the whole session."""
    last = [item for item in items if item.path.name == RESTART_TEST]
    if last:
        items[:] = [item for item in items if item.path.name != RESTART_TEST] + last

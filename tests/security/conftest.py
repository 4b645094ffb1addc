"""Fixtures of the security tests: the hardened default sandbox, in both of its user modes.

Every container made here carries the label ``org.sandloop.test=security`` (on top of
sandloop's own), so a test can prove none is left without touching other engineers' containers.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from security_support import IMAGE, TEST_LABEL

from sandloop.sandboxes.docker import DockerSandbox


@pytest.fixture
def image(docker_client: Any) -> str:
    """The coding image, or an honest skip (a failure under SANDLOOP_REQUIRE_DOCKER=1)."""
    try:
        docker_client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        reason = f"image {IMAGE} is missing: build it with `sandloop images build`"
        if os.environ.get("SANDLOOP_REQUIRE_DOCKER") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return IMAGE


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    """A host directory holding the workspace and, beside it, files the sandbox must not reach."""
    (tmp_path / "ws").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("host secret\n")
    return tmp_path


@pytest.fixture(params=["image_user", "bind_mount", "gvisor"])
async def sandbox(
    request: pytest.FixtureRequest, image: str, host_dir: Path
) -> AsyncIterator[DockerSandbox]:
    """The default hardened sandbox: without a workspace (the image's non-root user), and with
    a bind-mounted workspace (the host user's uid, which is 0 when the tests run as root);
    then the first under gVisor (skipped without runsc, failed under SANDLOOP_REQUIRE_DOCKER=1)."""
    workspace = host_dir / "ws" if request.param == "bind_mount" else None
    runtime = request.getfixturevalue("gvisor") if request.param == "gvisor" else None
    async with DockerSandbox(image, workspace=workspace, labels=TEST_LABEL, runtime=runtime) as sb:
        yield sb


@pytest.fixture(autouse=True)
def no_container_left(docker_client: Any) -> Iterator[None]:
    """After each test, none of the containers it made is left (running or stopped).

    Only this test process's own (its pid is in every container's owner label): another
    suite running the security tests on the same engine at the same time is not ours to judge.
    """
    yield
    mine = ["org.sandloop.test=security", f"org.sandloop.host-pid={os.getpid()}"]
    left = docker_client.containers.list(all=True, filters={"label": mine})
    assert left == [], f"containers left behind: {[c.short_id for c in left]}"

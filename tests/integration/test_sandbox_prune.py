"""Listing and pruning leftover sandbox containers when the engine holds odd ones."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from sandloop.sandboxes.docker import LABEL, list_sandboxes, remove_container

pytestmark = pytest.mark.docker


@pytest.fixture
def orphan(docker_client: Any) -> Iterator[str]:
    """A labelled container whose image was force-removed after it was created."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("marker")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    ref = "sandloop-test/vanished:prune"
    docker_client.api.import_image_from_data(
        buf.getvalue(), repository=ref.split(":")[0], tag="prune"
    )
    container = docker_client.containers.create(
        ref, command=["/nothing"], labels={LABEL: "test", "org.sandloop.host": "elsewhere"}
    )
    try:
        docker_client.images.remove(ref, force=True)
        yield container.id
    finally:
        remove_container(docker_client, container.id)  # gone already is fine


def test_a_container_whose_image_is_gone_is_listed_and_removable(
    docker_client: Any, orphan: str
) -> None:
    rows = {row["id"]: row for row in list_sandboxes(docker_client)}
    row = rows[orphan[:12]]
    assert row["status"] == "created"
    assert row["host"] == "elsewhere"
    assert row["created"][:2] == "20"  # a date, as the CLI prints it
    remove_container(docker_client, row["id"])
    assert orphan[:12] not in {row["id"] for row in list_sandboxes(docker_client)}

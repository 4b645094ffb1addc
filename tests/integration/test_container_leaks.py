"""The after-module check finds a sandloop container this process left, and only such."""

from __future__ import annotations

import os
from typing import Any

import pytest

import container_leaks
from sandloop.sandboxes.docker import LABEL

pytestmark = pytest.mark.docker


def _container(docker_client: Any, image: str, labels: dict[str, str]) -> Any:
    return docker_client.containers.create(image, ["true"], labels=labels, network_mode="none")


def test_a_container_left_by_this_process_is_found(docker_client: Any, base_image: str) -> None:
    before = set(container_leaks.sandloop_containers(docker_client))
    mine = _container(
        docker_client, base_image, {LABEL: "test", "org.sandloop.host-pid": str(os.getpid())}
    )
    others = _container(docker_client, base_image, {LABEL: "test", "org.sandloop.host-pid": "1"})
    unlabelled = _container(docker_client, base_image, {"org.sandloop.host-pid": str(os.getpid())})
    try:
        assert container_leaks.leaked(docker_client, before, settle=0.2) == [mine.name]
        # One there before the module started is another module's leftover: not counted.
        assert container_leaks.leaked(docker_client, before | {mine.id}, settle=0.2) == []
    finally:
        for container in (mine, others, unlabelled):
            container.remove(force=True)
    assert container_leaks.leaked(docker_client, before, settle=0.2) == []

"""SandboxPool of DockerSandboxes: many containers at once, fast acquire, nothing left over."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import pytest

from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.pool import SandboxPool

pytestmark = pytest.mark.docker


async def test_many_sandboxes_at_once_and_no_leftovers(base_image: str, docker_client: Any) -> None:
    tag = uuid.uuid4().hex
    ids: list[str] = []

    async def use(pool: SandboxPool[DockerSandbox], i: int) -> None:
        async with await pool.acquire() as sb:
            result = await sb.exec(f"echo {i}")
            assert result.stdout == f"{i}\n".encode()
            assert sb.container_id is not None
            ids.append(sb.container_id)

    factory = lambda: DockerSandbox(base_image, labels={"test-run": tag})  # noqa: E731
    with anyio.fail_after(110):
        async with (
            SandboxPool(factory, size=4, max_starting=4) as pool,
            anyio.create_task_group() as tg,
        ):
            for i in range(12):
                tg.start_soon(use, pool, i)
    assert len(set(ids)) == 12
    leftovers = docker_client.containers.list(all=True, filters={"label": f"test-run={tag}"})
    assert leftovers == []

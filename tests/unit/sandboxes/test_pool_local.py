"""SandboxPool over LocalSandboxes: fresh sandboxes, background refill, failures, cleanup."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest

from sandloop.errors import SandboxError, SandboxStartError
from sandloop.sandboxes import LocalSandbox
from sandloop.sandboxes.pool import SandboxPool


class _Recorder:
    """A pool factory of LocalSandboxes over one workspace that keeps every one it made."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.made: list[LocalSandbox] = []

    def __call__(self) -> LocalSandbox:
        self.made.append(LocalSandbox(self.workspace))
        return self.made[-1]


async def test_acquire_gives_fresh_started_sandboxes_and_refills(workspace: Path) -> None:
    factory = _Recorder(workspace)
    made = factory.made
    async with SandboxPool(factory, size=2) as pool:
        got = [await pool.acquire() for _ in range(5)]
        assert len({id(sb) for sb in got}) == 5  # never the same one twice
        for sb in got:
            async with sb:
                assert (await sb.exec("echo ok")).stdout == b"ok\n"
        with anyio.fail_after(30):
            while pool.ready < 2:  # noqa: ASYNC110 - the pool exposes no event for this
                await anyio.sleep(0.02)
        waiting = [sb for sb in made if sb not in got]
        assert all(sb._client is not None for sb in waiting)
    assert len(made) >= 7
    assert all(sb._client is None for sb in made)  # the pool closed what it still held


async def test_a_failing_start_is_reported_to_acquire(tmp_path: Path) -> None:
    async with SandboxPool(lambda: LocalSandbox(tmp_path, python="/nonexistent/python")) as pool:
        with anyio.fail_after(30), pytest.raises(SandboxError) as info:
            await pool.acquire()
    assert isinstance(info.value.__cause__, SandboxStartError)


async def test_acquire_needs_an_open_pool(workspace: Path) -> None:
    pool = SandboxPool(lambda: LocalSandbox(workspace))
    with pytest.raises(SandboxError, match="not open"):
        await pool.acquire()


async def test_a_sandbox_that_died_in_the_pool_is_never_handed_out(workspace: Path) -> None:
    factory = _Recorder(workspace)
    made = factory.made
    async with SandboxPool(factory, size=2) as pool:
        with anyio.fail_after(30):
            while pool.ready < 2:  # noqa: ASYNC110 - the pool exposes no event for this
                await anyio.sleep(0.02)
        doomed = made[0]
        os.kill(int(doomed._runner().hello["pid"]), signal.SIGKILL)
        with anyio.fail_after(30):
            first = await pool.acquire()
            second = await pool.acquire()
        assert doomed not in (first, second)
        for sb in (first, second):
            async with sb:
                assert (await sb.exec("echo alive")).stdout == b"alive\n"
    assert doomed._client is None  # the dead one was closed, not leaked

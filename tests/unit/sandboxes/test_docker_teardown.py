"""DockerSandbox.aclose removes the container whatever fails first (injected failures; the
real-container cases are in tests/security/test_security_runner_frames.py)."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest
import requests

from sandloop.errors import SandboxError
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.docker._provisioner import DockerProvisioner

pytestmark = pytest.mark.timeout(30)


def engine_answer(status: int, text: str) -> docker.errors.APIError:
    """The error the SDK raises for an engine's HTTP answer (the status on its response)."""
    response = requests.Response()
    response.status_code = status
    cls = docker.errors.NotFound if status == 404 else docker.errors.APIError
    return cls(text, response=response)


class FakeContainer:
    """Records the engine calls; ``fail`` names the calls that raise an engine error.

    ``removing`` makes the engine answer a removal with 409 (one already in progress) and
    finish that removal after ``removing`` more checks.
    """

    def __init__(self, *, fail: set[str], gone_after_kill: bool = True, removing: int = 0) -> None:
        self.fail = fail
        self.gone_after_kill = gone_after_kill
        self.removing = removing
        self.calls: list[str] = []
        self.killed = self.removed = False

    def remove(self, force: bool = False) -> None:
        self.calls.append("remove")
        if self.removing:
            # The words are the engine's; only the status may decide (they are not parsed).
            raise engine_answer(409, "Conflict: the engine's words, whatever they are")
        if "remove" in self.fail:
            raise engine_answer(500, "500 Server Error: the engine is busy")
        self.removed = True

    def kill(self) -> None:
        self.calls.append("kill")
        if "kill" in self.fail:
            raise engine_answer(500, "500 Server Error: cannot kill")
        self.killed = True

    def reload(self) -> None:
        self.calls.append("reload")
        if self.removing:
            self.removing -= 1
            self.removed = not self.removing
        if self.removed or (self.killed and self.gone_after_kill):
            raise engine_answer(404, "the engine's words")


class BrokenRunner:
    """A runner client whose close raises (its channel broke in an unexpected way)."""

    async def aclose(self, *, timeout: float = 2.0) -> None:
        raise RuntimeError("closing the channel failed")


def sandbox_with(container: FakeContainer, runner: Any = None) -> DockerSandbox:
    sandbox = DockerSandbox("sandloop/base", client=object())  # type: ignore[arg-type]
    provisioner = sandbox.provisioner
    assert isinstance(provisioner, DockerProvisioner)
    provisioner._container = container  # type: ignore[assignment]
    provisioner.container_id = "abc123"
    sandbox._client = runner
    return sandbox


async def test_a_channel_close_that_raises_still_removes_the_container() -> None:
    container = FakeContainer(fail=set())
    with pytest.raises(SandboxError, match="closing the channel failed"):
        await sandbox_with(container, BrokenRunner()).aclose()
    assert container.removed


async def test_an_engine_refusing_the_removal_gets_the_container_killed_and_checked_gone() -> None:
    container = FakeContainer(fail={"remove"})
    await sandbox_with(container).aclose()  # gone after the kill (auto-remove): no error
    assert container.calls == ["remove", "kill", "reload"]


async def test_a_container_that_cannot_be_removed_is_an_error_naming_it() -> None:
    container = FakeContainer(fail={"remove", "kill"})
    with pytest.raises(SandboxError, match="container abc123 could not be removed"):
        await sandbox_with(container, BrokenRunner()).aclose()
    assert container.calls.count("remove") == 3


async def test_a_removal_already_in_progress_is_waited_for_not_fought() -> None:
    container = FakeContainer(fail=set(), removing=3)
    await sandbox_with(container).aclose()
    assert container.calls == ["remove", "reload", "reload", "reload"]  # no kill, no retry
    assert container.removed


async def test_a_removal_refused_with_a_server_error_is_retried_after_a_kill() -> None:
    # The same words as a conflict, another status: not taken for a removal in progress.
    container = FakeContainer(fail={"remove"}, gone_after_kill=False)
    container.remove = lambda force=False: _refuse(container)  # type: ignore[method-assign]
    with pytest.raises(SandboxError, match="could not be removed"):
        await sandbox_with(container).aclose()
    assert "kill" in container.calls


def _refuse(container: FakeContainer) -> None:
    container.calls.append("remove")
    raise engine_answer(500, "removal of container abc is already in progress")

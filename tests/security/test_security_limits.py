"""Resource limits hold, and the sandbox survives the model hitting them.

A fork bomb stops at the pids limit, a memory hog is killed by the OOM killer (the command, not
the runner: the runner makes its commands the OOM killer's first choice), a command past its
timeout is killed with everything it spawned. After each, the same sandbox still answers.
Under gVisor the process limit is its kernel's own and a memory hog ends the whole sandbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from security_support import TEST_LABEL

from sandloop.errors import SandboxDiedError
from sandloop.sandboxes import LocalSandbox
from sandloop.sandboxes.docker import DockerSandbox

pytestmark = pytest.mark.docker


async def test_a_fork_bomb_stops_at_the_pids_limit_and_the_sandbox_survives(image: str) -> None:
    async with DockerSandbox(image, pids=64, labels=TEST_LABEL) as sb:
        bomb = await sb.exec("bomb() { bomb | bomb & }; bomb", timeout=5)
        # The limit is the container's pids cgroup (v1 or v2 layout), and the bomb ran into it:
        # bash reports the refused forks (EAGAIN from the pids controller).
        limit = await sb.exec(
            "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max"
        )
        assert limit.stdout_text().strip() == "64"
        assert "fork: retry: Resource temporarily unavailable" in bomb.stderr_text()
        # The bomb's processes die out once forks fail; the sandbox answers throughout.
        for _ in range(100):
            after = await sb.exec("echo alive; ps -e --no-headers | wc -l", timeout=30)
            alive, count = after.stdout_text().split()
            assert alive == "alive"
            if int(count) < 20:
                break
            await anyio.sleep(0.1)
        assert int(count) < 20


async def test_a_memory_hog_is_killed_not_the_runner(image: str) -> None:
    async with DockerSandbox(image, memory="256m", labels=TEST_LABEL) as sb:
        hog = await sb.exec(
            ["python3", "-c", "x = b'x' * (1 << 30); print('allocated')"], timeout=60
        )
        assert hog.exit_code == 137, (hog.exit_code, hog.stderr_text())  # SIGKILL by the OOM killer
        assert "allocated" not in hog.stdout_text()
        after = await sb.exec("echo alive")
        assert after.stdout_text() == "alive\n"


async def test_under_gvisor_a_fork_bomb_stops_at_the_process_limit(image: str, gvisor: str) -> None:
    async with DockerSandbox(image, pids=64, labels=TEST_LABEL, runtime=gvisor) as sb:
        forks = await sb.exec(["python3", "-c", _FORKS], timeout=30)
        assert forks.stdout_text().startswith("refused after "), forks
        assert int(forks.stdout_text().split()[-1]) < 64
        # gVisor's limit is the nproc rlimit its own kernel counts, which no process can raise.
        limit = await sb.exec("ulimit -Hu; ulimit -u unlimited; echo raised=$?")
        assert limit.stdout_text().split() == ["64", "raised=1"]


#: Forks children that wait, until a fork is refused; prints how many it got.
_FORKS = """
import os, time
for n in range(1000):
    try:
        pid = os.fork()
    except OSError:
        print("refused after", n)
        break
    if pid == 0:
        time.sleep(2)
        os._exit(0)
"""


async def test_under_gvisor_a_memory_hog_ends_the_whole_sandbox(
    image: str, gvisor: str, docker_client: Any
) -> None:
    # Unlike runc (above), gVisor's kernel is inside the memory limit with the processes: the
    # host's OOM killer ends the sandbox, and the sandbox says so (SECURITY.md).
    async with DockerSandbox(image, memory="256m", labels=TEST_LABEL, runtime=gvisor) as sb:
        with pytest.raises(SandboxDiedError):
            await sb.exec(["python3", "-c", "x = b'x' * (1 << 30); print('allocated')"], timeout=60)
        cid = sb.container_id
    assert docker_client.containers.list(all=True, filters={"id": cid}) == []


async def test_a_timed_out_command_is_killed_with_what_it_spawned(image: str) -> None:
    async with DockerSandbox(image, labels=TEST_LABEL) as sb:
        slow = await sb.exec("sleep 300 & setsid sleep 301 & sleep 302", timeout=1)
        assert slow.timed_out
        left = await sb.exec("ps -eo args --no-headers | grep -c '^sleep 30' || true")
        assert left.stdout_text().strip() == "0"


async def test_local_sandbox_passes_only_a_minimal_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LocalSandbox is not isolated, but it does not hand the host's secrets to commands either.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret-456")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-host-secret")
    async with LocalSandbox(tmp_path) as sb:
        env = (await sb.exec("env")).stdout_text()
    assert "sk-host-secret-456" not in env
    assert "aws-host-secret" not in env
    assert "PATH=" in env

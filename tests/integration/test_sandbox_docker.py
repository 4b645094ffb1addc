"""DockerSandbox against a real engine: command semantics, files, hardening, environment."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import docker.errors
import pytest

from sandloop.errors import SandboxFileError, SandboxUnavailableError, WorkspacePathError
from sandloop.sandboxes.docker import LABEL, DockerSandbox

pytestmark = pytest.mark.docker


@pytest.fixture
async def sandbox(
    base_image: str, tmp_path: Path, runtime: str | None
) -> AsyncIterator[DockerSandbox]:
    """The sandbox under each runtime (conftest's ``runtime``: runc, then gVisor)."""
    async with DockerSandbox(base_image, workspace=tmp_path, runtime=runtime) as sb:
        yield sb


async def test_exit_codes_streams_cwd_and_env(sandbox: DockerSandbox, tmp_path: Path) -> None:
    result = await sandbox.exec("echo out; echo err >&2; exit 7")
    assert (result.exit_code, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    (tmp_path / "sub").mkdir()
    where = await sandbox.exec("pwd", cwd="sub")
    assert where.stdout == b"/workspace/sub\n"
    env = await sandbox.exec(["sh", "-c", 'printf %s "$GREETING"'], env={"GREETING": "grüß dich"})
    assert env.stdout.decode() == "grüß dich"


async def test_unicode_and_binary_output(sandbox: DockerSandbox) -> None:
    text = await sandbox.exec("printf 'π ✓ 日本'")
    assert text.stdout.decode() == "π ✓ 日本"
    blob = await sandbox.exec(
        ["python3", "-c", "import sys; sys.stdout.buffer.write(bytes(range(256)) * 4)"]
    )
    assert blob.stdout == bytes(range(256)) * 4
    invalid = await sandbox.exec("printf '\\xc3\\x28ok'")
    assert invalid.stdout == b"\xc3\x28ok"


async def test_timeout_leaves_no_process_behind(sandbox: DockerSandbox) -> None:
    script = "sleep 301 & setsid sleep 302 & (sleep 303 &) ; sleep 304"
    result = await sandbox.exec(script, timeout=1)
    assert result.timed_out
    assert result.exit_code is None
    with anyio.fail_after(20):
        while True:
            ps = await sandbox.exec(["ps", "-eo", "args="])
            if b"sleep 30" not in ps.stdout:
                break
            await anyio.sleep(0.1)


async def test_twenty_concurrent_commands(sandbox: DockerSandbox) -> None:
    outputs: dict[int, bytes] = {}

    async def one(i: int) -> None:
        outputs[i] = (await sandbox.exec(f"sleep 0.5; echo {i}")).stdout

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(one, i)
    assert outputs == {i: f"{i}\n".encode() for i in range(20)}


async def test_gigabyte_of_output_is_capped_in_bounded_memory(base_image: str) -> None:
    # 256 MiB for the whole container: buffering the output would get the runner OOM-killed.
    async with DockerSandbox(base_image, memory="256m") as sb:
        result = await sb.exec("head -c 1073741824 /dev/zero", max_output=1 << 20)
        assert result.ok
        assert len(result.stdout) == 1 << 20
        assert result.stdout_dropped == (1 << 30) - (1 << 20)
        status = await sb.exec(["cat", f"/proc/{sb._runner().hello['pid']}/status"])
    lines = status.stdout.decode().splitlines()
    peak_kib = int(next(line for line in lines if line.startswith("VmHWM")).split()[1])
    assert peak_kib < 100 * 1024


async def test_files_and_confinement(sandbox: DockerSandbox, tmp_path: Path) -> None:
    await sandbox.write_file("pkg/mod.py", b"x = 1\n")
    assert (tmp_path / "pkg/mod.py").read_bytes() == b"x = 1\n"
    assert await sandbox.read_file("/workspace/pkg/mod.py") == b"x = 1\n"
    assert [e.path for e in await sandbox.list_dir("pkg")] == ["pkg/mod.py"]
    await sandbox.exec("ln -s /etc/passwd leak && ln -s /etc etcdir")
    with pytest.raises(WorkspacePathError):
        await sandbox.read_file("leak")
    with pytest.raises(WorkspacePathError):
        await sandbox.write_file("etcdir/evil", b"x")
    with pytest.raises(WorkspacePathError):
        await sandbox.read_file("/etc/hostname")
    with pytest.raises(SandboxFileError) as info:
        await sandbox.read_file("missing.txt")
    assert info.value.reason == "not_found"


async def test_workspace_files_stay_the_host_users(sandbox: DockerSandbox, tmp_path: Path) -> None:
    await sandbox.write_file("written.txt", b"x")
    await sandbox.exec("mkdir -p made && touch made/touched.txt")
    for path in ("written.txt", "made", "made/touched.txt"):
        info = (tmp_path / path).stat()
        assert (info.st_uid, info.st_gid) == (os.getuid(), os.getgid()), path


async def test_hardened_defaults(sandbox: DockerSandbox, docker_client: Any) -> None:
    attrs = docker_client.containers.get(sandbox.container_id).attrs
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    if sandbox.runtime == "runsc":  # gVisor's kernel counts its processes (nproc rlimit)
        assert host["Runtime"] == "runsc"
        assert [(u["Name"], u["Hard"]) for u in host["Ulimits"]] == [("nproc", sandbox.pids)]
    else:
        assert host["PidsLimit"] == sandbox.pids
    assert host["Memory"] > 0
    assert host["Memory"] == host["MemorySwap"]
    assert host["NanoCpus"] > 0
    assert host["Init"] is True
    assert attrs["Config"]["Labels"][LABEL]
    caps = await sandbox.exec("grep CapEff /proc/self/status")
    assert caps.stdout.split()[-1] == b"0000000000000000"
    # prctl(PR_GET_NO_NEW_PRIVS): gVisor's /proc does not show the flag.
    nnp = await sandbox.exec(
        ["python3", "-c", "import ctypes; print(ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))"]
    )
    assert nnp.stdout == b"1\n"


async def test_the_channel_is_not_kept_in_the_engines_log(
    sandbox: DockerSandbox, docker_client: Any
) -> None:
    # Every reply crosses the runner's stdout: an engine log of it would hold every file read
    # and every command's output on the host's disk, growing for the whole run.
    await sandbox.write_file("big.bin", os.urandom(512 * 1024))
    assert len(await sandbox.read_file("big.bin")) == 512 * 1024
    try:
        logged = docker_client.api.logs(sandbox.container_id, stdout=True, stderr=True)
    except docker.errors.APIError:  # the engine keeps no log of the container to read
        logged = b""
    assert len(logged) < 4096


async def test_a_command_at_the_pids_limit_does_not_take_the_runner_down(
    base_image: str, tmp_path: Path
) -> None:
    # The runner needs a thread per concurrent request, and threads count against the limit.
    # Exactly up to the limit, with builtins only (bash retries a failed fork for a long while).
    bomb = (
        "g=/sys/fs/cgroup; [ -f $g/pids/pids.max ] && g=$g/pids; "
        "read m < $g/pids.max; while read c < $g/pids.current && [ $c -lt $m ]; "
        "do sleep 30 & done; echo > full; wait"
    )
    async with DockerSandbox(base_image, workspace=tmp_path, pids=24) as sb:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: sb.exec(bomb, timeout=60))
            with anyio.fail_after(30):
                while not (tmp_path / "full").exists():  # noqa: ASYNC110 - a file, no event
                    await anyio.sleep(0.05)
            # No idle worker: this request needs a new thread, which the limit refuses.
            with pytest.raises(SandboxFileError, match="process limit"):
                await sb.read_file("full")
            refused = await sb.exec("true")
            assert refused.exit_code == 126
            assert "process limit" in refused.stderr_text()
            tg.cancel_scope.cancel()  # kills the bomb
        # The killed bomb's processes may still hold the pids for a moment: a refused start
        # (126) is the limit, not a dead runner (that would raise), so wait for them to go.
        for _ in range(100):
            alive = await sb.exec("echo alive")
            if alive.exit_code != 126:
                break
            await anyio.sleep(0.1)
        assert alive.stdout == b"alive\n", (alive.exit_code, alive.stderr_text())


async def test_no_network_by_default(sandbox: DockerSandbox) -> None:
    curl = await sandbox.exec("curl -sS --max-time 5 http://1.1.1.1/", timeout=30)
    assert curl.exit_code not in (0, None)
    probe = (
        "import socket\n"
        "for addr in [('1.1.1.1', 53), ('8.8.8.8', 443), ('172.17.0.1', 2375)]:\n"
        "    try:\n"
        "        socket.create_connection(addr, timeout=3)\n"
        "        print('CONNECTED', addr)\n"
        "    except OSError as exc:\n"
        "        print('refused', addr, exc)\n"
    )
    result = await sandbox.exec(["python3", "-c", probe], timeout=30)
    assert result.ok
    assert b"CONNECTED" not in result.stdout
    # /proc/net/dev, not /sys/class/net: gVisor has no /sys/class/net.
    interfaces = await sandbox.exec("tail -n +3 /proc/net/dev | cut -d: -f1")
    assert interfaces.stdout.split() == [b"lo"]


async def test_network_can_be_given_explicitly(base_image: str) -> None:
    async with DockerSandbox(base_image, network=True) as sb:
        interfaces = await sb.exec("ls /sys/class/net")
    assert interfaces.stdout.split() != [b"lo"]


async def test_host_environment_never_enters(
    base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    async with DockerSandbox(base_image, env={"VISIBLE": "yes"}) as sb:
        runner_pid = sb._runner().hello["pid"]
        env = await sb.exec(f"env; tr '\\0' '\\n' < /proc/{runner_pid}/environ")
    assert env.ok
    assert env.stdout.count(b"VISIBLE=yes") == 2  # the command's and the runner's environment
    assert b"OPENAI_API_KEY" not in env.stdout
    assert b"sk-test-must-not-leak" not in env.stdout


async def test_another_user_runs_through_docker_exec_still_without_capabilities(
    base_image: str,
) -> None:
    async with DockerSandbox(base_image) as sb:
        default = await sb.exec("id -un")
        other = await sb.exec("id -un; grep CapEff /proc/self/status", user="root", timeout=30)
    assert default.stdout == b"sandbox\n"
    assert other.stdout.split()[0] == b"root"
    assert other.stdout.split()[-1] == b"0000000000000000"


async def test_cancelling_the_caller_kills_the_command_in_the_container(
    sandbox: DockerSandbox,
) -> None:
    with anyio.move_on_after(1) as scope:
        await sandbox.exec("sleep 305 & sleep 306")
    assert scope.cancelled_caught
    with anyio.fail_after(20):
        while b"sleep 30" in (await sandbox.exec(["ps", "-eo", "args="])).stdout:  # noqa: ASYNC110
            await anyio.sleep(0.1)
    assert (await sandbox.exec("echo usable")).stdout == b"usable\n"


async def test_a_runtime_the_engine_lacks_is_refused_naming_those_it_has(base_image: str) -> None:
    sandbox = DockerSandbox(base_image, runtime="no-such-runtime")
    with pytest.raises(SandboxUnavailableError, match=r"no runtime 'no-such-runtime'.*runc"):
        await sandbox.start()
    assert not sandbox.started

"""Command execution through the runner (LocalSandbox): results, caps, timeouts, cancel."""

# Polling is right here: a process dying or a file appearing outside our control has no event.
# ruff: noqa: ASYNC110

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest

from sandloop.errors import ConfigError, SandboxDiedError, SandboxError, SandboxFileError
from sandloop.sandboxes import LocalSandbox


def _alive(pid: int) -> bool:
    """True when the pid runs (a zombie waiting for its reaper counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_exit_code_stdout_and_stderr_are_separate(sandbox: LocalSandbox) -> None:
    result = await sandbox.exec("echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    assert not result.ok
    assert not result.timed_out


async def test_argv_is_not_parsed_by_a_shell(sandbox: LocalSandbox) -> None:
    result = await sandbox.exec(["printf", "%s|", "a b", "$HOME", "*"])
    assert result.stdout == b"a b|$HOME|*|"
    assert result.ok


async def test_cwd_relative_to_the_workspace(sandbox: LocalSandbox, workspace: Path) -> None:
    (workspace / "sub").mkdir()
    result = await sandbox.exec("pwd", cwd="sub")
    assert result.stdout.decode().strip() == str(workspace / "sub")
    default = await sandbox.exec("pwd")
    assert default.stdout.decode().strip() == str(workspace)


async def test_missing_cwd_is_a_file_error(sandbox: LocalSandbox) -> None:
    with pytest.raises(SandboxFileError) as info:
        await sandbox.exec("true", cwd="nope")
    assert info.value.reason == "not_found"


async def test_env_is_passed_and_host_secrets_are_not(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    async with LocalSandbox(workspace) as sb:
        result = await sb.exec("env", env={"GREETING": "héllo"})
    lines = result.stdout.decode().splitlines()
    assert "GREETING=héllo" in lines
    assert not [line for line in lines if "OPENAI_API_KEY" in line]
    assert "sk-host-secret" not in result.stdout.decode()


async def test_unicode_binary_and_invalid_utf8_survive(sandbox: LocalSandbox) -> None:
    every_byte = bytes(range(256))
    result = await sandbox.exec(
        ["python3", "-c", "import sys; sys.stdout.buffer.write(bytes(range(256)))"]
    )
    assert result.stdout == every_byte
    text = await sandbox.exec("printf 'π ✓ 日本\\n'; printf '\\xff\\xfe' >&2")
    assert text.stdout.decode() == "π ✓ 日本\n"
    assert text.stderr == b"\xff\xfe"
    assert text.stderr_text() == "\ufffd\ufffd"


async def test_stdin_bytes_are_fed_and_closed(sandbox: LocalSandbox) -> None:
    payload = os.urandom(3 * 1024 * 1024)
    result = await sandbox.exec(["sha256sum"], stdin=payload)
    import hashlib

    assert result.stdout.split()[0].decode() == hashlib.sha256(payload).hexdigest()
    no_stdin = await sandbox.exec("cat")  # must not hang waiting for input
    assert no_stdin.ok
    assert no_stdin.stdout == b""


async def test_stdin_is_fed_whole_to_a_command_that_closed_its_output(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    # Its output pipes reach EOF at once; the stdin it still reads must not stop being fed.
    payload = b"x" * (1024 * 1024)
    result = await sandbox.exec("exec >&- 2>&-; wc -c > count", stdin=payload, timeout=10)
    assert not result.timed_out
    assert result.exit_code == 0
    assert (workspace / "count").read_text().strip() == str(len(payload))


async def test_command_not_found_and_signals(sandbox: LocalSandbox) -> None:
    missing = await sandbox.exec(["definitely-not-a-command-xyz"])
    assert missing.exit_code == 127
    assert b"definitely-not-a-command-xyz" in missing.stderr
    killed = await sandbox.exec("kill -9 $$")
    assert killed.exit_code == 128 + signal.SIGKILL


async def test_a_command_found_but_not_startable_exits_126_not_127(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    # 127 says "not found": a model then looks for another command instead of the real cause.
    too_long = await sandbox.exec(["true", *(["x" * 1000] * 4000)])  # E2BIG: 4 MB of arguments
    assert too_long.exit_code == 126
    assert b"too long" in too_long.stderr
    (workspace / "script.sh").write_text("echo hi\n")
    not_executable = await sandbox.exec(["./script.sh"])
    assert not_executable.exit_code == 126
    (workspace / "file").write_text("")
    through_a_file = await sandbox.exec(["./file/x"])  # ENOTDIR: not found, as a shell says
    assert through_a_file.exit_code == 127


async def test_output_is_capped_head_and_tail(sandbox: LocalSandbox) -> None:
    script = "printf HEAD; head -c 20000000 /dev/zero | tr '\\0' x; printf TAIL"
    result = await sandbox.exec(script, max_output=1000)
    assert len(result.stdout) == 1000
    assert result.stdout.startswith(b"HEADxxx")
    assert result.stdout.endswith(b"xxxTAIL")
    assert result.stdout_dropped == 20000008 - 1000
    assert "[... 19999008 bytes omitted ...]" in result.stdout_text()


async def test_zero_cap_keeps_nothing_but_counts(sandbox: LocalSandbox) -> None:
    result = await sandbox.exec("echo hello", max_output=0)
    assert (result.stdout, result.stdout_dropped) == (b"", 6)


async def test_timeout_kills_the_whole_tree(sandbox: LocalSandbox, workspace: Path) -> None:
    script = "sleep 300 & echo $! > child.pid; setsid sleep 300 & echo $! > escaped.pid; sleep 300"
    result = await sandbox.exec(script, timeout=1)
    assert result.timed_out
    assert result.exit_code is None
    for name in ("child.pid", "escaped.pid"):
        pid = int((workspace / name).read_text())
        with anyio.fail_after(10):
            while _alive(pid):
                await anyio.sleep(0.05)


async def test_background_jobs_end_with_the_command_unless_setsid(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    with anyio.fail_after(60):  # far below the children's 300 s: their pipes do not hold us
        result = await sandbox.exec(
            "sleep 300 & echo $! > job.pid; setsid sleep 300 & echo $! > daemon.pid; echo started"
        )
    assert result.ok
    assert result.stdout == b"started\n"
    job, daemon = (int((workspace / name).read_text()) for name in ("job.pid", "daemon.pid"))
    with anyio.fail_after(10):
        while _alive(job):
            await anyio.sleep(0.05)
    assert _alive(daemon)  # started with setsid: meant to outlive the command
    os.kill(daemon, signal.SIGKILL)


async def test_a_leader_that_closes_its_pipes_still_times_out(sandbox: LocalSandbox) -> None:
    result = await sandbox.exec("exec >&- 2>&-; sleep 300", timeout=1)
    assert result.timed_out


async def test_a_command_that_ended_in_time_is_not_reported_timed_out(
    sandbox: LocalSandbox,
) -> None:
    # The leader exits just before the deadline; its background job still holds the pipes, so
    # the runner reads on for a short grace period, which the deadline falls into.
    result = await sandbox.exec("sleep 30 & sleep 1.85; echo done; exit 3", timeout=2)
    assert not result.timed_out
    assert (result.exit_code, result.stdout) == (3, b"done\n")


async def test_cancelling_the_caller_kills_the_command(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    with anyio.move_on_after(1):
        await sandbox.exec("echo $$ > leader.pid; sleep 300")
    pid = int((workspace / "leader.pid").read_text())
    with anyio.fail_after(10):
        while _alive(pid):
            await anyio.sleep(0.05)
    assert (await sandbox.exec("echo still here")).stdout == b"still here\n"


async def test_twenty_concurrent_commands(sandbox: LocalSandbox) -> None:
    results: dict[int, bytes] = {}

    async def one(i: int) -> None:
        results[i] = (await sandbox.exec(f"sleep 0.2; echo {i}; echo e{i} >&2")).stdout

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(one, i)
    assert results == {i: f"{i}\n".encode() for i in range(20)}


async def test_runner_death_fails_pending_and_later_calls(sandbox: LocalSandbox) -> None:
    runner_pid = int(sandbox._runner().hello["pid"])
    errors: list[BaseException] = []

    async def pending() -> None:
        try:
            await sandbox.exec("sleep 300")
        except SandboxDiedError as exc:
            errors.append(exc)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(pending)
            await anyio.sleep(0.3)
            os.kill(runner_pid, signal.SIGKILL)
    assert len(errors) == 1
    with pytest.raises(SandboxDiedError):
        await sandbox.exec("true")


async def test_bad_usage_is_reported_clearly(workspace: Path) -> None:
    sb = LocalSandbox(workspace)
    with pytest.raises(SandboxError, match="not started"):
        await sb.exec("true")
    async with sb:
        with pytest.raises(ConfigError):
            await sb.exec([])
        with pytest.raises(ConfigError):
            await sb.exec("   ")
        with pytest.raises(SandboxError, match="another user"):
            await sb.exec("true", user="nobody")
        with pytest.raises(SandboxError, match="unknown operation"):
            await sb._runner().call("no-such-op", {})
        assert (await sb.exec("echo ok")).ok


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (["echo", "a\x00b"], {}),
        ("echo a\x00b", {}),
        (["true"], {"env": {"A\x00": "1"}}),
        (["true"], {"env": {"A": "1\x00"}}),
        (["true"], {"env": {"A=B": "1"}}),
        (["true"], {"cwd": "sub\x00dir"}),
    ],
)
async def test_a_command_no_process_can_take_is_refused_and_the_sandbox_lives_on(
    sandbox: LocalSandbox, command: str | list[str], options: dict[str, Any]
) -> None:
    # A model can send these (local_shell argv, env and working directory): the call fails
    # alone, it must not read as a broken sandbox (which stops the whole run).
    with pytest.raises(ConfigError):
        await sandbox.exec(command, **options)
    assert (await sandbox.exec("echo ok")).ok


def test_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        LocalSandbox(tmp_path / "missing")


async def test_close_is_idempotent_and_kills_running_commands(workspace: Path) -> None:
    sb = LocalSandbox(workspace)
    await sb.start()
    await sb.start()

    async def long() -> None:
        with pytest.raises(SandboxError):
            await sb.exec("echo $$ > leader.pid; sleep 300")

    async with anyio.create_task_group() as tg:
        tg.start_soon(long)
        with anyio.fail_after(10):
            while not (workspace / "leader.pid").exists():
                await anyio.sleep(0.02)
        await sb.aclose()
    await sb.aclose()
    pid = int((workspace / "leader.pid").read_text())
    with anyio.fail_after(10):
        while _alive(pid):
            await anyio.sleep(0.05)

"""How the runner finds a bare command name: the command's PATH, whichever way it searches."""

from __future__ import annotations

from pathlib import Path

from sandloop.sandboxes import LocalSandbox


def _tool(directory: Path, name: str, says: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / name
    script.write_text(f"#!/bin/sh\necho {says}\n")
    script.chmod(0o755)


async def test_a_command_is_found_on_the_runner_path_and_on_its_own(
    workspace: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _tool(second, "greet", "second")
    _tool(tmp_path / "noexec", "greet", "never")
    (tmp_path / "noexec" / "greet").chmod(0o644)  # found but not executable: skipped
    path = f"{tmp_path / 'noexec'}:{first}:{second}:/usr/bin:/bin"
    async with LocalSandbox(workspace, env={"PATH": path}) as sandbox:
        # The runner's own PATH (searched by posix_spawnp).
        assert (await sandbox.exec(["greet"])).stdout == b"second\n"
        _tool(first, "greet", "first")  # a new tool earlier on the PATH wins at once
        assert (await sandbox.exec(["greet"])).stdout == b"first\n"
        # A PATH of the command's own (searched by the runner).
        own = await sandbox.exec(["greet"], env={"PATH": f"{second}:/usr/bin"})
        assert own.stdout == b"second\n"
        for env in (None, {"PATH": f"{second}:/usr/bin"}):
            missing = await sandbox.exec(["no-such-tool-xyz"], env=env)
            assert missing.exit_code == 127
            assert missing.stderr == b"sandloop: no-such-tool-xyz: command not found\n"
        only_noexec = await sandbox.exec(["greet"], env={"PATH": str(tmp_path / "noexec")})
        assert only_noexec.exit_code in (126, 127)
        assert only_noexec.stdout == b""

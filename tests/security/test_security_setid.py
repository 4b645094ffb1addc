"""No setuid/setgid file survives the close of a bind-mounted workspace, however it is hidden.

The model's command (root inside, since the tests run as root and a bind mount runs as the host
user) plants mode-6755 copies of a binary at the bottom of a directory chain deeper than
PATH_MAX and behind symlinked directories; after close, `find` on the host sees none. A file the
walk cannot change is a typed failure naming it, never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from security_support import TEST_LABEL

from sandloop.errors import WorkspaceCleanupError
from sandloop.sandboxes.docker import DockerSandbox

pytestmark = pytest.mark.docker

DEPTH, NAME = 300, "d" * 30  # 300 x 31 bytes: about 9,300 bytes of path, past PATH_MAX (4096)
# Relative, physical cd's only (-P: no logical $PWD past PATH_MAX): no path handed to the
# kernel is long.
PLANT = (
    f"set -e; for i in $(seq {DEPTH}); do mkdir {NAME}; cd -P {NAME}; done; "
    "cp /usr/bin/id bottom; chmod 6755 bottom; stat -c '%a %u' bottom; cd /workspace; "
    "mkdir -p real/inner && ln -s real via && ln -s real/inner via_inner && "
    "cp /usr/bin/id via/tool && chmod 4755 via/tool && "
    "cp /usr/bin/id via_inner/group && chmod 2755 via_inner/group && "
    f"ln -s {NAME} deep_link && cp /usr/bin/id deep_link/second && chmod 6755 deep_link/second"
)


def _setid_files(root: Path) -> list[str]:
    """Every setid file under ``root``, by GNU find (fd-based, no PATH_MAX limit)."""
    found = subprocess.run(
        ["find", str(root), "-perm", "/6000", "-print"], capture_output=True, text=True
    )
    assert found.returncode == 0, found.stderr  # it saw the whole tree
    return found.stdout.splitlines()


def _bottom_mode(root: Path) -> int:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(DEPTH):
        child = os.open(NAME, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        fd = child
    try:
        return os.stat("bottom", dir_fd=fd, follow_symlinks=False).st_mode
    finally:
        os.close(fd)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    ws = tmp_path / "ws"
    ws.mkdir()
    yield ws
    subprocess.run(["chattr", "-R", "-i", str(ws)], capture_output=True)  # for tmp cleanup
    # shutil's fd-based rmtree copes with the deep chain; pytest's own cleanup may not.
    shutil.rmtree(ws, ignore_errors=True)


async def test_setid_bits_are_cleared_past_path_max_and_behind_symlinked_dirs(
    image: str, workspace: Path
) -> None:
    async with DockerSandbox(image, workspace=workspace, labels=TEST_LABEL) as sb:
        made = await sb.exec(["sh", "-c", PLANT])
        assert made.exit_code == 0, made.stderr_text()
        assert made.stdout_text() == "6755 0\n"  # root-owned, setuid and setgid, really set
        planted = await sb.exec("find . -perm /6000 | wc -l")
        assert planted.stdout_text() == "4\n"  # bottom, tool, group, second
    assert _setid_files(workspace) == []
    assert _bottom_mode(workspace) & 0o7777 == 0o755
    assert (workspace / "real" / "tool").stat().st_mode & 0o7777 == 0o755
    assert (workspace / "real" / "inner" / "group").stat().st_mode & 0o7777 == 0o755


async def test_a_file_the_walk_cannot_change_is_a_typed_failure_naming_it(
    image: str, workspace: Path
) -> None:
    sb = DockerSandbox(image, workspace=workspace, labels=TEST_LABEL)
    await sb.start()
    try:
        made = await sb.exec(
            "mkdir -p a/b && cp /usr/bin/id a/b/stuck && chmod 4755 a/b/stuck && "
            "cp /usr/bin/id later && chmod 4755 later"
        )
        assert made.exit_code == 0, made.stderr_text()
        # The host makes one of them unchangeable (even for root): the walk must say so.
        await anyio.run_process(["chattr", "+i", str(workspace / "a" / "b" / "stuck")])
    finally:
        with pytest.raises(WorkspaceCleanupError) as caught:
            await sb.aclose()
    assert caught.value.path == "a/b/stuck"
    assert "a/b/stuck" in str(caught.value)
    # Everything else was still done, and the container is gone (the fixture checks that).
    assert (workspace / "later").stat().st_mode & 0o7777 == 0o755

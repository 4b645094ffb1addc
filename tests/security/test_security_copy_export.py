"""Copy-mode diff() and export() treat the container's tree as hostile.

A hard link to a symlink (or a FIFO) is refused by name, never recreated as a link out of the
export; a 3 GiB sparse file is refused by its apparent size before its data is read (host peak
RSS measured in a child process stays flat); odd file names come back quoted the way git quotes
them, and real ``git apply`` on a copy of the original tree reproduces the container's tree.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import anyio
import pytest
from security_support import IMAGE, TEST_LABEL

from sandloop.errors import WorkspacePathError, WorkspaceTooLargeError
from sandloop.sandboxes.docker import DockerSandbox

pytestmark = pytest.mark.docker

#: Host peak RSS allowed while diff() and export() meet a 3 GiB sparse file (bytes).
RSS_BOUND = 250 << 20


def _repo(tmp_path: Path) -> Path:
    ws = tmp_path / "repo"
    ws.mkdir()
    (ws / "a.txt").write_text("one\ntwo\nthree\n")
    (ws / "old name.txt").write_text("spaced\n")
    (ws / "gone.txt").write_text("bye\n")
    return ws


async def test_hard_links_to_a_symlink_or_a_fifo_are_refused_by_name(
    image: str, tmp_path: Path
) -> None:
    ws = _repo(tmp_path)
    async with DockerSandbox(image, workspace=ws, mount="copy", labels=TEST_LABEL) as sb:
        made = await sb.exec(
            "mkdir -p a/b && ln -s ../../x a/b/up && ln -P a/b/up top && "
            "mkfifo pipe && ln pipe pipe2 && stat -c %h top"
        )
        assert made.stdout_text() == "2\n", made.stderr_text()  # really one inode, two names
        with pytest.raises(WorkspacePathError) as caught:
            await sb.export(tmp_path / "out")
        message = str(caught.value)
        assert "top (a hard link to a symlink to '../../x'" in message
        assert "Nothing was written" in message
        assert not (tmp_path / "out").exists()
        await sb.exec("rm top pipe pipe2")  # without them the export goes through
        await sb.export(tmp_path / "out")
    assert os.readlink(tmp_path / "out" / "a" / "b" / "up") == "../../x"  # inside: kept
    assert not (tmp_path / "out" / "top").exists()


_SPARSE = """
import json, sys, anyio
from sandloop.errors import WorkspaceTooLargeError
from sandloop.sandboxes.docker import DockerSandbox

async def main():
    seen = []
    async with DockerSandbox(sys.argv[1], workspace=sys.argv[2], mount="copy",
                             labels={"org.sandloop.test": "security"}) as sb:
        made = await sb.exec("truncate -s 3G big && echo edit > a.txt && stat -c %s big")
        assert made.stdout_text() == "3221225472\\n", made
        for step in (sb.diff_bytes, lambda: sb.export(sys.argv[3])):
            try:
                await step()
                seen.append(None)
            except WorkspaceTooLargeError as exc:
                seen.append([exc.path, exc.size, exc.limit, str(exc)])
    # VmHWM of this process only (ru_maxrss would carry the test process's mark across exec).
    with open("/proc/self/status") as status:
        peak = 1024 * int(next(l.split()[1] for l in status if l.startswith("VmHWM:")))
    print(json.dumps({"seen": seen, "peak_rss": peak}))

anyio.run(main)
"""


async def test_a_3gib_sparse_file_is_refused_by_apparent_size_with_flat_host_memory(
    image: str, tmp_path: Path
) -> None:
    ws = _repo(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = await anyio.run_process(
        [sys.executable, "-c", _SPARSE, IMAGE, str(ws), str(tmp_path / "out")],
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    report = json.loads(done.stdout.decode().splitlines()[-1])
    print(f"host peak RSS during diff()+export() of a 3 GiB sparse file: {report['peak_rss']}")
    for refused in report["seen"]:
        assert refused is not None, "the 3 GiB file was copied out"
        path, size, limit, message = refused
        assert (path, size, limit) == ("big", 3 << 30, 128 << 20)
        assert "max_file_size" in message
    assert report["peak_rss"] < RSS_BOUND
    assert not (tmp_path / "out").exists()


ODD = [b"new\nline.txt", b"tab\there.txt", b'quo"te.txt', b"bad\xff\xfename.txt", b"sp ace.txt"]
_MAKE_ODD = (
    f"ODD = {ODD!r}\n"
    + r"""
import os
for name in ODD:
    with open(name, "wb") as fh:
        fh.write(b"made " + name + b"\n")
os.mkdir(b"dir\x01")
with open(b"dir\x01/back\\slash", "wb") as fh:
    fh.write(b"latin-1 caf\xe9\r\nform\x0cfeed\xe2\x80\xa8 line separator\n")
with open("a.txt", "ab") as fh:
    fh.write(b"four\rstill four\n")
os.rename("old name.txt", "new name.txt")
os.remove("gone.txt")
"""
)


def _tree(root: Path) -> dict[bytes, bytes]:
    out = {}
    for folder, _dirs, files in os.walk(os.fsencode(root)):
        for name in files:
            path = os.path.join(folder, name)
            out[os.path.relpath(path, os.fsencode(root))] = Path(os.fsdecode(path)).read_bytes()
    return out


async def test_odd_file_names_survive_a_real_git_apply(image: str, tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    original = tmp_path / "original"
    shutil.copytree(ws, original)
    async with DockerSandbox(image, workspace=ws, mount="copy", labels=TEST_LABEL) as sb:
        made = await sb.exec(["python3", "-c", _MAKE_ODD])
        assert made.exit_code == 0, made.stderr_text()
        patch = await sb.diff_bytes()
        await sb.export(tmp_path / "exported")
    assert b'diff --git "a/new\\nline.txt" "b/new\\nline.txt"' in patch
    assert b'"b/bad\\377\\376name.txt"' in patch
    assert b"+++ b/sp ace.txt\t\n" in patch
    (tmp_path / "changes.patch").write_bytes(patch)
    applied = await anyio.run_process(
        ["git", "-c", "core.quotePath=true", "apply", "-v", str(tmp_path / "changes.patch")],
        cwd=original,
        check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"},
    )
    assert applied.returncode == 0, applied.stderr.decode(errors="replace")
    assert _tree(original) == _tree(tmp_path / "exported")
    assert b"bad\xff\xfename.txt" in _tree(original)
    assert (original / "a.txt").read_bytes().endswith(b"four\rstill four\n")


async def test_the_caps_are_options(image: str, tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    async with DockerSandbox(
        image, workspace=ws, mount="copy", labels=TEST_LABEL, max_total_size=1 << 20
    ) as sb:
        await sb.exec("head -c 700000 /dev/zero > x && head -c 700000 /dev/zero > y")
        with pytest.raises(WorkspaceTooLargeError, match="max_total_size"):
            await sb.diff()

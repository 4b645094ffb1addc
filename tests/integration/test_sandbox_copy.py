"""DockerSandbox(mount="copy"): the host tree is never touched; diff() and export() give the
edits back exactly."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest

from sandloop.errors import ConfigError
from sandloop.sandboxes.docker import DockerSandbox

pytestmark = pytest.mark.docker


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "a.txt").write_text("one\ntwo\nthree\n")
    (root / "gone.txt").write_text("delete me\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02")
    (root / "sub/c.txt").write_text("nested\n")
    (root / ".git/HEAD").write_text("ref: refs/heads/main\n")
    return root


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file():
            h.update(path.read_bytes() + oct(path.stat().st_mode).encode())
    return h.hexdigest()


EDITS = (
    "sed -i 's/two/TWO/' a.txt && rm gone.txt && chmod +x run.sh "
    "&& printf '\\x00\\xff' > blob.bin && mkdir -p new && printf 'no newline' > new/d.txt "
    "&& echo 'ref: refs/heads/other' > .git/HEAD"
)


async def test_diff_shows_exactly_the_edits(base_image: str, repo: Path) -> None:
    before = _tree_digest(repo)
    async with DockerSandbox(base_image, workspace=repo, mount="copy") as sb:
        assert await sb.diff() == ""
        assert (await sb.exec(EDITS)).ok
        diff = await sb.diff()
    assert _tree_digest(repo) == before  # the host tree was never touched
    assert diff == (
        "diff --git a/a.txt b/a.txt\n"
        "--- a/a.txt\n"
        "+++ b/a.txt\n"
        "@@ -1,3 +1,3 @@\n"
        " one\n"
        "-two\n"
        "+TWO\n"
        " three\n"
        "diff --git a/blob.bin b/blob.bin\n"
        "Binary files a/blob.bin and b/blob.bin differ\n"
        "diff --git a/gone.txt b/gone.txt\n"
        "deleted file mode 100644\n"
        "--- a/gone.txt\n"
        "+++ /dev/null\n"
        "@@ -1 +0,0 @@\n"
        "-delete me\n"
        "diff --git a/new/d.txt b/new/d.txt\n"
        "new file mode 100644\n"
        "--- /dev/null\n"
        "+++ b/new/d.txt\n"
        "@@ -0,0 +1 @@\n"
        "+no newline\n"
        "\\ No newline at end of file\n"
        "diff --git a/run.sh b/run.sh\n"
        "old mode 100644\n"
        "new mode 100755\n"
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git on the host")
async def test_the_diff_applies_to_the_original(
    base_image: str, repo: Path, tmp_path: Path
) -> None:
    async with DockerSandbox(base_image, workspace=repo, mount="copy") as sb:
        await sb.exec("sed -i 's/three/3/' a.txt && rm gone.txt && printf 'x\\ny' > new.txt")
        diff = await sb.diff()
        await sb.export(tmp_path / "exported")
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    # The sandbox is closed by now: blocking here holds up nothing.
    subprocess.run(["git", "apply", "-"], input=diff.encode(), cwd=copy, check=True)  # noqa: ASYNC221
    shutil.rmtree(copy / ".git")
    shutil.rmtree(tmp_path / "exported" / ".git")
    assert _tree_digest(copy) == _tree_digest(tmp_path / "exported")


async def test_two_runs_share_one_repository(base_image: str, repo: Path) -> None:
    diffs: dict[str, str] = {}

    async def run(name: str) -> None:
        async with DockerSandbox(base_image, workspace=repo, mount="copy") as sb:
            await sb.write_file(f"{name}.txt", name.encode() + b"\n")
            diffs[name] = await sb.diff()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, "left")
        tg.start_soon(run, "right")
    assert "+++ b/left.txt" in diffs["left"]
    assert "right" not in diffs["left"]
    assert "+++ b/right.txt" in diffs["right"]
    assert "left" not in diffs["right"]
    assert not (repo / "left.txt").exists()


async def test_copied_files_belong_to_the_sandbox_user(base_image: str, repo: Path) -> None:
    async with DockerSandbox(base_image, workspace=repo, mount="copy") as sb:
        owners = await sb.exec("stat -c '%u:%g' . a.txt sub sub/c.txt | sort -u; id -u; id -g")
    *files, uid, gid = owners.stdout.decode().split()
    assert files == [f"{uid}:{gid}"]
    assert uid != "0"


async def test_export_refuses_a_non_empty_directory(base_image: str, repo: Path) -> None:
    async with DockerSandbox(base_image, workspace=repo, mount="copy") as sb:
        with pytest.raises(ConfigError):
            await sb.export(repo)
    with pytest.raises(ConfigError):
        DockerSandbox(base_image, mount="copy")


async def test_hard_links_made_in_the_sandbox_export(
    base_image: str, repo: Path, tmp_path: Path
) -> None:
    async with DockerSandbox(base_image, workspace=repo, mount="copy") as sb:
        await sb.exec("ln a.txt twin.txt && mkdir -p deep && ln sub/c.txt deep/c-twin.txt")
        await sb.export(tmp_path / "exported")
    out = tmp_path / "exported"
    assert (out / "twin.txt").read_bytes() == (repo / "a.txt").read_bytes()
    assert (out / "deep" / "c-twin.txt").read_bytes() == (repo / "sub" / "c.txt").read_bytes()
    assert (out / "twin.txt").stat().st_ino == (out / "a.txt").stat().st_ino

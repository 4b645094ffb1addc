"""Patch bytes for one file: git's quoting of odd names, lines ended by \\n only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sandloop.sandboxes._gitpatch import file_diff, quote_path

ODD = [
    b"plain.txt",
    b"sp ace.txt",
    b"new\nline",
    b"tab\there",
    b'quo"te',
    b"back\\slash",
    b"bad\xff\xfe",
    b"caf\xc3\xa9",
    b"bell\x07del\x7f",
]


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        (b"plain.txt", b"plain.txt"),
        (b"sp ace.txt", b"sp ace.txt"),
        (b"new\nline", b'"new\\nline"'),
        (b"tab\there", b'"tab\\there"'),
        (b'quo"te', b'"quo\\"te"'),
        (b"back\\slash", b'"back\\\\slash"'),
        (b"bad\xff\xfe", b'"bad\\377\\376"'),
        (b"bell\x07del\x7f", b'"bell\\adel\\177"'),
    ],
)
def test_names_are_quoted_as_git_quotes_them(name: bytes, quoted: bytes) -> None:
    assert quote_path(name) == quoted


def test_the_quoting_matches_real_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ODD:
        (repo / os.fsdecode(name)).write_bytes(b"x")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    listed = subprocess.run(
        ["git", "-c", "core.quotePath=true", "ls-files", "--others"],
        cwd=repo,
        capture_output=True,
        check=True,
        env=env,
    ).stdout
    assert sorted(listed.splitlines()) == sorted(quote_path(name) for name in ODD)


def test_only_newline_ends_a_line_and_a_missing_last_newline_is_marked() -> None:
    patch = file_diff(b"f", 0o100644, 0o100644, b"a\rb\x0cc\n", b"a\rb\x0cc\nd")
    assert patch.endswith(b" a\rb\x0cc\n+d\n\\ No newline at end of file\n")
    assert b"@@ -1 +1,2 @@\n" in patch


def test_new_deleted_mode_and_binary_sections() -> None:
    new = file_diff(b"n\nl", None, 0o100755, b"", b"x\n")
    assert new.startswith(b'diff --git "a/n\\nl" "b/n\\nl"\nnew file mode 100755\n--- /dev/null\n')
    gone = file_diff(b"sp ace", 0o100644, None, b"x\n", b"")
    assert b"deleted file mode 100644\n--- a/sp ace\t\n+++ /dev/null\n" in gone
    assert file_diff(b"m", 0o100644, 0o100755, b"x", b"x") == (
        b"diff --git a/m b/m\nold mode 100644\nnew mode 100755\n"
    )
    assert file_diff(b"bin", 0o100644, 0o100644, b"\0a", b"\0b").endswith(
        b"Binary files a/bin and b/bin differ\n"
    )

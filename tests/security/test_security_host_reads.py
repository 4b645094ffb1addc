"""Listing a run's changes never makes the host follow, block on or swallow what the model made.

Each test has the scripted model create one hostile entry in the bind-mounted repository (a
link to ``/dev/zero``, a FIFO, a sparse 64 GiB file, a link to a host file outside the
workspace), then ``sandloop run`` ends and lists the changes. The run must complete, list the
entry without reading through it, and keep the CLI's peak RSS (``VmHWM`` of the CLI
process) below :data:`RSS_BOUND_KIB`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import make_repo, run_commands

pytestmark = pytest.mark.docker

#: Peak RSS the CLI may reach (a run with nothing hostile peaks near 80 MiB).
RSS_BOUND_KIB = 250 * 1024
SECRET = "host-only secret line\n" * 7


def changes_of(stdout: str) -> dict[str, Any]:
    (ended,) = [e for e in map(json.loads, stdout.splitlines()) if e["event"] == "run_ended"]
    return {c["path"]: (c["added"], c["removed"], c["status"]) for c in ended["changes"]}


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("zero", "ln -s /dev/zero zero"),
        ("fifo", "mkfifo fifo"),
        ("sparse", "truncate -s 64G sparse"),
        ("leak", "ln -s {secret} leak"),
    ],
)
def test_hostile_entries_are_listed_not_read(
    image: str, tmp_path: Path, name: str, command: str
) -> None:
    repo = make_repo(tmp_path)
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    home = tmp_path / "home"
    run = run_commands(
        repo,
        [command.format(secret=secret)],
        image=image,
        env={"SANDLOOP_HOME": str(home)},
        rss_file=tmp_path / "rss",
    )
    print(f"peak RSS of the CLI with {name!r}: {run.peak_rss_kib / 1024:.1f} MiB")
    assert run.done.returncode == 0, run.done.stderr[-2000:]
    assert changes_of(run.done.stdout) == {name: (-1, -1, "new")}  # listed, not counted
    assert 0 < run.peak_rss_kib < RSS_BOUND_KIB
    for record in home.rglob("*"):
        if record.is_file():  # nothing of the host file reached a record
            assert "host-only secret" not in record.read_text(errors="replace"), record
    assert "host-only secret" not in run.done.stdout + run.done.stderr

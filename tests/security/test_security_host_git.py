"""The host never runs what the model wrote into the repository's git configuration.

The scripted model, inside a real sandbox bind-mounting a real git repository, points every
git hook it can at a command that creates a marker file on the host: ``core.fsmonitor``, an
external diff, a textconv and a clean/smudge filter (through ``.gitattributes``), a pager, a
hooks directory and an include. ``sandloop run`` then lists the changed files, and no marker
appears: the host computes changes from its own snapshot, and git never runs on the host.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import make_repo, run_commands

pytestmark = pytest.mark.docker


def evil_git(markers: Path) -> list[str]:
    """Shell commands (run in /workspace) that make git run ``touch <markers>/<name>``."""

    def cmd(name: str) -> str:
        return f"touch {markers}/{name} #"

    hooks = "/workspace/.git/evil-hooks"
    return [
        f"git config core.fsmonitor '{cmd('fsmonitor')}'",
        f"git config diff.external '{cmd('external-diff')}'",
        f"git config diff.evil.textconv '{cmd('textconv')}'",
        f"git config diff.evil.command '{cmd('diff-driver')}'",
        f"git config filter.evil.clean '{cmd('clean')}'",
        f"git config filter.evil.smudge '{cmd('smudge')}'",
        "git config filter.evil.required false",
        f"git config core.pager '{cmd('pager')}'",
        f"git config core.hooksPath {hooks}",
        f"printf '[core]\\n\\tfsmonitor = \"{cmd('include')}\"\\n' > .git/evil.inc",
        "git config include.path evil.inc",
        "printf '* diff=evil filter=evil\\n' > .gitattributes",
        f"mkdir -p {hooks}",
        f"for h in pre-commit post-checkout post-index-change pre-auto-gc; do "
        f"printf '#!/bin/sh\\ntouch {markers}/hook-'$h'\\n' > {hooks}/$h; "
        f"chmod +x {hooks}/$h; done",
        "printf 'changed\\n' >> shop/pricing.py",
    ]


def test_the_models_git_config_never_runs_on_the_host(image: str, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {"SANDLOOP_HOME": str(tmp_path / "home")}
    run = run_commands(repo, evil_git(markers), image=image, env=env, rss_file=tmp_path / "rss")
    assert run.done.returncode == 0, run.done.stderr
    outcomes = run.requests[1].body["input"][0]["output"]
    assert all(o["outcome"]["exit_code"] == 0 for o in outcomes), outcomes  # all were set
    assert "fsmonitor" in (repo / ".git" / "config").read_text()
    assert sorted(p.name for p in markers.iterdir()) == []  # no command of the model ran here
    (ended,) = [
        e for e in map(json.loads, run.done.stdout.splitlines()) if e["event"] == "run_ended"
    ]
    changes = {c["path"]: (c["added"], c["removed"], c["status"]) for c in ended["changes"]}
    assert changes == {".gitattributes": (1, 0, "new"), "shop/pricing.py": (1, 0, "modified")}

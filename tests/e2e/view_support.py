"""What the ``sandloop view`` tests share: a real coding run, and the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sandloop.cli.demo_command import demo_data
from sandloop.testing import (
    ScriptedResponsesServer,
    apply_patch_call,
    message,
    reasoning,
    shell_call,
)

TESTS = "python3 -B -m unittest"
FIX = (
    "     for line in lines:\n"
    "-        total += line.unit_cents\n"
    "+        total += line.unit_cents * line.quantity\n"
)
#: Markup a model could write anywhere: none of it may become an element or run.
HOSTILE = (
    "</script><script>window.__pwned = 1</script>"
    '<img src=x onerror="window.__pwned = 2"><b id="injected">bold</b>'
    "</pre></details></div><script>window.__pwned = 3</script>"
)


def screenshots(tmp_path: Path) -> Path:
    """Where the page screenshots go."""
    return Path(os.environ.get("SANDLOOP_VIEW_SCREENSHOTS") or tmp_path)


def sandloop_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandloop.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={k: v for k, v in env.items() if not k.startswith("OPENAI_")},
    )


def make_coding_run(tmp_path: Path) -> Path:
    """A real ``sandloop run --local`` that fixes the demo project: its run directory."""
    repo = tmp_path / "repo"
    shutil.copytree(demo_data() / "project", repo)
    script = [
        [
            reasoning("The subtotal looks wrong; run the tests first."),
            message("Running the tests.", phase="commentary"),
            shell_call([TESTS, "echo " + json.dumps(HOSTILE) + " >&2"]),
        ],
        [apply_patch_call("update_file", "shop/pricing.py", FIX)],
        [shell_call([TESTS])],
        [message("Fixed the subtotal: it multiplies by the quantity now.", phase="final_answer")],
    ]
    home = tmp_path / "home"
    with ScriptedResponsesServer(script) as server:
        env = {**os.environ, "SANDLOOP_HOME": str(home), "COLUMNS": "200"}
        done = sandloop_cli(
            "run", "--local", "--repo", str(repo), "--base-url", server.base_url,
            "Fix the subtotal bug.", env=env,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (run_dir,) = (home / "runs").iterdir()
    return run_dir


def view(path: Path, *extra: str) -> Path:
    """``sandloop view PATH``: the page it says it wrote."""
    done = sandloop_cli("view", str(path), *extra, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    page = Path(done.stdout.strip().splitlines()[0])
    assert page.is_file()
    return page

"""Capture, as text, what `sandloop run` shows in a terminal: docs/screens/live_run.txt.

The real CLI runs in a pseudo-terminal (tests/e2e/terminal_support.py, screen emulated by
pyte) against the scripted Responses server, with a real Docker sandbox (``--local`` for a
local one): the first request fails with HTTP 500 and is retried, a long command prints a line
every 0.3 s, a failing command exits 1, then the model answers. The screen is saved while the
long command runs and at the end.

    python tools/capture_live_run.py [--local] [--out docs/screens/live_run.txt]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from terminal_support import Terminal  # type: ignore[import-not-found, unused-ignore]  # noqa: E402

from sandloop.testing import (  # noqa: E402
    ScriptedResponsesServer,
    Turn,
    TurnLike,
    message,
    server_error,
    shell_call,
)

LONG = 'for i in $(seq 1 20); do echo "collecting batch $i of 20"; sleep 0.3; done'
FAILING = "python3 -c 'import sys; print(\"2 tests failed\"); sys.exit(1)'"


def script() -> list[TurnLike]:
    return [
        Turn([shell_call([LONG])], faults=[server_error(500)]),
        [shell_call([FAILING])],
        [message("The long step finished; the tests fail (exit 1).", phase="final_answer")],
    ]


def repository(where: Path) -> Path:
    repo = where / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("a repository\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    return repo


def capture(local: bool) -> str:
    with tempfile.TemporaryDirectory() as tmp, ScriptedResponsesServer(script()) as server:
        repo = repository(Path(tmp))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        env.update(SANDLOOP_HOME=str(Path(tmp) / "home"), OPENAI_API_KEY="sk-test")
        argv = [sys.executable, "-m", "sandloop.cli", "run", "--repo", str(repo)]
        argv += ["--base-url", server.base_url, *(["--local"] if local else [])]
        term = Terminal([*argv, "run the slow step, then the tests"], env=env, columns=100)
        running = term.wait_for(lambda text: "collecting batch 12 of 20" in text)
        status = term.finish()
    frames = [
        "# sandloop run in a 100-column terminal: an HTTP 500 retried, a long command (its timer",
        "# and last lines while it runs), a failing command. Made by tools/capture_live_run.py.",
        "",
        "--- while the long command runs ---",
        running,
        "",
        f"--- at the end (exit status {status}) ---",
        term.text(),
    ]
    return "\n".join(frames) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="a LocalSandbox instead of Docker")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screens" / "live_run.txt")
    args = parser.parse_args()
    text = capture(args.local)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``sandloop demo``: a coding run replayed offline on a bundled buggy project.

Part of ``cli``. Copies the project bundled in ``sandloop/cli/demo/project`` to a fresh
directory (a git repository with one commit when git is installed, as a real project would be;
git runs there only before the run, on files of ours), makes sure the base image is there
(building it when missing), and replays the bundled cassette
``sandloop/cli/demo/cassette.json``: the model's side comes from the cassette, every tool
call really runs (the tests fail, the code is read, apply_patch fixes it, the tests pass).
Where no Docker engine answers, the same session runs in a ``LocalSandbox`` in that directory,
so the first command works on any machine with Python. Needs no API key and no network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from sandloop.cli.changes import tree_diff
from sandloop.cli.display import Display, JsonDisplay, RichDisplay, cli_console, print_diff
from sandloop.cli.launch import execute
from sandloop.cli.run import DEFAULT_MODEL
from sandloop.cli.session import SessionOptions
from sandloop.errors import ConfigError, SandloopError
from sandloop.testing.cassette import Cassette

__all__ = ("demo_data", "git_init", "register")

#: Set to ``1`` to run the demo in a LocalSandbox even when a Docker engine answers.
LOCAL_ENV = "SANDLOOP_DEMO_LOCAL"

_GIT_IDENTITY = ("-c", "user.name=sandloop demo", "-c", "user.email=demo@sandloop.invalid")


def register(parser: argparse.ArgumentParser) -> None:
    """Fill the parser of ``sandloop demo``: its flags and ``func``."""
    parser.description = (
        "Copy a small buggy project to a new directory and replay a recorded "
        "coding run on it: the model's side comes from a bundled cassette, every command and "
        "patch really runs in a Docker sandbox (or, without Docker, a local one)."
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help=f"run in a LocalSandbox (not isolated) even when Docker answers (or {LOCAL_ENV}=1)",
    )
    parser.add_argument(
        "--dir", type=Path, metavar="DIR", help="where to put the project (default: a temp dir)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON events, one per line")
    parser.set_defaults(func=_demo)


def demo_data() -> Path:
    """The folder holding the bundled project and cassette."""
    folder = Path(str(resources.files("sandloop.cli"))) / "demo"
    if not (folder / "cassette.json").is_file():
        raise ConfigError(f"the demo files are missing from {folder}: reinstall sandloop")
    return folder


def _demo(args: argparse.Namespace) -> int:
    data = demo_data()
    cassette = Cassette.load(data / "cassette.json")
    target = _target(args.dir)
    project, original = target / "project", target / "original"
    shutil.copytree(data / "project", project)
    shutil.copytree(data / "project", original)
    display: Display = JsonDisplay() if args.json else RichDisplay()
    display.note(f"demo project copied to {project}")
    if not git_init(project):
        display.note("no git repository (is git installed?): the project is a plain directory")
    local = args.local or os.environ.get(LOCAL_ENV) == "1" or not _docker_ready(display)
    options = SessionOptions(
        task=str(cassette.meta.get("task") or "Fix the failing tests."),
        repo=project,
        image=os.environ.get("SANDLOOP_IMAGE") or None,
        model=str(cassette.meta.get("model") or DEFAULT_MODEL),
        local=local,
        replay=cassette,
        replay_name="the bundled demo cassette",
        run_root=target / "runs",
    )
    status = execute(options, display, debug=args.debug)
    _show_diff(args.json, original, project)
    shutil.rmtree(original, ignore_errors=True)
    if not args.json:
        print(f"\nThe project is in {project}: run its tests with `python3 -m unittest -v` there.")
    return status


def git_init(project: Path) -> bool:
    """Make ``project`` a git repository with one commit, as a real project would be.

    It runs before the session starts, on the bundled files only (after the run, nothing on
    the host runs git in the project: the model could have written its config and hooks). The
    identity is given on the command line, so no git configuration is written; hooks are off.

    Returns:
        Whether the repository was made (``False`` when git is missing or fails; the project
        is then left as it was, without a ``.git``).
    """
    git = shutil.which("git")
    if git is None:
        return False
    options = [*_GIT_IDENTITY, "-c", "core.hooksPath=/dev/null", "-c", "commit.gpgSign=false"]
    steps = (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the demo project"])
    for step in steps:
        try:
            done = subprocess.run(
                [git, "-C", str(project), *options, *step],
                capture_output=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is None or done.returncode != 0:
            shutil.rmtree(project / ".git", ignore_errors=True)
            return False
    return True


def _target(wanted: Path | None) -> Path:
    if wanted is None:
        return Path(tempfile.mkdtemp(prefix="sandloop-demo-"))
    target = wanted.expanduser().resolve()
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"--dir {str(wanted)!r} is not empty: name a new or empty directory")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _docker_ready(display: Display) -> bool:
    """Whether a Docker engine answers and has the base image (built here when missing)."""
    from sandloop.sandboxes.images import build_images, image_tag

    fallback = "running the demo in a LocalSandbox instead: commands run on this machine, "
    fallback += "without isolation"
    try:
        from sandloop.sandboxes import docker as engine

        client = engine.connect(timeout=10)
    except SandloopError as exc:
        display.note(f"No Docker engine answers ({exc}); {fallback}.")
        return False
    try:
        tag = os.environ.get("SANDLOOP_IMAGE") or image_tag("base")
        present = {t for row in engine.list_images(client, "sandloop/") for t in row["tags"]}
    finally:
        client.close()
    if tag in present or tag != image_tag("base"):
        return True  # a chosen $SANDLOOP_IMAGE is used as it is (a missing one fails clearly)
    display.note(f"building the sandbox image {tag} (once; this takes a few minutes)")
    try:
        build_images(["base"], log=lambda line: print(f"  {line}", file=sys.stderr, flush=True))
    except SandloopError as exc:
        display.note(f"could not build {tag} ({exc}); {fallback}.")
        return False
    return True


def _show_diff(as_json: bool, original: Path, project: Path) -> None:
    diff = tree_diff(original, project)
    if as_json:
        import json

        print(json.dumps({"event": "demo_diff", "diff": diff}), flush=True)
        return
    console = cli_console()
    console.rule("the diff", style="dim")
    if diff:
        print_diff(console, diff)
    else:
        console.print("(no changes)")

"""``sandloop run``: a coding agent on a repository, every command in a hardened sandbox.

Part of ``cli``: the flags of ``sandloop run``. What the command does with them lives in
:mod:`sandloop.cli.launch`, imported only when the command runs, so ``sandloop run --help``
stays quick. Exit status: 0 when the run completed, 1 when it failed, 2 for a usage error (set by
``sandloop.cli.main``), 3 when it stopped for approvals (``--approve defer``), 130 when
interrupted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sandloop.cli import argtypes

__all__ = ("DEFAULT_MODEL", "register")

#: The model used when neither ``--model`` nor ``SANDLOOP_MODEL`` names one.
DEFAULT_MODEL = "gpt-5.1"


def register(parser: argparse.ArgumentParser) -> None:
    """Fill the parser of ``sandloop run``: its flags and ``func``."""
    parser.description = (
        "Run a coding agent (shell + apply_patch tools) on a repository, every "
        "command inside a hardened Docker sandbox. Needs OPENAI_API_KEY unless --base-url "
        "points at this machine or --replay serves the model from a cassette."
    )
    parser.add_argument("task", metavar="TASK", help="what the agent should do")
    parser.add_argument("--repo", type=Path, default=Path("."), help="repository (default: .)")
    parser.add_argument("--model", help=f"model (default: $SANDLOOP_MODEL or {DEFAULT_MODEL})")
    parser.add_argument(
        "--image", metavar="IMG", help="sandbox image (default: $SANDLOOP_IMAGE or sandloop/base)"
    )
    parser.add_argument("--base-url", metavar="URL", help="Responses API base URL")
    parser.add_argument(
        "--max-turns",
        type=argtypes.positive,
        metavar="N",
        help="stop after N model calls (default: 50)",
    )
    parser.add_argument(
        "--timeout", type=argtypes.seconds, metavar="SECONDS", help="stop the run after this long"
    )
    parser.add_argument(
        "--token-budget",
        type=argtypes.positive,
        metavar="N",
        help="stop once the run used N tokens",
    )
    parser.add_argument(
        "--max-retries",
        type=argtypes.count,
        metavar="N",
        help="retries of a failed model request (429, 5xx, connection) before giving up "
        "(default: 2)",
    )
    told = parser.add_mutually_exclusive_group()
    told.add_argument("--instructions", metavar="TEXT", help="the agent's instructions")
    told.add_argument(
        "--instructions-file", type=Path, metavar="FILE", help="read the instructions from FILE"
    )
    parser.add_argument(
        "--approve",
        choices=("auto", "ask", "deny", "defer"),
        help="run commands and patches without asking (auto, the default), ask first, refuse "
        "them, or stop at the first one and exit 3 (defer: go on with `sandloop resume`)",
    )
    parser.add_argument(
        "--network",
        action=argparse.BooleanOptionalAction,
        help="give the sandbox network access (default: none)",
    )
    parser.add_argument(
        "--copy",
        action="store_true",
        help="work on a copy of the repository; the changes are saved as a patch",
    )
    parser.add_argument(
        "--diff",
        action="store_true",
        help="show the diff of the changes at the end (default: the changed files and counts)",
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="run commands on this machine WITHOUT isolation (no Docker needed)",
    )
    parser.add_argument(
        "--local-shell", action="store_true", help="also offer the local_shell tool"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--record", type=Path, metavar="FILE", help="write a cassette")
    group.add_argument(
        "--replay", type=Path, metavar="FILE", help="serve the model from a cassette"
    )
    parser.add_argument("--json", action="store_true", help="print JSON events, one per line")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sandloop.cli.launch import launch

    return launch(args)

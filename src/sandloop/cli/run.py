"""``sandloop run``: a coding agent on a repository, every command in a hardened sandbox.

Part of ``cli``: parses the flags into :class:`~sandloop.cli.session.SessionOptions` and runs a
session. Exit status: 0 when the run completed, 1 when it failed, 2 for a usage error (set by
``sandloop.cli.main``), 3 when it stopped for approvals (``--approve defer``), 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

import anyio

from sandloop.cli import argtypes
from sandloop.cli.approvals import ask_input_problem
from sandloop.cli.config import load_defaults
from sandloop.cli.display import Display, JsonDisplay, RichDisplay
from sandloop.cli.session import SessionOptions, SessionOutcome, run_session
from sandloop.client import DEFAULT_BASE_URL, is_loopback_url
from sandloop.errors import ConfigError, SandboxUnavailableError
from sandloop.loop import RunResult
from sandloop.testing.cassette import Cassette

__all__ = ("DEFAULT_MODEL", "register")

#: The model used when neither ``--model`` nor ``SANDLOOP_MODEL`` names one.
DEFAULT_MODEL = "gpt-5.1"


def register(sub: Any) -> None:
    """Add ``run``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="run a coding agent on a repository",
        description="Run a coding agent (shell + apply_patch tools) on a repository, every "
        "command inside a hardened Docker sandbox. Needs OPENAI_API_KEY unless --base-url "
        "points at this machine or --replay serves the model from a cassette.",
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


def options_from(args: argparse.Namespace) -> SessionOptions:
    """The session options the flags ask for.

    Raises:
        ConfigError: a bad combination or path.
    """
    try:
        repo = args.repo.expanduser().resolve()
    except OSError as exc:  # e.g. the current directory was deleted under the shell
        raise ConfigError(f"cannot resolve --repo {str(args.repo)!r}: {exc.strerror}") from exc
    if not repo.is_dir():
        raise ConfigError(f"--repo {str(args.repo)!r} is not a directory")
    if args.local and (args.copy or args.network or args.image):
        raise ConfigError("--local runs on this machine: --copy, --network and --image need Docker")
    config = load_defaults(repo)
    approve = args.approve or config.get("approve", "auto")
    if args.record is not None and not args.record.expanduser().resolve().parent.is_dir():
        raise ConfigError(f"--record {str(args.record)!r}: its directory does not exist")
    if approve == "ask" and (problem := ask_input_problem(sys.stdin)):
        raise ConfigError(
            f"--approve ask: {problem}, so every call would be denied unseen; "
            "run it from a terminal, or choose --approve auto or --approve deny"
        )
    cassette = Cassette.load(args.replay) if args.replay else None
    base_url = args.base_url or config.get("base_url")
    if cassette is None:
        _check_api_key(base_url)
    model = (
        args.model
        or _recorded_model(cassette)
        or os.environ.get("SANDLOOP_MODEL")
        or config.get("model")
    )
    image = args.image or os.environ.get("SANDLOOP_IMAGE") or config.get("image")
    network = args.network if args.network is not None else config.get("network", False)
    if args.local:
        image, network = None, False  # a config file's Docker settings do not apply to --local
    return SessionOptions(
        task=args.task,
        repo=repo,
        model=model or DEFAULT_MODEL,
        image=image or None,
        base_url=base_url,
        max_turns=_first(args.max_turns, config.get("max_turns"), 50),
        timeout=_first(args.timeout, config.get("timeout")),
        token_budget=_first(args.token_budget, config.get("token_budget")),
        max_retries=_first(args.max_retries, config.get("max_retries")),
        instructions=_instructions(args) or config.get("instructions"),
        approve=approve,
        network=network,
        copy=args.copy,
        local=args.local,
        local_shell=args.local_shell,
        record=args.record,
        replay=cassette,
        replay_name=str(args.replay) if args.replay else None,
    )


def _first(*values: Any) -> Any:
    """The first value that was given (``0`` counts), else ``None``."""
    return next((v for v in values if v is not None), None)


def _instructions(args: argparse.Namespace) -> str | None:
    if args.instructions is not None:
        return str(args.instructions)
    if args.instructions_file is None:
        return None
    try:
        return str(args.instructions_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--instructions-file {str(args.instructions_file)!r}: {exc}") from exc


def _check_api_key(base_url: str | None) -> None:
    url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    # The client's own rule, checked early for a message that speaks of the command line.
    if not is_loopback_url(url) and not os.environ.get("OPENAI_API_KEY", "").strip():
        raise ConfigError(
            f"no API key for {url}: set OPENAI_API_KEY (or use --replay FILE, a --base-url on "
            "this machine, or try `sandloop demo`, which needs no key)"
        )


def _recorded_model(cassette: Cassette | None) -> str | None:
    if cassette is None or not cassette.exchanges:
        return None
    model = cassette.exchanges[0].request.get("model")
    return model if isinstance(model, str) else None


def _run(args: argparse.Namespace) -> int:
    options = options_from(args)
    display: Display = JsonDisplay() if args.json else RichDisplay()
    return execute(options, display, debug=args.debug)


def execute(options: SessionOptions, display: Display, *, debug: bool = False) -> int:
    """Run a session and turn its outcome into an exit status (errors explained on stderr)."""
    outcome = anyio.run(_until_terminated, options, display)
    if outcome is None:
        print("sandloop: terminated (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    if outcome.error is not None:
        if debug:
            traceback.print_exception(outcome.error)
        hint = (
            " (or pass --local to run without isolation)"
            if isinstance(outcome.error, SandboxUnavailableError) and not options.local
            else ""
        )
        print(f"sandloop: error: {outcome.error}{hint}", file=sys.stderr)
        return 1
    if outcome.result is not None and outcome.result.status == "needs_approval":
        return print_pending(outcome.result, outcome.summary.run_dir.name)
    return 0 if outcome.ok else 1


#: The exit status of a run stopped for approvals.
NEEDS_APPROVAL = 3


def print_pending(result: RunResult, run_id: str) -> int:
    """Say which calls wait for a decision and how to go on; returns :data:`NEEDS_APPROVAL`."""
    print(
        f"sandloop: {len(result.pending_approvals)} call(s) wait for a decision:", file=sys.stderr
    )
    for pending in result.pending_approvals:
        action = pending.action.replace("\n", "\n    ")
        print(f"  {pending.call_id}  {pending.tool}: {action}", file=sys.stderr)
    print(
        f"go on with: sandloop resume {run_id} --allow ID --deny ID (or --allow-all)",
        file=sys.stderr,
    )
    return NEEDS_APPROVAL


async def _until_terminated(options: SessionOptions, display: Display) -> SessionOutcome | None:
    """Run the session; SIGTERM cancels it like Ctrl-C does (``None`` then), so the sandbox is
    removed and the transcript closed when a supervisor stops us too."""
    outcome: SessionOutcome | None = None
    failure: Exception | None = None
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch)
        try:
            outcome = await run_session(options, display)
        except Exception as exc:
            failure = exc  # raised below as itself, not inside an ExceptionGroup
        tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return outcome

"""What ``sandloop run`` does with its flags: a session, its outcome, the exit status.

Part of ``cli``, below :mod:`sandloop.cli.run` (the flags): turns them into
:class:`~sandloop.cli.session.SessionOptions`, runs the session until it ends or SIGTERM stops
it, and says on stderr why it failed or which calls wait for a decision. ``sandloop demo`` and
``sandloop resume`` end their runs the same way.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from typing import Any

import anyio

from sandloop.cli.approvals import ask_input_problem
from sandloop.cli.config import load_defaults
from sandloop.cli.display import Display, JsonDisplay, RichDisplay
from sandloop.cli.run import DEFAULT_MODEL
from sandloop.cli.session import SessionOptions, SessionOutcome, run_session
from sandloop.client import DEFAULT_BASE_URL, is_loopback_url
from sandloop.errors import ApiConnectionError, ConfigError, SandboxUnavailableError, ServerError
from sandloop.loop import RunResult
from sandloop.testing.cassette import Cassette

__all__ = ("NEEDS_APPROVAL", "execute", "launch", "options_from", "print_pending")


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
        diff=args.diff,
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


def launch(args: argparse.Namespace) -> int:
    """Run ``sandloop run`` with its parsed flags; returns the exit status."""
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
        print(f"sandloop: error: {outcome.error}{_hint(outcome.error, options)}", file=sys.stderr)
        return 1
    if outcome.result is not None and outcome.result.status == "needs_approval":
        return print_pending(outcome.result, outcome.summary.run_dir.name)
    return 0 if outcome.ok else 1


def _hint(error: BaseException, options: SessionOptions) -> str:
    """What to try next, after the error's own sentence (empty when there is nothing to add)."""
    if isinstance(error, SandboxUnavailableError) and not options.local:
        return " (or pass --local to run without isolation)"
    if isinstance(error, ApiConnectionError | ServerError):
        more = "" if error.attempts is None else "; --max-retries N retries more often"
        return f"; `sandloop doctor` checks the endpoint{more}"
    return ""


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

"""The ``sandloop`` command.

Top of the data flow for people at a terminal. Each subcommand lives in its own module exposing
``register(subparsers)``, which adds its parser and sets ``func`` (``args -> exit status``); to
add one, write the module and list it in ``COMMANDS``.

Exit status: 0 success, 1 a failed run or operation, 2 a usage error (bad flags, bad
configuration such as a missing API key), 3 a run stopped for approvals, 130 interrupted.
Errors are one sentence on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from sandloop.errors import ConfigError, SandloopError

__all__ = ("COMMANDS", "build_parser", "main")

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("run", "resume", "batch", "demo_command", "doctor", "images", "sandboxes")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="sandloop",
        description="Run OpenAI Responses API agents with every tool call in a hardened sandbox.",
    )
    parser.add_argument("--version", action="version", version=f"sandloop {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"sandloop.cli.{name}").register(sub)
    _debug_everywhere(parser)
    return parser


def _debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """Accept ``--debug`` after any (sub)command too: ``sandloop run --debug ...``.

    Below the top level its default is "not given", so a subcommand never resets a ``--debug``
    given before it.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.add_argument(
                    "--debug",
                    action="store_true",
                    default=argparse.SUPPRESS,
                    help="show tracebacks of errors",
                )
                _debug_everywhere(child)


def _version() -> str:
    from sandloop.sandboxes.images import package_version

    return package_version()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 error, 2 usage, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = getattr(args, "debug", False)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = args.func(args)
    except ConfigError as exc:
        _report(exc, args.debug)
        return 2
    except SandloopError as exc:
        _report(exc, args.debug)
        return 1
    except KeyboardInterrupt:
        print("sandloop: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``sandloop run --json ... | head``): stop quietly, like cat.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # the CLI's top level: a bug of ours, said plainly
        if args.debug:
            traceback.print_exc()
        print(
            f"sandloop: internal error: {exc.__class__.__name__}: {exc} "
            "(run again with --debug for the traceback and please report it)",
            file=sys.stderr,
        )
        return 1
    return status


def _report(exc: SandloopError, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc)
    print(f"sandloop: error: {exc}", file=sys.stderr)

"""The ``sandloop`` command.

Top of the data flow for people at a terminal. Each subcommand lives in its own module exposing
``register(parser)``, which fills the subcommand's parser and sets ``func`` (``args -> exit
status``); to add one, write the module and list it in ``COMMANDS`` with its one-line help.

A command's module is imported only when that command is chosen (see :class:`_Subcommands`):
the modules pull in httpx, pydantic, Docker's SDK and Rich, and ``sandloop --help`` or
``sandloop --version`` should not wait for them (``tools/bench_cli.py`` measures it).

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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sandloop
from sandloop.errors import ConfigError, SandloopError

__all__ = ("COMMANDS", "build_parser", "main", "subcommand_parser")

#: Subcommands, in the order ``--help`` lists them: name -> (module in ``sandloop.cli``, help).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "run a coding agent on a repository"),
    "resume": ("resume", "continue a run that crashed or stopped for approvals"),
    "batch": ("batch", "run one agent over many tasks (a JSONL task file)"),
    "view": ("view", "see a run or a batch as one HTML page (--serve: live)"),
    "demo": ("demo_command", "watch a coding agent fix a bug (offline, no API key)"),
    "doctor": ("doctor", "check Docker, the images, the API key and base URL"),
    "images": ("images", "build and list sandbox images"),
    "sandboxes": ("sandboxes", "list or remove sandbox containers"),
}


if TYPE_CHECKING:  # generic in typeshed only
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsers = argparse._SubParsersAction


class _Subcommands(_SubParsers):
    """The subcommands, each parser filled from its module only when its command is chosen.

    argparse calls an action when it meets it on the command line; before handing the rest of
    the arguments to the chosen subcommand's parser, this one imports the module that fills it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._filled: set[str] = set()

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if isinstance(values, Sequence) and values and values[0] in COMMANDS:
            self.fill(values[0])
        super().__call__(parser, namespace, values, option_string)

    def fill(self, name: str) -> argparse.ArgumentParser:
        """Let subcommand ``name``'s module fill its parser (once); returns the parser."""
        parser = self.choices[name]
        if name not in self._filled:
            self._filled.add(name)
            importlib.import_module(f"sandloop.cli.{COMMANDS[name][0]}").register(parser)
            _accept_debug(parser)
        return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; a subcommand's own arguments are added when it is chosen."""
    parser = argparse.ArgumentParser(
        prog="sandloop",
        description="Run OpenAI Responses API agents with every tool call in a hardened sandbox.",
    )
    parser.register("action", "parsers", _Subcommands)
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        sub.add_parser(name, help=summary)
    return parser


def subcommand_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The filled parser of subcommand ``name`` of a :func:`build_parser` parser."""
    for action in parser._actions:
        if isinstance(action, _Subcommands):
            return action.fill(name)
    raise LookupError(f"{parser.prog} has no subcommands")


def _accept_debug(parser: argparse.ArgumentParser) -> None:
    """Accept ``--debug`` after a (sub)command too: ``sandloop run --debug ...``.

    Below the top level its default is "not given", so a subcommand never resets a ``--debug``
    given before it.
    """
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors"
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _accept_debug(child)


class _Version(argparse.Action):
    """``--version``: ``sandloop.__version__``, the version the package is built with."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print(f"sandloop {sandloop.__version__}")
        parser.exit()


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

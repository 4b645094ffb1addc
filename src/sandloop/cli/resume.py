"""``sandloop resume``: continue a run that crashed, or one that stopped for approvals.

Part of ``cli``. The run is found by its id (in the run directories, see
:func:`~sandloop.cli.rundir.runs_root`) or by the path of its journal; it goes on in a fresh
sandbox on the same workspace (see :func:`sandloop.resume`). ``--allow``/``--deny``/
``--allow-all`` decide the calls a ``--approve defer`` run stopped at. Exit status as for
``sandloop run``: 0 completed, 1 failed, 3 stopped for approvals again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import anyio

from sandloop.cli.display import Display, JsonDisplay, RichDisplay
from sandloop.cli.launch import print_pending
from sandloop.cli.rundir import runs_root
from sandloop.cli.session import JOURNAL_NAME
from sandloop.errors import ConfigError
from sandloop.loop import RunState, resume
from sandloop.loop.journal import read_journal

__all__ = ("find_journal", "register")


def register(parser: argparse.ArgumentParser) -> None:
    """Fill the parser of ``sandloop resume``: its flags and ``func``."""
    parser.description = (
        "Continue a run from its journal: calls with a recorded output are not run "
        "again, a call cut short by a crash is reported to the model as of unknown effect, a "
        "request without an answer is sent again."
    )
    parser.add_argument("run", metavar="RUN_ID|PATH", help="the run's id, or its journal file")
    parser.add_argument("--repo", type=Path, default=Path("."), help="repository (default: .)")
    parser.add_argument("--allow", action="append", default=[], metavar="ID", help="allow a call")
    parser.add_argument("--deny", action="append", default=[], metavar="ID", help="deny a call")
    parser.add_argument("--allow-all", action="store_true", help="allow every waiting call")
    parser.add_argument("--json", action="store_true", help="print JSON events, one per line")
    parser.set_defaults(func=_resume)


def find_journal(run: str, repo: Path) -> Path:
    """The journal of ``run``: a journal file, a run directory, or a run id.

    Raises:
        ConfigError: nothing of that name.
    """
    path = Path(run).expanduser()
    if path.is_file():
        return path
    if (path / JOURNAL_NAME).is_file():
        return path / JOURNAL_NAME
    if "/" not in run and run not in (".", ".."):
        found = runs_root(repo.expanduser().resolve()) / run / JOURNAL_NAME
        if found.is_file():
            return found
    raise ConfigError(f"no run {run!r}: give a run id (see the run directory) or a journal path")


def decisions_of(args: argparse.Namespace, journal: Path) -> dict[str, bool | str]:
    """The decisions the flags take on the calls the run waits for."""
    waiting = [str(p["call_id"]) for p in RunState("", read_journal(journal)).pending]
    decisions: dict[str, bool | str] = dict.fromkeys(waiting, True) if args.allow_all else {}
    decisions.update(dict.fromkeys(args.allow, True))
    decisions.update(dict.fromkeys(args.deny, "denied on the command line"))
    return decisions


def _resume(args: argparse.Namespace) -> int:
    journal = find_journal(args.run, args.repo)
    decisions = decisions_of(args, journal)
    display: Display = JsonDisplay() if args.json else RichDisplay()

    async def go() -> Any:
        return await resume(journal, decisions=decisions or None, on_event=display.event)

    result = anyio.run(go)
    if result.status == "needs_approval":
        return print_pending(result, journal.parent.name)
    if result.output_text:
        print(result.output_text)  # the text also when the agent's output is typed
    if result.status != "completed":
        print(f"sandloop: the resumed run ended {result.status}", file=sys.stderr)
        return 1
    return 0

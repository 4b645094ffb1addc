"""``--approve auto|ask|deny``: the CLI's approval callbacks for commands and patches.

Part of ``cli``. ``auto`` needs no callback (the agent's policy is ``never``). ``deny`` refuses
every call with a reason the model reads. ``ask`` prompts on the terminal, one call at a time,
with the live display paused, showing the commands or the patch's diff; reading the answer
happens in a worker thread that is abandoned on Ctrl-C, so an interrupted prompt never holds up
the cleanup.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

import anyio
import anyio.to_thread

from sandloop.errors import ApprovalDeniedError
from sandloop.executors.base import ApprovalCallback, ApprovalRequest

if TYPE_CHECKING:
    from sandloop.cli.display import Display

__all__ = ("approval_callback", "ask_input_problem")

_YES = frozenset({"y", "yes"})
_MAX_LINES = 60  # of a prompt: the whole of a typical patch or command list


def approval_callback(mode: str, display: Display) -> ApprovalCallback | None:
    """The callback for ``--approve MODE`` (``None`` for ``auto``)."""
    if mode == "auto":
        return None
    if mode == "deny":
        return _deny
    return _Prompter(display)


def _deny(request: ApprovalRequest) -> bool:
    raise ApprovalDeniedError(
        f"the user did not allow this {request.tool} call (sandloop runs with --approve deny): "
        "do not retry it; finish with what you can say without running it"
    )


class _Prompter:
    """Asks ``Run shell: pytest -q? [y/N]`` on stderr and reads the answer from stdin."""

    def __init__(self, display: Display, read: Callable[[], str] | None = None) -> None:
        self.display = display
        self._read = read or sys.stdin.readline
        self._lock = anyio.Lock()

    async def __call__(self, request: ApprovalRequest) -> bool:
        async with self._lock:  # concurrent calls would interleave their prompts
            with self.display.paused():
                return await self._ask(request)

    async def _ask(self, request: ApprovalRequest) -> bool:
        sys.stderr.write(f"\nsandloop wants to run {request.tool}:\n")
        lines = _shown_lines(request)
        for line in lines[:_MAX_LINES]:
            sys.stderr.write(f"    {line}\n")
        if len(lines) > _MAX_LINES:
            sys.stderr.write(f"    ... ({len(lines) - _MAX_LINES} more lines)\n")
        sys.stderr.write("Allow? [y/N] ")
        sys.stderr.flush()
        answer: str = await anyio.to_thread.run_sync(self._read, abandon_on_cancel=True)
        if not answer:  # end of input: nobody is left to answer, and the user must see that
            sys.stderr.write("(no answer: standard input has ended) denied\n")
            raise ApprovalDeniedError("no answer: standard input ended")
        # A "no" is a plain refusal: the call's output says the user denied it, once.
        return answer.strip().lower() in _YES


def ask_input_problem(stream: TextIO | None) -> str | None:
    """Why ``--approve ask`` could not read answers from ``stream``, or ``None`` when it can.

    A terminal is where a person answers; a pipe or a file holds a script's answers. Anything
    else (no standard input, a closed one, ``/dev/null`` or another device) would deny every
    call without anyone having been asked.
    """
    if stream is None or stream.closed:
        return "there is no standard input to read answers from"
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        return "there is no standard input to read answers from"
    if os.isatty(fd) or stat.S_ISFIFO(mode) or stat.S_ISREG(mode):
        return None
    return "standard input is not a terminal (nor a pipe or file of answers)"


def _shown_lines(request: ApprovalRequest) -> list[str]:
    """What the user is asked about: the call's arguments, and a patch's diff."""
    lines = (request.arguments.strip() or request.tool).splitlines()
    diff = getattr(getattr(request.call, "operation", None), "diff", None)
    if isinstance(diff, str) and diff.strip():
        lines += diff.rstrip("\n").splitlines()
    return lines

"""What the shell tools share: the sandbox (apply_patch's too), command timeouts, the output cap.

Part of ``executors``: ``shell`` and ``local_shell`` turn a model's ``timeout_ms`` into the
seconds given to :meth:`Sandbox.exec <sandloop.sandboxes.base.Sandbox.exec>`, and cut a
command's captured output down to a number of characters the model can afford.

The cap counts characters (Unicode code points) of stdout and stderr *together*, per command,
marker included: a command's ``stdout`` plus ``stderr`` never holds more characters than the cap.
When output is cut, its head and tail are kept (cut at line ends when one is near) around a
marker such as ``[... 48213 bytes omitted ...]``. The count is in bytes because the sandbox may
already have dropped bytes it never sent (a command printing gigabytes), which cannot be
counted as characters. Invalid UTF-8 (binary output) becomes U+FFFD, one per invalid byte.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sandloop.errors import ConfigError
from sandloop.executors._budget import BUDGET_NOTE, MIN_GRANT, OutputBudget

if TYPE_CHECKING:
    from sandloop.executors.base import ToolContext
    from sandloop.sandboxes.base import ExecResult, Sandbox

__all__ = (
    "DEFAULT_MAX_OUTPUT_LENGTH",
    "DEFAULT_TIMEOUT",
    "MAX_OUTPUT_LENGTH",
    "MAX_TIMEOUT",
    "CommandLimits",
    "CommandOutput",
    "TextReporter",
    "capture_bytes",
    "fit_output",
    "output_decoder",
    "run_within_budget",
    "sandbox_of",
)

#: Seconds a command may run when the model gives no ``timeout_ms``.
DEFAULT_TIMEOUT = 120.0
#: Seconds no command may exceed, whatever the model asks for.
MAX_TIMEOUT = 1800.0
#: Characters (stdout + stderr) kept per command when the model gives no ``max_output_length``.
DEFAULT_MAX_OUTPUT_LENGTH = 65_536
#: The largest cap honoured: the API's limit on one ``stdout``/``stderr`` string.
MAX_OUTPUT_LENGTH = 10_485_760

# One invalid byte decoded with "surrogateescape" is one lone surrogate in this range.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True, slots=True)
class CommandOutput:
    """One command's result as the model will see it: capped text, exit code, timeout."""

    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    cut: bool = False


@dataclass(frozen=True, slots=True)
class CommandLimits:
    """A tool's timeout and output-cap policy.

    Attributes:
        default_timeout: Seconds a command gets when the call names no timeout (or ``<= 0``).
        max_timeout: Seconds no command may exceed; longer requests are lowered to it.
        default_max_output_length: The cap in characters when the call names none.
        max_output_length: The largest cap honoured, whatever the call asks for.
    """

    default_timeout: float = DEFAULT_TIMEOUT
    max_timeout: float = MAX_TIMEOUT
    default_max_output_length: int = DEFAULT_MAX_OUTPUT_LENGTH
    max_output_length: int = MAX_OUTPUT_LENGTH

    def __post_init__(self) -> None:
        if not 0 < self.default_timeout <= self.max_timeout:
            raise ConfigError(
                f"need 0 < default_timeout <= max_timeout, got {self.default_timeout} and "
                f"{self.max_timeout}"
            )
        if not 0 <= self.default_max_output_length <= self.max_output_length:
            raise ConfigError(
                "need 0 <= default_max_output_length <= max_output_length, got "
                f"{self.default_max_output_length} and {self.max_output_length}"
            )

    def timeout(self, timeout_ms: int | None) -> float:
        """Seconds to give a command whose call asked for ``timeout_ms``."""
        if timeout_ms is None or timeout_ms <= 0:
            return self.default_timeout
        return min(timeout_ms / 1000.0, self.max_timeout)

    def cap(self, max_output_length: int | None) -> int:
        """Characters to keep per command when the call asked for ``max_output_length``."""
        if max_output_length is None:
            return self.default_max_output_length
        return min(max(max_output_length, 0), self.max_output_length)


def sandbox_of(ctx: ToolContext, tool: str, *, work: str = "runs commands") -> Sandbox:
    """The run's sandbox, or a ``ConfigError`` naming ``tool`` when the run has none.

    Args:
        ctx: The call's context.
        tool: The tool's name, for the message.
        work: What the tool does in the sandbox, for the message.
    """
    if ctx.sandbox is None:
        raise ConfigError(
            f"the {tool} tool {work} in a sandbox, but this run has none: pass "
            "sandbox=DockerSandbox(...) (or LocalSandbox) to run()"
        )
    return ctx.sandbox


def capture_bytes(cap: int) -> int:
    """Bytes per stream to ask the sandbox for so that ``cap`` characters can be shown.

    A character takes at most 4 bytes in UTF-8, and a stream never shows more than ``cap``
    characters, half from the head and half from the tail. The result is even so that the
    sandbox's head/tail split falls exactly in the middle of what it returns.
    """
    return 4 * cap + 8


def fit_output(result: ExecResult, cap: int) -> CommandOutput:
    """Cut a command's output to ``cap`` characters of stdout and stderr together."""
    out = _Stream.of(result.stdout, result.stdout_dropped)
    err = _Stream.of(result.stderr, result.stderr_dropped)
    out_budget, err_budget = _split(out.size, err.size, cap)
    return CommandOutput(
        stdout=out.render(out_budget),
        stderr=err.render(err_budget),
        exit_code=None if result.timed_out else result.exit_code,
        timed_out=result.timed_out,
        cut=out_budget < out.size or err_budget < err.size,
    )


#: Where a command's output goes as text while it runs: ``(stream, text)``.
TextReporter = Callable[[str, str], Awaitable[None]]


def output_decoder(report: TextReporter) -> Callable[[str, bytes], Awaitable[None]]:
    """An ``on_output`` for :meth:`Sandbox.exec` that decodes each stream's chunks as UTF-8
    (a character split between two chunks stays whole; invalid bytes become U+FFFD)."""
    decoders = {
        name: codecs.getincrementaldecoder("utf-8")("replace") for name in ("stdout", "stderr")
    }

    async def on_output(stream: str, data: bytes) -> None:
        text = decoders[stream].decode(data)
        if text:
            await report(stream, text)

    return on_output


async def run_within_budget(
    sandbox: Sandbox,
    command: str | list[str],
    *,
    cap: int,
    budget: OutputBudget | None,
    report: TextReporter | None = None,
    **options: Any,
) -> CommandOutput:
    """Run one command keeping at most ``cap`` characters, drawn from the response's budget.

    The sandbox is asked for no more bytes than the granted characters need. When the budget
    grants less than ``cap``, a note saying so ends the stderr of a cut output; when it grants
    less than :data:`MIN_GRANT`, the command is not run and the refusal is its stderr. With
    ``report``, the output goes there as text while the command runs, where the sandbox
    streams it.
    """
    if report is not None and sandbox.streams_output:
        options["on_output"] = output_decoder(report)
    granted = cap if budget is None else budget.claim(cap)
    kept = 0
    try:
        limited = granted < cap
        if limited and granted < MIN_GRANT:
            assert budget is not None
            return CommandOutput(stdout="", stderr=budget.refusal(), exit_code=1, timed_out=False)
        room = granted - len(BUDGET_NOTE) if limited else granted
        result = await sandbox.exec(command, max_output=capture_bytes(room), **options)
        out = fit_output(result, room)
        if limited and out.cut:
            out = replace(out, stderr=out.stderr + BUDGET_NOTE)
        kept = len(out.stdout) + len(out.stderr)
        return out
    finally:
        if budget is not None:
            budget.refund(granted - kept)


def _split(out_size: int, err_size: int, cap: int) -> tuple[int, int]:
    """Share ``cap`` between stdout and stderr: a short stream keeps all, the other the rest."""
    if out_size + err_size <= cap:
        return out_size, err_size
    out_share, err_share = (cap + 1) // 2, cap // 2
    if err_size < err_share:
        return cap - err_size, err_size
    if out_size < out_share:
        return out_size, cap - out_size
    return out_share, err_share


@dataclass(frozen=True, slots=True)
class _Stream:
    """A captured stream: its head and tail text, and the bytes the sandbox dropped between.

    Text is decoded with ``surrogateescape`` so that every character maps back to exact bytes
    (for the omitted-bytes count); escaped bytes become U+FFFD only when rendered.
    """

    head: str
    tail: str
    dropped: int

    @classmethod
    def of(cls, data: bytes, dropped: int) -> _Stream:
        if not dropped:
            return cls(data.decode("utf-8", "surrogateescape"), "", 0)
        # The sandbox returns its head half then its tail half (see ExecResult.stdout_text).
        half = len(data) // 2
        head = data[:half].decode("utf-8", "surrogateescape")
        return cls(head, data[half:].decode("utf-8", "surrogateescape"), dropped)

    @property
    def size(self) -> int:
        """Characters this stream would need to be shown whole (dropped bytes counted as 1)."""
        return len(self.head) + len(self.tail) + self.dropped

    def render(self, budget: int) -> str:
        """The stream in at most ``budget`` characters: whole, or head + marker + tail."""
        if not self.dropped and len(self.head) <= budget:
            return _readable(self.head)
        # Size the marker for the largest count it could show, then fill in the real one: the
        # real count is never longer, so the result never exceeds the budget.
        widest = _marker(len(_raw(self.head)) + len(_raw(self.tail)) + self.dropped)
        keep = budget - len(widest)
        if keep <= 0:  # no room for a marker: show what fits
            return _readable((self.head + self.tail)[: max(budget, 0)])
        if self.dropped:
            head_keep, tail_keep = self._shares(keep)
            head, tail = self.head, self.tail
            omitted = self.dropped
        else:  # one piece of text: keep its two ends
            head_keep, tail_keep = (keep + 1) // 2, keep // 2
            head, tail = self.head[:head_keep], self.head[head_keep:]
            omitted = 0
        head_keep, tail_keep = _snap_head(head, head_keep), _snap_tail(tail, tail_keep)
        cut_tail = len(tail) - tail_keep
        omitted += len(_raw(head[head_keep:])) + len(_raw(tail[:cut_tail]))
        return _readable(head[:head_keep]) + _marker(omitted) + _readable(tail[cut_tail:])

    def _shares(self, keep: int) -> tuple[int, int]:
        """Characters kept from the head and from the tail, ``keep`` in all."""
        head_keep = min((keep + 1) // 2, len(self.head))
        tail_keep = min(keep - head_keep, len(self.tail))
        head_keep = min(keep - tail_keep, len(self.head))
        return head_keep, tail_keep


def _snap_head(text: str, keep: int) -> int:
    """End the kept head after a newline when one is near the cut, so lines stay whole."""
    newline = text.rfind("\n", keep - keep // 4, keep)
    return newline + 1 if newline >= 0 else keep


def _snap_tail(text: str, keep: int) -> int:
    """Start the kept tail at a line start when one is near the cut."""
    start = len(text) - keep
    newline = text.find("\n", start, start + keep // 4)
    return len(text) - newline - 1 if newline >= 0 else keep


def _marker(omitted: int) -> str:
    return f"\n[... {omitted} bytes omitted ...]\n"


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _readable(text: str) -> str:
    """Text safe to send as JSON: each byte that was not UTF-8 becomes one U+FFFD."""
    return _ESCAPED_BYTE.sub("\ufffd", text)

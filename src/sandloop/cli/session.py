"""One coding-agent session of the CLI: sandbox, client, loop, transcript, cassette, summary.

Part of ``cli``; ``sandloop run`` and ``sandloop demo`` both end here. The session starts the
sandbox, points a :class:`~sandloop.client.recording.RecordingClient` at the API (or at a
cassette's replay server), runs an :class:`~sandloop.loop.runner.AgentLoop` with the shell and
apply_patch tools, writes every request, response and tool output to the run's transcript, and
reports what changed (against a snapshot of the repository taken before the sandbox starts).
Cancellation (Ctrl-C) goes through the same ``async with`` blocks, so the container is removed
and the transcript ends with a ``cancelled`` record.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio

from sandloop.cli.approvals import approval_callback
from sandloop.cli.changes import FileChange, diff_stat
from sandloop.cli.display import Display, RunInfo, Summary
from sandloop.cli.rundir import RunDirectory, check_outside, runs_root
from sandloop.cli.snapshot import Snapshot
from sandloop.client.recording import RecordingClient
from sandloop.dispatch import ApprovalPolicy
from sandloop.errors import ReplayDivergenceError, SandboxUnavailableError, SandloopError
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.local_shell import LocalShellTool
from sandloop.executors.shell import ShellTool
from sandloop.items import Usage, dump_item
from sandloop.loop import Agent, AgentLoop, RunResult
from sandloop.loop import events as ev
from sandloop.loop.api import describe_run, open_journal
from sandloop.sandboxes import LocalSandbox, Sandbox
from sandloop.testing.cassette import Cassette, CassettePlayer

__all__ = ("INSTRUCTIONS", "JOURNAL_NAME", "SessionOptions", "SessionOutcome", "run_session")

#: The run journal's file name in the run directory.
JOURNAL_NAME = "journal.jsonl"

#: The coding agent's instructions. A cassette records them: change them and re-record the
#: demo cassette (``python tools/record_demo.py``), or its replay diverges at turn 1.
INSTRUCTIONS = (
    "You are sandloop, a careful coding agent. You work in a repository that is the working "
    "directory of the shell tool; each command starts there, and there is no network unless the "
    "user allowed it. Inspect the code and run commands with the shell tool; change files only "
    "with the apply_patch tool. Run the tests before and after a change. When you are done, "
    "answer with a short summary of what you changed and why."
)

Approve = Literal["auto", "ask", "deny", "defer"]


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Everything a session needs; the CLI flags map onto these."""

    task: str
    repo: Path
    model: str
    image: str | None = None
    base_url: str | None = None
    max_turns: int = 50
    timeout: float | None = None
    token_budget: int | None = None
    max_retries: int | None = None
    instructions: str | None = None
    approve: Approve = "auto"
    network: bool = False
    copy: bool = False
    diff: bool = False
    local: bool = False
    local_shell: bool = False
    record: Path | None = None
    replay: Cassette | None = None
    replay_name: str | None = None
    run_root: Path | None = None


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    """How the session ended: the summary shown, and the error that ended it (if any)."""

    summary: Summary
    error: SandloopError | None
    result: RunResult | None = None

    @property
    def ok(self) -> bool:
        """Whether the run completed with a final answer."""
        return self.error is None and self.summary.status == "completed"


def make_sandbox(options: SessionOptions) -> tuple[Sandbox, str]:
    """The session's sandbox and a one-line description of it."""
    if options.local:
        return LocalSandbox(options.repo), f"local sandbox in {options.repo} (NOT isolated)"
    from sandloop.sandboxes.docker import DEFAULT_IMAGE, DockerSandbox

    image = options.image or DEFAULT_IMAGE
    mount: Literal["bind", "copy"] = "copy" if options.copy else "bind"
    sandbox = DockerSandbox(image, workspace=options.repo, mount=mount, network=options.network)
    net = "network on" if options.network else "no network"
    return sandbox, f"docker {image} ({mount} {options.repo}, {net})"


def make_agent(options: SessionOptions) -> Agent:
    """The coding agent: shell and apply_patch (and local_shell when asked)."""
    tools: list[Any] = [ShellTool(), ApplyPatchTool()]
    if options.local_shell:
        tools.append(LocalShellTool())
    policy: ApprovalPolicy = "never" if options.approve == "auto" else "all"  # defer: all
    return Agent(
        options.model,
        instructions=options.instructions or INSTRUCTIONS,
        tools=tools,
        max_turns=options.max_turns,
        timeout=options.timeout,
        token_budget=options.token_budget,
        approval_policy=policy,
    )


class _Recorder:
    """Receives the client's exchanges: to the transcript, and to the cassette when recording."""

    def __init__(self, cassette: Cassette | None) -> None:
        self.rundir: RunDirectory | None = None
        self.cassette = cassette
        self.turn = 0

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "request":
            self.turn += 1
        if self.rundir is not None:
            field = {"request": "body", "response": "response"}.get(kind, "payload")
            self.rundir.write(kind, turn=self.turn, **{field: payload})
        if self.cassette is not None:
            self.cassette.listener(kind, payload)


async def run_session(options: SessionOptions, display: Display) -> SessionOutcome:
    """Run one session to its end; errors of the run come back in the outcome, not raised.

    Raises:
        ConfigError: a bad option (no API key, bad base URL, a repository that is no directory).
        anyio's cancellation: the run was interrupted (after cleaning up and noting it).
    """
    run_id = f"run_{time.strftime('%Y%m%d-%H%M%S')}_{uuid.uuid4().hex[:6]}"
    agent = make_agent(options)
    sandbox, where = make_sandbox(options)
    recording = (
        Cassette(meta={"task": options.task, "model": options.model}) if options.record else None
    )
    with ExitStack() as stack:
        player = CassettePlayer(options.replay) if options.replay is not None else None
        base_url = options.base_url
        if player is not None:
            server = player.server()
            stack.callback(server.close)
            base_url = server.start().base_url
        recorder = _Recorder(recording)
        # Made first: a missing API key is a usage error, before any run directory exists.
        retries = {} if options.max_retries is None else {"max_retries": options.max_retries}
        client = RecordingClient(listener=recorder, base_url=base_url, **retries)
        root = options.run_root or runs_root()
        check_outside(root, options.repo)
        rundir = recorder.rundir = stack.enter_context(RunDirectory(root, run_id))
        rundir.write("run", run_id=run_id, task=options.task, model=options.model, sandbox=where)
        display.started(RunInfo(run_id, options.model, where, rundir.path, options.replay_name))
        if not options.copy and not (options.repo / ".git").exists():
            display.note(
                f"{options.repo} is not a git repository: the agent edits it in place and "
                "nothing can undo that; use --copy to work on a copy and get a patch"
            )
        session = _Session(options, display, rundir, player)
        try:
            outcome = await session.run(agent, sandbox, client, run_id)
        finally:
            if recording is not None and options.record is not None:
                recording.save(options.record)
        return outcome


class _Session:
    def __init__(
        self,
        options: SessionOptions,
        display: Display,
        rundir: RunDirectory,
        player: CassettePlayer | None,
    ) -> None:
        self.options = options
        self.display = display
        self.rundir = rundir
        self.player = player
        self.loop: AgentLoop | None = None
        self.changes: list[FileChange] | None = None
        self.patch: Path | None = None
        self.diff: str | None = None
        self.snapshot: Snapshot | None = None
        self.note: str | None = None
        self.started = time.monotonic()

    async def run(
        self, agent: Agent, sandbox: Sandbox, client: RecordingClient, run_id: str
    ) -> SessionOutcome:
        result: RunResult | None = None
        error: SandloopError | None = None
        try:
            if not self.options.copy:  # before the sandbox starts: nothing the model wrote yet
                self.snapshot = await anyio.to_thread.run_sync(
                    Snapshot, self.options.repo, self.rundir.dir_fd
                )
            async with client, sandbox:
                defer = self.options.approve == "defer"
                approve = None if defer else approval_callback(self.options.approve, self.display)
                self.loop = AgentLoop(
                    agent,
                    self.options.task,
                    client=client,
                    sandbox=sandbox,
                    approve=approve,
                    defer=defer,
                    stream=True,
                    emit=self._on_event,
                    run_id=run_id,
                    description=describe_run(
                        agent, sandbox, client, approve="defer" if defer else approve
                    ),
                )
                # The journal `sandloop resume` continues from (kept in the run directory).
                self.loop.journal = open_journal(self.rundir.path / JOURNAL_NAME, sandbox)
                try:
                    result = await self.loop.run()
                except SandloopError as exc:
                    error = exc
                await self._collect_changes(sandbox)
        except anyio.get_cancelled_exc_class():
            # The sandbox is gone by now (its ``async with`` closed it, shielded). The result so
            # far is kept like any other run's: every started call has its (interrupted) output.
            partial = self.loop.result() if self.loop is not None else None
            if partial is not None:
                partial = dataclasses.replace(partial, status="cancelled")
                self.rundir.save("result.json", _json(partial.to_dict()))
            self._end("cancelled", partial, "interrupted")
            self.display.note(
                f"interrupted: the sandbox was removed; transcript kept in {self.rundir.path}"
            )
            raise
        except SandloopError as exc:
            error = exc  # the sandbox would not start, or failed to close
        finally:
            if self.snapshot is not None:
                self.snapshot.close()
        error = self._replay_check(error)
        return self._finish(result, error)

    async def _on_event(self, event: ev.RunEvent) -> None:
        self.display.event(event)
        if isinstance(event, ev.ToolCallFinished):
            self.rundir.write(
                "tool_output",
                turn=event.turn,
                call_id=event.call_id,
                tool=event.tool,
                status=event.status,
                duration=round(event.duration, 4),
                error=event.error,
                output=dump_item(event.output) if event.output is not None else None,
            )

    async def _collect_changes(self, sandbox: Sandbox) -> None:
        if self.options.copy and sandbox.capabilities.copy_mode:
            # The exact bytes (odd names quoted as git quotes them): what `git apply` takes.
            patch: bytes = await sandbox.diff_bytes()
            self.changes = diff_stat(patch.decode("utf-8", "replace"))
            if patch:
                self.patch = self.rundir.save("changes.patch", patch)
            if self.options.diff:
                self.diff = patch.decode("utf-8", "replace")
        elif self.snapshot is not None:
            self.changes, self.note = await anyio.to_thread.run_sync(self.snapshot.changes)
            if self.options.diff:
                self.diff = await anyio.to_thread.run_sync(self.snapshot.diff)

    def _replay_check(self, error: SandloopError | None) -> SandloopError | None:
        player = self.player
        if player is None or isinstance(error, SandboxUnavailableError):
            return error
        if player.divergence is not None:
            turn, detail = player.divergence
            message = f"the run diverged from the cassette at turn {turn}: {detail}"
            return ReplayDivergenceError(message, turn=turn, detail=detail)
        if error is None and player.unplayed():
            played, total = player.played, len(player.cassette.exchanges)
            detail = f"the run ended after {played} model call(s), the cassette has {total}"
            return ReplayDivergenceError(
                f"the run diverged from the cassette at turn {played + 1}: {detail}",
                turn=played + 1,
                detail=detail,
            )
        return error

    def _finish(self, result: RunResult | None, error: SandloopError | None) -> SessionOutcome:
        if result is None and self.loop is not None:
            result = self.loop.result()
        status = result.status if result is not None else "failed"
        if error is not None and status == "completed":
            status = "failed"
        summary = Summary(
            status=status,
            final_output=result.final_output if result is not None and error is None else "",
            usage=result.usage if result is not None else Usage.zero(),
            turns=result.turns if result is not None else 0,
            seconds=time.monotonic() - self.started,
            run_dir=self.rundir.path,
            changes=self.changes,
            patch=self.patch,
            diff=self.diff,
            error=str(error) if error is not None else None,
            note=self.note,
            cost=result.cost if result is not None else None,
        )
        if result is not None:
            self.rundir.save("result.json", _json(result.to_dict()))
        self._end(status, result, summary.error)
        self.display.finished(summary)
        return SessionOutcome(summary, error, result)

    def _end(self, status: str, result: RunResult | None, error: str | None) -> None:
        usage = result.usage.to_wire() if result is not None else None
        final = result.final_output if result is not None else None
        self.rundir.write("end", status=status, final_output=final, usage=usage, error=error)


def _json(data: Any) -> str:
    import json

    return json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n"

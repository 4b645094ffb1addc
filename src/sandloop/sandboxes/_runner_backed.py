"""The core sandbox: every Sandbox operation over the runner, on top of any provisioner.

:class:`RunnerSandbox` owns a :class:`~sandloop.sandboxes.provisioner.Provisioner`. Starting it
asks the provisioner for a channel to a freshly started bootstrap, sends the runner down that
channel (``_boot``), and waits for its hello; from then on every call is a runner request
(``_protocol.RunnerClient``). Copy mode (``_copy_mode``), host-side restore and the exec fallback
(``_exec_fallback``, for images without python3) are built here on the provisioner's optional
parts, and offered as :class:`~sandloop.sandboxes.provisioner.Capabilities`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.lowlevel

from sandloop.errors import ConfigError, SandboxError, SandboxFileError, SandboxStartError
from sandloop.sandboxes import _copy
from sandloop.sandboxes._boot import boot, boot_frame
from sandloop.sandboxes._copy_mode import CopiedWorkspace
from sandloop.sandboxes._exec_fallback import ExecFallbackClient
from sandloop.sandboxes._process import SandboxProcess, start_process
from sandloop.sandboxes._protocol import RunnerClient, RunnerMissingError
from sandloop.sandboxes._replies import DEFAULT_READ_MAX
from sandloop.sandboxes._requests import (
    RunnerDesktop,
    exec_request,
    exec_result,
    file_entry,
    output_handler,
)
from sandloop.sandboxes.base import (
    DEFAULT_MAX_OUTPUT,
    DesktopChannel,
    ExecResult,
    FileEntry,
    OnOutput,
    Sandbox,
    WorkspaceChanges,
)
from sandloop.sandboxes.provisioner import Capabilities, Channel, Provisioner

__all__ = ("RunnerSandbox",)

#: Seconds a file operation or a ping may take before the runner counts as dead.
FILE_OP_TIMEOUT = 120.0
#: Seconds a command's reply may come after its own timeout (killing it, reaping, sending its
#: output) before the runner counts as dead.
EXEC_GRACE = 30.0
_DEFAULT_LIMITS = _copy.CopyLimits()


async def _attempt(failures: list[Exception], step: Coroutine[Any, Any, None]) -> bool:
    """Run one teardown step; a failure is noted (the caller raises it after the last step)."""
    try:
        await step
    except Exception as exc:  # teardown goes on whatever broke; every failure is reported
        failures.append(exc)
        return False
    return True


class RunnerSandbox(Sandbox):
    """A sandbox whose operations travel to a runner booted in the provisioner's environment.

    Every call has a host-side deadline, after which the runner counts as dead
    (``SandboxTimeoutError``) and later calls fail at once: a command's timeout plus
    ``exec_grace`` seconds; ``op_deadline`` seconds for file operations and ``ping``; a command
    without a timeout is waited for as long as it runs, with a ping every 30 s of silence that
    must come back in 30 s. Both are attributes, to be set on an instance.

    Args:
        provisioner: Makes the environment and the channel; owned (closed) by this sandbox.
        copy_from: A host directory to copy into the workspace at start (copy mode: needs a
            provisioner with the ``copy_mode`` capability).
        copy_limits: Size caps of copy-mode transfers.
        start_timeout: Seconds the runner may take to say hello once the channel is open.
    """

    #: Seconds a command's reply may come after its timeout.
    exec_grace: float = EXEC_GRACE
    #: Seconds a file operation or ping may take.
    op_deadline: float = FILE_OP_TIMEOUT

    def __init__(
        self,
        provisioner: Provisioner,
        *,
        copy_from: Path | None = None,
        copy_limits: _copy.CopyLimits = _DEFAULT_LIMITS,
        start_timeout: float = 60.0,
    ) -> None:
        if copy_from is not None and not provisioner.capabilities.copy_mode:
            raise ConfigError(f"{type(provisioner).__name__} cannot copy a workspace in")
        self._provisioner = provisioner
        self.workdir = provisioner.workdir
        self.start_timeout = start_timeout
        self._copy = (
            CopiedWorkspace(provisioner, copy_from, copy_limits) if copy_from is not None else None
        )
        self._client: RunnerClient | None = None
        self._channel: Channel | None = None
        # The boot channel's client while the runner is served over a faster channel.
        self._control: RunnerClient | None = None
        #: The event loop the sandbox was started in: its channel belongs to that loop.
        self._loop: anyio.lowlevel.EventLoopToken | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._client is not None

    @property
    def provisioner(self) -> Provisioner:
        """The environment's provisioner (its engine-specific state: container id, process)."""
        return self._provisioner

    async def start(self) -> None:
        if self._client is not None:
            return
        self._loop = anyio.lowlevel.current_token()
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise

    async def _start(self) -> None:
        channel = await self._provisioner.start(boot(self.workdir))
        self._channel = channel
        client = RunnerClient(channel, diagnose=self._provisioner.diagnose)
        try:
            with anyio.fail_after(self.start_timeout):
                await channel.send(boot_frame())
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass  # the bootstrap is gone already: the handshake says why
        except TimeoutError:
            raise SandboxStartError(
                f"the sandbox did not take the runner within {self.start_timeout} s"
            ) from None
        try:
            await client.handshake(timeout=self.start_timeout)
            self._client = await self._faster(client)
        except RunnerMissingError:  # no python3 in the image: one engine exec per call
            self._client = await self._fallback(channel)
        if self._copy is not None:
            # The hello of whichever client serves (the fallback's after a missing python3).
            hello = self._runner().hello
            await self._copy.copy_in(int(hello.get("uid", 1000)), int(hello.get("gid", 1000)))

    async def _faster(self, client: RunnerClient) -> RunnerClient:
        """The client over the provisioner's faster channel, when it offers one that works;
        the boot channel's client (kept open as the runner's lifeline) otherwise."""

        async def ask(op: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
            return await client.call(op, args, timeout=timeout)

        if "connect" not in (client.hello.get("ops") or ()):
            return client
        stream = await self._provisioner.fast_channel(ask)
        if stream is None:
            return client
        fast = RunnerClient(stream, diagnose=self._provisioner.diagnose)
        try:
            await fast.handshake(timeout=self.start_timeout)
        except SandboxError:
            await fast.aclose(timeout=1.0)
            return client
        self._control = client
        # Nothing answers on the boot channel from here on: the provisioner drains it.
        self._provisioner.boot_channel_idle()
        return fast

    async def _fallback(self, channel: Channel) -> RunnerClient:
        engine = self._provisioner.exec_engine()
        if engine is None or not self._provisioner.capabilities.exec_fallback:
            raise SandboxStartError("the sandbox image has no python3 for the runner")
        await channel.aclose()
        self._channel = None
        fallback = ExecFallbackClient(engine, workdir=self.workdir)
        # It serves RunnerClient's interface (call, hello, aclose) over single execs.
        client = cast(RunnerClient, fallback)
        ids = exec_result(await client.call("exec", exec_request(
            ["sh", "-c", "id -u; id -g"], cwd=None, env=None, timeout=None, stdin=None,
            max_output=4096,
        )))  # fmt: skip
        uid, gid = ids.stdout.split()
        fallback.hello.update(uid=int(uid), gid=int(gid))
        return client

    async def aclose(self) -> None:
        """Close the channel and remove the environment, whatever fails first.

        Each step runs even when one before it failed (the runner was stopped or garbled its
        channel, closing the channel raised, the engine refused a removal).

        Raises:
            SandboxError: After every step has run, when one failed: the environment could not
                be removed (the provisioner's message names it), or closing the channel failed.
        """
        client, self._client = self._client, None
        failures: list[Exception] = []
        try:
            with anyio.CancelScope(shield=True):
                await _attempt(failures, self._close_channel(client))
                await _attempt(failures, self._provisioner.aclose())
        finally:
            if self._copy is not None:
                self._copy.close()
        if failures:
            # The last step's failure: an environment left behind outranks a channel closed badly.
            last = failures[-1]
            if isinstance(last, SandboxError):
                raise last
            raise SandboxError(f"closing the sandbox failed: {last}") from last

    async def _close_channel(self, client: RunnerClient | None) -> None:
        control, self._control = self._control, None
        try:
            try:
                if client is not None:
                    await client.aclose(timeout=1.0)
            finally:
                if control is not None:  # drained, not read: no goodbye to wait for
                    await control.aclose(timeout=1.0, goodbye=False)
        finally:
            channel, self._channel = self._channel, None
            if channel is not None:
                await channel.aclose()

    def _runner(self) -> RunnerClient:
        if self._client is None:
            raise SandboxError(f"{type(self).__name__} is not started: use `async with sandbox:`")
        if self._loop is not None and self._loop != anyio.lowlevel.current_token():
            raise SandboxError(
                f"{type(self).__name__} was started in another event loop and cannot be used "
                "from this one: start it where it is used, or pass it unstarted to the run "
                "(which then starts and removes it)"
            )
        return self._client

    # --- capabilities --------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        own = self._provisioner.capabilities
        hello = self._client.hello if self._client is not None else {}
        return replace(
            own,
            copy_mode=self._copy is not None,
            host_restore=own.host_restore and self.host_workspace is not None,
            # The runner says whether its sandbox has the desktop module (the computer image).
            desktop=hello.get("desktop") is True and "desktop" in (hello.get("ops") or ()),
            fast_channel=self._control is not None,
        )

    @property
    def host_workspace(self) -> Path | None:
        return self._provisioner.host_workspace

    def desktop(self) -> DesktopChannel | None:
        """The runner's ``desktop`` operation, when its image ships the desktop module."""
        client = self._runner()
        return RunnerDesktop(client) if "desktop" in (client.hello.get("ops") or ()) else None

    async def restore_on_host(self, files: Mapping[str, tuple[bytes | None, int | None]]) -> bool:
        """Put workspace files back from the host, when the sandbox died in mid-change.

        Only a workspace on the host (a bind mount) is reachable without the sandbox. Paths are
        confined to it exactly as the runner confines them (it is the runner's own file
        operations, run on the host): no ``..``, no symlink leading out.

        Args:
            files: Workspace-relative path to (the bytes it held, or ``None`` to delete it;
                its permission bits).

        Returns:
            ``False`` when the workspace is not on the host (nothing was done).
        """
        root = self.host_workspace
        if root is None or not self.capabilities.host_restore:
            return False
        from sandloop.sandboxes.local import LocalSandbox

        async with LocalSandbox(root) as host:
            for path, (data, mode) in files.items():
                try:
                    if data is None:
                        await host.delete_file(path)
                    else:
                        await host.write_file(path, data, mode=mode)
                except SandboxFileError:
                    continue  # already as it was (a new file that never landed), or refused
        return True

    # --- copy mode -----------------------------------------------------------------------

    def _copied(self, what: str) -> CopiedWorkspace:
        if self._copy is None:
            raise ConfigError(f"{what} needs a started sandbox with mount='copy'")
        return self._copy

    async def diff(self, *, exclude: Sequence[str] = _copy.DEFAULT_DIFF_EXCLUDE) -> str:
        """The edits made in the sandbox, as a git-style unified diff (copy mode only).

        For reading: bytes that are not UTF-8 show as U+FFFD. To save or ``git apply`` the
        patch, use :meth:`diff_bytes`.

        Args:
            exclude: Top-level paths left out (default ``.git``).
        """
        return (await self.diff_bytes(exclude=exclude)).decode("utf-8", "replace")

    async def diff_bytes(self, *, exclude: Sequence[str] = _copy.DEFAULT_DIFF_EXCLUDE) -> bytes:
        """The edits made in the sandbox, as the exact bytes of a git-style patch.

        Odd file names (newlines, tabs, quotes, bytes that are not UTF-8) are quoted the way
        git quotes them, so ``git apply`` takes it. Files and the tree are capped by
        ``max_file_size`` / ``max_total_size`` (``WorkspaceTooLargeError``).

        Args:
            exclude: Top-level paths left out (default ``.git``).
        """
        return await self._copied("diff()").diff_bytes(exclude)

    async def set_baseline(self) -> None:
        """From now on, :meth:`diff` and :meth:`changes` compare against the workspace as it is
        now, not as it was copied in (copy mode only).

        A batch task calls it after its setup commands, so its patch holds the agent's edits
        only, and a resumed task's journaled changes apply on top of the same setup again.
        """
        await self._copied("set_baseline()").set_baseline()

    async def changes(self) -> WorkspaceChanges | None:
        """The copy's edits so far (``diff()`` and its paths); ``None`` without a copy."""
        if self._copy is None or not self._copy.ready:
            return None
        return WorkspaceChanges.of(await self.diff())

    async def export(self, path: str | os.PathLike[str]) -> None:
        """Write the sandbox's workspace into ``path`` (a new or empty directory)."""
        if self._copy is None:
            raise ConfigError("export() needs a sandbox with mount='copy'")
        self._runner()
        await self._copy.export(path)

    # --- commands and files --------------------------------------------------------------

    async def _run_as_user(self, user: str, request: dict[str, Any]) -> ExecResult:
        """A command as another user: one engine exec (the runner's user cannot switch users:
        every capability is dropped)."""
        engine = self._provisioner.exec_engine()
        if engine is None or not self._provisioner.capabilities.run_as_user:
            raise SandboxError(
                f"{type(self).__name__} cannot run commands as another user ({user!r})"
            )
        self._runner()
        client = ExecFallbackClient(engine, workdir=self.workdir, user=user)
        return exec_result(await client.call("exec", request))

    async def exec(
        self,
        command: str | Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        user: str | None = None,
        stdin: bytes | None = None,
        max_output: int = DEFAULT_MAX_OUTPUT,
        on_output: OnOutput | None = None,
    ) -> ExecResult:
        request = exec_request(
            command, cwd=cwd, env=env, timeout=timeout, stdin=stdin, max_output=max_output
        )
        if user is not None:
            return await self._run_as_user(user, request)
        deadline = timeout + self.exec_grace if timeout is not None else None
        handler = None
        if on_output is not None and self._runner_can("spawn"):
            request["stream"] = True
            handler = output_handler(on_output)
        reply = await self._runner().call(
            "exec", request, timeout=deadline, cancel_on_abort=True, on_event=handler
        )
        return exec_result(reply)

    def _runner_can(self, op: str) -> bool:
        """Whether the runner serves ``op`` (the exec fallback serves neither events nor
        processes: its hello names no ops)."""
        return op in (self._runner().hello.get("ops") or ())

    @property
    def streams_output(self) -> bool:
        return self._client is not None and self._runner_can("spawn")

    async def open_process(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> SandboxProcess:
        if not self._runner_can("spawn"):
            raise SandboxError(
                f"{type(self).__name__} runs commands with one `docker exec` each (its image "
                "has no python3 for the runner), so it cannot keep a process open: use an "
                "image with python3"
            )
        request = exec_request(list(argv), cwd=cwd, env=env, timeout=None, stdin=None, max_output=0)
        del request["max_output"]
        return await start_process(self._runner(), request)

    async def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """A file's bytes; ``too_large`` past ``max_bytes`` (default 64 MiB, the reply's cap)."""
        most = DEFAULT_READ_MAX if max_bytes is None else max(int(max_bytes), 0)
        request: dict[str, Any] = {"path": path, "max_bytes": most}
        reply = await self._runner().call("read", request, timeout=self.op_deadline)
        return base64.b64decode(reply["data"])

    async def write_file(self, path: str, data: bytes, *, mode: int | None = None) -> None:
        request: dict[str, Any] = {"path": path, "data": base64.b64encode(data).decode("ascii")}
        if mode is not None:
            request["mode"] = mode
        await self._runner().call("write", request, timeout=self.op_deadline)

    async def delete_file(self, path: str) -> None:
        await self._runner().call("delete", {"path": path}, timeout=self.op_deadline)

    @property
    def atomic_writes(self) -> bool:
        # The runner commits write_files in one op; the exec fallback only does its best.
        return self._client is not None and "write_files" in self._client.hello.get("ops", ())

    async def write_files(
        self, changes: Mapping[str, bytes | None], *, modes: Mapping[str, int] | None = None
    ) -> None:
        if not changes:
            return
        client = self._runner()
        files: list[dict[str, Any]] = []
        for path, data in changes.items():
            entry: dict[str, Any] = {"path": path, "data": None}
            if data is not None:
                entry["data"] = base64.b64encode(data).decode("ascii")
                mode = (modes or {}).get(path)
                if mode is not None:
                    entry["mode"] = int(mode)
            files.append(entry)
        # Shielded: a commit the caller stops waiting for still lands (or not) in the runner,
        # so it is awaited to the end and the caller knows which of the two happened.
        with anyio.CancelScope(shield=True):
            await client.call("write_files", {"files": files}, timeout=self.op_deadline)

    async def stat(self, path: str) -> FileEntry | None:
        reply = await self._runner().call("stat", {"path": path}, timeout=self.op_deadline)
        entry = reply.get("entry")
        return file_entry(entry) if entry else None

    async def list_dir(self, path: str = ".") -> list[FileEntry]:
        reply = await self._runner().call("listdir", {"path": path}, timeout=self.op_deadline)
        return [file_entry(raw) for raw in reply["entries"]]

    async def ping(self) -> None:
        """Round-trip a no-op through the runner (raises ``SandboxError`` when it is gone)."""
        await self._runner().call("ping", {}, timeout=self.op_deadline)

    def __repr__(self) -> str:
        return f"RunnerSandbox({self._provisioner!r})"

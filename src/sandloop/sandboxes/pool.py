"""SandboxPool: started sandboxes kept ready, so a run does not wait for a container to boot.

Sits beside the sandboxes it manages; the loop (or an embedder) acquires one per run. A filler
task keeps ``size`` sandboxes started (at most ``max_starting`` starting at once), refilling in the
background after every acquire. ``acquire()`` hands out a fresh, never-used sandbox that the
caller then owns and closes (``async with await pool.acquire() as sandbox:``).

A pool is described as data by its factory: ``SandboxPool.like(sandbox)`` makes sandboxes from
one sandbox's description, and a module-level factory function is named by import path; a
lambda or closure factory cannot be described (``ConfigError``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from sandloop._import_path import import_path_of, resolve_import_path
from sandloop.errors import ConfigError, SandboxError
from sandloop.sandboxes.base import Sandbox
from sandloop.sandboxes.description import sandbox_from_dict

__all__ = ("SandboxPool",)

S = TypeVar("S", bound=Sandbox)
# After a failed start, wait before the next one (doubling up to this many seconds).
_MAX_BACKOFF = 30.0
# A waiting sandbox must answer a no-op this fast to be handed out.
_PING_TIMEOUT = 5.0


class _Like:
    """A pool factory that makes sandboxes from one sandbox description (describable)."""

    def __init__(self, description: Mapping[str, Any]) -> None:
        self.description = dict(description)
        sandbox_from_dict(self.description)  # a bad description fails here, not in the filler

    def __call__(self) -> Sandbox:
        return sandbox_from_dict(self.description)


class SandboxPool(Generic[S]):
    """Keeps ``size`` started sandboxes of one configuration ready.

    Args:
        factory: Makes one (not yet started) sandbox, e.g.
            ``lambda: DockerSandbox("sandloop/base", network=False)``.
        size: How many started sandboxes to keep ready.
        max_starting: How many may be starting at once (each start is a few engine calls).

    Use it as an async context manager, entered and exited in the same task; leaving it removes
    every sandbox it still holds. Sandboxes already acquired belong to their caller.
    """

    def __init__(self, factory: Callable[[], S], *, size: int = 2, max_starting: int = 4) -> None:
        if size < 1 or max_starting < 1:
            raise ConfigError("SandboxPool needs size >= 1 and max_starting >= 1")
        self._factory = factory
        self.size = size
        self._starting_limit = max_starting
        self._starting = 0
        self._failures = 0
        self._wake = anyio.Event()
        self._tg: TaskGroup | None = None
        self._send: MemoryObjectSendStream[S | BaseException] | None = None
        self._receive: MemoryObjectReceiveStream[S | BaseException] | None = None

    @classmethod
    def like(cls, sandbox: Sandbox, *, size: int = 2, max_starting: int = 4) -> SandboxPool[Any]:
        """A pool of new sandboxes configured like ``sandbox`` (made from its description).

        Raises:
            ConfigError: ``sandbox`` cannot be described (see its ``to_dict``).
        """
        return SandboxPool(_Like(sandbox.to_dict()), size=size, max_starting=max_starting)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "pool", "sandbox": ... | "factory": "module:name", "size", ...}``.

        Raises:
            ConfigError: the factory is a lambda, closure or anything else without an import
                path (use :meth:`like`, or a module-level function).
        """
        out: dict[str, Any] = {"kind": "pool", "size": self.size}
        out["max_starting"] = self._starting_limit
        if isinstance(self._factory, _Like):
            out["sandbox"] = dict(self._factory.description)
        else:
            out["factory"] = import_path_of(self._factory, what="the pool's sandbox factory")
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SandboxPool[Any]:
        """A new (not yet open) pool from :meth:`to_dict` output.

        Raises:
            ConfigError: the description is malformed or its factory cannot be imported.
        """
        if data.get("kind") != "pool":
            raise ConfigError(f"not a pool description: kind {data.get('kind')!r}")
        unknown = sorted(set(data) - {"kind", "size", "max_starting", "sandbox", "factory"})
        if unknown or ("sandbox" in data) == ("factory" in data):
            raise ConfigError(
                "a pool description has 'kind', 'size', 'max_starting' and one of 'sandbox' "
                f"or 'factory'; got {sorted(data)}"
            )
        factory: Callable[[], Any]
        if "sandbox" in data:
            factory = _Like(data["sandbox"])
        else:
            factory = resolve_import_path(str(data["factory"]), what="pool factory")
            if not callable(factory):
                raise ConfigError(f"pool factory {data['factory']!r} is not callable")
        try:
            return SandboxPool(factory, size=data["size"], max_starting=data["max_starting"])
        except (KeyError, TypeError) as exc:
            raise ConfigError(
                f"a pool description needs integer size and max_starting: {exc}"
            ) from exc

    async def __aenter__(self) -> Self:
        self._send, self._receive = anyio.create_memory_object_stream[S | BaseException](math.inf)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._fill)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose(exc_type, exc, tb)

    @property
    def ready(self) -> int:
        """How many started sandboxes are waiting to be acquired."""
        return self._receive.statistics().current_buffer_used if self._receive else 0

    async def acquire(self) -> S:
        """A started, never-used, answering sandbox; the caller owns it (and closes it).

        A sandbox that died while it waited in the pool (its container was killed, say) is
        removed and the next one is taken, so callers never get a dead sandbox.

        Raises:
            SandboxError: The pool is closed, or the last start failed (e.g. no image).
        """
        while True:
            sandbox = await self._next()
            if await self._answers(sandbox):
                return sandbox

    async def _next(self) -> S:
        if self._receive is None:
            raise SandboxError("the pool is not open: use `async with SandboxPool(...)`")
        try:
            item = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise SandboxError("the pool is closed") from None
        self._wake.set()
        if isinstance(item, BaseException):
            raise SandboxError(f"the pool could not start a sandbox: {item}") from item
        return item

    @staticmethod
    async def _answers(sandbox: S) -> bool:
        try:
            with anyio.fail_after(_PING_TIMEOUT):
                await sandbox.ping()
        except (SandboxError, TimeoutError):
            with anyio.CancelScope(shield=True):
                await sandbox.aclose()
            return False
        except BaseException:
            with anyio.CancelScope(shield=True):
                await sandbox.aclose()  # cancelled while checking: not handed out, not leaked
            raise
        return True

    async def aclose(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        """Stop refilling and remove every sandbox still in the pool."""
        tg, self._tg = self._tg, None
        if tg is not None:
            tg.cancel_scope.cancel()
            await tg.__aexit__(exc_type, exc, tb)
        receive, self._receive = self._receive, None
        if self._send is not None:
            self._send.close()
        if receive is None:
            return
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as closing:
                while True:
                    try:
                        item = receive.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                    if not isinstance(item, BaseException):
                        closing.start_soon(item.aclose)
            receive.close()

    # --- the filler ----------------------------------------------------------------------

    async def _fill(self) -> None:
        limiter = anyio.CapacityLimiter(self._starting_limit)
        async with anyio.create_task_group() as tg:
            while True:
                while self.ready + self._starting < self.size:
                    self._starting += 1
                    tg.start_soon(self._start_one, limiter)
                await self._wake.wait()
                self._wake = anyio.Event()

    async def _start_one(self, limiter: anyio.CapacityLimiter) -> None:
        assert self._send is not None
        try:
            async with limiter:
                if self._failures:
                    await anyio.sleep(min(2.0 ** (self._failures - 1), _MAX_BACKOFF))
                sandbox = self._factory()
                try:
                    await sandbox.start()
                except Exception as exc:  # reported to the next acquire(), then retried
                    self._failures += 1
                    self._send.send_nowait(exc)
                    return
                self._failures = 0
                # No checkpoint between a finished start and the hand-over: a cancellation
                # here would leak the started sandbox.
                self._send.send_nowait(sandbox)
        finally:
            self._starting -= 1
            self._wake.set()

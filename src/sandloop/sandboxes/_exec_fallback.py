"""The runner protocol without a runner: one ``docker exec`` per call, for images with no python3.

:class:`ExecFallbackClient` answers the same ``call(op, args)`` requests as ``RunnerClient``, so
``RunnerSandbox`` works unchanged on top of it; each request becomes a short POSIX shell script
run by ``docker exec``. Semantics kept: separate capped stdout/stderr, exit codes, timeouts and
cancellation that kill the command's whole process group (``setsid``, then every member found
in ``/proc``), jobs
left in the group killed when the command ends, and file errors with the same reasons.

Weaker than the runner, and documented so: each call costs a ``docker exec`` (tens of ms), and
file confinement is checked with ``realpath`` before the operation rather than enforced during
it (a symlink swapped in between check and use is not caught). Needs ``sh``, ``setsid`` and GNU
coreutils (``realpath``, ``stat``, ``mktemp``) in the image.
"""

from __future__ import annotations

import base64
import posixpath
import secrets
import time
from collections.abc import Callable
from contextlib import suppress
from typing import NoReturn, Protocol

import anyio

from sandloop.errors import SandboxError
from sandloop.sandboxes._capture import Capture
from sandloop.sandboxes._channel import STDOUT, MuxSocket
from sandloop.sandboxes._protocol import Message, _reply_error

__all__ = ("ExecEngine", "ExecFallbackClient")

# Kills every process whose process group is $1, found through /proc: the kill builtin of some
# shells (dash) cannot signal a group, and the image may have no kill binary.
_KILLGROUP = (
    "killgroup() { _g=$1; for _s in /proc/[0-9]*/stat; do "
    '_f=$(cut -d")" -f2 < "$_s") || continue; set -- $_f; [ "$3" = "$_g" ] || continue; '
    '_p=${_s#/proc/}; kill -9 "${_p%/stat}"; done 2>/dev/null; }; '
)
# Runs "$@" in its own session with our stdin, records its pgid for a later kill, waits for
# it, then kills what it left in its group.
_WRAP = _KILLGROUP + (
    't=$1; shift; exec 3<&0; setsid "$@" <&3 3<&- & p=$!; exec 3<&-; '
    'echo "$p" > "/tmp/.sandloop-$t"; wait "$p"; s=$?; killgroup "$p"; '
    'rm -f "/tmp/.sandloop-$t"; exit "$s"'
)
_KILL = _KILLGROUP + 'g=$(cat "/tmp/.sandloop-$1" 2>/dev/null) && killgroup "$g"; true'
_PICK_SHELL = 'if command -v bash >/dev/null 2>&1; then exec bash -c "$1"; fi; exec sh -c "$1"'
# File scripts get the workspace as $1 and the absolute path as $2; they exit with one of these
# codes (and a message on stderr) when the operation fails.
_REASONS = {3: "not_found", 4: "escape", 5: "is_directory", 6: "io", 7: "too_large"}
_INSIDE = 'inside() { case "$1/" in "$W"/*) return 0;; esac; echo "$2" >&2; exit 4; }; W=$1; '
_SCRIPTS = {
    "read": _INSIDE + 'r=$(realpath -e -- "$2" 2>/dev/null) || exit 3; inside "$r" "leads out"; '
    '[ -d "$r" ] && exit 5; [ -f "$r" ] || exit 6; '
    '[ -n "$3" ] && [ "$(stat -c %s -- "$r")" -gt "$3" ] && exit 7; exec cat -- "$r"',
    "write": _INSIDE + 'd=$(dirname -- "$2"); a=$d; while [ ! -e "$a" ]; do a=$(dirname -- "$a"); '
    'done; inside "$(realpath -e -- "$a")" "leads out"; mkdir -p -- "$d" || exit 6; '
    'r=$(realpath -e -- "$d"); inside "$r" "leads out"; n=$(basename -- "$2"); '
    'if [ -L "$r/$n" ]; then t=$(realpath -m -- "$r/$n"); inside "$t" "leads out"; '
    'r=$(dirname -- "$t"); n=$(basename -- "$t"); fi; [ -d "$r/$n" ] && exit 5; '
    'f=$(mktemp "$r/.$n.XXXXXX") || exit 6; cat > "$f" || exit 6; '
    'if [ -n "$3" ]; then chmod "$3" "$f"; elif [ -f "$r/$n" ]; '
    'then chmod --reference="$r/$n" "$f"; chmod ug-s "$f"; else chmod 644 "$f"; fi; '
    'mv -f -- "$f" "$r/$n" || exit 6',
    "delete": _INSIDE + 'r=$(realpath -e -- "$(dirname -- "$2")" 2>/dev/null) || exit 3; '
    'inside "$r" "leads out"; n=$(basename -- "$2"); [ -L "$r/$n" ] || [ -e "$r/$n" ] || exit 3; '
    '[ -d "$r/$n" ] && [ ! -L "$r/$n" ] && exit 5; rm -f -- "$r/$n" || exit 6',
    "stat": _INSIDE + 'r=$(realpath -e -- "$(dirname -- "$2")" 2>/dev/null) || exit 3; '
    'inside "$r" "leads out"; n=$(basename -- "$2"); [ "$2" = "$W" ] && r=$W && n=.; '
    '[ -L "$r/$n" ] || [ -e "$r/$n" ] || exit 3; exec stat -c "%F|%s|%a" -- "$r/$n"',
    "listdir": _INSIDE + 'r=$(realpath -e -- "$2" 2>/dev/null) || exit 3; inside "$r" "leads out"; '
    '[ -d "$r" ] || exit 6; cd -- "$r" && '
    'find . -mindepth 1 -maxdepth 1 -printf "%P\\0%y\\0%s\\0%m\\0"',
}
# write_files, best effort: "stage" is "write" up to the rename (it prints the staged file and
# its target, NUL-separated); "commit" gets (staged, target) pairs, an empty staged meaning a
# delete: it checks every delete before it renames or removes anything.
_SCRIPTS["stage"] = (
    _SCRIPTS["write"]
    .replace('cat > "$f" || exit 6', 'cat > "$f" || { rm -f -- "$f"; exit 6; }')
    .replace('mv -f -- "$f" "$r/$n" || exit 6', 'printf "%s\\0%s" "$f" "$r/$n"')
)
_COMMIT = _INSIDE + (
    'shift; check() { r=$(realpath -e -- "$(dirname -- "$1")" 2>/dev/null) || '
    '{ echo "$1" >&2; exit 3; }; inside "$r" "$1"; n=$(basename -- "$1"); '
    '[ -L "$r/$n" ] || [ -e "$r/$n" ] || { echo "$1" >&2; exit 3; }; '
    '[ -d "$r/$n" ] && [ ! -L "$r/$n" ] && { echo "$1" >&2; exit 5; }; true; }; '
    'k=0; for a in "$@"; do if [ $k = 0 ]; then s=$a; k=1; else k=0; '
    '[ -z "$s" ] && check "$a"; fi; done; '
    'k=0; for a in "$@"; do if [ $k = 0 ]; then s=$a; k=1; else k=0; '
    'if [ -z "$s" ]; then rm -f -- "$a"; else mv -f -- "$s" "$a"; fi || '
    '{ echo "$a" >&2; exit 6; }; fi; done'
)
_KINDS = {"regular file": "file", "regular empty file": "file", "directory": "dir",
          "symbolic link": "symlink"}  # fmt: skip


def _relative(root: str, path: str) -> list[str]:
    """The path's components relative to ``root``, checked as the runner checks them before
    its walk: no NUL byte, absolute only inside ``root``, never above it through ``..``."""

    def refuse(reason: str, message: str) -> NoReturn:
        error = {"type": "file", "reason": reason, "message": message, "path": path}
        raise _reply_error(error)

    original = path
    if "\x00" in path:
        refuse("invalid", "path contains a NUL byte")
    if path.startswith("/"):
        prefix = root.rstrip("/") + "/"
        if path.rstrip("/") == root:
            path = ""
        elif path.startswith(prefix):
            path = path[len(prefix) :]
        else:
            refuse("escape", f"{path} is outside the workspace {root}")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            refuse("escape", f"{original} leaves the workspace via '..'")
    return parts


class ExecEngine(Protocol):
    """What the fallback needs from the provisioner: start an exec, read its exit code."""

    async def open_exec(
        self, argv: list[str], *, env: dict[str, str], workdir: str, stdin: bool, user: str | None
    ) -> tuple[str, MuxSocket]: ...

    async def exec_exit_code(self, exec_id: str) -> int | None: ...


class ExecFallbackClient:
    """Serves runner requests with one ``docker exec`` each (see the module docstring)."""

    def __init__(self, engine: ExecEngine, *, workdir: str, user: str | None = None) -> None:
        self._engine = engine
        self._user = user
        self._workdir = workdir
        self.hello: Message = {"fallback": "docker-exec"}
        self.alive = True

    async def aclose(self, *, timeout: float = 2.0) -> None:
        self.alive = False

    async def call(
        self, op: str, args: Message, *, timeout: float | None = None, cancel_on_abort: bool = False
    ) -> Message:
        if op == "exec":
            return await self._exec(args)
        if op == "ping":
            await self._run(["true"], stdin=None)
            return {}
        if op == "write_files":
            return await self._write_files(args["files"])
        if op not in _SCRIPTS or op == "stage":
            raise SandboxError(f"the runner failed: unknown operation {op!r}")
        return await self._file_op(op, args)

    async def _write_files(self, files: list[Message]) -> Message:
        """Stage each write with one exec, then rename and delete all in one more: a failure
        while staging changes nothing (made directories aside); one in the commit may."""
        pairs: list[str] = []
        given: dict[str, str] = {}
        try:
            for entry in files:
                if entry.get("data") is None:
                    target = self._absolute(str(entry["path"]))
                    pairs += ["", target]
                else:
                    staged = await self._file_op("stage", entry)
                    pairs += [staged["staged"], staged["target"]]
                    target = staged["target"]
                given[target] = str(entry["path"])
            argv = ["sh", "-c", _COMMIT, "sh", self._workdir, *pairs]
            code, _, err = await self._run(argv, stdin=None)
        except BaseException:
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                await self._discard(pairs[0::2])
            raise
        if code == 0:
            return {"count": len(files)}
        await self._discard(pairs[0::2])
        failed = err.decode("utf-8", "surrogateescape").strip().splitlines()[-1:] or [""]
        path = given.get(failed[0], failed[0])
        reason = _REASONS.get(code or 0, "io")
        message = f"{path}: {reason.replace('_', ' ')}"
        if reason == "escape":
            message = f"{path}: leads out of the workspace"
        raise _reply_error({"type": "file", "reason": reason, "message": message, "path": path})

    async def _discard(self, staged: list[str]) -> None:
        names = [name for name in staged if name]
        if names:
            await self._run(["rm", "-f", "--", *names], stdin=None)

    def _absolute(self, path: str) -> str:
        # The runner's lexical check first: `..` and paths outside the workspace.
        return posixpath.join(self._workdir, *_relative(self._workdir, path))

    async def _file_op(self, op: str, args: Message) -> Message:
        path = str(args.get("path") or ".")
        absolute = self._absolute(path)
        writes = op in ("write", "stage")
        extra = str(args.get("max_bytes") or args.get("mode") or "")
        if writes and args.get("mode") is not None:
            extra = format(int(args["mode"]) & 0o777, "o")
        data = base64.b64decode(args.get("data") or "") if writes else None
        argv = ["sh", "-c", _SCRIPTS[op], "sh", self._workdir, absolute, extra]
        code, out, err = await self._run(argv, stdin=data)
        if code in _REASONS:
            if op == "stat" and _REASONS[code] == "not_found":
                return {"entry": None}
            message = f"{path}: {err.decode('utf-8', 'replace').strip() or _REASONS[code]}"
            raise _reply_error(
                {"type": "file", "reason": _REASONS[code], "message": message, "path": path}
            )
        if code != 0:
            raise SandboxError(
                f"{op} {path!r} failed in the sandbox: {err.decode(errors='replace')}"
            )
        return self._file_result(op, path, out)

    def _file_result(self, op: str, path: str, out: bytes) -> Message:
        shown = posixpath.normpath("/".join(_relative(self._workdir, path)) or ".")
        shown = "" if shown == "." else shown
        if op == "read":
            return {"data": base64.b64encode(out).decode("ascii")}
        if op == "stage":
            staged, target = out.decode("utf-8", "surrogateescape").split("\0")
            return {"staged": staged, "target": target}
        if op == "stat":
            kind, size, mode = out.decode().strip().split("|")
            entry = {"path": shown or ".", "kind": _KINDS.get(kind, "other"), "size": int(size)}
            return {"entry": {**entry, "mode": int(mode, 8)}}
        if op == "listdir":
            fields = out.split(b"\0")[:-1]
            entries = []
            for i in range(0, len(fields), 4):
                name, kind, size, mode = (
                    f.decode("utf-8", "surrogateescape") for f in fields[i : i + 4]
                )
                kinds = {"f": "file", "d": "dir", "l": "symlink"}
                entries.append({"path": posixpath.join(shown, name) if shown else name,
                                "kind": kinds.get(kind, "other"), "size": int(size),
                                "mode": int(mode, 8)})  # fmt: skip
            return {"entries": sorted(entries, key=lambda e: e["path"])}
        return {}

    async def _run(
        self, argv: list[str], *, stdin: bytes | None
    ) -> tuple[int | None, bytes, bytes]:
        exec_id, mux = await self._engine.open_exec(
            argv, env={}, workdir=self._workdir, stdin=stdin is not None, user=self._user
        )
        out, err = bytearray(), bytearray()
        try:
            await _exchange(mux, stdin, out.extend, err.extend)
        finally:
            await mux.aclose()
        return await self._engine.exec_exit_code(exec_id), bytes(out), bytes(err)

    async def _exec(self, req: Message) -> Message:
        start = time.monotonic()
        token = secrets.token_hex(8)
        command = ["sh", "-c", _PICK_SHELL, "sh", req["shell"]] if "shell" in req else req["argv"]
        cwd = posixpath.join(self._workdir, req.get("cwd") or "")
        data = base64.b64decode(req["stdin"]) if req.get("stdin") else None
        out, err = Capture(int(req["max_output"])), Capture(int(req["max_output"]))
        exec_id, mux = await self._engine.open_exec(
            ["sh", "-c", _WRAP, "sh", token, *command],
            env=dict(req.get("env") or {}),
            workdir=cwd,
            stdin=data is not None,
            user=self._user,
        )
        timed_out = False
        try:
            with anyio.move_on_after(req.get("timeout")) as scope:
                await _exchange(mux, data, out.feed, err.feed)
            timed_out = scope.cancelled_caught
            if timed_out:
                await self._kill(token)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._kill(token)
            raise
        finally:
            await mux.aclose()
        code = None if timed_out else await self._engine.exec_exit_code(exec_id)
        (o, od), (e, ed) = out.result(), err.result()
        return {"exit_code": code, "timed_out": timed_out, "duration": time.monotonic() - start,
                "stdout": base64.b64encode(o).decode(), "stderr": base64.b64encode(e).decode(),
                "stdout_dropped": od, "stderr_dropped": ed}  # fmt: skip

    async def _kill(self, token: str) -> None:
        with anyio.move_on_after(10):
            await self._run(["sh", "-c", _KILL, "sh", token], stdin=None)


async def _exchange(
    mux: MuxSocket,
    data: bytes | None,
    stdout: Callable[[bytes], object],
    stderr: Callable[[bytes], object],
) -> None:
    """Feed ``data`` to the exec's stdin while handing its output over until it ends.

    Input the command does not take (it exited first, or closed its stdin) is dropped, as the
    runner drops it: once the output has ended, nobody is left to read the rest.
    """
    async with anyio.create_task_group() as tg:
        if data is not None:

            async def feed() -> None:
                with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await mux.send(data)
                    mux.shutdown_write()

            tg.start_soon(feed)
        while True:
            try:
                kind, payload = await mux.read_frame()
            except anyio.EndOfStream:
                break
            (stdout if kind == STDOUT else stderr)(payload)
        tg.cancel_scope.cancel()

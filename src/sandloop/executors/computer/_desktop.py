"""DesktopComputer: the sandbox's virtual display, driven through the runner.

Part of the computer executor (``executors → sandboxes``). The sandloop/computer image ships a
desktop module (``sandboxes/computer/sandloop_desktop.py``); the runner starts its display when
the sandbox starts and its ``desktop`` operation runs xdotool and grabs the screen in-process.
So an action is one runner round trip plus one xdotool process, and a screenshot is one round
trip with no process at all — never a ``docker exec``. A sandbox whose runner lacks the
operation (another Sandbox implementation: :meth:`Sandbox.desktop` is ``None``) is driven
through ``exec`` instead, more slowly.

Ordering is the subtle part: the window manager freezes the pointer on each click until it has
replayed it, and xdotool returns before the X server has run its requests. Every pointer move is
therefore synced, every click is settled, and every command line ends with a round trip (see
``_xdotool``), so an action has landed before the next one starts.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from sandloop.errors import ConfigError, SandboxError, ToolError, ToolTimeoutError
from sandloop.executors.computer import _xdotool as xdo
from sandloop.sandboxes.base import DesktopChannel, Sandbox

__all__ = ("DEFAULT_DISPLAY_SIZE", "DESKTOP_MODULE", "DesktopComputer")

DEFAULT_DISPLAY_SIZE = (1280, 800)
#: Where the sandloop/computer image installs its desktop module.
DESKTOP_MODULE = "/usr/local/lib/sandloop/sandloop_desktop.py"
#: Seconds the display may take to (re)start.
START_TIMEOUT = 60.0
#: Seconds one screenshot or one short xdotool command may take.
OP_TIMEOUT = 30.0
_MAX_PNG = 256 * 1024 * 1024
_LOCATION = re.compile(r"x:(\d+) y:(\d+)")


class DesktopComputer:
    """The virtual display of a sandbox started from the sandloop/computer image.

    The display is made to run at ``display_size`` on first use (it is restarted when the
    sandbox started it at another size), so the size the model is told is the size it sees.

    Args:
        sandbox: A started sandbox (``DockerSandbox(image="sandloop/computer:...")``).
        display_size: (width, height) of the screen.
        environment: What the model is told the screen is (``linux``, ``browser``, ...).
        display: The X display name; default the sandbox's ``$DISPLAY`` (``:99``).
        type_delay_ms: Pause between typed characters.
        settle: Seconds given to applications to redraw after input, before a screenshot.
        wait_seconds: How long a ``wait`` action waits.
        png_level: zlib level of the screenshots (0 = fastest, largest; 9 = smallest).
        restart_display: When the display runs at another size, restart it at
            ``display_size`` (closing every window on it). Default: stop with a
            ``SandboxError`` that says how to make the sizes agree.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        display_size: tuple[int, int] = DEFAULT_DISPLAY_SIZE,
        environment: str = "linux",
        display: str | None = None,
        type_delay_ms: int = 8,
        settle: float = 0.1,
        wait_seconds: float = 1.0,
        png_level: int = 1,
        restart_display: bool = False,
    ) -> None:
        width, height = display_size
        if not (16 <= width <= 7680 and 16 <= height <= 7680):
            raise ConfigError(f"display_size {width}x{height} is out of range (16..7680)")
        self.sandbox = sandbox
        self._size = (int(width), int(height))
        self._environment = environment
        self._display = display
        self._type_delay_ms = type_delay_ms
        self._settle = settle
        self._wait_seconds = wait_seconds
        self._png_level = png_level
        self._restart = restart_display
        self._started = False
        self._start_lock = anyio.Lock()
        self._dirty = False
        # Where the pointer is, from xdotool's answer after each action (None: not known).
        self._pointer: tuple[int, int] | None = None

    @property
    def display_size(self) -> tuple[int, int]:
        return self._size

    @property
    def environment(self) -> str:
        return self._environment

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Make sure the display runs at :attr:`display_size`. Idempotent; actions call it."""
        if self._started:
            return
        async with self._start_lock:
            if not self._started:  # another task may have started it while we waited
                width, height = self._size
                reply = await self._request(
                    "ensure", START_TIMEOUT, width=width, height=height, restart=self._restart
                )
                if reply.get("mismatch"):
                    raise SandboxError(_mismatch(reply["width"], reply["height"], width, height))
                await self._run_xdotool([], OP_TIMEOUT)  # where the pointer starts
                self._started = True

    async def launch(self, argv: Sequence[str], *, cwd: str | None = None) -> int:
        """Start a program on the display (a browser, an app under test), detached.

        It keeps running after this returns, until it quits or the sandbox stops.

        Args:
            argv: The program and its arguments (``["browser", "file:///workspace/a.html"]``).
            cwd: Its working directory; default the sandbox's workspace.

        Returns:
            The program's pid inside the sandbox.
        """
        await self.start()
        where = cwd or self.sandbox.workdir
        reply = await self._request("launch", OP_TIMEOUT, argv=list(argv), cwd=where)
        return int(reply["pid"])

    # --- the Computer protocol ---------------------------------------------------------

    async def screenshot(self) -> bytes:
        await self.start()
        if self._dirty:
            # Input was just sent: let the applications redraw before we look.
            await anyio.sleep(self._settle)
            self._dirty = False
        reply = await self._request("screenshot", OP_TIMEOUT, level=self._png_level)
        return base64.b64decode(reply["png"])

    async def click(
        self, x: int, y: int, *, button: str = "left", keys: Sequence[str] = ()
    ) -> None:
        self._check(x, y)
        await self.start()
        args = xdo.click_args(x, y, button=button, keys=keys, pointer=self._pointer)
        await self._xdotool([*args, *xdo.settle_args(x, y, self._size)])

    async def double_click(self, x: int, y: int, *, keys: Sequence[str] = ()) -> None:
        self._check(x, y)
        await self.start()
        args = xdo.double_click_args(x, y, keys=keys, pointer=self._pointer)
        await self._xdotool([*args, *xdo.settle_args(x, y, self._size)])

    async def drag(self, path: Sequence[tuple[int, int]], *, keys: Sequence[str] = ()) -> None:
        for x, y in path:
            self._check(x, y)
        await self.start()
        args = xdo.drag_args(path, keys=keys, pointer=self._pointer)
        await self._xdotool(args, timeout=OP_TIMEOUT + len(path))

    async def keypress(self, keys: Sequence[str]) -> None:
        await self._xdotool(xdo.keypress_args(keys))

    async def move(self, x: int, y: int, *, keys: Sequence[str] = ()) -> None:
        self._check(x, y)
        await self.start()
        await self._xdotool(xdo.move_args(x, y, keys=keys, pointer=self._pointer))

    async def scroll(
        self, x: int, y: int, scroll_x: int, scroll_y: int, *, keys: Sequence[str] = ()
    ) -> None:
        self._check(x, y)
        await self.start()
        args = xdo.scroll_args(x, y, scroll_x, scroll_y, keys=keys, pointer=self._pointer)
        await self._xdotool(args)

    async def type(self, text: str) -> None:
        for args in xdo.type_chunks(text, delay_ms=self._type_delay_ms):
            budget = OP_TIMEOUT + xdo.TYPE_CHUNK * self._type_delay_ms * 4 / 1000
            await self._xdotool(args, timeout=budget, text=xdo.typed_text(args))

    async def wait(self) -> None:
        await anyio.sleep(self._wait_seconds)

    # --- internals ---------------------------------------------------------------------

    def _check(self, x: int, y: int) -> None:
        xdo.check_point(x, y, self._size)

    async def _xdotool(
        self, args: list[str], *, timeout: float = OP_TIMEOUT, text: str = ""
    ) -> None:
        """Run one xdotool command line as an action; a refusal is the model's error.

        ``text``: the characters it types, bound in the keymap first (see the desktop module).
        """
        await self.start()
        self._dirty = True
        reply = await self._run_xdotool(args, timeout, text=text)
        said = _LOCATION.sub("", str(reply.get("stderr") or "")).strip()
        if reply.get("exit_code") is None:
            raise ToolTimeoutError(f"the desktop did not finish the action in {timeout:g} s")
        if reply["exit_code"] != 0 or "No such key name" in said:
            raise ToolError(f"the desktop refused the action: {said or 'xdotool failed'}")

    async def _run_xdotool(
        self, args: list[str], timeout: float, *, text: str = ""
    ) -> dict[str, Any]:
        typing = "type" in args  # `type` takes every argument after it as text
        if not typing:
            # End with a round trip: xdotool exits right after sending, and the X server may
            # run the next action's requests (another client) before this one's last ones,
            # e.g. a drag's release after the next click's move. The query waits for them,
            # and tells us where the pointer is.
            args = [*args, "getmouselocation"]
        extra = {"text": text} if text else {}
        reply = await self._request("xdotool", timeout + 5, args=args, timeout=timeout, **extra)
        if not typing:
            found = _LOCATION.findall(str(reply.get("stderr") or ""))
            self._pointer = (int(found[-1][0]), int(found[-1][1])) if found else None
        return reply

    async def _request(self, do: str, limit: float, **args: Any) -> dict[str, Any]:
        """One desktop request; ``limit`` bounds the round trip."""
        if self._display is not None:
            args["display"] = self._display
        channel: DesktopChannel = self.sandbox.desktop() or _ExecDesktop(
            self.sandbox, self._display
        )
        return await channel.request(do, args, timeout=limit)

    def __repr__(self) -> str:
        width, height = self._size
        return f"DesktopComputer({self.sandbox!r}, display_size=({width}, {height}))"


def _mismatch(width: int, height: int, want_width: int, want_height: int) -> str:
    return (
        f"the sandbox's display is {width}x{height}, but the computer is "
        f"{want_width}x{want_height}: start the sandbox with "
        f"env={{'SANDLOOP_DISPLAY_SIZE': '{want_width}x{want_height}'}}, or use "
        f"display_size=({width}, {height}), or DesktopComputer(restart_display=True) "
        "(which closes every window on the display)"
    )


class _ExecDesktop:
    """A :class:`DesktopChannel` through ``Sandbox.exec``, for a sandbox without one of its own:
    one process per request."""

    def __init__(self, sandbox: Sandbox, display: str | None) -> None:
        self.sandbox = sandbox
        self.env = {"DISPLAY": display} if display else {}

    async def request(self, do: str, args: Mapping[str, Any], *, timeout: float) -> dict[str, Any]:
        if do == "xdotool":
            argv = ["xdotool", *args["args"]]
            done = await self.sandbox.exec(argv, env=self.env, timeout=args["timeout"])
            code = None if done.timed_out else done.exit_code
            return {"exit_code": code, "stderr": done.stderr_text() + done.stdout_text()}
        if do == "ensure":
            env = {
                **self.env,
                "SANDLOOP_DISPLAY_SIZE": f"{args['width']}x{args['height']}",
                "SANDLOOP_DISPLAY_RESTART": "1" if args["restart"] else "0",
            }
            argv = ["python3", DESKTOP_MODULE, "start"]
            done = await self.sandbox.exec(argv, env=env, timeout=timeout)
            if done.exit_code == 3:  # running at another size, left alone
                width, height = done.stdout_text().strip().split("x")
                return {"mismatch": True, "width": int(width), "height": int(height)}
            if not done.ok:
                raise SandboxError(f"the desktop did not start: {done.stderr_text().strip()}")
            return {}
        if do == "launch":
            # `setsid -f` forks a child in a new session, so the runner's clean-up of the
            # command's process group leaves it running.
            command = ["setsid", "-f", *args["argv"]]
            done = await self.sandbox.exec(command, env=self.env, cwd=args["cwd"], timeout=timeout)
            if not done.ok:
                raise SandboxError(f"could not launch {args['argv'][0]}: {done.stderr_text()}")
            return {"pid": 0}
        if do == "screenshot":
            argv = ["python3", DESKTOP_MODULE, "screenshot"]
            done = await self.sandbox.exec(argv, env=self.env, timeout=timeout, max_output=_MAX_PNG)
            if not done.ok:
                raise SandboxError(f"the desktop gave no screenshot: {done.stderr_text().strip()}")
            return {"png": base64.b64encode(done.stdout).decode("ascii")}
        raise ValueError(f"unknown desktop request {do!r}")

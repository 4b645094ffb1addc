"""Computer actions → xdotool command lines (pure; no I/O).

Part of the computer executor. Each function returns the arguments of ONE xdotool invocation
(xdotool chains commands: ``mousemove 10 20 keydown Control_L click 1 keyup Control_L``), so an
action costs one process start inside the sandbox. Coordinates are checked against the display
so a point off the screen is the model's error to fix, not a silent clamp.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sandloop.errors import ToolArgumentsError
from sandloop.executors.computer._keys import keysyms

__all__ = (
    "BUTTONS",
    "check_point",
    "click_args",
    "double_click_args",
    "drag_args",
    "keypress_args",
    "move_args",
    "scroll_args",
    "scroll_notches",
    "settle_args",
    "type_chunks",
    "typed_text",
)

Point = tuple[int, int]


def _move(x: int, y: int, pointer: Point | None) -> list[str]:
    """Move the pointer to (x, y), waiting until it is really there.

    The window manager grabs button presses synchronously (to focus on click) and freezes the
    pointer until it replays them; when it lags (it re-grabs every key after each keymap
    change, and typing unicode changes the keymap per character), an unsynced move would
    overtake the click before it, and the click would land where the pointer went next. But
    ``--sync`` waits for the pointer to *change* position, 15 s when it is already there: so
    moves to where the pointer is (``pointer``, when known) are sent without it.
    """
    if pointer == (x, y):
        return ["mousemove", str(x), str(y)]
    return ["mousemove", "--sync", str(x), str(y)]


#: Model button names → X pointer buttons (8 and 9 are the browser's back and forward).
BUTTONS = {"left": 1, "middle": 2, "wheel": 2, "right": 3, "back": 8, "forward": 9}
#: Pixels the model means by one wheel notch when it gives a scroll distance.
SCROLL_STEP = 100
#: More notches than this in one action is a runaway value, not a scroll.
MAX_NOTCHES = 100
#: Longest path step of a drag before we add intermediate points (apps track motion events).
DRAG_STEP = 20
#: Characters per xdotool ``type`` invocation; long texts are typed in several runs.
TYPE_CHUNK = 200


def check_point(x: int, y: int, size: tuple[int, int]) -> None:
    """Raise ``ToolArgumentsError`` unless (x, y) is on a screen of ``size``."""
    width, height = size
    if not (0 <= x < width and 0 <= y < height):
        raise ToolArgumentsError(f"({x}, {y}) is outside the {width}x{height} screen")


def _held(keys: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """The ``keydown`` and ``keyup`` commands around an action that holds ``keys``."""
    syms = keysyms(list(keys or ()))
    if not syms:
        return [], []
    return ["keydown", "+".join(syms)], ["keyup", "+".join(reversed(syms))]


def _button(name: str) -> int:
    try:
        return BUTTONS[name.lower()]
    except KeyError:
        known = ", ".join(BUTTONS)
        raise ToolArgumentsError(f"unknown mouse button {name!r} (known: {known})") from None


def click_args(
    x: int,
    y: int,
    *,
    button: str = "left",
    keys: Sequence[str] = (),
    pointer: Point | None = None,
) -> list[str]:
    """Move to (x, y) and click ``button`` with ``keys`` held (``pointer``: where it is now)."""
    down, up = _held(keys)
    # --delay 0: xdotool otherwise sleeps 100 ms after the (last) click.
    return [*_move(x, y, pointer), *down, "click", "--delay", "0", str(_button(button)), *up]


def double_click_args(
    x: int, y: int, *, keys: Sequence[str] = (), pointer: Point | None = None
) -> list[str]:
    """Move to (x, y) and double-click the left button with ``keys`` held."""
    down, up = _held(keys)
    # 60 ms apart: well inside every toolkit's double-click time, slow enough to be two clicks.
    return [*_move(x, y, pointer), *down, "click", "--repeat", "2", "--delay", "60", "1", *up]


def settle_args(x: int, y: int, size: tuple[int, int]) -> list[str]:
    """After a click at (x, y): nudge the pointer one pixel (synced) and back.

    The window manager holds a click (the pointer frozen) until it has replayed it to the
    window; keys are not held, so text typed next could reach the window before the click that
    focused it or placed its cursor. A synced move waits until the pointer is free again; the
    move back then happens at once.
    """
    nudge = x + 1 if x + 1 < size[0] else x - 1
    return ["mousemove", "--sync", str(nudge), str(y), "mousemove", str(x), str(y)]


def move_args(
    x: int, y: int, *, keys: Sequence[str] = (), pointer: Point | None = None
) -> list[str]:
    """Move the pointer to (x, y) with ``keys`` held."""
    down, up = _held(keys)
    return [*down, *_move(x, y, pointer), *up]


def drag_args(
    path: Sequence[Point], *, keys: Sequence[str] = (), pointer: Point | None = None
) -> list[str]:
    """Press the left button at the path's start, move through every point, release at its end.

    Long segments get intermediate points every ``DRAG_STEP`` pixels, and the pointer pauses
    briefly after the press and before the release, so toolkits see a real drag.
    """
    if not path:
        raise ToolArgumentsError("drag needs a path of at least one point")
    down, up = _held(keys)
    start = path[0]
    args = [*_move(*start, pointer), *down, "mousedown", "1", "sleep", "0.05"]
    prev = start
    for point in path[1:]:
        for step in _segment(prev, point):
            args += [*_move(*step, prev), "sleep", "0.01"]
            prev = step
    return [*args, "sleep", "0.05", "mouseup", "1", *up]


def _segment(start: Point, end: Point) -> list[Point]:
    """Points from just after ``start`` to ``end`` inclusive, at most ``DRAG_STEP`` apart."""
    (x0, y0), (x1, y1) = start, end
    steps = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / DRAG_STEP))
    return [
        (round(x0 + (x1 - x0) * i / steps), round(y0 + (y1 - y0) * i / steps))
        for i in range(1, steps + 1)
    ]


def keypress_args(keys: Sequence[str]) -> list[str]:
    """Press the combination ``keys`` (``["CTRL", "SHIFT", "T"]`` → ``ctrl+shift+t``)."""
    syms = keysyms(list(keys))
    if not syms:
        raise ToolArgumentsError("keypress needs at least one key")
    return ["key", "+".join(syms)]


def scroll_notches(distance: int, *, step: int = SCROLL_STEP) -> int:
    """Wheel notches for a scroll distance in pixels: at least one for any non-zero distance."""
    if distance == 0:
        return 0
    return min(MAX_NOTCHES, max(1, round(abs(distance) / step)))


def scroll_args(
    x: int,
    y: int,
    scroll_x: int,
    scroll_y: int,
    *,
    keys: Sequence[str] = (),
    step: int = SCROLL_STEP,
    pointer: Point | None = None,
) -> list[str]:
    """Move to (x, y) and turn the wheel: down/up for ``scroll_y``, right/left for ``scroll_x``.

    Positive ``scroll_y`` scrolls down (button 5), negative up (4); positive ``scroll_x``
    scrolls right (7), negative left (6).
    """
    down, up = _held(keys)
    args = [*_move(x, y, pointer), *down]
    for distance, forward, backward in ((scroll_y, 5, 4), (scroll_x, 7, 6)):
        notches = scroll_notches(distance, step=step)
        if notches:
            button = forward if distance > 0 else backward
            args += ["click", "--repeat", str(notches), "--delay", "15", str(button)]
    return [*args, *up]


def type_chunks(text: str, *, delay_ms: int = 8) -> list[list[str]]:
    """xdotool invocations that type ``text`` (any unicode), ``TYPE_CHUNK`` characters at most.

    ``\r\n`` and ``\r`` become ``\n`` (one Return each). Upper-case letters outside ASCII are
    pressed as shift + their keysym instead: xdotool types them through a spare keycode bound
    to that one keysym, and X then reads the unshifted key as lower case (``Ä`` came out ``ä``).
    ``type`` takes every argument after it as text, so it always ends its invocation.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    calls: list[list[str]] = []
    keys: list[str] = []
    run = ""
    for char in text:
        if not char.isascii() and char.isupper() and char.lower() != char:
            if run:
                calls.append([*keys, "type", "--delay", str(delay_ms), "--", run])
                keys, run = [], ""
            keys += ["key", "--delay", str(delay_ms), f"shift+U{ord(char):04X}"]
            continue
        run += char
        if len(run) >= TYPE_CHUNK:
            calls.append([*keys, "type", "--delay", str(delay_ms), "--", run])
            keys, run = [], ""
    if run or keys:
        calls.append([*keys, *(["type", "--delay", str(delay_ms), "--", run] if run else [])])
    return calls


def typed_text(args: Sequence[str]) -> str:
    """The characters an invocation from :func:`type_chunks` types (``shift+U00C4`` → ``Ä``)."""
    chars = [chr(int(arg[7:], 16)) for arg in args if arg.startswith("shift+U")]
    if "type" in args:
        chars.append(args[-1])
    return "".join(chars)

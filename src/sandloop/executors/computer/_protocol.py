"""The ``Computer`` protocol: the screen ``ComputerTool`` drives.

Part of the computer executor. :class:`~sandloop.executors.computer.DesktopComputer` implements
it over the sandbox's virtual display; implement it yourself to drive another backend (a
browser through Playwright, a VNC session, a phone emulator). Methods are called in the order
of the call's actions, one at a time, then :meth:`Computer.screenshot` once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ("Computer",)


@runtime_checkable
class Computer(Protocol):
    """A screen a model can see and drive.

    Coordinates are pixels from the top-left corner of a screen of :attr:`display_size`.
    ``keys`` are model key names (``"CTRL"``, ``"shift"``, ``"cmd"``) held down during the
    action. Raise :class:`~sandloop.errors.ToolError` (or ``ToolArgumentsError``) for an action
    the model got wrong; the model then reads the message.
    """

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        ...

    @property
    def environment(self) -> str:
        """What the screen shows: ``linux``, ``ubuntu``, ``browser``, ``mac`` or ``windows``."""
        ...

    async def screenshot(self) -> bytes:
        """The screen now, as PNG (or JPEG) bytes."""
        ...

    async def click(
        self, x: int, y: int, *, button: str = "left", keys: Sequence[str] = ()
    ) -> None:
        """Click ``button`` (left, right, wheel, back, forward) at (x, y)."""
        ...

    async def double_click(self, x: int, y: int, *, keys: Sequence[str] = ()) -> None:
        """Double-click the left button at (x, y)."""
        ...

    async def drag(self, path: Sequence[tuple[int, int]], *, keys: Sequence[str] = ()) -> None:
        """Press at the first point, move through the others, release at the last."""
        ...

    async def keypress(self, keys: Sequence[str]) -> None:
        """Press the key combination ``keys`` (all down, then all up)."""
        ...

    async def move(self, x: int, y: int, *, keys: Sequence[str] = ()) -> None:
        """Move the pointer to (x, y)."""
        ...

    async def scroll(
        self, x: int, y: int, scroll_x: int, scroll_y: int, *, keys: Sequence[str] = ()
    ) -> None:
        """Scroll by (scroll_x, scroll_y) pixels with the pointer at (x, y); positive y is down."""
        ...

    async def type(self, text: str) -> None:
        """Type ``text`` (any unicode) into whatever has the keyboard focus."""
        ...

    async def wait(self) -> None:
        """Let the screen settle for a moment (the backend chooses how long)."""
        ...

"""Computer-use wire models: the action union, safety checks and screenshots (spec §3.6).

Used by ``calls`` (``ComputerCall``, ``ComputerCallOutput``); the computer executor reads the
actions, so coordinates and keys are typed. An action type this version does not know becomes
``UnknownAction`` instead of failing the whole response.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Tag

from sandloop.items._base import UnknownWireModel, WireModel, type_tagger

__all__ = (
    "ClickAction",
    "ComputerAction",
    "ComputerScreenshot",
    "Coordinate",
    "DoubleClickAction",
    "DragAction",
    "KeypressAction",
    "MoveAction",
    "SafetyCheck",
    "ScreenshotAction",
    "ScrollAction",
    "TypeAction",
    "UnknownAction",
    "WaitAction",
)


class Coordinate(WireModel):
    """A point on the screen, in pixels."""

    x: int
    y: int


class ClickAction(WireModel):
    """Click ``button`` at (x, y), holding ``keys``."""

    type: Literal["click"] = "click"
    x: int
    y: int
    button: str = "left"
    keys: list[str] | None = None


class DoubleClickAction(WireModel):
    """Double-click at (x, y), holding ``keys``."""

    type: Literal["double_click"] = "double_click"
    x: int
    y: int
    keys: list[str] | None = None


class DragAction(WireModel):
    """Drag the mouse along ``path`` (at least start and end)."""

    type: Literal["drag"] = "drag"
    path: list[Coordinate]
    keys: list[str] | None = None


class KeypressAction(WireModel):
    """Press the key combination ``keys``."""

    type: Literal["keypress"] = "keypress"
    keys: list[str]


class MoveAction(WireModel):
    """Move the pointer to (x, y)."""

    type: Literal["move"] = "move"
    x: int
    y: int
    keys: list[str] | None = None


class ScreenshotAction(WireModel):
    """Take a screenshot (nothing else)."""

    type: Literal["screenshot"] = "screenshot"


class ScrollAction(WireModel):
    """Scroll by (scroll_x, scroll_y) with the pointer at (x, y)."""

    type: Literal["scroll"] = "scroll"
    x: int
    y: int
    scroll_x: int
    scroll_y: int
    keys: list[str] | None = None


class TypeAction(WireModel):
    """Type ``text``."""

    type: Literal["type"] = "type"
    text: str


class WaitAction(WireModel):
    """Wait a moment (the client chooses how long)."""

    type: Literal["wait"] = "wait"


class UnknownAction(UnknownWireModel):
    """An action type this version does not know; kept and sent back unchanged."""


_ACTION_TYPES = (
    "click",
    "double_click",
    "drag",
    "keypress",
    "move",
    "screenshot",
    "scroll",
    "type",
    "wait",
)

ComputerAction = Annotated[
    Annotated[ClickAction, Tag("click")]
    | Annotated[DoubleClickAction, Tag("double_click")]
    | Annotated[DragAction, Tag("drag")]
    | Annotated[KeypressAction, Tag("keypress")]
    | Annotated[MoveAction, Tag("move")]
    | Annotated[ScreenshotAction, Tag("screenshot")]
    | Annotated[ScrollAction, Tag("scroll")]
    | Annotated[TypeAction, Tag("type")]
    | Annotated[WaitAction, Tag("wait")]
    | Annotated[UnknownAction, Tag("unknown")],
    Discriminator(type_tagger(_ACTION_TYPES)),
]
"""One computer action, discriminated on ``type``."""


class SafetyCheck(WireModel):
    """A pending (or acknowledged) computer-use safety check."""

    id: str
    code: str | None = None
    message: str | None = None


class ComputerScreenshot(WireModel):
    """The output of a computer call: a screenshot by URL (usually a PNG data URL) or file id."""

    type: Literal["computer_screenshot"] = "computer_screenshot"
    image_url: str | None = None
    file_id: str | None = None

"""ComputerTool: runs ``computer_call`` items on a :class:`Computer` and answers with a screenshot.

Part of the computer executor (``dispatch → executors``). One call: the pending safety checks go
to the run's approval callback (a refusal stops the call before any action), the actions run in
order (``actions`` when present, else the single ``action``), and one screenshot comes back as a
``computer_call_output`` carrying a PNG data URL and the acknowledged checks.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from sandloop.errors import ApprovalDeniedError, ConfigError, ToolArgumentsError, ToolError
from sandloop.executors.base import ToolContext
from sandloop.executors.computer._desktop import DEFAULT_DISPLAY_SIZE, DesktopComputer
from sandloop.executors.computer._protocol import Computer
from sandloop.items import ComputerCall, ComputerCallOutput, ComputerScreenshot
from sandloop.items.computer import (
    ClickAction,
    DoubleClickAction,
    DragAction,
    KeypressAction,
    MoveAction,
    SafetyCheck,
    ScreenshotAction,
    ScrollAction,
    TypeAction,
    WaitAction,
)
from sandloop.sandboxes.base import Sandbox

__all__ = ("ComputerTool", "screenshot_data_url")

_ENVIRONMENTS = ("linux", "ubuntu", "browser", "mac", "windows")


#: Desktops a ComputerTool keeps, one per recently used sandbox (runs at once, usually).
_KEPT_DESKTOPS = 32


class ComputerTool:
    """The computer-use tool: GA ``computer`` or ``computer_use_preview``.

    Args:
        computer: The screen to drive. Default: a :class:`DesktopComputer` over the run's
            sandbox (start it from the sandloop/computer image), one per sandbox.
        preview: Offer ``computer_use_preview`` (for the ``computer-use-preview`` models),
            which tells the model the display size and environment; default the GA tool.
        display_size: Screen size for the default desktop (ignored with ``computer``).
        environment: What the screen is, for the default desktop (ignored with ``computer``).
        needs_approval: Ask the run's approval callback before every call.
        timeout: Seconds a call may take before it is cancelled.
    """

    call_type = "computer_call"
    name: str | None = None
    namespace: str | None = None
    # Actions act on one shared screen: two computer calls must never interleave.
    sequential = True

    def __init__(
        self,
        computer: Computer | None = None,
        *,
        preview: bool = False,
        display_size: tuple[int, int] = DEFAULT_DISPLAY_SIZE,
        environment: str = "linux",
        needs_approval: bool = False,
        timeout: float | None = None,
    ) -> None:
        if computer is not None and not isinstance(computer, Computer):
            raise ConfigError(f"computer must implement the Computer protocol, got {computer!r}")
        size = computer.display_size if computer is not None else display_size
        env = computer.environment if computer is not None else environment
        if env not in _ENVIRONMENTS:
            raise ConfigError(f"environment must be one of {', '.join(_ENVIRONMENTS)}: {env!r}")
        self.computer = computer
        self.preview = preview
        self.display_size = (int(size[0]), int(size[1]))
        self.environment = env
        self.needs_approval = needs_approval
        self.timeout = timeout
        # The most recently used sandboxes' desktops. Not a WeakKeyDictionary: each desktop
        # holds its sandbox, so no entry would ever go. An evicted one is made again if needed.
        self._desktops: OrderedDict[Sandbox, DesktopComputer] = OrderedDict()

    @property
    def needs_sandbox(self) -> bool:
        """The default desktop lives in the run's sandbox; a ``computer=`` backend does not."""
        return self.computer is None

    def options(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this tool (``ComputerTool(**tool.options())``).

        Raises:
            ConfigError: the tool drives a user-supplied ``Computer``, which is not plain data.
        """
        if self.computer is not None:
            raise ConfigError(
                "a ComputerTool over your own Computer cannot be described as data; "
                "rebuild it in code"
            )
        return {
            "preview": self.preview,
            "display_size": list(self.display_size),
            "environment": self.environment,
            "needs_approval": self.needs_approval,
            "timeout": self.timeout,
        }

    def definition(self) -> dict[str, Any]:
        if not self.preview:
            return {"type": "computer"}
        width, height = self.display_size
        return {
            "type": "computer_use_preview",
            "display_width": width,
            "display_height": height,
            "environment": self.environment,
        }

    def computer_for(self, ctx: ToolContext) -> Computer:
        """The computer a call of this run acts on."""
        if self.computer is not None:
            return self.computer
        sandbox = ctx.sandbox
        if sandbox is None:
            raise ConfigError(
                "ComputerTool needs a sandbox started from the sandloop/computer image "
                "(run(..., sandbox=DockerSandbox(image=...))) or a computer= backend"
            )
        desktop = self._desktops.get(sandbox)
        if desktop is None:
            desktop = DesktopComputer(
                sandbox, display_size=self.display_size, environment=self.environment
            )
            self._desktops[sandbox] = desktop
            if len(self._desktops) > _KEPT_DESKTOPS:
                self._desktops.popitem(last=False)
        self._desktops.move_to_end(sandbox)
        return desktop

    async def execute(
        self, call: ComputerCall | Mapping[str, Any], ctx: ToolContext
    ) -> ComputerCallOutput:
        item = call if isinstance(call, ComputerCall) else ComputerCall.model_validate(call)
        computer = self.computer_for(ctx)
        acknowledged = await self._acknowledge(item, ctx)
        actions = item.actions if item.actions is not None else [item.action]
        for index, action in enumerate(actions, start=1):
            try:
                await perform(computer, action)
            except ToolError as exc:
                kind = getattr(action, "type", "?")
                raise type(exc)(f"action {index} of {len(actions)} ({kind}): {exc}") from exc
        image = await computer.screenshot()
        return ComputerCallOutput(
            call_id=item.call_id,
            output=ComputerScreenshot(image_url=screenshot_data_url(image)),
            acknowledged_safety_checks=acknowledged or None,
        )

    async def _acknowledge(self, call: ComputerCall, ctx: ToolContext) -> list[SafetyCheck]:
        """Ask the approval callback about each pending check; refuse the call at the first no."""
        approved: list[SafetyCheck] = []
        for check in call.pending_safety_checks or ():
            detail = f"safety check {check.code or check.id}: {check.message or '(no message)'}"
            allowed = await ctx.request_approval(
                call,
                kind="safety_check",
                tool="computer_call",
                arguments=_summary(call),
                detail=detail,
            )
            if not allowed:
                why = "no approval callback" if ctx.approver is None else "the user refused it"
                raise ApprovalDeniedError(
                    f"the computer call was not run: {detail} was not acknowledged ({why})"
                )
            approved.append(check)
        return approved

    def __repr__(self) -> str:
        kind = "computer_use_preview" if self.preview else "computer"
        return f"ComputerTool({kind}, computer={self.computer!r})"


async def perform(computer: Computer, action: Any) -> None:
    """Run one action on ``computer``.

    Raises:
        ToolArgumentsError: The action is missing or of a type this version does not know.
    """
    match action:
        case ClickAction():
            await computer.click(action.x, action.y, button=action.button, keys=action.keys or ())
        case DoubleClickAction():
            await computer.double_click(action.x, action.y, keys=action.keys or ())
        case DragAction():
            path = [(p.x, p.y) for p in action.path]
            await computer.drag(path, keys=action.keys or ())
        case KeypressAction():
            await computer.keypress(action.keys)
        case MoveAction():
            await computer.move(action.x, action.y, keys=action.keys or ())
        case ScrollAction():
            keys = action.keys or ()
            await computer.scroll(action.x, action.y, action.scroll_x, action.scroll_y, keys=keys)
        case TypeAction():
            await computer.type(action.text)
        case WaitAction():
            await computer.wait()
        case ScreenshotAction():
            pass  # the screenshot every call ends with is the answer
        case None:
            raise ToolArgumentsError("the computer call has neither 'action' nor 'actions'")
        case _:
            kind = getattr(action, "type", None) or type(action).__name__
            raise ToolArgumentsError(f"unsupported computer action {kind!r}")


def _summary(call: ComputerCall) -> str:
    actions = call.actions if call.actions is not None else [call.action]
    return ", ".join(str(getattr(a, "type", "?")) for a in actions)


def screenshot_data_url(image: bytes) -> str:
    """A data URL for PNG or JPEG bytes (by their signature)."""
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        media = "image/png"
    elif image.startswith(b"\xff\xd8\xff"):
        media = "image/jpeg"
    else:
        raise ToolError("the computer's screenshot is neither PNG nor JPEG")
    return f"data:{media};base64,{base64.b64encode(image).decode('ascii')}"

"""The desktop of the computer image, served in-process by the ``desktop`` request."""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from .common import Reply, Request

if TYPE_CHECKING:
    from .serve import Runner

# Computer use: the sandloop/computer image ships a desktop module (display, xdotool, in-process
# screenshots) and names it in $SANDLOOP_DESKTOP_MODULE. The runner starts that display before
# its hello, so the desktop is ready as soon as the sandbox is; the `desktop` op hands the module
# each request. Images without it say so.
DESKTOP_MODULE = "/usr/local/lib/sandloop/sandloop_desktop.py"
_desktop: list[Any] = []
_desktop_lock = threading.Lock()


def _load_desktop() -> Any:
    with _desktop_lock:
        if not _desktop:
            path = os.environ.get("SANDLOOP_DESKTOP_MODULE") or DESKTOP_MODULE
            if not os.path.isfile(path):
                msg = f"no desktop in this sandbox ({path} is missing): use the computer image"
                raise RuntimeError(msg)
            import importlib.util

            spec = importlib.util.spec_from_file_location("sandloop_desktop", path)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            _desktop.append(module)
        return _desktop[0]


def available() -> bool:
    """Whether this sandbox has the desktop module (the computer image), for the hello."""
    return os.path.isfile(os.environ.get("SANDLOOP_DESKTOP_MODULE") or DESKTOP_MODULE)


def op_desktop(runner: Runner, req: Request) -> Reply:
    reply: Reply = _load_desktop().handle(req)
    return reply


def start_desktop() -> None:
    """Start the computer image's display (at $SANDLOOP_DISPLAY_SIZE); elsewhere a no-op."""
    if not os.environ.get("SANDLOOP_DESKTOP_MODULE"):
        return
    try:
        _load_desktop().main(["sandloop-desktop", "start"])
    except Exception as exc:  # the desktop op retries the start and reports what is wrong
        sys.stderr.write(f"sandloop-runner: the desktop did not start: {exc}\n")

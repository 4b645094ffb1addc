"""sandloop.loop: the agent loop — Agent, run / run_sync / stream, RunResult, run events.

The top of the data flow: ``loop → dispatch → executors → sandboxes``, with the model reached
through ``client``.
"""

from sandloop.loop.agent import Agent
from sandloop.loop.api import run, run_sync, stream
from sandloop.loop.events import (
    Compacted,
    ResponseCreated,
    ResponseRetrying,
    RunEnded,
    RunEvent,
    RunStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolOutputDelta,
    TurnEnded,
    TurnStarted,
)
from sandloop.loop.result import PendingApproval, RunResult, RunStatus
from sandloop.loop.resume import resume, resume_sync
from sandloop.loop.runner import AgentLoop
from sandloop.loop.spec import RunSpec
from sandloop.loop.state import RunState

__all__ = (
    "Agent",
    "AgentLoop",
    "Compacted",
    "PendingApproval",
    "ResponseCreated",
    "ResponseRetrying",
    "RunEnded",
    "RunEvent",
    "RunResult",
    "RunSpec",
    "RunStarted",
    "RunState",
    "RunStatus",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolOutputDelta",
    "TurnEnded",
    "TurnStarted",
    "resume",
    "resume_sync",
    "run",
    "run_sync",
    "stream",
)

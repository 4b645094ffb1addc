"""sandloop.dispatch: routes each client call to its tool and collects one output per call.

Sits between the loop and the executors (``loop → dispatch → executors``).
"""

from sandloop.dispatch.approvals import ApprovalPolicy, Approvals
from sandloop.dispatch.dispatcher import CallOutcome, CallStatus, Dispatcher, RunScope
from sandloop.dispatch.outputs import failure_output
from sandloop.dispatch.registry import ToolRegistry

__all__ = (
    "ApprovalPolicy",
    "Approvals",
    "CallOutcome",
    "CallStatus",
    "Dispatcher",
    "RunScope",
    "ToolRegistry",
    "failure_output",
)

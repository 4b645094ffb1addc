"""sandloop.testing: test doubles shipped for users' own tests.

:class:`ScriptedResponsesServer` is a real Responses API server on 127.0.0.1 that plays a
script of turns, checks every request strictly and can inject faults. The builders
(:func:`function_call`, :func:`message`, ...) make the output items of a turn. A
:class:`Cassette` records a run's model exchanges; :class:`CassettePlayer` replays them.
"""

from sandloop.testing._script import (
    Fault,
    RecordedRequest,
    ScriptedServerError,
    Turn,
    TurnLike,
    bad_request,
    delay,
    drop_connection,
    malformed_stream,
    rate_limited,
    server_error,
)
from sandloop.testing.builders import (
    apply_patch_call,
    computer_call,
    custom_tool_call,
    function_call,
    local_shell_call,
    mcp_approval_request,
    message,
    reasoning,
    shell_call,
    tool_search_call,
)
from sandloop.testing.cassette import Cassette, CassettePlayer, Exchange
from sandloop.testing.server import ScriptedResponsesServer

__all__ = (
    "Cassette",
    "CassettePlayer",
    "Exchange",
    "Fault",
    "RecordedRequest",
    "ScriptedResponsesServer",
    "ScriptedServerError",
    "Turn",
    "TurnLike",
    "apply_patch_call",
    "bad_request",
    "computer_call",
    "custom_tool_call",
    "delay",
    "drop_connection",
    "function_call",
    "local_shell_call",
    "malformed_stream",
    "mcp_approval_request",
    "message",
    "rate_limited",
    "reasoning",
    "server_error",
    "shell_call",
    "tool_search_call",
)

"""Every exception sandloop raises, in one tree.

A leaf of the data flow: any module may import it, it imports nothing of ours.

    SandloopError
    ├── ConfigError                  bad options, missing API key, duplicate tool names
    ├── ApiError                     talking to the Responses API
    │   ├── ApiConnectionError       could not connect, or the connection broke
    │   │   └── ApiTimeoutError      no answer in time
    │   │       ├── ResponseStalledError  no byte of the body for idle_timeout (seconds)
    │   │       └── ResponseDeadlineError the request ran past its total timeout (seconds)
    │   ├── ApiStatusError           an HTTP error status (status_code, request_id, code)
    │   │   ├── BadRequestError      400 / 422
    │   │   ├── AuthenticationError  401
    │   │   ├── PermissionDeniedError 403
    │   │   ├── NotFoundError        404
    │   │   ├── ConflictError        409
    │   │   ├── RateLimitError       429
    │   │   └── ServerError          5xx
    │   ├── InvalidResponseError     a body or SSE stream we cannot parse, or a cut stream
    │   │   ├── ResponseTooLargeError a body, stream, SSE line or event past its cap (what, limit)
    │   │   └── ResponseTooDeepError  JSON nested deeper than the client's limit (limit)
    │   └── ResponseFailedError      a Response whose status is "failed" (or "cancelled")
    ├── RunError                     the agent loop could not finish
    │   ├── MaxTurnsExceeded         carries the partial RunResult
    │   ├── TokenBudgetExceeded      the run used more tokens than its budget
    │   ├── CostBudgetExceeded       the run cost more dollars than its budget (or went unpriced)
    │   ├── RunTimeoutError          the run's wall-clock limit passed
    │   ├── ResponseIncompleteError  the model stopped early (max_output_tokens, content_filter)
    │   ├── ModelBehaviorError       the model produced something we cannot act on
    │   │   └── OutputValidationError the final answer does not fit the agent's output_type
    │   └── ReplayDivergenceError    a replayed run asked what its cassette does not hold
    ├── ToolError                    a tool call failed; becomes the call's output by default
    │   ├── ToolArgumentsError       arguments not valid JSON or not valid for the schema
    │   ├── ToolTimeoutError         the tool ran past its timeout
    │   ├── ApprovalDeniedError      the approval callback said no
    │   ├── MCPServerError           an MCP server crashed, hung, or sent garbage (server)
    │   │   └── MCPStartError        an MCP server would not start or list its tools
    │   └── SandboxFileError         a file operation in the sandbox failed (path, reason)
    │       ├── WorkspacePathError   the path leaves the workspace (.., absolute, symlink)
    │       └── WorkspaceTooLargeError a copy-mode file or tree is over its size cap
    ├── PatchError                   an apply_patch diff could not be applied
    │   ├── PatchParseError          the diff is malformed
    │   ├── PatchConflictError       a hunk does not match the file
    │   └── PatchTimeoutError        matching the patch took longer than its budget
    └── SandboxError                 the sandbox itself is unusable: stops the run
        ├── SandboxUnavailableError  no Docker engine, or the image is missing
        ├── SandboxStartError        the container would not start
        ├── SandboxEngineError       the Docker engine refused a request (its HTTP status)
        ├── SandboxDiedError         the container or its runner died, or sent a bad frame
        │   └── SandboxTimeoutError  the runner did not answer by a call's deadline
        └── WorkspaceCleanupError    a host-side walk of the workspace failed (path)

Errors carry structured attributes; code never parses messages. Every error survives
``pickle`` (a process pool, Ray) with its message and attributes: unpickling restores them
without calling ``__init__``, whose keyword-only attributes it could not pass.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = (
    "ApiConnectionError",
    "ApiError",
    "ApiStatusError",
    "ApiTimeoutError",
    "ApprovalDeniedError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigError",
    "ConflictError",
    "CostBudgetExceeded",
    "InvalidResponseError",
    "MCPServerError",
    "MCPStartError",
    "MaxTurnsExceeded",
    "ModelBehaviorError",
    "NotFoundError",
    "OutputValidationError",
    "PatchConflictError",
    "PatchError",
    "PatchParseError",
    "PatchTimeoutError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReplayDivergenceError",
    "ResponseDeadlineError",
    "ResponseFailedError",
    "ResponseIncompleteError",
    "ResponseStalledError",
    "ResponseTooDeepError",
    "ResponseTooLargeError",
    "RunError",
    "RunTimeoutError",
    "SandboxDiedError",
    "SandboxEngineError",
    "SandboxError",
    "SandboxFileError",
    "SandboxStartError",
    "SandboxTimeoutError",
    "SandboxUnavailableError",
    "SandloopError",
    "ServerError",
    "TokenBudgetExceeded",
    "ToolArgumentsError",
    "ToolError",
    "ToolTimeoutError",
    "WorkspaceCleanupError",
    "WorkspacePathError",
    "WorkspaceTooLargeError",
)


class SandloopError(Exception):
    """Base class of every error sandloop raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce calls ``cls(*args)``, which fails for the subclasses whose
        # attributes are required keyword arguments; rebuild from the state instead.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[SandloopError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Unpickle an error: its ``args`` (the message) and attributes, without ``__init__``."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigError(SandloopError):
    """The options given cannot work (missing API key, duplicate tool names, ...)."""


# --- the Responses API -------------------------------------------------------------------


class ApiError(SandloopError):
    """Something went wrong talking to the Responses API.

    Attributes:
        attempts: For a failure the client retries (connection errors, timeouts, 408, 409, 429,
            5xx): how many times the request was sent before the client gave up, ``1`` when
            retries are off. ``None`` for a failure that is never retried (other 4xx, a bad
            answer). The message says it too: ``... (sent 3 times: 2 retries)``.
    """

    attempts: int | None = None

    def __str__(self) -> str:
        said = self._what_failed()
        if self.attempts is None:
            return said
        if self.attempts <= 1:
            return f"{said} (not retried: retries are off)"
        retries = f"{self.attempts - 1} {'retry' if self.attempts == 2 else 'retries'}"
        return f"{said} (sent {self.attempts} times: {retries})"

    def _what_failed(self) -> str:
        return super().__str__()


class ApiConnectionError(ApiError):
    """The server could not be reached, or the connection broke mid-request."""


class ApiTimeoutError(ApiConnectionError):
    """The server did not answer within the timeout."""


class ResponseStalledError(ApiTimeoutError):
    """No byte of the answer's body arrived for ``idle_timeout`` seconds; retried like a cut.

    Attributes:
        seconds: The idle timeout that passed.
    """

    def __init__(self, message: str, *, seconds: float = 0.0) -> None:
        super().__init__(message)
        self.seconds = seconds


class ResponseDeadlineError(ApiTimeoutError):
    """The request (its stream included) ran past the client's total ``timeout``; retried.

    Attributes:
        seconds: The total timeout that passed.
    """

    def __init__(self, message: str, *, seconds: float = 0.0) -> None:
        super().__init__(message)
        self.seconds = seconds


class ApiStatusError(ApiError):
    """The server answered with an HTTP error status.

    Attributes:
        status_code: The HTTP status.
        request_id: The ``x-request-id`` header, when the server sent one.
        code: The API's error code (``error.code`` in the body), when present.
        body: The decoded error body (a dict when it was JSON, else the text).
        request: The request that got this answer (``POST http://host/v1/responses``), when
            the client knows it.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        code: str | None = None,
        body: Any = None,
        request: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.code = code
        self.body = body
        self.request = request

    def _what_failed(self) -> str:
        rid = f", request id {self.request_id}" if self.request_id else ""
        where = f"{self.request}: " if self.request else ""
        return f"{where}HTTP {self.status_code}{rid}: {self.message}"


class BadRequestError(ApiStatusError):
    """400 or 422: the request was malformed; retrying will not help."""


class AuthenticationError(ApiStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(ApiStatusError):
    """403: the key may not use this model or endpoint."""


class NotFoundError(ApiStatusError):
    """404: unknown model, response id or endpoint."""


class ConflictError(ApiStatusError):
    """409: the request conflicts with the resource's state (retried by default)."""


class RateLimitError(ApiStatusError):
    """429: too many requests or tokens; retried after the server's Retry-After."""


class ServerError(ApiStatusError):
    """5xx: the server failed; retried by default."""


class InvalidResponseError(ApiError):
    """The server's body or event stream could not be understood, or the stream was cut."""


class ResponseTooLargeError(InvalidResponseError):
    """The answer passed one of the client's size caps (``ClientLimits``); not retried.

    Attributes:
        what: The cap: ``"body"``, ``"stream"``, ``"line"`` (one SSE line) or ``"event"``.
        limit: The cap, in bytes (after decompression).
    """

    def __init__(self, message: str, *, what: str = "body", limit: int = 0) -> None:
        super().__init__(message)
        self.what = what
        self.limit = limit


class ResponseTooDeepError(InvalidResponseError):
    """The answer's JSON nests deeper than ``ClientLimits.max_json_depth``; not retried.

    Attributes:
        limit: The depth limit.
    """

    def __init__(self, message: str, *, limit: int = 0) -> None:
        super().__init__(message)
        self.limit = limit


class ResponseFailedError(ApiError):
    """The model call finished with status ``failed`` (or ``cancelled``).

    Attributes:
        response: The final Response object (``sandloop.items.Response``).
        code: ``response.error.code`` when present.
        result: The partial ``RunResult`` when the failure ended an agent run, else ``None``.
    """

    def __init__(
        self, message: str, *, response: Any = None, code: str | None = None, result: Any = None
    ) -> None:
        super().__init__(message)
        self.response = response
        self.code = code
        self.result = result


# --- the agent loop ----------------------------------------------------------------------


class RunError(SandloopError):
    """The agent loop could not finish the run.

    Attributes:
        result: The partial ``RunResult`` up to the point of failure, when there is one.
    """

    def __init__(self, message: str, *, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class MaxTurnsExceeded(RunError):
    """The run used ``max_turns`` model calls without reaching a final answer."""


class TokenBudgetExceeded(RunError):
    """The run's summed token usage passed the agent's ``token_budget``."""


class CostBudgetExceeded(RunError):
    """The run's cost passed the agent's ``cost_budget`` (dollars), or a model call's model
    has no price, so the budget could not be kept."""


class RunTimeoutError(RunError):
    """The run's wall-clock limit passed."""


class ResponseIncompleteError(RunError):
    """The model stopped early; ``reason`` is ``max_output_tokens`` or ``content_filter``."""

    def __init__(self, message: str, *, result: Any = None, reason: str | None = None) -> None:
        super().__init__(message, result=result)
        self.reason = reason


class ModelBehaviorError(RunError):
    """The model produced something the loop cannot act on."""


class OutputValidationError(ModelBehaviorError):
    """The final answer does not validate against the agent's ``output_type`` (and the
    ``output_retries`` are used up).

    Attributes:
        text: The answer's raw text.
        errors: What was wrong: ``{"loc": [...], "msg": ..., "type": ...}`` per problem
            (``type`` is pydantic's error type, or ``json_invalid`` for text that is not JSON).
        result: The partial ``RunResult`` (``status == "invalid_output"``).
    """

    def __init__(
        self,
        message: str,
        *,
        text: str = "",
        errors: list[dict[str, Any]] | None = None,
        result: Any = None,
    ) -> None:
        super().__init__(message, result=result)
        self.text = text
        self.errors = list(errors or [])


class ReplayDivergenceError(RunError):
    """A run replayed from a cassette sent a request the cassette does not match.

    Attributes:
        turn: The 1-based model call where the run diverged.
        detail: What differed, in words.
    """

    def __init__(self, message: str, *, turn: int, detail: str, result: Any = None) -> None:
        super().__init__(message, result=result)
        self.turn = turn
        self.detail = detail


# --- tools -------------------------------------------------------------------------------


class ToolError(SandloopError):
    """A tool call failed. By default the dispatcher turns it into the call's output item."""


class ToolArgumentsError(ToolError):
    """The call's arguments are not valid JSON or do not match the tool's schema."""


class ToolTimeoutError(ToolError):
    """The tool ran longer than its timeout and was stopped."""


class ApprovalDeniedError(ToolError):
    """The approval callback refused the call."""


class MCPServerError(ToolError):
    """An MCP server failed a call: it exited, stopped answering, sent a message that is not
    JSON-RPC or a result that is not valid, or answered with a protocol error. The call gets a
    failed output; the run goes on.

    Attributes:
        server: The server's name (``MCPServer.name``).
    """

    def __init__(self, message: str, *, server: str) -> None:
        super().__init__(message)
        self.server = server


class MCPStartError(MCPServerError):
    """An MCP server would not start, or did not complete the handshake and list its tools in
    time. Raised by the run before its first model request: the run cannot offer those tools."""


class SandboxFileError(ToolError):
    """A file operation inside the sandbox failed.

    Attributes:
        path: The path as the caller gave it.
        reason: A short machine-readable reason: ``not_found``, ``is_directory``,
            ``not_a_directory``, ``exists``, ``escape``, ``permission``, ``too_large``, ``io``.
    """

    def __init__(self, message: str, *, path: str, reason: str) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


class WorkspacePathError(SandboxFileError):
    """The path leaves the workspace: absolute outside it, ``..``, or through a symlink."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message, path=path, reason="escape")


class WorkspaceTooLargeError(SandboxFileError):
    """A copy-mode transfer met a file, or a whole tree, over its size cap (sparse files count
    by their apparent size). Nothing was written; raise the cap or remove the file.

    Attributes:
        size: The size that was over (bytes): the file's, or the tree's total so far.
        limit: The cap it passed (bytes).
    """

    def __init__(self, message: str, *, path: str, size: int, limit: int) -> None:
        super().__init__(message, path=path, reason="too large")
        self.size = size
        self.limit = limit


# --- patches -----------------------------------------------------------------------------


class PatchError(SandloopError):
    """An apply_patch operation could not be applied.

    The message says what went wrong, then whether the files are as they were: that sentence
    is built here, from ``nothing_changed``, so every patch failure ends the same way (callers
    pass only what went wrong, and ``next_step`` for what the model should do about it).

    Attributes:
        path: The file the failing part of the patch is about, when known.
        nothing_changed: Every file is as it was before the patch (the usual case: a patch is
            checked before anything is written, and a failed write is undone). ``False`` when
            undoing a failed write did not put every file back.
    """

    NOTHING_CHANGED: ClassVar[str] = "Nothing was changed."
    SOMETHING_CHANGED: ClassVar[str] = (
        "Some files may be left changed: re-read them before patching again."
    )

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        nothing_changed: bool = True,
        next_step: str = "",
    ) -> None:
        outcome = self.NOTHING_CHANGED if nothing_changed else self.SOMETHING_CHANGED
        tail = f"{outcome} {next_step}".rstrip()
        # A message that ends with quoted lines ends with a newline: the sentence starts a line.
        sep = "" if message.endswith("\n") else " "
        super().__init__(f"{message}{sep}{tail}" if message else tail)
        self.path = path
        self.nothing_changed = nothing_changed


class PatchParseError(PatchError):
    """The diff is not valid V4A, unified diff or envelope syntax.

    Attributes:
        line_number: 1-based line of the diff where parsing failed, when known.
    """

    def __init__(
        self, message: str, *, path: str | None = None, line_number: int | None = None
    ) -> None:
        super().__init__(message, path=path)  # nothing is written before the diff parses
        self.line_number = line_number


class PatchConflictError(PatchError):
    """A hunk's context or removed lines were not found in the file.

    Attributes:
        hunk: 1-based number of the failing hunk.
        line: The first line of the hunk that did not match.
        closest: The lines of the file that came closest, for the model to compare.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        hunk: int | None = None,
        line: str | None = None,
        closest: tuple[str, ...] = (),
        next_step: str = "",
    ) -> None:
        super().__init__(message, path=path, next_step=next_step)
        self.hunk = hunk
        self.line = line
        self.closest = closest


class PatchTimeoutError(PatchError):
    """Matching the patch against the files took longer than its budget; nothing was written.

    Attributes:
        seconds: The budget that was exceeded.
    """

    def __init__(self, message: str, *, seconds: float, path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.seconds = seconds


# --- sandboxes ---------------------------------------------------------------------------


class SandboxError(SandloopError):
    """The sandbox itself cannot be used. The loop stops the run instead of feeding it back."""


class SandboxUnavailableError(SandboxError):
    """No Docker engine answers, or the image does not exist (the message says what to do)."""


class SandboxStartError(SandboxError):
    """The container or its runner would not start."""


class SandboxEngineError(SandboxError):
    """The Docker engine answered a request with an error, or the SDK failed on it.

    Attributes:
        status: The engine's HTTP status (404: no such container or image, 409: a conflict such
            as a removal already in progress), or ``None`` when there was no HTTP answer.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SandboxDiedError(SandboxError):
    """The container or the runner inside it died, or its channel sent a frame that is not a
    valid reply; pending and later calls fail at once."""


class SandboxTimeoutError(SandboxDiedError):
    """The runner did not answer by a call's deadline (stopped or hung): it counts as dead."""


class WorkspaceCleanupError(SandboxError):
    """A host-side walk of a bind-mounted workspace (clearing setuid/setgid bits at close)
    could not reach or fix everything; what it could reach was done.

    Attributes:
        path: The first path that failed (relative to the workspace).
        failures: Every ``(path, reason)`` that failed, the first few hundred at most.
    """

    def __init__(self, message: str, *, path: str, failures: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.path = path
        self.failures = failures

"""Turn an HTTP error answer into the matching ``ApiStatusError`` subclass."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sandloop.client._body import loads_bounded
from sandloop.errors import (
    ApiStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooDeepError,
    ServerError,
)

__all__ = ("status_error",)

#: Deeper error bodies are kept as text (an error body only carries a message and a code).
_ERROR_DEPTH = 32

_BY_STATUS: Mapping[int, type[ApiStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
    429: RateLimitError,
}


def status_error(
    status: int, headers: Mapping[str, str], content: bytes, *, request: str | None = None
) -> ApiStatusError:
    """The error for an answer with HTTP ``status``, carrying the API's message and code.

    Args:
        request: The request answered (``POST http://host/v1/responses``), for the message.
    """
    body = _decode(content)
    message, code = _message_and_code(body, status)
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ApiStatusError)
    return kind(
        message,
        status_code=status,
        request_id=headers.get("x-request-id"),
        code=code,
        body=body,
        request=request,
    )


def _decode(content: bytes) -> Any:
    text = content.decode("utf-8", errors="replace")
    try:
        return loads_bounded(text, _ERROR_DEPTH, "error body")
    except (ValueError, ResponseTooDeepError):
        return text


def _message_and_code(body: Any, status: int) -> tuple[str, str | None]:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message") or f"HTTP {status} without a message"
        code = error.get("code")
        return str(message), str(code) if code is not None else None
    if isinstance(error, str):
        return error, None
    text = body if isinstance(body, str) else json.dumps(body)
    return (text.strip()[:500] or f"HTTP {status} with an empty body"), None

"""Where the client's API key and base URL come from: arguments, then the environment."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from sandloop.errors import ConfigError

__all__ = (
    "DEFAULT_BASE_URL",
    "NO_KEY",
    "ClientConfig",
    "ClientLimits",
    "is_loopback_url",
    "resolve_config",
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: The bearer token sent to a server on this machine when there is no API key: a placeholder
#: that names itself, for local proxies that refuse a request without an Authorization header.
NO_KEY = "sandloop-no-key"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The resolved connection settings of a ResponsesClient."""

    api_key: str | None
    base_url: str


_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """Caps on what one answer of the server may make the client hold (bytes after decompression).

    Each cap ends the request with ``ResponseTooLargeError`` (``what`` names the cap) or
    ``ResponseTooDeepError``; neither is retried: the same answer would fail the same way.

    Attributes:
        max_body_bytes: A whole JSON body (``create``, ``retrieve``, ``cancel``, ``compact``).
        max_stream_bytes: A whole event stream, so also the text its deltas accumulate.
        max_line_bytes: One line of an event stream.
        max_event_bytes: One event of an event stream (its ``data:`` lines together).
        max_json_depth: Nesting of ``[`` / ``{`` in a body or an event.
    """

    max_body_bytes: int = 16 * _MIB
    max_stream_bytes: int = 64 * _MIB
    max_line_bytes: int = 16 * _MIB
    max_event_bytes: int = 16 * _MIB
    max_json_depth: int = 128

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if getattr(self, name) < 1:
                raise ValueError(f"ClientLimits.{name} must be >= 1, got {getattr(self, name)}")


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_config(*, api_key: str | None, base_url: str | None) -> ClientConfig:
    """Take each setting from its argument, else ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``.

    Raises:
        ConfigError: the base URL is not an http(s) URL, or no API key was found for a server
            that is not on this machine (loopback servers, like the scripted test server, work
            without one).
    """
    url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base_url must be an http(s) URL like {DEFAULT_BASE_URL!r}, got {url!r}")
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
    key = key.strip() if key else None
    if not key and not is_loopback_url(url):
        raise ConfigError(
            f"no API key for {url}: pass api_key=... or set the OPENAI_API_KEY environment "
            "variable (only servers on this machine, like 127.0.0.1, work without a key)"
        )
    return ClientConfig(api_key=key or None, base_url=url)

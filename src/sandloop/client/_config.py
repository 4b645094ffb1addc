"""Where the client's API key and base URL come from: arguments, then the environment."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from sandloop.errors import ConfigError

__all__ = ("DEFAULT_BASE_URL", "ClientConfig", "is_loopback_url", "resolve_config")

DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The resolved connection settings of a ResponsesClient."""

    api_key: str | None
    base_url: str


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

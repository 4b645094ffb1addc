"""ClientSettings: how to make a ResponsesClient, as data — never with the API key.

Part of ``client``. A :class:`~sandloop.RunSpec` carries these instead of a client, so a run can
be described in one process and made in another: the endpoint, retries, timeouts, organization
and project travel; the API key is read where the client is made (``OPENAI_API_KEY``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from sandloop.client._retry import RetryPolicy
from sandloop.errors import ConfigError

if TYPE_CHECKING:
    from sandloop.client.responses import ResponsesClient

__all__ = ("ClientSettings",)

#: Headers that carry credentials: refused, so no secret is ever part of a description.
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "openai-api-key", "cookie"}
)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """The settings of a :class:`ResponsesClient` except its API key (see its arguments).

    Attributes:
        base_url: The endpoint; ``None`` reads ``OPENAI_BASE_URL`` where the client is made.
        timeout: Seconds allowed for each read.
        connect_timeout: Seconds allowed to connect.
        retry: The retry policy.
        poll_interval: First wait between retrieves of a background response.
        max_poll_interval: Longest wait between two retrieves.
        headers: Extra headers; credential headers (``Authorization``, ``api-key``...) are
            refused.
        organization: Sent as ``OpenAI-Organization``.
        project: Sent as ``OpenAI-Project``.
        max_connections: Size of the connection pool.
    """

    base_url: str | None = None
    timeout: float = 600.0
    connect_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    poll_interval: float = 0.25
    max_poll_interval: float = 5.0
    headers: Mapping[str, str] = field(default_factory=dict)
    organization: str | None = None
    project: str | None = None
    max_connections: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()
        ):
            raise ConfigError(f"client headers map strings to strings, not {self.headers!r}")
        secret = sorted(k for k in self.headers if k.lower() in _SECRET_HEADERS)
        if secret:
            raise ConfigError(
                f"client settings must not carry credentials (header {', '.join(secret)}): the "
                "API key is read from OPENAI_API_KEY where the client is made"
            )
        object.__setattr__(self, "headers", dict(self.headers))

    @classmethod
    def of(cls, client: ResponsesClient) -> ClientSettings:
        """The settings ``client`` was made with (not its API key).

        Raises:
            ConfigError: ``client`` is a subclass (a ``RecordingClient``'s listener is code),
                was given a ``transport``, or sends a credential header.
        """
        from sandloop.client.responses import ResponsesClient

        if type(client) is not ResponsesClient:
            raise ConfigError(
                f"only a plain ResponsesClient can be described, not a {type(client).__name__}"
            )
        if client._custom_transport:
            raise ConfigError("a ResponsesClient given a transport= cannot be described")
        return cls(**client._settings)

    def make_client(self) -> ResponsesClient:
        """A new :class:`ResponsesClient` with these settings (its key from the environment)."""
        from sandloop.client.responses import ResponsesClient

        return ResponsesClient(**{f.name: getattr(self, f.name) for f in fields(self)})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["retry"] = asdict(self.retry)
        out["headers"] = dict(self.headers)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClientSettings:
        """Rebuild from :meth:`to_dict` output.

        Raises:
            ConfigError: a field is unknown or malformed.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"client settings are a dict, not {data!r}")
        values = dict(data)
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown client setting(s): {', '.join(unknown)}")
        try:
            if "retry" in values:
                values["retry"] = RetryPolicy(**values["retry"])
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"malformed client settings: {exc}") from exc

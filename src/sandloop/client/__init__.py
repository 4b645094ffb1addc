"""sandloop.client: the async Responses API client (the only place that speaks HTTP)."""

from sandloop.client._config import DEFAULT_BASE_URL, NO_KEY, ClientLimits, is_loopback_url
from sandloop.client._probe import PROBE_ID, Probe, probe_endpoint
from sandloop.client._retry import RetryNotice, RetryObserver, RetryPolicy, observing_retries
from sandloop.client._stream import ResponseStream
from sandloop.client.recording import RecordingClient
from sandloop.client.responses import ResponsesClient
from sandloop.client.settings import ClientSettings

__all__ = (
    "DEFAULT_BASE_URL",
    "NO_KEY",
    "PROBE_ID",
    "ClientLimits",
    "ClientSettings",
    "Probe",
    "RecordingClient",
    "ResponseStream",
    "ResponsesClient",
    "RetryNotice",
    "RetryObserver",
    "RetryPolicy",
    "is_loopback_url",
    "observing_retries",
    "probe_endpoint",
)

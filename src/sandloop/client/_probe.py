"""Ask an endpoint whether it speaks the Responses API, without spending a token.

Part of ``client``. ``sandloop doctor`` uses it: ``GET /responses/<an id that cannot exist>``
costs nothing, and the answer tells the cases apart. The Responses API answers 404 with an
``{"error": ...}`` body (it works, and took the key), 401/403 (the key was refused), and anything
else is not the Responses API (a wrong path, another server); no answer at all means nothing
listens there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import httpx

__all__ = ("PROBE_ID", "Probe", "probe_endpoint")

PROBE_ID = "resp_sandloop_doctor_probe"

Verdict = Literal["ok", "refused", "unexpected", "unreachable"]


@dataclass(frozen=True, slots=True)
class Probe:
    """What the endpoint answered: a verdict, the HTTP status (``None`` when nothing answered)
    and a sentence saying what was seen."""

    verdict: Verdict
    status: int | None
    detail: str


def probe_endpoint(base_url: str, api_key: str | None, *, timeout: float = 5.0) -> Probe:
    """Send one ``GET /responses/{PROBE_ID}`` to ``base_url`` and judge the answer."""
    url = f"{base_url.rstrip('/')}/responses/{PROBE_ID}"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as http:
            reply = http.get(url, headers=headers)
            body = reply.read()[:4096]
    except httpx.TimeoutException:
        return Probe("unreachable", None, f"no answer from {url} within {timeout:g} s")
    except httpx.HTTPError as exc:
        reason = str(exc) or exc.__class__.__name__
        return Probe("unreachable", None, f"nothing answers at {url} ({reason})")
    status = reply.status_code
    if status in (401, 403):
        return Probe("refused", status, f"HTTP {status}: the server refused the API key")
    if status == 404 and _is_api_error(reply.headers.get("content-type", ""), body):
        return Probe("ok", status, "the Responses API answers (a probe for a missing response)")
    if status == 200:
        return Probe("ok", status, "the server answers GET /responses/{id}")
    kind = reply.headers.get("content-type", "no content type")
    return Probe("unexpected", status, f"HTTP {status} ({kind}): not the Responses API's answer")


def _is_api_error(content_type: str, body: bytes) -> bool:
    if "json" not in content_type:
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("error"), dict)

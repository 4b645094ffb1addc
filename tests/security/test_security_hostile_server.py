"""A hostile Responses server cannot hang the client or exhaust the host's memory.

Each test points a real ``ResponsesClient`` (in a subprocess, so its peak RSS is its own) at a
raw-socket server on 127.0.0.1 that answers with one attack, and checks the typed error that
ends the request, how many requests were made (retried or not) and the client's peak RSS.
Size caps are the documented defaults; only the timeouts are made small.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import hostile_server as hs
import pytest

#: The client's peak RSS must stay below this (a flood of 600 MB or a 4 GiB bomb would not).
RSS_BOUND_MB = 200

_CLIENT = textwrap.dedent(
    """
    import json, sys
    import anyio
    from sandloop import ClientLimits, ResponsesClient, RetryPolicy

    spec = json.loads(sys.argv[1])

    async def main():
        client = ResponsesClient(
            base_url=spec["url"],
            retry=RetryPolicy(max_retries=spec["retries"], initial_delay=0.01, max_delay=0.02),
            limits=ClientLimits(**spec["limits"]),
            **spec["timeouts"],
        )
        async with client:
            if spec["op"] == "create":
                await client.create({"model": "m", "input": "hi"})
            else:
                async with client.stream({"model": "m", "input": "hi"}) as stream:
                    await stream.get_final_response()

    try:
        anyio.run(main)
        out = {"error": None}
    except Exception as exc:
        attrs = {k: v for k, v in vars(exc).items() if isinstance(v, (int, float, str))}
        out = {"error": type(exc).__name__, "attrs": attrs, "message": str(exc)[:300]}
    # VmHWM: this process's own peak (ru_maxrss would carry the test process's across exec).
    with open("/proc/self/status") as status:
        hwm = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    out["maxrss_mb"] = int(hwm) / 1024
    print(json.dumps(out))
    """
)


def _attack(
    behaviour: hs.Behaviour,
    op: str,
    *,
    retries: int = 0,
    limits: dict[str, int] | None = None,
    **timeouts: float,
) -> tuple[dict[str, Any], hs.HostileServer]:
    with hs.HostileServer(behaviour) as server:
        spec = {
            "url": server.url,
            "op": op,
            "retries": retries,
            "limits": limits or {},
            "timeouts": timeouts,
        }
        done = subprocess.run(
            [sys.executable, "-c", _CLIENT, json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "OPENAI_API_KEY": ""},
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{behaviour.__name__}: {out}, server sent {server.bytes_sent} bytes")
    assert out["maxrss_mb"] < RSS_BOUND_MB, out
    return out, server


pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def no_container_left() -> None:
    """Overrides the security suite's container check: these tests start no container."""


def test_keepalive_comments_forever_end_at_the_total_deadline() -> None:
    out, server = _attack(hs.keepalive_forever, "stream", timeout=1.5, idle_timeout=1.0)
    assert out["error"] == "ResponseDeadlineError"
    assert out["attrs"]["seconds"] == 1.5
    assert server.requests == 1


def test_one_byte_per_tick_ends_at_the_total_deadline_and_is_retried() -> None:
    out, server = _attack(hs.one_byte_per_tick, "create", retries=1, timeout=1.0, idle_timeout=0.5)
    assert out["error"] == "ResponseDeadlineError"
    assert server.requests == 2  # a deadline is retried, like a cut connection


def test_a_silent_stream_stalls_at_the_idle_timeout() -> None:
    # Once a stream has delivered events, the agent loop (not the client) retries it.
    out, server = _attack(
        hs.silent_after_headers, "stream", retries=1, timeout=60.0, idle_timeout=0.5
    )
    assert out["error"] == "ResponseStalledError"
    assert out["attrs"]["seconds"] == 0.5
    assert server.requests == 1


def test_a_silent_json_body_stalls_and_is_retried() -> None:
    out, server = _attack(hs.silent_json_body, "create", retries=1, timeout=60.0, idle_timeout=0.5)
    assert out["error"] == "ResponseStalledError"
    assert server.requests == 2


def test_a_600_mb_delta_flood_is_refused_at_the_stream_cap() -> None:
    out, server = _attack(hs.delta_flood, "stream", retries=2)
    assert out["error"] == "ResponseTooLargeError"
    assert out["attrs"] == {"what": "stream", "limit": 64 * hs.MIB}
    assert server.requests == 1  # not retried: the same answer would fail the same way


def test_a_100_mb_line_is_refused_at_the_line_cap() -> None:
    out, server = _attack(hs.long_line, "stream")
    assert out["error"] == "ResponseTooLargeError"
    assert out["attrs"] == {"what": "line", "limit": 16 * hs.MIB}
    assert server.requests == 1


def test_a_gzip_bomb_json_body_is_refused_early() -> None:
    out, server = _attack(hs.gzip_bomb("json"), "create", retries=2)
    assert out["error"] == "ResponseTooLargeError"
    assert out["attrs"] == {"what": "body", "limit": 16 * hs.MIB}
    assert server.requests == 1


def test_a_gzip_bomb_event_stream_is_refused_early() -> None:
    out, server = _attack(hs.gzip_bomb("sse"), "stream")
    assert server.requests == 1
    assert out["error"] == "ResponseTooLargeError"
    assert out["attrs"] == {"what": "stream", "limit": 64 * hs.MIB}


def test_100k_deep_json_body_is_too_deep_not_a_recursion_error() -> None:
    out, server = _attack(hs.deep_json, "create", retries=2)
    assert out["error"] == "ResponseTooDeepError"
    assert out["attrs"] == {"limit": 128}
    assert server.requests == 1


def test_100k_deep_json_event_is_too_deep() -> None:
    out, _ = _attack(hs.deep_event, "stream")
    assert out["error"] == "ResponseTooDeepError"

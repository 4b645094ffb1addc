"""Retry policy: which statuses are retried, and how long to wait."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from sandloop.client import RetryPolicy
from sandloop.client._retry import parse_retry_after


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses(status: int) -> None:
    assert RetryPolicy.retryable_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_other_client_errors_are_not_retried(status: int) -> None:
    assert not RetryPolicy.retryable_status(status)


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    in_ten = formatdate(time.time() + 10, usegmt=True)
    assert 8.0 < (parse_retry_after({"retry-after": in_ten}) or 0) <= 10.0


@pytest.mark.parametrize(
    "headers", [{}, {"retry-after": "soon"}, {"retry-after": "-3"}, {"retry-after-ms": "x"}]
)
def test_unusable_retry_after_is_ignored(headers: dict[str, str]) -> None:
    assert parse_retry_after(headers) is None


def test_server_wait_is_honoured_and_capped() -> None:
    policy = RetryPolicy(max_retry_after=5.0)
    assert policy.delay(0, {"retry-after": "2"}) == 2.0
    assert policy.delay(0, {"retry-after": "600"}) == 5.0


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=4.0, jitter=0.25)
    for retry, base in [(0, 1.0), (1, 2.0), (2, 4.0), (5, 4.0)]:
        for _ in range(50):
            assert 0.75 * base <= policy.delay(retry) <= base


def test_invalid_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=2.0)

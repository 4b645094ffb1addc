"""Container starts under load: capped across the batch, each with its own deadline, retried once.

The sandbox class is replaced by a stand-in whose ``start()`` only waits, so the cap and the
deadline are observed exactly; real starts (and a real failing start) are in tests/e2e.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from sandloop.batch import parse_task, starts
from sandloop.batch.starts import StartError, StartLimits, start_sandbox

TASK = parse_task({"id": "t", "repo": "/tmp", "prompt": "p"})


class _Gauge:
    def __init__(self) -> None:
        self.now = self.peak = self.started = self.closed = 0


def _fake(gauge: _Gauge, hang: bool = False) -> type:
    class FakeSandbox:
        def __init__(self, **options: Any) -> None:
            self.options = options

        async def start(self) -> None:
            gauge.started += 1
            gauge.now += 1
            gauge.peak = max(gauge.peak, gauge.now)
            try:
                await anyio.sleep(3600 if hang else 0.05)
            finally:
                gauge.now -= 1

        async def aclose(self) -> None:
            gauge.closed += 1

    return FakeSandbox


async def test_starts_are_capped_across_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    gauge = _Gauge()
    monkeypatch.setattr(starts, "DockerSandbox", _fake(gauge))
    limits = StartLimits(concurrent=2)
    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(start_sandbox, TASK, {}, limits)
    assert gauge.started == 6
    assert gauge.peak == 2


async def test_a_start_past_its_deadline_is_retried_once_then_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gauge = _Gauge()
    monkeypatch.setattr(starts, "DockerSandbox", _fake(gauge, hang=True))
    with pytest.raises(StartError, match=r"after 2 attempt\(s\): start passed its 0.2s deadline"):
        await start_sandbox(TASK, {}, StartLimits(deadline=0.2))
    assert gauge.started == 2
    assert gauge.closed == 2  # each abandoned start's container is removed

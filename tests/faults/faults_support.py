"""Shared pieces of the fault tests (uniquely named: test dirs are not packages).

A fault test runs a real agent (scripted server over a socket, real sandbox), injects one fault,
and checks the four things every fault must leave: a clear outcome (a result or a typed error),
a transcript that is complete up to the fault (every call answered exactly once), no partial
patch on disk, and no container left.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from sandloop.dispatch.outputs import call_id_of, output_key
from sandloop.loop import RunEnded, RunEvent, RunResult
from sandloop.loop.transcript import client_calls
from sandloop.sandboxes.docker import DEFAULT_IMAGE

#: The image under test.
IMAGE = os.environ.get("SANDLOOP_TEST_IMAGE", DEFAULT_IMAGE)
#: Extra label on every container the fault tests create, so they find (only) their own.
TEST_LABEL = {"org.sandloop.test": "faults"}
LABEL_FILTER = {"label": "org.sandloop.test=faults"}

#: A file the first turn creates with a multi-line patch, to check nothing is half-applied.
PATCHED = "patched.txt"
PATCH_LINES = [f"line {n}" for n in range(50)]
PATCH_DIFF = "".join(f"+{line}\n" for line in PATCH_LINES)


def require_image(docker_client: Any) -> str:
    """The coding image, or an honest skip (a failure under SANDLOOP_REQUIRE_DOCKER=1)."""
    try:
        docker_client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        reason = f"image {IMAGE} is missing: build it with `sandloop images build`"
        if os.environ.get("SANDLOOP_REQUIRE_DOCKER") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return IMAGE


@dataclass
class Events:
    """Collects a run's events; ``ended`` is the final ``RunEnded``."""

    seen: list[RunEvent] = field(default_factory=list)

    async def __call__(self, event: RunEvent) -> None:
        self.seen.append(event)

    @property
    def ended(self) -> RunEnded:
        last = self.seen[-1]
        assert isinstance(last, RunEnded), f"the run did not end cleanly: {last!r}"
        return last


def assert_complete_transcript(result: RunResult) -> None:
    """Every call in the history has exactly one output after it, and nothing is answered
    that was not called."""
    items = result.history
    calls: list[str] = []
    for item in items:
        if getattr(item, "type", None) in _CALL_TYPES:
            calls.extend(call_id_of(c) for c in client_calls([item])[0])
    answers = [key for item in items if (key := output_key(item)) is not None]
    assert sorted(answers) == sorted(calls), (calls, answers)
    for call_id in calls:
        call_at = next(i for i, item in enumerate(items) if _is_call(item, call_id))
        answer_at = next(i for i, item in enumerate(items) if output_key(item) == call_id)
        assert call_at < answer_at, call_id


_CALL_TYPES = frozenset(
    {"function_call", "custom_tool_call", "shell_call", "apply_patch_call", "local_shell_call",
     "computer_call", "mcp_approval_request"}
)  # fmt: skip


def _is_call(item: Any, call_id: str) -> bool:
    return getattr(item, "type", None) in _CALL_TYPES and call_id_of(item) == call_id


def assert_patch_whole_or_absent(workspace: Path, name: str = PATCHED) -> None:
    """The patched file is either all there or not there: never half a patch."""
    path = workspace / name
    if path.exists():
        assert path.read_text().splitlines() == PATCH_LINES
    leftovers = [p.name for p in workspace.iterdir() if p.name.endswith(".sandloop-tmp")]
    assert leftovers == []


def containers_left(docker_client: Any) -> Sequence[Any]:
    """Containers made by the fault tests that still exist (listed without inspecting each: one
    may be auto-removed between the list and its inspection)."""
    return list(docker_client.containers.list(all=True, filters=LABEL_FILTER, sparse=True))

"""A LocalSandbox over a fresh workspace for each test: the runner without Docker."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandloop.sandboxes import LocalSandbox
from sandloop.sandboxes._runner_program import RUNNER_DIR

# The runner's modules are a program the host runs, not a package it imports; the tests of its
# parts import them from its directory (`import sandloop_runner.capture`).
if str(RUNNER_DIR) not in sys.path:
    sys.path.insert(0, str(RUNNER_DIR))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
async def sandbox(workspace: Path) -> AsyncIterator[LocalSandbox]:
    async with LocalSandbox(workspace) as sb:
        yield sb

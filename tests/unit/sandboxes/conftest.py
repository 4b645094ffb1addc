"""A LocalSandbox over a fresh workspace for each test: the runner without Docker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandloop.sandboxes import LocalSandbox


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
async def sandbox(workspace: Path) -> AsyncIterator[LocalSandbox]:
    async with LocalSandbox(workspace) as sb:
        yield sb

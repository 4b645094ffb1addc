"""examples/computer_use.py runs: the scripted agent fills in the form in the real browser."""

from __future__ import annotations

import importlib.util
import os
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import docker.errors
import pytest

from sandloop.sandboxes.images import image_tag

pytestmark = pytest.mark.docker

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "computer_use.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("computer_use_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pixel(png: bytes, x: int, y: int) -> tuple[int, int, int]:
    """A pixel of the desktop's PNGs (8-bit RGB, filter "none" on every row)."""
    width = int.from_bytes(png[16:20], "big")
    pos, idat = 8, b""
    while pos < len(png):
        size = int.from_bytes(png[pos : pos + 4], "big")
        if png[pos + 4 : pos + 8] == b"IDAT":
            idat += png[pos + 8 : pos + 8 + size]
        pos += 12 + size
    raw = zlib.decompress(idat)
    row = raw[y * (width * 3 + 1) : (y + 1) * (width * 3 + 1)]
    assert row[0] == 0
    r, g, b = row[1 + x * 3 : 4 + x * 3]
    return r, g, b


async def test_the_computer_use_example_greets(docker_client: Any, tmp_path: Path) -> None:
    try:
        docker_client.images.get(image_tag("computer"))
    except docker.errors.ImageNotFound:
        reason = f"image {image_tag('computer')} is missing: run `sandloop images build computer`"
        if os.environ.get("SANDLOOP_REQUIRE_DOCKER") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    example = _load()
    answer = await example.main(tmp_path)
    assert answer == "The page now greets Ada Lovelace ✓."
    last = (tmp_path / "computer_use_last.png").read_bytes()
    assert _pixel(last, 700, 600) == (0, 192, 0)  # the page turned green: the form was sent

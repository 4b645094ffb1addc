"""The desktop module the computer image ships: PNG encoding, pixel layouts, requests.

It runs inside the sandbox with the image's python3; its pure parts are tested here on the
host. Grabbing the screen and xdotool are covered by tests/integration/test_computer_desktop.py.
"""

from __future__ import annotations

import importlib.util
import struct
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

MODULE = Path(__file__).resolve().parents[3] / "sandboxes" / "computer" / "sandloop_desktop.py"


@pytest.fixture(scope="module")
def desktop() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sandloop_desktop_under_test", MODULE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, found = 8, []
    while pos < len(png):
        (size,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + size]
        (crc,) = struct.unpack(">I", png[pos + 8 + size : pos + 12 + size])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        found.append((kind, body))
        pos += 12 + size
    return found


@pytest.mark.parametrize("level", [0, 1, 9])
def test_png_encoder_round_trips_pixels(desktop: ModuleType, level: int) -> None:
    width, height = 7, 3
    rgb = bytes(
        (x * 31 + y * 7 + c) % 256 for y in range(height) for x in range(width) for c in range(3)
    )
    chunks = _chunks(desktop.encode_png(width, height, rgb, level=level))
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (width, height, 8, 2, 0, 0, 0)
    raw = zlib.decompress(chunks[1][1])
    rows = [raw[i * (width * 3 + 1) : (i + 1) * (width * 3 + 1)] for i in range(height)]
    assert all(row[0] == 0 for row in rows)  # filter "none" on every row
    assert b"".join(row[1:] for row in rows) == rgb


def test_png_encoder_refuses_a_wrong_buffer(desktop: ModuleType) -> None:
    with pytest.raises(ValueError, match="expected 12 bytes"):
        desktop.encode_png(2, 2, b"\x00" * 11)


def _image(desktop: ModuleType, *, byte_order: int, stride: int, width: int = 2) -> Any:
    img = desktop._XImage()
    img.width, img.height, img.bytes_per_line = width, 2, stride
    img.bits_per_pixel, img.byte_order = 32, byte_order
    img.red_mask, img.green_mask, img.blue_mask = 0xFF0000, 0xFF00, 0xFF
    return img


def test_x_pixels_become_packed_rgb_in_both_byte_orders(desktop: ModuleType) -> None:
    # Two rows of two pixels: red, green / blue, white; LSBFirst stores B, G, R, X.
    lsb = bytes([0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0])
    want = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])
    assert desktop._to_rgb(lsb, _image(desktop, byte_order=0, stride=8)) == want
    msb = bytes([0, 255, 0, 0, 0, 0, 255, 0, 0, 0, 0, 255, 0, 255, 255, 255])
    assert desktop._to_rgb(msb, _image(desktop, byte_order=1, stride=8)) == want
    # Rows padded past the pixels (bytes_per_line > width * 4) lose the padding.
    padded = lsb[:8] + b"PADDING!" + lsb[8:] + b"PADDING!"
    assert desktop._to_rgb(padded, _image(desktop, byte_order=0, stride=16)) == want


def test_other_pixel_layouts_are_refused(desktop: ModuleType) -> None:
    img = _image(desktop, byte_order=0, stride=4)
    img.bits_per_pixel = 16
    with pytest.raises(desktop.DesktopError, match="unsupported screen layout"):
        desktop._to_rgb(b"\x00" * 8, img)


@pytest.mark.parametrize(("text", "size"), [("1280x800", (1280, 800)), ("1024X768", (1024, 768))])
def test_display_sizes_parse(desktop: ModuleType, text: str, size: tuple[int, int]) -> None:
    assert desktop.parse_size(text) == size


@pytest.mark.parametrize("text", ["1280", "bigxsmall", "0x0", "99999x10", ""])
def test_bad_display_sizes_are_refused(desktop: ModuleType, text: str) -> None:
    with pytest.raises(desktop.DesktopError):
        desktop.parse_size(text)


def test_unknown_requests_are_refused(desktop: ModuleType) -> None:
    with pytest.raises(desktop.DesktopError, match="unknown desktop request 'fly'"):
        desktop.handle({"do": "fly"})
    with pytest.raises(desktop.DesktopError, match="launch needs a program"):
        desktop.handle({"do": "launch", "argv": []})

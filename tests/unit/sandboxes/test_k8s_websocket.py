"""The websocket codec of the Kubernetes attach channel, checked against an independent
implementation: websocket-client's ABNF (the library the official Kubernetes client uses)."""

from __future__ import annotations

import io
import os
import struct

import pytest
from websocket._abnf import ABNF, frame_buffer

from sandloop.sandboxes.kubernetes._websocket import (
    BINARY,
    CLOSE,
    PING,
    TEXT,
    FrameReader,
    Message,
    ProtocolError,
    accept_key,
    encode_frame,
)


def _their_frame(opcode: int, data: bytes, *, fin: bool = True, masked: bool = True) -> bytes:
    return ABNF(fin=int(fin), opcode=opcode, mask_value=int(masked), data=data).format()


def _their_reading(raw: bytes) -> ABNF:
    stream = io.BytesIO(raw)
    return frame_buffer(stream.read, skip_utf8_validation=True).recv_frame()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
def test_our_client_frames_are_what_websocket_client_reads(size: int) -> None:
    payload = os.urandom(size)
    frame = _their_reading(encode_frame(BINARY, b"\x00" + payload, masked=True))
    assert (frame.opcode, frame.fin, frame.mask_value) == (BINARY, 1, 1)
    assert frame.data == b"\x00" + payload


@pytest.mark.parametrize("size", [0, 125, 126, 70_000])
def test_we_read_what_websocket_client_writes_masked(size: int) -> None:
    payload = os.urandom(size)
    reader = FrameReader(expect_masked=True)
    raw = _their_frame(BINARY, payload)
    # Byte by byte: no frame is complete before its last byte.
    messages = [m for i in range(len(raw)) for m in reader.feed(raw[i : i + 1])]
    assert messages == [Message(BINARY, payload)]


def test_fragments_join_and_control_frames_pass_between_them() -> None:
    reader = FrameReader(expect_masked=True)
    raw = (
        _their_frame(TEXT, b"hel", fin=False)
        + _their_frame(PING, b"p")
        + _their_frame(0, b"lo", fin=True)
        + _their_frame(CLOSE, struct.pack(">H", 1000))
    )
    assert reader.feed(raw) == [
        Message(PING, b"p"),
        Message(TEXT, b"hello"),
        Message(CLOSE, struct.pack(">H", 1000)),
    ]


def test_server_frames_must_not_be_masked_and_client_frames_must() -> None:
    with pytest.raises(ProtocolError, match="masked"):
        FrameReader(expect_masked=False).feed(_their_frame(BINARY, b"x", masked=True))
    with pytest.raises(ProtocolError, match="masked"):
        FrameReader(expect_masked=True).feed(encode_frame(BINARY, b"x", masked=False))


def test_an_oversized_message_is_refused_before_it_arrives() -> None:
    reader = FrameReader(expect_masked=False, max_message=1000)
    header = bytes([0x80 | BINARY, 127]) + struct.pack(">Q", 1 << 40)
    with pytest.raises(ProtocolError, match="more than 1000"):
        reader.feed(header)


@pytest.mark.parametrize(
    "raw",
    [
        bytes([0x80 | 0x3, 0]),  # a reserved opcode
        bytes([0xC0 | BINARY, 0]),  # RSV1 without an extension
        bytes([0x00 | PING, 0]),  # a fragmented control frame
        bytes([0x80 | 0x0, 0]),  # a continuation with nothing to continue
    ],
)
def test_protocol_violations_are_errors(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        FrameReader(expect_masked=False).feed(raw)


def test_accept_key_is_the_rfc_example() -> None:
    # RFC 6455 section 1.3.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

"""The channel over plain descriptors (``FdStream``) and the requests written through it at once."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import anyio
import pytest

from sandloop.sandboxes import LocalSandbox
from sandloop.sandboxes._fd_stream import FdStream


async def test_frames_larger_than_the_pipe_stay_whole_when_sent_together(workspace: Path) -> None:
    # Each write begins without waiting (as much as the pipe takes) and its rest goes before
    # anyone else's frame.
    files = {f"f{i}.bin": bytes([i]) * (3 << 20) for i in range(3)}
    async with LocalSandbox(workspace) as sandbox:
        async with anyio.create_task_group() as tg:
            for name, data in files.items():
                tg.start_soon(sandbox.write_file, name, data)
        for name, data in files.items():
            assert (workspace / name).read_bytes() == data
        assert (await sandbox.exec(["true"])).ok


async def test_a_receive_waiting_on_a_closed_stream_ends() -> None:
    read_fd, write_fd = os.pipe()
    stream = FdStream(read_fd, write_fd)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def receive() -> None:
                with pytest.raises(anyio.ClosedResourceError):
                    await stream.receive()

            tg.start_soon(receive)
            await anyio.wait_all_tasks_blocked()
            await stream.aclose()
    with pytest.raises(anyio.ClosedResourceError):
        await stream.send(b"x")


async def test_a_socket_carries_both_ways_and_its_end_is_seen() -> None:
    ours, theirs = socket.socketpair()
    stream = FdStream.of_socket(ours)
    assert stream.send_nowait(b"ab") == 2
    await stream.send(b"cd")
    assert theirs.recv(16) == b"abcd"
    theirs.sendall(b"reply")
    assert await stream.receive() == b"reply"
    theirs.close()
    with pytest.raises(anyio.EndOfStream):
        await stream.receive()
    await stream.aclose()

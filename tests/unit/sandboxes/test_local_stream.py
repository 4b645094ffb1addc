"""A command's output while it runs (``exec(on_output=)``) through the real runner (LocalSandbox):
it arrives before the command ends, whole for small outputs, bounded for floods."""

from __future__ import annotations

from pathlib import Path

from sandloop.sandboxes import LocalSandbox
from sandloop.sandboxes._replies import EVENT_DATA


async def test_output_arrives_while_the_command_still_runs(
    sandbox: LocalSandbox, workspace: Path
) -> None:
    # The command waits for a file that only the callback creates: it can end only when its
    # first line was handed over before it ended.
    seen: list[tuple[str, bytes]] = []

    async def on_output(stream: str, data: bytes) -> None:
        seen.append((stream, data))
        if b"ready" in data:
            (workspace / "go").touch()

    command = "echo ready; echo warn >&2; while [ ! -e go ]; do sleep 0.02; done; echo done"
    result = await sandbox.exec(command, timeout=20, on_output=on_output)
    assert not result.timed_out
    assert result.stdout == b"ready\ndone\n"
    assert b"".join(d for s, d in seen if s == "stdout") == b"ready\ndone\n"
    assert b"".join(d for s, d in seen if s == "stderr") == b"warn\n"
    assert sandbox.streams_output


async def test_binary_output_streams_byte_for_byte(sandbox: LocalSandbox) -> None:
    chunks: list[bytes] = []
    result = await sandbox.exec(
        "head -c 3000 /dev/urandom", timeout=20, on_output=lambda s, d: chunks.append(d)
    )
    assert len(result.stdout) == 3000
    assert b"".join(chunks) == result.stdout


async def test_a_flood_is_coalesced_and_capped_by_max_output(sandbox: LocalSandbox) -> None:
    sizes: dict[str, list[int]] = {"stdout": [], "stderr": []}
    cap = 200_000
    result = await sandbox.exec(
        "head -c 30000000 /dev/zero; head -c 30000000 /dev/zero >&2",
        timeout=60,
        max_output=cap,
        on_output=lambda s, d: sizes[s].append(len(d)),
    )
    assert result.ok
    assert result.stdout_dropped == 30_000_000 - cap
    for stream, seen in sizes.items():
        assert seen, stream
        assert max(seen) <= EVENT_DATA  # each event bounded
        assert sum(seen) <= cap  # and all of them together


async def test_an_endless_flood_ends_by_its_timeout_with_bounded_events(
    sandbox: LocalSandbox,
) -> None:
    total = 0

    def count(stream: str, data: bytes) -> None:
        nonlocal total
        total += len(data)

    result = await sandbox.exec("yes flood", timeout=1.5, max_output=50_000, on_output=count)
    assert result.timed_out
    assert 0 < total <= 50_000

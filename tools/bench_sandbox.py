"""Benchmark the sandbox fast path: one round trip of `true` through each way of running it.

Prints, in one run on one container: the median round trip through the runner, `docker exec`
(CLI), the SDK's `exec_run`, and a local `subprocess.run`, with ratios; then the runner's round
trip over each channel (local pipes, Docker attach, the Unix-socket fast channel, gVisor, a TLS
remote engine through a proxy on 127.0.0.1, an SSH remote engine through an sshd on 127.0.0.1),
each sampled alternately with a local
`subprocess.run` in the same process, for a ratio less moved by the load; then container start
time and pool acquire time. Run: `python tools/bench_sandbox.py [--rounds N]`.
Reports ratios, not pass/fail: the machine's load moves the absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from sandloop.sandboxes import LocalSandbox, Sandbox
from sandloop.sandboxes.docker import GVISOR, DockerSandbox, connect, engine_runtimes
from sandloop.sandboxes.docker._provisioner import DockerProvisioner
from sandloop.sandboxes.images import build_images
from sandloop.sandboxes.kubernetes import KubernetesSandbox
from sandloop.sandboxes.pool import SandboxPool
from sandloop.testing.k8s_double import KubernetesApiDouble
from sandloop.testing.ssh_engine import SSHD, SSHEngine
from sandloop.testing.tls_engine import EngineTLSProxy


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _time_sync(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return _median_ms(samples)


async def _time_async(fn: Callable[[], Awaitable[object]], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return _median_ms(samples)


async def _interleaved(
    remote: Callable[[], Awaitable[object]], local: Callable[[], object], rounds: int
) -> tuple[float, float]:
    """Medians of the runner and of a local subprocess.run, sampled alternately: the shared
    machine's load drifts, and alternating exposes both to the same load."""
    remote_samples, local_samples = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        await remote()
        remote_samples.append(time.perf_counter() - start)
        start = time.perf_counter()
        local()
        local_samples.append(time.perf_counter() - start)
    return _median_ms(remote_samples), _median_ms(local_samples)


def _can_proxy() -> bool:
    """Whether the TLS proxy can be made here (openssl) and relay to a local engine socket."""
    return bool(shutil.which("openssl")) and os.path.exists("/var/run/docker.sock")


async def _channel_rows(image: str, rounds: int) -> list[tuple[str, float, float]]:
    """``(channel, median ms, ratio to a local subprocess.run sampled alternately)`` for the
    runner over each channel: local pipes, Docker attach, the Unix socket, gVisor, the Kubernetes
    double's attach websocket, TLS."""
    rows: list[tuple[str, float, float]] = []

    async def measure(name: str, sandbox: Sandbox) -> None:
        async with sandbox:
            for _ in range(20):
                await sandbox.exec(["true"])  # warm up
            remote, local = await _interleaved(
                lambda: sandbox.exec(["true"]), lambda: subprocess.run(["true"], check=True), rounds
            )
            used = "unix socket" if sandbox.capabilities.fast_channel else "attach/pipes"
            rows.append((f"{name} [{used}]", remote, remote / local))

    with tempfile.TemporaryDirectory() as root:
        await measure("local runner (LocalSandbox)", LocalSandbox(root))
    attach = DockerSandbox(image)
    provisioner = attach.provisioner
    assert isinstance(provisioner, DockerProvisioner)
    provisioner.try_fast_channel = False
    await measure("docker, attach", attach)
    await measure("docker, fast channel", DockerSandbox(image))
    client = connect()
    runtimes = engine_runtimes(client)
    client.close()
    if GVISOR in runtimes:
        await measure("gVisor (runsc)", DockerSandbox(image, runtime=GVISOR))
    else:
        print(f"(no {GVISOR} runtime on this engine: gVisor row skipped)")
    with tempfile.TemporaryDirectory() as folder, KubernetesApiDouble() as double:
        kubeconfig = str(double.write_kubeconfig(Path(folder) / "kubeconfig"))
        # A pod of the API double: its attach websocket bridged to docker attach, one more hop.
        await measure(
            "fake k8s attach (API double)", KubernetesSandbox(image, kubeconfig=kubeconfig)
        )
    if _can_proxy():
        with tempfile.TemporaryDirectory() as certs, EngineTLSProxy(Path(certs)) as engine:
            remote = DockerSandbox(image, docker_host=engine.url, tls=str(engine.client_certs))
            await measure("TLS remote engine (proxy)", remote)
    else:
        print("(no openssl or no /var/run/docker.sock: TLS remote row skipped)")
    await _ssh_row(image, measure)
    return rows


def _ssh_missing() -> str:
    """What the SSH row lacks here ("" when nothing): sshd, the ssh tools, a local engine socket
    for the SSH side to forward to."""
    missing = [what for what in (SSHD, "ssh", "ssh-keygen") if not shutil.which(what)]
    if not os.path.exists("/var/run/docker.sock"):
        missing.append("/var/run/docker.sock")
    return ", ".join(missing)


async def _ssh_row(image: str, measure: Callable[[str, Sandbox], Awaitable[None]]) -> None:
    """The SSH remote engine: the local engine behind an sshd on 127.0.0.1 (``SSHEngine``),
    the workspace copied in as on any remote engine."""
    missing = _ssh_missing()
    if missing:
        print(f"(no {missing}: SSH remote engine row skipped; tools/ensure_sshd.sh installs sshd)")
        return
    with tempfile.TemporaryDirectory() as folder, SSHEngine(Path(folder) / "ssh") as engine:
        workspace = Path(folder) / "ws"
        workspace.mkdir()
        previous = os.environ.get("SANDLOOP_SSH_COMMAND")
        os.environ["SANDLOOP_SSH_COMMAND"] = engine.ssh_command
        try:
            remote = DockerSandbox(image, docker_host=engine.url, mount="copy", workspace=workspace)
            await measure("SSH remote engine", remote)
        finally:
            if previous is None:
                os.environ.pop("SANDLOOP_SSH_COMMAND", None)
            else:
                os.environ["SANDLOOP_SSH_COMMAND"] = previous


async def _round_trips(image: str, rounds: int) -> dict[str, float]:
    client = connect()
    results: dict[str, float] = {}
    async with DockerSandbox(image) as sb:
        for _ in range(20):
            await sb.exec(["true"])  # warm up
        results["runner"] = await _time_async(lambda: sb.exec(["true"]), rounds)
        container = client.containers.get(str(sb.container_id))
        few = max(rounds // 10, 10)
        results["sdk exec_run"] = _time_sync(lambda: container.exec_run(["true"]), few)
        if shutil.which("docker"):
            cli = ["docker", "exec", str(sb.container_id), "true"]
            results["docker exec (CLI)"] = _time_sync(
                lambda: subprocess.run(cli, check=True, capture_output=True), few
            )
    client.close()
    results["local subprocess.run"] = _time_sync(
        lambda: subprocess.run(["true"], check=True), rounds
    )
    # The runner captures stdout and stderr: this is the like-for-like local baseline.
    results["local run, captured"] = _time_sync(
        lambda: subprocess.run(["true"], check=True, capture_output=True), rounds
    )
    return results


async def _start_and_acquire(image: str, starts: int, pool_size: int) -> tuple[float, float]:
    samples = []
    for _ in range(starts):
        begin = time.perf_counter()
        async with DockerSandbox(image):
            samples.append(time.perf_counter() - begin)
    acquires: list[float] = []
    async with SandboxPool(lambda: DockerSandbox(image), size=pool_size) as pool:
        with anyio.fail_after(120):
            while pool.ready < pool_size:  # noqa: ASYNC110 - the pool has no "full" event
                await anyio.sleep(0.05)
        for _ in range(pool_size):
            begin = time.perf_counter()
            sandbox = await pool.acquire()
            acquires.append(time.perf_counter() - begin)
            await sandbox.aclose()
    return _median_ms(samples), _median_ms(acquires)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="round trips per method")
    parser.add_argument("--starts", type=int, default=5, help="container starts to time")
    parser.add_argument("--pool", type=int, default=4, help="pool size (= acquires timed)")
    args = parser.parse_args()
    image = build_images(["base"], log=lambda line: None)[0]
    results = await _round_trips(image, args.rounds)
    local, runner = results["local subprocess.run"], results["runner"]
    print(f"median round trip of `true` ({image}, {args.rounds} rounds):")
    for name, ms in results.items():
        print(f"  {name:22} {ms:8.2f} ms   {ms / local:6.1f}x local   {ms / runner:6.1f}x runner")
    print("runner round trip per channel, each sampled alternately with a local subprocess.run:")
    for name, ms, ratio in await _channel_rows(image, args.rounds):
        print(f"  {name:48} {ms:8.2f} ms   {ratio:5.2f}x local")
    start_ms, acquire_ms = await _start_and_acquire(image, args.starts, args.pool)
    print(f"container start (create + runner hello), median of {args.starts}: {start_ms:.0f} ms")
    print(f"pool acquire, median of {args.pool}: {acquire_ms:.3f} ms")


if __name__ == "__main__":
    anyio.run(main)

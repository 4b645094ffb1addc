"""Benchmark the sandbox fast path: one round trip of `true` through each way of running it.

Prints, in one run on one container: the median round trip through the runner, `docker exec`
(CLI), the SDK's `exec_run`, and a local `subprocess.run`, with ratios (the runner and the local
run are also sampled alternately, for a ratio less moved by the load); then container start
time and pool acquire time. Run: `python tools/bench_sandbox.py [--rounds N]`.
Reports ratios, not pass/fail: the machine's load moves the absolute numbers.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from sandloop.sandboxes.docker import DockerSandbox, connect
from sandloop.sandboxes.images import build_images
from sandloop.sandboxes.kubernetes import KubernetesSandbox
from sandloop.sandboxes.pool import SandboxPool
from sandloop.testing.k8s_double import KubernetesApiDouble


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


async def _round_trips(image: str, rounds: int) -> dict[str, float]:
    client = connect()
    results: dict[str, float] = {}
    async with DockerSandbox(image) as sb:
        for _ in range(20):
            await sb.exec(["true"])  # warm up
        results["runner"] = await _time_async(lambda: sb.exec(["true"]), rounds)
        runner, local = await _interleaved(
            lambda: sb.exec(["true"]), lambda: subprocess.run(["true"], check=True), rounds
        )
        results["runner, interleaved"] = runner
        results["local, interleaved"] = local
        container = client.containers.get(str(sb.container_id))
        few = max(rounds // 10, 10)
        results["sdk exec_run"] = _time_sync(lambda: container.exec_run(["true"]), few)
        if shutil.which("docker"):
            cli = ["docker", "exec", str(sb.container_id), "true"]
            results["docker exec (CLI)"] = _time_sync(
                lambda: subprocess.run(cli, check=True, capture_output=True), few
            )
    client.close()
    results["fake k8s attach"] = await _fake_k8s_attach(image, rounds)
    results["local subprocess.run"] = _time_sync(
        lambda: subprocess.run(["true"], check=True), rounds
    )
    # The runner captures stdout and stderr: this is the like-for-like local baseline.
    results["local run, captured"] = _time_sync(
        lambda: subprocess.run(["true"], check=True, capture_output=True), rounds
    )
    return results


async def _fake_k8s_attach(image: str, rounds: int) -> float:
    """The runner in a pod of the Kubernetes API double (a local container behind the double's
    attach websocket, bridged to docker attach: one more hop, as an API server adds)."""
    with tempfile.TemporaryDirectory() as folder, KubernetesApiDouble() as double:
        kubeconfig = str(double.write_kubeconfig(Path(folder) / "kubeconfig"))
        async with KubernetesSandbox(image, kubeconfig=kubeconfig) as sb:
            for _ in range(20):
                await sb.exec(["true"])  # warm up
            return await _time_async(lambda: sb.exec(["true"]), rounds)


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
    ratio = results["runner, interleaved"] / results["local, interleaved"]
    print(f"runner / local subprocess.run, sampled alternately: {ratio:.2f}x")
    start_ms, acquire_ms = await _start_and_acquire(image, args.starts, args.pool)
    print(f"container start (create + runner hello), median of {args.starts}: {start_ms:.0f} ms")
    print(f"pool acquire, median of {args.pool}: {acquire_ms:.3f} ms")


if __name__ == "__main__":
    anyio.run(main)

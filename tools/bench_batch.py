"""Batch throughput: the same N tasks through ``run_batch(LocalExecutor)``, through
``run_batch(RayExecutor)`` on a two-node local Ray cluster, and as direct runs.

Each task: a shell turn, an apply_patch turn, a final message (scripted, one
``ScriptedResponsesServer`` per task on 127.0.0.1), a copy-mode Docker sandbox per task and a
test command. Reports tasks/min for each executor, the per-task overhead of the batch over a
direct ``sandloop.run`` of the same task (sequential, workers=1, so the two are comparable), peak
RSS of this process (the driver; Ray's workers are other processes) and the containers left with
the batch's label.

Run: ``python tools/bench_batch.py [--tasks 32] [--workers 2] [--no-ray] [--image ...]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import docker

import sandloop
from sandloop.batch import LocalExecutor, RayExecutor, run_batch
from sandloop.batch.layout import BatchDir
from sandloop.batch.task_run import BATCH_LABEL
from sandloop.client import ClientSettings, ResponsesClient, RetryPolicy
from sandloop.executors.apply_patch import ApplyPatchTool
from sandloop.executors.shell import ShellTool
from sandloop.loop import Agent, RunSpec
from sandloop.sandboxes.docker import DEFAULT_IMAGE, DockerSandbox
from sandloop.testing import ScriptedResponsesServer, apply_patch_call, message, shell_call

FIX = "@@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
TEST = "python3 -c 'from calc.ops import add; assert add(2, 3) == 5'"


def script() -> list[Any]:
    return [
        [shell_call("cat calc/ops.py")],
        [apply_patch_call("update_file", "calc/ops.py", FIX)],
        [message("Fixed.")],
    ]


def agent() -> Agent:
    return Agent(model="m", tools=[ShellTool(), ApplyPatchTool()])


async def direct(repo: Path, image: str, url: str) -> None:
    sandbox = DockerSandbox(image, workspace=repo, mount="copy")
    async with ResponsesClient(base_url=url, max_retries=0) as client:
        result = await sandloop.run(agent(), "fix add", sandbox=sandbox, client=client)
    assert result.status == "completed"


async def batch(
    specs: list[RunSpec], out: Path, executor: LocalExecutor | RayExecutor
) -> list[dict[str, Any]]:
    runs = run_batch(specs, executor=executor, out=out)
    return [record async for record in runs]


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_cluster() -> Any:
    """A two-node Ray cluster on 127.0.0.1 (one CPU each, no dashboard), this process its
    driver."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep every address on loopback
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray
    from ray.cluster_utils import Cluster

    node: dict[str, Any] = {
        "num_cpus": 1,
        "node_ip_address": "127.0.0.1",
        "object_store_memory": 80 << 20,
    }
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--direct", type=int, default=4, help="direct runs for the baseline")
    parser.add_argument("--image", default=DEFAULT_IMAGE)
    parser.add_argument("--no-ray", action="store_true", help="skip the RayExecutor run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        (repo / "calc").mkdir(parents=True)
        (repo / "calc" / "ops.py").write_text("def add(a, b):\n    return a - b\n")

        began = time.monotonic()
        for _ in range(args.direct):
            with ScriptedResponsesServer(script()) as server:
                anyio.run(direct, repo, args.image, server.base_url)
        per_direct = (time.monotonic() - began) / args.direct

        def run(
            n: int, executor: LocalExecutor | RayExecutor, out: Path
        ) -> tuple[float, list[dict[str, Any]]]:
            with ExitStack() as stack:
                servers = [stack.enter_context(ScriptedResponsesServer(script())) for _ in range(n)]
                specs = [
                    RunSpec(
                        agent(),
                        "fix add",
                        sandbox=DockerSandbox(args.image, workspace=repo, mount="copy"),
                        client=ClientSettings(
                            base_url=s.base_url, retry=RetryPolicy(max_retries=0)
                        ),
                        labels={"id": f"t{i}"},
                        metadata={"test": TEST},
                    )
                    for i, s in enumerate(servers)
                ]
                start = time.monotonic()
                records = anyio.run(batch, specs, out, executor)
                return time.monotonic() - start, records

        def report(name: str, out: Path, elapsed: float, records: list[dict[str, Any]]) -> None:
            solved = sum(r["status"] == "solved" for r in records)
            engine = docker.from_env()
            label = f"{BATCH_LABEL}={BatchDir(out).batch_id}"
            left = len(engine.containers.list(all=True, filters={"label": label}))
            engine.close()
            print(
                f"{name}, {args.tasks} tasks, workers={args.workers}: {elapsed:.1f} s, "
                f"{args.tasks / elapsed * 60:.1f} tasks/min, {solved}/{args.tasks} solved, "
                f"{left} containers left"
            )

        seq_time, _ = run(args.direct, LocalExecutor(workers=1), Path(tmp) / "seq")
        per_batch_task = seq_time / args.direct
        print(f"direct run, sequential:        {per_direct:.2f} s/task ({args.direct} tasks)")
        print(f"batch, workers=1:              {per_batch_task:.2f} s/task")
        print(f"per-task overhead of batch:    {per_batch_task - per_direct:+.2f} s")
        local_out = Path(tmp) / "local"
        elapsed, records = run(args.tasks, LocalExecutor(workers=args.workers), local_out)
        report("LocalExecutor", local_out, elapsed, records)
        print(f"peak RSS (this process):       {peak_rss_mib():.0f} MiB")
        if not args.no_ray:
            cluster = start_cluster()
            try:
                ray_out = Path(tmp) / "ray"
                executor = RayExecutor(address=cluster.address, workers=args.workers)
                elapsed, records = run(args.tasks, executor, ray_out)
                report("RayExecutor (2 nodes)", ray_out, elapsed, records)
                print(f"peak RSS (the driver):         {peak_rss_mib():.0f} MiB")
            finally:
                import ray

                ray.shutdown()
                cluster.shutdown()


if __name__ == "__main__":
    main()

"""KubernetesSandbox against the Kubernetes API **double** (``sandloop.testing.k8s_double``),
each pod a real local Docker container: not a cluster. What passes here is sandloop's side (the
pod spec, the attach websocket, the runner over it, copy mode, clean-up on every path); that a
real cluster accepts and enforces the pod is what the ``k8s``-marked tests check, with a
``KUBECONFIG``.

The same sandbox tests as DockerSandbox's are imported and run here with this module's
``sandbox`` fixture (those that look at a bind-mounted host directory are not: a pod's
workspace is a copy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_sandbox_docker import (
    test_cancelling_the_caller_kills_the_command_in_the_container,
    test_no_network_by_default,
    test_timeout_leaves_no_process_behind,
    test_twenty_concurrent_commands,
    test_unicode_and_binary_output,
)

from sandloop.errors import SandboxError, SandboxStartError, SandboxUnavailableError
from sandloop.sandboxes.description import sandbox_from_dict
from sandloop.sandboxes.kubernetes import KubernetesSandbox
from sandloop.sandboxes.pool import SandboxPool

# Every test in the module runs with the double, which checks at the end that no pod, policy
# or container of it is left.
pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("k8s_double")]

__all__ = (  # imported to run here against a pod
    "test_cancelling_the_caller_kills_the_command_in_the_container",
    "test_no_network_by_default",
    "test_timeout_leaves_no_process_behind",
    "test_twenty_concurrent_commands",
    "test_unicode_and_binary_output",
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "README.md").write_text("hello\n")
    return root


@pytest.fixture
async def sandbox(
    base_image: str, workspace: Path, k8s_kubeconfig: str
) -> AsyncIterator[KubernetesSandbox]:
    async with KubernetesSandbox(base_image, workspace=workspace, kubeconfig=k8s_kubeconfig) as sb:
        yield sb


def _pods(double: Any) -> list[str]:
    return sorted(name for _, name in double.pods)


async def test_the_pod_is_hardened_seen_from_inside_and_from_the_engine(
    sandbox: KubernetesSandbox, k8s_double: Any, docker_client: Any
) -> None:
    status = await sandbox.exec(
        "id -u; id -g; grep -E 'CapEff|NoNewPrivs|Seccomp:' /proc/self/status"
    )
    lines = status.stdout.decode().split("\n")
    assert lines[:2] == ["1000", "1000"]
    fields = dict(line.split(":\t") for line in lines[2:] if line)
    assert fields["CapEff"] == "0000000000000000"
    assert fields["NoNewPrivs"] == "1"
    assert fields["Seccomp"] == "2"  # a filter: the runtime's default profile
    pod = k8s_double.pods[(sandbox.namespace, sandbox.pod_name)]
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert (sandbox.namespace, sandbox.pod_name) in k8s_double.policies
    (container,) = k8s_double.containers()
    host = docker_client.api.inspect_container(container.id)["HostConfig"]
    assert host["NetworkMode"] == "none"  # the deny-all policy selected the pod
    assert host["Memory"] == 2 << 30
    assert host["NanoCpus"] == 2 * 10**9
    token = await sandbox.exec("ls /var/run/secrets/kubernetes.io")
    assert token.exit_code != 0


async def test_copy_mode_diff_export_and_baseline(
    sandbox: KubernetesSandbox, workspace: Path, tmp_path: Path
) -> None:
    assert await sandbox.read_file("README.md") == b"hello\n"
    await sandbox.exec("echo more >> README.md && mkdir -p src && printf 'x\\n' > src/new.py")
    diff = await sandbox.diff()
    assert "diff --git a/README.md b/README.md" in diff
    assert "+more" in diff
    assert "new file mode 100644" in diff
    assert "+x" in diff
    assert (workspace / "README.md").read_text() == "hello\n"  # the host tree is untouched
    changes = await sandbox.changes()
    assert changes is not None
    assert changes.paths == ("README.md", "src/new.py")
    await sandbox.export(tmp_path / "out")
    assert (tmp_path / "out" / "src" / "new.py").read_text() == "x\n"
    await sandbox.set_baseline()
    assert await sandbox.diff() == ""
    await sandbox.delete_file("src/new.py")
    assert "deleted file mode" in await sandbox.diff()


async def test_the_network_when_asked_for(
    base_image: str, k8s_kubeconfig: str, k8s_double: Any
) -> None:
    async with KubernetesSandbox(base_image, network=True, kubeconfig=k8s_kubeconfig) as sb:
        assert k8s_double.policies == {}
        interfaces = await sb.exec("tail -n +3 /proc/net/dev | cut -d: -f1")
    assert interfaces.stdout.split() != [b"lo"]


async def test_close_error_and_cancellation_all_delete_the_pod_and_policy(
    base_image: str, k8s_kubeconfig: str, k8s_double: Any
) -> None:
    async with KubernetesSandbox(base_image, kubeconfig=k8s_kubeconfig) as sb:
        assert _pods(k8s_double) == [sb.pod_name]
    assert (_pods(k8s_double), k8s_double.policies) == ([], {})

    with pytest.raises(RuntimeError, match="boom"):
        async with KubernetesSandbox(base_image, kubeconfig=k8s_kubeconfig) as sb:
            raise RuntimeError("boom")
    assert (_pods(k8s_double), k8s_double.policies) == ([], {})

    with anyio.move_on_after(1) as scope:  # cancelled in the middle of a command
        async with KubernetesSandbox(base_image, kubeconfig=k8s_kubeconfig) as sb:
            scope.deadline = anyio.current_time() + 0.5
            await sb.exec("sleep 60")
    assert scope.cancelled_caught
    assert (_pods(k8s_double), k8s_double.policies, k8s_double.containers()) == ([], {}, [])


async def test_cancelled_while_the_pod_is_pending(
    base_image: str, k8s_kubeconfig: str, k8s_double: Any
) -> None:
    k8s_double.schedulable.clear()
    try:
        sandbox = KubernetesSandbox(base_image, kubeconfig=k8s_kubeconfig)
        with anyio.move_on_after(1) as scope:
            await sandbox.start()
        assert scope.cancelled_caught
        assert not sandbox.started
        assert (_pods(k8s_double), k8s_double.policies) == ([], {})
    finally:
        k8s_double.schedulable.set()


async def test_the_create_deadline_says_what_the_pod_waits_for(
    base_image: str, k8s_kubeconfig: str, k8s_double: Any
) -> None:
    k8s_double.schedulable.clear()
    try:
        sandbox = KubernetesSandbox(base_image, kubeconfig=k8s_kubeconfig, create_timeout=1)
        with pytest.raises(
            SandboxStartError, match=r"not running after 1 s.*Unschedulable"
        ) as info:
            await sandbox.start()
    finally:
        k8s_double.schedulable.set()
    assert "FailedScheduling" in str(info.value)  # the pod's events
    assert _pods(k8s_double) == []


async def test_an_image_the_cluster_cannot_pull_fails_fast_with_its_events(
    k8s_kubeconfig: str, k8s_double: Any
) -> None:
    sandbox = KubernetesSandbox("sandloop/no-such-image:0", kubeconfig=k8s_kubeconfig)
    with anyio.fail_after(60), pytest.raises(SandboxStartError, match="ImagePullBackOff") as info:
        await sandbox.start()
    assert "Failed to pull image" in str(info.value)
    assert _pods(k8s_double) == []


async def test_a_refused_pod_is_an_engine_error_with_the_servers_message(
    base_image: str, k8s_kubeconfig: str, k8s_double: Any
) -> None:
    sandbox = KubernetesSandbox(base_image, kubeconfig=k8s_kubeconfig, runtime_class="kata")
    with pytest.raises(SandboxError, match=r'RuntimeClass "kata" not found.*HTTP 403'):
        await sandbox.start()
    assert (_pods(k8s_double), k8s_double.policies) == ([], {})


async def test_under_the_gvisor_runtime_class(
    base_image: str, k8s_kubeconfig: str, k8s_double: Any, gvisor: str
) -> None:
    async with KubernetesSandbox(
        base_image, kubeconfig=k8s_kubeconfig, runtime_class="gvisor"
    ) as sb:
        kernel = await sb.exec("dmesg 2>/dev/null | head -1; uname -r")
        (container,) = k8s_double.containers()
        assert container.attrs["HostConfig"]["Runtime"] == gvisor
    assert kernel.ok


async def test_a_description_rebuilds_a_new_sandbox(
    sandbox: KubernetesSandbox, k8s_double: Any
) -> None:
    again = sandbox_from_dict(sandbox.to_dict())
    assert isinstance(again, KubernetesSandbox)
    assert not again.started
    async with again:
        assert await again.read_file("README.md") == b"hello\n"
        assert len(k8s_double.pods) == 2


async def test_a_pool_of_pods(base_image: str, k8s_kubeconfig: str, k8s_double: Any) -> None:
    names: list[str] = []

    async def use(pool: SandboxPool[KubernetesSandbox], i: int) -> None:
        async with await pool.acquire() as sb:
            assert (await sb.exec(f"echo {i}")).stdout == f"{i}\n".encode()
            names.append(str(sb.pod_name))

    factory = lambda: KubernetesSandbox(base_image, kubeconfig=k8s_kubeconfig)  # noqa: E731
    with anyio.fail_after(110):
        async with (
            SandboxPool(factory, size=2, max_starting=2) as pool,
            anyio.create_task_group() as tg,
        ):
            for i in range(5):
                tg.start_soon(use, pool, i)
    assert len(set(names)) == 5
    assert (_pods(k8s_double), k8s_double.containers()) == ([], [])


def test_sandboxes_ls_and_prune_find_leftover_pods_by_label(
    base_image: str, k8s_kubeconfig: str, k8s_double: Any
) -> None:
    from sandloop.sandboxes.kubernetes import Cluster, load_configuration
    from sandloop.sandboxes.kubernetes._podspec import network_policy, pod

    cluster = Cluster(load_configuration(k8s_kubeconfig, None))
    sandbox = KubernetesSandbox(base_image)
    for name, pid in (("sandloop-leftover", "999999999"), ("sandloop-alive", str(os.getpid()))):
        options = sandbox.provisioner.pod_options(name, ["python3"])
        manifest, policy = pod(options), network_policy(options)
        for manifest_of in (manifest, policy):
            manifest_of["metadata"]["labels"]["org.sandloop.host-pid"] = pid
        cluster.create_policy("default", policy)
        cluster.create_pod("default", manifest)
    cluster.close()

    def cli(*args: str) -> str:
        command = [
            sys.executable,
            "-m",
            "sandloop",
            "sandboxes",
            *args,
            "--kubeconfig",
            k8s_kubeconfig,
        ]
        return subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=60
        ).stdout

    listed = cli("ls")
    assert "default/sandloop-leftover" in listed
    assert "gone" in listed
    assert "default/sandloop-alive" in listed
    assert "alive" in listed
    pruned = cli("prune")
    assert "removed pod default/sandloop-leftover" in pruned
    assert "removed network policy default/sandloop-leftover" in pruned
    assert _pods(k8s_double) == ["sandloop-alive"]
    assert "removed pod default/sandloop-alive" in cli("prune", "--all")
    assert (_pods(k8s_double), k8s_double.policies) == ([], {})


async def test_over_tls_with_a_client_certificate(
    base_image: str, tmp_path: Path, docker_client: Any
) -> None:
    from sandloop.testing.k8s_double import KubernetesApiDouble

    with KubernetesApiDouble(docker_client, tls_folder=tmp_path / "pki") as double:
        assert double.url.startswith("https://")
        kubeconfig = str(double.write_kubeconfig(tmp_path / "kubeconfig"))
        async with KubernetesSandbox(base_image, kubeconfig=kubeconfig) as sb:
            # REST calls and the attach websocket both went through TLS with the client cert.
            assert (await sb.exec("echo over tls")).stdout == b"over tls\n"
        assert double.pods == {}
        config = json.loads(await anyio.Path(kubeconfig).read_text())
        del config["users"][0]["user"]["client-certificate"]
        del config["users"][0]["user"]["client-key"]
        (tmp_path / "nocert").write_text(json.dumps(config))
        with pytest.raises(SandboxUnavailableError):
            await KubernetesSandbox(base_image, kubeconfig=str(tmp_path / "nocert")).start()
        assert double.pods == {}
        assert double.containers() == []

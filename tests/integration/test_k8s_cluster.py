"""KubernetesSandbox on a **real cluster**: run only when ``KUBECONFIG`` is set (marked ``k8s``;
skipped with that reason otherwise). Nothing here has run on the machines this was written on
(no Kubernetes can be installed there); the double-backed tests are in test_sandbox_k8s.py.

The image must be pullable by the cluster: ``SANDLOOP_K8S_IMAGE`` (default the sandloop/base tag
of this version, which a local cluster such as kind can load with ``kind load docker-image``).
The namespace is ``SANDLOOP_K8S_NAMESPACE`` (default: the kubeconfig context's).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandloop.sandboxes.kubernetes import (
    DEFAULT_IMAGE,
    Cluster,
    KubernetesSandbox,
    load_configuration,
)

pytestmark = pytest.mark.k8s
RUN = uuid.uuid4().hex[:12]
IMAGE = os.environ.get("SANDLOOP_K8S_IMAGE", DEFAULT_IMAGE)
NAMESPACE = os.environ.get("SANDLOOP_K8S_NAMESPACE")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not os.environ.get("KUBECONFIG"):
        pytest.skip("KUBECONFIG is not set: no real Kubernetes cluster to test against")
    found = Cluster(load_configuration(None, None))
    yield found
    left = [row for row in found.list_sandboxes(NAMESPACE) if row["id"] in _names]
    found.close()
    assert left == [], f"pods left behind on the cluster: {left}"


_names: set[str] = set()


def _sandbox(workspace: Path | None = None) -> KubernetesSandbox:
    labels = {"sandloop-test": RUN}
    return KubernetesSandbox(IMAGE, workspace=workspace, namespace=NAMESPACE, labels=labels)


def _gone(cluster: Cluster, name: str) -> bool:
    for _ in range(120):
        if all(row["id"] != name for row in cluster.list_sandboxes(NAMESPACE)):
            return True
        time.sleep(0.5)
    return False


async def test_a_pod_runs_the_runner_hardened(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one\n")
    async with _sandbox(workspace=tmp_path) as sb:
        assert sb.pod_name is not None
        _names.add(sb.pod_name)
        status = await sb.exec("id -u; grep -E 'CapEff|NoNewPrivs' /proc/self/status")
        assert status.stdout.split()[:1] == [b"1000"]
        assert b"0000000000000000" in status.stdout
        await sb.exec("echo two >> a.txt")
        assert "+two" in await sb.diff()
        policies = cluster.list_policies(sb.namespace)
        assert any(p["id"] == sb.pod_name for p in policies)
        name = sb.pod_name
    assert _gone(cluster, name)
    assert all(p["id"] != name for p in cluster.list_policies(NAMESPACE))


async def test_no_network_by_default(cluster: Cluster) -> None:
    # Holds only where the cluster's network plugin enforces NetworkPolicy.
    async with _sandbox() as sb:
        assert sb.pod_name is not None
        _names.add(sb.pod_name)
        probe = await sb.exec("curl -sS --max-time 5 https://example.com/ >/dev/null", timeout=30)
    assert probe.exit_code not in (0, None)

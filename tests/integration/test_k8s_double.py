"""The Kubernetes API double (``sandloop.testing.k8s_double``) against the official
``kubernetes`` client: what it serves, what it refuses, and its pods as real containers.

These run against the double, not a cluster: they show the double answers the client the way
its docstring says, so the KubernetesSandbox tests that use it mean something.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

# Every test in the module runs with the double, which checks at the end that no pod, policy
# or container of it is left.
pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("k8s_double")]
# The client's typing is partial (and differs between its versions): used untyped here.
kube_config: Any = config
kube_watch: Any = watch


@pytest.fixture(scope="module")
def core(k8s_kubeconfig: str) -> Iterator[Any]:
    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=k8s_kubeconfig, client_configuration=configuration)
    api_client: Any = client.ApiClient(configuration)
    yield client.CoreV1Api(api_client)
    api_client.close()


def _pod(name: str, image: str, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"suite": "double", "pod": name}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "c",
                    "image": image,
                    "command": ["cat"],
                    "stdin": True,
                    "stdinOnce": True,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    **container,
                }
            ],
        },
    }


def _wait_phase(core: Any, name: str, phase: str = "Running", *, waiting: str | None = None) -> Any:
    for _ in range(300):
        pod = core.read_namespaced_pod(name, "default")
        state = pod.status.container_statuses[0].state
        if waiting is None and pod.status.phase == phase:
            return pod
        if waiting is not None and state.waiting is not None and state.waiting.reason == waiting:
            return pod
        time.sleep(0.05)
    raise AssertionError(f"pod {name} never got there: {pod.status}")


def _status(exc: ApiException) -> dict[str, Any]:
    body = json.loads(str(exc.body))
    assert (body["kind"], body["status"]) == ("Status", "Failure")
    assert body["code"] == exc.status
    return dict(body)


def test_a_pod_runs_as_a_hardened_container_and_attach_carries_its_streams(
    core: Any, k8s_double: Any, base_image: str, docker_client: Any
) -> None:
    created = core.create_namespaced_pod("default", _pod("attached", base_image))
    assert created.metadata.uid
    assert created.status.phase == "Pending"
    running = _wait_phase(core, "attached")
    assert running.status.phase == "Running"
    (container,) = k8s_double.containers()
    host = docker_client.api.inspect_container(container.id)
    assert host["Config"]["User"] == "1000"
    assert host["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["HostConfig"]["SecurityOpt"]
    assert host["Config"]["StdinOnce"] is True
    ws = stream(
        core.connect_get_namespaced_pod_attach,
        "attached",
        "default",
        stdin=True,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
        binary=True,
    )
    assert ws.subprotocol in ("v5.channel.k8s.io", "v4.channel.k8s.io")
    ws.write_stdin(b"ping\n")
    echoed = b""
    for _ in range(100):
        ws.update(timeout=0.1)
        echoed += ws.read_stdout(timeout=0) or b""
        if echoed:
            break
    assert echoed == b"ping\n"
    ws.close()  # stdinOnce: cat sees the end of its stdin and the pod completes
    assert _wait_phase(core, "attached", "Succeeded").status.phase == "Succeeded"
    core.delete_namespaced_pod("attached", "default")
    assert k8s_double.containers() == []


def test_missing_duplicate_and_unknown_namespace(core: Any, base_image: str) -> None:
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("nope", "default")
    assert (_status(missing.value)["reason"], missing.value.status) == ("NotFound", 404)
    with pytest.raises(ApiException) as gone:
        core.delete_namespaced_pod("nope", "default")
    assert gone.value.status == 404
    core.create_namespaced_pod("default", _pod("twice", base_image))
    with pytest.raises(ApiException) as again:
        core.create_namespaced_pod("default", _pod("twice", base_image))
    assert (_status(again.value)["reason"], again.value.status) == ("AlreadyExists", 409)
    core.delete_namespaced_pod("twice", "default")
    with pytest.raises(ApiException) as namespace:
        core.create_namespaced_pod("elsewhere", _pod("x", base_image))
    assert 'namespaces "elsewhere" not found' in _status(namespace.value)["message"]


def test_raw_requests_are_decoded_like_a_server_does(k8s_double: Any, base_image: str) -> None:
    # Raw HTTP: the client's own models would refuse these bodies before they were sent.
    url = f"{k8s_double.url}/api/v1/namespaces/default/pods"
    auth = {"authorization": f"Bearer {k8s_double.token}"}
    bad = _pod("raw", base_image)
    bad["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalaton"] = False
    strict = requests.post(f"{url}?fieldValidation=Strict", json=bad, headers=auth, timeout=10)
    assert strict.status_code == 400
    assert "unknown field" in strict.json()["message"]
    typed = _pod("raw", base_image)
    typed["spec"]["containers"][0]["stdin"] = "yes"
    assert requests.post(url, json=typed, headers=auth, timeout=10).status_code == 400
    empty = {"metadata": {"name": "raw"}, "spec": {"containers": []}}
    invalid = requests.post(url, json=empty, headers=auth, timeout=10)
    assert (invalid.status_code, invalid.json()["reason"]) == (422, "Invalid")
    assert requests.get(url, timeout=10).status_code == 401  # no token
    warned = requests.post(url, json=bad, headers=auth, timeout=10)  # Warn: accepted
    assert warned.status_code == 201
    assert "unknown field" in warned.headers["warning"]
    requests.delete(f"{url}/raw", headers=auth, timeout=10).raise_for_status()


def test_list_and_watch_by_label(core: Any, base_image: str) -> None:
    for name in ("w1", "w2"):
        core.create_namespaced_pod("default", _pod(name, base_image))
    listed = core.list_namespaced_pod("default", label_selector="suite=double,pod=w2")
    assert [p.metadata.name for p in listed.items] == ["w2"]
    everywhere = core.list_pod_for_all_namespaces(label_selector="suite=double")
    assert sorted(p.metadata.name for p in everywhere.items) == ["w1", "w2"]
    seen = []
    for event in kube_watch.Watch().stream(
        core.list_namespaced_pod, "default", label_selector="pod=w1", timeout_seconds=10
    ):
        seen.append((event["type"], event["object"].status.phase))
        if event["type"] == "DELETED":
            break
        if event["object"].status.phase == "Running":
            core.delete_namespaced_pod("w1", "default")
    assert seen[0][0] == "ADDED"
    assert seen[-1][0] == "DELETED"
    assert ("MODIFIED", "Running") in seen
    core.delete_namespaced_pod("w2", "default")


def test_a_missing_image_root_user_and_unknown_runtime_class(core: Any, base_image: str) -> None:
    core.create_namespaced_pod("default", _pod("noimage", "sandloop/no-such-image:1"))
    pulled = _wait_phase(core, "noimage", waiting="ImagePullBackOff")
    assert pulled.status.phase == "Pending"
    events = core.list_namespaced_event("default", field_selector="involvedObject.name=noimage")
    assert any("Failed to pull image" in e.message for e in events.items)
    root = _pod("asroot", base_image)
    root["spec"]["containers"][0]["securityContext"]["runAsUser"] = 0
    core.create_namespaced_pod("default", root)
    _wait_phase(core, "asroot", waiting="CreateContainerConfigError")
    other = _pod("runtime", base_image)
    other["spec"]["runtimeClassName"] = "kata"
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod("default", other)
    assert refused.value.status == 403
    for name in ("noimage", "asroot"):
        core.delete_namespaced_pod(name, "default")


def test_the_active_deadline_fails_the_pod_and_removes_its_container(
    core: Any, k8s_double: Any, base_image: str
) -> None:
    short = _pod("deadline", base_image)
    short["spec"]["activeDeadlineSeconds"] = 1
    core.create_namespaced_pod("default", short)
    for _ in range(200):
        pod = core.read_namespaced_pod("deadline", "default")
        if pod.status.phase == "Failed":
            break
        time.sleep(0.05)
    assert (pod.status.phase, pod.status.reason) == ("Failed", "DeadlineExceeded")
    assert k8s_double.containers() == []
    core.delete_namespaced_pod("deadline", "default")


def test_network_policies(k8s_kubeconfig: str) -> None:
    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=k8s_kubeconfig, client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        net: Any = client.NetworkingV1Api(api_client)
        policy = {
            "metadata": {"name": "deny", "labels": {"suite": "double"}},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        }
        net.create_namespaced_network_policy("default", policy)
        with pytest.raises(ApiException) as twice:
            net.create_namespaced_network_policy("default", policy)
        assert twice.value.status == 409
        found = net.list_namespaced_network_policy("default", label_selector="suite=double")
        assert [p.metadata.name for p in found.items] == ["deny"]
        net.delete_namespaced_network_policy("deny", "default")
        with pytest.raises(ApiException) as gone:
            net.delete_namespaced_network_policy("deny", "default")
        assert gone.value.status == 404

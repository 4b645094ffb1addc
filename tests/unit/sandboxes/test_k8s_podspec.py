"""The pod and network policy KubernetesSandbox sends: hardened, accepted by the official
client's models (generated from the Kubernetes OpenAPI schema) and by the API double's schema,
and the sandbox's description round trip. No cluster and no Docker here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import V1NetworkPolicy, V1Pod

import sandloop.testing._k8s_schema as schema
from sandloop.errors import ConfigError
from sandloop.sandboxes.description import sandbox_from_dict
from sandloop.sandboxes.kubernetes import KubernetesSandbox
from sandloop.sandboxes.kubernetes._podspec import LABEL, POD_LABEL, network_policy, pod


def _manifests(**options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    sandbox = KubernetesSandbox(**options)
    spec = sandbox.provisioner.pod_options("sandloop-0123456789ab", ["python3"])
    return pod(spec), network_policy(spec)


def test_the_pod_is_hardened_by_default() -> None:
    manifest, _ = _manifests()
    spec = manifest["spec"]
    (container,) = spec["containers"]
    security = container["securityContext"]
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False
    assert (security["runAsNonRoot"], security["runAsUser"], security["runAsGroup"]) == (
        True,
        1000,
        1000,
    )
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 24 * 3600
    limits = container["resources"]["limits"]
    assert limits == {"cpu": "2000m", "memory": "2Gi", "ephemeral-storage": "4Gi"}
    assert container["resources"]["requests"] == limits
    assert (container["stdin"], container["stdinOnce"], container["tty"]) == (True, True, False)
    assert "runtimeClassName" not in spec
    labels = manifest["metadata"]["labels"]
    assert labels[LABEL]
    assert labels[POD_LABEL] == "sandloop-0123456789ab"
    assert labels["org.sandloop.host-pid"].isdigit()


def test_the_network_policy_denies_everything_to_the_pod_alone() -> None:
    _, policy = _manifests()
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {POD_LABEL: "sandloop-0123456789ab"}},
        "policyTypes": ["Ingress", "Egress"],
    }  # no ingress or egress rules: nothing is allowed


def test_options_reach_the_pod() -> None:
    manifest, _ = _manifests(
        runtime_class="gvisor",
        user="2000:3000",
        cpus=0.5,
        memory="512Mi",
        cap_add=["NET_BIND_SERVICE"],
        env={"A": "1"},
        labels={"team": "x"},
        active_deadline=60,
    )
    spec = manifest["spec"]
    (container,) = spec["containers"]
    assert spec["runtimeClassName"] == "gvisor"
    assert container["securityContext"]["runAsUser"] == 2000
    assert container["securityContext"]["capabilities"]["add"] == ["NET_BIND_SERVICE"]
    assert container["resources"]["limits"]["cpu"] == "500m"
    assert container["env"] == [{"name": "A", "value": "1"}]
    assert manifest["metadata"]["labels"]["team"] == "x"
    assert spec["activeDeadlineSeconds"] == 60


def test_the_official_models_and_the_doubles_schema_accept_them() -> None:
    manifest, policy = _manifests(runtime_class="gvisor", cap_add=["CHOWN"])
    # The client's models forbid unknown fields: a typo in a hardening option fails here.
    V1Pod.model_validate(manifest)
    V1NetworkPolicy.model_validate(policy)
    typo = {**manifest, "spec": {**manifest["spec"], "automountServiceAcountToken": False}}
    with pytest.raises(ValueError, match="automountServiceAcountToken"):
        V1Pod.model_validate(typo)
    decoded, warnings = schema.decode(manifest, schema.POD, "Pod", "Strict")
    schema.validate_pod(decoded)
    decoded_policy, _ = schema.decode(policy, schema.NETWORK_POLICY, "NetworkPolicy", "Strict")
    schema.validate_network_policy(decoded_policy)
    assert warnings == []


@pytest.mark.parametrize("user", ["0", "0:0", "root", "1000:abc"])
def test_root_or_names_are_refused(user: str) -> None:
    with pytest.raises(ConfigError):
        KubernetesSandbox(user=user)


def test_the_description_round_trips(tmp_path: Path) -> None:
    sandbox = KubernetesSandbox(
        "img:1", workspace=tmp_path, namespace="agents", runtime_class="gvisor", kubeconfig="kc"
    )
    data = sandbox.to_dict()
    assert data["kind"] == "kubernetes"
    again = sandbox_from_dict(data)
    assert isinstance(again, KubernetesSandbox)
    assert again.to_dict() == data
    assert not again.started


def test_a_description_with_an_unknown_option_is_refused() -> None:
    with pytest.raises(ConfigError, match="no option"):
        sandbox_from_dict({"kind": "kubernetes", "mount": "bind"})

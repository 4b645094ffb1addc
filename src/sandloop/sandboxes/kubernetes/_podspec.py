"""The pod and network policy a ``KubernetesSandbox`` creates, as API manifests (pure data).

Part of ``sandboxes.kubernetes``. Hardened the way ``DockerSandbox`` hardens its container: a
non-root user (``runAsNonRoot`` with an explicit uid and gid), every capability dropped, no
privilege escalation, the runtime's default seccomp profile, no service-account token, no
service links, CPU, memory and ephemeral-storage limits (requests equal to limits), an active
deadline, and labels naming sandloop and the owning process. Unless the sandbox has the
network, a deny-all network policy (ingress and egress, no rules) selects the pod; it is created
before the pod, so the pod never runs unprotected. Kubernetes has no per-pod process limit in
the pod spec (a node sets ``podPidsLimit``); the root filesystem stays writable, as Docker's is.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ("CONTAINER", "LABEL", "POD_LABEL", "PodOptions", "network_policy", "owner_labels", "pod")

#: Label on every pod and policy sandloop creates (value: the package version), as on Docker.
LABEL = "org.sandloop.sandbox"
#: Label naming the pod itself, which its network policy selects.
POD_LABEL = "org.sandloop.pod"
#: The container's name inside the pod.
CONTAINER = "sandbox"
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]")


def _label_value(text: str) -> str:
    """``text`` as a valid label value (at most 63 characters, alphanumeric at both ends)."""
    return _LABEL_VALUE.sub("-", text)[:63].strip("-_.")


def owner_labels() -> dict[str, str]:
    """Labels naming the process that owns a pod, so prune can tell leftovers apart."""
    return {
        "org.sandloop.host": _label_value(socket.gethostname()),
        "org.sandloop.host-pid": str(os.getpid()),
    }


@dataclass(frozen=True, slots=True)
class PodOptions:
    """What varies between sandbox pods (the rest is fixed hardening)."""

    name: str
    image: str
    command: Sequence[str]
    uid: int
    gid: int
    version: str
    memory: str
    cpus: float
    ephemeral_storage: str
    active_deadline: int
    image_pull_policy: str = "IfNotPresent"
    runtime_class: str | None = None
    cap_add: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "/workspace"


def labels_of(options: PodOptions) -> dict[str, str]:
    return {
        **options.labels,
        LABEL: options.version,
        POD_LABEL: options.name,
        **owner_labels(),
    }


def _cpu(cpus: float) -> str:
    return f"{round(cpus * 1000)}m"


def pod(options: PodOptions) -> dict[str, Any]:
    """The pod manifest: one container running ``options.command`` with stdin held open."""
    limits = {
        "cpu": _cpu(options.cpus),
        "memory": options.memory,
        "ephemeral-storage": options.ephemeral_storage,
    }
    security = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {
            "drop": ["ALL"],
            **({"add": list(options.cap_add)} if options.cap_add else {}),
        },
        "runAsNonRoot": True,
        "runAsUser": options.uid,
        "runAsGroup": options.gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "activeDeadlineSeconds": options.active_deadline,
        "terminationGracePeriodSeconds": 0,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": options.uid,
            "runAsGroup": options.gid,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": CONTAINER,
                "image": options.image,
                "imagePullPolicy": options.image_pull_policy,
                "command": list(options.command),
                "workingDir": options.workdir,
                "env": [{"name": k, "value": v} for k, v in options.env.items()],
                # stdinOnce: the runner's stdin ends when sandloop's attach ends, so it exits
                # (and the pod completes) even when this process is killed.
                "stdin": True,
                "stdinOnce": True,
                "tty": False,
                "resources": {"limits": limits, "requests": dict(limits)},
                "securityContext": security,
            }
        ],
    }
    if options.runtime_class:
        spec["runtimeClassName"] = options.runtime_class
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": options.name, "labels": labels_of(options)},
        "spec": spec,
    }


def network_policy(options: PodOptions) -> dict[str, Any]:
    """A policy denying the pod all ingress and egress (no rules: nothing is allowed)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": options.name, "labels": labels_of(options)},
        "spec": {
            "podSelector": {"matchLabels": {POD_LABEL: options.name}},
            "policyTypes": ["Ingress", "Egress"],
        },
    }

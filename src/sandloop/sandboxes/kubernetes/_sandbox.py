"""KubernetesSandbox: one hardened pod running the runner, reached through pods/attach.

Part of ``sandboxes.kubernetes``: the public face (its options, their checks, its description
as data) of ``KubernetesProvisioner`` (``_provisioner``: the pod, its policy, the attach
websocket) under the core (``_runner_backed.RunnerSandbox``: the runner booted over the channel,
every Sandbox operation, copy mode).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import anyio

from sandloop.errors import ConfigError
from sandloop.sandboxes import _copy
from sandloop.sandboxes._runner_backed import RunnerSandbox
from sandloop.sandboxes.description import build_from, options_of
from sandloop.sandboxes.images import image_tag
from sandloop.sandboxes.kubernetes._provisioner import KubernetesProvisioner
from sandloop.sandboxes.kubernetes._workspace import channel_limits

__all__ = ("DEFAULT_IMAGE", "KubernetesSandbox")

DEFAULT_IMAGE = image_tag("base")


class KubernetesSandbox(RunnerSandbox):
    """A hardened Kubernetes pod with the runner inside; an async context manager.

    Hardened by default as ``DockerSandbox`` is: a non-root user, every capability dropped, no
    privilege escalation, seccomp ``RuntimeDefault``, no service-account token, CPU, memory and
    ephemeral-storage limits, an active deadline, sandloop's labels, and a deny-all network
    policy unless ``network=True`` (it takes effect only where the cluster's network plugin
    enforces policies). The workspace is copied in and out over the runner's channel.

    Args:
        image: Image to run (default ``sandloop/base:<version>``); it needs ``python3`` and
            ``tar``, and must be pullable by the cluster.
        workspace: Host directory copied into ``/workspace`` (see :meth:`diff`,
            :meth:`export`). ``None``: the image's own ``/workspace``.
        namespace: Namespace of the pod (default: the kubeconfig context's, else
            ``default``).
        network: Leave the pod's network open (no network policy is created).
        runtime_class: The pod's RuntimeClass, e.g. ``"gvisor"``.
        user: ``uid:gid`` to run as (never root: the pod has ``runAsNonRoot``).
        memory: Memory limit, a Kubernetes quantity (``"2Gi"``) or bytes.
        cpus: CPU limit (fractional cores).
        ephemeral_storage: Local disk limit (the container's writable layer and logs).
        active_deadline: Seconds after which Kubernetes stops the pod, whatever runs.
        cap_add: Capabilities to give back after dropping all.
        env: Environment variables for the pod.
        labels: Extra labels on the pod and its policy.
        image_pull_policy: ``IfNotPresent``, ``Always`` or ``Never``.
        create_timeout: Seconds the pod may take to be running (scheduling, image pull):
            separate from command timeouts.
        start_timeout: Seconds to attach and for the runner to say hello.
        max_file_size: Copy caps, as for ``DockerSandbox`` (and at most 256 MiB a transfer over
            the channel).
        max_total_size: See ``max_file_size``.
        kubeconfig: Path of a kubeconfig (default ``$KUBECONFIG``, ``~/.kube/config``, else the
            in-cluster service account).
        context: The kubeconfig context (default: its current one).
        limiter: Bounds concurrent blocking API calls (shared by a pool).
    """

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        *,
        workspace: str | os.PathLike[str] | None = None,
        namespace: str | None = None,
        network: bool = False,
        runtime_class: str | None = None,
        user: str = "1000:1000",
        memory: int | str = "2Gi",
        cpus: float = 2.0,
        ephemeral_storage: int | str = "4Gi",
        active_deadline: int = 24 * 3600,
        cap_add: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        image_pull_policy: str = "IfNotPresent",
        create_timeout: float = 300.0,
        start_timeout: float = 60.0,
        max_file_size: int = _copy.DEFAULT_MAX_FILE_SIZE,
        max_total_size: int = _copy.DEFAULT_MAX_TOTAL_SIZE,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        # Described as given (descriptions keep paths as the user wrote them).
        self._given: dict[str, Any] = {
            "image": image,
            "workspace": os.fspath(workspace) if workspace is not None else None,
            "namespace": namespace,
            "network": network,
            "runtime_class": runtime_class,
            "user": user,
            "memory": memory,
            "cpus": cpus,
            "ephemeral_storage": ephemeral_storage,
            "active_deadline": active_deadline,
            "cap_add": list(cap_add),
            "env": dict(env or {}),
            "labels": dict(labels or {}),
            "image_pull_policy": image_pull_policy,
            "create_timeout": create_timeout,
            "start_timeout": start_timeout,
            "max_file_size": max_file_size,
            "max_total_size": max_total_size,
            "kubeconfig": os.fspath(kubeconfig) if kubeconfig is not None else None,
            "context": context,
        }
        self.workspace = Path(workspace).expanduser().resolve() if workspace is not None else None
        if self.workspace is not None and not self.workspace.is_dir():
            raise ConfigError(f"workspace {str(workspace)!r} is not a directory")
        uid, gid = _parse_user(user)
        self._limiter = limiter
        self._pod = KubernetesProvisioner(
            image,
            copy=self.workspace is not None,
            namespace=namespace,
            network=network,
            runtime_class=runtime_class,
            uid=uid,
            gid=gid,
            memory=str(memory),
            cpus=float(cpus),
            ephemeral_storage=str(ephemeral_storage),
            active_deadline=int(active_deadline),
            cap_add=cap_add,
            env=env or {},
            labels=labels or {},
            image_pull_policy=image_pull_policy,
            create_timeout=float(create_timeout),
            attach_timeout=float(start_timeout),
            kubeconfig=self._given["kubeconfig"],
            context=context,
            limiter=limiter,
        )
        self.copy_limits = channel_limits(_copy.CopyLimits(max_file_size, max_total_size))
        super().__init__(
            self._pod,
            copy_from=self.workspace,
            copy_limits=self.copy_limits,
            start_timeout=float(start_timeout),
        )
        self._pod.bind_exec(self.exec)

    @property
    def provisioner(self) -> KubernetesProvisioner:
        """The pod's provisioner."""
        return self._pod

    @property
    def image(self) -> str:
        """The pod's image."""
        return self._pod.image

    @property
    def namespace(self) -> str | None:
        """The pod's namespace (``None`` until started when the context's is used)."""
        return self._pod.namespace

    @property
    def pod_name(self) -> str | None:
        """The running pod's name (``sandloop-<hex>``), once started."""
        return self._pod.pod_name

    @property
    def network(self) -> bool:
        """Whether the pod's network is left open (no deny-all policy)."""
        return self._pod.network

    @property
    def runtime_class(self) -> str | None:
        """The pod's RuntimeClass (``None``: the cluster's default)."""
        return self._pod.runtime_class

    # --- description ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "kubernetes", ...}``: every option, the workspace and kubeconfig as given.

        Raises:
            ConfigError: the sandbox was given a ``limiter=`` (a live object of this process).
        """
        if self._limiter is not None:
            raise ConfigError("a KubernetesSandbox built with limiter= cannot be described")
        return {"kind": "kubernetes", **self._given}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """A new, unstarted ``KubernetesSandbox`` from :meth:`to_dict` output."""
        options = options_of(data, "kubernetes", cls)
        if "limiter" in options:
            raise ConfigError("a 'kubernetes' sandbox description cannot give limiter")
        return build_from(cls, options)

    def __repr__(self) -> str:
        where = f", workspace={str(self.workspace)!r}" if self.workspace else ""
        return f"KubernetesSandbox({self.image!r}{where})"


def _parse_user(user: str) -> tuple[int, int]:
    uid, _, gid = str(user).partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        raise ConfigError(f"user must be 'uid:gid' in numbers (a pod runs as ids), not {user!r}")
    if int(uid) == 0:
        raise ConfigError(
            "a KubernetesSandbox never runs as root (uid 0): the pod has runAsNonRoot"
        )
    return int(uid), int(gid or uid)

"""The Kubernetes API boundary: configuration, error translation, and the calls sandloop makes.

Part of ``sandboxes.kubernetes``, the only module that imports the ``kubernetes`` client's
REST side. :func:`load_configuration` reads a kubeconfig (``kubeconfig=``, ``$KUBECONFIG``,
``~/.kube/config``) or the in-cluster service account; :func:`api_errors` turns the client's
exceptions into ours (an HTTP answer is a :class:`SandboxEngineError` with its status and the
server's message, no answer is :class:`SandboxUnavailableError`); :class:`Cluster` creates,
waits for, lists and deletes sandbox pods and their policies. Every call here blocks: the
sandbox runs them in worker threads. Bodies are sent with ``fieldValidation=Strict``, so a field
the server does not know is an error, not a silently dropped hardening option.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config
import kubernetes.watch
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from sandloop.errors import (
    ConfigError,
    SandboxEngineError,
    SandboxStartError,
    SandboxUnavailableError,
)
from sandloop.sandboxes.kubernetes._podspec import LABEL

__all__ = ("Cluster", "api_errors", "context_namespace", "load_configuration")

# The client's typing differs between its versions (and is partial): used as untyped objects.
_config: Any = kubernetes.config
_watch: Any = kubernetes.watch

#: Container waiting reasons after which a pod will not start without a change of spec.
_HOPELESS = {
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "CrashLoopBackOff",
}


def load_configuration(
    kubeconfig: str | None, context: str | None
) -> kubernetes.client.Configuration:
    """The client configuration: ``kubeconfig`` (or ``$KUBECONFIG``, ``~/.kube/config``) when
    one exists, else the in-cluster service account.

    Raises:
        ConfigError: No configuration could be found or read.
    """
    configuration = kubernetes.client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
    try:
        if kubeconfig is not None or Path(path.split(os.pathsep)[0]).is_file():
            _config.load_kube_config(
                config_file=path, context=context, client_configuration=configuration
            )
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            _config.load_incluster_config(client_configuration=configuration)
        else:
            raise ConfigError(
                "no Kubernetes configuration: give kubeconfig=, set KUBECONFIG, create "
                "~/.kube/config, or run inside a cluster"
            )
    except (ConfigException, OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the Kubernetes configuration {path}: {exc}") from exc
    return configuration


def context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace of the kubeconfig's context, or the in-cluster one, else ``default``."""
    try:
        contexts, current = _config.list_kube_config_contexts(config_file=kubeconfig)
        chosen = (
            next((c for c in contexts if c["name"] == context), current) if context else current
        )
        return str((chosen.get("context") or {}).get("namespace") or "default")
    except (ConfigException, OSError, ValueError, TypeError):
        pass
    path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    return path.read_text().strip() if path.is_file() else "default"


def _server_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return str(exc.reason or exc.body or "no message")
    return str(body.get("message") or body) if isinstance(body, dict) else str(body)


@contextmanager
def api_errors(action: str) -> Iterator[None]:
    """Translate the client's exceptions into sandloop errors, chained."""
    try:
        yield
    except ApiException as exc:
        if not exc.status:
            raise SandboxUnavailableError(
                f"{action}: the Kubernetes API did not answer ({exc.reason})"
            ) from exc
        message = f"{action}: {_server_message(exc)} (HTTP {exc.status})"
        raise SandboxEngineError(message, status=int(exc.status)) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise SandboxUnavailableError(f"{action}: cannot reach the Kubernetes API ({exc})") from exc


def _describe(pod: Any) -> str:
    """One line on a pod's state: phase, reason, the container's state."""
    status = pod.status
    parts = [f"phase {status.phase}"]
    if status.reason or status.message:
        parts.append(f"{status.reason or ''} {status.message or ''}".strip())
    for condition in status.conditions or ():
        if condition.status == "False" and condition.reason:
            parts.append(f"{condition.type}: {condition.reason} {condition.message or ''}".strip())
    for entry in status.container_statuses or ():
        state = entry.state
        if state.waiting is not None:
            parts.append(f"waiting: {state.waiting.reason} {state.waiting.message or ''}".strip())
        elif state.terminated is not None:
            term = state.terminated
            parts.append(f"terminated: exit code {term.exit_code} {term.reason or ''}".strip())
    return "; ".join(parts)


class Cluster:
    """The API calls of sandbox pods, over one ``ApiClient`` (blocking calls)."""

    def __init__(self, configuration: kubernetes.client.Configuration) -> None:
        self.configuration = configuration
        self.api_client: Any = kubernetes.client.ApiClient(configuration)
        self.core: Any = kubernetes.client.CoreV1Api(self.api_client)
        self.networking: Any = kubernetes.client.NetworkingV1Api(self.api_client)

    def close(self) -> None:
        self.api_client.close()

    def create_policy(self, namespace: str, manifest: dict[str, Any]) -> None:
        with api_errors("creating the network policy"):
            self.networking.create_namespaced_network_policy(
                namespace, manifest, field_validation="Strict"
            )

    def create_pod(self, namespace: str, manifest: dict[str, Any]) -> None:
        with api_errors("creating the pod"):
            self.core.create_namespaced_pod(namespace, manifest, field_validation="Strict")

    def wait_running(self, namespace: str, name: str, timeout: float) -> None:
        """Wait (a watch) until the pod's container runs.

        Raises:
            SandboxStartError: The pod will not run (its image cannot be pulled, its user is
                root, it ended) or is not running after ``timeout`` seconds; the message holds
                its state and events.
        """
        deadline = time.monotonic() + timeout
        with api_errors("waiting for the pod"):
            pod = self.core.read_namespaced_pod(name, namespace)
            watch = _watch.Watch()
            while not self._running(pod, namespace):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SandboxStartError(
                        f"pod {namespace}/{name} was not running after {timeout:g} s "
                        f"({_describe(pod)}){self.events(namespace, name)}"
                    )
                stream = watch.stream(
                    self.core.list_namespaced_pod,
                    namespace,
                    field_selector=f"metadata.name={name}",
                    resource_version=pod.metadata.resource_version,
                    timeout_seconds=max(1, int(min(left, 10))),
                )
                try:
                    for event in stream:
                        if event["type"] == "DELETED":
                            raise SandboxStartError(
                                f"pod {namespace}/{name} was deleted while starting"
                            )
                        pod = event["object"]
                        if self._running(pod, namespace):
                            break
                finally:
                    stream.close()  # its response and connection now, not when collected

    def _running(self, pod: Any, namespace: str) -> bool:
        status = pod.status
        name = pod.metadata.name
        if status.phase in ("Succeeded", "Failed"):
            raise SandboxStartError(
                f"pod {namespace}/{name} ended before the runner started ({_describe(pod)})"
                f"{self.events(namespace, name)}"
            )
        for entry in status.container_statuses or ():
            waiting = entry.state.waiting
            if waiting is not None and waiting.reason in _HOPELESS:
                raise SandboxStartError(
                    f"pod {namespace}/{name} cannot start ({_describe(pod)})"
                    f"{self.events(namespace, name)}"
                )
            if entry.state.running is not None:
                return True
        return False

    def events(self, namespace: str, name: str) -> str:
        """``"; events: ..."`` for the pod (empty when there are none or they cannot be read)."""
        try:
            listing = self.core.list_namespaced_event(
                namespace, field_selector=f"involvedObject.name={name}"
            )
        except (ApiException, urllib3.exceptions.HTTPError, OSError):
            return ""
        said = [f"{e.reason}: {e.message}" for e in listing.items[-8:]]
        return f"; events: {' | '.join(said)}" if said else ""

    def delete_pod(self, namespace: str, name: str) -> None:
        """Delete the pod at once (no grace period); one already gone is not an error."""
        with api_errors(f"deleting pod {namespace}/{name}"):
            try:
                self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def delete_policy(self, namespace: str, name: str) -> None:
        with api_errors(f"deleting network policy {namespace}/{name}"):
            try:
                self.networking.delete_namespaced_network_policy(name, namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def list_sandboxes(self, namespace: str | None) -> list[dict[str, Any]]:
        """Every pod carrying sandloop's label (in ``namespace``, or all namespaces)."""
        with api_errors("listing pods"):
            if namespace is None:
                pods = self.core.list_pod_for_all_namespaces(label_selector=LABEL).items
            else:
                pods = self.core.list_namespaced_pod(namespace, label_selector=LABEL).items
        rows = []
        pod: Any
        for pod in pods:
            labels = pod.metadata.labels or {}
            created = pod.metadata.creation_timestamp
            rows.append(
                {
                    "id": pod.metadata.name,
                    "namespace": pod.metadata.namespace,
                    "image": pod.spec.containers[0].image,
                    "status": str(pod.status.phase or "?"),
                    "created": created.isoformat() if created is not None else "",
                    "host": labels.get("org.sandloop.host", ""),
                    "host_pid": labels.get("org.sandloop.host-pid", ""),
                }
            )
        return rows

    def list_policies(self, namespace: str | None) -> list[dict[str, str]]:
        """Every network policy carrying sandloop's label: namespace, name (``id``), owner."""
        with api_errors("listing network policies"):
            if namespace is None:
                found = self.networking.list_network_policy_for_all_namespaces(label_selector=LABEL)
            else:
                found = self.networking.list_namespaced_network_policy(
                    namespace, label_selector=LABEL
                )
        policies: list[Any] = found.items
        return [
            {
                "namespace": p.metadata.namespace,
                "id": p.metadata.name,
                "host": (p.metadata.labels or {}).get("org.sandloop.host", ""),
                "host_pid": (p.metadata.labels or {}).get("org.sandloop.host-pid", ""),
            }
            for p in policies
        ]

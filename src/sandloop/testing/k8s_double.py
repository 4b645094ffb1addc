"""A Kubernetes API **double** for tests: a small API server on 127.0.0.1 whose pods are real
local Docker containers. It is not Kubernetes.

:class:`KubernetesApiDouble` serves the calls the official ``kubernetes`` Python client makes
for ``KubernetesSandbox`` and ``sandloop sandboxes ls/prune``, over real HTTP:

- core/v1 pods: create, get, delete, list and watch (``labelSelector``, ``fieldSelector`` on
  ``metadata.name``, ``resourceVersion``, ``timeoutSeconds``), in one namespace or all;
- pods/attach over the websocket protocol the client negotiates (``v5.channel.k8s.io``,
  ``v4.channel.k8s.io`` or ``channel.k8s.io``: each binary message prefixed by its channel
  byte, 0 stdin, 1 stdout, 2 stderr, 3 the exit ``Status``), joined to ``docker attach``;
- networking.k8s.io/v1 network policies: create, get, delete, list;
- core/v1 events of a namespace (what the double's "kubelet" reported about each pod).

It refuses what a real API server refuses for those calls, with ``Status`` bodies shaped like
the server's: a wrongly typed field (400 ``BadRequest``), an unknown field under
``fieldValidation=Strict`` (400; ``Warn``, the default, answers with a ``Warning`` header), a
pod without containers or with a bad name or label (422 ``Invalid``), a missing pod, policy or
namespace (404 ``NotFound``), a duplicate name (409 ``AlreadyExists``), an unknown runtime class
(403 ``Forbidden``), a request without the bearer token it was given (401).

Each pod is one container, created from the pod's image, which must already be in the local
engine (the double pulls nothing: a missing image leaves the pod ``Pending`` with
``ErrImagePull``). The container gets the pod's command, user and group, dropped and added
capabilities, ``no-new-privileges`` (``allowPrivilegeEscalation: false``), the engine's default
seccomp profile, a read-only root when asked, its CPU and memory limits, its environment, stdin
held open (closed when the first attach ends, for ``stdinOnce``), and the network ``none`` when
a deny-all policy already selects the pod (else the default bridge). ``runAsNonRoot`` with a
root user leaves the pod in ``CreateContainerConfigError``; ``activeDeadlineSeconds`` fails the
pod with ``DeadlineExceeded`` and removes its container. Every container carries the label
``org.sandloop.k8s-double=<id>`` and the pod's labels under ``org.sandloop.k8s-double.label.``,
and the double removes its containers when it stops.

With ``tls_folder=`` it serves HTTPS with a throwaway CA and requires a client certificate
(``_k8s_tls``). With ``schedulable`` cleared, new pods stay ``Pending`` and unschedulable (a full
cluster) until it is set again.

What it does **not** model: real scheduling, nodes, quotas, admission beyond the runtime class,
authorization (one token, full access), graceful termination (a delete removes the container at
once), ephemeral-storage limits, service accounts (nothing is ever mounted), network policies
with rules (only "deny all egress" changes anything, and only for pods created after it),
``generateName``, updates and patches, exec and port-forward, image pulls, restarts
(``restartPolicy`` is stored, never acted on), and every field not in ``_k8s_schema`` (refused as
unknown: stricter than a real server). Passing against it shows sandloop speaks the protocol
and cleans up; it does not show a cluster accepts the pod.

    with KubernetesApiDouble() as cluster:
        sandbox = KubernetesSandbox(kubeconfig=cluster.write_kubeconfig(tmp_path / "kubeconfig"))
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from copy import deepcopy
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import docker
import docker.errors

from sandloop.testing import _k8s_schema as schema
from sandloop.testing._k8s_http import ApiHandler
from sandloop.testing._k8s_pods import DOUBLE_LABEL, PodRunner, container_options
from sandloop.testing._k8s_pods import now as _now
from sandloop.testing._k8s_schema import ApiRefusal, status
from sandloop.testing._k8s_tls import TLSFront

__all__ = ("DOUBLE_LABEL", "KubernetesApiDouble")


class KubernetesApiDouble:
    """A Kubernetes API double on 127.0.0.1 (see the module docstring for what it models).

    Args:
        docker_client: The engine the pods run on (default: ``docker.from_env()``).
        namespaces: The namespaces that exist.
        token: The bearer token every request must carry (default: a random one, in the
            kubeconfig :meth:`write_kubeconfig` writes).
        runtime_classes: RuntimeClass name to the engine's OCI runtime, e.g.
            ``{"gvisor": "runsc"}``.
        tls_folder: Serve HTTPS in front (``url``), as a real API server does, with a throwaway
            CA made in this folder and a client certificate required (both in the kubeconfig
            :meth:`write_kubeconfig` writes).
    """

    def __init__(
        self,
        docker_client: docker.DockerClient | None = None,
        *,
        namespaces: tuple[str, ...] = ("default",),
        token: str | None = None,
        runtime_classes: dict[str, str] | None = None,
        tls_folder: Path | None = None,
    ) -> None:
        self.id = secrets.token_hex(6)
        self._tls_folder = tls_folder
        self._tls: TLSFront | None = None
        self.token = token if token is not None else secrets.token_urlsafe(16)
        self.namespaces = set(namespaces)
        self.runtime_classes = dict(runtime_classes or {})
        self._docker = docker_client
        self._own_docker = docker_client is None
        self._cond = threading.Condition()
        self._version = 1
        self._log: list[tuple[int, str, str, dict[str, Any]]] = []  # rv, kind, type, object
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self._runners: dict[tuple[str, str], PodRunner] = {}
        self.policies: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        #: Cleared: new pods stay Pending, unschedulable (a full cluster), until it is set.
        self.schedulable = threading.Event()
        self.schedulable.set()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "the double is not started"
        if self._tls is not None:
            return f"https://127.0.0.1:{self._tls.port}"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        if self._docker is None:
            self._docker = docker.from_env(timeout=60)
        server = ThreadingHTTPServer(("127.0.0.1", 0), ApiHandler)
        server.daemon_threads = True
        server.double = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        if self._tls_folder is not None:
            # The plain port stays on 127.0.0.1 behind it (the front relays to it).
            self._tls = TLSFront(self._tls_folder, int(server.server_address[1]))
            self._tls.start()

    def stop(self) -> None:
        """Stop serving and remove every container the double created."""
        if self._tls is not None:
            self._tls.stop()
            self._tls = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._cond:
            runners = list(self._runners.values())
            self._runners.clear()
            self._cond.notify_all()
        for runner in runners:
            runner.remove()
        if self._docker is not None:
            for container in self.containers():
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
            if self._own_docker:
                self._docker.close()
                self._docker = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def containers(self) -> list[Any]:
        """The containers of this double's pods still in the engine."""
        assert self._docker is not None
        return list(
            self._docker.containers.list(all=True, filters={"label": f"{DOUBLE_LABEL}={self.id}"})
        )

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default") -> Path:
        """Write a kubeconfig for this double (its URL and token, with TLS its CA and a
        client certificate) to ``path``."""
        cluster: dict[str, str] = {"server": self.url}
        user: dict[str, str] = {"token": self.token}
        if self._tls is not None:
            cert, key = self._tls.client_cert
            cluster["certificate-authority"] = str(self._tls.ca)
            user.update({"client-certificate": str(cert), "client-key": str(key)})
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "double", "cluster": cluster}],
            "users": [{"name": "double", "user": user}],
            "contexts": [
                {
                    "name": "double",
                    "context": {"cluster": "double", "user": "double", "namespace": namespace},
                }
            ],
            "current-context": "double",
        }
        target = Path(path)
        target.write_text(json.dumps(config, indent=2))  # JSON is YAML
        target.chmod(0o600)
        return target

    # --- state ---------------------------------------------------------------------------

    def _bump(self, kind: str, event: str, obj: dict[str, Any]) -> None:
        """Record a change (the condition's lock held): a new resourceVersion, a watch event."""
        self._version += 1
        obj["metadata"]["resourceVersion"] = str(self._version)
        self._log.append((self._version, kind, event, _copy_of(obj)))
        del self._log[:-2000]
        self._cond.notify_all()

    def pod_view(self, key: tuple[str, str]) -> dict[str, Any]:
        pod = self.pods[key]
        runner = self._runners.get(key)
        if runner is not None:
            pod["status"] = _copy_of(runner.status)
        return pod

    def _event(self, pod: dict[str, Any], kind: str, reason: str, message: str) -> None:
        meta = pod["metadata"]
        with self._cond:
            self.events.append(
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {
                        "name": f"{meta['name']}.{secrets.token_hex(4)}",
                        "namespace": meta["namespace"],
                    },
                    "involvedObject": {
                        "kind": "Pod",
                        "name": meta["name"],
                        "namespace": meta["namespace"],
                        "uid": meta["uid"],
                    },
                    "type": kind,
                    "reason": reason,
                    "message": message,
                    "count": 1,
                    "firstTimestamp": _now(),
                    "lastTimestamp": _now(),
                }
            )

    def _changed(self, key: tuple[str, str]) -> Callable[[], None]:
        def changed() -> None:
            with self._cond:
                if key in self.pods:
                    self._bump("pods", "MODIFIED", self.pod_view(key))

        return changed

    def check_namespace(self, ns: str) -> None:
        """Refuse (404) a namespace that does not exist."""
        if ns not in self.namespaces:
            raise ApiRefusal(
                status(404, "NotFound", f'namespaces "{ns}" not found', name=ns, kind="namespaces")
            )

    def _isolated(self, ns: str, labels: dict[str, str]) -> bool:
        """Whether a deny-all-egress policy in ``ns`` selects a pod with ``labels``."""
        for (policy_ns, _), policy in self.policies.items():
            spec = policy["spec"]
            wanted = (spec.get("podSelector") or {}).get("matchLabels") or {}
            if (
                policy_ns != ns
                or spec.get("egress")
                or "Egress" not in (spec.get("policyTypes") or [])
            ):
                continue
            if all(labels.get(k) == v for k, v in wanted.items()):
                return True
        return False

    # --- handlers (each returns (status, body, headers)) ---------------------------------------

    def create_pod(self, ns: str, body: Any, validation: str) -> tuple[int, Any, list[str]]:
        self.check_namespace(ns)
        pod, warnings = schema.decode(body, schema.POD, "Pod", validation)
        pod.setdefault("metadata", {})
        schema.validate_pod(pod)
        meta = pod["metadata"]
        if meta.get("namespace", ns) != ns:
            message = (
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
            raise ApiRefusal(status(400, "BadRequest", message))
        runtime_class = pod["spec"].get("runtimeClassName")
        if runtime_class and runtime_class not in self.runtime_classes:
            message = f'pod rejected: RuntimeClass "{runtime_class}" not found'
            raise ApiRefusal(status(403, "Forbidden", message, name=meta["name"], kind="pods"))
        key = (ns, meta["name"])
        with self._cond:
            if key in self.pods:
                raise ApiRefusal(
                    status(
                        409,
                        "AlreadyExists",
                        f'pods "{key[1]}" already exists',
                        name=key[1],
                        kind="pods",
                    )
                )
            meta.update(namespace=ns, uid=secrets.token_hex(16), creationTimestamp=_now())
            isolated = self._isolated(ns, meta.get("labels") or {})
            assert self._docker is not None
            options = container_options(
                pod, double_id=self.id, isolated=isolated, runtimes=self.runtime_classes
            )
            runner = PodRunner(self._docker, pod, options, self._changed(key), self.schedulable)
            self.pods[key], self._runners[key] = pod, runner
            self._bump("pods", "ADDED", self.pod_view(key))
            view = _copy_of(self.pod_view(key))
        runner.start(lambda kind, reason, message: self._event(pod, kind, reason, message))
        return 201, view, warnings

    def get_pod(self, ns: str, name: str) -> dict[str, Any]:
        with self._cond:
            if (ns, name) not in self.pods:
                raise _not_found("pods", name)
            return _copy_of(self.pod_view((ns, name)))

    def delete_pod(self, ns: str, name: str) -> dict[str, Any]:
        with self._cond:
            if (ns, name) not in self.pods:
                raise _not_found("pods", name)
            view = self.pod_view((ns, name))
            view["metadata"]["deletionTimestamp"] = _now()
            self._bump("pods", "DELETED", view)
            del self.pods[(ns, name)]
            runner = self._runners.pop((ns, name))
        runner.remove()
        return _copy_of(view)

    def list_objects(self, kind: str, ns: str | None, selector: str, field: str) -> dict[str, Any]:
        terms = schema.parse_selector(selector)
        name = _field_name(field)
        with self._cond:
            store = self.pods if kind == "pods" else self.policies
            items = [
                _copy_of(self.pod_view(key) if kind == "pods" else obj)
                for key, obj in store.items()
                if (ns is None or key[0] == ns)
                and (name is None or key[1] == name)
                and schema.matches_selector(obj["metadata"].get("labels") or {}, terms)
            ]
            version = str(self._version)
        list_kind = "PodList" if kind == "pods" else "NetworkPolicyList"
        api = "v1" if kind == "pods" else "networking.k8s.io/v1"
        return {
            "kind": list_kind,
            "apiVersion": api,
            "metadata": {"resourceVersion": version},
            "items": items,
        }

    def watch(
        self,
        kind: str,
        ns: str | None,
        query: dict[str, str],
        emit: Callable[[dict[str, Any]], None],
    ) -> None:
        """Send watch events (``emit``) until ``timeoutSeconds`` pass or the double stops."""
        terms = schema.parse_selector(query.get("labelSelector", ""))
        name = _field_name(query.get("fieldSelector", ""))
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        since = int(query.get("resourceVersion") or 0)

        def wanted(obj: dict[str, Any]) -> bool:
            meta = obj["metadata"]
            return (
                (ns is None or meta["namespace"] == ns)
                and (name is None or meta["name"] == name)
                and schema.matches_selector(meta.get("labels") or {}, terms)
            )

        if not since:
            listing = self.list_objects(
                kind, ns, query.get("labelSelector", ""), query.get("fieldSelector", "")
            )
            for item in listing["items"]:
                emit({"type": "ADDED", "object": item})
            since = int(listing["metadata"]["resourceVersion"])
        while self._server is not None:
            with self._cond:
                fresh = [(rv, ev, obj) for rv, k, ev, obj in self._log if rv > since and k == kind]
                if not fresh:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    self._cond.wait(min(left, 0.5))
                    continue
            for rv, event, obj in fresh:
                since = rv
                if wanted(obj):
                    emit({"type": event, "object": obj})

    def attach(self, ns: str, name: str) -> Any:
        """The running container of a pod, for an attach (400 when the pod is not running)."""
        with self._cond:
            if (ns, name) not in self.pods:
                raise _not_found("pods", name)
            runner = self._runners[(ns, name)]
            if runner.status.get("phase") != "Running" or runner.container is None:
                message = f"pod {name} is not running (phase {runner.status.get('phase')})"
                raise ApiRefusal(status(400, "BadRequest", message))
            return runner.container

    def create_policy(self, ns: str, body: Any, validation: str) -> tuple[int, Any, list[str]]:
        self.check_namespace(ns)
        policy, warnings = schema.decode(body, schema.NETWORK_POLICY, "NetworkPolicy", validation)
        policy.setdefault("metadata", {})
        schema.validate_network_policy(policy)
        key = (ns, policy["metadata"]["name"])
        with self._cond:
            if key in self.policies:
                message = f'networkpolicies.networking.k8s.io "{key[1]}" already exists'
                raise ApiRefusal(
                    status(
                        409,
                        "AlreadyExists",
                        message,
                        name=key[1],
                        group="networking.k8s.io",
                        kind="networkpolicies",
                    )
                )
            policy["metadata"].update(
                namespace=ns, uid=secrets.token_hex(16), creationTimestamp=_now()
            )
            self.policies[key] = policy
            self._bump("networkpolicies", "ADDED", policy)
            return 201, _copy_of(policy), warnings

    def get_policy(self, ns: str, name: str) -> dict[str, Any]:
        with self._cond:
            if (ns, name) not in self.policies:
                raise _not_found("networkpolicies", name, group="networking.k8s.io")
            return _copy_of(self.policies[(ns, name)])

    def delete_policy(self, ns: str, name: str) -> dict[str, Any]:
        with self._cond:
            if (ns, name) not in self.policies:
                raise _not_found("networkpolicies", name, group="networking.k8s.io")
            policy = self.policies.pop((ns, name))
            self._bump("networkpolicies", "DELETED", policy)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": "networking.k8s.io",
                "kind": "networkpolicies",
                "uid": policy["metadata"]["uid"],
            },
        }

    def list_events(self, ns: str, field: str) -> dict[str, Any]:
        self.check_namespace(ns)
        wanted = _field_name(field, key="involvedObject.name")
        with self._cond:
            items = [
                e
                for e in self.events
                if e["metadata"]["namespace"] == ns
                and (wanted is None or e["involvedObject"]["name"] == wanted)
            ]
            return {
                "kind": "EventList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self._version)},
                "items": items,
            }


def _copy_of(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy (what is served or logged never changes with the stored object)."""
    return deepcopy(obj)


def _not_found(kind: str, name: str, group: str = "") -> ApiRefusal:
    what = f"{kind}.{group}" if group else kind
    details = {"name": name, "kind": kind, **({"group": group} if group else {})}
    return ApiRefusal(status(404, "NotFound", f'{what} "{name}" not found', **details))


def _field_name(selector: str, *, key: str = "metadata.name") -> str | None:
    """The name a ``fieldSelector`` asks for (only ``<key>=<name>`` is modelled)."""
    if not selector:
        return None
    field, _, value = selector.replace("==", "=").partition("=")
    if field.strip() != key or not value:
        raise ApiRefusal(status(400, "BadRequest", f'field label not supported: "{field}"'))
    return value.strip()

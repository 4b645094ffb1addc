"""The Kubernetes API double's "kubelet": each pod as a real local Docker container.

Part of ``sandloop.testing`` (see ``k8s_double``). :func:`container_options` translates a
validated pod spec into ``docker create`` options (image, command, user, capabilities,
``no-new-privileges``, seccomp, read-only root, CPU and memory limits, network, runtime class),
:class:`PodRunner` starts the container, tracks its phase the way a kubelet reports it
(``Pending`` with a waiting reason, ``Running``, ``Succeeded``/``Failed``, the active deadline),
and :func:`bridge_attach` joins a pod's attach websocket to the container's attach socket.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import docker
import docker.errors
from docker.models.containers import Container

from sandloop.sandboxes.kubernetes._websocket import (
    BINARY,
    CLOSE,
    CLOSE_CHANNEL,
    PING,
    PONG,
    FrameReader,
    ProtocolError,
    encode_frame,
)

__all__ = ("DOUBLE_LABEL", "PodRunner", "bridge_attach", "container_options", "now")

#: Label on every container the double creates (value: the double's id).
DOUBLE_LABEL = "org.sandloop.k8s-double"
_CREATE_KEYS = (
    "image",
    "entrypoint",
    "command",
    "stdin_open",
    "tty",
    "working_dir",
    "environment",
    "labels",
    "user",
)
_BINARY_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}
_DECIMAL_UNITS = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "m": 10**-3}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quantity(text: str | int) -> float:
    """A Kubernetes quantity (``2Gi``, ``500m``, ``1.5``) as a number."""
    raw = str(text)
    for units in (_BINARY_UNITS, _DECIMAL_UNITS):
        for suffix, factor in units.items():
            if raw.endswith(suffix):
                return float(raw[: -len(suffix)]) * factor
    return float(raw)


def container_options(
    pod: Mapping[str, Any], *, double_id: str, isolated: bool, runtimes: Mapping[str, str]
) -> dict[str, Any]:
    """``containers.create`` keyword arguments for the pod's one container.

    Args:
        isolated: A deny-all network policy selects the pod: no network at all.
        runtimes: Runtime class name to the engine's OCI runtime (``{"gvisor": "runsc"}``).
    """
    meta, spec = pod["metadata"], pod["spec"]
    container = spec["containers"][0]
    security = {**(spec.get("securityContext") or {}), **(container.get("securityContext") or {})}
    limits = (container.get("resources") or {}).get("limits") or {}
    user = security.get("runAsUser")
    group = security.get("runAsGroup")
    options: dict[str, Any] = {
        "image": container["image"],
        "entrypoint": container.get("command"),
        "command": container.get("args") or [],
        "stdin_open": bool(container.get("stdin")),
        "tty": bool(container.get("tty")),
        "working_dir": container.get("workingDir"),
        "environment": {e["name"]: e.get("value", "") for e in container.get("env") or []},
        "labels": {
            DOUBLE_LABEL: double_id,
            f"{DOUBLE_LABEL}.pod": f"{meta['namespace']}/{meta['name']}",
            **{f"{DOUBLE_LABEL}.label.{k}": v for k, v in (meta.get("labels") or {}).items()},
        },
        "network_mode": "none" if isolated else "bridge",
        "cap_drop": list((security.get("capabilities") or {}).get("drop") or []) or None,
        "cap_add": list((security.get("capabilities") or {}).get("add") or []) or None,
        "read_only": bool(security.get("readOnlyRootFilesystem")),
        "privileged": bool(security.get("privileged")),
        "security_opt": _security_opt(security),
        "log_config": docker.types.LogConfig(type="none"),
        "init": True,
    }
    if container.get("stdinOnce"):
        options["stdin_once"] = True
    if user is not None:
        options["user"] = f"{user}:{group}" if group is not None else str(user)
    if "memory" in limits:
        options["mem_limit"] = options["memswap_limit"] = int(quantity(limits["memory"]))
    if "cpu" in limits:
        options["nano_cpus"] = int(quantity(limits["cpu"]) * 1e9)
    runtime_class = spec.get("runtimeClassName")
    if runtime_class:
        options["runtime"] = runtimes[runtime_class]
    return options


def _security_opt(security: Mapping[str, Any]) -> list[str]:
    opts = []
    if security.get("allowPrivilegeEscalation") is False:
        opts.append("no-new-privileges")
    profile = (security.get("seccompProfile") or {}).get("type")
    if profile == "Unconfined":
        opts.append("seccomp=unconfined")
    return opts  # RuntimeDefault: the engine's default profile, applied without an option


class PodRunner:
    """One pod's container and the status a kubelet would report for it.

    Args:
        on_change: Called (with no lock held) whenever the status changes.
    """

    def __init__(
        self,
        client: docker.DockerClient,
        pod: dict[str, Any],
        options: dict[str, Any],
        on_change: Callable[[], None],
        schedulable: threading.Event,
    ) -> None:
        self.client, self.pod, self.options = client, pod, options
        self._schedulable = schedulable
        self.container: Container | None = None
        self._on_change = on_change
        self._deleted = threading.Event()
        self._lock = threading.Lock()
        self.status: dict[str, Any] = {"phase": "Pending", "conditions": []}
        self._waiting("ContainerCreating", "")

    def _waiting(self, reason: str, message: str) -> None:
        name = self.pod["spec"]["containers"][0]["name"]
        waiting = {"reason": reason, **({"message": message} if message else {})}
        self.status["containerStatuses"] = [
            {
                "name": name,
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": waiting},
                "image": self.options["image"],
                "imageID": "",
            }
        ]

    def _set(self, phase: str, state: dict[str, Any], **extra: Any) -> None:
        self.status.update(phase=phase, **extra)
        entry = self.status["containerStatuses"][0]
        entry.update(state=state, ready=phase == "Running")
        self._on_change()

    def start(self, events: Callable[[str, str, str], None]) -> None:
        """Create and start the container in a thread; report what happens through ``events``
        (``type, reason, message``) and the status."""
        threading.Thread(target=self._run, args=(events,), daemon=True).start()

    def _run(self, events: Callable[[str, str, str], None]) -> None:
        if not self._schedulable.is_set():
            message = "0/1 nodes are available: the double's node is cordoned"
            self.status["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                }
            ]
            self.status.pop("containerStatuses", None)
            events("Warning", "FailedScheduling", message)
            self._on_change()
            while not self._schedulable.wait(0.1):
                if self._deleted.is_set():
                    return
            self._waiting("ContainerCreating", "")
        self.status["conditions"] = [{"type": "PodScheduled", "status": "True"}]
        events("Normal", "Scheduled", "Successfully assigned to the double's node")
        refused = self._refuse()
        if refused is not None:
            reason, message = refused
            self._waiting(reason, message)
            events("Warning", "Failed", message)
            self._on_change()
            if reason == "ErrImagePull":  # as a kubelet does: it backs off, and says so
                time.sleep(0.2)
                self._waiting(
                    "ImagePullBackOff", f'Back-off pulling image "{self.options["image"]}"'
                )
                events("Normal", "BackOff", f'Back-off pulling image "{self.options["image"]}"')
                self._on_change()
            return
        try:
            with self._lock:  # a delete meanwhile: remove() sees the container, or we see it
                if self._deleted.is_set():
                    return
                self.container = self._create()
            self.container.start()
        except Exception as exc:  # whatever the engine says, the pod reports it and waits
            self._waiting("RunContainerError", str(exc))
            events("Warning", "Failed", f"Error: {exc}")
            self._on_change()
            return
        events("Normal", "Started", "Started container")
        self._set("Running", {"running": {"startedAt": now()}}, startTime=now())
        self._watch_exit()

    def _create(self) -> Container:
        """``docker create`` through the low-level API (the only one that takes
        ``stdin_once``)."""
        options = dict(self.options)
        api: Any = self.client.api
        create = {key: options.pop(key) for key in _CREATE_KEYS if key in options}
        stdin_once = options.pop("stdin_once", False)
        config = api.create_container_config(
            host_config=api.create_host_config(**options), **create
        )
        config["StdinOnce"] = stdin_once
        created = api.create_container_from_config(config)
        return self.client.containers.get(created["Id"])

    def _refuse(self) -> tuple[str, str] | None:
        """Why the kubelet would not start this container (image missing, root user)."""
        image = self.options["image"]
        try:
            found = self.client.images.get(image)
        except docker.errors.ImageNotFound:
            message = f'Failed to pull image "{image}": not found (the double pulls nothing)'
            return "ErrImagePull", message
        security = self.pod["spec"].get("securityContext") or {}
        security = {**security, **(self.pod["spec"]["containers"][0].get("securityContext") or {})}
        if security.get("runAsNonRoot"):
            user = self.options.get("user") or str(found.attrs["Config"].get("User") or "0")
            if user.partition(":")[0] in ("", "0", "root"):
                message = "container has runAsNonRoot and image will run as root"
                return "CreateContainerConfigError", message
        return None

    def _watch_exit(self) -> None:
        assert self.container is not None
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        timer = None
        if deadline:
            timer = threading.Timer(float(deadline), self._deadline_passed)
            timer.daemon = True
            timer.start()
        try:
            code = int(self.container.wait().get("StatusCode", -1))
        except docker.errors.DockerException:
            code = -1
        if timer is not None:
            timer.cancel()
        if self._deleted.is_set() or self.status.get("reason") == "DeadlineExceeded":
            return
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}
        self._set("Succeeded" if code == 0 else "Failed", {"terminated": terminated})

    def _deadline_passed(self) -> None:
        message = "Pod was active on the node longer than the specified deadline"
        self.remove()  # first: a pod seen failed has no container left
        self._set(
            "Failed",
            {"terminated": {"exitCode": 137, "reason": "Error"}},
            reason="DeadlineExceeded",
            message=message,
        )

    def remove(self) -> None:
        """Remove the container (now or, when it is still being created, once it exists)."""
        with self._lock:
            self._deleted.set()
            container = self.container
        if container is not None:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


def bridge_attach(ws: socket.socket, container: Container, protocol: str) -> None:
    """Join an accepted attach websocket to the container's stdin/stdout/stderr until either
    side ends; then send the exit status on the error channel and close the websocket."""
    api: Any = cast(Any, container.client).api
    raw = api.attach_socket(
        container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
    )
    engine: socket.socket = getattr(raw, "_sock", raw)
    lock = threading.Lock()

    def send(opcode: int, payload: bytes) -> None:
        with lock:
            ws.sendall(encode_frame(opcode, payload, masked=False))

    for channel in (1, 2, 3):  # the server announces each channel it will write to
        send(BINARY, bytes([channel]))
    reader = threading.Thread(target=_client_to_engine, args=(ws, engine, send, protocol))
    reader.daemon = True
    reader.start()
    try:
        _engine_to_client(engine, send)
        container.reload()
        code = int(container.attrs.get("State", {}).get("ExitCode") or 0)
        if protocol != "channel.k8s.io":
            send(BINARY, bytes([3]) + json.dumps(_exit_status(code)).encode())
        send(CLOSE, struct.pack(">H", 1000))
    except (OSError, docker.errors.DockerException):
        pass
    finally:
        with contextlib.suppress(OSError):
            engine.shutdown(socket.SHUT_RDWR)
        engine.close()
        raw.close()


def _exit_status(code: int) -> dict[str, Any]:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def _engine_to_client(engine: socket.socket, send: Callable[[int, bytes], None]) -> None:
    buf = bytearray()
    while True:
        chunk = engine.recv(262144)
        if not chunk:
            return
        buf += chunk
        while len(buf) >= 8:
            kind, size = buf[0], struct.unpack_from(">I", buf, 4)[0]
            if len(buf) < 8 + size:
                break
            payload = bytes(buf[8 : 8 + size])
            del buf[: 8 + size]
            send(BINARY, bytes([kind]) + payload)


def _client_to_engine(
    ws: socket.socket, engine: socket.socket, send: Callable[[int, bytes], None], protocol: str
) -> None:
    reader = FrameReader(expect_masked=True)
    try:
        while True:
            chunk = ws.recv(262144)
            if not chunk:
                break
            for message in reader.feed(chunk):
                if message.opcode == CLOSE:
                    send(CLOSE, message.data[:2])
                    raise EOFError
                if message.opcode == PING:
                    send(PONG, message.data)
                elif message.opcode != PONG and message.data:
                    _to_stdin(engine, message.data, protocol)
    except (OSError, EOFError, ProtocolError):
        pass
    # The client went away: the container's stdin ends (stdinOnce), the runner exits.
    with contextlib.suppress(OSError):
        engine.shutdown(socket.SHUT_RDWR)


def _to_stdin(engine: socket.socket, data: bytes, protocol: str) -> None:
    channel, payload = data[0], data[1:]
    if channel == CLOSE_CHANNEL and protocol == "v5.channel.k8s.io":
        if payload[:1] == b"\x00":
            engine.shutdown(socket.SHUT_WR)
        return
    if channel == 0 and payload:
        engine.sendall(payload)

"""The Kubernetes API double's HTTP side: requests in, ``Status`` bodies, watches, upgrades.

Part of ``sandloop.testing`` (see ``k8s_double``): :class:`ApiHandler` checks the bearer token,
routes the request (``_k8s_routes``), calls the double, and answers with JSON (with ``Warning``
headers for dropped fields), a chunked watch stream, or a websocket upgrade joined to the pod's
container (``_k8s_pods.bridge_attach``).
"""

from __future__ import annotations

import json
import socket
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sandloop.sandboxes.kubernetes._websocket import CHANNEL_PROTOCOLS, accept_key
from sandloop.testing._k8s_pods import bridge_attach
from sandloop.testing._k8s_routes import Route, route
from sandloop.testing._k8s_schema import ApiRefusal, status

if TYPE_CHECKING:
    from sandloop.testing.k8s_double import KubernetesApiDouble

__all__ = ("ApiHandler",)


class ApiHandler(BaseHTTPRequestHandler):
    """One connection to the double: REST calls as JSON, watches chunked, attach upgraded."""

    protocol_version = "HTTP/1.1"
    server_version = "sandloop-k8s-double"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def double(self) -> KubernetesApiDouble:  # the server's
        return self.server.double  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self._body()
        self.double.requests.append((method, url.path))
        try:
            if self.headers.get("authorization") != f"Bearer {self.double.token}":
                raise ApiRefusal(status(401, "Unauthorized", "Unauthorized"))
            found = route(method, url.path)
            if found is None:
                raise ApiRefusal(
                    status(404, "NotFound", "the server could not find the requested resource")
                )
            self._dispatch(found, query, body)
        except ApiRefusal as refusal:
            self._json(refusal.code, refusal.body)
        except json.JSONDecodeError as exc:
            self._json(400, status(400, "BadRequest", f"the body is not JSON: {exc}"))

    def _body(self) -> Any:
        size = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(size) if size else b""
        return json.loads(raw) if raw else None

    def _dispatch(self, found: Route, query: dict[str, str], body: Any) -> None:
        d, ns, name, kind = self.double, found.namespace, found.name, found.kind
        validation = query.get("fieldValidation", "Warn")
        if found.action == "attach":
            self._attach(d.attach(ns or "", name or ""), query)
        elif found.action == "create":
            create = d.create_pod if kind == "pods" else d.create_policy
            code, obj, warnings = create(ns or "", body, validation)
            self._json(code, obj, warnings)
        elif found.action == "get":
            self._json(
                200,
                d.get_pod(ns or "", name or "")
                if kind == "pods"
                else d.get_policy(ns or "", name or ""),
            )
        elif found.action == "delete":
            self._json(
                200,
                d.delete_pod(ns or "", name or "")
                if kind == "pods"
                else d.delete_policy(ns or "", name or ""),
            )
        elif kind == "events":
            self._json(200, d.list_events(ns or "", query.get("fieldSelector", "")))
        elif query.get("watch") in ("true", "True", "1"):
            if ns is not None:
                d.check_namespace(ns)
            self._watch(kind, ns, query)
        else:
            if ns is not None:
                d.check_namespace(ns)
            self._json(
                200,
                d.list_objects(
                    kind, ns, query.get("labelSelector", ""), query.get("fieldSelector", "")
                ),
            )

    def _json(self, code: int, obj: Any, warnings: list[str] = ()) -> None:  # type: ignore[assignment]
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for warning in warnings:
            self.send_header("warning", f'299 - "{warning}"')
        self.end_headers()
        self.wfile.write(data)

    def _watch(self, kind: str, ns: str | None, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

        def emit(event: dict[str, Any]) -> None:
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        try:
            self.double.watch(kind, ns, query, emit)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def _attach(self, container: Any, query: dict[str, str]) -> None:
        if self.headers.get("upgrade", "").lower() != "websocket":
            raise ApiRefusal(status(400, "BadRequest", "Upgrade request required"))
        offered = [p.strip() for p in self.headers.get("sec-websocket-protocol", "").split(",")]
        protocol = next((p for p in CHANNEL_PROTOCOLS if p in offered), None)
        if protocol is None:
            raise ApiRefusal(status(400, "BadRequest", "no supported websocket sub-protocol"))
        if query.get("tty") in ("true", "True", "1"):
            raise ApiRefusal(status(400, "BadRequest", "tty attach is not modelled by the double"))
        self.send_response(101, "Switching Protocols")
        self.send_header("upgrade", "websocket")
        self.send_header("connection", "Upgrade")
        self.send_header(
            "sec-websocket-accept", accept_key(self.headers.get("sec-websocket-key", ""))
        )
        self.send_header("sec-websocket-protocol", protocol)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        sock: socket.socket = self.connection
        bridge_attach(sock, container, protocol)

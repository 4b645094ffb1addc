"""The Kubernetes API double's routing table: which URL paths it serves, and as what.

Part of ``sandloop.testing`` (see ``k8s_double``): the core/v1 pod and event paths and the
networking.k8s.io/v1 network-policy paths, namespaced or across all namespaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ("Route", "route")


@dataclass(frozen=True, slots=True)
class Route:
    """What a request asks for: ``action`` on ``kind`` (``pods``, ``networkpolicies``,
    ``events``), in ``namespace`` (``None``: all) and for ``name`` (``None``: a collection)."""

    action: str  # create, get, delete, list (list also serves watch=true), attach
    kind: str
    namespace: str | None
    name: str | None


_SEGMENT = r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?)"
_PATHS = [
    (re.compile(rf"^/api/v1/namespaces/{_SEGMENT}/pods/{_SEGMENT}/attach$"), "pods", "attach"),
    (re.compile(rf"^/api/v1/namespaces/{_SEGMENT}/pods/{_SEGMENT}$"), "pods", "item"),
    (re.compile(rf"^/api/v1/namespaces/{_SEGMENT}/pods$"), "pods", "collection"),
    (re.compile(r"^/api/v1/pods$"), "pods", "all"),
    (re.compile(rf"^/api/v1/namespaces/{_SEGMENT}/events$"), "events", "collection"),
    (
        re.compile(
            rf"^/apis/networking.k8s.io/v1/namespaces/{_SEGMENT}/networkpolicies/{_SEGMENT}$"
        ),
        "networkpolicies",
        "item",
    ),
    (
        re.compile(rf"^/apis/networking.k8s.io/v1/namespaces/{_SEGMENT}/networkpolicies$"),
        "networkpolicies",
        "collection",
    ),
    (re.compile(r"^/apis/networking.k8s.io/v1/networkpolicies$"), "networkpolicies", "all"),
]
_ACTIONS = {
    ("attach", "GET"): "attach",
    ("attach", "POST"): "attach",
    ("item", "GET"): "get",
    ("item", "DELETE"): "delete",
    ("collection", "GET"): "list",
    ("collection", "POST"): "create",
    ("all", "GET"): "list",
}


def route(method: str, path: str) -> Route | None:
    """The route for a request, or ``None`` (the server answers 404)."""
    for pattern, kind, shape in _PATHS:
        match = pattern.match(path)
        if match is None:
            continue
        action = _ACTIONS.get((shape, method))
        if action is None or (kind == "events" and action != "list"):
            return None
        groups = [g for i, g in enumerate(match.groups()) if i % 2 == 0]
        namespace = groups[0] if shape != "all" else None
        name = groups[1] if shape in ("item", "attach") else None
        return Route(action, kind, namespace, name)
    return None

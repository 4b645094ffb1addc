"""What the Kubernetes API double checks before it stores an object, and how it says no.

Part of ``sandloop.testing`` (see ``k8s_double``). A real API server decodes a request body
against the type's schema (a wrong type is a 400 ``BadRequest``; an unknown field is a 400 under
``fieldValidation=Strict``, a ``Warning`` header under ``Warn``, dropped under ``Ignore``) and
then validates it (a missing required value or a bad name is a 422 ``Invalid``). This module
does both for the pod and network-policy fields the double models, returns errors as
``metav1.Status`` objects shaped like the server's, and matches label selectors.

Only the fields in :data:`POD` and :data:`NETWORK_POLICY` are known: a real field that is not
listed is refused as unknown, which is stricter than a real server (the double is for the
calls sandloop makes, not a general cluster).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = (
    "NETWORK_POLICY",
    "POD",
    "ApiRefusal",
    "decode",
    "matches_selector",
    "parse_selector",
    "status",
    "validate_network_policy",
    "validate_pod",
)

# A schema is a type name, a nested dict of fields, or a one-item list (an array of that).
Schema = str | dict[str, Any] | list[Any]

_META: dict[str, Schema] = {
    "name": "string",
    "generateName": "string",
    "namespace": "string",
    "labels": "map",
    "annotations": "map",
    "uid": "string",
    "resourceVersion": "string",
    "creationTimestamp": "string",
}
_SECCOMP = {"type": "string", "localhostProfile": "string"}
_CONTAINER_SECURITY: dict[str, Schema] = {
    "allowPrivilegeEscalation": "boolean",
    "capabilities": {"add": ["string"], "drop": ["string"]},
    "privileged": "boolean",
    "readOnlyRootFilesystem": "boolean",
    "runAsNonRoot": "boolean",
    "runAsUser": "integer",
    "runAsGroup": "integer",
    "seccompProfile": _SECCOMP,
}
_CONTAINER: dict[str, Schema] = {
    "name": "string",
    "image": "string",
    "imagePullPolicy": "string",
    "command": ["string"],
    "args": ["string"],
    "workingDir": "string",
    "env": [{"name": "string", "value": "string"}],
    "stdin": "boolean",
    "stdinOnce": "boolean",
    "tty": "boolean",
    "resources": {"limits": "quantities", "requests": "quantities"},
    "securityContext": _CONTAINER_SECURITY,
}
POD: dict[str, Schema] = {
    "apiVersion": "string",
    "kind": "string",
    "metadata": _META,
    "spec": {
        "containers": [_CONTAINER],
        "restartPolicy": "string",
        "activeDeadlineSeconds": "integer",
        "terminationGracePeriodSeconds": "integer",
        "automountServiceAccountToken": "boolean",
        "enableServiceLinks": "boolean",
        "runtimeClassName": "string",
        "hostNetwork": "boolean",
        "hostPID": "boolean",
        "hostIPC": "boolean",
        "securityContext": {
            "runAsNonRoot": "boolean",
            "runAsUser": "integer",
            "runAsGroup": "integer",
            "fsGroup": "integer",
            "seccompProfile": _SECCOMP,
        },
    },
    "status": "object",
}
_SELECTOR: dict[str, Schema] = {
    "matchLabels": "map",
    "matchExpressions": [{"key": "string", "operator": "string", "values": ["string"]}],
}
NETWORK_POLICY: dict[str, Schema] = {
    "apiVersion": "string",
    "kind": "string",
    "metadata": _META,
    "spec": {
        "podSelector": _SELECTOR,
        "policyTypes": ["string"],
        "ingress": ["object"],
        "egress": ["object"],
    },
}

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_QUANTITY = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_GO_TYPES = {"string": "string", "integer": "int64", "boolean": "bool", "map": "map[string]string"}


class ApiRefusal(Exception):
    """A request the server refuses; ``body`` is its ``Status``."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["message"])
        self.body = body
        self.code = int(body["code"])


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    """A ``metav1.Status`` failure as the API server sends it."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def _type_error(path: str, want: str, value: Any) -> str:
    got = {bool: "bool", int: "number", float: "number", str: "string", list: "array"}.get(
        type(value), "object"
    )
    return f"json: cannot unmarshal {got} into Go struct field {path} of type {want}"


def _walk(value: Any, schema: Schema, path: str, unknown: list[str], bad: list[str]) -> Any:
    """``value`` checked against ``schema``; unknown fields are noted and dropped."""
    if isinstance(schema, list):
        if not isinstance(value, list):
            bad.append(_type_error(path, "[]" + _name_of(schema[0]), value))
            return value
        return [
            _walk(item, schema[0], f"{path}[{i}]", unknown, bad) for i, item in enumerate(value)
        ]
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            bad.append(_type_error(path, "object", value))
            return value
        kept = {}
        for key, item in value.items():
            if key not in schema:
                unknown.append(f"{path}.{key}" if path else key)
                continue
            kept[key] = _walk(item, schema[key], f"{path}.{key}" if path else key, unknown, bad)
        return kept
    return _leaf(value, schema, path, bad)


def _name_of(schema: Schema) -> str:
    return _GO_TYPES.get(schema, "object") if isinstance(schema, str) else "object"


def _leaf(value: Any, kind: str, path: str, bad: list[str]) -> Any:
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "map": isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
        "object": isinstance(value, dict),
        "quantities": isinstance(value, dict),
    }[kind]
    if not ok:
        bad.append(_type_error(path, _GO_TYPES.get(kind, "object"), value))
    elif kind == "quantities":
        for key, quantity in value.items():
            if not isinstance(quantity, str | int) or not _QUANTITY.match(str(quantity)):
                bad.append(
                    f"quantities must match the regular expression "
                    f"'{_QUANTITY.pattern}' ({path}.{key}: {quantity!r})"
                )
    return value


def decode(
    body: Any, schema: dict[str, Schema], kind: str, validation: str
) -> tuple[dict[str, Any], list[str]]:
    """Decode a request body as the server does; returns it and the warnings to send.

    Args:
        validation: The request's ``fieldValidation``: ``Strict``, ``Warn`` (the server's
            default) or ``Ignore``.

    Raises:
        ApiRefusal: 400 for a body that is not an object, a wrongly typed field, or (Strict)
            an unknown field.
    """
    if validation not in ("Strict", "Warn", "Ignore"):
        raise ApiRefusal(status(400, "BadRequest", f"invalid fieldValidation: {validation!r}"))
    if not isinstance(body, dict):
        raise ApiRefusal(status(400, "BadRequest", f"the body of a {kind} must be an object"))
    unknown: list[str] = []
    bad: list[str] = []
    kept = _walk(body, schema, "", unknown, bad)
    prefix = f'{kind} in version "v1" cannot be handled as a {kind}'
    if bad:
        raise ApiRefusal(status(400, "BadRequest", f"{prefix}: {bad[0]}"))
    if unknown and validation == "Strict":
        fields = ", ".join(f'unknown field "{name}"' for name in unknown)
        raise ApiRefusal(status(400, "BadRequest", f"{prefix}: strict decoding error: {fields}"))
    warnings = [f'unknown field "{name}"' for name in unknown] if validation == "Warn" else []
    return kept, warnings


def _invalid(kind: str, resource: str, name: str, causes: list[tuple[str, str]]) -> ApiRefusal:
    text = ", ".join(f"{field}: {message}" for field, message in causes)
    body = status(422, "Invalid", f'{kind} "{name}" is invalid: {text}', name=name, kind=resource)
    body["details"]["causes"] = [
        {"reason": "FieldValueInvalid", "message": message, "field": field}
        for field, message in causes
    ]
    return ApiRefusal(body)


def _check_meta(meta: Mapping[str, Any], causes: list[tuple[str, str]]) -> str:
    name = str(meta.get("name") or "")
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        causes.append(("metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 subdomain'))
    for key, value in (meta.get("labels") or {}).items():
        prefix, _, label = key.rpartition("/")
        if (prefix and not _DNS_SUBDOMAIN.match(prefix)) or not label or len(label) > 63:
            causes.append(("metadata.labels", f'Invalid value: "{key}": a bad label key'))
        elif not _LABEL_NAME.match(label) or len(value) > 63 or not _LABEL_NAME.match(value):
            causes.append(("metadata.labels", f'Invalid value: "{value}": a bad label'))
    return name


def validate_pod(pod: dict[str, Any]) -> None:
    """Refuse (422 ``Invalid``) a pod a real server would refuse for these fields."""
    causes: list[tuple[str, str]] = []
    name = _check_meta(pod.get("metadata") or {}, causes)
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    if not containers:
        causes.append(("spec.containers", "Required value"))
    for i, container in enumerate(containers):
        where = f"spec.containers[{i}]"
        if not _DNS_LABEL.match(str(container.get("name") or "")):
            causes.append((f"{where}.name", "Required value: a lowercase RFC 1123 label"))
        if not str(container.get("image") or "").strip():
            causes.append((f"{where}.image", "Required value"))
        if container.get("imagePullPolicy", "IfNotPresent") not in (
            "Always",
            "IfNotPresent",
            "Never",
        ):
            causes.append((f"{where}.imagePullPolicy", "Unsupported value"))
    if spec.get("restartPolicy", "Always") not in ("Always", "OnFailure", "Never"):
        causes.append(("spec.restartPolicy", "Unsupported value"))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and deadline <= 0:
        causes.append(("spec.activeDeadlineSeconds", "Invalid value: must be greater than 0"))
    if causes:
        raise _invalid("Pod", "pods", name, causes)


def validate_network_policy(policy: dict[str, Any]) -> None:
    """Refuse (422 ``Invalid``) a network policy a real server would refuse for these fields."""
    causes: list[tuple[str, str]] = []
    name = _check_meta(policy.get("metadata") or {}, causes)
    spec = policy.get("spec")
    if not isinstance(spec, dict) or "podSelector" not in spec:
        causes.append(("spec.podSelector", "Required value"))
    for kind in (spec or {}).get("policyTypes") or []:
        if kind not in ("Ingress", "Egress"):
            causes.append(("spec.policyTypes", f'Unsupported value: "{kind}"'))
    if causes:
        raise _invalid("NetworkPolicy", "networkpolicies", name, causes)


Requirement = tuple[str, str, frozenset[str]]
_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def parse_selector(text: str) -> list[Requirement]:
    """A label selector (``a=b,c!=d,e,!f,g in (x,y)``) as ``(key, op, values)`` terms.

    Raises:
        ApiRefusal: 400 for a selector the server could not parse.
    """
    terms: list[Requirement] = []
    for raw in re.split(r",(?![^(]*\))", text or ""):
        term = raw.strip()
        if not term:
            continue
        set_term = _SET_TERM.match(term)
        if set_term:
            values = frozenset(v.strip() for v in set_term.group(3).split(",") if v.strip())
            terms.append((set_term.group(1), set_term.group(2), values))
        elif "!=" in term:
            key, value = term.split("!=", 1)
            terms.append((key.strip(), "!=", frozenset([value.strip()])))
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            terms.append((key.strip(), "=", frozenset([value.strip()])))
        elif term.startswith("!"):
            terms.append((term[1:].strip(), "!", frozenset()))
        else:
            terms.append((term, "exists", frozenset()))
    for key, _, _ in terms:
        if not key or " " in key:
            message = f"unable to parse requirement: invalid label key {key!r}"
            raise ApiRefusal(status(400, "BadRequest", message))
    return terms


def matches_selector(labels: Mapping[str, str], terms: list[Requirement]) -> bool:
    """Whether ``labels`` satisfy every term."""
    for key, op, values in terms:
        value = labels.get(key)
        if op in ("=", "in") and value not in values:
            return False
        if op in ("!=", "notin") and value in values:
            return False
        if (op == "exists") != (value is not None) and op in ("exists", "!"):
            return False
    return True

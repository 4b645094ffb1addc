"""The API double's decoding and validation (``sandloop.testing._k8s_schema``): what a real
API server refuses for a pod, with the server's status codes and reasons. No Docker here."""

from __future__ import annotations

from typing import Any

import pytest

import sandloop.testing._k8s_schema as schema


def _pod(**spec: Any) -> dict[str, Any]:
    container = {"name": "c", "image": "img"}
    return {"metadata": {"name": "p"}, "spec": {"containers": [container], **spec}}


def _decode_and_validate(body: Any, validation: str) -> None:
    decoded, _ = schema.decode(body, schema.POD, "Pod", validation)
    schema.validate_pod(decoded)


def _refusal(body: Any, validation: str = "Strict") -> schema.ApiRefusal:
    with pytest.raises(schema.ApiRefusal) as info:
        _decode_and_validate(body, validation)
    return info.value


def test_unknown_fields_strict_warn_ignore() -> None:
    body = _pod(bogus=1)
    refused = _refusal(body)
    assert (refused.code, refused.body["reason"]) == (400, "BadRequest")
    assert 'strict decoding error: unknown field "spec.bogus"' in refused.body["message"]
    decoded, warnings = schema.decode(body, schema.POD, "Pod", "Warn")
    assert warnings == ['unknown field "spec.bogus"']
    assert "bogus" not in decoded["spec"]
    assert schema.decode(body, schema.POD, "Pod", "Ignore")[1] == []


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ({"activeDeadlineSeconds": "10"}, "string into Go struct field spec.activeDeadlineSeconds"),
        ({"containers": {"name": "c"}}, "Go struct field spec.containers of type []object"),
        ({"automountServiceAccountToken": "false"}, "of type bool"),
    ],
)
def test_wrong_types_are_bad_requests(spec: dict[str, Any], text: str) -> None:
    refused = _refusal(_pod(**spec))
    assert refused.code == 400
    assert text in refused.body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metadata": {"name": "p"}, "spec": {}}, "spec.containers"),
        ({"metadata": {}, "spec": {"containers": [{"name": "c", "image": "i"}]}}, "metadata.name"),
        (_pod() | {"metadata": {"name": "Not_A_Name"}}, "metadata.name"),
        ({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}, "image"),
        (_pod(restartPolicy="Sometimes"), "spec.restartPolicy"),
        (_pod(activeDeadlineSeconds=0), "spec.activeDeadlineSeconds"),
    ],
)
def test_invalid_pods_are_unprocessable(body: dict[str, Any], field: str) -> None:
    refused = _refusal(body)
    assert (refused.code, refused.body["reason"]) == (422, "Invalid")
    assert any(field in cause["field"] for cause in refused.body["details"]["causes"])


def test_bad_quantities_are_refused() -> None:
    body = _pod()
    body["spec"]["containers"][0]["resources"] = {"limits": {"memory": "2g"}}
    assert _refusal(body).code == 400


@pytest.mark.parametrize(
    ("selector", "labels", "match"),
    [
        ("a=b", {"a": "b"}, True),
        ("a==b,c", {"a": "b", "c": "x"}, True),
        ("a!=b", {"a": "b"}, False),
        ("!a", {}, True),
        ("!a", {"a": "1"}, False),
        ("a in (x, y)", {"a": "y"}, True),
        ("a notin (x,y),b", {"a": "z", "b": ""}, True),
        ("org.sandloop.sandbox", {}, False),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], match: bool) -> None:
    assert schema.matches_selector(labels, schema.parse_selector(selector)) is match

"""Every /responses example and every stream event example of openapi.yaml round-trips."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_examples import INVALID_JSON_EVENT_EXAMPLES, Example, event_examples, response_examples
from pydantic import BaseModel

from sandloop.items import (
    CompactedResponse,
    CompactParams,
    Response,
    ResponseCreateParams,
    UnknownEvent,
    UnknownItem,
    parse_event,
    parse_items,
)
from sandloop.items._base import UnknownWireModel


def _walk_models(value: Any) -> Iterator[BaseModel]:
    """Every pydantic model inside ``value`` (to check that nothing fell back to Unknown*)."""
    if isinstance(value, BaseModel):
        yield value
        for name in type(value).model_fields:
            yield from _walk_models(getattr(value, name))
    elif isinstance(value, list):
        for child in value:
            yield from _walk_models(child)


def test_request_bodies_round_trip(request_example: Example) -> None:
    body = request_example.body
    model = CompactParams if "compact" in request_example.name else ResponseCreateParams
    assert model.model_validate(body).to_request() == body


def test_response_bodies_round_trip(response_example: Example) -> None:
    body = response_example.body
    kind = body.get("object") or body.get("type")
    if kind == "response":
        parsed: Any = Response.model_validate(body)
    elif kind == "response.compaction":
        parsed = CompactedResponse.model_validate(body)
    elif kind == "list":
        items = parse_items(body["data"])
        assert [i.to_wire() for i in items] == body["data"]
        assert not any(isinstance(i, UnknownItem) for i in items)
        return
    else:
        parsed = parse_event(body)
        assert not isinstance(parsed, UnknownEvent)
    assert parsed.to_wire() == body
    assert not [m for m in _walk_models(parsed) if isinstance(m, UnknownWireModel)]


def test_event_examples_round_trip(event_example: Example) -> None:
    if event_example.name in INVALID_JSON_EVENT_EXAMPLES:
        with pytest.raises(json.JSONDecodeError):
            json.loads(event_example.body)
        return
    data = json.loads(event_example.body)
    event = parse_event(data)
    assert type(event).__name__ == event_example.name
    assert event.to_wire() == data
    assert json.loads(event.model_dump_json(exclude_unset=True)) == data


def test_examples_were_found() -> None:
    # Guards the parametrization: an empty list would make the tests above vacuous.
    assert len(event_examples()) == 53
    names = {e.name for e in response_examples()}
    assert any("Streaming" in n for n in names)
    assert any("compact" in n for n in names)

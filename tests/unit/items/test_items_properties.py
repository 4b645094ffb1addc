"""Property tests: whatever JSON the server adds survives a parse → dump round trip."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sandloop.items import FunctionCall, UnknownItem, dump_item, parse_event, parse_item
from sandloop.items.items import _ITEM_CLASSES

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
unknown_types = st.text(min_size=1, max_size=12).filter(lambda t: t not in _ITEM_CLASSES)
extra_keys = st.text(min_size=1, max_size=8).filter(
    lambda k: k not in FunctionCall.model_fields and k != "created_by"
)


@given(kind=unknown_types, extra=st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_unknown_items_survive_unchanged(kind: str, extra: dict[str, Any]) -> None:
    data = {**extra, "type": kind}
    item = parse_item(data)
    assert isinstance(item, UnknownItem)
    assert json.dumps(dump_item(item)) == json.dumps(data)


@given(extra=st.dictionaries(extra_keys, json_values, max_size=4))
def test_extra_fields_on_known_items_survive(extra: dict[str, Any]) -> None:
    data = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}", **extra}
    item = parse_item(data)
    assert isinstance(item, FunctionCall)
    assert dump_item(item) == data


@given(
    kind=st.text(min_size=1, max_size=20).filter(lambda t: not t.startswith(("response.", "error")))
)
def test_unknown_events_survive_unchanged(kind: str) -> None:
    data = {"type": kind, "sequence_number": 1}
    assert parse_event(data).to_wire() == data

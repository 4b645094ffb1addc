"""Every tagged union is consistent: each member's tag is its wire ``type`` and is recognised."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import Discriminator, Tag

from sandloop.items import ComputerAction, ContentPart, Item, StreamEvent, ToolParam
from sandloop.items._base import UnknownWireModel

# Tool classes that stand for several wire spellings: tag -> the other spellings.
ALIASES = {"web_search": ("web_search_2025_08_26", "web_search_preview")}


def _members(union: Any) -> tuple[list[tuple[type[Any], str]], Any]:
    inner, discriminator, *_validators = typing.get_args(union)
    assert isinstance(discriminator, Discriminator)
    members = []
    for annotated in typing.get_args(inner):
        cls, tag = typing.get_args(annotated)
        assert isinstance(tag, Tag)
        members.append((cls, tag.tag))
    return members, discriminator.discriminator


@pytest.mark.parametrize(
    "union", [Item, ToolParam, ContentPart, ComputerAction, StreamEvent], ids=lambda u: str(u)[:40]
)
def test_each_member_is_tagged_with_its_wire_type(union: Any) -> None:
    members, tagger = _members(union)
    assert len({tag for _, tag in members}) == len(members)
    for cls, tag in members:
        if issubclass(cls, UnknownWireModel):
            assert tag == "unknown"
            continue
        wire_type = cls.model_fields["type"].default
        assert wire_type == tag, f"{cls.__name__} is tagged {tag!r} but its type is {wire_type!r}"
        assert tagger({"type": tag}) == tag, f"the discriminator does not know {tag!r}"
        for alias in ALIASES.get(tag, ()):
            assert tagger({"type": alias}) == tag
    assert tagger({"type": "surely-not-a-type"}) == "unknown"

"""Schema generation for function tools: type hints + Google docstrings → JSON schema."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any, Literal, Optional

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from sandloop.errors import ConfigError, ToolArgumentsError
from sandloop.executors._schema import function_schema
from sandloop.executors._schema_doc import parse_docstring
from sandloop.executors.base import ToolContext

# Keywords the API's strict mode accepts (structured outputs subset).
STRICT_KEYWORDS = {
    "type", "properties", "required", "additionalProperties", "items", "anyOf", "enum",
    "const", "description", "$ref", "$defs", "pattern", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
}  # fmt: skip


def assert_strict(schema: dict[str, Any], *, root: bool = True) -> None:
    """Fail unless ``schema`` is valid for the Responses API's strict mode."""
    assert set(schema) <= STRICT_KEYWORDS, set(schema) - STRICT_KEYWORDS
    if root:
        assert schema["type"] == "object"
    if "properties" in schema or schema.get("type") == "object":
        assert schema["additionalProperties"] is False
        assert schema["required"] == list(schema["properties"])
        for sub in schema["properties"].values():
            assert_strict(sub, root=False)
    for sub in schema.get("anyOf", ()):
        assert_strict(sub, root=False)
    if isinstance(schema.get("items"), dict):
        assert_strict(schema["items"], root=False)
    for sub in schema.get("$defs", {}).values():
        assert_strict(sub, root=False)
    if "$ref" in schema:
        assert set(schema) == {"$ref"}, "a $ref must not have sibling keywords in strict mode"


def nullable(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if isinstance(kind, list):
        return "null" in kind
    return any(s.get("type") == "null" for s in schema.get("anyOf", ()))


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str = Field(description="Street and number.")
    zip_code: str | None = None


class Person(BaseModel):
    name: str
    address: Address
    previous: list[Address] = []
    nickname: Optional[str] = None  # noqa: UP045 - the Optional spelling is under test


@dataclasses.dataclass
class Box:
    width: int
    height: int = 1


class Point(TypedDict):
    x: float
    y: float


def everything(
    text: str,
    count: int,
    ratio: float,
    flag: bool,
    maybe: Optional[int],  # noqa: UP045
    mode: Literal["fast", "slow"],
    color: Color,
    tags: list[str],
    scores: dict[str, int],
    pair: tuple[int, str],
    person: Person,
    box: Box,
    point: Point,
    limit: int = 10,
) -> str:
    """Exercise every kind of parameter.

    Longer body text.

    Args:
        text: Some text.
        count (int): How many,
            over two lines.
        ratio: A ratio.
        flag: A flag.
        maybe: Maybe a number.
        mode: Speed.
        color: A color.
        tags: Labels.
        scores: Score per name.
        pair: Two things.
        person: Who.
        box: A box.
        point: Where.
        limit: At most this many.

    Returns:
        Nothing useful.
    """
    return "ok"


def test_docstring_description_and_args() -> None:
    doc = parse_docstring(everything.__doc__)
    assert doc.description == "Exercise every kind of parameter.\n\nLonger body text."
    assert doc.params["count"] == "How many, over two lines."
    assert doc.params["limit"] == "At most this many."
    assert "Returns" not in (doc.description or "")
    assert parse_docstring(None).description is None


def test_plain_schema_types() -> None:
    s = function_schema(everything, strict=False)
    props = s.parameters["properties"]
    assert props["text"] == {"type": "string", "description": "Some text."}
    assert props["count"]["type"] == "integer"
    assert props["ratio"]["type"] == "number"
    assert props["flag"]["type"] == "boolean"
    assert nullable(props["maybe"])
    assert props["mode"]["enum"] == ["fast", "slow"]
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "description": "Labels."}
    assert props["scores"]["additionalProperties"] == {"type": "integer"}
    assert props["limit"]["default"] == 10
    assert "limit" not in s.parameters["required"]
    assert s.description == "Exercise every kind of parameter.\n\nLonger body text."
    assert '"title"' not in json.dumps(s.parameters)


def test_strict_schema_is_accepted_by_strict_mode() -> None:
    s = function_schema(everything)
    assert_strict(s.parameters)
    props = s.parameters["properties"]
    # Every property required; the optional ones nullable, with the default told in words.
    assert s.parameters["required"] == list(props)
    assert nullable(props["limit"])
    assert "Default: 10" in props["limit"]["description"]
    assert not nullable(props["count"])
    # Open dicts are not allowed in strict mode: they travel as key/value pairs.
    assert props["scores"]["type"] == "array"
    assert props["scores"]["items"]["required"] == ["key", "value"]


def test_strict_nested_models_and_optional_fields() -> None:
    def register(person: Person) -> str:
        """Register a person."""
        return person.name

    s = function_schema(register)
    assert_strict(s.parameters)
    defs = s.parameters["$defs"]
    assert defs["Address"]["required"] == ["street", "zip_code"]
    assert nullable(defs["Address"]["properties"]["zip_code"])
    assert not nullable(defs["Address"]["properties"]["street"])
    person = defs["Person"]
    assert person["required"] == ["name", "address", "previous", "nickname"]
    assert nullable(person["properties"]["previous"])
    assert nullable(person["properties"]["nickname"])
    # A strict-mode answer with nulls for the defaulted fields validates to the defaults.
    args = {
        "person": {
            "name": "Ada",
            "address": {"street": "Main 1", "zip_code": None},
            "previous": None,
            "nickname": None,
        }
    }
    values = s.validate(json.dumps(args))
    assert values.person == Person(name="Ada", address=Address(street="Main 1"))  # type: ignore[attr-defined]


def test_strict_validates_every_kind() -> None:
    s = function_schema(everything)
    args = {
        "text": "t", "count": 2, "ratio": 0.5, "flag": True, "maybe": None, "mode": "fast",
        "color": "red", "tags": ["a"], "scores": [{"key": "a", "value": 1}], "pair": [1, "x"],
        "person": {"name": "n", "address": {"street": "s", "zip_code": None}, "previous": None,
                   "nickname": None},
        "box": {"width": 3, "height": None}, "point": {"x": 1.0, "y": 2.0}, "limit": None,
    }  # fmt: skip
    v = s.validate(json.dumps(args))
    call_args, kwargs = s.call_args(v, ToolContext(run_id="r", call_id="c"))
    assert call_args == []
    assert kwargs["scores"] == {"a": 1}
    assert kwargs["pair"] == (1, "x")
    assert kwargs["color"] is Color.RED
    assert kwargs["box"] == Box(width=3)
    assert kwargs["limit"] == 10
    assert kwargs["point"] == {"x": 1.0, "y": 2.0}


def test_tool_context_is_injected_not_shown() -> None:
    def where(path: str, ctx: ToolContext) -> str:
        """Say where."""
        return path

    s = function_schema(where)
    assert list(s.parameters["properties"]) == ["path"]
    ctx = ToolContext(run_id="r", call_id="c")
    _, kwargs = s.call_args(s.validate('{"path": "a"}'), ctx)
    assert kwargs == {"path": "a", "ctx": ctx}


def test_reserved_parameter_names_keep_their_wire_name() -> None:
    def odd(json: str, model_config: int) -> str:
        """Odd names."""
        return json

    s = function_schema(odd)
    assert list(s.parameters["properties"]) == ["json", "model_config"]
    _, kwargs = s.call_args(s.validate('{"json": "x", "model_config": 1}'), ToolContext("r", "c"))
    assert kwargs == {"json": "x", "model_config": 1}


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"a": "x"}', "a: Input should be a valid integer"),
        ("{}", "a: Field required"),
        ('{"a": 1, "zz": 2}', "zz: Extra inputs are not permitted"),
    ],
)
def test_bad_arguments_explain_themselves(arguments: str, fragment: str) -> None:
    def f(a: int) -> int:
        return a

    with pytest.raises(ToolArgumentsError) as info:
        function_schema(f).validate(arguments)
    assert fragment in str(info.value)
    assert "f" in str(info.value)


def test_unsupported_signatures_are_config_errors() -> None:
    def star(*args: int) -> None: ...

    def bare(x) -> None:  # type: ignore[no-untyped-def]
        ...

    with pytest.raises(ConfigError, match=r"\*args"):
        function_schema(star)
    with pytest.raises(ConfigError, match="needs a type annotation"):
        function_schema(bare)
    assert function_schema(bare, strict=False).parameters["properties"]["x"] == {}


def test_positional_only_parameters() -> None:
    def f(a: int, /, b: int) -> int:
        return a - b

    s = function_schema(f)
    args, kwargs = s.call_args(s.validate('{"a": 5, "b": 2}'), ToolContext("r", "c"))
    assert f(*args, **kwargs) == 3


def test_enum_and_literal_defaults_are_nullable_enums() -> None:
    def f(mode: Literal["a", "b"] = "a", color: Color = Color.BLUE) -> None: ...

    s = function_schema(f)
    assert_strict(s.parameters)
    props = s.parameters["properties"]
    assert None in props["mode"]["enum"]
    assert 'Default: "blue"' in props["color"]["description"]
    v = s.validate('{"mode": null, "color": null}')
    assert v.model_dump() == {"mode": "a", "color": Color.BLUE}

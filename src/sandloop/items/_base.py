"""The one base class of every wire model, and the helpers the unions share.

A leaf of ``sandloop.items``: every other module of the package builds on it.

Two rules make the wire format forward compatible and lossless:

* ``extra="allow"``: fields we do not model are kept and serialised back unchanged.
* Serialise with ``exclude_unset=True``: a field the server did not send is not sent back, while a
  field explicitly set to ``None`` is sent as ``null`` (the spec needs both, see spec §3.3).

Text that cannot be encoded (a lone surrogate, which ``json.loads`` accepts as ``"\ud800"``)
becomes U+FFFD when wire data is validated (:func:`replace_lone_surrogates`): nothing the server
sends can later fail to encode in a request, a sandbox frame or a file name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Final, Self

from pydantic import BaseModel, ConfigDict

__all__ = (
    "WIRE_CONTEXT",
    "StreamEventBase",
    "UnknownWireModel",
    "WireModel",
    "replace_lone_surrogates",
    "strip_created_by",
    "type_tagger",
)

WIRE_CONTEXT: Final[dict[str, Any]] = {"sandloop.items": "wire"}
"""Validation context marking data that came from the wire (see ``WireModel.model_post_init``)."""

# Keys whose values are arbitrary user JSON (schemas, arguments, metadata). ``created_by`` inside
# them is user data, e.g. a tool parameter of that name, and must survive the stripping.
_OPAQUE_KEYS = frozenset(
    {"parameters", "input_schema", "schema", "arguments", "metadata", "env", "variables"}
)


_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_lone_surrogates(value: Any) -> Any:
    """``value`` with every surrogate code point in its strings (keys too) made U+FFFD.

    Lists, tuples and dicts are rebuilt; other values are returned as they are. A string holds
    a surrogate only when it was decoded from a lone ``\\ud800``-style escape: such text has no
    UTF-8 form and would fail wherever it is encoded next.
    """
    if isinstance(value, str):
        if value.isascii() or not _SURROGATE.search(value):
            return value
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {replace_lone_surrogates(k): replace_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [replace_lone_surrogates(v) for v in value]
    return value


class WireModel(BaseModel):
    """Base of every model that crosses the wire.

    Unknown fields are kept (``model_extra``) and serialised back. Models built in Python always
    serialise their discriminator (``type``) even though it has a default; models parsed from the
    wire serialise exactly the keys they arrived with. ``model_validate`` and the ``parse_*``
    functions treat their input as wire data; a ``TypeAdapter`` of your own should pass
    ``context=WIRE_CONTEXT`` to get the same behaviour.
    """

    # "constants" keeps a received Infinity/NaN as is (pydantic would turn it into null): lossless.
    model_config = ConfigDict(extra="allow", populate_by_name=True, ser_json_inf_nan="constants")

    # Fields a model built in Python must always send, although they have a default.
    _always_sent: ClassVar[tuple[str, ...]] = ("type",)

    def model_post_init(self, context: Any, /) -> None:
        """Mark ``_always_sent`` fields as set, unless the data came from the wire.

        Validation of wire data passes ``WIRE_CONTEXT``; then ``fields_set`` stays exactly the
        keys received, so a message without ``type`` is replayed without ``type``.
        """
        if context is WIRE_CONTEXT:
            return
        fields = type(self).model_fields
        for name in self._always_sent:
            if name in fields:
                self.__pydantic_fields_set__.add(name)

    @classmethod
    def model_validate(cls, obj: Any, *, context: Any | None = None, **kwargs: Any) -> Self:
        """Validate wire data (the validation context defaults to ``WIRE_CONTEXT``)."""
        ctx = WIRE_CONTEXT if context is None else context
        if ctx is WIRE_CONTEXT:
            obj = replace_lone_surrogates(obj)
        return super().model_validate(obj, context=ctx, **kwargs)

    @classmethod
    def model_validate_json(
        cls, json_data: str | bytes | bytearray, *, context: Any | None = None, **kwargs: Any
    ) -> Self:
        """Validate wire JSON (the validation context defaults to ``WIRE_CONTEXT``)."""
        ctx = WIRE_CONTEXT if context is None else context
        return super().model_validate_json(json_data, context=ctx, **kwargs)

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON-ready dict of this model, leaving out fields that were never set."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)


class UnknownWireModel(WireModel):
    """Base of the catch-all classes (``UnknownItem``, ``UnknownEvent``, ...).

    It declares no fields, so every key, ``type`` included, lives in ``model_extra`` in its
    original order, and serialising gives back the received dict unchanged.
    """

    _is_unknown: ClassVar[bool] = True

    @property
    def type(self) -> str | None:
        """The wire ``type``, or ``None`` when there was none."""
        value = (self.model_extra or {}).get("type")
        return value if isinstance(value, str) else None

    @property
    def raw(self) -> dict[str, Any]:
        """The received data, as a new dict."""
        return dict(self.model_extra or {})


class StreamEventBase(WireModel):
    """Base of every stream event: each keeps its ``sequence_number``."""

    sequence_number: int | None = None


def strip_created_by(value: Any) -> Any:
    """Return ``value`` with every ``created_by`` key removed, at every level.

    The output forms of items carry ``created_by``; the input forms do not list it, so it is
    stripped before replaying. User JSON (tool schemas, arguments, metadata) is left untouched.
    """
    if isinstance(value, dict):
        return {
            k: (v if k in _OPAQUE_KEYS else strip_created_by(v))
            for k, v in value.items()
            if k != "created_by"
        }
    if isinstance(value, list):
        return [strip_created_by(v) for v in value]
    return value


def type_tagger(known: Iterable[str], *, unknown: str = "unknown") -> Callable[[Any], str]:
    """Build a callable pydantic discriminator over the ``type`` key.

    Args:
        known: The ``type`` values that have their own class.
        unknown: The tag of the catch-all class for every other value (or a missing ``type``).

    Returns:
        A function mapping raw dicts and model instances to a union tag.
    """
    known_set = frozenset(known)

    def tag(value: Any) -> str:
        if isinstance(value, Mapping):
            kind = value.get("type")
        else:
            kind = getattr(value, "type", None)
            if getattr(value, "_is_unknown", False):
                return unknown
        return kind if isinstance(kind, str) and kind in known_set else unknown

    return tag

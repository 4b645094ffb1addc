"""The tool search ranking: terms, field weights, ties, limits, and the arguments it accepts."""

from __future__ import annotations

from typing import Any

import pytest

from sandloop.dispatch.tool_ranking import (
    EXACT_NAME_BONUS,
    MAX_QUERY_TERMS,
    ToolIndex,
    terms,
)
from sandloop.dispatch.tool_search import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_QUERY_CHARS,
    parse_search_arguments,
)
from sandloop.errors import ToolArgumentsError


def fn(name: str, description: str = "", **params: str) -> dict[str, Any]:
    """A function definition whose parameters have the given descriptions."""
    props = {p: {"type": "string", "description": d} for p, d in params.items()}
    return {"type": "function", "name": name, "description": description,
            "parameters": {"type": "object", "properties": props}}  # fmt: skip


def index(*tools: tuple[str | None, dict[str, Any]]) -> ToolIndex:
    return ToolIndex(((ns, d["name"]), d) for ns, d in tools)


def test_terms_split_camel_and_snake_case_and_lower_case() -> None:
    assert terms("getHTTPResponse_code v2") == ["get", "http", "response", "code", "v2"]
    assert terms("crm.lookup_customer") == ["crm", "lookup", "customer"]
    assert terms("Größe prüfen") == ["größe", "prüfen"]
    assert terms("--- !!") == []


def test_a_term_in_the_name_beats_the_description_which_beats_parameters() -> None:
    tools = index(
        (None, fn("zeta_params", "Does things.", target="the invoice to send")),
        (None, fn("alpha_desc", "Sends an invoice.")),
        (None, fn("invoice_tool", "Does things.")),
    )
    assert tools.search("invoice", limit=5) == [
        (None, "invoice_tool"),
        (None, "alpha_desc"),
        (None, "zeta_params"),
    ]


def test_scores_are_summed_over_query_terms() -> None:
    one = index((None, fn("send_mail", "Send an email.", to="Who gets the message")))
    key = (None, "send_mail")
    # send: name (3 × 2); mail: name (3 × 2); "email" does not start with "mail"
    assert one.scores("send mail") == {key: 12}
    # a prefix (either way) of at least three letters counts once: "mailbox" ~ "mail"
    assert one.scores("mailbox") == {key: 3}
    assert one.scores("mess") == {key: 1}  # a parameter's description, by prefix
    assert one.scores("messages") == {key: 1}
    assert one.scores("ma") == {}
    assert one.scores("SEND_MAIL") == {key: 12 + EXACT_NAME_BONUS}


def test_ties_are_broken_by_qualified_name() -> None:
    tools = index(
        ("b", fn("report", "Weekly report.")),
        (None, fn("report", "Weekly report.")),
        ("a", fn("report", "Weekly report.")),
    )
    assert tools.search("weekly", limit=5) == [("a", "report"), ("b", "report"), (None, "report")]


def test_the_exact_name_ranks_first_and_the_limit_cuts() -> None:
    tools = index(
        (None, fn("weather_alerts", "Weather alerts for a region: weather warnings.")),
        (None, fn("get_weather", "Current weather.")),
        (None, fn("weather_history", "Past weather.")),
    )
    assert tools.search("get_weather", limit=1) == [(None, "get_weather")]
    scored = {k[1]: v for k, v in tools.scores("get_weather").items()}
    assert scored["get_weather"] > EXACT_NAME_BONUS > scored["weather_alerts"]
    assert len(tools.search("weather", limit=2)) == 2


def test_no_match_stop_words_and_excluded_tools_give_nothing() -> None:
    tools = index((None, fn("get_weather", "Get the weather for a city.", city="The city")))
    assert tools.search("quantum teleportation", limit=5) == []
    assert tools.search("the for a", limit=5) == []
    assert tools.search("", limit=5) == []
    assert tools.search("weather", limit=5, exclude={(None, "get_weather")}) == []


def test_only_the_first_query_terms_count() -> None:
    tools = index((None, fn("needle", "Finds it.")))
    filler = " ".join(f"w{i}" for i in range(MAX_QUERY_TERMS))
    assert tools.search(f"{filler} needle", limit=5) == []
    assert tools.search(f"needle {filler}", limit=5) == [(None, "needle")]


def test_nested_parameters_and_custom_tools_are_indexed() -> None:
    nested = {
        "type": "function",
        "name": "create_order",
        "parameters": {
            "type": "object",
            "properties": {
                "lines": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"sku": {"type": "string"}}},
                }
            },
        },
    }
    custom = {"type": "custom", "name": "run_sql", "description": "Query the orders database."}
    tools = index((None, nested), (None, custom))
    assert tools.search("sku", limit=5) == [(None, "create_order")]
    assert tools.search("database", limit=5) == [(None, "run_sql")]


def test_a_hostile_schema_is_read_only_so_far() -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(500):
        deep = {"type": "object", "properties": {"x": deep}}
    wide = {f"p{i}": {"type": "string"} for i in range(10_000)}
    wide["zzzlast"] = {"type": "string"}
    tools = index(
        (None, {"type": "function", "name": "deep", "parameters": deep}),
        (None, {"type": "function", "name": "wide", "parameters": {"properties": wide}}),
        (None, {"type": "function", "name": "odd", "parameters": {"properties": [1, 2]}}),
    )
    assert tools.search("deep", limit=5) == [(None, "deep")]
    assert tools.search("p1", limit=5) == [(None, "wide")]
    assert tools.search("zzzlast", limit=5) == []  # past the parameters read per tool


def test_the_ranking_is_the_same_every_time() -> None:
    tools = [(None, fn(f"tool_{i}", f"Tool number {i % 3}.")) for i in range(30)]
    first = index(*tools).search("tool number", limit=MAX_LIMIT)
    assert first == index(*reversed(tools)).search("tool number", limit=MAX_LIMIT)
    assert first[:3] == [(None, "tool_0"), (None, "tool_1"), (None, "tool_10")]


def test_arguments_accepted() -> None:
    assert parse_search_arguments({"query": "weather"}) == ("weather", DEFAULT_LIMIT)
    assert parse_search_arguments('{"query": "w", "limit": 2}') == ("w", 2)
    assert parse_search_arguments({"query": "w", "limit": 0}) == ("w", 1)
    assert parse_search_arguments({"query": "w", "limit": 10**9}) == ("w", MAX_LIMIT)
    assert parse_search_arguments({"query": "w", "limit": None}) == ("w", DEFAULT_LIMIT)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (None, "must be an object"),
        (42, "must be an object"),
        (["weather"], "must be an object"),
        ("not json", "not valid JSON"),
        ({}, "string 'query'"),
        ({"query": 7}, "string 'query'"),
        ({"query": ["a"]}, "string 'query'"),
        ({"query": "w", "evil": 1}, "no argument(s) evil"),
        ({"query": "w", "limit": "3"}, "'limit' must be an integer"),
        ({"query": "w", "limit": True}, "'limit' must be an integer"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "over the 1000 allowed"),
    ],
)
def test_arguments_refused(arguments: Any, words: str) -> None:
    with pytest.raises(ToolArgumentsError) as caught:
        parse_search_arguments(arguments)
    assert words in str(caught.value)

"""Deferred tools in the registry and a run's tool search session (what is loaded, what runs)."""

from __future__ import annotations

from typing import Any

import pytest

from sandloop.dispatch import Approvals, Dispatcher
from sandloop.dispatch.registry import ToolRegistry, is_deferred
from sandloop.dispatch.tool_search import ToolSearchSession, loaded_keys
from sandloop.errors import ConfigError
from sandloop.executors.base import ToolContext
from sandloop.executors.custom import CustomTool
from sandloop.executors.function import tool
from sandloop.executors.shell import ShellTool
from sandloop.items import FunctionCall, ToolSearchCall, ToolSearchOutput, parse_item


@tool
def visible(x: int) -> int:
    """Always sent."""
    return x


@tool(defer_loading=True, namespace="crm")
def find_customer(email: str) -> str:
    """Find a customer by email."""
    return email


@tool(namespace="crm")
def crm_status() -> str:
    """The CRM's status."""
    return "up"


def _sql(query: str) -> str:
    return query


sql = CustomTool(_sql, name="run_sql", description="Query orders.", defer_loading=True)


class ForeignTool:
    """A tool from another source (an MCP server's, say) that defers itself."""

    call_type = "function_call"
    name = "remote_echo"
    namespace: str | None = None
    sequential = False
    needs_approval = False
    timeout: float | None = None

    def definition(self) -> dict[str, Any]:
        return {"type": "function", "name": self.name, "parameters": {}, "defer_loading": True}

    async def execute(self, call: Any, ctx: ToolContext) -> Any:
        raise NotImplementedError


def registry() -> ToolRegistry:
    return ToolRegistry(
        [visible, find_customer, crm_status, sql, ForeignTool(), {"type": "web_search"}],
        namespaces={"crm": "Customer records."},
    )


def test_deferred_tools_are_left_out_and_the_client_tool_search_is_sent() -> None:
    tools = registry().definitions()
    assert [t["type"] for t in tools] == ["function", "namespace", "tool_search", "web_search"]
    assert [t["name"] for t in tools[1]["tools"]] == ["crm_status"]  # its deferred one left out
    search = tools[2]
    assert search["execution"] == "client"
    assert "Search 3 more tools" in search["description"]
    assert "(namespaces: crm)" in search["description"]
    assert search["parameters"]["required"] == ["query"]


def test_deferral_is_a_property_of_the_definition() -> None:
    assert find_customer.definition()["defer_loading"] is True
    assert "defer_loading" not in visible.definition()
    assert sql.definition()["defer_loading"] is True
    assert find_customer.options()["defer_loading"] is True
    assert "defer_loading" not in visible.options()  # old descriptions stay equal
    assert [is_deferred(t) for t in registry()] == [False, True, False, True, True]


def test_without_deferred_tools_nothing_changes() -> None:
    plain = ToolRegistry([visible])
    assert plain.definitions() == [visible.definition()]
    assert ToolSearchSession.for_run(plain, []) is None


def test_conflicting_setups_are_refused() -> None:
    with pytest.raises(ConfigError, match="leave out the tool_search definition"):
        ToolRegistry([find_customer, {"type": "tool_search"}])

    class DeferredShell(ShellTool):
        def definition(self) -> dict[str, Any]:
            return {"type": "shell", "defer_loading": True}

    with pytest.raises(ConfigError, match="only function and custom tools"):
        ToolRegistry([DeferredShell()])


def _search(query: str, call_id: str = "ts") -> ToolSearchCall:
    item = parse_item({"type": "tool_search_call", "call_id": call_id, "execution": "client",
                       "arguments": {"query": query}})  # fmt: skip
    assert isinstance(item, ToolSearchCall)
    return item


async def test_a_session_loads_matches_once_and_lets_loaded_tools_run() -> None:
    reg = registry()
    history: list[Any] = []
    session = ToolSearchSession(reg, history)
    ctx = ToolContext(run_id="r", call_id="ts")
    call = FunctionCall(call_id="c", name="find_customer", namespace="crm", arguments="{}")
    tool_found, refusal = session.route(call, reg.lookup(call))
    assert tool_found is None
    assert refusal is not None
    assert "not loaded" in refusal
    searcher, _ = session.route(_search("customer"), None)
    assert searcher is session
    output = await session.execute(_search("customer email"), ctx)
    assert [t.type for t in output.tools] == ["namespace"]
    wire = output.to_wire()
    assert wire["tools"][0]["description"] == "Customer records."
    assert wire["tools"][0]["tools"][0]["name"] == "find_customer"
    assert loaded_keys([output]) == {("crm", "find_customer")}
    # Not in the history yet: a call of the same response still waits...
    assert session.route(call, reg.lookup(call))[0] is None
    # ...and a second search of the same response does not load it again.
    assert (await session.execute(_search("customer"), ctx)).tools == []
    history.append(output)
    assert session.route(call, reg.lookup(call)) == (find_customer, None)
    assert session.loaded() == {("crm", "find_customer")}


async def test_loaded_state_is_read_from_history_items_of_any_origin() -> None:
    reg = registry()
    replayed = parse_item({
        "type": "tool_search_output", "call_id": "old", "execution": "client",
        "tools": [{"type": "custom", "name": "run_sql"},
                  {"type": "function", "name": "not_ours", "parameters": {}}],
    })  # fmt: skip
    assert isinstance(replayed, ToolSearchOutput)
    session = ToolSearchSession(reg, [replayed])
    assert session.loaded() == {(None, "run_sql")}  # a tool the agent does not have is ignored
    found = await session.execute(_search("run_sql orders remote echo"), ToolContext("r", "c"))
    assert [getattr(t, "name", None) for t in found.tools] == ["remote_echo"]


def test_a_registry_swapped_in_for_the_run_brings_its_tool_search() -> None:
    """A run whose tool servers join at its start (MCP) swaps in a registry with more tools."""
    history: list[Any] = []
    dispatcher = Dispatcher(ToolRegistry([visible]), approvals=Approvals(None), history=history)
    before = dispatcher.tool_search
    assert before is None
    dispatcher.registry = registry()
    after = dispatcher.tool_search
    assert after is not None
    assert after.registry is dispatcher.registry
    assert after.loaded() == set()

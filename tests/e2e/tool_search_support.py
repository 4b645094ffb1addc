"""Deferred tools the tool search tests use (importable by name: a RunSpec, a journal and a
resumed run in another process rebuild the agent from these)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sandloop.executors.custom import CustomTool
from sandloop.executors.function import tool
from sandloop.loop import Agent

#: The file ``slow_lookup`` marks its first run in (the kill test waits for it).
MARKER = "SANDLOOP_TEST_SEARCH_MARKER"


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend.
    """
    return a + b


@tool(defer_loading=True)
def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: The city's name.
    """
    return f"sunny in {city}"


@tool(defer_loading=True, namespace="crm")
def lookup_customer(email: str) -> str:
    """Find a customer record.

    Args:
        email: The customer's email address.
    """
    return f"customer <{email}>: Ada"


def run_sql(query: str) -> str:
    """Run one read-only SQL query against the orders database."""
    return f"1 row for {query!r}"


sql = CustomTool(run_sql, defer_loading=True)


@tool(defer_loading=True, idempotent=True)
def slow_lookup(key: str) -> str:
    """Look up an archived record by key (slow the first time).

    Args:
        key: The record key.
    """
    marker = Path(os.environ[MARKER])
    if not marker.exists():
        marker.write_text("started\n")
        time.sleep(60)  # the test kills the process here
    return f"record {key}"


def agent(*, store: bool) -> Agent:
    """An agent with one tool sent up front and four deferred ones."""
    return Agent(
        model="m",
        tools=[add, get_weather, lookup_customer, sql, slow_lookup],
        store=store,
        namespaces={"crm": "Customer records."},
    )

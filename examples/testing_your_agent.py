"""Testing your own agent with ``sandloop.testing.ScriptedResponsesServer``: no model, no key.

The scripted server is a real Responses API on 127.0.0.1: each ``POST /responses`` plays the
next turn of a script. A turn can be a list of output items or a function of the request, so a
test can assert what your agent sent (the tool outputs the model would see). The server also
checks the protocol (every call answered exactly once) and fails on extra or unplayed turns, and
it injects faults (429 with Retry-After, 500, dropped connections) to test retries.

Run the tests with pytest (``pytest examples/testing_your_agent.py``) or directly:

    python examples/testing_your_agent.py

(A ``--base-url`` is accepted for symmetry with the other examples, but these tests always use
their own scripted server: that is the point.)
"""

from __future__ import annotations

import argparse
import json

import anyio

import sandloop
from sandloop.testing import (
    RecordedRequest,
    ScriptedResponsesServer,
    Turn,
    TurnLike,
    function_call,
    message,
    rate_limited,
)

# --- the agent under test -------------------------------------------------------------------

DOCS = {
    "refunds": "Refunds are possible within 30 days of delivery.",
    "shipping": "Orders ship within 2 working days.",
}


@sandloop.tool
def search_docs(topic: str) -> str:
    """Find the policy text about a topic.

    Args:
        topic: One word, like "refunds" or "shipping".
    """
    return DOCS.get(topic.lower(), f"nothing about {topic!r}; topics: {', '.join(DOCS)}")


support_agent = sandloop.Agent(
    model="gpt-5.1",
    instructions="Answer from the policy documents only; search them first.",
    tools=[search_docs],
)


def ask(question: str, base_url: str) -> sandloop.RunResult:
    async def go() -> sandloop.RunResult:
        retry = sandloop.RetryPolicy(max_retries=2)
        async with sandloop.ResponsesClient(base_url=base_url, retry=retry) as client:
            return await sandloop.run(support_agent, question, client=client)

    return anyio.run(go)


# --- the tests ------------------------------------------------------------------------------


def test_the_agent_answers_from_the_tool_output() -> None:
    def answer(request: RecordedRequest) -> list[dict[str, object]]:
        # What the model sees after the tool ran: exactly one output for the call.
        (output,) = request.body["input"]
        assert output["type"] == "function_call_output"
        assert "30 days" in output["output"]
        return [message("You can return it within 30 days.", phase="final_answer")]

    script: list[TurnLike] = [[function_call("search_docs", {"topic": "refunds"})], answer]
    with ScriptedResponsesServer(script) as server:
        result = ask("Can I still return my kettle?", server.base_url)
        first = server.create_requests[0].body
    assert result.final_output == "You can return it within 30 days."
    assert result.turns == 2
    assert [tool["name"] for tool in first["tools"]] == ["search_docs"]
    assert first["instructions"].startswith("Answer from the policy documents")


def test_bad_arguments_go_back_to_the_model() -> None:
    def retry(request: RecordedRequest) -> list[dict[str, object]]:
        (output,) = request.body["input"]
        assert "topic" in output["output"]  # the validation error names the missing field
        return [function_call("search_docs", {"topic": "shipping"})]

    script: list[TurnLike] = [
        [function_call("search_docs", json.dumps({"subject": "shipping"}))],
        retry,
        [message("Within 2 working days.", phase="final_answer")],
    ]
    with ScriptedResponsesServer(script) as server:
        result = ask("When does my order ship?", server.base_url)
    assert result.final_output == "Within 2 working days."


def test_a_rate_limit_is_retried() -> None:
    script = [Turn([message("Hello!", phase="final_answer")], faults=[rate_limited(0.01)])]
    with ScriptedResponsesServer(script) as server:
        result = ask("Hi", server.base_url)
        attempts = len(server.create_requests)
    assert result.final_output == "Hello!"
    assert attempts == 2


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="ignored: the tests bring their own server")
    parser.parse_args()
    tests = [value for name, value in sorted(globals().items()) if name.startswith("test_")]
    for test in tests:
        test()
        print(f"ok   {test.__name__}")
    print(f"{len(tests)} tests passed")

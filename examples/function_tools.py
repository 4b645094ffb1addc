"""Function tools with the ``@sandloop.tool`` decorator: a small customer-support agent.

The decorator builds each tool's JSON schema from the type hints and the Google-style
docstring (the docstring is what the model reads). ``needs_approval=True`` routes a call
through the run's approval callback first.

Run it:

    python examples/function_tools.py                 # no OPENAI_API_KEY: a scripted model
    OPENAI_API_KEY=sk-... python examples/function_tools.py
    python examples/function_tools.py --base-url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Literal

import anyio

import sandloop
from sandloop.executors.base import ApprovalRequest
from sandloop.testing import RecordedRequest, ScriptedResponsesServer, function_call, message

ORDERS = {
    "A-1001": {"item": "kettle", "paid_cents": 3499, "status": "delivered", "days_ago": 3},
    "A-1002": {"item": "toaster", "paid_cents": 2599, "status": "shipped", "days_ago": 1},
}
REFUNDS: list[dict[str, object]] = []


@sandloop.tool
def lookup_order(order_id: str) -> dict[str, object]:
    """Look up an order by its id.

    Args:
        order_id: The order id, like "A-1001".
    """
    order = ORDERS.get(order_id)
    if order is None:
        return {"error": f"no order {order_id}"}
    return {"order_id": order_id, **order}


@sandloop.tool(needs_approval=True)
def refund(order_id: str, amount_cents: int, reason: Literal["damaged", "late", "other"]) -> str:
    """Refund (part of) an order. A human approves every refund.

    Args:
        order_id: The order to refund.
        amount_cents: How much to give back, in cents; at most what was paid.
        reason: Why the customer gets the refund.
    """
    paid = int(str(ORDERS[order_id]["paid_cents"]))
    if amount_cents > paid:
        return f"refused: {amount_cents} cents is more than the {paid} cents paid"
    REFUNDS.append({"order_id": order_id, "amount_cents": amount_cents, "reason": reason})
    return f"refunded {amount_cents} cents on {order_id}"


def approve(request: ApprovalRequest) -> bool:
    """A stand-in for a human: allow refunds up to 50 EUR."""
    amount = json.loads(request.arguments).get("amount_cents", 0)
    print(f"approval asked for {request.tool} {request.arguments} -> {amount <= 5000}")
    return bool(amount <= 5000)


agent = sandloop.Agent(
    model="gpt-5.1",
    instructions="You are a support agent for a small kitchen shop. Check the order first.",
    tools=[lookup_order, refund],
)

TASK = "My kettle from order A-1001 arrived with a cracked lid. Can I get my money back?"


def scripted_model() -> ScriptedResponsesServer:
    """What a model would do here, played by the scripted server (each turn checks its input)."""

    def after_lookup(request: RecordedRequest) -> list[dict[str, object]]:
        (output,) = request.body["input"]
        assert json.loads(output["output"])["paid_cents"] == 3499, output
        args = {"order_id": "A-1001", "amount_cents": 3499, "reason": "damaged"}
        return [function_call("refund", args)]

    def after_refund(request: RecordedRequest) -> list[dict[str, object]]:
        (output,) = request.body["input"]
        assert output["output"] == "refunded 3499 cents on A-1001", output
        return [
            message("Sorry about the lid! I refunded the full 34.99 EUR.", phase="final_answer")
        ]

    return ScriptedResponsesServer(
        [[function_call("lookup_order", {"order_id": "A-1001"})], after_lookup, after_refund]
    )


async def main(base_url: str | None) -> None:
    async with sandloop.ResponsesClient(base_url=base_url) as client:
        result = await sandloop.run(agent, TASK, client=client, approve=approve)
    print(f"schema the model sees: {json.dumps(refund.definition()['parameters'])}")
    print(f"refunds made: {REFUNDS}")
    print(f"answer after {result.turns} model calls: {result.final_output}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="a Responses API to use instead of the scripted model")
    args = parser.parse_args()
    if args.base_url or os.environ.get("OPENAI_API_KEY"):
        anyio.run(main, args.base_url)
    else:
        print("No OPENAI_API_KEY: a ScriptedResponsesServer plays the model.", file=sys.stderr)
        with scripted_model() as server:
            anyio.run(main, server.base_url)

"""What a run cost in dollars, turn by turn, from the usage the API reported.

Each model call is priced with the model its response names (see :mod:`.table`): plain input,
cache reads and cache writes at their own rates, output (reasoning included) at the output rate.
A call whose model has no price makes the run's total unknown (``None``), never a smaller sum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sandloop.items import Response, Usage
from sandloop.pricing.table import PriceTable, default_prices

__all__ = ("RunCost", "TurnCost", "cost_of", "usage_cost")


@dataclass(frozen=True, slots=True)
class TurnCost:
    """One model call's cost.

    Attributes:
        turn: The call's number (1 for the first).
        model: The model the response names.
        usd: Dollars, or ``None`` when the model is unpriced.
    """

    turn: int
    model: str
    usd: float | None


@dataclass(frozen=True, slots=True)
class RunCost:
    """A run's cost: per turn, and the total when every turn is priced.

    Attributes:
        turns: Each model call's cost, in order.
        as_of: The date of the prices used (``None``: the user's own).
    """

    turns: tuple[TurnCost, ...] = ()
    as_of: str | None = None

    @property
    def total(self) -> float | None:
        """Dollars over every turn, or ``None`` when any turn's model is unpriced."""
        if any(t.usd is None for t in self.turns):
            return None
        return sum(t.usd or 0.0 for t in self.turns)

    @property
    def unpriced(self) -> tuple[str, ...]:
        """The models with no price, in the order first seen."""
        return tuple(dict.fromkeys(t.model for t in self.turns if t.usd is None))

    def __str__(self) -> str:
        total = self.total
        if total is not None:
            return f"${total:.4f}"
        return f"unpriced ({', '.join(self.unpriced)})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``total`` (``None``: unknown), ``unpriced`` models, per-turn dollars."""
        return {
            "total": self.total,
            "unpriced": list(self.unpriced),
            "as_of": self.as_of,
            "turns": [{"turn": t.turn, "model": t.model, "usd": t.usd} for t in self.turns],
        }


def usage_cost(model: str, usage: Usage | None, prices: PriceTable | None = None) -> float | None:
    """Dollars for one call of ``model`` with ``usage``; ``None`` when the model is unpriced."""
    price = (prices or default_prices()).lookup(model)
    if price is None:
        return None
    usage = usage or Usage.zero()
    details = usage.input_tokens_details
    cached = details.cached_tokens if details is not None else 0
    written = details.cache_write_tokens if details is not None else 0
    return price.cost(
        input=usage.input_tokens, cached=cached, cache_write=written, output=usage.output_tokens
    )


def cost_of(
    responses: Iterable[Response], prices: PriceTable | None = None, *, model: str | None = None
) -> RunCost:
    """The cost of a run's responses; ``model`` names responses that name none."""
    table = prices or default_prices()
    turns = []
    for number, response in enumerate(responses, 1):
        name = response.model or model or "?"
        turns.append(TurnCost(number, name, usage_cost(name, response.usage, table)))
    return RunCost(tuple(turns), as_of=table.as_of)

"""Cost in dollars: the price table (shipped as dated data, overridable) and a run's cost.

``result.cost`` (a :class:`RunCost`) prices each model call from the usage the API reported;
``Agent(cost_budget=dollars)`` stops a run that passes it. :func:`set_price` adds or replaces a
model's price for this process; ``SANDLOOP_PRICES=FILE`` loads a JSON table over the shipped one.
"""

from __future__ import annotations

from sandloop.pricing.cost import RunCost, TurnCost, cost_of, usage_cost
from sandloop.pricing.table import ModelPrice, PriceTable, default_prices, set_price

__all__ = (
    "ModelPrice",
    "PriceTable",
    "RunCost",
    "TurnCost",
    "cost_of",
    "default_prices",
    "set_price",
    "usage_cost",
)

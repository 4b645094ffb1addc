"""Prices, discounts and totals of a shopping cart. Amounts are whole cents."""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    """One line of a cart: a product, its unit price in cents and how many of it."""

    name: str
    unit_cents: int
    quantity: int = 1


def subtotal(lines: Iterable[Line]) -> int:
    """The sum of unit price times quantity over all lines, in cents."""
    total = 0
    for line in lines:
        total += line.unit_cents
    return total


def total(lines: Iterable[Line], *, discount_percent: int = 0) -> int:
    """What the customer pays: the subtotal minus the discount, rounded half up to the cent."""
    if not 0 <= discount_percent <= 100:
        raise ValueError(f"discount must be between 0 and 100 percent, not {discount_percent}")
    cents = subtotal(lines)
    discount = (cents * discount_percent + 50) // 100
    return cents - discount

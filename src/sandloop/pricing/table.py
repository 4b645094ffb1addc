"""Model prices: the table shipped as data (``prices.json``, with its date), and the user's own.

Prices are US dollars per million tokens. A model's price has an input, a cached-input (cache
reads), a cache-write and an output rate, and optionally a long-context tier that applies to a
request whose input passes a threshold. A response names the model that served it, often a
dated snapshot (``gpt-5-2025-08-07``): it is priced as that exact name, else as the name without
its date. Nothing else is guessed: ``gpt-5-mini`` is never priced as ``gpt-5``, and a model the
table does not have is *unpriced*, never free.

The process-wide table is the shipped one, then ``SANDLOOP_PRICES`` (a JSON file of the same
shape, ``{"models": {...}}``) over it, then whatever :func:`set_price` added.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from sandloop.errors import ConfigError

__all__ = ("ModelPrice", "PriceTable", "default_prices", "set_price")

_SNAPSHOT = re.compile(r"^(?P<base>.+?)-\d{4}-\d{2}-\d{2}$")
_RATES = ("input", "cached_input", "cache_write", "output")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's rates, dollars per million tokens.

    Attributes:
        input: Input tokens that were neither read from nor written to the cache.
        output: Output tokens (reasoning tokens included, as the API bills them).
        cached_input: Input tokens read from the prompt cache (default: the input rate).
        cache_write: Input tokens written to the prompt cache (default: the input rate).
        long_context: The rates for a request whose input passes ``above_input_tokens``.
        above_input_tokens: Where this price's long-context tier starts (on the tier itself).
    """

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    long_context: ModelPrice | None = None
    above_input_tokens: int | None = None

    def for_input(self, input_tokens: int) -> ModelPrice:
        """The rates that apply to a request with ``input_tokens`` of input."""
        tier = self.long_context
        above = tier.above_input_tokens if tier is not None else None
        if tier is not None and above is not None and input_tokens > above:
            return tier
        return self

    def cost(self, *, input: int, cached: int, cache_write: int, output: int) -> float:
        """Dollars for one request; ``input`` counts every input token, cached ones included."""
        rates = self.for_input(input)
        plain = max(0, input - cached - cache_write)
        read = rates.cached_input if rates.cached_input is not None else rates.input
        write = rates.cache_write if rates.cache_write is not None else rates.input
        total = plain * rates.input + cached * read + cache_write * write + output * rates.output
        return total / 1_000_000

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> ModelPrice:
        """A price from its JSON form (``{"input": 1.25, "output": 10, ...}``).

        Raises:
            ConfigError: a rate is missing, negative or not a number, or a key is unknown.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"price of {name!r}: an object of rates, not {data!r}")
        unknown = sorted(set(data) - {*_RATES, "long_context", "above_input_tokens"})
        if unknown:
            raise ConfigError(f"price of {name!r}: unknown key(s) {', '.join(unknown)}")
        rates: dict[str, float | None] = {}
        for key in _RATES:
            value = data.get(key)
            if value is None:
                if key in ("input", "output"):
                    raise ConfigError(f"price of {name!r}: {key!r} is required")
                rates[key] = None
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"price of {name!r}: {key!r} must be a number >= 0")
            rates[key] = float(value)
        tier = data.get("long_context")
        long_context = None
        if tier is not None:
            long_context = cls.from_dict(f"{name} (long context)", tier)
            above = tier.get("above_input_tokens") if isinstance(tier, Mapping) else None
            if isinstance(above, bool) or not isinstance(above, int) or above < 1:
                raise ConfigError(f"price of {name!r}: long_context needs above_input_tokens")
        above_tokens = data.get("above_input_tokens")
        return cls(
            input=float(rates["input"] or 0.0),
            output=float(rates["output"] or 0.0),
            cached_input=rates["cached_input"],
            cache_write=rates["cache_write"],
            long_context=long_context,
            above_input_tokens=above_tokens if isinstance(above_tokens, int) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as :meth:`from_dict` reads it."""
        data: dict[str, Any] = {"input": self.input, "output": self.output}
        for key in ("cached_input", "cache_write", "above_input_tokens"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.long_context is not None:
            data["long_context"] = self.long_context.to_dict()
        return data


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Model name to :class:`ModelPrice`, and the date the prices were taken.

    Attributes:
        models: The prices, by model name.
        as_of: When the prices were read (``"2026-06-01"``), or ``None`` for the user's own.
    """

    models: Mapping[str, ModelPrice]
    as_of: str | None = None

    def lookup(self, model: str | None) -> ModelPrice | None:
        """The price of ``model`` (the exact name, else the name without a snapshot date);
        ``None``: unpriced."""
        if not model:
            return None
        found = self.models.get(model)
        if found is None and (snapshot := _SNAPSHOT.match(model)):
            found = self.models.get(snapshot["base"])
        return found

    def with_prices(self, prices: Mapping[str, ModelPrice]) -> PriceTable:
        """This table with ``prices`` added or replacing the same names."""
        return replace(self, models={**self.models, **prices})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "prices") -> PriceTable:
        """A table from ``{"as_of": ..., "models": {name: {...}}}``.

        Raises:
            ConfigError: the shape or a price is wrong; the message names it.
        """
        models = data.get("models") if isinstance(data, Mapping) else None
        if not isinstance(models, Mapping):
            raise ConfigError(f"{where}: needs a 'models' object of name to price")
        as_of = data.get("as_of")
        return cls(
            {str(name): ModelPrice.from_dict(str(name), price) for name, price in models.items()},
            as_of=str(as_of) if as_of is not None else None,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PriceTable:
        """A table from a JSON file of :meth:`from_dict`'s shape.

        Raises:
            ConfigError: the file cannot be read or is not such a table.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the price file {path}: {exc}") from None
        return cls.from_dict(data, where=str(path))

    @classmethod
    def shipped(cls) -> PriceTable:
        """The table that comes with sandloop (``prices.json``, dated)."""
        text = resources.files("sandloop.pricing").joinpath("prices.json").read_text("utf-8")
        return cls.from_dict(json.loads(text), where="sandloop/pricing/prices.json")


_default: list[PriceTable] = []


def default_prices() -> PriceTable:
    """The process-wide table: shipped, then ``SANDLOOP_PRICES``, then :func:`set_price`'s."""
    if not _default:
        table = PriceTable.shipped()
        extra = os.environ.get("SANDLOOP_PRICES")
        if extra:
            table = table.with_prices(PriceTable.from_file(extra).models)
        _default.append(table)
    return _default[0]


def set_price(
    model: str,
    *,
    input: float,
    output: float,
    cached_input: float | None = None,
    cache_write: float | None = None,
) -> ModelPrice:
    """Add or replace ``model``'s price in the process-wide table (dollars per 1M tokens).

    Raises:
        ConfigError: a rate is negative or not a number.
    """
    rates = {"input": input, "output": output}
    rates |= {
        k: v
        for k, v in (("cached_input", cached_input), ("cache_write", cache_write))
        if v is not None
    }
    price = ModelPrice.from_dict(model, rates)
    _default[:] = [default_prices().with_prices({model: price})]
    return price

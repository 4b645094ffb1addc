"""The price table: lookups, rates per kind of token, tiers, overrides, and bad price files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandloop.errors import ConfigError
from sandloop.items import Response
from sandloop.pricing import ModelPrice, PriceTable, cost_of, default_prices, set_price, table

PRICE = ModelPrice(input=2.0, cached_input=0.5, cache_write=2.5, output=8.0)


@pytest.fixture(autouse=True)
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from the shipped table (set_price changes the process's table)."""
    monkeypatch.setattr(table, "_default", [])
    monkeypatch.delenv("SANDLOOP_PRICES", raising=False)


def test_the_shipped_table_is_dated_and_prices_known_models() -> None:
    shipped = PriceTable.shipped()
    assert shipped.as_of == "2026-06-01"
    gpt5 = shipped.lookup("gpt-5")
    assert gpt5 is not None
    assert (gpt5.input, gpt5.cached_input, gpt5.output) == (1.25, 0.125, 10.0)


def test_a_snapshot_is_priced_as_its_model_and_nothing_else_is_guessed() -> None:
    shipped = PriceTable.shipped()
    assert shipped.lookup("gpt-5-2025-08-07") == shipped.lookup("gpt-5")
    assert shipped.lookup("gpt-5-mini") != shipped.lookup("gpt-5")  # never a prefix match
    assert shipped.lookup("gpt-5-turbo-ultra") is None
    assert shipped.lookup("my-finetune") is None
    assert shipped.lookup(None) is None


def test_cache_reads_and_writes_have_their_own_rates() -> None:
    # 1000 input of which 600 read from the cache and 100 written to it, 200 output:
    # 300 plain * 2.0 + 600 * 0.5 + 100 * 2.5 + 200 * 8.0 = 600 + 300 + 250 + 1600 = 2750 per 1M
    assert PRICE.cost(input=1000, cached=600, cache_write=100, output=200) == pytest.approx(0.00275)
    plain = ModelPrice(input=2.0, output=8.0)  # no cache rates: cache tokens cost as input
    assert plain.cost(input=1000, cached=600, cache_write=100, output=0) == pytest.approx(0.002)


def test_a_long_context_tier_applies_past_its_threshold() -> None:
    price = ModelPrice.from_dict(
        "m",
        {
            "input": 2.5,
            "output": 15.0,
            "long_context": {"above_input_tokens": 272_000, "input": 5.0, "output": 22.5},
        },
    )
    assert price.cost(input=272_000, cached=0, cache_write=0, output=0) == pytest.approx(0.68)
    assert price.cost(input=272_001, cached=0, cache_write=0, output=1000) == pytest.approx(
        272_001 * 5.0 / 1e6 + 1000 * 22.5 / 1e6
    )
    shipped = PriceTable.shipped().lookup("gpt-5.4")
    assert shipped is not None
    assert shipped.long_context is not None
    assert shipped.long_context.above_input_tokens == 272_000


def test_an_unpriced_turn_makes_the_total_unknown_never_zero() -> None:
    usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    known = Response.model_validate({"id": "r1", "model": "gpt-5", "usage": usage})
    unknown = Response.model_validate({"id": "r2", "model": "mystery-1", "usage": usage})
    cost = cost_of([known, unknown])
    assert cost.total is None
    assert cost.unpriced == ("mystery-1",)
    assert str(cost) == "unpriced (mystery-1)"
    assert cost.turns[0].usd == pytest.approx((10 * 1.25 + 5 * 10.0) / 1e6)
    assert cost.to_dict()["total"] is None
    assert cost_of([known]).total == pytest.approx((10 * 1.25 + 5 * 10.0) / 1e6)


def test_set_price_and_a_price_file_extend_the_process_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"house-model": {"input": 1, "output": 3}}}))
    monkeypatch.setenv("SANDLOOP_PRICES", str(path))
    assert default_prices().lookup("house-model") == ModelPrice(input=1.0, output=3.0)
    assert default_prices().lookup("gpt-5") is not None  # the shipped prices stay
    set_price("gpt-5", input=9.0, output=9.0)
    replaced = default_prices().lookup("gpt-5")
    assert replaced is not None
    assert replaced.input == 9.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "needs a 'models' object"),
        ({"models": {"m": {"output": 1}}}, "'input' is required"),
        ({"models": {"m": {"input": -1, "output": 1}}}, "'input' must be a number >= 0"),
        ({"models": {"m": {"input": "1", "output": 1}}}, "'input' must be a number >= 0"),
        ({"models": {"m": {"input": 1, "output": 1, "typo": 2}}}, "unknown key"),
        ({"models": {"m": {"input": 1, "output": 1, "long_context": {"input": 1, "output": 1}}}},
         "long_context needs above_input_tokens"),
    ],
)  # fmt: skip
def test_a_bad_price_file_is_refused_naming_the_problem(
    tmp_path: Path, data: object, message: str
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message):
        PriceTable.from_file(path)


def test_an_unreadable_price_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the price file"):
        PriceTable.from_file(tmp_path / "missing.json")

"""Output types a typed-output run validates against (tests/e2e/test_typed_output.py); module
level, so a RunSpec names them by import path."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12


class Forecast(BaseModel):
    """A weather forecast for one city."""

    city: str
    high_c: int = Field(ge=-90, le=60)
    summary: str | None = None


@dataclass
class ForecastRecord:
    city: str
    high_c: int
    summary: str | None = None


class ForecastDict(TypedDict):
    city: str
    high_c: int
    summary: str | None

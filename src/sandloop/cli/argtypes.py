"""Argument types shared by the subcommands: whole numbers and seconds, with clear refusals.

Part of ``cli``.
"""

from __future__ import annotations

import argparse

__all__ = ("count", "positive", "seconds")


def _whole(text: str, minimum: int, rule: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(rule)
    return value


def positive(text: str) -> int:
    """A whole number of at least 1."""
    return _whole(text, 1, "must be at least 1")


def count(text: str) -> int:
    """A whole number of at least 0."""
    return _whole(text, 0, "must be 0 or more")


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value

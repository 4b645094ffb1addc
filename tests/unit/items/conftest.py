"""Parametrize the round-trip tests over the openapi.yaml examples (see ``openapi_examples``)."""

from __future__ import annotations

import pytest
from openapi_examples import event_examples, request_examples, response_examples


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for fixture, source in (
        ("request_example", request_examples),
        ("response_example", response_examples),
        ("event_example", event_examples),
    ):
        if fixture in metafunc.fixturenames:
            examples = source()
            metafunc.parametrize(fixture, examples, ids=[e.name for e in examples])

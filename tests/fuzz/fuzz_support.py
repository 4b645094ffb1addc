"""Shared pieces of the bad-input fuzz tests (a uniquely named module: test dirs are not
packages, so modules are imported by basename): JSON strategies and one reproducible profile.

Every fuzz test uses :data:`FUZZ`: ``derandomize=True`` makes hypothesis derive its examples
from the test itself, so CI and a developer's machine see the same inputs; ``max_examples``
keeps the whole fuzz set well under a minute on two cores.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: The settings every fuzz test uses (reproducible, moderate, no per-example deadline).
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)

#: Any JSON-like value (also NaN/Infinity, which Python's json accepts and emits).
json_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

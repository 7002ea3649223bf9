"""Shared Hypothesis strategies."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

micros = st.integers(min_value=-(10**15), max_value=10**15)
"""Any amount in micro-units (up to a billion pUSD either way)."""

decimal_texts = st.decimals(
    min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=6, allow_nan=False, allow_infinity=False
).map(str)
"""Decimal strings with at most six places."""

prices = st.integers(min_value=1, max_value=999_999)
"""A price strictly inside (0, 1), in micro-units."""

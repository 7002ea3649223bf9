"""Exact quantities: decimal text <-> integer micro-units, never through a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given

from backtester.units import UnitError, format_micros, parse_float_micros, parse_micros
from tests.strategies import decimal_texts, micros


class TestParseMicros:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("0.48", 480_000),
            ("1200.5", 1_200_500_000),
            ("219.217767", 219_217_767),  # a real fractional share size (6 decimals)
            ("0.001", 1_000),
            ("5", 5_000_000),
            ("0.500000000", 500_000),  # trailing zeros beyond 6 places are exact
            ("-1.5", -1_500_000),
            ("1e-3", 1_000),
        ],
    )
    def test_golden(self, text: str, expected: int) -> None:
        """Decimal strings become exact micro-units."""
        assert parse_micros(text) == expected

    def test_numbers(self) -> None:
        """JSON numbers arrive as int or Decimal and are exact too."""
        assert parse_micros(5) == 5_000_000
        assert parse_micros(Decimal("0.07")) == 70_000

    @pytest.mark.parametrize("bad", ["0.1234567", "abc", "", "NaN", "Infinity", True, None, 0.5])
    def test_rejects(self, bad: object) -> None:
        """More than six decimals, non-numbers and binary floats are refused, not rounded."""
        with pytest.raises(UnitError):
            parse_micros(bad)

    @given(decimal_texts)
    def test_round_trip(self, text: str) -> None:
        """format(parse(x)) is the same number as x."""
        assert Decimal(format_micros(parse_micros(text))) == Decimal(text)

    @given(micros)
    def test_format_parse_identity(self, value: int) -> None:
        """parse(format(m)) == m for every micro amount."""
        assert parse_micros(format_micros(value)) == value


class TestFloatColumns:
    def test_shortest_repr(self) -> None:
        """A float64 column value is read as the decimal it was written from."""
        assert parse_float_micros(2.083332) == 2_083_332
        assert parse_float_micros(0.31) == 310_000

    def test_float_noise_is_refused(self) -> None:
        """A float that is not a short decimal (arithmetic residue) is refused."""
        with pytest.raises(UnitError):
            parse_float_micros(0.1 + 0.2)

    def test_non_finite(self) -> None:
        """NaN and infinities are not quantities."""
        with pytest.raises(UnitError):
            parse_float_micros(float("nan"))

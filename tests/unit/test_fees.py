"""Both fee models and the dated fee-asset rule, golden cases worked by hand."""

from __future__ import annotations

import pytest

from backtester.fees import CLOB_V2_CUTOVER_MS, FeeModel, FeeUnknown, fee_asset, fee_in_shares, taker_fee
from tests.factories import m

CURVE = FeeModel("curve", rate=m("0.07"), exponent=1)


class TestCurve:
    def test_at_one_half(self) -> None:
        """100 shares at 0.50: 100 x 0.07 x (0.5 x 0.5) = 1.75 pUSD exactly."""
        assert taker_fee(CURVE, m("100"), m("0.5")) == m("1.75")

    def test_floored_to_five_decimals(self) -> None:
        """7 shares at 0.13: 7 x 0.07 x 0.13 x 0.87 = 0.055419, floored (never rounded up)
        to 0.05541 pUSD."""
        assert taker_fee(CURVE, m("7"), m("0.13")) == m("0.05541")

    def test_floor_can_take_it_to_zero(self) -> None:
        """5 shares at 0.001: 5 x 0.07 x 0.001 x 0.999 = 0.00034965 -> 0.00034; 1 share at
        0.0001: 0.07 x 0.0001 x 0.9999 = 0.0000069993, below 0.00001 -> 0."""
        assert taker_fee(CURVE, m("5"), m("0.001")) == m("0.00034")
        assert taker_fee(CURVE, m("1"), m("0.0001")) == 0

    def test_exponent_two(self) -> None:
        """Rate 0.25, exponent 2, 100 shares at 0.40: 100 x 0.25 x (0.24)^2 = 100 x 0.25 x
        0.0576 = 1.44 pUSD."""
        assert taker_fee(FeeModel("curve", rate=m("0.25"), exponent=2), m("100"), m("0.4")) == m("1.44")

    def test_symmetric_in_price(self) -> None:
        """p(1 - p) is the same at 0.30 and 0.70: 10 x 0.07 x 0.21 = 0.147 both ways."""
        assert taker_fee(CURVE, m("10"), m("0.3")) == taker_fee(CURVE, m("10"), m("0.7")) == m("0.147")


class TestFlat:
    def test_bps_of_notional(self) -> None:
        """20 bps on 10 shares at 0.48: notional 4.8 x 0.002 = 0.0096 pUSD."""
        assert taker_fee(FeeModel("flat_bps", rate_bps=20), m("10"), m("0.48")) == m("0.0096")

    def test_rounded_down_to_the_micro(self) -> None:
        """15 bps on 3.33 shares at 0.333: notional 1.10889, x 0.0015 = 0.001663335 ->
        0.001663 pUSD."""
        assert taker_fee(FeeModel("flat_bps", rate_bps=15), m("3.33"), m("0.333")) == m("0.001663")

    def test_zero_and_none(self) -> None:
        assert taker_fee(FeeModel("flat_bps", rate_bps=0), m("10"), m("0.5")) == 0
        assert taker_fee(FeeModel("none"), m("10"), m("0.5")) == 0


def test_unknown_schedule_refuses() -> None:
    with pytest.raises(FeeUnknown):
        taker_fee(FeeModel("unknown"), m("10"), m("0.5"))


class TestFeeAsset:
    def test_dated_rule(self) -> None:
        """Shares on a buy before the CLOB v2 cutover, pUSD after; pUSD on a sell always."""
        before, after = CLOB_V2_CUTOVER_MS - 1, CLOB_V2_CUTOVER_MS
        assert [fee_asset(buying=b, ts_ms=t) for b in (True, False) for t in (before, after)] == [
            "shares", "pusd", "pusd", "pusd",
        ]  # fmt: skip

    def test_overrides(self) -> None:
        assert fee_asset(buying=True, ts_ms=0, override="pusd") == "pusd"
        assert fee_asset(buying=True, ts_ms=CLOB_V2_CUTOVER_MS, override="shares_on_buy") == "shares"

    def test_fee_in_shares_rounds_up(self) -> None:
        """1.75 pUSD at 0.50 is 3.5 shares; 0.00001 pUSD at 0.30 is 0.0000333... -> 0.000034."""
        assert fee_in_shares(m("1.75"), m("0.5")) == m("3.5")
        assert fee_in_shares(m("0.00001"), m("0.3")) == m("0.000034")

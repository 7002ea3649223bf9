"""The contract parser: everything ARCHIVE_FORMAT.md allows parses; what it forbids is a
problem naming the line and the field. Records here are GENERATED around real ids."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from backtester.archive import schema
from backtester.archive.contract import ContractParser, canonical_json
from tests.conftest import T0, TRUMP_MARKET, TRUMP_NO, TRUMP_YES, book, market_record, report


def parse(*records: Any) -> ContractParser:
    parser = ContractParser(file_key=7, path="f.jsonl")
    for line, record in enumerate(records, start=1):
        raw = record if isinstance(record, str) else json.dumps(record)
        parser.feed_line(line, raw.encode())
    return parser


def only_problem(*records: Any) -> str:
    parser = parse(*records)
    assert len(parser.problems) == 1, parser.problems
    return str(parser.problems[0])


class TestRowsMatchSchema:
    def test_every_row_has_its_table_columns(self) -> None:
        """Each row the parser makes has exactly the columns of its archive table."""
        parser = parse(
            market_record(),
            book(),
            {"event_type": "price_change", "market": TRUMP_MARKET, "timestamp": T0,
             "price_changes": [{"asset_id": TRUMP_YES, "price": "0.5", "size": "1", "side": "BUY"}]},
            {"event_type": "last_trade_price", "market": TRUMP_MARKET, "asset_id": TRUMP_YES,
             "timestamp": T0, "price": "0.5", "size": "1", "side": "SELL"},
            {"event_type": "tick_size_change", "market": TRUMP_MARKET, "asset_id": TRUMP_YES,
             "timestamp": T0, "old_tick_size": "0.01", "new_tick_size": "0.001"},
            report(),
        )  # fmt: skip
        assert parser.problems == []
        tables = {t.name: t for t in schema.CONTENT_TABLES}
        for name, rows in parser.rows.items():
            assert len(rows) == 1, name
            assert len(rows[0]) == len(tables[name].columns), name


class TestBook:
    def test_levels_best_first(self) -> None:
        """Levels in any order are stored best first (Polymarket lists the best price last)."""
        parser = parse(
            book(bids=[("0.47", "310"), ("0.48", "1200.5")], asks=[("0.53", "95.25"), ("0.52", "830")])
        )
        row = parser.rows["md_book"][0]
        assert row[6:10] == ([480_000, 470_000], [1_200_500_000, 310_000_000], [520_000, 530_000],
                             [830_000_000, 95_250_000])  # fmt: skip

    def test_empty_side_is_allowed(self) -> None:
        """A side may be empty (near resolution one side empties)."""
        assert parse(book(asks=[])).problems == []

    def test_crossed_book(self) -> None:
        """best bid >= best ask is rejected on the bids field."""
        assert only_problem(book(bids=[("0.55", "1")], asks=[("0.55", "1")])) == (
            "f.jsonl:1: bids: crossed book: best bid 0.55 >= best ask 0.55"
        )

    @pytest.mark.parametrize(
        ("level", "message"),
        [
            (("0", "1"), "bids[0].price: price 0 is outside (0, 1)"),
            (("1", "1"), "bids[0].price: price 1 is outside (0, 1)"),
            (("0.5", "0"), "bids[0].size: size 0 must be > 0"),
            (("0.5", "-3"), "bids[0].size: size -3 must be > 0"),
            (("half", "1"), "bids[0].price: 'half' is not a decimal number"),
            (("0.1234567", "1"), "bids[0].price: '0.1234567' has more than 6 decimal places"),
        ],
    )
    def test_bad_levels(self, level: tuple[str, str], message: str) -> None:
        """Prices outside (0, 1), sizes <= 0 and non-decimals name the level's field."""
        assert only_problem(book(bids=[level])) == f"f.jsonl:1: {message}"

    def test_missing_field(self) -> None:
        """A missing required field is named."""
        record = book()
        del record["asset_id"]
        assert only_problem(record) == "f.jsonl:1: asset_id: required field is missing"

    def test_number_ids_are_refused(self) -> None:
        """Ids are strings, never numbers (a number loses digits in most JSON readers)."""
        raw = json.dumps(book()).replace(f'"{TRUMP_YES}"', TRUMP_YES)
        assert "asset_id: number" in only_problem(raw)

    def test_seconds_are_not_milliseconds(self) -> None:
        """A timestamp in seconds is refused rather than read as 1970."""
        assert "timestamp" in only_problem(book(ts=1_728_799_418))

    def test_json_numbers_are_exact(self) -> None:
        """Prices and sizes given as JSON numbers are read exactly (as Decimal)."""
        raw = json.dumps(book()).replace('"0.48"', "0.48").replace('"100"', "100.000001")
        row = parse(raw).rows["md_book"][0]
        assert (row[6], row[7]) == ([480_000], [100_000_001])

    def test_extra_fields_are_ignored(self) -> None:
        """Unknown fields are ignored (Polymarket adds fields over time)."""
        assert parse(book(tick_size="0.01", neg_risk=True, last_trade_price="0.5")).problems == []


class TestPriceChange:
    def test_current_form_with_both_tokens(self) -> None:
        """The current form: several entries, possibly of both tokens, with best bid/ask."""
        record = {
            "event_type": "price_change", "market": TRUMP_MARKET, "timestamp": "1757908892351",
            "price_changes": [
                {"asset_id": TRUMP_YES, "price": "0.5", "size": "200", "side": "BUY", "hash": "56",
                 "best_bid": "0.5", "best_ask": "1"},
                {"asset_id": TRUMP_NO, "price": "0.5", "size": "200", "side": "SELL", "hash": "18",
                 "best_bid": "0", "best_ask": "0.5"},
            ],
        }  # fmt: skip
        rows = parse(record).rows["md_level"]
        assert [(r[1], r[5], r[6], r[7], r[8], r[9], r[14]) for r in rows] == [
            (TRUMP_YES, "BUY", 500_000, 200_000_000, 500_000, 1_000_000, 0),
            (TRUMP_NO, "SELL", 500_000, 200_000_000, 0, 500_000, 1),
        ]

    def test_legacy_changes_form(self) -> None:
        """The legacy form: one asset_id and a changes list."""
        record = {"event_type": "price_change", "market": TRUMP_MARKET, "asset_id": TRUMP_YES,
                  "timestamp": "1729084877448", "hash": "3c",
                  "changes": [{"price": "0.4", "side": "SELL", "size": "3300"},
                              {"price": "0.41", "side": "SELL", "size": "0"}]}  # fmt: skip
        rows = parse(record).rows["md_level"]
        assert [(r[1], r[6], r[7], r[10]) for r in rows] == [
            (TRUMP_YES, 400_000, 3_300_000_000, "3c"),
            (TRUMP_YES, 410_000, 0, "3c"),
        ]

    def test_flat_legacy_form(self, real_data) -> None:
        """The flat single-level form, as captured from the live feed in Aug 2024."""
        path = real_data / "nautilus_captured_messages/ws_price_change_legacy_trump_no_2024-08-18.json"
        raw = json.dumps(json.loads(path.read_text()))
        [row] = parse(raw).rows["md_level"]
        assert (row[1], row[5], row[6], row[7]) == (TRUMP_NO, "SELL", 514_000, 21_574_080_000)

    def test_removal_is_size_zero(self) -> None:
        """Size 0 removes a level and is valid."""
        record = {"event_type": "price_change", "market": TRUMP_MARKET, "asset_id": TRUMP_YES,
                  "timestamp": T0, "price": "0.5", "side": "BUY", "size": "0"}  # fmt: skip
        assert parse(record).problems == []

    def test_crossed_top_of_book(self) -> None:
        """A best_bid at or above best_ask is a crossed book."""
        record = {"event_type": "price_change", "market": TRUMP_MARKET, "timestamp": T0,
                  "price_changes": [{"asset_id": TRUMP_YES, "price": "0.5", "size": "1", "side": "BUY",
                                     "best_bid": "0.6", "best_ask": "0.55"}]}  # fmt: skip
        assert only_problem(record) == (
            "f.jsonl:1: price_changes[0].best_bid: crossed book: best_bid 0.6 >= best_ask 0.55"
        )

    def test_bad_side(self) -> None:
        """side is BUY or SELL."""
        record = {
            "event_type": "price_change",
            "market": TRUMP_MARKET,
            "timestamp": T0,
            "price_changes": [{"asset_id": TRUMP_YES, "price": "0.5", "size": "1", "side": "bid"}],
        }
        assert only_problem(record) == "f.jsonl:1: price_changes[0].side: 'bid' is not BUY or SELL"


class TestFramesAndLines:
    def test_array_frame(self) -> None:
        """A line may be a JSON array of market-data messages; each element counts."""
        parser = parse([book(), book(asset=TRUMP_NO, bids=[("0.47", "5")], asks=[("0.53", "5")])])
        assert [r[12:14] for r in parser.rows["md_book"]] == [(1, 1), (1, 2)]

    def test_array_frame_error_names_element(self) -> None:
        """An error inside a frame names the element."""
        bad = book()
        bad["bids"][0]["price"] = "2"
        assert only_problem([book(), bad]) == "f.jsonl:1: [1].bids[0].price: price 2 is outside (0, 1)"

    def test_bad_json(self) -> None:
        """A line that is not JSON is named by line."""
        assert only_problem('{"event_type": "book",').startswith("f.jsonl:1: (json): not valid JSON")

    def test_not_utf8(self) -> None:
        """A line that is not UTF-8 is named by line."""
        parser = ContractParser(1, "f.jsonl")
        parser.feed_line(3, b'{"a": "\xff"}')
        assert str(parser.problems[0]).startswith("f.jsonl:3: (line): not UTF-8")

    def test_unknown_event_type(self) -> None:
        """Only the four market-channel event types are market data."""
        assert "event_type: 'best_bid_ask' is not one of" in only_problem(
            {"event_type": "best_bid_ask", "market": TRUMP_MARKET}
        )

    def test_float_from_an_adapter_is_refused(self) -> None:
        """A binary float handed in by an adapter never becomes a price."""
        parser = ContractParser(1, "f")
        parser.feed(1, book(bids=[(0.48, "1")]))
        assert "binary float" in str(parser.problems[0])


class TestMarket:
    def test_market_row(self) -> None:
        """A market record keeps both tokens in order, the tick and the fee model."""
        [row] = parse(market_record()).rows["markets"]
        assert row[:7] == (TRUMP_MARKET, 0, market_record()["question"], TRUMP_YES, "Yes", TRUMP_NO, "No")
        assert row[13] == 10_000  # tick 0.01
        assert row[15:17] == ("flat_bps", 0)

    def test_curve_fees(self) -> None:
        """Polymarket's curve fee model keeps rate, exponent, taker_only and rebate exactly."""
        fees = {"model": "curve", "rate": "0.07", "exponent": 1, "taker_only": True, "rebate_rate": "0.2"}
        [row] = parse(market_record(fees=fees)).rows["markets"]
        assert row[15:21] == ("curve", None, 70_000, 1, True, 200_000)

    def test_missing_fees_means_none_and_legacy_bps(self) -> None:
        """No fees field is no fee; a legacy integer fee_rate_bps is flat_bps."""
        record = market_record()
        del record["fees"]
        assert parse(record).rows["markets"][0][15] == "none"
        record["fee_rate_bps"] = 20
        assert parse(record).rows["markets"][0][15:17] == ("flat_bps", 20)

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"tokens": [{"token_id": TRUMP_YES, "outcome": "Yes"}]},
             "tokens: a binary market has exactly 2 tokens, got 1"),
            ({"tick_size": "0.02"}, "tick_size: 0.02 is not a Polymarket tick size"),
            ({"neg_risk_market_id": None}, "neg_risk_market_id: required when neg_risk is true"),
            ({"condition_id": "0x1234"}, "condition_id: '0x1234' is not a condition id"),
            ({"fees": {"model": "percent"}}, "fees.model: 'percent' is not flat_bps or curve"),
        ],
    )  # fmt: skip
    def test_bad_market(self, overrides: dict, message: str) -> None:
        """Market records break the contract in named ways."""
        assert only_problem(market_record(**overrides)).startswith(f"f.jsonl:1: {message}")


class TestReports:
    def test_report_row_and_canonical_payload(self) -> None:
        """Reports keep an exact canonical payload and expose market and asset."""
        [row] = parse(report()).rows["reports"]
        assert row[:9] == ("exec_1", "ExecutionReport", "tr_1", "exec.router", T0 + 100, "live", 2,
                           TRUMP_MARKET, TRUMP_YES)  # fmt: skip
        assert json.loads(row[9])["size_pusd"] == "5.2"

    def test_same_content_same_hash(self) -> None:
        """Decimal spelling does not change a report's identity; content does."""
        a = parse(report()).rows["reports"][0][10]
        b = parse(json.dumps(report()).replace('"5.2"', "5.20")).rows["reports"][0][10]
        c = parse(report(size_pusd="5.3")).rows["reports"][0][10]
        assert a == b != c

    @pytest.mark.parametrize(
        ("record", "message"),
        [
            (dict(report(), report_kind="OperationsReport"), "report_kind: 'OperationsReport' is not one of"),
            (dict(report(), schema_version=1), "schema_version: 1 is not 2"),
            (report(status="DONE"), "payload.status: 'DONE' is not FILLED, PARTIAL or REJECTED"),
            (report(price="1.5"), "payload.price: price 1.5 is outside (0, 1)"),
            (report(fee_pusd="-1"), "payload.fee_pusd: -1 must not be negative"),
        ],
    )
    def test_bad_reports(self, record: dict, message: str) -> None:
        """Envelopes and payloads are checked field by field."""
        assert only_problem(record).startswith(f"f.jsonl:1: {message}")

    def test_settlement_payouts(self) -> None:
        """A settlement pays out 1 pUSD in total across the market's two tokens."""
        record = dict(report(), report_kind="SettlementReport",
                      payload={"market_id": TRUMP_MARKET, "payouts": {TRUMP_YES: "1", TRUMP_NO: "0"},
                               "adapter": "NegRiskAdapter"})  # fmt: skip
        assert parse(record).problems == []
        record["payload"]["payouts"][TRUMP_NO] = "1"
        assert "payouts of the two tokens must add up to 1" in only_problem(record)


def test_canonical_json() -> None:
    """Canonical JSON sorts keys and writes every number as a normalised decimal string."""
    assert (
        canonical_json({"b": Decimal("1.50"), "a": {"d": 1, "t": True}})
        == '{"a":{"d":"1","t":true},"b":"1.5"}'
    )
    assert canonical_json([1, Decimal("1.0"), Decimal("1E+0")]) == '["1","1","1"]'

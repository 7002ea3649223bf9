"""Regressions from review: order independence of the archive's content and of what is
accepted, inputs that once crashed the importer, and contract edge cases.
Records here are GENERATED around real ids (see tests/conftest.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from backtester.archive import Archive, contract_conversion
from backtester.archive.adapters import conversions_for
from backtester.errors import ImportRejected
from tests.conftest import T0, TRUMP_MARKET, TRUMP_NO, TRUMP_YES, book, market_record, report, snapshot

OTHER_MARKET = "0x" + "ab" * 32
STRANGER = "9" * 72


def outcome_of(store: Archive, *paths: Path):
    return store.import_conversions([contract_conversion(p) for p in paths])


def settlement(payouts: dict[str, str]) -> dict:
    return dict(
        report("settle_1"),
        report_kind="SettlementReport",
        payload={"market_id": TRUMP_MARKET, "payouts": payouts, "adapter": "NegRiskAdapter"},
    )


class TestOrderIndependence:
    def test_shared_records_do_not_make_the_hash_order_dependent(self, tmp_path: Path, write_jsonl) -> None:
        """The same market record and report in two files give one content, in either order."""
        a = write_jsonl("a.jsonl", [market_record(), report(), book()])
        b = write_jsonl("b.jsonl", [market_record(), report(), book(ts=T0 + 1)])
        hashes = []
        for n, order in enumerate(((a, b), (b, a))):
            with Archive.open(tmp_path / f"{n}.duckdb") as store:
                assert outcome_of(store, *order).ok
                hashes.append(store.content_hash())
        assert hashes[0] == hashes[1]

    @pytest.mark.parametrize("market_first", [True, False])
    def test_token_under_another_market_is_rejected_either_way(
        self, archive: Archive, write_jsonl, market_first: bool
    ) -> None:
        """Data putting a market's token under another market id is refused in either order."""
        market = write_jsonl("m.jsonl", [market_record()])
        data = write_jsonl("d.jsonl", [dict(book(), market=OTHER_MARKET)])
        outcome = outcome_of(archive, *((market, data) if market_first else (data, market)))
        [(path, error)] = outcome.rejected
        assert path == str(data if market_first else market)
        assert "token" in str(error)

    @pytest.mark.parametrize("market_first", [True, False])
    def test_foreign_payout_is_rejected_either_way(
        self, archive: Archive, write_jsonl, market_first: bool
    ) -> None:
        """A settlement paying a token the market does not list is refused in either order."""
        market = write_jsonl("m.jsonl", [market_record()])
        paid = write_jsonl("s.jsonl", [settlement({TRUMP_YES: "1", STRANGER: "0"})])
        outcome = outcome_of(archive, *((market, paid) if market_first else (paid, market)))
        [(_, error)] = outcome.rejected
        assert STRANGER in str(error)

    def test_two_tick_changes_at_one_time_follow_seq(self, seeded_market: Archive, write_jsonl) -> None:
        """Of two tick changes stamped alike, the later by seq is in force."""
        change = {"event_type": "tick_size_change", "market": TRUMP_MARKET, "asset_id": TRUMP_YES,
                  "timestamp": T0 + 10}  # fmt: skip
        path = write_jsonl(
            "t.jsonl",
            [
                dict(change, seq=2, old_tick_size="0.01", new_tick_size="0.001"),
                dict(change, seq=1, old_tick_size="0.001", new_tick_size="0.01"),
                dict(book(ts=T0 + 11, bids=[("0.475", "1")]), seq=3),
            ],
        )
        assert outcome_of(seeded_market, path).ok

    def test_a_repeated_market_record_with_other_content_in_one_file(
        self, archive: Archive, write_jsonl
    ) -> None:
        """Two different records for one market and time are refused in one file as across two."""
        path = write_jsonl("m.jsonl", [market_record(), market_record(question="Changed?")])
        [(_, error)] = outcome_of(archive, path).rejected
        assert (error.first.line, error.first.field) == (2, "condition_id")
        assert "repeats line 1" in error.first.message


@pytest.fixture
def seeded_market(archive: Archive, write_jsonl) -> Archive:
    assert outcome_of(archive, write_jsonl("seed.jsonl", [market_record()])).ok
    return archive


class TestNamedPlaces:
    def test_foreign_token_in_a_frame(self, seeded_market: Archive, write_jsonl) -> None:
        """A foreign token inside an array frame is named with its element."""
        path = write_jsonl("f.jsonl", [[book(ts=T0 + 1), book(asset=STRANGER, ts=T0 + 2)]])
        [(_, error)] = outcome_of(seeded_market, path).rejected
        assert (error.first.line, error.first.field) == (1, "[1].asset_id")

    def test_foreign_token_in_a_price_change_entry(self, seeded_market: Archive, write_jsonl) -> None:
        """A foreign token in the current price_change form is named with its entry."""
        entry = {"price": "0.5", "size": "1", "side": "BUY"}
        entries = [dict(entry, asset_id=TRUMP_YES), dict(entry, asset_id=STRANGER)]
        message = {"event_type": "price_change", "market": TRUMP_MARKET, "timestamp": T0}
        message["price_changes"] = entries
        [(_, error)] = outcome_of(seeded_market, write_jsonl("p.jsonl", [message])).rejected
        assert error.first.field == "price_changes[1].asset_id"

    def test_grid_conflict_names_the_record_that_sets_the_grid(self, archive: Archive, write_jsonl) -> None:
        """A late tick change that makes archived data off-grid is named at its own line and field."""
        assert outcome_of(archive, write_jsonl("d.jsonl", [book(ts=T0 + 20, bids=[("0.485", "1")])])).ok
        change = {"event_type": "tick_size_change", "market": TRUMP_MARKET, "asset_id": TRUMP_YES,
                  "timestamp": T0 + 10, "old_tick_size": "0.001", "new_tick_size": "0.01"}  # fmt: skip
        path = write_jsonl("t.jsonl", [book(asset=TRUMP_NO, bids=[("0.48", "1")]), [change]])
        [(_, error)] = outcome_of(archive, path).rejected
        assert (error.first.line, error.first.field) == (2, "[0].new_tick_size")
        assert "d.jsonl:1: bids: price 0.485" in error.first.message


class TestNoCrash:
    @pytest.mark.parametrize(
        ("record", "field"),
        [
            (book(bids=[("0.48", "10000000000000")]), "bids[0].size"),
            (dict(book(), seq=2**63), "seq"),
            (dict(book(), timestamp="¹⁷²⁸⁷⁹⁹⁴¹⁸²⁶⁰"), "timestamp"),
            ({"event_type": "last_trade_price", "market": TRUMP_MARKET, "asset_id": TRUMP_YES,
              "timestamp": T0, "price": "0.5", "size": "1", "side": "BUY", "fee_rate_bps": 3_000_000_000},
             "fee_rate_bps"),
            ({"event_type": "price_change", "market": TRUMP_MARKET, "timestamp": T0, "hash": 12345,
              "price_changes": [{"asset_id": TRUMP_YES, "price": "0.5", "size": "1", "side": "BUY"}]},
             "hash"),
        ],
    )  # fmt: skip
    def test_out_of_range_values_are_rejected_by_field(
        self, seeded_market: Archive, write_jsonl, record: dict, field: str
    ) -> None:
        """Values beyond a column's range or of the wrong kind are rejected, not crashed on."""
        before = snapshot(seeded_market)
        good = write_jsonl("good.jsonl", [book(ts=T0 + 5)])
        outcome = outcome_of(seeded_market, write_jsonl("bad.jsonl", [record]), good)
        [(_, error)] = outcome.rejected
        assert error.first.field == field
        assert [Path(r.path).name for r in outcome.results] == ["good.jsonl"]  # the next file still imports
        assert snapshot(seeded_market) != before

    def test_truncated_gzip(self, archive: Archive, tmp_path: Path) -> None:
        """A truncated gzip file is rejected as unreadable, with nothing imported."""
        path = tmp_path / "cut.jsonl.gz"
        path.write_bytes(gzip.compress((json.dumps(market_record()) + "\n").encode() * 50)[:-20])
        before = snapshot(archive)
        [(_, error)] = outcome_of(archive, path).rejected
        assert isinstance(error, ImportRejected)
        assert error.first.field == "(file)"
        assert snapshot(archive) == before


class TestContractEdges:
    def test_empty_frame_is_nothing(self, seeded_market: Archive, write_jsonl) -> None:
        """An empty array frame holds no message and is not an error."""
        assert outcome_of(seeded_market, write_jsonl("e.jsonl", [[], book()])).ok

    def test_null_booleans_mean_absent(self, archive: Archive, write_jsonl) -> None:
        """neg_risk and active given as null take their defaults."""
        record = market_record(neg_risk=None, neg_risk_market_id=None, active=None)
        assert outcome_of(archive, write_jsonl("m.jsonl", [record])).ok

    def test_unknown_fee_model_is_not_the_contract(self, archive: Archive, write_jsonl) -> None:
        """{"model": "unknown"} is an adapter's word; a contract file must say flat_bps or curve."""
        [(_, error)] = outcome_of(
            archive, write_jsonl("m.jsonl", [market_record(fees={"model": "unknown"})])
        ).rejected
        assert error.first.field == "fees.model"

    def test_equal_numbers_are_the_same_content(self, archive: Archive, write_jsonl) -> None:
        """A report repeated with 5.2 written as 5.20 (or 1 as 1.0) is the same report."""
        assert outcome_of(archive, write_jsonl("a.jsonl", [report(size="10")])).ok
        same = json.dumps(report(size="10")).replace('"10"', "10.0")
        assert outcome_of(archive, write_jsonl("b.jsonl", [same])).ok
        assert archive.info()["counts"]["report"] == 1


class TestAdapterInputs:
    def test_caio_file_that_is_not_json(self, tmp_path: Path) -> None:
        """A Caio file that does not parse is rejected by file and line, not crashed on."""
        path = tmp_path / "15m_sol_trades_1765450800up.json"
        path.write_text('[{"price": "0.5",')
        with pytest.raises(ImportRejected, match=r"15m_sol_trades_1765450800up.json:1: \(json\)"):
            conversions_for("caio", [path])

    def test_selcukguler_csv_that_is_not_utf8(self, tmp_path: Path, archive: Archive) -> None:
        """A CSV that is not UTF-8 is rejected by file and line."""
        path = tmp_path / "live_trades.csv"
        path.write_bytes(b"timestamp_ms,condition_id,token_id,price\n1,\xff\xfe,2,0.5\n")
        with pytest.raises(ImportRejected, match=r"live_trades\.csv:2: \(csv\)"):
            conversions_for("selcukguler", [path])

"""Every real recording the adapters cover imports, with the row counts its provenance
notes (data/polymarket-real/SOURCES.md) state."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from backtester.archive import Archive
from backtester.archive.adapters import conversions_for
from backtester.archive.adapters.tickscope import pair_tokens
from backtester.errors import ImportRejected
from backtester.sample import REAL_DATA

pytestmark = pytest.mark.slow


def test_vendored_copies_are_byte_identical() -> None:
    """The vendored recordings are the files MANIFEST.json lists, unchanged."""
    manifest = json.loads((REAL_DATA / "MANIFEST.json").read_text())
    checked = 0
    for entry in manifest:
        path = REAL_DATA / entry["file"]
        if path.exists():
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["stored_sha256"], entry["file"]
            checked += 1
    assert checked == 40


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """One archive holding every covered recording, imported through the adapters."""
    sources = [
        ("gamma", ["statground_gamma_events_2024"]),
        ("gamma", ["ligengxin_btc5m_markets/BTC-5m-markets-2026-06-08.jsonl.gz",
                   "ligengxin_btc5m_markets/BTC-5m-markets-2026-07-24.jsonl.gz"]),
        ("caio", ["caio_updown_l2_2025-12-11"]),
        ("selcukguler", ["selcukguler_updown_2026-03-10"]),
        ("tickscope", ["tickscope_nhl_stanley_cup_g4_2026-06-07"]),
    ]  # fmt: skip
    with Archive.open(tmp_path_factory.mktemp("real") / "real.duckdb") as store:
        for source_format, names in sources:
            outcome = store.import_conversions(conversions_for(source_format, [REAL_DATA / n for n in names]))
            assert outcome.ok, [str(e) for _, e in outcome.rejected]
        yield store


def count(store: Archive, sql: str) -> int:
    row = store.con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def market_of(store: Archive, provenance_like: str) -> str:
    rows = store.con.execute(
        "SELECT condition_id FROM markets WHERE provenance LIKE ?", [provenance_like]
    ).fetchall()
    assert len(rows) == 1, rows
    return str(rows[0][0])


class TestCaio:
    def test_books(self, real: Archive) -> None:
        """248 SOL, 300 BTC-1h and 200 ETH-1h snapshots per token, both tokens."""
        for key, n in (("15m:sol", 248), ("1h:btc", 300), ("1h:eth", 200)):
            market = real.con.execute(
                "SELECT condition_id FROM markets WHERE question LIKE ?",
                [f"{key.split(':')[1].upper()} Up or Down, {key.split(':')[0]}%"],
            ).fetchone()[0]
            per_token = real.con.execute(
                "SELECT count(*) FROM md_book WHERE market = ? GROUP BY asset_id", [market]
            ).fetchall()
            assert sorted(r[0] for r in per_token) == [n, n], key

    def test_trades(self, real: Archive) -> None:
        """All 5,247 trades of the twelve trade files, over six markets."""
        caio = "SELECT condition_id FROM markets WHERE provenance LIKE 'caio:%'"
        assert count(real, f"SELECT count(*) FROM md_trade WHERE market IN ({caio})") == 5247
        assert count(real, f"SELECT count(*) FROM ({caio})") == 6

    def test_mirrored_books(self, real: Archive) -> None:
        """In every simultaneous Up/Down pair, Up's asks are Down's bids mirrored (1 - p)."""
        pairs = real.con.execute(
            """
            SELECT u.ask_px, u.ask_sz, d.bid_px, d.bid_sz FROM md_book u
            JOIN markets m ON m.condition_id = u.market AND m.yes_token_id = u.asset_id
            JOIN md_book d ON d.market = u.market AND d.asset_id = m.no_token_id AND d.ts_ms = u.ts_ms
            WHERE m.provenance LIKE 'caio:%'
            """
        ).fetchall()
        assert len(pairs) == 748
        for ask_px, ask_sz, bid_px, bid_sz in pairs:
            assert [1_000_000 - p for p in ask_px] == bid_px
            assert ask_sz == bid_sz

    def test_underlying_price_signals(self, real: Archive) -> None:
        """asset_price becomes ObservationReport signals stamped with the receive time."""
        [(payload, ts)] = real.con.execute(
            """SELECT payload, ts_ms FROM reports WHERE report_kind = 'ObservationReport'
               AND report_id LIKE 'obs-caio-sol-15m-%' ORDER BY ts_ms LIMIT 1"""
        ).fetchall()
        assert json.loads(payload)["signals"] == {"asset_price": "130.805"}
        assert ts == 1_765_450_848_195  # local_timestamp of the first SOL Up book


class TestTickscope:
    def test_rows(self, real: Archive) -> None:
        """206,365 + 150,909 level updates and 483 + 355 trades over 12 tokens."""
        tick = "SELECT condition_id FROM markets WHERE provenance LIKE 'tickscope:%'"
        assert count(real, f"SELECT count(*) FROM md_level WHERE market IN ({tick})") == 357_274
        assert count(real, f"SELECT count(*) FROM md_trade WHERE market IN ({tick})") == 838
        assert count(real, f"SELECT count(DISTINCT asset_id) FROM md_level WHERE market IN ({tick})") == 12

    def test_pairs(self) -> None:
        """The six complementary pairs found from mirrored updates are SOURCES.md's."""
        partner, _ = pair_tokens(
            sorted((REAL_DATA / "tickscope_nhl_stanley_cup_g4_2026-06-07").glob("*.parquet"))
        )
        expected = [
            ("5795346", "9396", "9606869", "6964"),
            ("2406995", "1028", "7286522", "0033"),
            ("7203419", "5181", "9241459", "1002"),
            ("2112357", "6691", "6643606", "7788"),
            ("6611186", "8345", "9401851", "1650"),
            ("4595676", "8897", "5637698", "2696"),
        ]
        pairs = {frozenset({a, b}) for a, b in partner.items()}
        assert len(pairs) == 6
        for head_a, tail_a, head_b, tail_b in expected:
            assert any(
                {t[:7] for t in p} == {head_a, head_b} and {t[-4:] for t in p} == {tail_a, tail_b}
                for p in pairs
            )

    def test_not_parquet(self, tmp_path: Path) -> None:
        """A Parquet file that is not Tickscope's is refused by name, not half-read."""
        bogus = tmp_path / "x.parquet"
        bogus.write_bytes(b"not parquet")
        with pytest.raises(ImportRejected, match="not a Parquet file"):
            conversions_for("tickscope", [bogus])


class TestSelcukguler:
    def test_rows(self, real: Archive) -> None:
        """1,798 five-level books, 2,508 trades with transaction hashes, 301 markets with data."""
        sel = "SELECT condition_id FROM markets WHERE provenance LIKE 'selcukguler%'"
        assert (
            count(real, f"SELECT count(*) FROM md_book WHERE market IN ({sel}) AND depth_limit = 5") == 1798
        )
        assert count(real, f"SELECT count(*) FROM md_trade WHERE market IN ({sel})") == 2508
        assert (
            count(real, f"SELECT count(*) FROM md_trade WHERE market IN ({sel}) AND tx_hash LIKE '0x%'")
            == 2508
        )
        assert count(real, f"SELECT count(*) FROM ({sel})") == 301

    def test_phantom_pair(self, real: Archive) -> None:
        """The sol-updown-15m-1773170100 pair read a moment apart shows best asks summing to 0.98."""
        market = market_of(real, "selcukguler market list (sol-updown-15m-1773170100)%")
        asks = real.con.execute(
            "SELECT asset_id, ask_px[1] FROM md_book WHERE market = ? AND ts_ms = 1773170763808", [market]
        ).fetchall()
        assert len(asks) == 2
        assert sum(p for _, p in asks) == 980_000


class TestGamma:
    def test_neg_risk_events(self, real: Archive) -> None:
        """64 markets in 5 neg-risk events; each event settles exactly one market Yes."""
        rows = real.con.execute(
            """
            SELECT m.neg_risk_market_id, count(*), count(*) FILTER (
                       WHERE json_extract_string(r.payload, '$.payouts."' || m.yes_token_id || '"') = '1')
            FROM markets m JOIN reports r ON r.market_id = m.condition_id
            WHERE m.neg_risk AND r.report_kind = 'SettlementReport'
              AND json_extract_string(r.payload, '$.adapter') = 'NegRiskAdapter'
            GROUP BY 1 ORDER BY 2
            """
        ).fetchall()
        assert [(n, yes) for _, n, yes in rows] == [(3, 1), (5, 1), (16, 1), (17, 1), (23, 1)]

    def test_augmented_placeholders(self, real: Archive) -> None:
        """Placeholders and the augmented 'Other' are inactive at tick 0.01; a named outcome
        called 'Other' in a standard event stays active."""
        rows = real.con.execute(
            "SELECT group_item_title, active, tick_size FROM markets WHERE group_item_title = 'Person E' "
            "OR group_item_title LIKE 'Player _%' OR neg_risk_other ORDER BY 1"
        ).fetchall()
        assert len(rows) == 7
        assert all(not active and tick == 10_000 for _, active, tick in rows)
        inaugurated = real.con.execute(
            "SELECT active FROM markets WHERE group_item_title = 'Other' AND question LIKE '%inaugurated%'"
        ).fetchall()
        assert inaugurated == [(True,)]

    def test_btc_5m_markets(self, real: Archive) -> None:
        """584 BTC 5-minute markets with the curve fee and Up/Down resolutions 277 / 307."""
        curve = "SELECT condition_id FROM markets WHERE fee_model = 'curve' AND fee_rate = 70000"
        assert count(real, f"SELECT count(*) FROM ({curve})") == 584
        ups = count(
            real,
            f"""SELECT count(*) FROM reports r JOIN markets m ON m.condition_id = r.market_id
                WHERE r.market_id IN ({curve})
                AND json_extract_string(r.payload, '$.payouts."' || m.yes_token_id || '"') = '1'""",
        )
        assert ups == 137 + 140


class TestNautilusMessages:
    def test_single_messages_as_contract_lines(self, tmp_path: Path) -> None:
        """The real WS book, legacy price_change, last trade and tick_size_change import
        under the contract, with the Trump market from the CLOB object (tick 0.001)."""
        folder = REAL_DATA / "nautilus_captured_messages"
        lines = [
            json.dumps(json.loads((folder / f).read_text()))
            for f in ("ws_book_trump_no_2024-10-13.json", "ws_price_change_legacy_trump_no_2024-08-18.json",
                      "ws_last_trade_price_trump_yes_2024-08-25.json", "ws_tick_size_change_2025-02-09.json")
        ]  # fmt: skip
        feed = tmp_path / "feed.jsonl"
        feed.write_text("\n".join(lines) + "\n")
        with Archive.open(tmp_path / "a.duckdb") as store:
            outcome = store.import_conversions(
                conversions_for("gamma", [folder / "clob_market_trump_2024.json"])
            )
            outcome2 = store.import_conversions(conversions_for("contract", [feed]))
            assert outcome.ok
            assert outcome2.ok, [str(e) for _, e in outcome2.rejected]
            row = store.con.execute(
                "SELECT len(bid_px), len(ask_px), bid_px[1], ask_px[1] FROM md_book"
            ).fetchone()
            assert row == (76, 86, 511_000, 514_000)
            counts = store.info()["counts"]
            kinds = ("price_change", "last_trade_price", "tick_size_change")
            assert [counts[k] for k in kinds] == [1, 1, 1]

    def test_clob_page_and_trimmed_gamma_event(self, tmp_path: Path) -> None:
        """A CLOB /markets page (99 of its 100 markets: one never had a book or token ids)
        and the trimmed augmented Gamma event (2 markets) import."""
        folder = REAL_DATA / "nautilus_captured_messages"
        with Archive.open(tmp_path / "a.duckdb") as store:
            outcome = store.import_conversions(
                conversions_for(
                    "gamma",
                    [
                        folder / "clob_markets_page.json.gz",
                        folder / "gamma_event_democratic-presidential-nominee-2028_trimmed.json",
                    ],
                )
            )
            assert outcome.ok, [str(e) for _, e in outcome.rejected]
            assert store.info()["counts"]["markets"] == 101

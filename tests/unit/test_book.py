"""Book reconstruction (contract section 2): snapshots, level updates, sync, partial
books, and the Yes/No mirror. Books here are GENERATED; golden numbers are worked in
the comments."""

from __future__ import annotations

import gzip
import json

from backtester.book import BookState, MarketView, TokenBook, depth_within, walk_buy
from backtester.fees import FeeModel
from tests.factories import NO_FEE, book, info, m, mirrored


class TestSnapshotAndUpdates:
    def test_golden_reconstruction(self) -> None:
        """Snapshot + updates give the expected book.

        Snapshot: bids 0.47 x 310, 0.48 x 1200.5; asks 0.52 x 830, 0.53 x 95.25.
        Updates:  BUY 0.49 -> 50     (a new best bid)
                  SELL 0.52 -> 0     (the best ask leaves; 0.53 is best)
                  BUY 0.48 -> 1000   (size replaced, not added)
                  SELL 0.54 -> 12    (a deeper ask)
        Expected: bids 0.49 x 50, 0.48 x 1000, 0.47 x 310; asks 0.53 x 95.25, 0.54 x 12.
        """
        b = book("Y", [("0.47", "310"), ("0.48", "1200.5")], [("0.52", "830"), ("0.53", "95.25")], ts=1)
        b.set_level(is_bid=True, price=m("0.49"), size=m("50"), ts_ms=2)
        b.set_level(is_bid=False, price=m("0.52"), size=0, ts_ms=3)
        b.set_level(is_bid=True, price=m("0.48"), size=m("1000"), ts_ms=4)
        b.set_level(is_bid=False, price=m("0.54"), size=m("12"), ts_ms=5)
        assert b.bids_sorted() == [(m("0.49"), m("50")), (m("0.48"), m("1000")), (m("0.47"), m("310"))]
        assert b.asks_sorted() == [(m("0.53"), m("95.25")), (m("0.54"), m("12"))]
        assert (b.best_bid, b.best_ask, b.stamp_ms, b.state) == (m("0.49"), m("0.53"), 5, BookState.FULL)

    def test_removing_an_unknown_level_changes_nothing(self) -> None:
        """Size 0 at a price the book does not hold is a no-op."""
        b = book("Y", [("0.48", "10")], [("0.52", "10")])
        b.set_level(is_bid=True, price=m("0.40"), size=0, ts_ms=2)
        assert b.bids_sorted() == [(m("0.48"), m("10"))]

    def test_empty_sides(self) -> None:
        """A side may empty out (near resolution); the best is then None."""
        b = book("Y", [("0.99", "10")], [])
        b.set_level(is_bid=True, price=m("0.99"), size=0, ts_ms=2)
        assert (b.best_bid, b.best_ask) == (None, None)


class TestSync:
    def test_seq_gap_loses_sync_until_the_next_snapshot(self) -> None:
        """A jump of seq from 7 to 10 means two messages are missing: the book is unknown,
        updates are ignored, and the next snapshot restores it."""
        b = book("Y", [("0.48", "10")], [("0.52", "10")])
        assert b.check_seq(7) == 0
        assert b.check_seq(10) == 2
        assert (b.state, b.reason) == (BookState.UNKNOWN, "seq gap: 7 then 10 (2 message(s) missing)")
        b.set_level(is_bid=True, price=m("0.50"), size=m("5"), ts_ms=3)
        assert b.bids == {}  # nothing reconstructed
        b.snapshot([m("0.49")], [m("1")], [m("0.51")], [m("1")], ts_ms=4)
        assert b.state is BookState.FULL

    def test_best_bid_disagreement(self) -> None:
        """A full book that disagrees with a message's best_bid has lost sync."""
        b = book("Y", [("0.48", "10")], [("0.52", "10")])
        b.set_level(
            is_bid=True, price=m("0.47"), size=m("5"), ts_ms=2, best_bid=m("0.47"), best_ask=m("0.52")
        )
        assert b.state is BookState.UNKNOWN
        assert b.reason.startswith("best_bid disagreement: message says 470000, book has 480000")

    def test_agreeing_tops_keep_sync(self) -> None:
        """Tops that agree keep the book; '0' bid and '1' ask mean an empty side."""
        b = book("Y", [], [("0.52", "10")])
        b.set_level(is_bid=False, price=m("0.52"), size=m("3"), ts_ms=2, best_bid=0, best_ask=m("0.52"))
        assert b.state is BookState.FULL


class TestPartialBooks:
    def test_a_stream_without_snapshot_is_partial(self) -> None:
        """Updates without a snapshot give a partial book of the known levels only."""
        b = TokenBook("Y")
        b.set_level(
            is_bid=False, price=m("0.55"), size=m("20"), ts_ms=1, best_bid=m("0.40"), best_ask=m("0.50")
        )
        assert b.state is BookState.PARTIAL
        assert b.asks_sorted() == [(m("0.55"), m("20"))]  # the stated best 0.50 is unknown in size
        assert (b.bid, b.ask) == (m("0.40"), m("0.50"))  # the top is what the message states

    def test_stated_top_drops_stale_levels(self) -> None:
        """Known asks below the stated best ask were taken by trades the recorder did not
        keep (Polymarket reports those in book messages): they are dropped, not traded."""
        b = TokenBook("Y")
        b.set_level(is_bid=False, price=m("0.45"), size=m("20"), ts_ms=1, best_bid=-1, best_ask=m("0.45"))
        b.set_level(is_bid=False, price=m("0.47"), size=m("5"), ts_ms=2, best_bid=-1, best_ask=m("0.47"))
        assert b.asks_sorted() == [(m("0.47"), m("5"))]
        assert b.state is BookState.PARTIAL  # a partial book never "disagrees": it learns

    def test_a_trade_shrinks_the_known_level(self) -> None:
        """A 900-share taker buy at 0.52 leaves 100 of the 1000 known there: a partial
        book must not keep shares a trade took (the recorder kept no book message)."""
        b = TokenBook("Y")
        b.set_level(is_bid=False, price=m("0.52"), size=m("1000"), ts_ms=1)
        b.trade(taker_buys=True, price=m("0.52"), size=m("900"))
        assert b.asks_sorted() == [(m("0.52"), m("100"))]
        b.trade(taker_buys=True, price=m("0.52"), size=m("250"))
        assert (b.asks_sorted(), b.best_ask) == ([], None)

    def test_full_books_wait_for_their_snapshot(self) -> None:
        """A full book is not changed by trades: Polymarket follows them with a snapshot."""
        b = book("Y", [], [("0.52", "1000")])
        b.trade(taker_buys=True, price=m("0.52"), size=m("900"))
        assert b.asks_sorted() == [(m("0.52"), m("1000"))]


class TestMirror:
    def test_consistent_pair_is_one_liquidity(self) -> None:
        """Yes asks are No bids at 1 - p: a consistent pair agrees, and a Yes ask names the
        No bid that holds the same shares."""
        market = mirrored(info(), [("0.48", "100")], [("0.52", "50")])
        assert market.mirror_consistent() is True
        assert market.no.bids_sorted() == [(m("0.48"), m("50"))]
        assert market.same_liquidity(market.yes.asset_id, "ask", m("0.52")) == (
            market.no.asset_id,
            "bid",
            m("0.48"),
        )

    def test_books_read_apart_disagree(self) -> None:
        """Two books read at different moments disagree as mirrors."""
        market = info()
        yes = book(market.yes_token_id, [("0.48", "1")], [("0.50", "1")], ts=1)
        no = book(market.no_token_id, [("0.48", "1")], [("0.48", "1")], ts=1)
        assert MarketView(market, yes, no).mirror_consistent() is False

    def test_real_caio_pair_is_mirrored(self, real_data) -> None:
        """The first real Caio SOL Up/Down snapshots (same timestamp) are exact mirrors."""
        folder = real_data / "caio_updown_l2_2025-12-11"
        with gzip.open(folder / "15m_sol_orderbooks_1765450800up.json.gz") as fh:
            up = json.load(fh)[0]
        with gzip.open(folder / "15m_sol_orderbooks_1765450800down.json.gz") as fh:
            down = json.load(fh)[0]
        market = info()
        views = []
        for token, msg in ((market.yes_token_id, up), (market.no_token_id, down)):
            views.append(book(token, [(lv["price"], lv["size"]) for lv in msg["bids"]],
                              [(lv["price"], lv["size"]) for lv in msg["asks"]]))  # fmt: skip
        view = MarketView(market, *views)
        assert view.mirror_consistent() is True
        # Yes ask + No ask = 1 + spread: never below 1 in a consistent snapshot.
        assert view.yes.ask + view.no.ask > 1_000_000


class TestDepth:
    def test_walk_with_curve_fee(self) -> None:
        """10 shares at 0.40 then 5 at 0.50 with the 0.07 curve:
        cost 4 + 2.5 = 6.5; fees 10 x 0.07 x 0.24 = 0.168 and 5 x 0.07 x 0.25 = 0.0875."""
        fill = walk_buy(
            [(m("0.40"), m("10")), (m("0.50"), m("10"))], m("15"), FeeModel("curve", rate=70_000, exponent=1)
        )
        assert fill == (m("15"), m("6.5"), m("0.168") + m("0.0875"), m("0.50"))

    def test_depth_within_limit(self) -> None:
        """Depth counts levels up to the limit price only."""
        asks = [(m("0.40"), m("10")), (m("0.50"), m("7"))]
        assert depth_within(asks, m("0.45")) == m("10")
        assert walk_buy(asks, m("20"), NO_FEE).shares == m("17")

"""Markets as a strategy sees them: static facts, and the two books of one liquidity.

The Yes and No books of a binary market are one order book seen from two sides
(contract section 2): a Yes ask at p *is* a No bid at 1 - p, the same resting shares.
:class:`MarketView` keeps both books as recorded, each with its own stamp, and makes
the relation explicit: :meth:`MarketView.same_liquidity` names the level of the other
view that holds the same shares, :meth:`MarketView.mirror_consistent` says whether the
two views agree, and :attr:`MarketView.skew_ms` how far apart they were stamped. Two
books that disagree were read at different moments; anything priced off both (the
binary YES + NO < 1 "arbitrage") is a phantom.
"""

from __future__ import annotations

from dataclasses import dataclass

from backtester.book.book import BookState, TokenBook
from backtester.fees import FeeModel
from backtester.units import MICRO

__all__ = ["MarketInfo", "MarketView"]


@dataclass(frozen=True)
class MarketInfo:
    """A market record, as the archive holds it (micro-units, epoch ms)."""

    condition_id: str
    question: str
    yes_token_id: str
    yes_outcome: str
    no_token_id: str
    no_outcome: str
    neg_risk: bool
    neg_risk_market_id: str | None
    question_id: str | None
    neg_risk_other: bool
    group_item_title: str | None
    active: bool
    tick_size: int
    min_order_size: int | None
    fees: FeeModel
    end_date_ms: int | None
    neg_risk_outcomes: int | None = None
    """How many outcomes the neg-risk event has in all (None: the source did not say)."""

    @property
    def tokens(self) -> tuple[str, str]:
        return (self.yes_token_id, self.no_token_id)

    @property
    def group(self) -> str:
        """The decision group: the neg-risk event, or the market itself."""
        return self.neg_risk_market_id if self.neg_risk and self.neg_risk_market_id else self.condition_id

    @property
    def outcome_index(self) -> int | None:
        """Index of a neg-risk outcome within its event (last byte of ``question_id``)."""
        if not (self.neg_risk and self.question_id and self.neg_risk_market_id):
            return None
        if self.question_id[:-2].lower() != self.neg_risk_market_id[:-2].lower():
            return None
        return int(self.question_id[-2:], 16)


class MarketView:
    """Read-only view of one market at a tick: its facts and both books.

    >>> yes, no = TokenBook("Y"), TokenBook("N")
    >>> yes.snapshot([480_000], [100], [520_000], [50], ts_ms=10)
    >>> no.snapshot([480_000], [50], [520_000], [100], ts_ms=10)
    >>> view = MarketView(None, yes, no)
    >>> view.mirror_consistent(), view.skew_ms
    (True, 0)
    >>> view.same_liquidity("Y", "ask", 520_000)   # a Yes ask is a No bid at 1 - p
    ('N', 'bid', 480000)
    """

    __slots__ = ("info", "no", "yes")

    def __init__(self, info: MarketInfo | None, yes: TokenBook, no: TokenBook) -> None:
        self.info = info
        self.yes = yes
        self.no = no

    def book(self, asset_id: str) -> TokenBook:
        if asset_id == self.yes.asset_id:
            return self.yes
        if asset_id == self.no.asset_id:
            return self.no
        msg = f"{asset_id} is not a token of this market"
        raise KeyError(msg)

    def other(self, asset_id: str) -> TokenBook:
        """The complementary token's book."""
        return self.no if asset_id == self.yes.asset_id else self.yes

    def same_liquidity(self, asset_id: str, side: str, price: int) -> tuple[str, str, int]:
        """The level of the other view that holds the same shares."""
        other = self.other(asset_id).asset_id
        return (other, "bid" if side == "ask" else "ask", MICRO - price)

    @property
    def state(self) -> BookState:
        """The weaker of the two books' states (unknown < partial < full)."""
        states = (self.yes.state, self.no.state)
        if BookState.UNKNOWN in states:
            return BookState.UNKNOWN
        if BookState.PARTIAL in states:
            return BookState.PARTIAL
        return BookState.FULL

    @property
    def skew_ms(self) -> int | None:
        """How far apart the two books were last stamped (None if one was never stamped)."""
        if self.yes.stamp_ms is None or self.no.stamp_ms is None:
            return None
        return abs(self.yes.stamp_ms - self.no.stamp_ms)

    def mirror_consistent(self) -> bool | None:
        """Do the two views agree (Yes ask = 1 - No bid, Yes bid = 1 - No ask)?

        None when a top needed for the comparison is not known (a partial book that has
        not stated it). On full books an empty side is known, and must face an empty side.
        """
        full = self.yes.state is BookState.FULL and self.no.state is BookState.FULL
        pairs = ((self.yes.ask, self.no.bid), (self.yes.bid, self.no.ask))
        for mine, theirs in pairs:
            if mine is None and theirs is None:
                continue
            if mine is None or theirs is None:
                if full:
                    return False
                return None
            if mine != MICRO - theirs:
                return False
        return True

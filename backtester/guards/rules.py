"""The guards: book skew, price band, liquidity and portfolio limits."""

from __future__ import annotations

from backtester.book.book import BookState, TokenBook
from backtester.book.depth import depth_within
from backtester.guards.base import GuardContext, Vote
from backtester.strategies.base import Intent
from backtester.units import format_micros

__all__ = ["BookSkewGuard", "LiquidityGuard", "PortfolioGuard", "PriceGuard", "default_guards"]


class BookSkewGuard:
    """Rejects intents priced off books that were not read at one moment.

    Two cases, both the spec's latency artefact: legs whose books were last stamped
    more than ``max_book_skew_ms`` apart, and a complete set of one market whose Yes
    and No books disagree as mirrors (they must be one book seen from two sides; if they
    are not, they were read at different moments, whatever their stamps say). Such a set
    below 1 pUSD is a phantom.
    """

    name = "bookskewguard"

    def vote(self, intent: Intent, ctx: GuardContext) -> Vote:
        stamps = [leg.book_stamp_ms for leg in intent.legs if leg.book_stamp_ms is not None]
        if stamps and max(stamps) - min(stamps) > ctx.limits.max_book_skew_ms:
            skew = max(stamps) - min(stamps)
            return Vote(
                self.name, "reject", reason=f"phantom: legs priced from books stamped {skew} ms apart"
            )
        by_market: dict[str, int] = {}
        for leg in intent.legs:
            by_market[leg.market_id] = by_market.get(leg.market_id, 0) + 1
        for market in ctx.view.markets:
            if market.info is None or by_market.get(market.info.condition_id, 0) < 2:
                continue
            consistent = market.mirror_consistent()
            if consistent is False:
                return Vote(
                    self.name, "reject",
                    reason="phantom: the Yes and No books disagree as mirrors (read at different moments)",
                )  # fmt: skip
            if consistent is None:
                return Vote(
                    self.name, "reject", reason="the Yes and No books cannot be checked against each other"
                )
        return Vote(self.name, "pass")


class PriceGuard:
    """Rejects a buy whose limit is more than ``price_band_bps`` above the best ask."""

    name = "priceguard"

    def vote(self, intent: Intent, ctx: GuardContext) -> Vote:
        band = ctx.limits.price_band_bps * 100  # bps of 1 pUSD in micro-units
        for leg in intent.legs:
            book = _book(ctx, leg.market_id, leg.asset_id)
            best = book.ask if book is not None else None
            if best is None:
                return Vote(self.name, "reject", reason=f"no ask for {leg.asset_id[:10]}…")
            if leg.limit_price > best + band:
                return Vote(
                    self.name, "reject",
                    reason=f"limit {format_micros(leg.limit_price)} is more than {ctx.limits.price_band_bps} "
                    f"bps above the best ask {format_micros(best)}",
                )  # fmt: skip
        return Vote(self.name, "pass")


class LiquidityGuard:
    """Reshapes an intent down to the displayed depth within each leg's limit price
    (known levels only; at most ``depth_fraction`` of it)."""

    name = "liquidityguard"

    def vote(self, intent: Intent, ctx: GuardContext) -> Vote:
        allowed = intent.shares
        for leg in intent.legs:
            book = _book(ctx, leg.market_id, leg.asset_id)
            if book is None or book.state is BookState.UNKNOWN:
                return Vote(self.name, "reject", reason="the book is not known")
            depth = depth_within(book.asks_sorted(), leg.limit_price)
            allowed = min(allowed, int(depth * ctx.limits.depth_fraction))
        if allowed >= intent.shares:
            return Vote(self.name, "pass")
        if allowed <= 0:
            return Vote(self.name, "reject", reason="no displayed depth within the limit price")
        new_size = intent.size_pusd * allowed // intent.shares
        reason = f"displayed depth allows {format_micros(allowed)} of {format_micros(intent.shares)} shares"
        return Vote(self.name, "reshape", new_size, reason=reason)


class PortfolioGuard:
    """Reshapes an intent down to what the position and gross-exposure limits leave."""

    name = "portfolioguard"

    def vote(self, intent: Intent, ctx: GuardContext) -> Vote:
        limit_market = int(ctx.limits.max_position_pusd * 1_000_000)
        limit_gross = int(ctx.limits.max_gross_exposure_pusd * 1_000_000)
        room = limit_gross - ctx.gross
        for market_id in intent.market_ids:
            spend = sum(leg.cost + leg.fee for leg in intent.legs if leg.market_id == market_id)
            left = limit_market - ctx.exposure.get(market_id, 0)
            if spend > left:
                room = min(room, intent.size_pusd * max(left, 0) // spend)
        if intent.size_pusd <= room:
            return Vote(self.name, "pass")
        if room <= 0:
            return Vote(self.name, "reject", reason="position or gross exposure limit reached")
        return Vote(
            self.name, "reshape", room,
            reason=f"limits leave {format_micros(room)} of {format_micros(intent.size_pusd)} pUSD",
        )  # fmt: skip


def _book(ctx: GuardContext, market_id: str, asset_id: str) -> TokenBook | None:
    for market in ctx.view.markets:
        if market.info is not None and market.info.condition_id == market_id:
            return market.book(asset_id)
    return None


def default_guards() -> tuple[BookSkewGuard, PriceGuard, LiquidityGuard, PortfolioGuard]:
    """The stack, in voting order."""
    return (BookSkewGuard(), PriceGuard(), LiquidityGuard(), PortfolioGuard())

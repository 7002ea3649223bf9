"""The guards: book skew, price band, liquidity and portfolio limits."""

from __future__ import annotations

from backtester.book.book import BookState, TokenBook
from backtester.book.depth import depth_within
from backtester.guards.base import GuardContext, Vote
from backtester.strategies.base import Intent
from backtester.units import format_micros

__all__ = ["BookSkewGuard", "LiquidityGuard", "PortfolioGuard", "PriceGuard", "default_guards"]


class BookSkewGuard:
    """Rejects intents priced off a market whose two books were not read at one moment.

    The Yes and No books of a market are one book seen from two sides, so each market a
    leg touches must show that: books stamped more than ``max_book_skew_ms`` apart, or
    views that disagree as mirrors, were read at different moments, and anything priced
    off them (the binary YES + NO < 1 above all) is a phantom. A view that cannot be
    checked (a partial book that has not stated its top) is rejected too. Books of
    different markets are not compared by stamp: a streamed book that has not changed is
    current, whenever it last changed.
    """

    name = "bookskewguard"

    def vote(self, intent: Intent, ctx: GuardContext) -> Vote:
        touched = set(intent.market_ids)
        for market in ctx.view.markets:
            if market.info is None or market.info.condition_id not in touched:
                continue
            skew = market.skew_ms
            if skew is not None and skew > ctx.limits.max_book_skew_ms:
                return Vote(
                    self.name, "reject", reason=f"phantom: the Yes and No books were stamped {skew} ms apart"
                )
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

"""The markets of a run: their books (one per token, shared by every variant of a pass),
their decision groups and their records (which can change with time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backtester.book.book import TokenBook
from backtester.book.market import MarketInfo, MarketView
from backtester.book.overlay import OverlayScope

__all__ = ["Markets"]


class Markets:
    """Books, groups and market records of a run (records can change with time)."""

    def __init__(
        self,
        records: dict[str, list[tuple[int, MarketInfo]]],
        make_book: Callable[[str, int | None, OverlayScope], Any] = TokenBook,
    ) -> None:
        """``make_book(token, tick, scope)`` makes a token's book (a TokenBook, or the
        compiled path's ArrayBook)."""
        self.records = records
        self.scope = OverlayScope()
        """Whose overlays the books show (see backtester.book.overlay.OverlayScope)."""
        self.books: dict[str, TokenBook] = {}
        self.group_of_asset: dict[str, str] = {}
        self.group_of_market = {cid: history[-1][1].group for cid, history in records.items()}
        self.market_of_asset = {
            token: cid for cid, history in records.items() for token in history[-1][1].tokens
        }
        groups: dict[str, list[MarketInfo]] = {}
        for history in records.values():
            info = history[-1][1]
            for token in info.tokens:
                self.books[token] = make_book(token, history[0][1].tick_size, self.scope)
                self.group_of_asset[token] = info.group
            groups.setdefault(info.group, []).append(info)
        self.groups = {
            group: tuple(
                sorted(infos, key=lambda m: (m.outcome_index is None, m.outcome_index, m.condition_id))
            )
            for group, infos in groups.items()
        }
        self.assets_of_group = {
            group: frozenset(token for info in infos for token in info.tokens)
            for group, infos in groups.items()
        }
        self._views: dict[str, tuple[tuple[MarketView, ...], tuple[TokenBook, ...]]] = {}
        self.changing = {
            info.group for history in records.values() if len(history) > 1 for _, info in history
        }

    def view(self, condition_id: str, ts_ms: int) -> MarketView:
        """The view of one market (its record in force at ``ts_ms``)."""
        info = self.info_at(condition_id, ts_ms)
        return MarketView(info, self.books[info.yes_token_id], self.books[info.no_token_id])

    def event_views(self, condition_id: str) -> tuple[MarketView, ...]:
        """Every market of the same decision group (a neg-risk event), in outcome order."""
        group = self.group_of_market[condition_id]
        return tuple(self.view(info.condition_id, 0) for info in self.groups[group])

    def info_at(self, condition_id: str, ts_ms: int) -> MarketInfo:
        history = self.records[condition_id]
        current = history[0][1]
        for effective, info in history:
            if effective <= ts_ms:
                current = info
        return current

    def views(self, group: str, ts_ms: int) -> tuple[tuple[MarketView, ...], tuple[TokenBook, ...]]:
        """The group's market views at ``ts_ms`` and all their books.

        Views read the live books, so they are built once per group and rebuilt only
        for groups whose market records change over time.
        """
        cached = self._views.get(group)
        if cached is not None and group not in self.changing:
            return cached
        views = []
        for latest in self.groups[group]:
            info = self.info_at(latest.condition_id, ts_ms)
            views.append(MarketView(info, self.books[info.yes_token_id], self.books[info.no_token_id]))
        books = tuple(book for view in views for book in (view.yes, view.no))
        self._views[group] = (tuple(views), books)
        return self._views[group]

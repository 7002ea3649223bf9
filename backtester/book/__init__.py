"""Order books rebuilt from the archive, and the market views strategies read."""

from backtester.book.book import BookState, TokenBook
from backtester.book.depth import Fill, depth_within, walk_buy
from backtester.book.feed import ArchiveFeed, Event, Kind, load_markets
from backtester.book.market import MarketInfo, MarketView

__all__ = [
    "ArchiveFeed",
    "BookState",
    "Event",
    "Fill",
    "Kind",
    "MarketInfo",
    "MarketView",
    "TokenBook",
    "depth_within",
    "load_markets",
    "walk_buy",
]

"""The venue seam: where approved intents become fills (simulated here; live, the order
router, which this package never contains)."""

from backtester.venue.fills import DEFAULT_MIN_ORDER, Execution, Order, execute

__all__ = ["DEFAULT_MIN_ORDER", "Execution", "Order", "execute"]

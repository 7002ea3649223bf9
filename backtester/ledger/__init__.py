"""The ledger: FIFO lots in exact micro-units, merges, conversions and settlement."""

from backtester.ledger.ledger import Ledger, LedgerEvent, Lot

__all__ = ["Ledger", "LedgerEvent", "Lot"]

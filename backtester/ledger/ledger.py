"""FIFO lots per token in exact micro-units, and every way a position closes.

A position opens with buys (lots of shares and their cost, fees included when the fee
is paid in pUSD; when it is paid in shares the lot simply holds fewer shares). It
closes by:

* a **sell**: realised P&L = proceeds - fee - the FIFO cost of the shares sold;
* a **merge** of complete sets (one Yes + one No of a binary market) back into 1 pUSD
  each, through the CTF: realised = 1 pUSD per set - the FIFO cost of both legs;
* a **conversion** of a No basket of k outcomes of a neg-risk event through the
  NegRiskAdapter: k - 1 pUSD per basket (plus one Yes of every other outcome, at zero
  cost) - the FIFO cost of the k No tokens;
* a **settlement** from a ``SettlementReport``: each share pays its payout, through the
  CTF for a binary market, the NegRiskAdapter for a neg-risk one.

"P&L per fill" for buy-only trading: an opening buy realises nothing (its P&L is 0);
the gain or loss is realised by the event that closes the lots: the merge, the
conversion, the sale or the settlement. Positions open at the window's end are marked to
the mid as *unrealised* P&L, never mixed into the realised figure.

Splitting a lot takes ``cost * taken // shares`` and leaves the rest in the lot, so the
cost of every part adds up to the cost paid, to the micro-pUSD.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from backtester.units import MICRO

__all__ = ["Ledger", "LedgerEvent", "Lot"]


@dataclass
class Lot:
    shares: int
    cost: int
    opened_ms: int = 0
    """When the lot was opened (the buy, or the conversion that gave it)."""


@dataclass(frozen=True)
class LedgerEvent:
    """One change of the ledger. ``cash`` is the pUSD that flowed (+ in, - out)."""

    kind: str
    ts_ms: int
    assets: tuple[str, ...]
    shares: int
    cash: int
    fee: int
    realised: int
    notional: int = 0
    """The pUSD traded by a buy (its cost before fees) or a sell (its proceeds): the volume."""
    holdings: tuple[tuple[str, int, int], ...] = ()
    """After the event, every token it touched: (asset, shares held, their cost basis),
    so positions and exposure can be rebuilt at any time from the events alone."""
    opened_ms: int | None = None
    """For an event that closes lots: when the oldest lot it closed was opened (the
    entry of the round trip it ends); None for a buy."""

    @property
    def basis(self) -> int:
        """What the lots this event closed had cost: ``cash - realised`` (0 for a buy)."""
        return self.cash - self.realised if self.kind != "buy" else 0


@dataclass
class Ledger:
    """Positions, cash and P&L of one variant (or of the live bot). Micro-units."""

    lots: dict[str, deque[Lot]] = field(default_factory=dict)
    cash: int = 0
    realised: int = 0
    fees: int = 0
    volume: int = 0
    events: list[LedgerEvent] = field(default_factory=list)
    # Per token, the shares and the cost its lots hold (kept with the lots, so reading a
    # position costs a lookup however many lots it has: the guards read them per decision).
    _held: dict[str, int] = field(default_factory=dict, repr=False)
    _basis: dict[str, int] = field(default_factory=dict, repr=False)
    _opened: int | None = field(default=None, repr=False)
    """The oldest lot the event being recorded has closed so far."""
    _touched: dict[str, None] = field(default_factory=dict, repr=False)
    """The tokens the event being recorded has changed so far (in order)."""

    # ------------------------------------------------------------ opening and selling

    def buy(
        self, asset: str, *, shares: int, cost: int, fee: int, fee_shares: int, ts_ms: int
    ) -> LedgerEvent:
        """A buy of ``shares`` for ``cost`` pUSD plus ``fee`` (in pUSD, or ``fee_shares``
        of the bought token when the fee is taken in shares)."""
        held = shares - fee_shares
        paid = cost + (fee if not fee_shares else 0)
        if held > 0:
            self._add(asset, Lot(held, paid, ts_ms))
        self.cash -= paid
        self.fees += fee
        self.volume += cost
        return self._record(
            "buy", ts_ms, (asset,), shares=shares, cash=-paid, fee=fee, realised=0, notional=cost
        )

    def sell(self, asset: str, *, shares: int, proceeds: int, fee: int, ts_ms: int) -> LedgerEvent:
        """A sale: realised = proceeds - fee - FIFO cost of the shares sold."""
        basis = self._take(asset, shares)
        pnl = proceeds - fee - basis
        self.cash += proceeds - fee
        self.fees += fee
        self.volume += proceeds
        self.realised += pnl
        return self._record(
            "sell",
            ts_ms,
            (asset,),
            shares=shares,
            cash=proceeds - fee,
            fee=fee,
            realised=pnl,
            notional=proceeds,
        )

    # ------------------------------------------------------------ closing sets

    def merge(self, yes: str, no: str, *, ts_ms: int) -> LedgerEvent | None:
        """Merge every complete set held of one binary market into 1 pUSD each (CTF)."""
        sets = min(self.position(yes), self.position(no))
        if sets <= 0:
            return None
        basis = self._take(yes, sets) + self._take(no, sets)
        pnl = sets - basis  # sets micro-shares of 1 pUSD each = sets micro-pUSD
        self.cash += sets
        self.realised += pnl
        return self._record("merge", ts_ms, (yes, no), shares=sets, cash=sets, fee=0, realised=pnl)

    def convert(
        self, nos: tuple[str, ...], *, yes_of_others: tuple[str, ...], ts_ms: int
    ) -> LedgerEvent | None:
        """Convert a No basket of k outcomes (NegRiskAdapter): k - 1 pUSD per basket, and
        one Yes of every other outcome at zero cost."""
        baskets = min(self.position(no) for no in nos)
        if baskets <= 0 or len(nos) < 2:
            return None
        basis = sum(self._take(no, baskets) for no in nos)
        proceeds = baskets * (len(nos) - 1)
        for yes in yes_of_others:
            self._add(yes, Lot(baskets, 0, ts_ms))
        pnl = proceeds - basis
        self.cash += proceeds
        self.realised += pnl
        return self._record("conversion", ts_ms, nos, shares=baskets, cash=proceeds, fee=0, realised=pnl)

    def settle(self, payouts: dict[str, int], *, ts_ms: int) -> LedgerEvent | None:
        """Pay every share held of a resolved market its payout (pUSD per share)."""
        assets = tuple(a for a in payouts if self.position(a) > 0)
        if not assets:
            return None
        proceeds = basis = shares = 0
        for asset in assets:
            held = self.position(asset)
            shares += held
            proceeds += held * payouts[asset] // MICRO
            basis += self._take(asset, held)
        pnl = proceeds - basis
        self.cash += proceeds
        self.realised += pnl
        return self._record("settlement", ts_ms, assets, shares=shares, cash=proceeds, fee=0, realised=pnl)

    # ------------------------------------------------------------ reading

    def position(self, asset: str) -> int:
        """Shares held (the sum of the asset's lots)."""
        return self._held.get(asset, 0)

    def cost_basis(self, asset: str) -> int:
        """What the shares held cost (the sum of the asset's lots)."""
        return self._basis.get(asset, 0)

    def open_assets(self) -> list[str]:
        return sorted(asset for asset, lots in self.lots.items() if lots)

    def unrealised(self, marks: dict[str, int]) -> int:
        """Open positions valued at ``marks`` (pUSD per share) minus what they cost."""
        total = 0
        for asset in self.open_assets():
            total += self.position(asset) * marks.get(asset, 0) // MICRO - self.cost_basis(asset)
        return total

    # ------------------------------------------------------------ internals

    def _add(self, asset: str, lot: Lot) -> None:
        self.lots.setdefault(asset, deque()).append(lot)
        self._touched[asset] = None
        self._held[asset] = self._held.get(asset, 0) + lot.shares
        self._basis[asset] = self._basis.get(asset, 0) + lot.cost

    def _take(self, asset: str, shares: int) -> int:
        """Remove ``shares`` from the asset's lots, oldest first; return their cost."""
        lots = self.lots.get(asset)
        self._touched[asset] = None
        left, basis = shares, 0
        while left > 0:
            if not lots:
                msg = f"selling {left} more micro-shares of {asset} than held"
                raise ValueError(msg)
            lot = lots[0]
            self._opened = lot.opened_ms if self._opened is None else min(self._opened, lot.opened_ms)
            if lot.shares <= left:
                basis += lot.cost
                left -= lot.shares
                lots.popleft()
            else:
                part = lot.cost * left // lot.shares
                lot.cost -= part
                lot.shares -= left
                basis += part
                left = 0
        self._held[asset] -= shares
        self._basis[asset] -= basis
        return basis

    def _record(self, kind: str, ts_ms: int, assets: tuple[str, ...], **amounts: int) -> LedgerEvent:
        """Keep and return one event; ``amounts`` are its shares, cash, fee and realised."""
        holdings = tuple((a, self._held.get(a, 0), self._basis.get(a, 0)) for a in self._touched)
        event = LedgerEvent(kind, ts_ms, assets, **amounts, holdings=holdings, opened_ms=self._opened)
        self._touched, self._opened = {}, None
        self.events.append(event)
        return event

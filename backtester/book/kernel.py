"""The compiled hot path: the archive's books rebuilt over columnar events (numba).

A line-by-line port of :class:`~backtester.book.book.TokenBook` (snapshots, level
updates, trades on partial books, tick-size changes, ``seq`` checks, top-of-book checks
and the loss of sync, the live footprint's drops) onto NumPy arrays, and of the engine's
instant loop: it applies events and, at each instant's end, does the bookkeeping of the
groups nobody needs to look at. It stops and hands back to Python (the readable engine,
:mod:`backtester.runs.engine`) wherever Python has something to do:

* ``BOUNDARY``: an instant ended and one of its groups must be decided in Python (its
  trigger fired, it has a book out of sync or a gap closing, a variant changed one of
  its books, or the strategy has no trigger), or orders are due, or messages were found
  missing, or live decisions wait to be linked;
* ``PYEVENT``: a settlement or a live execution (they change the variants' state);
* ``WATCHED``: a market-data event on a token some variant changed (its overlays must
  hear of the change: Python reads the level before and after a single step);
* ``FLUSH``: the log is full: messages found missing, and the signals and live
  decisions met (they matter only where Python decides, so they wait there, in order);
* ``OFFGRID``: a price off the 100-micro grid (the caller falls back to the reference).

Layout. Per token ``t``: ``bids[t, slot]``, ``asks[t, slot]`` with ``slot = price //
100`` (0 to 1.0 in 0.0001 steps) holding the size, 0 for no level and ``ZERO`` (-1) for a
level a snapshot listed with size 0 (the reference keeps those); ``tok[t, field]`` the
scalars (:data:`FIELDS`; -1 stands for None). ``ctl`` the loop's own scalars (:data:`CTL`).
"""

# ruff: noqa: PLR0917 - compiled functions take their arrays positionally (numba has no kwargs-only)
from __future__ import annotations

from numba import njit

__all__ = ["CTL", "FIELDS", "SLOTS", "Stop", "mid", "run"]

SLOTS = 10_001
"""Price slots per side: 0 to 1 000 000 micro-units in steps of 100."""
ZERO = -1
"""A level listed with size 0 (present, holding nothing)."""
NONE = -1
MICRO = 1_000_000

UNKNOWN, PARTIAL, FULL = 0, 1, 2
# Why a book is where it is (tok[t, LOSS]): the reference's reason strings, as codes.
NO_DATA, IN_SYNC, BID_DISAGREES, ASK_DISAGREES, SEQ_GAP = 0, 1, 2, 3, 4

FIELDS = (
    "STATE", "STAMPED", "STAMP", "HAS_SEQ", "LAST_SEQ", "BEST_BID", "BEST_ASK", "TOP_BID", "TOP_ASK",
    "DEPTH", "TICK", "LAST_MID", "VERSION", "LOSS", "LOSS_A", "LOSS_B", "LOSS_C", "HI_BID", "LO_ASK",
)  # fmt: skip
(STATE, STAMPED, STAMP, HAS_SEQ, LAST_SEQ, BEST_BID, BEST_ASK, TOP_BID, TOP_ASK, DEPTH, TICK, LAST_MID,
 VERSION, LOSS, LOSS_A, LOSS_B, LOSS_C, HI_BID, LO_ASK) = range(len(FIELDS))  # fmt: skip

CTL = (
    "CUR_CLOCK", "HAS_CLOCK", "BOUNDARY_DONE", "START", "APPLIED", "TICKS", "PARTIAL", "DUE_BEFORE",
    "ALL_PY", "N_TOUCHED", "N_MISSING", "STEP", "DROPS_ON", "LIVE_PENDING", "RESTORE",
)  # fmt: skip
(CUR_CLOCK, HAS_CLOCK, BOUNDARY_DONE, START, APPLIED, TICKS, PARTIAL_TICKS, DUE_BEFORE, ALL_PY,
 N_TOUCHED, N_MISSING, STEP, DROPS_ON, LIVE_PENDING, RESTORE) = range(len(CTL))  # fmt: skip

K_BOOK, K_LEVEL, K_TRADE, K_TICK, K_SIGNAL, K_LIVE_DECISION, K_LIVE_EXECUTION = 0, 1, 2, 3, 4, 5, 7


S_END, S_BOUNDARY, S_PYEVENT, S_WATCHED, S_FLUSH, S_OFFGRID = range(6)


class Stop:
    """Why :func:`run` returned."""

    END, BOUNDARY, PYEVENT, WATCHED, FLUSH, OFFGRID = (
        S_END,
        S_BOUNDARY,
        S_PYEVENT,
        S_WATCHED,
        S_FLUSH,
        S_OFFGRID,
    )


@njit(cache=True)
def _high_bid(bids, t, start):
    for slot in range(start, -1, -1):
        if bids[t, slot] != 0:
            return slot
    return -1


@njit(cache=True)
def _low_ask(asks, t, start):
    for slot in range(start, SLOTS):
        if asks[t, slot] != 0:
            return slot
    return SLOTS


@njit(cache=True)
def _recompute_bid(tok, bids, t):
    """best_bid = max(self.bids) if self.bids else None."""
    slot = _high_bid(bids, t, tok[t, HI_BID])
    tok[t, HI_BID] = max(slot, 0)
    tok[t, BEST_BID] = slot * 100 if slot >= 0 else NONE


@njit(cache=True)
def _recompute_ask(tok, asks, t):
    slot = _low_ask(asks, t, tok[t, LO_ASK])
    tok[t, LO_ASK] = min(slot, SLOTS - 1)
    tok[t, BEST_ASK] = slot * 100 if slot < SLOTS else NONE


@njit(cache=True)
def mid(tok, t):
    """TokenBook.mid."""
    state = tok[t, STATE]
    if state == UNKNOWN:
        return tok[t, LAST_MID] if tok[t, LAST_MID] > 0 else 0
    if state == PARTIAL:
        bid, ask = tok[t, TOP_BID], tok[t, TOP_ASK]
    else:
        bid, ask = tok[t, BEST_BID], tok[t, BEST_ASK]
    if bid >= 0 and ask >= 0:
        return (bid + ask) // 2
    return bid if bid > 0 else 0


@njit(cache=True)
def _lose_sync(tok, bids, asks, t, code, a, b, c):
    if tok[t, STATE] != UNKNOWN:
        tok[t, LAST_MID] = mid(tok, t)
    tok[t, STATE] = UNKNOWN
    tok[t, LOSS], tok[t, LOSS_A], tok[t, LOSS_B], tok[t, LOSS_C] = code, a, b, c
    bids[t, :] = 0
    asks[t, :] = 0
    tok[t, HI_BID], tok[t, LO_ASK] = 0, SLOTS - 1
    tok[t, BEST_BID] = tok[t, BEST_ASK] = tok[t, TOP_BID] = tok[t, TOP_ASK] = NONE
    tok[t, VERSION] += 1


@njit(cache=True)
def _check_seq(tok, bids, asks, t, seq):
    """TokenBook.check_seq: how many messages are missing before ``seq``."""
    if tok[t, HAS_SEQ] == 0:
        tok[t, HAS_SEQ], tok[t, LAST_SEQ] = 1, seq
        return 0
    last = tok[t, LAST_SEQ]
    tok[t, LAST_SEQ] = seq
    if seq == last + 1:
        return 0
    missing = max(seq - last - 1, 0)
    if tok[t, STATE] != UNKNOWN:
        _lose_sync(tok, bids, asks, t, SEQ_GAP, last, seq, missing)
    return missing


@njit(cache=True)
def _prune_bids(tok, bids, t, top):
    """Keep the bids at or below ``top`` (none when top is None)."""
    keep = top // 100 if top >= 0 else -1
    for slot in range(keep + 1, tok[t, HI_BID] + 1):
        bids[t, slot] = 0
    if keep < tok[t, HI_BID]:
        tok[t, HI_BID] = max(keep, 0)
    _recompute_bid(tok, bids, t)


@njit(cache=True)
def _prune_asks(tok, asks, t, top):
    keep = top // 100 + (1 if top % 100 else 0) if top >= 0 else SLOTS
    for slot in range(tok[t, LO_ASK], min(keep, SLOTS)):
        asks[t, slot] = 0
    if keep > tok[t, LO_ASK]:
        tok[t, LO_ASK] = min(keep, SLOTS - 1)
    _recompute_ask(tok, asks, t)


@njit(cache=True)
def _apply_level(tok, bids, asks, drops_ts, drops_sz, drops_on, t, is_bid, price, size, ts, bb, ba):
    """TokenBook.apply."""
    if tok[t, STATE] == UNKNOWN:
        if tok[t, STAMPED]:
            return
        tok[t, STATE] = PARTIAL
        tok[t, LOSS] = IN_SYNC
    tok[t, STAMP], tok[t, STAMPED] = ts, 1
    tok[t, VERSION] += 1
    slot = price // 100
    if is_bid:
        if drops_on:
            old = max(bids[t, slot], 0)
            if size < old:
                drops_ts[t, 1, slot], drops_sz[t, 1, slot] = ts, old - size
        if size:
            bids[t, slot] = size
            tok[t, HI_BID] = max(tok[t, HI_BID], slot)
            if tok[t, BEST_BID] < 0 or price > tok[t, BEST_BID]:
                tok[t, BEST_BID] = price
        elif bids[t, slot] != 0:
            bids[t, slot] = 0
            if price == tok[t, BEST_BID]:
                _recompute_bid(tok, bids, t)
    else:
        if drops_on:
            old = max(asks[t, slot], 0)
            if size < old:
                drops_ts[t, 0, slot], drops_sz[t, 0, slot] = ts, old - size
        if size:
            asks[t, slot] = size
            tok[t, LO_ASK] = min(tok[t, LO_ASK], slot)
            if tok[t, BEST_ASK] < 0 or price < tok[t, BEST_ASK]:
                tok[t, BEST_ASK] = price
        elif asks[t, slot] != 0:
            asks[t, slot] = 0
            if price == tok[t, BEST_ASK]:
                _recompute_ask(tok, asks, t)
    if bb < 0 and ba < 0:
        return
    if tok[t, STATE] == PARTIAL:
        if bb >= 0:
            top = bb if bb != 0 else NONE
            tok[t, TOP_BID] = top
            if tok[t, BEST_BID] >= 0 and (top < 0 or tok[t, BEST_BID] > top):
                _prune_bids(tok, bids, t, top)
        if ba >= 0:
            top = ba if 0 < ba < MICRO else NONE
            tok[t, TOP_ASK] = top
            if tok[t, BEST_ASK] >= 0 and (top < 0 or tok[t, BEST_ASK] < top):
                _prune_asks(tok, asks, t, top)
        return
    if tok[t, STATE] != FULL:
        return
    if bb >= 0 and (bb if bb != 0 else NONE) != tok[t, BEST_BID]:
        _lose_sync(tok, bids, asks, t, BID_DISAGREES, bb, tok[t, BEST_BID], 0)
        return
    if ba >= 0 and (ba if 0 < ba < MICRO else NONE) != tok[t, BEST_ASK]:
        _lose_sync(tok, bids, asks, t, ASK_DISAGREES, ba, tok[t, BEST_ASK], 0)


@njit(cache=True)
def _snapshot(tok, bids, asks, drops_ts, drops_sz, drops_on, t, values, start, nb, na, ts):
    """TokenBook.snapshot: levels are values[start:start+nb] (bid prices), then nb bid
    sizes, na ask prices, na ask sizes, then the depth limit (-1: none)."""
    bp, bs = start, start + nb
    ap, az = start + 2 * nb, start + 2 * nb + na
    if drops_on:
        old_bids = bids[t, :].copy()
        old_asks = asks[t, :].copy()
    bids[t, :] = 0
    asks[t, :] = 0
    hi, lo = 0, SLOTS - 1
    for j in range(nb):
        slot = values[bp + j] // 100
        bids[t, slot] = values[bs + j] if values[bs + j] != 0 else ZERO
        hi = max(hi, slot)
    for j in range(na):
        slot = values[ap + j] // 100
        asks[t, slot] = values[az + j] if values[az + j] != 0 else ZERO
        lo = min(lo, slot)
    if drops_on:
        for slot in range(SLOTS):
            old = max(old_bids[slot], 0)
            if old > 0 and max(bids[t, slot], 0) < old:
                drops_ts[t, 1, slot], drops_sz[t, 1, slot] = ts, old - max(bids[t, slot], 0)
            old = max(old_asks[slot], 0)
            if old > 0 and max(asks[t, slot], 0) < old:
                drops_ts[t, 0, slot], drops_sz[t, 0, slot] = ts, old - max(asks[t, slot], 0)
    tok[t, HI_BID], tok[t, LO_ASK] = hi, lo
    tok[t, BEST_BID] = values[bp] if nb > 0 else NONE
    tok[t, BEST_ASK] = values[ap] if na > 0 else NONE
    tok[t, TOP_BID] = tok[t, TOP_ASK] = NONE
    tok[t, STATE], tok[t, LOSS] = FULL, IN_SYNC
    tok[t, STAMP], tok[t, STAMPED] = ts, 1
    depth = values[az + na]
    tok[t, DEPTH] = depth if depth >= 0 else NONE
    tok[t, VERSION] += 1


@njit(cache=True)
def _trade(tok, bids, asks, t, taker_buys, price, size):
    """TokenBook.trade: on a partial book, the known level the trade hit shrinks."""
    if tok[t, STATE] != PARTIAL:
        return
    slot = price // 100
    side = asks if taker_buys else bids
    if side[t, slot] == 0:
        return
    left = max(side[t, slot], 0)
    if left > size:
        side[t, slot] = left - size
    else:
        side[t, slot] = 0
        if taker_buys and price == tok[t, BEST_ASK]:
            _recompute_ask(tok, asks, t)
        elif not taker_buys and price == tok[t, BEST_BID]:
            _recompute_bid(tok, bids, t)
    tok[t, VERSION] += 1


@njit(cache=True)
def _on_grid(price):
    return 0 <= price <= MICRO and price % 100 == 0


@njit(cache=True)
def _group_needs_python(
    tok, g, gptr, gtok, gpy, gap_open, watched, rptr, rtok_ptr, rtok, rfilter, rmin, rceil_ptr, rceil
):
    """Must Python decide this group's tick? (See the module docstring.)"""
    if gpy[g] or gap_open[g]:
        return True
    for j in range(gptr[g], gptr[g + 1]):
        t = gtok[j]
        if watched[t] or (tok[t, STATE] == UNKNOWN and tok[t, STAMPED]):
            return True
    for r in range(rptr[g], rptr[g + 1]):  # the trigger's ask-sum rules: any may fire
        total = 0
        count = 0
        ok = True
        for j in range(rtok_ptr[r], rtok_ptr[r + 1]):
            t = rtok[j]
            state = tok[t, STATE]
            if rfilter[r] and state == UNKNOWN:
                continue
            ask = tok[t, TOP_ASK] if state == PARTIAL else tok[t, BEST_ASK]
            if ask < 0:
                ok = False
                break
            total += ask
            count += 1
        if ok and count >= rmin[r] and total < rceil[rceil_ptr[r] + count]:
            return True
    return False


@njit(cache=True, nogil=True)
def run(
    i0,
    i1,
    clock,
    ts,
    kind,
    asset,
    seq,
    is_bid,
    price,
    size,
    best_bid,
    best_ask,
    lv_start,
    lv_nb,
    lv_na,
    lv_values,
    tok,
    bids,
    asks,
    drops_ts,
    drops_sz,
    ctl,
    group_of,
    gptr,
    gtok,
    gpy,
    gap_open,
    watched,
    touched,
    tlist,
    last_tick,
    mlog,
    rptr,
    rtok_ptr,
    rtok,
    rfilter,
    rmin,
    rceil_ptr,
    rceil,
):
    """Apply events ``i0`` to ``i1 - 1``; return (the event it stopped at, why)."""
    drops_on = ctl[DROPS_ON] != 0
    start = ctl[START]
    for i in range(i0, i1):
        c = clock[i]
        if ctl[HAS_CLOCK] == 0 or c != ctl[CUR_CLOCK]:
            if ctl[HAS_CLOCK] != 0 and ctl[BOUNDARY_DONE] != i:
                need = ctl[N_MISSING] > 0 or ctl[DUE_BEFORE] < c or ctl[LIVE_PENDING] != 0
                if not need and ctl[N_TOUCHED] > 0:
                    if ctl[ALL_PY] != 0:
                        need = True
                    else:
                        for j in range(ctl[N_TOUCHED]):
                            g = tlist[j]
                            if _group_needs_python(tok, g, gptr, gtok, gpy, gap_open, watched, rptr, rtok_ptr,
                                                   rtok, rfilter, rmin, rceil_ptr, rceil):  # fmt: skip
                                need = True
                                break
                if need:
                    return i, S_BOUNDARY
                for j in range(ctl[N_TOUCHED]):  # nobody looks: count the ticks here
                    g = tlist[j]
                    touched[g] = 0
                    last_tick[g] = ctl[CUR_CLOCK]
                    ctl[TICKS] += 1
                    for k in range(gptr[g], gptr[g + 1]):
                        if tok[gtok[k], STATE] == PARTIAL:
                            ctl[PARTIAL_TICKS] += 1
                            break
                ctl[N_TOUCHED] = 0
            ctl[CUR_CLOCK], ctl[HAS_CLOCK] = c, 1
        k = kind[i]
        if k > K_TICK:
            if k <= K_LIVE_DECISION:  # a signal or a live decision
                # Read only where Python decides: logged, taken in order at the next stop.
                m = ctl[N_MISSING]
                if m >= mlog.shape[0]:
                    return i, S_FLUSH
                mlog[m, 0], mlog[m, 1], mlog[m, 2], mlog[m, 3] = c, -1, i, -1
                ctl[N_MISSING] = m + 1
                if k == K_LIVE_DECISION:
                    ctl[LIVE_PENDING] = 1
                continue
            if k == K_LIVE_EXECUTION and ctl[RESTORE] == 0:
                continue  # the live bot's fills matter only to a run restoring their footprint
            return i, S_PYEVENT
        t = asset[i]
        if t < 0:
            continue
        if watched[t] and ctl[STEP] != i:
            return i, S_WATCHED
        if ctl[N_MISSING] >= mlog.shape[0]:
            return i, S_FLUSH
        if k != K_TICK:
            if k == K_BOOK:
                s0, nb, na = lv_start[i], lv_nb[i], lv_na[i]
                for j in range(s0, s0 + nb):
                    if not _on_grid(lv_values[j]):
                        return i, S_OFFGRID
                for j in range(s0 + 2 * nb, s0 + 2 * nb + na):
                    if not _on_grid(lv_values[j]):
                        return i, S_OFFGRID
            elif not _on_grid(price[i]):
                return i, S_OFFGRID
        if seq[i] >= 0:
            missing = _check_seq(tok, bids, asks, t, seq[i])
            if missing and c >= start:
                m = ctl[N_MISSING]
                mlog[m, 0], mlog[m, 1], mlog[m, 2], mlog[m, 3] = c, t, seq[i], missing
                ctl[N_MISSING] = m + 1
        if k == K_LEVEL:
            _apply_level(tok, bids, asks, drops_ts, drops_sz, drops_on, t, is_bid[i], price[i], size[i],
                         ts[i], best_bid[i], best_ask[i])  # fmt: skip
        elif k == K_BOOK:
            _snapshot(tok, bids, asks, drops_ts, drops_sz, drops_on, t, lv_values, lv_start[i], lv_nb[i],
                      lv_na[i], ts[i])  # fmt: skip
        elif k == K_TRADE:
            _trade(tok, bids, asks, t, is_bid[i] == 1, price[i], size[i])
        else:
            tok[t, TICK] = price[i]
        if c >= start:
            ctl[APPLIED] += 1
            g = group_of[t]
            if touched[g] == 0:
                touched[g] = 1
                tlist[ctl[N_TOUCHED]] = g
                ctl[N_TOUCHED] += 1
    return i1, S_END

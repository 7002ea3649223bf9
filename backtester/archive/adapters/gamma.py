"""Market metadata from Polymarket's Gamma API (and CLOB ``/markets`` objects):
tick size, minimum order, fee schedule, neg-risk structure and resolutions.

Accepted inputs, plain or gzip: a Gamma event (``markets`` nested), a list of events, a
Gamma market, a list of markets, JSON Lines of either (the Ligengxin sample wraps each
Gamma market as ``raw``), or CLOB market objects / a CLOB ``{"data": [...]}`` page.

Each market becomes a ``market`` record; a resolved market also becomes a
``SettlementReport`` (payouts from ``outcomePrices``, stamped with ``closedTime``, paid
through the NegRiskAdapter for neg-risk markets and the CTF otherwise).

What the sources lack, and what the adapter does about it:

* the tick size is Gamma's ``orderPriceMinTickSize`` when the object was fetched; the
  venue changes it during a market's life (``tick_size_change`` messages are the
  authority), so a grid conflict with recorded data is reported, never papered over;
* the fee schedule: ``feeSchedule`` when fees are enabled (Polymarket's curve); no fee
  when ``feesEnabled`` is false; ``unknown`` when fees are enabled without a schedule;
* a CLOB market object carries winners but no resolution time, so it gives no
  ``SettlementReport``; Gamma objects without ``closedTime`` neither;
* a market that never had an order book and has no token ids (an AMM-only market of
  the old exchange) has nothing to replay and is skipped;
* how many outcomes a neg-risk event has is known only from an event object (its
  ``markets`` list, placeholders included); a lone market object leaves it unknown.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from backtester.archive.adapters.common import iso_to_ms
from backtester.archive.contract import parse_json_line
from backtester.archive.sources import Conversion, open_bytes
from backtester.errors import ImportRejected

__all__ = ["convert"]


def convert(paths: list[Path]) -> list[Conversion]:
    """One conversion per file."""
    return [Conversion(path=p, source_format="gamma", inputs=(p,), records=_records_of(p)) for p in paths]


def _records_of(path: Path) -> Any:
    def records() -> Iterator[tuple[int, Any]]:
        for number, market in _markets(path):
            for record in _convert_market(market, path, number):
                yield number, record

    return records


_NOT_ONE_DOCUMENT = object()


def _markets(path: Path) -> Iterator[tuple[int, Any]]:
    """Market objects of the file with their line (JSON Lines) or record number."""
    with open_bytes(path) as handle:
        try:
            document = json.load(handle, parse_float=Decimal)
        except ValueError:
            document = _NOT_ONE_DOCUMENT
    if document is not _NOT_ONE_DOCUMENT:
        yield from enumerate(_flatten(document), start=1)
        return
    with open_bytes(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                value = parse_json_line(raw)
            except ValueError as exc:
                raise ImportRejected.single(str(path), number, "(json)", f"not valid JSON: {exc}") from None
            yield from ((number, market) for market in _flatten(value))


def _flatten(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    elif isinstance(value, dict) and isinstance(value.get("raw"), dict):
        yield value["raw"]
    elif isinstance(value, dict) and isinstance(value.get("markets"), list):
        # An event lists all its markets, placeholders included: that count is how a
        # replay knows a neg-risk event is complete (a Yes basket is riskless only then).
        count = len(value["markets"])
        for market in value["markets"]:
            yield {**market, _EVENT_OUTCOMES: count} if isinstance(market, dict) else market
    elif isinstance(value, dict) and isinstance(value.get("data"), list):
        yield from _flatten(value["data"])
    else:
        yield value


def _never_on_the_book(market: dict[str, Any]) -> bool:
    """A market without an order book and without token ids (old AMM-only markets)."""
    enabled = market.get("enableOrderBook", market.get("enable_order_book"))
    tokens = _json_list(market.get("clobTokenIds")) or market.get("tokens") or []
    ids = [t.get("token_id") if isinstance(t, dict) else t for t in tokens]
    return enabled is False and not any(ids)


_EVENT_OUTCOMES = "__event_outcomes"


def _json_list(value: Any) -> Any:
    """Gamma writes some lists as JSON strings (``clobTokenIds``, ``outcomes``...)."""
    if isinstance(value, str):
        try:
            return json.loads(value, parse_float=Decimal)
        except ValueError:
            return value
    return value


def _convert_market(market: Any, path: Path, number: int) -> Iterator[dict[str, Any]]:
    if isinstance(market, dict) and _never_on_the_book(market):
        return
    if isinstance(market, dict) and "conditionId" in market:
        yield from _gamma(market)
    elif isinstance(market, dict) and "condition_id" in market and "tokens" in market:
        yield _clob(market)
    else:
        raise ImportRejected.single(
            str(path), number, "(record)", "not a Gamma event or market, nor a CLOB market object"
        )


def _gamma(m: dict[str, Any]) -> Iterator[dict[str, Any]]:
    token_ids = _json_list(m.get("clobTokenIds"))
    outcomes = _json_list(m.get("outcomes"))
    tokens = None
    if isinstance(token_ids, list) and isinstance(outcomes, list) and len(token_ids) == len(outcomes):
        tokens = [{"token_id": t, "outcome": o} for t, o in zip(token_ids, outcomes, strict=True)]
    neg_risk = bool(m.get("negRisk"))
    yield {
        "kind": "market",
        "condition_id": m.get("conditionId"),
        "question": m.get("question"),
        "neg_risk": neg_risk,
        "neg_risk_market_id": m.get("negRiskMarketID") if neg_risk else None,
        "question_id": m.get("questionID") or None,
        "neg_risk_other": bool(m.get("negRiskOther", False)),
        "group_item_title": m.get("groupItemTitle") or None,
        "active": m.get("active", True),
        "tick_size": m.get("orderPriceMinTickSize"),
        "min_order_size": m.get("orderMinSize"),
        "fees": _gamma_fees(m),
        "end_date": m.get("endDate"),
        "tokens": tokens,
        "neg_risk_outcomes": m.get(_EVENT_OUTCOMES) if neg_risk else None,
        "provenance": f"gamma market {m.get('id')} ({m.get('slug')})",
    }
    settlement = _settlement(m, token_ids, neg_risk)
    if settlement is not None:
        yield settlement


def _gamma_fees(m: dict[str, Any]) -> dict[str, Any]:
    if m.get("feesEnabled") is False:
        return {"model": "flat_bps", "fee_rate_bps": 0}
    schedule = m.get("feeSchedule")
    if isinstance(schedule, dict):
        return {
            "model": "curve",
            "rate": schedule.get("rate"),
            "exponent": schedule.get("exponent"),
            "taker_only": schedule.get("takerOnly", True),
            "rebate_rate": schedule.get("rebateRate", 0),
        }
    return {"model": "unknown"}


def _settlement(m: dict[str, Any], token_ids: Any, neg_risk: bool) -> dict[str, Any] | None:
    prices = _json_list(m.get("outcomePrices"))
    resolved = m.get("umaResolutionStatus") == "resolved" or m.get("resolved") is True
    if not (m.get("closed") and resolved and m.get("closedTime")):
        return None
    if not (isinstance(prices, list) and isinstance(token_ids, list) and len(prices) == len(token_ids)):
        return None
    return {
        "kind": "report",
        "report_kind": "SettlementReport",
        "report_id": f"settle-gamma-{m.get('conditionId')}",
        "trace_id": None,
        "bot_id": "gamma.resolution",
        "ts_ms": iso_to_ms(m["closedTime"]),
        "mode": "live",
        "schema_version": 2,
        "payload": {
            "market_id": m.get("conditionId"),
            "payouts": dict(zip(token_ids, prices, strict=True)),
            "adapter": "NegRiskAdapter" if neg_risk else "CTF",
        },
    }


def _clob(m: dict[str, Any]) -> dict[str, Any]:
    tokens = m.get("tokens")
    if isinstance(tokens, list):
        tokens = [
            {"token_id": t.get("token_id"), "outcome": t.get("outcome")} if isinstance(t, dict) else t
            for t in tokens
        ]
    neg_risk = bool(m.get("neg_risk"))
    taker = m.get("taker_base_fee")
    return {
        "kind": "market",
        "condition_id": m.get("condition_id"),
        "question": m.get("question"),
        "neg_risk": neg_risk,
        "neg_risk_market_id": (m.get("neg_risk_market_id") or None) if neg_risk else None,
        "question_id": m.get("question_id") or None,
        "active": m.get("active", True),
        "tick_size": m.get("minimum_tick_size"),
        "min_order_size": m.get("minimum_order_size"),
        "fees": {"model": "flat_bps", "fee_rate_bps": taker} if taker == 0 else {"model": "unknown"},
        "end_date": m.get("end_date_iso"),
        "tokens": tokens,
        "provenance": f"clob market object ({m.get('market_slug')})",
    }

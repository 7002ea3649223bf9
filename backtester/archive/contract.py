"""Parse and validate records of the archive contract (ARCHIVE_FORMAT.md, version 2).

:class:`ContractParser` takes one JSON value at a time (a line of a contract file, or
a record an adapter converted) and turns it into typed rows for the archive tables,
or into a :class:`~backtester.errors.Problem` naming the line and the field. It checks
everything one record can show on its own; what needs other records (the tick grid in
force, token membership, duplicate ids) is checked by the importer afterwards.

Values are never binary floats: JSON numbers arrive as ``Decimal`` (``json.loads``
with ``parse_float=Decimal``), and a Python ``float`` handed in by an adapter is
refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from backtester.config.window import to_ms
from backtester.errors import Problem
from backtester.units import MICRO, TICK_SIZES, UnitError, format_micros, parse_micros

__all__ = [
    "MAX_PROBLEMS",
    "REPORT_KINDS",
    "ContractParser",
    "canonical_json",
    "parse_json_line",
]

MAX_PROBLEMS = 20
"""A rejected file lists at most this many problems."""

REPORT_KINDS = (
    "ObservationReport",
    "DecisionReport",
    "RiskVote",
    "ExecutionReport",
    "SettlementReport",
)

_CONDITION_ID = re.compile(r"0x[0-9a-fA-F]{64}\Z")
_TOKEN_ID = re.compile(r"[0-9]{70,78}\Z")
_MODE = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
_MIN_TS = 1_000_000_000_000  # 2001-09-09: anything smaller is seconds, not milliseconds
_MAX_TS = 4_102_444_800_000  # 2100-01-01
_SIDES = ("BUY", "SELL")


class _Bad(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _reject_constant(name: str) -> None:
    msg = f"{name} is not a number"
    raise ValueError(msg)


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def parse_json_line(raw: bytes | str) -> Any:
    """Decode one JSON Lines line (UTF-8), reading numbers as exact ``Decimal``/``int``."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return _DECODER.decode(text)


def _canon(value: Any) -> Any:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        # Every JSON number the same way, so that 1, 1.0 and 1.00 are one content.
        text = format(Decimal(value).normalize(), "f")
        return text if text != "-0" else "0"
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canon(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys and numbers written as normalised decimal strings.

    >>> canonical_json({"b": Decimal("0.480"), "a": [1, "x", True]})
    '{"a":["1","x",true],"b":"0.48"}'
    """
    return json.dumps(_canon(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- field readers


def _get(obj: dict[str, Any], key: str, prefix: str) -> Any:
    value = obj.get(key)
    if value is None:
        raise _Bad(prefix + key, "required field is missing")
    return value


_MAX_MICROS = 10**18  # a trillion units: beyond any real size, and inside BIGINT


def _micros(value: Any, field: str) -> int:
    if isinstance(value, float):
        raise _Bad(field, f"binary float {value!r}: write decimals as strings")
    try:
        micros = parse_micros(value)
    except UnitError as exc:
        raise _Bad(field, str(exc)) from None
    if not -_MAX_MICROS < micros < _MAX_MICROS:
        raise _Bad(field, f"{value} is too large (at most 10^12)")
    return micros


def _price(value: Any, field: str) -> int:
    micros = _micros(value, field)
    if not 0 < micros < MICRO:
        raise _Bad(field, f"price {value} is outside (0, 1)")
    return micros


def _top(value: Any, field: str) -> int | None:
    """A best_bid/best_ask: 0 (no bids) and 1 (no asks) are allowed, as Polymarket sends."""
    if value is None:
        return None
    micros = _micros(value, field)
    if not 0 <= micros <= MICRO:
        raise _Bad(field, f"{value} is outside [0, 1]")
    return micros


def _size(value: Any, field: str, *, allow_zero: bool) -> int:
    micros = _micros(value, field)
    if micros < 0 or (micros == 0 and not allow_zero):
        raise _Bad(field, f"size {value} must be {'>= 0' if allow_zero else '> 0'}")
    return micros


def _money(value: Any, field: str) -> int:
    micros = _micros(value, field)
    if micros < 0:
        raise _Bad(field, f"{value} must not be negative")
    return micros


def _integer(value: Any, field: str, *, minimum: int = 0, maximum: int = 2**63 - 1) -> int:
    if isinstance(value, bool | float):
        raise _Bad(field, f"{value!r} is not an integer")
    if (isinstance(value, str) and value.isascii() and value.isdigit()) or (
        isinstance(value, Decimal) and value == value.to_integral_value()
    ):
        value = int(value)
    if not isinstance(value, int):
        raise _Bad(field, f"{value!r} is not an integer")
    if value < minimum:
        raise _Bad(field, f"{value} is less than {minimum}")
    if value > maximum:
        raise _Bad(field, f"{value} is more than {maximum}")
    return value


def _ts(value: Any, field: str) -> int:
    ms = _integer(value, field)
    if not _MIN_TS <= ms < _MAX_TS:
        raise _Bad(field, f"{value} is not epoch milliseconds between 2001 and 2100")
    return ms


def _opt_ts(obj: dict[str, Any], key: str, prefix: str) -> int | None:
    value = obj.get(key)
    return None if value is None else _ts(value, prefix + key)


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(field, f"{value!r} is not a non-empty string")
    return value


def _opt_text(value: Any, field: str) -> str | None:
    return None if value is None else _text(value, field)


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise _Bad(field, f"{value!r} is not true or false")
    return value


def _opt_bool(obj: dict[str, Any], key: str, *, default: bool, prefix: str = "") -> bool:
    """A boolean field; absent or null means the default."""
    value = obj.get(key)
    return default if value is None else _bool(value, prefix + key)


def _condition_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _CONDITION_ID.match(value):
        raise _Bad(field, f"{value!r} is not a condition id (0x and 64 hex digits)")
    return value.lower()


def _token_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _TOKEN_ID.match(value):
        shown = f"number {value}" if isinstance(value, int | Decimal) else repr(value)
        raise _Bad(field, f"{shown} is not a token id (a string of 70 to 78 digits)")
    return value


def _side(value: Any, field: str) -> str:
    if value not in _SIDES:
        raise _Bad(field, f"{value!r} is not BUY or SELL")
    return str(value)


def _tick(value: Any, field: str) -> int:
    micros = _micros(value, field)
    if micros not in TICK_SIZES:
        raise _Bad(field, f"{value} is not a Polymarket tick size (0.1, 0.01, 0.001, 0.0001)")
    return micros


def _iso_ms(value: Any, field: str) -> int:
    if not isinstance(value, str):
        raise _Bad(field, f"{value!r} is not an ISO 8601 date")
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise _Bad(field, f"{value!r} is not an ISO 8601 date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_ms(moment)


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Bad(field, "must be a list")
    return value


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(field, "must be an object")
    return value


# ---------------------------------------------------------------- the parser

Row = tuple[Any, ...]


class ContractParser:
    """Turn contract records into rows, collecting problems instead of raising.

    ``rows[table]`` holds tuples in the column order of ``backtester.archive.schema``;
    ``prices`` holds ``(asset_id, ts_ms, price, line, elem, field)`` for every price
    that must sit on the tick grid (checked later against the grid in force).
    """

    def __init__(self, file_key: int, path: str, *, adapter: bool = False) -> None:
        self.file_key = file_key
        self.path = path
        self.adapter = adapter
        self.problems: list[Problem] = []
        self.rows: dict[str, list[Row]] = {
            name: [] for name in ("markets", "md_book", "md_level", "md_trade", "md_tick", "reports")
        }
        self.prices: list[Row] = []
        self.refs: dict[tuple[str, str], Row] = {}
        self.records = 0
        self._pending = 0
        self._dispatch: dict[str, Callable[[dict[str, Any], int, int, str], None]] = {
            "book": self._book,
            "price_change": self._price_change,
            "last_trade_price": self._trade,
            "tick_size_change": self._tick_change,
        }

    @property
    def full(self) -> bool:
        """True once enough problems are collected to stop reading the file."""
        return len(self.problems) >= MAX_PROBLEMS

    def problem(self, line: int, field: str, message: str) -> None:
        if not self.full:
            self.problems.append(Problem(self.path, line, field, message))

    def pending(self) -> int:
        """Rows parsed since the last :meth:`take` (counted every 1024 records)."""
        if self.records & 1023 == 0:
            self._pending = sum(len(rows) for rows in self.rows.values()) + len(self.prices)
        return self._pending

    def take(self) -> tuple[dict[str, list[Row]], list[Row]]:
        """Hand over the rows parsed so far and start new buffers."""
        rows, prices = self.rows, self.prices
        self.rows = {name: [] for name in rows}
        self.prices = []
        self._pending = 0
        return rows, prices

    # ------------------------------------------------------------ entry points

    def feed_line(self, line: int, raw: bytes | str) -> None:
        """Parse one line of a JSON Lines file."""
        try:
            value = parse_json_line(raw)
        except UnicodeDecodeError as exc:
            self.problem(line, "(line)", f"not UTF-8: {exc.reason} at byte {exc.start}")
            return
        except ValueError as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            col = f" (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            self.problem(line, "(json)", f"not valid JSON: {msg}{col}")
            return
        self.feed(line, value)

    def feed(self, line: int, value: Any) -> None:
        """Parse one decoded record: an object, or an array frame of market-data messages."""
        self.records += 1
        if isinstance(value, list):  # an array frame; an empty one holds nothing
            for index, element in enumerate(value):
                self._one(line, index + 1, element, f"[{index}].", frame=True)
        else:
            self._one(line, 0, value, "", frame=False)

    def _one(self, line: int, elem: int, obj: Any, prefix: str, *, frame: bool) -> None:
        try:
            if not isinstance(obj, dict):
                raise _Bad("(line)", f"expected a JSON object, got {type(obj).__name__}")
            kind = obj.get("kind")
            if kind is not None:
                if frame:
                    raise _Bad("kind", "an array frame holds market-data messages only")
                if kind == "market":
                    self._market(obj, line)
                elif kind == "report":
                    self._report(obj, line)
                else:
                    raise _Bad("kind", f"{kind!r} is not 'market' or 'report'")
                return
            event_type = obj.get("event_type")
            handler = self._dispatch.get(event_type) if isinstance(event_type, str) else None
            if handler is None:
                if event_type is None:
                    raise _Bad("event_type", "required field is missing (or set 'kind')")
                known = ", ".join(self._dispatch)
                raise _Bad("event_type", f"{event_type!r} is not one of {known}")
            handler(obj, line, elem, prefix)
        except _Bad as bad:
            self.problem(line, prefix + bad.field, bad.message)

    def _ref(self, market: str, asset_id: str, line: int, elem: int, field: str) -> None:
        """Note the first place the file says token ``asset_id`` belongs to ``market``."""
        if (market, asset_id) not in self.refs:
            self.refs[(market, asset_id)] = (market, asset_id, line, elem, field)

    # ------------------------------------------------------------ market data

    def _head(self, obj: dict[str, Any], prefix: str, *, asset: bool = True) -> tuple[Any, ...]:
        market = _condition_id(_get(obj, "market", ""), "market")
        asset_id = _token_id(_get(obj, "asset_id", ""), "asset_id") if asset else None
        ts = _ts(_get(obj, "timestamp", ""), "timestamp")
        seq = obj.get("seq")
        seq = None if seq is None else _integer(seq, "seq")
        recv = _opt_ts(obj, "recv_ts_ms", "")
        return market, asset_id, ts, seq, recv

    def _book(self, obj: dict[str, Any], line: int, elem: int, prefix: str) -> None:
        market, asset_id, ts, seq, recv = self._head(obj, prefix)
        self._ref(market, asset_id, line, elem, f"{prefix}asset_id")
        where = (line, elem, prefix, asset_id, ts)
        bids = self._levels(obj, "bids", where)
        asks = self._levels(obj, "asks", where)
        bids.sort(reverse=True)
        asks.sort()
        if bids and asks and bids[0][0] >= asks[0][0]:
            raise _Bad(
                "bids",
                f"crossed book: best bid {_show(bids[0][0])} >= best ask {_show(asks[0][0])}",
            )
        depth = obj.get("depth_limit")
        depth = None if depth is None else _integer(depth, "depth_limit", minimum=1, maximum=10_000)
        self.rows["md_book"].append(
            (
                market, asset_id, ts, seq, recv,
                _opt_text(obj.get("hash"), "hash"),
                [p for p, _ in bids], [s for _, s in bids],
                [p for p, _ in asks], [s for _, s in asks],
                depth, self.file_key, line, elem,
            )
        )  # fmt: skip

    def _levels(
        self, obj: dict[str, Any], side: str, where: tuple[int, int, str, str, int]
    ) -> list[tuple[int, int]]:
        line, elem, prefix, asset_id, ts = where
        levels = _list(_get(obj, side, ""), side)
        seen: set[int] = set()
        out = []
        for i, raw in enumerate(levels):
            field = f"{side}[{i}]"
            level = _object(raw, field)
            price = _price(_get(level, "price", f"{field}."), f"{field}.price")
            size = _size(_get(level, "size", f"{field}."), f"{field}.size", allow_zero=False)
            if price in seen:
                raise _Bad(f"{field}.price", f"price {_show(price)} is listed twice on {side}")
            seen.add(price)
            out.append((price, size))
            self.prices.append((asset_id, ts, price, line, elem, f"{prefix}{field}.price"))
        return out

    def _price_change(self, obj: dict[str, Any], line: int, elem: int, prefix: str) -> None:
        if "price_changes" in obj:
            market, _, ts, seq, recv = self._head(obj, prefix, asset=False)
            entries = _list(obj["price_changes"], "price_changes")
            name, top_asset = "price_changes", None
        elif "changes" in obj:
            market, top_asset, ts, seq, recv = self._head(obj, prefix)
            entries = _list(obj["changes"], "changes")
            name = "changes"
        else:  # the flat single-level legacy form
            market, top_asset, ts, seq, recv = self._head(obj, prefix)
            entries, name = [obj], ""
        if not entries:
            raise _Bad(name, "holds no level change")
        if top_asset is not None:
            self._ref(market, top_asset, line, elem, f"{prefix}asset_id")
        hash_default = _opt_text(obj.get("hash"), "hash")
        for i, raw in enumerate(entries):
            try:
                asset_id, side, price, size, best_bid, best_ask, hash_ = _level_entry(raw, top_asset)
            except _Bad as bad:
                raise _Bad(_entry_field("", name, i, bad.field), bad.message) from None
            if top_asset is None:
                self._ref(market, asset_id, line, elem, _entry_field(prefix, name, i, "asset_id"))
            if size:
                # A removal (size 0) names a level that was on the grid when it was set.
                field = _entry_field(prefix, name, i, "price")
                self.prices.append((asset_id, ts, price, line, elem, field))
            self.rows["md_level"].append(
                (
                    market, asset_id, ts, seq, recv, side, price, size, best_bid, best_ask,
                    hash_ if hash_ is not None else hash_default, self.file_key, line, elem, i,
                )
            )  # fmt: skip

    def _trade(self, obj: dict[str, Any], line: int, elem: int, prefix: str) -> None:
        market, asset_id, ts, seq, recv = self._head(obj, prefix)
        self._ref(market, asset_id, line, elem, f"{prefix}asset_id")
        price = _price(_get(obj, "price", ""), "price")
        size = _size(_get(obj, "size", ""), "size", allow_zero=False)
        side = _side(_get(obj, "side", ""), "side")
        fee = obj.get("fee_rate_bps")
        fee = None if fee is None else self._bps(fee, "fee_rate_bps")
        tx = _opt_text(obj.get("transaction_hash"), "transaction_hash")
        self.prices.append((asset_id, ts, price, line, elem, f"{prefix}price"))
        self.rows["md_trade"].append(
            (market, asset_id, ts, seq, recv, side, price, size, fee, tx, self.file_key, line, elem)
        )

    def _tick_change(self, obj: dict[str, Any], line: int, elem: int, prefix: str) -> None:
        market, asset_id, ts, seq, recv = self._head(obj, prefix)
        self._ref(market, asset_id, line, elem, f"{prefix}asset_id")
        old = _tick(_get(obj, "old_tick_size", ""), "old_tick_size")
        new = _tick(_get(obj, "new_tick_size", ""), "new_tick_size")
        self.rows["md_tick"].append((market, asset_id, ts, seq, recv, old, new, self.file_key, line, elem))

    # ------------------------------------------------------------ markets

    def _market(self, obj: dict[str, Any], line: int) -> None:
        condition_id = _condition_id(_get(obj, "condition_id", ""), "condition_id")
        tokens = _list(_get(obj, "tokens", ""), "tokens")
        if len(tokens) != 2:
            raise _Bad("tokens", f"a binary market has exactly 2 tokens, got {len(tokens)}")
        pairs = []
        for i, raw in enumerate(tokens):
            token = _object(raw, f"tokens[{i}]")
            token_id = _token_id(_get(token, "token_id", f"tokens[{i}]."), f"tokens[{i}].token_id")
            outcome = _text(_get(token, "outcome", f"tokens[{i}]."), f"tokens[{i}].outcome")
            pairs.append((token_id, outcome))
        if pairs[0][0] == pairs[1][0]:
            raise _Bad("tokens[1].token_id", "both tokens have the same id")
        neg_risk = _opt_bool(obj, "neg_risk", default=False)
        nr_market = obj.get("neg_risk_market_id")
        nr_market = None if nr_market in (None, "") else _condition_id(nr_market, "neg_risk_market_id")
        if neg_risk and nr_market is None:
            raise _Bad("neg_risk_market_id", "required when neg_risk is true")
        question_id = obj.get("question_id")
        question_id = None if question_id in (None, "") else _condition_id(question_id, "question_id")
        min_size = obj.get("min_order_size")
        min_size = None if min_size is None else _size(min_size, "min_order_size", allow_zero=False)
        effective = obj.get("effective_ts_ms")
        effective = 0 if effective is None else _ts(effective, "effective_ts_ms")
        end_date = obj.get("end_date")
        outcomes = obj.get("neg_risk_outcomes")
        row = (
            condition_id, effective,
            _opt_text(obj.get("question"), "question") or "",
            pairs[0][0], pairs[0][1], pairs[1][0], pairs[1][1],
            neg_risk, nr_market, question_id,
            _opt_bool(obj, "neg_risk_other", default=False),
            _opt_text(obj.get("group_item_title"), "group_item_title"),
            _opt_bool(obj, "active", default=True),
            _tick(_get(obj, "tick_size", ""), "tick_size"),
            min_size,
            *self._fees(obj),
            None if end_date is None else _iso_ms(end_date, "end_date"),
            None if outcomes is None else _integer(outcomes, "neg_risk_outcomes", minimum=2, maximum=10_000),
            _opt_text(obj.get("provenance"), "provenance"),
        )  # fmt: skip
        content = _sha(canonical_json([str(v) if v is not None else None for v in row]))
        self.rows["markets"].append((*row, content, self.file_key, line, 0))

    def _fees(self, obj: dict[str, Any]) -> tuple[Any, ...]:
        """(model, rate_bps, rate, exponent, taker_only, rebate_rate) of a market."""
        fees = obj.get("fees")
        if fees is None:
            legacy = obj.get("fee_rate_bps")
            if legacy is None:
                return ("none", None, None, None, None, None)
            return ("flat_bps", self._bps(legacy, "fee_rate_bps"), None, None, None, None)
        fees = _object(fees, "fees")
        model = fees.get("model")
        if model == "flat_bps":
            bps = self._bps(_get(fees, "fee_rate_bps", "fees."), "fees.fee_rate_bps")
            return ("flat_bps", bps, None, None, None, None)
        if model == "curve":
            rate = _money(_get(fees, "rate", "fees."), "fees.rate")
            exponent = _integer(_get(fees, "exponent", "fees."), "fees.exponent", minimum=1, maximum=10)
            taker_only = _opt_bool(fees, "taker_only", default=True, prefix="fees.")
            rebate = _money(fees.get("rebate_rate", 0), "fees.rebate_rate")
            if rate > MICRO or rebate > MICRO:
                raise _Bad("fees.rate", "fee and rebate rates are fractions at most 1")
            return ("curve", None, rate, exponent, taker_only, rebate)
        if model == "unknown" and self.adapter:
            # Only adapters say this: their source does not record the fee schedule.
            return ("unknown", None, None, None, None, None)
        raise _Bad("fees.model", f"{model!r} is not flat_bps or curve")

    @staticmethod
    def _bps(value: Any, field: str) -> int:
        bps = _integer(value, field)
        if bps > 10_000:
            raise _Bad(field, f"{bps} bps is more than 100%")
        return bps

    # ------------------------------------------------------------ reports

    def _report(self, obj: dict[str, Any], line: int) -> None:
        report_kind = _get(obj, "report_kind", "")
        if report_kind not in REPORT_KINDS:
            raise _Bad("report_kind", f"{report_kind!r} is not one of {', '.join(REPORT_KINDS)}")
        report_id = _text(_get(obj, "report_id", ""), "report_id")
        trace_id = _opt_text(obj.get("trace_id"), "trace_id")
        bot_id = _text(_get(obj, "bot_id", ""), "bot_id")
        ts = _ts(_get(obj, "ts_ms", ""), "ts_ms")
        mode = _get(obj, "mode", "")
        if not isinstance(mode, str) or not _MODE.match(mode):
            raise _Bad("mode", f"{mode!r} is not a mode name such as 'live'")
        version = _integer(_get(obj, "schema_version", ""), "schema_version", maximum=1000)
        if version != 2:
            raise _Bad("schema_version", f"{version} is not 2 (this archive reads contract version 2)")
        payload = _object(_get(obj, "payload", ""), "payload")
        market_id, asset_id = _PAYLOAD_CHECKS[report_kind](payload)
        if market_id is not None and asset_id is not None:
            self._ref(market_id, asset_id, line, 0, "payload.asset_id")
        if market_id is not None and report_kind == "SettlementReport":
            for token in payload["payouts"]:
                self._ref(market_id, token, line, 0, f"payload.payouts.{token}")
        envelope = {
            "report_kind": report_kind, "report_id": report_id, "trace_id": trace_id,
            "bot_id": bot_id, "ts_ms": ts, "mode": mode, "schema_version": version,
            "payload": payload,
        }  # fmt: skip
        payload_json = canonical_json(payload)
        self.rows["reports"].append(
            (
                report_id, report_kind, trace_id, bot_id, ts, mode, version, market_id, asset_id,
                payload_json, _sha(canonical_json(envelope)), self.file_key, line, 0,
            )
        )  # fmt: skip


def _level_entry(raw: Any, top_asset: str | None) -> tuple[Any, ...]:
    """(asset_id, side, price, size, best_bid, best_ask, hash) of one level change."""
    entry = _object(raw, "(entry)")
    asset_id = _token_id(_get(entry, "asset_id", ""), "asset_id") if top_asset is None else top_asset
    side = _side(_get(entry, "side", ""), "side")
    price = _price(_get(entry, "price", ""), "price")
    size = _size(_get(entry, "size", ""), "size", allow_zero=True)
    best_bid = _top(entry.get("best_bid"), "best_bid")
    best_ask = _top(entry.get("best_ask"), "best_ask")
    if best_bid and best_ask and best_ask < MICRO and best_bid >= best_ask:
        raise _Bad("best_bid", f"crossed book: best_bid {_show(best_bid)} >= best_ask {_show(best_ask)}")
    return asset_id, side, price, size, best_bid, best_ask, _opt_text(entry.get("hash"), "hash")


@lru_cache(maxsize=4096)
def _entry_field(prefix: str, name: str, index: int, key: str) -> str:
    """``price_changes[3].price``: the field path of a key of a level change."""
    if not name:  # the flat form: the entry is the message
        return f"{prefix}{key}" if key != "(entry)" else f"{prefix}(line)"
    if key == "(entry)":
        return f"{prefix}{name}[{index}]"
    return f"{prefix}{name}[{index}].{key}"


def _show(micros: int) -> str:
    return format_micros(micros)


# ---------------------------------------------------------------- report payloads

_P = "payload."


def _opt_token(payload: dict[str, Any], key: str = "asset_id") -> str | None:
    value = payload.get(key)
    return None if value is None else _token_id(value, _P + key)


def _observation(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    market = _condition_id(_get(payload, "market_id", _P), _P + "market_id")
    asset = _opt_token(payload)
    signals = _object(_get(payload, "signals", _P), _P + "signals")
    if not signals:
        raise _Bad(_P + "signals", "holds no signal")
    for name, value in signals.items():
        field = f"{_P}signals.{name}"
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise _Bad(field, f"{value!r} is not a number")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise _Bad(field, f"{value!r} is not a number") from None
        if not number.is_finite():
            raise _Bad(field, f"{value!r} is not a finite number")
    return market, asset


def _decision(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    _text(_get(payload, "strategy", _P), _P + "strategy")
    market = _condition_id(_get(payload, "market_id", _P), _P + "market_id")
    _object(payload.get("params", {}), _P + "params")
    intent = payload.get("intent")
    if intent is not None:
        intent = _object(intent, _P + "intent")
        legs = _list(_get(intent, "legs", _P + "intent."), _P + "intent.legs")
        if not legs:
            raise _Bad(_P + "intent.legs", "an intent has at least one leg")
        for i, raw in enumerate(legs):
            f = f"{_P}intent.legs[{i}]."
            leg = _object(raw, f.rstrip("."))
            _token_id(_get(leg, "asset_id", f), f + "asset_id")
            _side(_get(leg, "side", f), f + "side")
            _price(_get(leg, "limit_price", f), f + "limit_price")
            _size(_get(leg, "size_pusd", f), f + "size_pusd", allow_zero=False)
    return market, None


def _vote(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    _text(_get(payload, "guard", _P), _P + "guard")
    vote = _get(payload, "vote", _P)
    if vote not in ("pass", "reshape", "reject"):
        raise _Bad(_P + "vote", f"{vote!r} is not pass, reshape or reject")
    if vote == "reshape":
        _money(_get(payload, "new_size_pusd", _P), _P + "new_size_pusd")
    _opt_text(payload.get("reason"), _P + "reason")
    market = payload.get("market_id")
    return (None if market is None else _condition_id(market, _P + "market_id")), None


def _execution(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    market = _condition_id(_get(payload, "market_id", _P), _P + "market_id")
    asset = _token_id(_get(payload, "asset_id", _P), _P + "asset_id")
    _side(_get(payload, "side", _P), _P + "side")
    status = _get(payload, "status", _P)
    if status not in ("FILLED", "PARTIAL", "REJECTED"):
        raise _Bad(_P + "status", f"{status!r} is not FILLED, PARTIAL or REJECTED")
    if status == "REJECTED":
        for key in ("price", "size", "size_pusd", "fee_pusd"):
            if payload.get(key) is not None:
                _money(payload[key], _P + key)
    else:
        _price(_get(payload, "price", _P), _P + "price")
        _size(_get(payload, "size", _P), _P + "size", allow_zero=False)
        _money(_get(payload, "size_pusd", _P), _P + "size_pusd")
        _money(_get(payload, "fee_pusd", _P), _P + "fee_pusd")
    return market, asset


def _settlement(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    market = _condition_id(_get(payload, "market_id", _P), _P + "market_id")
    payouts = _object(_get(payload, "payouts", _P), _P + "payouts")
    if len(payouts) != 2:
        raise _Bad(_P + "payouts", f"a binary market pays out on 2 tokens, got {len(payouts)}")
    total = 0
    for token, value in payouts.items():
        field = f"{_P}payouts.{token}"
        _token_id(token, field)
        share = _money(value, field)
        if share > MICRO:
            raise _Bad(field, f"payout {value} is more than 1 pUSD per share")
        total += share
    if total != MICRO:
        raise _Bad(_P + "payouts", "payouts of the two tokens must add up to 1")
    adapter = _get(payload, "adapter", _P)
    if adapter not in ("CTF", "NegRiskAdapter"):
        raise _Bad(_P + "adapter", f"{adapter!r} is not CTF or NegRiskAdapter")
    return market, None


_PAYLOAD_CHECKS: dict[str, Callable[[dict[str, Any]], tuple[str | None, str | None]]] = {
    "ObservationReport": _observation,
    "DecisionReport": _decision,
    "RiskVote": _vote,
    "ExecutionReport": _execution,
    "SettlementReport": _settlement,
}

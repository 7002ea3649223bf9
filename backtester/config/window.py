"""Replay-window timestamps: ISO 8601 UTC or ``now()`` expressions, resolved against a clock.

The clock is always passed in (``now``), never read here, so that a config resolves to
the same window in a test, in an audit re-run, and on the CLI with ``--now``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

__all__ = ["TimeExpr", "format_ms", "parse_time_expr", "to_ms"]

_NOW = re.compile(r"now\(\)\s*(?:([+-])\s*(\d+)\s*([dhm]))?\Z")
_UNIT = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


@dataclass(frozen=True)
class TimeExpr:
    """A parsed window bound: an absolute instant, or ``now()`` plus an offset."""

    text: str
    absolute_ms: int | None = None
    offset: timedelta = timedelta(0)

    def resolve(self, now: datetime) -> int:
        """Epoch milliseconds of this bound for the given clock."""
        if self.absolute_ms is not None:
            return self.absolute_ms
        return to_ms(now + self.offset)


def parse_time_expr(value: object) -> TimeExpr:
    """Parse ``now()``, ``now()-7d`` (units d, h, m), or an ISO 8601 UTC timestamp.

    >>> parse_time_expr("now()-7d").offset
    datetime.timedelta(days=-7)
    >>> parse_time_expr("2026-05-01T00:00:00Z").absolute_ms
    1777593600000
    >>> parse_time_expr("2026-05-01").absolute_ms
    1777593600000
    >>> parse_time_expr("2026-05-01T02:00:00+02:00")
    Traceback (most recent call last):
    ...
    ValueError: '2026-05-01T02:00:00+02:00' is not UTC: write it with Z or +00:00
    """
    if isinstance(value, datetime):
        return TimeExpr(value.isoformat(), absolute_ms=_datetime_ms(value, repr(value)))
    if isinstance(value, date):
        return TimeExpr(value.isoformat(), absolute_ms=_date_ms(value))
    if not isinstance(value, str):
        msg = f"expected an ISO 8601 UTC timestamp or now() expression, got {value!r}"
        raise ValueError(msg)
    text = value.strip()
    match = _NOW.match(text)
    if match:
        sign, amount, unit = match.groups()
        offset = timedelta(0)
        if amount is not None:
            offset = int(amount) * _UNIT[unit] * (-1 if sign == "-" else 1)
        return TimeExpr(text, offset=offset)
    if text.startswith("now"):
        msg = f"{value!r} is not a now() expression: write now(), now()-7d, now()-12h or now()-30m"
        raise ValueError(msg)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        msg = f"{value!r} is not an ISO 8601 timestamp (e.g. 2026-05-01T00:00:00Z)"
        raise ValueError(msg) from None
    if len(text) == 10:
        return TimeExpr(text, absolute_ms=_date_ms(parsed.date()))
    return TimeExpr(text, absolute_ms=_datetime_ms(parsed, repr(value)))


def _date_ms(day: date) -> int:
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def _datetime_ms(moment: datetime, shown: str) -> int:
    if moment.tzinfo is None:
        # A bare date-time is read as UTC: the spec's own acceptance test writes
        # start_ts='2026-05-09' without a zone.
        moment = moment.replace(tzinfo=UTC)
    elif moment.utcoffset() != timedelta(0):
        msg = f"{shown} is not UTC: write it with Z or +00:00"
        raise ValueError(msg)
    if moment.microsecond % 1000:
        msg = f"{shown} is more precise than a millisecond"
        raise ValueError(msg)
    return to_ms(moment)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (exact, no float arithmetic)."""
    if moment.tzinfo is None:
        msg = "the clock must be timezone-aware (UTC)"
        raise ValueError(msg)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_ms(ms: int) -> str:
    """ISO 8601 UTC text of epoch milliseconds, as the spec's reports write it.

    >>> format_ms(1777593600000)
    '2026-05-01T00:00:00Z'
    >>> format_ms(1777593600123)
    '2026-05-01T00:00:00.123Z'
    """
    text = _second_text(ms // 1000)
    if ms % 1000:
        text += f".{ms % 1000:03d}"
    return text + "Z"


@lru_cache(maxsize=65_536)
def _second_text(second: int) -> str:
    """The ISO 8601 text of one UTC second (reports stamp many events per second)."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S")

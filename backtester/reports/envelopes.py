"""Replay-tagged reports: every one has ``mode="replay"``, the run's ``replay_run_id``,
``bot_id="gov.backtester"`` and a ``report_id`` no other report of any run shares.

Report ids. The spec writes ``ops_backtester_<run>_<tick_ts>``, which collides as soon as
two reports share a tick (two fills of one tick, or the same tick in two variants of a
sweep). Ids here are ``<prefix>_<replay_run_id>_v<variant>_<n>`` with ``n`` counting the
run's reports in the order they were made; the run id (a ULID) keeps runs apart, the
variant keeps a sweep's variants apart, and the counter keeps reports of one tick apart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from backtester.config.window import format_ms

__all__ = ["BOT_ID", "TOPIC", "ReportIds", "envelope", "operations_report", "partition"]

BOT_ID = "gov.backtester"
TOPIC = "polytraders.reports.operations"


def epoch_bucket(ms: int) -> str:
    """The UTC day of ``ms``, as the spec's partitions write it.

    >>> epoch_bucket(1_778_198_400_123)
    '2026-05-08T00:00Z'
    """
    return _day_text(ms // 86_400_000)


@lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def partition(ms: int) -> str:
    """``backtester+<epoch bucket>``: the topic partition of a report stamped ``ms``."""
    return f"backtester+{epoch_bucket(ms)}"


class ReportIds:
    """Unique report ids for one variant of one run.

    >>> ids = ReportIds("replay_01HX", 2)
    >>> ids.next("ops_backtester"), ids.next("dec")
    ('ops_backtester_replay_01HX_v2_000000001', 'dec_replay_01HX_v2_000000002')
    """

    def __init__(self, run_id: str, variant_id: int) -> None:
        self.run_id = run_id
        self.variant_id = variant_id
        self.count = 0

    def next(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.run_id}_v{self.variant_id}_{self.count:09d}"


def operations_report(
    report_id: str, event_type: str, *, replay_run_id: str, ts_ms: int, **fields: Any
) -> dict[str, Any]:
    """An OperationsReport in the spec's flat shape (section 13, 16)."""
    return {
        "report_id": report_id,
        "bot_id": BOT_ID,
        "event_type": event_type,
        "replay_run_id": replay_run_id,
        "mode": "replay",
        **fields,
        "ts_ms": ts_ms,
        "report_kind": "OperationsReport",
        "topic": TOPIC,
        "partition": partition(ts_ms),
    }


def envelope(
    report_kind: str,
    report_id: str,
    *,
    trace_id: str,
    replay_run_id: str,
    ts_ms: int,
    payload: dict[str, Any],
    original_trace_id: str | None = None,
) -> dict[str, Any]:
    """A replay-tagged copy of a live report kind (DecisionReport, RiskVote, ...), in the
    archive's envelope shape with the replay's fields added."""
    return {
        "report_kind": report_kind,
        "report_id": report_id,
        "trace_id": trace_id,
        "bot_id": BOT_ID,
        "ts_ms": ts_ms,
        "tick_ts": format_ms(ts_ms),
        "mode": "replay",
        "schema_version": 2,
        "replay_run_id": replay_run_id,
        "original_trace_id": original_trace_id,
        "payload": payload,
        "topic": TOPIC,
        "partition": partition(ts_ms),
    }

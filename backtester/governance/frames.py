"""The run registry as a DataFrame, for notebooks (``backtester.runs()``)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pandas as pd

from backtester.governance.registry import RunRecord

__all__ = ["RUN_COLUMNS", "runs_frame"]

RUN_COLUMNS = (
    "replay_run_id", "status", "kind", "strategy", "variants", "launched_by", "host", "pid", "started",
    "heartbeat", "ended", "duration_ms", "reason_code", "reason", "abort_by", "abort_reason", "out_path",
    "archive", "config_sha256", "ticks_replayed", "ticks_skipped", "simulated_fills", "simulated_volume_pusd",
    "simulated_pnl_pusd", "simulated_net_fees_pusd",
)  # fmt: skip
_TIMES = {"started": "started_ms", "heartbeat": "heartbeat_ms", "ended": "ended_ms"}
_MONEY = ("simulated_volume_pusd", "simulated_pnl_pusd", "simulated_net_fees_pusd")
_COUNTS = ("variants", "pid", "duration_ms", "ticks_replayed", "ticks_skipped", "simulated_fills")


def runs_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run, in the order given: times as UTC ``Timestamp`` (NaT when not set),
    money as exact ``Decimal`` (None when the run has no aggregate report), counts as
    nullable integers."""
    rows = []
    for record in records:
        row = {name: getattr(record, name, None) for name in RUN_COLUMNS if name not in _TIMES}
        row["duration_ms"] = record.duration_ms
        for name, column in _TIMES.items():
            value = getattr(record, column)
            row[name] = pd.Timestamp(value, unit="ms", tz="UTC") if value is not None else pd.NaT
        for name in _MONEY:
            row[name] = Decimal(row[name]) if row[name] is not None else None
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    for name in _COUNTS:
        frame[name] = frame[name].astype("Int64")
    for name in _TIMES:
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame

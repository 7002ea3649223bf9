"""The reports a replay emits, all replay-tagged."""

from backtester.reports.envelopes import BOT_ID, TOPIC, ReportIds, envelope, operations_report, partition
from backtester.reports.summary import retained_until, sweep_report, variant_report

__all__ = [
    "BOT_ID",
    "TOPIC",
    "ReportIds",
    "envelope",
    "operations_report",
    "partition",
    "retained_until",
    "sweep_report",
    "variant_report",
]

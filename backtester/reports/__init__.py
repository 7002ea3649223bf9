"""The reports a replay emits, all replay-tagged."""

from backtester.reports.envelopes import BOT_ID, TOPIC, ReportIds, envelope, operations_report, partition

__all__ = ["BOT_ID", "TOPIC", "ReportIds", "envelope", "operations_report", "partition"]

"""Replay runs: the tick loop (one pass, one variant or many), and a whole run over its variants."""

from backtester.runs.engine import Decision, VariantResult, run_pass, run_variant
from backtester.runs.output import write_run
from backtester.runs.replay import ReplayResult, check_run_id, new_run_id, replay

__all__ = [
    "Decision",
    "ReplayResult",
    "VariantResult",
    "check_run_id",
    "new_run_id",
    "replay",
    "run_pass",
    "run_variant",
    "write_run",
]

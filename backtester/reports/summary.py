"""The end-of-run reports: ``BACKTESTER_REPLAY_COMPLETE`` per variant (spec section 13,
one per variant as section 7 asks for sweeps), and for a sweep the aggregate with its
``variants[]`` (spec section 11).

Money fields are decimal strings written from the exact micro-units, never via a
float: ``"92450.5"``, as the archive contract writes money.

``simulated_pnl_pusd`` is realised plus unrealised P&L; the two parts are reported as
``realised_pnl_pusd`` and ``unrealised_pnl_pusd`` (positions open at the window's end,
marked to the mid), so nothing unrealised hides in the realised figure.
``vs_original_pnl_delta_pusd`` is the variant's P&L minus the live bot's over the same
window under the same accounting.

Next to the spec's fields, which stay as they are, each variant's report and each entry
of the aggregate's ``variants[]`` carry ``stats``: the variant's tearsheet statistics
(:mod:`backtester.reports.stats`) as exact decimal strings; a variant's report also
carries ``stats_by_market``, and ``original_outcome.stats`` is the live bot's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from backtester.config.window import format_ms
from backtester.errors import ReasonCode
from backtester.reports.envelopes import operations_report

__all__ = ["RUN_COST", "retained_until", "sweep_report", "variant_report"]

MONEY_FIELDS = (
    "simulated_volume_pusd",
    "simulated_pnl_pusd",
    "simulated_net_fees_pusd",
    "realised_pnl_pusd",
    "unrealised_pnl_pusd",
)


RUN_COST = "run_cost"
"""The field of a run's aggregate ``BACKTESTER_REPLAY_COMPLETE`` that says what the run
cost: ``duration_ms`` (wall clock, from opening the archive to the last report),
``events`` (the events one pass reads) and ``events_per_s``. The one wall-clock field of
the reports: identical reruns are identical but for it (and the run id)."""


def retained_until(window_end_ms: int) -> str:
    """The window's end plus one year (spec: retained for 1 year), as a date.

    >>> retained_until(1_778_198_400_000), retained_until(1_709_164_800_000)  # 2024-02-29 has no 2025 twin
    ('2027-05-08', '2025-02-28')
    """
    day = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=window_end_ms)).date()
    try:
        return date(day.year + 1, day.month, day.day).isoformat()
    except ValueError:
        return date(day.year + 1, day.month, 28).isoformat()


def variant_report(
    run_id: str,
    *,
    strategy: str,
    window: tuple[int, int],
    variant: dict[str, Any],
    variants_run: int,
    original: dict[str, Any],
    delta_pusd: str,
) -> dict[str, Any]:
    """``BACKTESTER_REPLAY_COMPLETE`` for one variant (spec section 13)."""
    return _complete(
        f"ops_backtester_{run_id}_v{variant['variant_id']}_complete",
        run_id,
        strategy,
        window,
        parameter_variant=variant["params"],
        variant_id=variant["variant_id"],
        ticks_replayed=variant["ticks_replayed"],
        ticks_skipped=variant["ticks_skipped"],
        ticks_missing=variant["ticks_missing"],
        ticks_partial_book=variant["ticks_partial_book"],
        skipped_by_reason=variant["skipped_by_reason"],
        intents=variant["intents"],
        intents_rejected=variant["rejected"],
        phantom_arbs=variant["phantom_arbs"],
        simulated_fills=variant["simulated_fills"],
        **{name: variant[name] for name in MONEY_FIELDS},
        vs_original_pnl_delta_pusd=delta_pusd,
        original_outcome=original,
        parameter_variants_run=variants_run,
        stats=variant["stats"],
        stats_by_market=variant["stats_by_market"],
    )


def sweep_report(
    run_id: str,
    *,
    strategy: str,
    window: tuple[int, int],
    variants: list[dict[str, Any]],
) -> dict[str, Any]:
    """The aggregate of a sweep with ``variants[]`` exactly as the spec's wire example. The
    ticks (replayed, skipped and why, missing from the archive) are the feed's, the same
    for every variant: the first variant's are reported."""
    first = variants[0]
    return _complete(
        f"ops_backtester_{run_id}_complete",
        run_id,
        strategy,
        window,
        ticks_replayed=first["ticks_replayed"],
        ticks_skipped=first["ticks_skipped"],
        ticks_missing=first["ticks_missing"],
        skipped_by_reason=first["skipped_by_reason"],
        parameter_variants_run=len(variants),
        variants=[
            {
                "variant_id": v["variant_id"],
                "params": v["params"],
                "simulated_fills": v["simulated_fills"],
                **{name: v[name] for name in MONEY_FIELDS},
                "vs_original_pnl_delta_pusd": v["vs_original_pnl_delta_pusd"],
                "stats": v["stats"],
            }
            for v in variants
        ],
    )


def _complete(
    report_id: str, run_id: str, strategy: str, window: tuple[int, int], **fields: Any
) -> dict[str, Any]:
    """A ``BACKTESTER_REPLAY_COMPLETE`` report: the fields every one carries, in order,
    around ``fields``."""
    start, end = window
    return operations_report(
        report_id,
        str(ReasonCode.BACKTESTER_REPLAY_COMPLETE),
        replay_run_id=run_id,
        ts_ms=end,
        strategy=strategy,
        status="complete",
        window_start=format_ms(start),
        window_end=format_ms(end),
        **fields,
        retained_until=retained_until(end),
    )

"""A run's key facts as plain text: what the notebooks print first (and nbval checks).

It opens with the spec's plain-English explanation (section 17) and the user-facing
message of every reason code the run raised (section 14), then the exact results.
It holds no run id and no wall-clock time, so the same run prints the same text.
"""

from __future__ import annotations

import json
from typing import Any

from backtester.errors import ReasonCode
from backtester.evidence.attribution import attribute
from backtester.reports.messages import USER_MESSAGES, explain
from backtester.units import format_micros

__all__ = ["attribution_rows", "overview", "raised_codes"]


def raised_codes(result: Any) -> list[ReasonCode]:
    """Every reason code on the run's record, in a stable order (notices first)."""
    codes = [n.code for n in (*result.run.notices, *result.notices)]
    seen = {r.get("event_type") for v in result.variants for r in v.reports}
    seen |= {r.get("event_type") for r in result.final_reports}
    if result.abort_report is not None:
        seen.add(result.abort_report.get("event_type"))
    codes += [code for code in ReasonCode if code.value in seen]
    return [code for code in dict.fromkeys(codes) if code is not ReasonCode.BACKTESTER_TICK_PROCESSED]


def overview(result: Any) -> str:
    """The run in a few lines of text (see the module docstring)."""
    skipped = sum(v.ticks_skipped for v in result.variants)
    lines = [
        *explain(
            codes=raised_codes(result),
            sweep=len(result.run.variants) > 1,  # a one-entry sweep is not 'multiple variants'
            skipped=skipped,
            aborted=result.abort_report is not None,
        ),
        "",
        "Messages:",
    ]
    lines += [
        f"  {code.severity.value} {code.value}: {USER_MESSAGES.get(code, '')}".rstrip()
        for code in raised_codes(result)
    ]
    if result.abort_report is not None:
        lines += ["", f"Aborted: {result.abort_report.get('reason')}"]
        return "\n".join(lines)
    run = result.run
    lines += [
        "",
        f"Strategy {run.strategy}, window {run.as_dict()['start_ts']} to {run.as_dict()['end_ts']}, "
        f"{len(result.markets)} markets, {len(result.variants)} variant(s).",
        "Results (pUSD, exact):",
    ]
    for variant in result.variants:
        s = variant.summary()
        delta = format_micros(variant.pnl - result.original.pnl) if result.original else "n/a"
        params = json.dumps(variant.params, sort_keys=True)
        parts = [
            f"ticks {s['ticks_replayed']} (skipped {s['ticks_skipped']})",
            f"fills {s['simulated_fills']}",
            f"volume {s['simulated_volume_pusd']}",
            f"fees {s['simulated_net_fees_pusd']}",
            f"realised {s['realised_pnl_pusd']}",
            f"unrealised {s['unrealised_pnl_pusd']}",
            f"P&L {s['simulated_pnl_pusd']}",
            f"vs live {delta}",
        ]
        lines.append(f"  variant {variant.variant_id} {params}: " + ", ".join(parts))
    if result.original is not None:
        o = result.original.summary()
        lines.append(
            f"  live (original): decisions {o['decisions']}, fills {o['fills']}, volume {o['volume_pusd']}, "
            f"fees {o['net_fees_pusd']}, realised {o['realised_pnl_pusd']}, "
            f"unrealised {o['unrealised_pnl_pusd']}, P&L {o['pnl_pusd']}"
        )
    return "\n".join(lines)


def attribution_rows(result: Any) -> list[dict[str, str]]:
    """Per variant, the P&L attribution as exact decimal strings (one dict per variant)."""
    rows = []
    for variant in result.variants:
        a = attribute(variant)
        row = {"variant": str(variant.variant_id)}
        row |= {name: format_micros(value) for name, value in a.components()}
        row["total"] = format_micros(a.total)
        row |= {f"of which {k}": format_micros(v) for k, v in sorted(a.by_source.items())}
        rows.append(row)
    return rows

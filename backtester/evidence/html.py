"""The self-contained HTML report of a run: what a reviewer without Python opens.

Built here from the figures themselves, not by nbconvert from a notebook (under
papermill Plotly's default renderer writes a MIME bundle nbconvert drops, and the HTML
would silently have no figures): plotly.js is inlined once, every figure gets a fixed
``div`` id, and nothing is loaded from the web (no CDN, no MathJax, no require.js), so
the file opens offline and the same run gives the same bytes but for its run id.

A small script at the top catches script errors and lists them in the page
(``#script-errors``): a figure that failed to draw is visible, not just missing.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

from backtester.config.window import format_ms
from backtester.evidence import figures
from backtester.evidence.overview import attribution_rows, raised_codes
from backtester.reports.messages import OURS, USER_MESSAGES, explain
from backtester.units import format_micros

__all__ = ["render_report", "write_report"]

_CSS = """
body{font-family:Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.6em} h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em} td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f4f4f4;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
.code{font-family:monospace} .note{color:#555;font-size:.9em} #script-errors:empty{display:none}
#script-errors{background:#fee;border:1px solid #c00;padding:.5em;white-space:pre-wrap}
.figure{margin:1em 0;min-height:420px}
"""

_CATCH = """
window.addEventListener('error', function (e) {
  var box = document.getElementById('script-errors');
  if (box) { box.textContent += 'script error: ' + e.message + '\\n'; }
});
"""


def render_report(result: Any) -> str:
    """The report of ``result`` (a :class:`~backtester.runs.replay.ReplayResult`)."""
    e = html.escape
    run = result.run
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Backtest {e(result.replay_run_id)}</title>",
        f"<style>{_CSS}</style>",
        f"<script>{_CATCH}</script>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        '<div id="script-errors"></div>',
        f"<h1>Backtest of <span class='code'>{e(run.strategy)}</span>: {e(result.status)}</h1>",
        _table(
            [
                ("replay run id", result.replay_run_id),
                ("window", f"{_iso(run.start_ms)} to {_iso(run.end_ms)}"),
                ("variants", str(len(result.variants))),
                ("markets", str(len(result.markets))),
                ("archive content sha256", result.archive_sha256 or "not recorded"),
                ("backtester", version("backtester")),
            ]
        ),
        "<h2>What this is</h2>",
        *(
            f"<p>{e(text)}</p>"
            for text in explain(
                codes=raised_codes(result),
                sweep=len(run.variants) > 1,  # a one-entry sweep is not 'multiple variants'
                skipped=_skipped(result),
                aborted=result.abort_report is not None,
            )
        ),
        "<h2>Messages</h2>",
        _messages(result),
    ]
    if result.abort_report is not None:
        abort = result.abort_report
        parts += [
            "<h2>Aborted</h2>",
            f"<p><span class='code'>{e(abort.get('event_type', ''))}</span>: "
            f"{e(abort.get('reason', ''))}</p>",
            *_config_section(run),
            "</body></html>",
        ]
        return "\n".join(parts) + "\n"
    figs = [
        ("equity", figures.equity_figure(result)),
        ("fills", figures.fills_figure(result)),
        ("attribution", figures.attribution_figure(result)),
    ]
    if len(result.variants) > 1:
        figs.append(("sweep", figures.sweep_figure(result)))
    figs += [("skipped", figures.skipped_ticks_figure(result)), ("votes", figures.guard_votes_figure(result))]
    rendered = {name: _figure(name, fig) for name, fig in figs}
    parts += [
        "<h2>Results</h2>",
        _results(result),
        "<h2>P&amp;L over time</h2>",
        rendered["equity"],
        "<h2>Fills on the book</h2>",
        rendered["fills"],
        "<h2>P&amp;L attribution</h2>",
        rendered["attribution"],
        _attribution_table(result),
    ]
    if "sweep" in rendered:
        parts += ["<h2>Sweep</h2>", rendered["sweep"], _rows(figures.sweep_table(result))]
    parts += [
        "<h2>Against the live outcome</h2>",
        _comparison(result),
        "<h2>Data quality: skipped ticks</h2>",
        rendered["skipped"],
        "<h2>Risk guards</h2>",
        rendered["votes"],
        *_config_section(run),
        "<p class='note'>Money is exact: every amount in the tables is written from integer micro-pUSD. "
        "Charts plot the same values as floats. Definitions: README sections Venue simulation, Fees, "
        "Ledger and P&amp;L, The live outcome and the comparison.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _config_section(run: Any) -> list[str]:
    text = json.dumps(run.as_dict(), indent=2, sort_keys=True, default=str)
    return ["<h2>Run configuration (as resolved)</h2>", f"<pre class='code'>{html.escape(text)}</pre>"]


def write_report(result: Any, path: str | Path) -> Path:
    """Write the report to ``path`` (UTF-8)."""
    target = Path(path)
    target.write_text(render_report(result), encoding="utf-8")
    return target


def _figure(name: str, fig: Any) -> str:
    body = pio.to_html(
        fig, include_plotlyjs=False, full_html=False, div_id=f"figure-{name}",
        config={"displaylogo": False, "responsive": True},
    )  # fmt: skip
    return f'<div class="figure" data-figure="{name}">{body}</div>'


def _iso(ms: int) -> str:
    return format_ms(ms)


def _skipped(result: Any) -> int:
    return sum(v.ticks_skipped for v in result.variants)


def _messages(result: Any) -> str:
    rows = []
    details = {n.code: n.detail for n in (*result.run.notices, *result.notices)}
    for code in raised_codes(result):
        message = USER_MESSAGES.get(code, "")
        source = "ours" if code in OURS else "spec section 14"
        rows.append((code.value, code.severity.value, message, source, details.get(code, "")))
    return _rows(
        [
            {"code": c, "severity": s, "message": m, "message from": src, "detail": d}
            for c, s, m, src, d in rows
        ]
    )


def _results(result: Any) -> str:
    rows = []
    for variant in result.variants:
        s = variant.summary()
        rows.append(
            {
                "": f"variant {variant.variant_id}",
                "params": json.dumps(variant.params, sort_keys=True),
                "ticks replayed": s["ticks_replayed"],
                "ticks skipped": s["ticks_skipped"],
                "fills": s["simulated_fills"],
                "volume pUSD": s["simulated_volume_pusd"],
                "fees pUSD": s["simulated_net_fees_pusd"],
                "realised pUSD": s["realised_pnl_pusd"],
                "unrealised pUSD": s["unrealised_pnl_pusd"],
                "P&L pUSD": s["simulated_pnl_pusd"],
                "vs live pUSD": format_micros(variant.pnl - result.original.pnl) if result.original else "",
            }
        )
    if result.original is not None:
        o = result.original.summary()
        rows.append(
            {
                "": "live (original)", "params": "", "ticks replayed": "", "ticks skipped": "",
                "fills": o["fills"], "volume pUSD": o["volume_pusd"], "fees pUSD": o["net_fees_pusd"],
                "realised pUSD": o["realised_pnl_pusd"], "unrealised pUSD": o["unrealised_pnl_pusd"],
                "P&L pUSD": o["pnl_pusd"], "vs live pUSD": "",
            }
        )  # fmt: skip
    return _rows(rows)


def _attribution_table(result: Any) -> str:
    return _rows([{"": f"variant {row.pop('variant')}", **row} for row in attribution_rows(result)])


def _comparison(result: Any) -> str:
    summary = result.summary().get("comparison") or []
    rows = [
        {
            "": f"variant {c['variant_id']}",
            "live decisions": c["live_decisions"],
            "linked": c["linked_decisions"],
            "decided the same": c["decided_same"],
            "filled the same": c["filled_same"],
            **{f"cause: {k}": v for k, v in c["by_cause"].items()},
            "P&L delta pUSD": c["vs_original_pnl_delta_pusd"],
        }
        for c in summary
    ]
    return _rows(rows) if rows else "<p>No live outcome in this window.</p>"


def _table(pairs: Iterable[tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(k)}</th><td class='code'>{html.escape(v)}</td></tr>" for k, v in pairs
    )
    return f"<table>{body}</table>"


def _rows(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>None.</p>"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(row.get(c, "")) for c in columns) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    digits = text.replace(".", "", 1).removeprefix("-")
    numeric = isinstance(value, int | float) or (bool(digits) and digits.isdigit())
    return f"<td class='n'>{html.escape(text)}</td>" if numeric else f"<td>{html.escape(text)}</td>"

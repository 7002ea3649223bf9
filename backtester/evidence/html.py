"""The HTML report of a run: what a reviewer without Python opens.

Built here from the figures themselves, not by nbconvert from a notebook (under
papermill Plotly's default renderer writes a MIME bundle nbconvert drops, and the HTML
would silently have no figures). Every figure gets a fixed ``div`` id, and nothing is
loaded from the web (no CDN, no MathJax, no require.js), so the file opens offline and
the same run gives the same bytes but for its run id. plotly.js is either inlined
(``plotly="inline"``: one self-contained file) or loaded from ``plotly.min.js`` next to
the report (``plotly="file"``: how a bundle holds it, once for both of its pages).

Top to bottom: the verdict (the best variant by a stated metric against the live
outcome, the data quality, and every assumption that qualifies the figures, in a
coloured box), how to read the report, the variants ranked (only the parameters that
vary; the constants once above), the sweep figure, P&L and drawdown over time, per-market
P&L, the round trips, the fills on the book, the P&L attribution, the comparison with
the live bot, data quality, the guards, the messages and the configuration. Tables show
numbers as :mod:`backtester.evidence.numbers` formats them, the exact value in each
cell's hover text.

A small script at the top catches script errors and lists them in the page
(``#script-errors``): a figure that failed to draw is visible, not just missing.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

from backtester.config.window import format_ms
from backtester.evidence import figures
from backtester.evidence.numbers import bps, exact, pct, pusd, ratio, signed_pusd
from backtester.evidence.overview import attribution_rows, raised_codes
from backtester.evidence.verdict import RANKED_BY, assumptions, best_variant, quality_line, varying_text
from backtester.reports.messages import OURS, USER_MESSAGES, explain

__all__ = ["render_report", "write_report"]

_CSS = """
body{font-family:Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.6em} h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em} td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f4f4f4;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
.code{font-family:monospace} .note{color:#555;font-size:.9em} #script-errors:empty{display:none}
#script-errors{background:#fee;border:1px solid #c00;padding:.5em;white-space:pre-wrap}
.figure{margin:1em 0;min-height:420px} .wide{overflow-x:auto}
.verdict{border:2px solid #2b6cb0;border-radius:6px;padding:.4em 1.2em 1em;background:#f7fafc}
.verdict h2{margin-top:.4em;border:none} .lead{font-size:1.1em}
.assume{background:#fff8e1;border:1px solid #e0a800;border-radius:4px;padding:.4em 1em;margin-top:.8em}
.assume h3{margin:.3em 0;font-size:1em;color:#8a5a00} .good{color:#1a7f37} .bad{color:#b00020}
dl.glossary dt{font-weight:bold;margin-top:.4em} dl.glossary dd{margin-left:1.5em}
.multiples{display:grid;grid-template-columns:1fr;gap:.5em} td.t{white-space:nowrap}
"""

_CATCH = """
window.addEventListener('error', function (e) {
  var box = document.getElementById('script-errors');
  if (box) { box.textContent += 'script error: ' + e.message + '\\n'; }
});
"""


PLOTLY_JS = "plotly.min.js"
"""The file a bundle's pages load plotly.js from (``plotly="file"``)."""
MAX_TRADES = 50
"""The round trips listed in the report (all of them are in ``tables/trades.parquet``)."""


def render_report(result: Any, *, plotly: str = "inline") -> str:
    """The report of ``result`` (a :class:`~backtester.runs.replay.ReplayResult`), with
    plotly.js inlined or loaded from :data:`PLOTLY_JS` beside it (``plotly="file"``)."""
    e = html.escape
    run = result.run
    script = (
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        if plotly == "inline"
        else f'<script type="text/javascript" src="{PLOTLY_JS}"></script>'
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Backtest {e(result.replay_run_id)}</title>",
        f"<style>{_CSS}</style>",
        f"<script>{_CATCH}</script>",
        script,
        "</head><body>",
        '<div id="script-errors"></div>',
        f"<h1>Backtest of <span class='code'>{e(run.strategy)}</span>: {e(result.status)}, "
        f"{len(result.variants)} variant(s), {_day(run.start_ms)} to {_day(run.end_ms)}</h1>",
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
    ]
    if result.abort_report is not None:
        abort = result.abort_report
        parts += [
            "<div class='verdict'><h2>Verdict: aborted</h2>",
            f"<p class='lead'><span class='code'>{e(abort.get('event_type', ''))}</span>: "
            f"{e(abort.get('reason', ''))}</p>",
            "<p>Nothing was replayed to the end: there are no results.</p></div>",
            *_what_this_is(result),
            "<h2>Messages</h2>",
            _messages(result),
            *_config_section(run),
            "</body></html>",
        ]
        return "\n".join(parts) + "\n"
    best = best_variant(result)
    parts += [
        _verdict(result, best),
        _glossary(),
        *_what_this_is(result),
        "<h2>Variants, ranked by " + e(RANKED_BY) + "</h2>",
        _constants(result),
        f"<div class='wide'>{_ranked(result)}</div>",
    ]
    if len(result.variants) > 1:
        parts += [_figure("sweep", figures.sweep_figure(result))]
    parts += [
        "<h2>P&amp;L and drawdown over time</h2>",
        f"<p class='note'>{e(_window_caption(result))}</p>",
        _figure("equity", figures.equity_figure(result)),
        _figure("drawdown", figures.drawdown_figure(result)),
        f"<h2>P&amp;L per market ({e(_label(best))})</h2>",
        _per_market(result, best),
        f"<h2>Round trips ({e(_label(best))})</h2>",
        _trades(result, best),
        "<h2>Fills on the book</h2>",
        _fills(result),
        "<h2>P&amp;L attribution</h2>",
        _figure("attribution", figures.attribution_figure(result)),
        f"<div class='wide'>{_attribution_table(result)}</div>",
        "<h2>Against the live outcome</h2>",
        f"<div class='wide'>{_comparison(result)}</div>",
        "<h2>Data quality</h2>",
        *_data_quality(result),
        "<h2>Risk guards</h2>",
        _figure("votes", figures.guard_votes_figure(result)),
        "<h2>Messages</h2>",
        _messages(result),
        *_config_section(run),
        "<p class='note'>Money is exact: every amount is computed in integer micro-pUSD; tables show it "
        "to 2 decimals (the exact value in each cell's hover text, and in the bundle's files), charts plot "
        "it as floats. Definitions and formulas: the README's Statistics section and docs/replay.md.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _label(variant: Any) -> str:
    return f"variant {variant.variant_id}"


def _day(ms: int) -> str:
    return _iso(ms)[:10]


def _window_caption(result: Any) -> str:
    run = result.run
    return (
        f"The window is {_iso(run.start_ms)} to {_iso(run.end_ms)}; the time axes span the trading in it. "
        "Each line steps at every fill, merge, conversion and settlement; its last point is the window's end "
        "(open positions marked to the archive's mid). The statistics' max drawdown also counts the P&L at "
        "each sample time, so it can be deeper than the drawdown drawn here where open positions moved "
        "between fills."
    )


def _verdict(result: Any, best: Any) -> str:
    """The one-screen verdict (see the module docstring)."""
    e = html.escape
    stats, live = best.stats, result.original.stats if result.original is not None else None

    def both(show: Any) -> tuple[Any, Any]:
        return show(stats), show(live) if live is not None else ""

    rows = [
        ("P&L (pUSD)", *both(lambda s: _n(s.pnl, pusd)), _delta(best.pnl, live and live.pnl)),
        ("realised (pUSD)", *both(lambda s: _n(s.realised, pusd)), ""),
        ("unrealised at the window's end (pUSD)", *both(lambda s: _n(s.unrealised, pusd)), ""),
        ("return on peak gross exposure", *both(lambda s: _n(s.return_on_exposure_pct, pct)), ""),
        ("max drawdown (pUSD, % of peak equity)", *both(_drawdown), ""),
        (f"Sharpe ({stats.sample_interval} P&L, annualised)", *both(_sharpe), ""),
        ("win rate over round trips", *both(_win_rate), ""),
        ("fills", *both(lambda s: str(s.fills)), ""),
    ]
    body = "".join(f"<tr><th>{e(name)}</th>{_td(a)}{_td(b)}{_td(c)}</tr>" for name, a, b, c in rows)
    table = (
        f"<table><thead><tr><th></th><th>{e(_label(best))}</th><th>live (original)</th>"
        f"<th>difference</th></tr></thead><tbody>{body}</tbody></table>"
    )
    if result.original is not None:
        better = best.pnl > result.original.pnl
        outcome = (
            f"<span class='{'good' if better else 'bad'}'>{'beats' if better else 'does not beat'}</span> "
            f"the live outcome by {e(signed_pusd(best.pnl - result.original.pnl))} pUSD over the window"
        )
    else:
        outcome = "no live outcome to compare with in this window"
    n = len(result.variants)
    chosen = f"Best of {n} variants by {e(RANKED_BY)}" if n > 1 else "The only variant"
    return (
        "<div class='verdict'><h2>Verdict</h2>"
        f"<p class='lead'>{chosen}: <b>{e(_label(best))}</b> "
        f"({e(varying_text(result, best))}), P&amp;L {e(pusd(best.pnl))} pUSD; it {outcome}.</p>"
        f"{table}<p><b>Data quality:</b> {e(quality_line(result))}</p>"
        f"{_assumptions(result, best)}</div>"
    )


def _n(value: Any, fmt: Any) -> tuple[str, str]:
    """A number as shown and exactly (for the hover text)."""
    return fmt(value), exact(value)


def _delta(a: int, b: int | None) -> tuple[str, str] | str:
    return "" if b is None else (signed_pusd(a - b), exact(a - b))


def _drawdown(stats: Any) -> str:
    return f"{pusd(stats.max_drawdown)} ({pct(stats.max_drawdown_pct)})"


def _sharpe(stats: Any) -> str:
    if stats.sharpe is not None:
        return f"{ratio(stats.sharpe)} (Sortino {ratio(stats.sortino)})"
    return f"n/a: {stats.why_no_sharpe}"


def _win_rate(stats: Any) -> str:
    if not stats.round_trips:
        return "n/a: no round trip closed"
    return f"{pct(stats.win_rate_pct)} of {stats.round_trips}"


def _assumptions(result: Any, best: Any) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in assumptions(result, best))
    return f"<div class='assume'><h3>Assumptions that qualify these figures</h3><ul>{items}</ul></div>"


_GLOSSARY = (
    ("pUSD", "Polymarket's USD unit of account. A share pays 1 pUSD if its outcome wins, 0 otherwise; "
     "prices are pUSD per share. Amounts are exact to 0.000001."),
    ("P&L: realised, unrealised", "Realised: closed by a sale, a merge of a complete set "
     "(1 Yes + 1 No = 1 pUSD), a conversion or a settlement. Unrealised: positions open at the window's "
     "end, marked to the mid."),
    ("round trip", "Lots opened by buys and closed by one sale, merge, conversion or settlement: the unit of "
     "win rate, profit factor and the trade list."),
    ("drawdown", "How far the P&L stands below its running peak; in % of peak equity = peak gross exposure "
     "(the capital deployed) + the P&L's peak."),
    ("Sharpe, Sortino", "Mean over standard deviation (Sortino: downside deviation) of the P&L's change per "
     "interval, times sqrt(intervals per 365-day year); n/a with fewer than 30 intervals in which it moved."),
    ("neg-risk", "A multi-outcome event whose markets are linked by the NegRiskAdapter: a basket of No "
     "tokens of k outcomes converts into k - 1 pUSD."),
    ("phantom arbitrage", "An arbitrage seen only because the two books of a market were read at different "
     "moments; the book-skew guard refuses it, and it is counted, never traded."),
    ("linked decision", "A replay decision matched to the live bot's decision at the latest tick of the same "
     "market at or before it: the pair the comparison compares."),
    ("comparison causes", "decision: the two sides decided differently; risk: one side's guards rejected; "
     "none / fees: the same fill (fees: another fee); liquidity: the replay's own earlier fills had taken "
     "what the archive displayed; latency: the book moved between decision and arrival; data_gap: the "
     "replay's books were out of sync then."),
)  # fmt: skip


def _glossary() -> str:
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in _GLOSSARY)
    return f"<h2>How to read this report</h2><dl class='glossary'>{items}</dl>"


def _what_this_is(result: Any) -> list[str]:
    texts = explain(
        codes=raised_codes(result),
        sweep=len(result.run.variants) > 1,  # a one-entry sweep is not 'multiple variants'
        skipped=_skipped(result),
        aborted=result.abort_report is not None,
    )
    return ["<h2>What this is</h2>", *(f"<p>{html.escape(text)}</p>" for text in texts)]


def _constants(result: Any) -> str:
    varying = set(figures.varying_parameters(result))
    constants = {k: v for k, v in result.variants[0].params.items() if k not in varying}
    if not constants:
        return ""
    text = ", ".join(f"{k} = {json.dumps(v)}" for k, v in constants.items())
    lead = "The same for every variant" if len(result.variants) > 1 else "Its parameters"
    return f"<p>{lead}: <span class='code'>{html.escape(text)}</span>.</p>"


def _ranked(result: Any) -> str:
    varying = figures.varying_parameters(result)
    live = result.original.pnl if result.original is not None else None
    rows = [
        {
            "rank": rank, "variant": variant.variant_id, **{k: variant.params.get(k) for k in varying},
            **_ranked_cells(variant.stats),
            "vs live pUSD": _delta(variant.pnl, live) if live is not None else "",
        }
        for rank, variant in enumerate(sorted(result.variants, key=lambda v: (-v.pnl, v.variant_id)), 1)
    ]  # fmt: skip
    if result.original is not None and result.original.stats is not None:
        rows.append(
            {
                "rank": "", "variant": "live (original)", **dict.fromkeys(varying, ""),
                **_ranked_cells(result.original.stats), "vs live pUSD": "",
            }
        )  # fmt: skip
    note = (
        "<p class='note'>Profit factor n/a: no losing round trip. Sharpe n/a: fewer than 30 intervals in "
        "which the P&amp;L moved. Slippage: what fills cost above the best price at decision.</p>"
    )
    return _rows(rows) + note


def _ranked_cells(s: Any) -> dict[str, Any]:
    """One ledger's statistics as the ranked table's cells."""
    return {
        "P&L pUSD": _n(s.pnl, pusd), "realised": _n(s.realised, pusd), "unrealised": _n(s.unrealised, pusd),
        "return on exposure": _n(s.return_on_exposure_pct, pct),
        "max drawdown pUSD": _n(s.max_drawdown, pusd), "max drawdown %": _n(s.max_drawdown_pct, pct),
        "Sharpe": _n(s.sharpe, ratio),
        "win rate": _n(s.win_rate_pct, pct), "profit factor": _n(s.profit_factor, ratio),
        "round trips": s.round_trips, "fills": s.fills, "volume pUSD": _n(s.volume, pusd),
        "fees bps": _n(s.fees_bps, bps), "slippage bps": _n(s.slippage_bps, bps),
    }  # fmt: skip


def _per_market(result: Any, variant: Any) -> str:
    markets = sorted(variant.market_stats.items(), key=lambda kv: (-kv[1].pnl, kv[0]))
    if not markets:
        return "<p>No fills.</p>"
    rows = [_market_cells(figures.market_question(result, market), s) for market, s in markets]
    rows.append(_market_cells("all markets", variant.stats))
    return f"<div class='wide'>{_rows(rows)}</div>"


def _market_cells(name: str, s: Any) -> dict[str, Any]:
    return {
        "market": name, "fills": s.fills, "volume pUSD": _n(s.volume, pusd),
        "realised pUSD": _n(s.realised, pusd), "unrealised pUSD": _n(s.unrealised, pusd),
        "P&L pUSD": _n(s.pnl, pusd), "round trips": s.round_trips,
        "win rate": _n(s.win_rate_pct, pct), "peak exposure pUSD": _n(s.peak_exposure, pusd),
    }  # fmt: skip


def _trades(result: Any, variant: Any) -> str:
    trips = variant.round_trips
    if not trips:
        return "<p>No round trip closed in the window.</p>"
    rows = [
        {
            "entry (UTC)": _iso(t.entry_ms), "exit (UTC)": _iso(t.exit_ms), "closed by": t.kind,
            "market": figures.market_question(result, t.market_id) if t.market_id else "",
            "shares": _n(t.shares, pusd), "cost pUSD": _n(t.cost, pusd),
            "proceeds pUSD": _n(t.proceeds, pusd), "P&L pUSD": _n(t.pnl, pusd),
        }
        for t in trips[:MAX_TRADES]
    ]  # fmt: skip
    more = len(trips) - MAX_TRADES
    note = (
        f"<p class='note'>The first {MAX_TRADES} of {len(trips)}; all of them (and every variant's) are in "
        "the bundle's tables/trades.parquet.</p>"
        if more > 0
        else ""
    )
    return f"<div class='wide'>{_rows(rows)}</div>{note}"


def _fills(result: Any) -> str:
    charts = figures.fills_figures(result)
    if not charts:
        return "<p>No fills in this run.</p>"
    traded = len(figures.markets_traded(result))
    note = (
        f"<p class='note'>The {len(charts)} busiest of {traded} markets with fills.</p>"
        if traded > len(charts)
        else ""
    )
    blocks = "".join(_figure(f"fills-{i}", fig) for i, (_, fig) in enumerate(charts, 1))
    return f"{note}<div class='multiples'>{blocks}</div>"


def _data_quality(result: Any) -> list[str]:
    """A figure of the skipped ticks when a tick was skipped; otherwise one line."""
    first = result.variants[0]
    if not first.ticks_skipped:
        return [f"<p>Nothing to show: {html.escape(quality_line(result))}</p>"]
    return [
        f"<p>{html.escape(quality_line(result))}</p>",
        _figure("skipped", figures.skipped_ticks_figure(result)),
    ]


def _config_section(run: Any) -> list[str]:
    text = json.dumps(run.as_dict(), indent=2, sort_keys=True, default=str)
    return ["<h2>Run configuration (as resolved)</h2>", f"<pre class='code'>{html.escape(text)}</pre>"]


def write_report(result: Any, path: str | Path, *, plotly: str = "inline") -> Path:
    """Write the report to ``path`` (UTF-8; ``plotly`` as :func:`render_report`)."""
    target = Path(path)
    target.write_text(render_report(result, plotly=plotly), encoding="utf-8")
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


def _attribution_table(result: Any) -> str:
    return _rows(
        [
            {"": f"variant {row.pop('variant')}", **{k: (pusd(v), v) for k, v in row.items()}}
            for row in attribution_rows(result)
        ]
    )


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
            "P&L delta pUSD": (pusd(c["vs_original_pnl_delta_pusd"]), c["vs_original_pnl_delta_pusd"])
            if c["vs_original_pnl_delta_pusd"] is not None
            else "",
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


_TIME = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z")


def _cell(value: Any) -> str:
    """A table cell: a number right-aligned; a (shown, exact) pair with the exact value as
    its hover text."""
    if isinstance(value, tuple):
        shown, precise = value
        return f"<td class='n' title='{html.escape(precise)}'>{html.escape(shown)}</td>"
    text = "" if value is None else str(value)
    if _TIME.fullmatch(text):
        return f"<td class='t'>{html.escape(text)}</td>"
    digits = text.replace(".", "", 1).removeprefix("-")
    numeric = isinstance(value, int | float) or (bool(digits) and digits.isdigit())
    return f"<td class='n'>{html.escape(text)}</td>" if numeric else f"<td>{html.escape(text)}</td>"


def _td(value: Any) -> str:
    return _cell(value)

"""The Plotly figures a reviewer needs, built from a run's result.

Figures plot floats converted from the exact micro-units (a chart has no use for the
sixth decimal); every number a reviewer may quote is also in the report's tables, exact.
Figures carry no random ids and no timestamps of their own, so the same run gives the
same figure data.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np
import plotly.graph_objects as go

from backtester.config.window import format_ms
from backtester.evidence.attribution import attribute
from backtester.runs.frames import stats_row
from backtester.units import MICRO, format_micros

__all__ = [
    "attribution_figure",
    "busiest_market",
    "equity_figure",
    "fills_figure",
    "fills_figures",
    "drawdown_figure",
    "guard_votes_figure",
    "metric_values",
    "METRICS",
    "market_question",
    "markets_traded",
    "skipped_ticks_figure",
    "sweep_figure",
    "sweep_table",
    "varying_parameters",
]

_LAYOUT = {"template": "plotly_white", "height": 420, "margin": {"l": 60, "r": 20, "t": 60, "b": 50}}
_DATES = {"xaxis_type": "date"}
"""Times are epoch milliseconds (see :func:`_times`): the axis must be told they are dates."""


def _label(variant: Any) -> str:
    return f"variant {variant.variant_id}"


def _chosen(result: Any, variants: Collection[int] | None) -> list[Any]:
    return [v for v in result.variants if variants is None or v.variant_id in variants]


def equity_figure(result: Any, variants: Collection[int] | None = None, *, live: bool = True) -> go.Figure:
    """P&L over time of every variant and of the live bot, realised plus unrealised.

    The last point of each line is the window's end (positions marked to the mid); when
    the window ends long after the last trade, it is drawn just after the activity, with
    its real time in the hover text, so the trading is not squeezed into a sliver.
    """
    return _steps(
        result, _equity_series(result, variants, live=live), what="P&L", unit="P&L (pUSD)",
        title="P&L over time (realised + unrealised), each variant against the live outcome",
    )  # fmt: skip


def drawdown_figure(result: Any, variants: Collection[int] | None = None, *, live: bool = True) -> go.Figure:
    """How far each P&L line of :func:`equity_figure` stood below its running peak (the
    peak starting at 0), in pUSD, on the same time axis. The statistics' max drawdown is
    taken on these points and on the P&L at each sample time (``Stats.curve``), so it can
    be deeper where open positions moved between ledger events."""
    series = []
    for name, points in _equity_series(result, variants, live=live):
        peak, falls = 0, []
        for ts, value in points:
            peak = max(peak, value)
            falls.append((ts, value - peak))
        series.append((name, falls))
    return _steps(
        result, series, what="drawdown", unit="drawdown (pUSD)", fill=len(series) <= 3,
        title="Drawdown: how far below its running peak each P&L stood",
    )  # fmt: skip


def _steps(
    result: Any, series: list[tuple[str, list]], *, what: str, unit: str, title: str, fill: bool = False
) -> go.Figure:
    """Step lines of (ts_ms, micro-pUSD) series over time, the live bot's dashed."""
    end, shown_end = result.run.end_ms, _shown_end(result, series)
    fig = go.Figure()
    for name, points in series:
        fig.add_trace(
            go.Scatter(
                x=_times(ts if ts != end else shown_end for ts, _ in points), y=_floats(v for _, v in points),
                name=name, mode="lines", line_shape="hv", fill="tozeroy" if fill else None,
                hovertemplate=f"{_HOVER_TIME}<br>{what} %{{y:,.2f}} pUSD<extra>%{{fullData.name}}</extra>",
                line={"dash": "dash"} if name.startswith("live") else {},
            )
        )  # fmt: skip
    fig.update_layout(
        title=title, xaxis_title=_time_axis(result, shown_end != end), yaxis_title=unit, **_LAYOUT, **_DATES
    )
    return fig


def _equity_series(result: Any, variants: Collection[int] | None, *, live: bool) -> list[tuple[str, list]]:
    """(name, [(ts_ms, P&L micro-pUSD)]) of each chosen variant, and of the live bot."""
    series = [
        (_label(v), [(p.ts_ms, p.total) for p in v.trading.equity])
        for v in _chosen(result, variants)
        if v.trading
    ]
    if live and result.original is not None and len(result.original.equity) > 1:
        series.append(("live (original)", [(ts, r + u) for ts, r, u in result.original.equity]))
    return series


def _shown_end(result: Any, series: list[tuple[str, list]]) -> int:
    """Where the window's end is drawn: the end itself, or just after the activity when
    the window ends long after it (see :func:`equity_figure`)."""
    activity = [ts for _, points in series for ts, _ in points[:-1]]
    end = result.run.end_ms
    if activity:
        first, last = min(activity), max(activity)
        if end - last > 10 * max(last - first, 60_000):
            return last + max((last - first) // 20, 1_000)
    return end


def _time_axis(result: Any, moved_end: bool) -> str:
    window = f"window {format_ms(result.run.start_ms)} to {format_ms(result.run.end_ms)}"
    note = "; the last point is the window's end, drawn after the activity" if moved_end else ""
    return f"time (UTC; {window}{note})"


def _floats(values: Iterable[int | None]) -> np.ndarray:
    """Micro-units as a float array, NaN for None (plotly writes an array compactly, as a
    base64 typed array, where a list of numbers would be written digit by digit)."""
    return np.fromiter((np.nan if v is None else v / MICRO for v in values), dtype=np.float64)


def _times(values: Iterable[int]) -> np.ndarray:
    """Epoch milliseconds as a float array: a date axis reads them as UTC times."""
    return np.fromiter(values, dtype=np.float64)


_HOVER_TIME = "%{x|%Y-%m-%d %H:%M:%S.%L} UTC"


def markets_traded(result: Any) -> list[tuple[str, str]]:
    """(market id, question) of every market with a simulated or a live fill, busiest first."""
    counts: Counter[str] = Counter()
    for variant in result.variants:
        for execution in variant.fills:
            counts[execution.order.market_id] += 1
    for fill in result.original.fills if result.original else ():
        counts[fill.market_id] += 0
    return [(m, market_question(result, m)) for m in sorted(counts, key=lambda m: (-counts[m], m))]


def busiest_market(result: Any) -> str | None:
    """The market with the most simulated fills (ties: the smallest id); with none, the
    first market the live bot traded; None if nothing traded."""
    traded = markets_traded(result)
    return traded[0][0] if traded else None


def fills_figure(
    result: Any, market_id: str | None = None, variants: Collection[int] | None = None, *, live: bool = True
) -> go.Figure:
    """The archive's best bid and ask of both tokens of one market, with the fills of
    every variant and of the live bot on them."""
    market_id = market_id or busiest_market(result)
    fig = go.Figure()
    fig.update_layout(
        title="Fills on the book (best bid/ask of both tokens)", yaxis_title="price (pUSD per share)",
        xaxis_title=_time_axis(result, moved_end=False), **_LAYOUT, **_DATES,
    )  # fmt: skip
    if market_id is None:
        fig.add_annotation(
            text="no fills in this run", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
        )
        return fig
    tokens = _tokens(result, market_id)
    for name, token in tokens:
        tops = result.tops.get(token, [])
        for side, index, dash in (("bid", 1, "solid"), ("ask", 2, "dot")):
            fig.add_trace(
                go.Scatter(
                    x=_times(t[0] for t in tops), y=_floats(t[index] for t in tops),
                    name=f"{name} best {side}", mode="lines", line_shape="hv",
                    line={"dash": dash, "width": 1},
                )
            )  # fmt: skip
    names = {token: name for name, token in tokens}
    for variant in _chosen(result, variants):
        fills = [e for e in variant.fills if e.order.market_id == market_id]
        if fills:
            fig.add_trace(
                go.Scatter(
                    x=_times(e.order.arrival_ms for e in fills), y=_floats(e.price for e in fills),
                    mode="markers",
                    name=f"{_label(variant)} fills", marker={"symbol": "triangle-up", "size": 7},
                    customdata=[f"{names.get(e.order.asset_id, '?')} {e.order.side} {format_micros(e.shares)}"
                                for e in fills],
                    hovertemplate=f"{_HOVER_TIME}<br>%{{customdata}} @ %{{y}}"
                    "<extra>%{fullData.name}</extra>",
                )
            )  # fmt: skip
    shown = [
        f for f in (result.original.fills if result.original and live else []) if f.market_id == market_id
    ]
    if shown:
        fig.add_trace(
            go.Scatter(
                x=_times(f.ts_ms for f in shown), y=_floats(f.price for f in shown), mode="markers",
                name="live fills", marker={"symbol": "x", "size": 7},
                customdata=[f"{names.get(f.asset_id, '?')} {f.side} {format_micros(f.shares)}"
                            for f in shown],
                hovertemplate=f"{_HOVER_TIME}<br>%{{customdata}} @ %{{y}}<extra>live</extra>",
            )
        )  # fmt: skip
    fig.update_layout(title=f"Fills on the book of {market_question(result, market_id)}")
    return fig


MAX_FILL_CHARTS = 6
"""At most this many markets get a fills chart in the HTML report (the busiest first)."""


def fills_figures(result: Any, limit: int = MAX_FILL_CHARTS) -> list[tuple[str, go.Figure]]:
    """A fills chart (:func:`fills_figure`) for each market with fills, the busiest first,
    at most ``limit``: (market id, figure)."""
    return [(market, fills_figure(result, market)) for market, _ in markets_traded(result)[:limit]]


def _tokens(result: Any, market_id: str) -> list[tuple[str, str]]:
    info = _info(result, market_id)
    if info is None:
        return []
    return [(info.yes_outcome or "Yes", info.yes_token_id), (info.no_outcome or "No", info.no_token_id)]


def _info(result: Any, market_id: str) -> Any:
    return result.market_infos.get(market_id)


def market_question(result: Any, market_id: str) -> str:
    """The market's question (shortened to 70 characters), or the start of its id."""
    info = _info(result, market_id)
    question = getattr(info, "question", None) or market_id[:12]
    return question if len(question) <= 70 else question[:67] + "..."


def attribution_figure(result: Any, variants: Collection[int] | None = None) -> go.Figure:
    """Each variant's P&L as edge at decision, unhedged legs, slippage, fees and the
    outcome against the strategy's model (see :mod:`backtester.evidence.attribution`)."""
    fig = go.Figure()
    parts = [(v, attribute(v)) for v in _chosen(result, variants) if v.trading]
    names = [name for name, _ in parts[0][1].components()] + ["total"] if parts else []
    for variant, a in parts:
        values = [value / MICRO for _, value in a.components()] + [a.total / MICRO]
        fig.add_trace(go.Bar(x=names, y=values, name=_label(variant)))
    fig.update_layout(
        title="P&L attribution: edge, unhedged legs, slippage, fees, outcome vs the model",
        yaxis_title="pUSD", barmode="group", **_LAYOUT,
    )  # fmt: skip
    return fig


def sweep_table(result: Any, variants: Collection[int] | None = None) -> list[dict[str, Any]]:
    """One row per variant, ranked by P&L (best first; ties by variant id): the varying
    parameters, fills, volume, fees, realised, unrealised, P&L and the live delta."""
    varying = varying_parameters(result)
    rows = []
    for variant in _chosen(result, variants):
        summary = variant.summary()
        delta = variant.pnl - result.original.pnl if result.original else None
        rows.append(
            {
                "variant_id": variant.variant_id,
                **{key: variant.params.get(key) for key in varying},
                "fills": summary["simulated_fills"],
                "volume_pusd": summary["simulated_volume_pusd"],
                "fees_pusd": summary["simulated_net_fees_pusd"],
                "realised_pnl_pusd": summary["realised_pnl_pusd"],
                "unrealised_pnl_pusd": summary["unrealised_pnl_pusd"],
                "pnl_pusd": summary["simulated_pnl_pusd"],
                "vs_original_pnl_delta_pusd": None if delta is None else format_micros(delta),
                "_pnl": variant.pnl,
            }
        )
    rows.sort(key=lambda row: (-row["_pnl"], row["variant_id"]))
    for rank, row in enumerate(rows, 1):
        row.pop("_pnl")
        row["rank"] = rank
    return rows


def varying_parameters(result: Any) -> list[str]:
    """The parameters whose values differ across the variants, in the params' order."""
    values: dict[str, set[str]] = defaultdict(set)
    for variant in result.variants:
        for key, value in variant.params.items():
            values[key].add(repr(value))
    return [key for key in result.variants[0].params if len(values[key]) > 1] if result.variants else []


METRICS = {
    "pnl_pusd": "P&L (pUSD)", "return_on_exposure_pct": "return on peak exposure (%)",
    "max_drawdown_pusd": "max drawdown (pUSD)", "max_drawdown_pct": "max drawdown (% of peak equity)",
    "sharpe": "Sharpe (annualised)", "sortino": "Sortino (annualised)", "win_rate_pct": "win rate (%)",
    "profit_factor": "profit factor", "round_trips": "round trips", "fills": "fills",
    "volume_pusd": "volume (pUSD)", "slippage_bps": "slippage (bps of volume)",
}  # fmt: skip
"""What the sweep figure can show (a column of ``result.stats``), and its axis label."""


def metric_values(result: Any, metric: str, variants: Collection[int] | None = None) -> list[float | None]:
    """Each chosen variant's ``metric`` (a :data:`METRICS` key) as a float (None: n/a)."""
    if metric not in METRICS:
        msg = f"unknown metric {metric!r}; one of {', '.join(METRICS)}"
        raise ValueError(msg)
    out = []
    for variant in _chosen(result, variants):
        value = stats_row(variant.stats).get(metric) if variant.stats is not None else None
        out.append(None if value is None or math.isnan(value) else float(value))
    return out


def sweep_figure(
    result: Any, variants: Collection[int] | None = None, *, metric: str = "pnl_pusd"
) -> go.Figure:
    """``metric`` over the parameters that vary: a heatmap when two vary, a line when one
    does, parallel coordinates beyond two (one line per variant, coloured by the metric),
    a bar per variant when none does."""
    varying = varying_parameters(result)
    chosen = _chosen(result, variants)
    values = metric_values(result, metric, variants)
    label = METRICS[metric]
    if len(varying) == 2:
        fig = _heatmap(chosen, values, varying, label)
    elif len(varying) == 1:
        key = varying[0]
        pairs = sorted(zip((_sortable(v.params.get(key)) for v in chosen), values, strict=True))
        fig = go.Figure(
            go.Scatter(
                x=[p[0][1] for p in pairs], y=[p[1] for p in pairs], mode="lines+markers",
                hovertemplate=f"{key} %{{x}}<br>{label} %{{y:,.2f}}<extra></extra>",
            )
        )  # fmt: skip
        fig.update_layout(xaxis_title=key, yaxis_title=label, xaxis_type="category")
    elif varying:
        fig = _parcoords(chosen, values, varying, label)
    else:
        fig = go.Figure(go.Bar(x=[_label(v) for v in chosen], y=values))
        fig.update_layout(yaxis_title=label)
    fig.update_layout(title=f"Sweep: {label} by parameter", **_LAYOUT)
    return fig


def _sortable(value: Any) -> tuple[tuple[int, float | str], str]:
    """A parameter value's sort key (numbers by value, then text) and its label."""
    try:
        return (0, float(value)), str(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return (1, str(value)), str(value)


def _heatmap(chosen: list[Any], values: list[float | None], varying: list[str], label: str) -> go.Figure:
    across, down = varying
    xs = sorted({_sortable(v.params.get(across)) for v in chosen})
    ys = sorted({_sortable(v.params.get(down)) for v in chosen})
    grid: list[list[float | None]] = [[None] * len(xs) for _ in ys]
    names: list[list[str]] = [[""] * len(xs) for _ in ys]
    for variant, value in zip(chosen, values, strict=True):
        row, col = (
            ys.index(_sortable(variant.params.get(down))),
            xs.index(_sortable(variant.params.get(across))),
        )
        grid[row][col], names[row][col] = value, _label(variant)
    fig = go.Figure(
        go.Heatmap(
            x=[x[1] for x in xs], y=[y[1] for y in ys], z=grid, customdata=names, colorscale="RdYlGn",
            zmid=0 if any(v is not None and v < 0 for v in values) else None, texttemplate="%{z:,.2f}",
            colorbar={"title": {"text": label}},
            hovertemplate=f"%{{customdata}}<br>{across} %{{x}}, {down} %{{y}}<br>{label} %{{z:,.2f}}"
            "<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(xaxis_title=across, yaxis_title=down, xaxis_type="category", yaxis_type="category")
    return fig


def _parcoords(chosen: list[Any], values: list[float | None], varying: list[str], label: str) -> go.Figure:
    dims = []
    for key in varying:
        keys = [_sortable(v.params.get(key)) for v in chosen]
        if all(k[0][0] == 0 for k in keys):
            dims.append({"label": key, "values": [k[0][1] for k in keys]})
        else:
            labels = sorted({k[1] for k in keys})
            dims.append({"label": key, "values": [labels.index(k[1]) for k in keys],
                         "tickvals": list(range(len(labels))), "ticktext": labels})  # fmt: skip
    shown = [v if v is not None else float("nan") for v in values]
    dims.append({"label": label, "values": shown})
    fig = go.Figure(
        go.Parcoords(line={"color": shown, "colorscale": "RdYlGn", "showscale": True}, dimensions=dims)
    )
    fig.update_layout(margin={"l": 60, "r": 40, "t": 100, "b": 40})
    return fig


def skipped_ticks_figure(result: Any) -> go.Figure:
    """Data quality: every tick skipped because a book had lost sync, by market group
    and reason (variant 0: every variant replays the same ticks)."""
    fig = go.Figure()
    fig.update_layout(title="Skipped ticks (books out of sync), by market and reason", **_LAYOUT)
    skipped = [r for r in (result.variants[0].reports if result.variants else [])
               if r.get("event_type") == "BACKTESTER_TICK_SKIPPED"]  # fmt: skip
    if not skipped:
        replayed = result.variants[0].ticks_replayed if result.variants else 0
        fig.add_annotation(text=f"No tick was skipped ({replayed:,} ticks replayed).", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 16})  # fmt: skip
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return fig
    by_reason: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for report in skipped:
        by_reason[report["reason"].split(":")[0]].append(report)
    for reason, reports in sorted(by_reason.items()):
        fig.add_trace(
            go.Scatter(
                x=_times(r["tick_ts_ms"] for r in reports), y=[r["group"][:12] for r in reports],
                mode="markers", name=reason, hovertext=[r["reason"] for r in reports],
            )
        )  # fmt: skip
    fig.update_layout(
        xaxis_title=_time_axis(result, moved_end=False), yaxis_title="market group (its id's start)", **_DATES
    )
    return fig


def guard_votes_figure(result: Any, variants: Collection[int] | None = None) -> go.Figure:
    """How each guard voted (pass, reshape, reject), over every variant's intents."""
    counts: Counter[tuple[str, str]] = Counter()
    guards: list[str] = []
    for variant in _chosen(result, variants):
        for report in variant.reports:
            if report.get("report_kind") == "RiskVote":
                guard = report["payload"]["guard"]
                counts[(guard, report["payload"]["vote"])] += 1
                if guard not in guards:
                    guards.append(guard)
    fig = go.Figure()
    for vote in ("pass", "reshape", "reject"):
        fig.add_trace(go.Bar(x=guards, y=[counts[(g, vote)] for g in guards], name=vote))
    fig.update_layout(
        title="Risk guard votes by guard" + (" (all variants)" if variants is None else ""),
        barmode="stack",
        yaxis_title="votes",
        **_LAYOUT,
    )
    return fig

"""The Plotly figures a reviewer needs, built from a run's result.

Figures plot floats converted from the exact micro-units (a chart has no use for the
sixth decimal); every number a reviewer may quote is also in the report's tables, exact.
Figures carry no random ids and no timestamps of their own, so the same run gives the
same figure data.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

from backtester.evidence.attribution import attribute
from backtester.units import MICRO, format_micros

__all__ = [
    "attribution_figure",
    "busiest_market",
    "equity_figure",
    "fills_figure",
    "guard_votes_figure",
    "markets_traded",
    "skipped_ticks_figure",
    "sweep_figure",
    "sweep_table",
]

_LAYOUT = {"template": "plotly_white", "height": 420, "margin": {"l": 60, "r": 20, "t": 60, "b": 50}}


def _t(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _f(micros: int | None) -> float | None:
    return None if micros is None else micros / MICRO


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
    series = [
        (_label(v), [(p.ts_ms, p.total) for p in v.trading.equity])
        for v in _chosen(result, variants)
        if v.trading
    ]
    if live and result.original is not None and len(result.original.equity) > 1:
        series.append(("live (original)", [(ts, r + u) for ts, r, u in result.original.equity]))
    activity = [ts for _, points in series for ts, _ in points[:-1]]
    end = result.run.end_ms
    shown_end = end
    if activity:
        first, last = min(activity), max(activity)
        if end - last > 10 * max(last - first, 60_000):
            shown_end = last + max((last - first) // 20, 1_000)
    fig = go.Figure()
    for name, points in series:
        xs = [_t(ts if ts != end else shown_end) for ts, _ in points]
        hover = [f"{_t(ts).isoformat()}<br>P&L {v / MICRO:,.6f} pUSD" for ts, v in points]
        fig.add_trace(
            go.Scatter(
                x=xs, y=[v / MICRO for _, v in points], name=name, mode="lines", line_shape="hv",
                hovertext=hover, hoverinfo="text+name",
                line={"dash": "dash"} if name.startswith("live") else {},
            )
        )  # fmt: skip
    fig.update_layout(
        title="P&L over time (realised + unrealised), each variant against the live outcome",
        xaxis_title="time (UTC)" + ("; the last point is the window's end" if shown_end != end else ""),
        yaxis_title="pUSD",
        **_LAYOUT,
    )
    return fig


def markets_traded(result: Any) -> list[tuple[str, str]]:
    """(market id, question) of every market with a simulated or a live fill, busiest first."""
    counts: Counter[str] = Counter()
    for variant in result.variants:
        for execution in variant.fills:
            counts[execution.order.market_id] += 1
    for fill in result.original.fills if result.original else ():
        counts[fill.market_id] += 0
    return [(m, _question(result, m)) for m in sorted(counts, key=lambda m: (-counts[m], m))]


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
    fig.update_layout(title="Fills on the book (best bid/ask of both tokens)", yaxis_title="price", **_LAYOUT)
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
                    x=[_t(t[0]) for t in tops], y=[_f(t[index]) for t in tops], name=f"{name} best {side}",
                    mode="lines", line_shape="hv", line={"dash": dash, "width": 1},
                )
            )  # fmt: skip
    names = {token: name for name, token in tokens}
    for variant in _chosen(result, variants):
        fills = [e for e in variant.fills if e.order.market_id == market_id]
        if fills:
            fig.add_trace(
                go.Scatter(
                    x=[_t(e.order.arrival_ms) for e in fills], y=[_f(e.price) for e in fills], mode="markers",
                    name=f"{_label(variant)} fills", marker={"symbol": "triangle-up", "size": 7},
                    hovertext=[f"{names.get(e.order.asset_id, '?')} {e.order.side} {e.shares / MICRO:g} "
                               f"@ {e.price / MICRO:g}" for e in fills],  # type: ignore[operator]
                )
            )  # fmt: skip
    shown = [
        f for f in (result.original.fills if result.original and live else []) if f.market_id == market_id
    ]
    if shown:
        fig.add_trace(
            go.Scatter(
                x=[_t(f.ts_ms) for f in shown], y=[_f(f.price) for f in shown], mode="markers",
                name="live fills", marker={"symbol": "x", "size": 7},
                hovertext=[f"{names.get(f.asset_id, '?')} {f.side} {f.shares / MICRO:g} @ {f.price / MICRO:g}"
                           for f in shown],
            )
        )  # fmt: skip
    fig.update_layout(title=f"Fills on the book of {_question(result, market_id)}")
    return fig


def _tokens(result: Any, market_id: str) -> list[tuple[str, str]]:
    info = _info(result, market_id)
    if info is None:
        return []
    return [(info.yes_outcome or "Yes", info.yes_token_id), (info.no_outcome or "No", info.no_token_id)]


def _info(result: Any, market_id: str) -> Any:
    return result.market_infos.get(market_id)


def _question(result: Any, market_id: str) -> str:
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
    varying = _varying(result)
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


def _varying(result: Any) -> list[str]:
    values: dict[str, set[str]] = defaultdict(set)
    for variant in result.variants:
        for key, value in variant.params.items():
            values[key].add(repr(value))
    return [key for key in result.variants[0].params if len(values[key]) > 1] if result.variants else []


def sweep_figure(result: Any, variants: Collection[int] | None = None) -> go.Figure:
    """Parallel coordinates over the variants: each varying parameter, then P&L, fills
    and fees, coloured by P&L."""
    varying = _varying(result)
    chosen = _chosen(result, variants)
    pnl = [v.pnl / MICRO for v in chosen]
    dims = []
    for key in varying:
        raw = [v.params.get(key) for v in chosen]
        try:
            dims.append({"label": key, "values": [float(x) for x in raw]})  # type: ignore[arg-type]
        except (TypeError, ValueError):
            labels = sorted({str(x) for x in raw})
            dims.append({"label": key, "values": [labels.index(str(x)) for x in raw],
                         "tickvals": list(range(len(labels))), "ticktext": labels})  # fmt: skip
    dims += [
        {"label": "P&L (pUSD)", "values": pnl},
        {"label": "fills", "values": [len(v.fills) for v in chosen]},
        {
            "label": "fees (pUSD)",
            "values": [v.ledger.fees / MICRO if v.trading else 0 for v in chosen],
        },
    ]
    fig = go.Figure(
        go.Parcoords(line={"color": pnl, "colorscale": "RdYlGn", "showscale": True}, dimensions=dims)
    )
    fig.update_layout(title="Sweep: parameters against P&L, fills and fees (one line per variant)", **_LAYOUT)
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
                x=[_t(r["tick_ts_ms"]) for r in reports], y=[r["group"][:12] for r in reports],
                mode="markers", name=reason, hovertext=[r["reason"] for r in reports],
            )
        )  # fmt: skip
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

"""Audit evidence: the figures a reviewer needs, the HTML report (with its verdict), and
papermill bundles with a manifest (see :mod:`backtester.evidence.bundle`).

The notebooks in ``templates/`` and ``notebooks/`` call only what is exported here and
the package's Python API.
"""

from backtester.evidence import figures
from backtester.evidence.attribution import Attribution, attribute
from backtester.evidence.bundle import Bundle, check_parameters, make_evidence, verify, write_artifacts
from backtester.evidence.html import render_report, write_report
from backtester.evidence.notebook_html import export_notebook_html, use_plotly_renderers
from backtester.evidence.overview import attribution_rows, overview, raised_codes
from backtester.evidence.tables import attribution_table, comparison_table, ranked_table, stats_table
from backtester.evidence.verdict import verdict

__all__ = [
    "Attribution", "Bundle", "attribute", "attribution_rows", "attribution_table", "check_parameters",
    "comparison_table", "export_notebook_html", "figures", "make_evidence", "overview", "raised_codes",
    "ranked_table", "render_report", "stats_table", "use_plotly_renderers", "verify", "write_artifacts",
    "verdict", "write_report",
]  # fmt: skip

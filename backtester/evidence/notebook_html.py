"""The executed notebook as HTML (nbconvert), the bundle's secondary view.

``report.html`` is the reviewer's report, built from the figures themselves. This is the
executed template as it ran, input cells hidden, for a reviewer without Python: above
all the one view of a *failed* bundle, whose notebook shows the error. The templates
set Plotly's renderer explicitly to ``plotly_mimetype+notebook``: the mimetype output
draws in JupyterLab, and the ``notebook`` one (HTML, plotly.js inlined with the first
figure) is what nbconvert keeps, so the figures draw here too; the default renderer
under papermill is the mimetype alone, which nbconvert drops (plotly/plotly.py#5365).

nbconvert's ``lab`` template loads require.js and MathJax from a CDN, and widget
scripts when the notebook holds widget state; the template below leaves all of them
out, so the page opens offline (no cell needs them: no LaTeX, no widgets).
"""

from __future__ import annotations

import itertools
from pathlib import Path

from jinja2 import DictLoader

__all__ = ["RENDERERS", "export_notebook_html", "use_plotly_renderers"]

RENDERERS = "plotly_mimetype+notebook_offline"
"""The templates' Plotly renderers (see the module docstring)."""

_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""


def use_plotly_renderers() -> None:
    """Register ``notebook_offline`` and make :data:`RENDERERS` Plotly's default."""
    import plotly.io as pio  # noqa: PLC0415 - only notebooks need it
    from plotly.io._base_renderers import NotebookRenderer  # noqa: PLC0415

    figures = itertools.count(1)

    class OfflineNotebookRenderer(NotebookRenderer):
        """Plotly's ``notebook`` renderer without the per-figure MathJax CDN script, and
        with numbered div ids instead of random ones (the same run, the same HTML)."""

        def to_mimebundle(self, fig_dict: dict) -> dict[str, str]:
            html = pio.to_html(
                fig_dict, config=self.config, include_plotlyjs=False, include_mathjax=False,
                full_html=False, default_width="100%", default_height=525, validate=False,
                div_id=f"notebook-figure-{next(figures)}",
            )  # fmt: skip
            return {"text/html": html}

    pio.renderers["notebook_offline"] = OfflineNotebookRenderer()
    pio.renderers.default = RENDERERS


def export_notebook_html(notebook: str | Path, html: str | Path) -> Path:
    """Write ``notebook`` (an executed .ipynb) as offline HTML to ``html``."""
    from nbconvert import HTMLExporter  # noqa: PLC0415 - heavy; only evidence needs it

    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"evidence_notebook.html.j2": _TEMPLATE})],
        template_file="evidence_notebook.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_filename(str(notebook))
    target = Path(html)
    target.write_text(body, encoding="utf-8")
    return target

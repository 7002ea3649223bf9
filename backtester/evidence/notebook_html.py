"""The executed notebook as HTML (nbconvert), the bundle's secondary view.

``report.html`` is the reviewer's report, built from the figures themselves. This is the
executed template as it ran, input cells hidden, for a reviewer without Python: above
all the one view of a *failed* bundle, whose notebook shows the error.

The templates set Plotly's renderer explicitly to ``plotly_mimetype`` (:data:`RENDERERS`):
each figure is kept once in the notebook, as Plotly's JSON MIME bundle, which JupyterLab
draws (the default renderer under papermill is the same, but implicit). nbconvert drops
that bundle (plotly/plotly.py#5365), so the export below turns each into an HTML
``div`` first, with numbered ids (the same run, the same HTML), and the page loads
plotly.js from ``plotly.min.js`` beside it, as ``report.html`` in the same bundle does:
plotly.js is stored once per bundle, not in the notebook and not in each page.

nbconvert's ``lab`` template loads require.js and MathJax from a CDN, and widget
scripts when the notebook holds widget state; the template below leaves all of them
out, so the page opens offline (no cell needs them: no LaTeX, no widgets).
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import DictLoader

__all__ = ["PLOTLY_MIME", "RENDERERS", "export_notebook_html", "use_plotly_renderers"]

RENDERERS = "plotly_mimetype"
"""The templates' Plotly renderer (see the module docstring)."""
PLOTLY_MIME = "application/vnd.plotly.v1+json"

_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}
<script type="text/javascript" src="plotly.min.js"></script>
{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block notebook_css -%}
<style type="text/css">{{ resources.evidence_css }}</style>
{%- endblock notebook_css -%}
"""

_CSS = """
body{font-family:Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;color:#222}
.jp-Cell{margin:.6em 0}
.jp-RenderedText pre,pre{font-size:.85em;background:#f8f8f8;padding:.5em;overflow-x:auto}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0} td,th{border:1px solid #ccc;padding:.2em .5em}
th{background:#f4f4f4} .jp-OutputArea-output{overflow-x:auto} a.anchor-link{display:none}
.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"] pre{background:#fee}
"""
"""Instead of JupyterLab's theme (a quarter of a megabyte of CSS for a page of outputs)."""


def use_plotly_renderers() -> None:
    """Make :data:`RENDERERS` Plotly's default renderer."""
    import plotly.io as pio  # noqa: PLC0415 - only notebooks need it

    pio.renderers.default = RENDERERS


def export_notebook_html(notebook: str | Path, html: str | Path) -> Path:
    """Write ``notebook`` (an executed .ipynb) as offline HTML to ``html``, each Plotly
    figure drawn from its JSON by the ``plotly.min.js`` next to it."""
    import nbformat  # noqa: PLC0415 - heavy; only evidence needs it
    import plotly.io as pio  # noqa: PLC0415
    from nbconvert import HTMLExporter  # noqa: PLC0415

    node = nbformat.read(str(notebook), as_version=4)
    count = 0
    for cell in node.cells:
        for output in cell.get("outputs", []):
            figure = output.get("data", {}).get(PLOTLY_MIME)
            if figure is not None and "text/html" not in output["data"]:
                count += 1
                output["data"]["text/html"] = pio.to_html(
                    dict(figure), include_plotlyjs=False, include_mathjax=False, full_html=False,
                    default_width="100%", default_height=525, validate=False,
                    div_id=f"notebook-figure-{count}", config={"displaylogo": False, "responsive": True},
                )  # fmt: skip
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"evidence_notebook.html.j2": _TEMPLATE})],
        template_file="evidence_notebook.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(node, resources={"evidence_css": _CSS})
    target = Path(html)
    target.write_text(body, encoding="utf-8")
    return target

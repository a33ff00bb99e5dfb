"""One self-contained HTML page for a network report.

Everything is inline (CSS, PNG plots as data: URIs), so the file opens
offline and can be attached to an issue or a CI artifact.  Plots need
matplotlib (the ``plot`` extra); without it the page still renders and says
how to add them.
"""

from __future__ import annotations

import base64
import html
import json
from typing import TYPE_CHECKING

from .._version import __version__
from . import plots
from .records import environment, json_safe
from .text import ENTRY_HEADERS, GROUP_HEADERS, LAYER_HEADERS, entry_rows, group_rows, layer_rows

if TYPE_CHECKING:
    from .model import NetworkReport

__all__ = ["render_html"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 78em; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
tr.fail td { background: #fde2e2; }
tr.undecided td { background: #fff3cd; }
.verdict { font-size: 1.3em; padding: 0.4em 0.8em; display: inline-block; border-radius: 4px; }
.pass { background: #dff3df; } .failv { background: #fde2e2; } .undecidedv { background: #fff3cd; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.4em 0; }
code, pre { background: #f6f6f6; padding: 0.1em 0.3em; }
.note { color: #555; }
"""

#: CSS class of the verdict banner per report verdict.
_VERDICT_CLASS = {"passed": "pass", "failed": "failv", "inconclusive": "undecidedv"}


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _table(rows: list[list[str]], headers: list[str], verdict_col: int | None = -1) -> str:
    """An HTML table; rows whose verdict column says FAIL get class "fail", inconclusive ones "undecided"."""
    e = html.escape
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr></thead>", "<tbody>"]
    for row in rows:
        cls = {"FAIL": "fail", "inconclusive": "undecided"}.get(row[verdict_col]) if verdict_col is not None else None
        cells = "".join(f"<td>{e(str(c))}</td>" for c in row)
        out.append((f'<tr class="{cls}">' if cls else "<tr>") + cells + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def render_html(report: NetworkReport) -> str:
    """The report as one self-contained HTML document.

    Parameters
    ----------
    report : NetworkReport
        Its verdict, per-layer and per-group tables, the worst entries of
        failing rows, notes, plots (sweep, Taylor test, error heatmaps, when
        present and matplotlib is installed) and configuration are shown.

    Returns
    -------
    str
        The page, ending with a newline.
    """
    e = html.escape
    verdict = report.verdict.upper()
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>gradcheck — {e(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>gradcheck — {e(report.title)}</h1>",
        f'<p class="verdict {_VERDICT_CLASS[report.verdict]}">{verdict}</p>',
        f"<p>{e(report.summary_line())}</p>",
        "<h2>Per layer: the delta formulas, link by link</h2>",
        _table(layer_rows(report.layers), LAYER_HEADERS),
        "<h2>Per parameter group</h2>",
        _table(group_rows(report.groups), GROUP_HEADERS),
    ]
    for layer in report.layers:
        for _, r in layer.rows():
            if not r.passed and r.worst:
                parts.append(f"<h3>Layer {layer.layer}: {e(r.name)} — worst entries</h3>")
                parts.append(_table(entry_rows(r), ENTRY_HEADERS, verdict_col=None))
    notes = list(report.notes) + [f"{g.name}: {n}" for g in report.groups for n in g.notes]
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    parts.append("<h2>Plots</h2>")
    if not plots.plots_available():
        parts.append('<p class="note">Plots need matplotlib: <code>pip install "gradcheck[plot]"</code>.</p>')
    else:
        if report.sweep:
            parts.append("<h3>Step-size sweep (truncation vs round-off)</h3>")
            parts.append(_img(plots.sweep_figure(report.sweep), "step-size sweep"))
        if report.taylor:
            parts.append("<h3>Taylor remainder test</h3>")
            parts.append(_img(plots.taylor_figure(report.taylor), "Taylor remainder"))
        if report.error_maps:
            parts.append("<h3>|analytic − numerical| per weight matrix</h3>")
            for name, (err, tol) in report.error_maps.items():
                parts.append(_img(plots.heatmap_figure(name, err, tol), f"error heatmap {name}"))
    # Only these fields of to_dict() are shown; serialising the whole report is not needed.
    env = environment()
    config = json.dumps(json_safe(report.config), indent=2, ensure_ascii=False)
    parts.append("<h2>Configuration</h2><pre>" + e(config) + "</pre>")
    parts.append(f'<p class="note">gradcheck {e(__version__)}, {e(report.created)}, '
                 f'Python {e(env["python"])}, NumPy {e(env["numpy"])}, SciPy {e(env["scipy"])}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

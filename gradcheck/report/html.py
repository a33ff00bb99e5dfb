"""One self-contained HTML page for a network report.

The page opens with the verdict, large, and on failure where backprop first
breaks and the probable cause; the tables and figures follow.  Everything
is inline (CSS, figures as data: URIs), so the file opens offline and can be
attached to an issue or a CI artifact.  The figures come from
:mod:`gradcheck.report.figures` (SVG and PNG written directly, no
matplotlib), each with a sentence on why it is there.  Tables scroll inside
their own box, with the verdict column kept in view, so the page reads at
390 px as well as on a desktop.
"""

from __future__ import annotations

import base64
import html
import json
from typing import TYPE_CHECKING

import numpy as np

from .._version import __version__
from . import figures
from .records import environment, json_safe
from .text import (
    ENTRY_HEADERS,
    GROUP_HEADERS,
    LAYER_HEADERS,
    entry_rows,
    first_failure_text,
    group_rows,
    layer_rows,
    method_and_cost,
    plural,
)

if TYPE_CHECKING:
    from .model import NetworkReport

__all__ = ["render_html"]

_CSS = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1rem 1rem 3rem; max-width: 72rem;
       color: #222; line-height: 1.45; }
h1, h2, h3, p, li, figcaption { overflow-wrap: anywhere; }
h1 { font-size: 1.15rem; font-weight: 600; margin: 0.2rem 0 0.6rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; } h3 { font-size: 1rem; }
#verdict { border-radius: 8px; padding: 0.9rem 1.1rem; margin-bottom: 1rem; }
#verdict.pass { background: #e3f4e3; border-left: 8px solid #2e7d32; }
#verdict.fail { background: #fde4e4; border-left: 8px solid #c62828; }
#verdict.undecided { background: #fff3cd; border-left: 8px solid #b07d00; }
#verdict .big { font-size: 2.2rem; font-weight: 800; letter-spacing: 0.04em; margin: 0; line-height: 1.1; }
#verdict.pass .big { color: #1b5e20; } #verdict.fail .big { color: #b71c1c; }
#verdict.undecided .big { color: #7a5200; }
#verdict p { margin: 0.35rem 0; font-size: 1.05rem; }
.details { color: #555; font-size: 0.92rem; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.6rem 0 1.2rem; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.88rem; white-space: nowrap; }
@media (min-width: 60rem) { td { white-space: normal; } }
th, td { border-bottom: 1px solid #e4e4e4; padding: 0.3rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
tr.fail td { background: #fde2e2; }
table.verdicts th:last-child, table.verdicts td:last-child { position: sticky; right: 0; background: #fff;
       box-shadow: -1px 0 0 #ccc; font-weight: 600; }
table.verdicts th:last-child { background: #f3f3f3; }
table.verdicts tr.fail td:last-child { background: #fbd0d0; color: #b71c1c; }
figure { margin: 0.8rem 0 1.4rem; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #eee; }
img.cells { image-rendering: pixelated; }
figcaption, .why { font-size: 0.92rem; color: #444; }
.why { background: #f6f8fa; padding: 0.5rem 0.8rem; border-radius: 4px; }
.grid { display: flex; flex-wrap: wrap; gap: 1rem; }
.grid figure { margin: 0; flex: 0 1 360px; min-width: 0; }
.key span { display: inline-block; margin-right: 1rem; max-width: 100%; }
.swatch { display: inline-block; width: 1.6em; height: 0.3em; vertical-align: middle; margin-right: 0.3em; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; font-size: 0.82rem; }
code { background: #f6f6f6; padding: 0.1em 0.3em; }
.note { color: #555; font-size: 0.9rem; }
details summary { cursor: pointer; font-weight: 600; margin: 0.6rem 0; }
tr.undecided td { background: #fff3cd; }
.kink { color: #7a5200; }
table.verdicts tr.undecided td:last-child { background: #ffe8a3; color: #7a5200; }
"""


def _data_uri(content: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def _figure(src: str, alt: str, caption: str, cls: str = "") -> str:
    """An image with its caption (``caption`` is HTML)."""
    attr = f' class="{cls}"' if cls else ""
    return f'<figure><img{attr} alt="{html.escape(alt)}" src="{src}"><figcaption>{caption}</figcaption></figure>'


def _svg(svg: str, alt: str, caption: str) -> str:
    return _figure(_data_uri(svg.encode("utf-8"), "image/svg+xml"), alt, caption)


def _table(rows: list[list[str]], headers: list[str], verdict_col: int | None = -1) -> str:
    """An HTML table in its own scrolling box; rows whose verdict column says FAIL get class "fail",
    inconclusive ones "undecided"."""
    e = html.escape
    table_cls = ' class="verdicts"' if verdict_col is not None else ""
    out = [f'<div class="scroll" tabindex="0"><table{table_cls}>',
           "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr></thead>", "<tbody>"]
    for row in rows:
        row_cls = None if verdict_col is None else {"FAIL": "fail", "inconclusive": "undecided"}.get(row[verdict_col])
        cells = "".join(f"<td>{e(str(c))}</td>" for c in row)
        out.append((f'<tr class="{row_cls}">' if row_cls else "<tr>") + cells + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _verdict(report: NetworkReport) -> list[str]:
    """The opening box: the verdict, the title and, on failure, the first failing link and probable causes."""
    e = html.escape
    n_checks = sum(len(layer.rows()) for layer in report.layers)
    cls = {"passed": "pass", "failed": "fail", "inconclusive": "undecided"}[report.verdict]
    parts = [f'<section id="verdict" class="{cls}">', f'<p class="big">{report.verdict.upper()}</p>',
             f"<h1>{e(report.title)}</h1>"]
    if report.verdict == "inconclusive":
        parts += [f'<p class="cause"><strong>Inconclusive</strong> ({e(r.name)}): '
                  f'{e(r.inconclusive_reason or "")}</p>' for r in report.inconclusive_results]
    first = first_failure_text(report)
    if first is not None:
        parts.append(f'<p id="first-failure">{e(first[0].upper() + first[1:])}.</p>')
        causes = report.diagnoses or []
        if causes:
            parts += [f'<p class="cause"><strong>Probable cause</strong> ({e(d.cause)}): {e(d.message)}</p>'
                      for d in causes]
        else:
            parts.append('<p class="cause"><strong>Probable cause</strong>: no known pattern; '
                         "see the worst entries below.</p>")
    elif not report.passed:
        parts += [f'<p class="cause"><strong>Probable cause</strong> ({e(d.cause)}): {e(d.message)}</p>'
                  for d in report.diagnoses]
    else:
        delta_rows = report.layers and report.layers[0].delta is not None
        parts.append(f"<p>{plural(n_checks, 'check')} within tolerance"
                     + ("; every delta formula confirmed." if delta_rows else ".") + "</p>")
    parts.append("</section>")
    return parts


def _details(report: NetworkReport) -> str:
    """The grey line under the verdict: what failed, size, cost and the network."""
    e = html.escape
    bits = []
    failed = report.failed_groups or report.failed_rows
    if failed:
        bits.append("failing: " + ", ".join(failed))
    n = sum(g.n_entries for g in report.groups)
    bits.append(f"{plural(len(report.groups), 'parameter group')}, {plural(n, 'entry', 'entries')}, "
                + method_and_cost(report, digits=2))
    net = report.config.get("network") if isinstance(report.config, dict) else None
    if isinstance(net, dict) and "sizes" in net:
        bits.append(f"DenseNet {'-'.join(map(str, net['sizes']))}, {net.get('activation', '')}, "
                    f"{net.get('reduction', '')}, {'biases' if net.get('bias') else 'no biases'}, "
                    f"{plural(int(net.get('samples', 0)), 'sample')}")
    return f'<p class="details">{" · ".join(e(b) for b in bits)}</p>'


def _heatmaps(report: NetworkReport) -> list[str]:
    e = html.escape
    parts = ["<h2>Every weight entry against its tolerance</h2>",
             '<p class="why">Why this figure: the tables give each check\'s worst entry; here is every entry of '
             "every weight matrix, coloured by its error divided by the tolerance that judged it, on one scale for "
             "all matrices. Pale is far inside the tolerance, dark blue close to it, red beyond it (a white dot "
             "marks each failing entry, black a non-finite one). A pattern in the red cells (a row, a column, "
             "everything) points at the cause.</p>",
             _svg(figures.ratio_colourbar(), "colour scale of error/tolerance",
                  "error / tolerance, logarithmic; 1 is the tolerance"),
             '<div class="grid">']
    for name, (err, tol) in report.error_maps.items():
        ratio = figures.ratio_grid(err, tol)
        image, block = figures.ratio_heatmap(err, tol)
        shape = "×".join(map(str, np.shape(err)))
        over = int(np.sum(ratio > 1))
        worst = float(np.max(ratio)) if ratio.size else float("nan")
        layer = name[1:] if name.startswith("W") and name[1:].isdigit() else None
        axes = (f"rows: inputs of layer {layer}, columns: its units" if layer is not None else "rows × columns")
        pooled = f"; each cell is the largest of a {block[0]}×{block[1]} block" if block != (1, 1) else ""
        caption = (f"<strong>{e(name)}</strong> ({shape}): {over} of {plural(ratio.size, 'entry', 'entries')} "
                   f"above tolerance, largest error/tolerance {worst:.2g}. {axes}{pooled}.")
        parts.append(_figure(_data_uri(image, "image/png"), f"error heatmap {name}", caption, cls="cells"))
    parts.append("</div>")
    return parts


def _taylor(report: NetworkReport) -> list[str]:
    assert report.taylor is not None
    e = html.escape
    parts = ["<h2>Taylor remainder test</h2>",
             '<p class="why">Why this figure: it checks each gradient without any finite-difference step. Moving '
             "the parameters by ε along a random direction, r1 = |L(θ+εv) − L(θ) − ε⟨g,v⟩| falls as ε² (parallel "
             "to the dash-dotted slope-2 line) when the gradient g is right, and only as ε (the dashed slope-1 "
             "line) when it is wrong.</p>",
             '<p class="key"><span><i class="swatch" style="background:#d62728"></i>r1 (filled: the points the '
             'order is fitted over)</span><span><i class="swatch" style="background:#1f77b4"></i>r0 = '
             '|L(θ+εv) − L(θ)|</span><span><i class="swatch" style="background:#999"></i>round-off floor '
             "(dotted)</span></p>",
             '<div class="grid">']
    for t in report.taylor:
        order = f"observed order {t.order:.2f}" if np.isfinite(t.order) else "r1 at round-off, no order"
        verdict = "passed" if t.passed else "FAILED"
        parts.append(_svg(figures.taylor_svg(t), f"Taylor remainders {t.name}",
                          f"<strong>{e(t.name)}</strong>: {order} — {verdict} (2 expected)"))
    parts.append("</div>")
    return parts


def _sweep(report: NetworkReport) -> list[str]:
    assert report.sweep is not None
    e = html.escape
    failing = set(report.failed_groups)
    shown = [s for s in report.sweep if s.name not in failing]
    parts = ["<details><summary>Step-size sweep: why the steps used can be trusted</summary>",
             '<p class="why">Why this figure: the error of each difference rule against ⟨g, v⟩ as the step h '
             "shrinks. Truncation error falls to the left and round-off rises, a V whose bottom (ringed) is the "
             "best step; the complex step has no round-off and stays accurate. Groups whose gradient fails are "
             "not drawn: their curves only level off at the gradient's own error, and no step is best.</p>",
             '<p class="key">' + "".join(f'<span><i class="swatch" style="background:{c}"></i>{m}</span>'
                                         for m, c in figures.METHOD_COLOURS.items())
             + '<span><i class="swatch" style="background:#999"></i>float64 machine epsilon (dotted)</span></p>',
             '<div class="grid">']
    kinks = {g.name: g.kink_entries for g in report.groups}
    for s in shown:
        best = ", ".join(f"{m} {s.best_step[m]:.0e}" for m in s.errors if np.isfinite(s.best_step.get(m, np.nan)))
        caption = f"<strong>{e(s.name)}</strong>: best h {e(best) or '—'}"
        if kinks.get(s.name):
            # The sweep moves every entry along one random direction, the kink entries too.
            caption += (f' <span class="kink">⚠ {kinks[s.name]} entr{"y" if kinks[s.name] == 1 else "ies"} at a '
                        "kink (checked one-sided in the tables): this line may cross it, so these curves are "
                        "indicative only</span>")
        parts.append(_svg(figures.sweep_svg(s, mark_best=True), f"step-size sweep {s.name}", caption))
    parts.append("</div>")
    skipped = [s.name for s in report.sweep if s.name in failing]
    if skipped:
        parts.append(f'<p class="note">Not drawn (gradient fails): {e(", ".join(skipped))}.</p>')
    parts.append("</details>")
    return parts


def render_html(report: NetworkReport) -> str:
    """The report as one self-contained HTML document.

    Parameters
    ----------
    report : NetworkReport
        Its verdict (first, with the first failing link and the probable
        causes), per-layer and per-group tables, the worst entries of
        failing rows, notes, figures (every weight entry against its
        tolerance, the Taylor test and the step sweep, when present) and
        configuration are shown.

    Returns
    -------
    str
        The page, ending with a newline.
    """
    e = html.escape
    verdict = report.verdict.upper()
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{verdict}: {e(report.title)} — gradcheck</title><style>{_CSS}</style></head><body><main>",
        *_verdict(report),
        _details(report),
        "<h2>Per layer: the delta formulas, link by link</h2>",
        _table(layer_rows(report.layers), LAYER_HEADERS),
    ]
    for layer in report.layers:
        for _, r in layer.rows():
            if not r.passed and r.worst:
                parts.append(f"<h3>Layer {layer.layer}: {e(r.name)} — worst entries (largest error/tolerance "
                             "first)</h3>")
                parts.append(_table(entry_rows(r), ENTRY_HEADERS, verdict_col=None))
    if report.error_maps:
        parts += _heatmaps(report)
    if report.taylor:
        parts += _taylor(report)
    parts.append("<h2>Per parameter group</h2>")
    parts.append(_table(group_rows(report.groups), GROUP_HEADERS))
    if report.sweep:
        parts += _sweep(report)
    notes = list(report.notes) + [f"{g.name}: {n}" for g in report.groups for n in g.notes]
    if notes:
        parts.append("<details><summary>Notes on how the numbers were obtained</summary><ul>"
                     + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul></details>")
    # Only these fields of to_dict() are shown; serialising the whole report is not needed.
    env = environment()
    config = json.dumps(json_safe(report.config), indent=2, ensure_ascii=False)
    parts.append("<details><summary>Configuration</summary><pre>" + e(config) + "</pre></details>")
    parts.append(f'<p class="note">gradcheck {e(__version__)}, {e(report.created)}, '
                 f'Python {e(env["python"])}, NumPy {e(env["numpy"])}, SciPy {e(env["scipy"])}</p>')
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"

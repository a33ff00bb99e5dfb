"""Text and Markdown forms of a report: tabulate tables, worst entries first.

A failing group adds a table of its worst entries, so that the message can be
acted on: which group, which entry, analytic vs numerical, by how much.  A
network report puts the per-layer rows (the delta formulas, link by link)
before the per-group table.  The row builders here are shared with
:mod:`gradcheck.report.html`, so both forms show the same cells.

``fmt`` is a tabulate format: ``"simple"`` for text, ``"github"`` for
Markdown (which also turns headings and notes into Markdown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from tabulate import tabulate

from .records import GroupResult

if TYPE_CHECKING:
    from .model import CheckReport, LayerResult, NetworkReport

__all__ = ["GROUP_HEADERS", "ENTRY_HEADERS", "LAYER_HEADERS", "VERDICT_CELL", "group_rows", "entry_rows",
           "layer_rows", "row_label", "summary_line", "network_summary_line", "render_check", "render_network",
           "plural", "worst_ratio", "first_failure_text", "verdict_phrase",
           "method_and_cost", "TAYLOR_TITLE", "TAYLOR_HEADERS", "taylor_rows"]

# "worst entry" is the entry with the largest error/tolerance ratio (see GroupResult.worst_index), so the
# columns say so: that ratio, then where it is.
GROUP_HEADERS = ["group", "shape", "method", "mismatched", "max abs err", "max rel err",
                 "max err/tol", "at entry", "analytic", "numerical", "tolerance", "verdict"]
ENTRY_HEADERS = ["entry", "analytic", "numerical", "abs error", "rel error", "tolerance"]
LAYER_HEADERS = ["layer", "check", "compares", "mismatched", "max abs err", "max rel err",
                 "max err/tol", "at entry", "verdict"]


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``"1 group"``, ``"2 groups"``; ``many`` for irregular plurals (``plural(1, "entry", "entries")``)."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"


def worst_ratio(r: GroupResult) -> float:
    """|analytic − numerical| / tolerance at the worst entry: above 1 fails; NaN when entries were not compared."""
    if r.worst_index is None:
        return float("nan")
    err = abs(r.worst_analytic - r.worst_numerical)
    if not np.isfinite(err):
        return float("inf")
    return err / r.worst_tolerance if r.worst_tolerance > 0 else (0.0 if err == 0 else float("inf"))


def _ratio(r: GroupResult) -> str:
    q = worst_ratio(r)
    return "—" if np.isnan(q) else f"{q:.2g}"


def _fmt(x: object) -> str:
    return f"{x:.3g}" if isinstance(x, (float, np.floating)) else str(x)


def _idx(index: tuple[int, ...] | None) -> str:
    if index is None:
        return "—"
    return "(" + ", ".join(map(str, index)) + ")"


def _table(rows: list[list[Any]], headers: list[str], fmt: str) -> str:
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)


#: The verdict cell of a table row.
VERDICT_CELL = {"passed": "ok", "failed": "FAIL", "inconclusive": "inconclusive"}


def group_rows(groups: list[GroupResult]) -> list[list[str]]:
    """One row of cells under ``GROUP_HEADERS`` per group; the last cell is from ``VERDICT_CELL``."""
    return [[g.name, "×".join(map(str, g.shape)) or "scalar", g.method, f"{g.n_mismatched}/{g.n_entries}",
             _fmt(g.max_abs_error), _fmt(g.max_rel_error), _ratio(g), _idx(g.worst_index),
             _fmt(g.worst_analytic), _fmt(g.worst_numerical), _fmt(g.worst_tolerance),
             VERDICT_CELL[g.verdict]] for g in groups]


def entry_rows(group: GroupResult) -> list[list[str]]:
    """One row of cells under ``ENTRY_HEADERS`` per worst entry of ``group``, worst first."""
    return [[_idx(m.index), f"{m.analytic:.10g}", f"{m.numerical:.10g}", _fmt(m.abs_error),
             _fmt(m.rel_error), _fmt(m.tolerance)] for m in group.worst]


def row_label(kind: str, r: GroupResult, layer: int) -> tuple[str, str]:
    """What a per-layer row checks and what it compares, e.g. ``("∂L/∂W2", "backprop vs numerical")``.

    Parameters
    ----------
    kind : {'weight', 'bias', 'delta', 'recurrence', 'weight_formula', 'bias_formula'}
    r : GroupResult
        The row; formula rows are labelled by their name (the formula).
    layer : int
        Layer number l, from 1.
    """
    l = layer
    return {
        "weight": (f"∂L/∂W{l}", "backprop vs numerical"),
        "bias": (f"∂L/∂b{l}", "backprop vs numerical"),
        "delta": (f"δ{l} = ∂L/∂z{l}", f"backprop vs numerical (perturbing z{l})"),
        "recurrence": (r.name, f"formula on numerical values vs numerical δ{l}"),
        "weight_formula": (r.name, f"formula on numerical δ{l} vs numerical ∂L/∂W{l}"),
        "bias_formula": (r.name, f"formula on numerical δ{l} vs numerical ∂L/∂b{l}"),
    }[kind]


def layer_rows(layers: list[LayerResult]) -> list[list[str]]:
    """One row of cells under ``LAYER_HEADERS`` per check of every layer, layer 1 first."""
    rows = []
    for layer in layers:
        for kind, r in layer.rows():
            what, how = row_label(kind, r, layer.layer)
            rows.append([str(layer.layer), what, how, f"{r.n_mismatched}/{r.n_entries}",
                         _fmt(r.max_abs_error), _fmt(r.max_rel_error), _ratio(r), _idx(r.worst_index),
                         VERDICT_CELL[r.verdict]])
    return rows


def verdict_phrase(report: CheckReport, failed: list[str]) -> str:
    """``PASSED``, ``FAILED (…)`` naming what failed, or ``INCONCLUSIVE (…: reason)``.

    ``failed`` names what did not pass (groups, or per-layer rows).
    """
    undecided = report.inconclusive_results
    wrong = [name for name in failed if name not in {g.name for g in undecided}]
    if report.verdict == "passed":
        return "PASSED"
    if report.verdict == "failed":
        return f"FAILED ({', '.join(wrong or failed)})" + (
            f", inconclusive ({', '.join(g.name for g in undecided)})" if undecided else "")
    return f"INCONCLUSIVE ({', '.join(g.name for g in undecided)}: {undecided[0].inconclusive_reason})"


def summary_line(report: CheckReport, failed: list[str]) -> str:
    """The verdict, the size of the check and its cost in one line.

    ``failed`` names what did not pass; an inconclusive verdict adds the first undecided result's reason.
    """
    n = sum(g.n_entries for g in report.groups)
    verdict = verdict_phrase(report, failed)
    return (f"gradcheck {report.title}: {verdict} — {plural(len(report.groups), 'group')}, "
            f"{plural(n, 'entry', 'entries')}, {method_and_cost(report)}")


TAYLOR_TITLE = "Taylor remainder test (order 2 expected for a correct gradient)"
TAYLOR_HEADERS = ["group", "observed order", "points", "verdict"]


def taylor_rows(report: NetworkReport) -> list[list[str]]:
    """One row per Taylor-tested group, in ``TAYLOR_HEADERS`` order (empty without a Taylor test)."""
    return [[t.name, _fmt(t.order), str(t.n_points_used), "ok" if t.passed else "FAIL"] for t in report.taylor or []]


def method_and_cost(report: CheckReport, seconds: float | None = None, digits: int = 3) -> str:
    """``"method auto (complex, richardson), 12 loss calls, 0.031 s"``: how a check measured and what it cost.

    ``seconds`` replaces the report's own elapsed time (the CLI prints wall time); ``digits`` significant digits.
    """
    methods = sorted({g.method for g in report.groups})
    seconds = report.elapsed if seconds is None else seconds
    return (f"method {report.method}" + (f" ({', '.join(methods)})" if methods else "")
            + f", {plural(report.n_evaluations, 'loss call')}, {seconds:.{digits}g} s")


def network_summary_line(report: NetworkReport) -> str:
    """:func:`summary_line`, plus where backprop first breaks or that every delta formula holds."""
    # Parameter groups can all pass while a delta or formula row fails.
    line = summary_line(report, report.failed_groups or report.failed_rows)
    first = first_failure_text(report)
    if first is not None:
        line += f"; {first}"
    elif report.layers and report.layers[0].delta is not None:
        line += "; every delta formula confirmed"
    return line


def first_failure_text(report: NetworkReport) -> str | None:
    """``"breaks first at layer 2 (δ2 = ∂L/∂z2, going down from the output)"``, or None when nothing failed."""
    first = report.first_failure
    if first is None:
        return None
    layer, kind = first
    r = getattr(report.layers[layer - 1], kind)
    return f"breaks first at layer {layer} ({row_label(kind, r, layer)[0]}, going down from the output)"


def render_check(report: CheckReport, fmt: str) -> str:
    """The summary line with the probable causes, the group table, worst entries of failing groups, notes."""
    md = fmt == "github"
    parts = [("# " if md else "") + report.summary_line() + "".join(
                 f"\n{'- ' if md else ''}probable cause ({d.cause}): {d.message}" for d in report.diagnoses), "",
             _table(group_rows(report.groups), GROUP_HEADERS, fmt)]
    for g in report.groups:
        if g.verdict == "inconclusive":
            parts += ["", ("## " if md else "") + f"{g.name}: inconclusive — {g.inconclusive_reason}"]
            if g.worst:
                parts.append(_table(entry_rows(g), ENTRY_HEADERS, fmt))
        elif not g.passed:
            parts += ["", ("## " if md else "") + f"{g.name}: {g.n_mismatched} of "
                      f"{plural(g.n_entries, 'entry', 'entries')} outside tolerance (worst first)"]
            if g.worst:
                parts.append(_table(entry_rows(g), ENTRY_HEADERS, fmt))
        for note in g.notes:
            parts.append(f"{'- ' if md else '  note: '}{g.name}: {note}")
    if report.notes:
        parts.append("")
        parts += [f"{'- ' if md else 'note: '}{n}" for n in report.notes]
    return "\n".join(parts) + "\n"


def render_network(report: NetworkReport, fmt: str) -> str:
    """:func:`render_check` with the per-layer table, failing delta and formula rows and the Taylor test first."""
    md = fmt == "github"
    head, _, rest = render_check(report, fmt).partition("\n\n")
    failing = [(layer.layer, kind, r) for layer in report.layers for kind, r in layer.rows()
               if not r.passed and kind not in ("weight", "bias")]
    details = []
    for l, kind, r in failing:
        what, how = row_label(kind, r, l)
        outcome = (f"inconclusive — {r.inconclusive_reason}" if r.verdict == "inconclusive"
                   else f"{r.n_mismatched} of {plural(r.n_entries, 'entry', 'entries')} outside tolerance")
        details += ["", ("### " if md else "") + f"layer {l}, {what} ({how}): {outcome}"]
        if r.worst:
            details.append(_table(entry_rows(r), ENTRY_HEADERS, fmt))
    taylor = []
    if report.taylor:
        taylor = ["", ("## " if md else "") + TAYLOR_TITLE, _table(taylor_rows(report), TAYLOR_HEADERS, fmt)]
    layer_table = _table(layer_rows(report.layers), LAYER_HEADERS, fmt)
    sections = [head, "", ("## " if md else "") + "Per layer", "", layer_table] + details + taylor
    sections += ["", ("## " if md else "") + "Per parameter group", "", rest]
    return "\n".join(sections)

"""What the command line prints about a network report: the verdict first, then tables that fit the terminal.

The report files (``report.txt`` and the others) hold everything; the
terminal holds what a person reads first.  The verdict, and on failure where
backprop first breaks and the probable cause, always come first and are
printed whatever else is.  At 80 columns or fewer the per-layer table drops
its ``compares`` and error columns (no printed line is wider than the
terminal); a wide terminal, or ``wide=True``, gets the full tables.  Notes
on how the numbers were obtained (engine chunks, re-measured entries) are
printed only when ``verbose``.
"""

from __future__ import annotations

import shutil
import textwrap
from typing import TYPE_CHECKING

from tabulate import tabulate

from .text import (
    ENTRY_HEADERS,
    GROUP_HEADERS,
    LAYER_HEADERS,
    TAYLOR_HEADERS,
    TAYLOR_TITLE,
    entry_rows,
    first_failure_text,
    group_rows,
    layer_rows,
    method_and_cost,
    plural,
    row_label,
    taylor_rows,
    verdict_phrase,
)

if TYPE_CHECKING:
    from .model import NetworkReport

__all__ = ["COMPACT_WIDTH", "terminal_width", "fit", "verdict_lines", "layer_table", "render_terminal"]

#: At this many columns or fewer the per-layer table is the compact one.
COMPACT_WIDTH = 80
_COMPACT_HEADERS = ["layer", "check", "mismatched", "max err/tol", "verdict"]
#: Worst entries shown per failing row in the compact form (the report files hold the rest).
_COMPACT_ENTRIES = 5


def terminal_width() -> int:
    """Columns of the terminal: ``COLUMNS`` when set, else the terminal's own width, else 80 (a pipe)."""
    return shutil.get_terminal_size((COMPACT_WIDTH, 24)).columns


def fit(lines: list[str], width: int, indent: str = "  ") -> list[str]:
    """``lines`` with every line longer than ``width`` wrapped at spaces, continuation lines indented.

    A word longer than the line (a path, say) is broken, so that no line is wider than ``width``.
    """
    out: list[str] = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        lead = line[:len(line) - len(line.lstrip())]
        out += textwrap.wrap(line, width=max(width, len(lead + indent) + 10), initial_indent="",
                             subsequent_indent=lead + indent, break_on_hyphens=False) or [""]
    return out


def _table(rows: list[list[str]], headers: list[str]) -> list[str]:
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True).splitlines()


def _as_list(rows: list[list[str]], headers: list[str], width: int) -> list[str]:
    """Rows as ``header value`` sentences, one per row, for terminals narrower than any table."""
    lines = []
    for row in rows:
        lines += fit(["- " + ", ".join(f"{h} {c}" for h, c in zip(headers, row, strict=True))], width)
    return lines


def _fitting_table(rows: list[list[str]], headers: list[str], width: int) -> list[str]:
    """A table when it fits ``width``, else one sentence per row."""
    lines = _table(rows, headers)
    return lines if max(map(len, lines)) <= width else _as_list(rows, headers, width)


def verdict_lines(report: NetworkReport, width: int, elapsed: float | None = None) -> list[str]:
    """The verdict, the size and cost of the check and, on failure, where it breaks and the probable causes.

    Parameters
    ----------
    report : NetworkReport
    width : int
        Columns; longer lines are wrapped.
    elapsed : float, optional
        Wall time in seconds to print (default: the report's own ``elapsed``).

    Returns
    -------
    list of str
        The first line starts ``gradcheck <title>: PASSED`` (or ``FAILED (…)``, ``INCONCLUSIVE (…)``).
    """
    failed = report.failed_groups or report.failed_rows
    head = f"gradcheck {report.title}: {verdict_phrase(report, failed)}"
    first = first_failure_text(report)
    if first is None and report.layers and report.layers[0].delta is not None:
        head += " — every delta formula confirmed"
    n = sum(g.n_entries for g in report.groups) + sum(
        r.n_entries for layer in report.layers for kind, r in layer.rows() if kind not in ("weight", "bias"))
    n_checks = sum(len(layer.rows()) for layer in report.layers)
    lines = [head, f"  {plural(n_checks, 'check')} of {plural(n, 'entry', 'entries')}, "
                   + method_and_cost(report, elapsed, digits=2)]
    if first is not None:
        lines.append(f"  {first}")
    lines += [f"  probable cause ({d.cause}): {d.message}" for d in report.diagnoses]
    return fit(lines, width, indent="    ")


def layer_table(report: NetworkReport, width: int, wide: bool = False) -> list[str]:
    """The per-layer table: full when ``wide`` or wider than :data:`COMPACT_WIDTH` columns, else compact."""
    rows = layer_rows(report.layers)
    if wide or width > COMPACT_WIDTH:
        lines = _table(rows, LAYER_HEADERS)
        if wide or max(map(len, lines)) <= width:
            return lines
    # layer, check, mismatched, max err/tol, verdict: the columns a verdict is read from
    compact = [[r[0], r[1], r[3], r[6], r[-1]] for r in rows]
    return _fitting_table(compact, _COMPACT_HEADERS, width)


def render_terminal(report: NetworkReport, width: int | None = None, *, wide: bool = False,
                    verbose: bool = False, tables: bool = True, elapsed: float | None = None) -> str:
    """What ``gradcheck check`` prints about one network.

    Parameters
    ----------
    report : NetworkReport
    width : int, optional
        Columns (default :func:`terminal_width`).  Without ``wide`` no line is longer.
    wide : bool
        Full tables (every column, every failing row's worst entries, the
        per-group and Taylor tables) whatever the width.
    verbose : bool
        Also the notes on how the numbers were obtained.
    tables : bool
        False: the verdict lines only.
    elapsed : float, optional
        Wall time to print, see :func:`verdict_lines`.

    Returns
    -------
    str
        Lines joined by newlines, ending with one.
    """
    width = terminal_width() if width is None else width
    wide = wide or width > COMPACT_WIDTH
    lines = verdict_lines(report, width, elapsed)
    if tables:
        lines += ["", "Per layer", ""] + layer_table(report, width, wide)
        failing = [(layer.layer, kind, r) for layer in report.layers for kind, r in layer.rows() if not r.passed]
        if not wide:
            # The first row met going down from the output; the files hold the others.
            first = report.first_failure
            failing = [f for f in failing if (f[0], f[1]) == first]
        for l, kind, r in failing:
            what = row_label(kind, r, l)[0]
            entries = entry_rows(r) if wide else entry_rows(r)[:_COMPACT_ENTRIES]
            lines += [""] + fit([f"layer {l}, {what}: {r.n_mismatched} of {plural(r.n_entries, 'entry', 'entries')} "
                                 f"outside tolerance, worst (largest error/tolerance) first"], width)
            if entries:
                lines += _table(entries, ENTRY_HEADERS) if wide else _fitting_table(entries, ENTRY_HEADERS, width)
        if wide:
            lines += ["", "Per parameter group", ""] + _table(group_rows(report.groups), GROUP_HEADERS)
            if report.taylor:
                lines += ["", TAYLOR_TITLE, ""] + _table(taylor_rows(report), TAYLOR_HEADERS)
    if verbose:
        notes = list(report.notes) + [f"{g.name}: {n}" for g in report.groups for n in g.notes]
        if notes:
            lines += [""] + fit([f"note: {n}" for n in notes], width, indent="    ")
    return "\n".join(lines) + "\n"

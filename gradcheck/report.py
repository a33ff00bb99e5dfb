"""Check reports: the structured record of a check, and its text, Markdown and JSON forms.

A :class:`CheckReport` holds one :class:`~gradcheck.compare.GroupResult` per
parameter group plus the configuration that produced it (method, steps,
tolerance model, seed, time taken).  ``str(report)`` is a tabulate table;
failing groups add a table of their worst entries, so that the message can
be acted on: which group, which entry, analytic vs numerical, by how much.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy
from tabulate import tabulate

from ._version import __version__
from .compare import GroupResult, _json_safe

__all__ = ["CheckReport", "write_atomic", "new_report_dir"]


def _fmt(x: float) -> str:
    return f"{x:.3g}" if isinstance(x, (float, np.floating)) else str(x)


def _idx(index: tuple[int, ...] | None) -> str:
    if index is None:
        return "—"
    return "(" + ", ".join(map(str, index)) + ")"


@dataclass
class CheckReport:
    """The result of a gradient check.

    Attributes
    ----------
    groups : list of GroupResult
        One per parameter group, in the order of ``params``.
    method : str
        The method requested (``"auto"``, ``"central"``, …).
    config : dict
        Method, tolerance model, seed and other settings used.
    elapsed : float
        Seconds taken.
    n_evaluations : int
        Loss calls made.
    loss_value : float
        The loss at the unperturbed parameters.
    notes : list of str
        Decisions and caveats (fallbacks, precision, re-measured entries).
    created : str
        ISO 8601 timestamp (UTC).
    title : str
        What was checked, used in headings and file names.
    """

    groups: list[GroupResult]
    method: str
    config: dict[str, Any]
    elapsed: float
    n_evaluations: int
    loss_value: float
    notes: list[str] = field(default_factory=list)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    title: str = "gradient check"

    # -- verdict -----------------------------------------------------------

    @property
    def passed(self) -> bool:
        """True when every group is within tolerance."""
        return all(g.passed for g in self.groups)

    @property
    def failed_groups(self) -> list[str]:
        """Names of the groups that failed, in order."""
        return [g.name for g in self.groups if not g.passed]

    def group(self, name: str) -> GroupResult:
        """The result of the group called ``name``."""
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)

    # -- tables --------------------------------------------------------------

    def summary_line(self) -> str:
        n = sum(g.n_entries for g in self.groups)
        verdict = "PASSED" if self.passed else f"FAILED ({', '.join(self.failed_groups)})"
        methods = sorted({g.method for g in self.groups})
        return (f"gradcheck {self.title}: {verdict} — {len(self.groups)} groups, {n} entries, "
                f"method {self.method} ({', '.join(methods)}), {self.n_evaluations} loss calls, "
                f"{self.elapsed:.3g} s")

    def group_rows(self) -> list[list[str]]:
        return [[g.name, "×".join(map(str, g.shape)) or "scalar", g.method, f"{g.n_mismatched}/{g.n_entries}",
                 _fmt(g.max_abs_error), _fmt(g.max_rel_error), _idx(g.worst_index),
                 _fmt(g.worst_analytic), _fmt(g.worst_numerical), _fmt(g.worst_tolerance),
                 "ok" if g.passed else "FAIL"] for g in self.groups]

    GROUP_HEADERS = ["group", "shape", "method", "mismatched", "max abs err", "max rel err",
                     "worst entry", "analytic", "numerical", "tolerance", "verdict"]
    ENTRY_HEADERS = ["entry", "analytic", "numerical", "abs error", "rel error", "tolerance"]

    def _entry_rows(self, g: GroupResult) -> list[list[str]]:
        return [[_idx(m.index), f"{m.analytic:.10g}", f"{m.numerical:.10g}", _fmt(m.abs_error),
                 _fmt(m.rel_error), _fmt(m.tolerance)] for m in g.worst]

    def _render(self, fmt: str) -> str:
        md = fmt == "github"
        parts = [("# " if md else "") + self.summary_line(), "",
                 tabulate(self.group_rows(), headers=self.GROUP_HEADERS, tablefmt=fmt, disable_numparse=True)]
        for g in self.groups:
            if not g.passed:
                parts += ["", ("## " if md else "") + f"{g.name}: {g.n_mismatched} of {g.n_entries} entries "
                          f"outside tolerance (worst first)"]
                if g.worst:
                    parts.append(tabulate(self._entry_rows(g), headers=self.ENTRY_HEADERS, tablefmt=fmt,
                                          disable_numparse=True))
            for note in g.notes:
                parts.append(f"{'- ' if md else '  note: '}{g.name}: {note}")
        if self.notes:
            parts.append("")
            parts += [f"{'- ' if md else 'note: '}{n}" for n in self.notes]
        return "\n".join(parts) + "\n"

    def __str__(self) -> str:
        return self._render("simple")

    def failure_message(self) -> str:
        """The text used by :func:`gradcheck.assert_gradients`."""
        return self._render("simple")

    def to_markdown(self) -> str:
        """The report as GitHub-flavoured Markdown."""
        return self._render("github")

    # -- data ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (see the README for the layout)."""
        return _json_safe({
            "tool": "gradcheck",
            "version": __version__,
            "created": self.created,
            "title": self.title,
            "passed": self.passed,
            "failed_groups": self.failed_groups,
            "config": self.config,
            "environment": {"python": platform.python_version(), "numpy": np.__version__,
                            "scipy": scipy.__version__, "platform": platform.platform()},
            "loss_value": self.loss_value,
            "n_evaluations": self.n_evaluations,
            "elapsed_seconds": self.elapsed,
            "notes": self.notes,
            "groups": [g.to_dict() for g in self.groups],
        })

    def to_json(self, indent: int = 2) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def rendered(self) -> dict[str, str]:
        """File suffix -> content for every format this report writes."""
        return {"txt": str(self), "md": self.to_markdown(), "json": self.to_json() + "\n"}

    def save(self, directory: str | os.PathLike, name: str | None = None,
             formats: tuple[str, ...] | None = None) -> list[Path]:
        """Write the report files into a new sub-folder of ``directory``.

        Parameters
        ----------
        directory : path
            Parent folder (created if missing).
        name : str, optional
            Sub-folder name; default ``gradcheck-<UTC timestamp>``.  An existing
            folder is never overwritten: ``-2``, ``-3``, … is appended.
        formats : tuple of str, optional
            Any of ``"txt"``, ``"md"``, ``"json"`` (and ``"html"`` for network
            reports); default all.

        Returns
        -------
        list of Path
            The files written, each written atomically (temporary file, then rename).
        """
        contents = self.rendered()
        formats = tuple(contents) if formats is None else tuple(formats)
        unknown = [f for f in formats if f not in contents]
        if unknown:
            from .errors import InvalidArgument

            raise InvalidArgument(f"formats: unknown {unknown}; expected any of {list(contents)}")
        folder = new_report_dir(directory, name)
        return [write_atomic(folder / f"report.{fmt}", contents[fmt]) for fmt in formats]


def new_report_dir(directory: str | os.PathLike, name: str | None = None) -> Path:
    """Create and return a fresh sub-folder; never reuses an existing one."""
    parent = Path(directory)
    parent.mkdir(parents=True, exist_ok=True)
    base = name or "gradcheck-" + _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate, k = parent / base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            k += 1
            candidate = parent / f"{base}-{k}"


def write_atomic(path: Path, content: str | bytes) -> Path:
    """Write a file through a temporary file in the same folder and a rename."""
    path = Path(path)
    mode = "wb" if isinstance(content, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path

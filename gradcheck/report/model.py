"""Check reports: the structured record of a check, and its text, Markdown and JSON forms.

A :class:`CheckReport` holds one :class:`~gradcheck.verify.tolerance.GroupResult` per
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
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy
from tabulate import tabulate

from .._version import __version__
from ..verify.tolerance import GroupResult, _json_safe

__all__ = ["CheckReport", "LayerResult", "NetworkReport", "write_atomic", "new_report_dir"]


def _fmt(x: float) -> str:
    return f"{x:.3g}" if isinstance(x, (float, np.floating)) else str(x)


def _idx(index: tuple[int, ...] | None) -> str:
    if index is None:
        return "—"
    return "(" + ", ".join(map(str, index)) + ")"


def environment() -> dict[str, str]:
    """Versions of Python, NumPy and SciPy and the platform, as recorded in reports."""
    return {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "platform": platform.platform()}


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
    diagnoses: list[Any] = field(default_factory=list)

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
        verdict = "PASSED" if self.passed else f"FAILED ({', '.join(self._failure_names())})"
        methods = sorted({g.method for g in self.groups})
        return (f"gradcheck {self.title}: {verdict} — {len(self.groups)} groups, {n} entries, "
                f"method {self.method} ({', '.join(methods)}), {self.n_evaluations} loss calls, "
                f"{self.elapsed:.3g} s")

    def _failure_names(self) -> list[str]:
        """What the summary line names as failed."""
        return self.failed_groups

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
        parts = [("# " if md else "") + self.summary_line() + "".join(
                     f"\n{'- ' if md else ''}probable cause ({d.cause}): {d.message}" for d in self.diagnoses), "",
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
            "environment": environment(),
            "loss_value": self.loss_value,
            "n_evaluations": self.n_evaluations,
            "elapsed_seconds": self.elapsed,
            "notes": self.notes,
            "diagnosis": [d.to_dict() for d in self.diagnoses],
            "groups": [g.to_dict() for g in self.groups],
        })

    def to_json(self, indent: int = 2) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def _renderers(self) -> dict[str, Any]:
        return {"txt": self.__str__, "md": self.to_markdown, "json": lambda: self.to_json() + "\n"}

    def rendered(self, formats: tuple[str, ...] | list[str] | None = None) -> dict[str, str]:
        """File suffix -> content for the given formats (default: every format this report writes).

        Raises
        ------
        InvalidArgument
            For an unknown format.
        """
        renderers = self._renderers()
        formats = tuple(renderers) if formats is None else tuple(formats)
        unknown = [f for f in formats if f not in renderers]
        if unknown:
            from ..errors import InvalidArgument

            raise InvalidArgument(f"formats: unknown {unknown}; expected any of {list(renderers)}")
        return {f: renderers[f]() for f in formats}

    def save(self, directory: str | os.PathLike, name: str | None = None,
             formats: tuple[str, ...] | list[str] | None = None, replace: bool = False) -> list[Path]:
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
        replace : bool
            Replace an existing sub-folder ``name`` instead of creating
            ``name-2``: the new files are written to a fresh folder first, which
            then takes the old one's place.

        Returns
        -------
        list of Path
            The files written, each written atomically (temporary file, then rename).
        """
        contents = self.rendered(formats)
        target = Path(directory) / name if name else None
        if replace and target is not None and target.exists():
            staging = new_report_dir(directory, f".{name}.new")
            for fmt, text in contents.items():
                write_atomic(staging / f"report.{fmt}", text)
            old = new_report_dir(directory, f".{name}.old")
            os.rename(target, old / "previous")
            try:
                os.rename(staging, target)
            except OSError:
                os.rename(old / "previous", target)  # put the earlier report back
                raise
            shutil.rmtree(old)
            return [target / f"report.{fmt}" for fmt in contents]
        folder = new_report_dir(directory, name)
        return [write_atomic(folder / f"report.{fmt}", text) for fmt, text in contents.items()]


def new_report_dir(directory: str | os.PathLike, name: str | None = None) -> Path:
    """Create and return a fresh sub-folder; never reuses an existing one."""
    parent = Path(directory)
    if parent.exists() and not parent.is_dir():
        from ..errors import InvalidArgument

        raise InvalidArgument(f"directory: {str(parent)!r} exists and is not a folder; choose another output folder")
    if name is not None and (not name or Path(name).name != name or name in (".", "..")):
        from ..errors import InvalidArgument

        raise InvalidArgument(f"name: expected a plain folder name without path separators, got {name!r}")
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
        # mkstemp creates the file 0600; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


@dataclass
class LayerResult:
    """Verification rows of one layer of a DenseNet (see :mod:`gradcheck.verify.network`).

    Attributes
    ----------
    layer : int
        Layer number l, from 1.
    weight, bias : GroupResult
        Analytic ∂L/∂W_l, ∂L/∂b_l against numerical derivatives (bias None
        without biases).
    delta : GroupResult or None
        Analytic δ_l against numerical ∂L/∂z_l.
    recurrence : GroupResult or None
        Numerical δ_l against the delta formula applied to numerical values.
    weight_formula, bias_formula : GroupResult or None
        Numerical ∂L/∂W_l against a_{l−1}ᵀ δ_l(numerical); ∂L/∂b_l against Σ δ_l.
    """

    layer: int
    weight: GroupResult
    bias: GroupResult | None = None
    delta: GroupResult | None = None
    recurrence: GroupResult | None = None
    weight_formula: GroupResult | None = None
    bias_formula: GroupResult | None = None

    KINDS = ("weight", "bias", "delta", "recurrence", "weight_formula", "bias_formula")

    def rows(self) -> list[tuple[str, GroupResult]]:
        """(kind, result) for every row present, in a fixed order."""
        return [(k, getattr(self, k)) for k in self.KINDS if getattr(self, k) is not None]

    @property
    def passed(self) -> bool:
        return all(r.passed for _, r in self.rows())

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"layer": self.layer, "passed": self.passed}
        for k in self.KINDS:
            r = getattr(self, k)
            d[k] = None if r is None else {
                "name": r.name, "passed": r.passed, "max_abs_error": r.max_abs_error,
                "max_rel_error": r.max_rel_error, "norm_rel_error": r.norm_rel_error,
                "n_mismatched": r.n_mismatched, "n_entries": r.n_entries,
                "worst_index": None if r.worst_index is None else list(r.worst_index)}
        return d


def _row_label(kind: str, r: GroupResult, layer: int) -> tuple[str, str]:
    l = layer
    return {
        "weight": (f"∂L/∂W{l}", "backprop vs numerical"),
        "bias": (f"∂L/∂b{l}", "backprop vs numerical"),
        "delta": (f"δ{l} = ∂L/∂z{l}", f"backprop vs numerical (perturbing z{l})"),
        "recurrence": (r.name, f"formula on numerical values vs numerical δ{l}"),
        "weight_formula": (r.name, f"formula on numerical δ{l} vs numerical ∂L/∂W{l}"),
        "bias_formula": (r.name, f"formula on numerical δ{l} vs numerical ∂L/∂b{l}"),
    }[kind]


@dataclass
class NetworkReport(CheckReport):
    """A :class:`CheckReport` of a DenseNet with per-layer verification rows.

    Attributes
    ----------
    layers : list of LayerResult
        One per layer, from layer 1.
    taylor : list of TaylorResult or None
        Taylor remainder test per parameter group, when computed.
    sweep : list of SweepResult or None
        Step-size sweep per parameter group, when computed.
    error_maps : dict of str to (ndarray, ndarray)
        |analytic − numerical| and the tolerance per weight matrix, for heatmaps.
    """

    layers: list[LayerResult] = field(default_factory=list)
    taylor: list[Any] | None = None
    sweep: list[Any] | None = None
    error_maps: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.groups) and all(l.passed for l in self.layers)

    #: Row order within a layer when locating where backprop first breaks.
    BACKPROP_ORDER = ("delta", "recurrence", "weight", "bias", "weight_formula", "bias_formula")

    @property
    def first_failure(self) -> tuple[int, str] | None:
        """(layer, kind) of the first failing row in backprop order.

        Backpropagation runs from the output layer down, and an error in δ_l
        spreads to every layer below it, so the first failing row met going
        from layer L down to 1 (δ before the weight and bias rows) is where
        the chain breaks.
        """
        for layer in reversed(self.layers):
            for kind in self.BACKPROP_ORDER:
                r = getattr(layer, kind)
                if r is not None and not r.passed:
                    return layer.layer, kind
        return None

    @property
    def failed_rows(self) -> list[str]:
        """Names of every failing per-layer row (parameter groups, deltas, formulas), layer 1 first."""
        return [r.name for layer in self.layers for _, r in layer.rows() if not r.passed]

    def _failure_names(self) -> list[str]:
        # Parameter groups can all pass while a delta or formula row fails.
        return self.failed_groups or self.failed_rows

    def summary_line(self) -> str:
        line = super().summary_line()
        first = self.first_failure
        if first is not None:
            layer, kind = first
            r = getattr(self.layers[layer - 1], kind)
            line += f"; breaks first at layer {layer} ({_row_label(kind, r, layer)[0]}, going down from the output)"
        elif self.layers and self.layers[0].delta is not None:
            line += "; every delta formula confirmed"
        return line

    LAYER_HEADERS = ["layer", "check", "compares", "mismatched", "max abs err", "max rel err",
                     "worst entry", "verdict"]

    def layer_rows(self) -> list[list[str]]:
        rows = []
        for layer in self.layers:
            for kind, r in layer.rows():
                what, how = _row_label(kind, r, layer.layer)
                rows.append([str(layer.layer), what, how, f"{r.n_mismatched}/{r.n_entries}",
                             _fmt(r.max_abs_error), _fmt(r.max_rel_error), _idx(r.worst_index),
                             "ok" if r.passed else "FAIL"])
        return rows

    def _render(self, fmt: str) -> str:
        md = fmt == "github"
        head, _, rest = super()._render(fmt).partition("\n\n")
        layer_table = tabulate(self.layer_rows(), headers=self.LAYER_HEADERS, tablefmt=fmt, disable_numparse=True)
        failing = [(layer.layer, kind, r) for layer in self.layers for kind, r in layer.rows()
                   if not r.passed and kind not in ("weight", "bias")]
        details = []
        for l, kind, r in failing:
            what, how = _row_label(kind, r, l)
            details += ["", ("### " if md else "") + f"layer {l}, {what} ({how}): "
                        f"{r.n_mismatched} of {r.n_entries} entries outside tolerance"]
            if r.worst:
                details.append(tabulate(self._entry_rows(r), headers=self.ENTRY_HEADERS, tablefmt=fmt,
                                        disable_numparse=True))
        taylor = []
        if self.taylor:
            taylor = ["", ("## " if md else "") + "Taylor remainder test (order 2 expected for a correct gradient)",
                      tabulate([[t.name, _fmt(t.order), t.n_points_used, "ok" if t.passed else "FAIL"]
                                for t in self.taylor], headers=["group", "observed order", "points", "verdict"],
                               tablefmt=fmt, disable_numparse=True)]
        sections = [head, "", ("## " if md else "") + "Per layer", "", layer_table] + details + taylor
        sections += ["", ("## " if md else "") + "Per parameter group", "", rest]
        return "\n".join(sections)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["failed_rows"] = self.failed_rows
        first = self.first_failure
        d["first_failure"] = None if first is None else {"layer": first[0], "check": first[1]}
        d["layers"] = _json_safe([layer.to_dict() for layer in self.layers])
        if self.taylor:
            d["taylor"] = _json_safe([{"group": t.name, "order": t.order, "passed": t.passed,
                                       "epsilons": list(map(float, t.epsilons)),
                                       "remainder": list(map(float, t.remainder1))} for t in self.taylor])
        if self.sweep:
            d["sweep"] = _json_safe([{"group": s.name, "best_step": s.best_step, "best_error": s.best_error}
                                     for s in self.sweep])
        return d

    def to_html(self) -> str:
        """One self-contained HTML page with tables and (with matplotlib) plots."""
        from .html import render_html

        return render_html(self)

    def _renderers(self) -> dict[str, Any]:
        return {**super()._renderers(), "html": self.to_html}

"""Check reports as data: the verdict of a check, its records and the configuration that produced it.

A :class:`CheckReport` holds one :class:`~gradcheck.report.records.GroupResult`
per parameter group plus the configuration that produced it (method, steps,
tolerance model, seed, time taken); a :class:`NetworkReport` adds one
:class:`LayerResult` per layer of a DenseNet.  verify fills them in.

The forms of a report are written elsewhere and take the report as data:
:mod:`~gradcheck.report.text` (``str(report)``, Markdown),
:mod:`~gradcheck.report.html` and :mod:`~gradcheck.report.files` (saving).
Those modules import this one only for type hints, so the methods here import
them when called, without an import cycle.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import InvalidArgument
from .records import GroupResult, SweepResult, TaylorResult, environment, json_safe

__all__ = ["CheckReport", "LayerResult", "NetworkReport"]


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
    diagnoses : list
        Probable causes of a failure, each with ``.cause``, ``.message`` and
        ``.to_dict()`` (see :mod:`gradcheck.verify.diagnose`).
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
        """Names of the groups that did not pass (failed or inconclusive), in order."""
        return [g.name for g in self.groups if not g.passed]

    @property
    def inconclusive_groups(self) -> list[str]:
        """Names of the groups the check could not decide, in order."""
        return [g.name for g in self.inconclusive_results]

    @property
    def inconclusive_results(self) -> list[GroupResult]:
        """The results the check could not decide (each with its ``inconclusive_reason``), in order."""
        return [g for g in self._results() if g.verdict == "inconclusive"]

    @property
    def verdict(self) -> str:
        """``"failed"`` if any result failed, else ``"inconclusive"`` if any could not be decided, else ``"passed"``."""
        verdicts = {g.verdict for g in self._results()}
        return "failed" if "failed" in verdicts else "inconclusive" if "inconclusive" in verdicts else "passed"

    def _results(self) -> list[GroupResult]:
        """Every result the verdict is made of."""
        return list(self.groups)

    def group(self, name: str) -> GroupResult:
        """The result of the group called ``name``."""
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)

    # -- text ----------------------------------------------------------------

    def summary_line(self) -> str:
        """The verdict, what failed, the size of the check and its cost, in one line."""
        from .text import summary_line

        return summary_line(self, self.failed_groups)

    def _render(self, fmt: str) -> str:
        """The text form in tabulate format ``fmt`` (see :mod:`gradcheck.report.text`)."""
        from .text import render_check

        return render_check(self, fmt)

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
        return json_safe({
            "tool": "gradcheck",
            "version": __version__,
            "created": self.created,
            "title": self.title,
            "passed": self.passed,
            "verdict": self.verdict,
            "failed_groups": self.failed_groups,
            "inconclusive_groups": self.inconclusive_groups,
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

    # -- files ---------------------------------------------------------------

    def _renderers(self) -> dict[str, Callable[[], str]]:
        """File suffix -> the method that writes that file's content."""
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
            then takes the old one's place (safe with concurrent writers).

        Returns
        -------
        list of Path
            The files written.  The folder appears whole or not at all: on a
            full disk, an exception or SIGINT/SIGTERM the old folder (if any) is
            left as it was (see :mod:`gradcheck.report.files`).

        Raises
        ------
        InvalidArgument
            An unknown format, ``directory`` a file, or ``name`` not a plain
            folder name (path separators, NUL).  Names too long for a file
            system are shortened with a stable hash instead.
        """
        from .files import write_report_files

        return write_report_files(directory, self.rendered(formats), name=name, replace=replace)


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
    weight: GroupResult | None
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
        """True when every row of the layer is within tolerance."""
        return all(r.passed for _, r in self.rows())

    def to_dict(self) -> dict[str, Any]:
        """The layer's verdict and, per row kind, the row's error metrics (None for an absent row)."""
        d: dict[str, Any] = {"layer": self.layer, "passed": self.passed}
        for k in self.KINDS:
            r = getattr(self, k)
            d[k] = None if r is None else {
                "name": r.name, "passed": r.passed, "verdict": r.verdict,
                "inconclusive_reason": r.inconclusive_reason, "max_abs_error": r.max_abs_error,
                "max_rel_error": r.max_rel_error, "norm_rel_error": r.norm_rel_error,
                "n_mismatched": r.n_mismatched, "n_entries": r.n_entries,
                "worst_index": None if r.worst_index is None else list(r.worst_index)}
        return d


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
    taylor: list[TaylorResult] | None = None
    sweep: list[SweepResult] | None = None
    error_maps: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def passed(self) -> bool:
        """True when every parameter group and every per-layer row is within tolerance."""
        return all(g.passed for g in self.groups) and all(l.passed for l in self.layers)

    def _results(self) -> list[GroupResult]:
        seen = {id(g) for g in self.groups}
        return list(self.groups) + [r for layer in self.layers for _, r in layer.rows() if id(r) not in seen]

    #: Row order within a layer when locating where backprop first breaks.
    BACKPROP_ORDER = ("delta", "recurrence", "weight", "bias", "weight_formula", "bias_formula")

    @property
    def first_failure(self) -> tuple[int, str] | None:
        """(layer, kind) of the first failing row in backprop order.

        Backpropagation runs from the output layer down, and an error in δ_l
        spreads to every layer below it, so the first failing row met going
        from layer L down to 1 (δ before the weight and bias rows) is where
        the chain breaks.  Inconclusive rows are not failures: they locate nothing.
        """
        for layer in reversed(self.layers):
            for kind in self.BACKPROP_ORDER:
                r = getattr(layer, kind)
                if r is not None and r.verdict == "failed":
                    return layer.layer, kind
        return None

    @property
    def failed_rows(self) -> list[str]:
        """Names of every failing per-layer row (parameter groups, deltas, formulas), layer 1 first."""
        return [r.name for layer in self.layers for _, r in layer.rows() if not r.passed]

    def summary_line(self) -> str:
        """The verdict line of :class:`CheckReport`, plus where backprop first breaks."""
        from .text import network_summary_line

        return network_summary_line(self)

    def _render(self, fmt: str) -> str:
        from .text import render_network

        return render_network(self, fmt)

    def to_dict(self) -> dict[str, Any]:
        """:meth:`CheckReport.to_dict` plus ``failed_rows``, ``first_failure``, ``layers``, ``taylor``, ``sweep``."""
        d = super().to_dict()
        d["failed_rows"] = self.failed_rows
        first = self.first_failure
        d["first_failure"] = None if first is None else {"layer": first[0], "check": first[1]}
        d["layers"] = json_safe([layer.to_dict() for layer in self.layers])
        if self.taylor:
            d["taylor"] = json_safe([{"group": t.name, "order": t.order, "passed": t.passed,
                                      "epsilons": list(map(float, t.epsilons)),
                                      "remainder": list(map(float, t.remainder1))} for t in self.taylor])
        if self.sweep:
            d["sweep"] = json_safe([{"group": s.name, "best_step": s.best_step, "best_error": s.best_error}
                                    for s in self.sweep])
        return d

    def to_html(self) -> str:
        """One self-contained HTML page with tables and (with matplotlib) plots."""
        from .html import render_html

        return render_html(self)

    def _renderers(self) -> dict[str, Callable[[], str]]:
        return {**super()._renderers(), "html": self.to_html}

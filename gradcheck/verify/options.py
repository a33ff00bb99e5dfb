"""The options of a check: validated once at the public boundary, then carried through the layers.

:func:`gradcheck.check_params`, :func:`gradcheck.check_grad`,
:func:`gradcheck.check_network`, :func:`gradcheck.assert_gradients` and the
pytest fixture take their options as keyword arguments and build one frozen
:class:`CheckOptions` with :meth:`CheckOptions.build`; everything below them
reads that object and trusts it.  The report's ``config`` is written here,
by :meth:`CheckOptions.config`, and nowhere else (the command line adds only
the ``command`` that reproduces it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .._validation import check_seed, describe
from ..errors import InvalidArgument
from ..numerical.chunked import RowChunks
from ..numerical.engine import DEFAULT_MEMORY_BUDGET, METHODS, NumericalGradient, RunOptions, run_options
from ..numerical.progress import Progress
from .tolerance import Tolerance

__all__ = ["CheckOptions", "ENGINES"]

#: Where the network check gets its numerical derivatives: the structured
#: engine of :mod:`gradcheck.numerical.structured`, or the loss closure.
ENGINES = ("structured", "generic")


@dataclass(frozen=True)
class CheckOptions:
    """How a check is made.

    Attributes
    ----------
    method : str
        One of :data:`gradcheck.numerical.engine.METHODS`.
    tolerance : Tolerance
        rtol, atol and safety of the tolerance model.
    seed : int or None
        Seed of random probe and check directions.
    n_directions : int
        Directions per group for ``method='directional'``.
    run : RunOptions
        Executor, vectorized loss calls and memory budget.
    progress : callable or None
        ``progress(done, total)`` as entries are measured.
    title : str
        Name of the check in the report.
    engine : {'structured', 'generic'}
        The network check's source of numerical derivatives.
    deltas : bool
        The network check also verifies every layer's δ and the formulas.
    diagnostics : bool
        The network check adds the Taylor test and the step-size sweep.
    typical_scale : float or dict of str to float or None
        The scale parameters vary on, for the steps ε^e·max(scale, |θ|) (None: 1); one number
        for every group or one per group name.
    """

    method: str = "auto"
    tolerance: Tolerance = field(default_factory=Tolerance)
    seed: int | None = 0
    n_directions: int = 4
    run: RunOptions = field(default_factory=RunOptions)
    progress: Progress | None = None
    title: str = "gradient check"
    engine: str = "structured"
    deltas: bool = True
    diagnostics: bool = True
    typical_scale: float | dict[str, float] | None = None

    @classmethod
    def build(cls, *, method: Any = "auto", rtol: Any = Tolerance.rtol, atol: Any = Tolerance.atol,
              safety: Any = Tolerance.safety, seed: Any = 0, n_directions: Any = 4, progress: Any = None,
              title: Any = "gradient check", executor: Any = None, vectorized: Any = False,
              memory_budget: Any = DEFAULT_MEMORY_BUDGET, engine: Any = "structured", deltas: Any = True,
              diagnostics: Any = True, typical_scale: Any = None) -> CheckOptions:
        """Validate the keyword options of a public entry point.

        Parameters
        ----------
        method, rtol, atol, safety, seed, n_directions, progress, title, executor, vectorized, memory_budget
        typical_scale
            As for :func:`gradcheck.check_params` (the group names are checked there).
        engine, deltas, diagnostics
            As for :func:`gradcheck.check_network`.

        Returns
        -------
        CheckOptions

        Raises
        ------
        InvalidArgument
            An option has the wrong type or value; the message names it.
        """
        if method not in METHODS:
            raise InvalidArgument(f"method: expected one of {list(METHODS)}, got {method!r}")
        for name, v in (("rtol", rtol), ("atol", atol), ("safety", safety)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                    or not math.isfinite(v) or v < 0:
                raise InvalidArgument(f"{name}: expected a finite number >= 0, got {describe(v)}")
        check_seed(seed)
        if isinstance(n_directions, (bool, np.bool_)) or not isinstance(n_directions, (int, np.integer)) \
                or n_directions < 1:
            raise InvalidArgument(f"n_directions: expected a positive integer, got {describe(n_directions)}")
        if progress is not None and not callable(progress):
            raise InvalidArgument(f"progress: expected a callable progress(done, total) or None, "
                                  f"got {describe(progress)}")
        if not isinstance(title, str):
            raise InvalidArgument(f"title: expected a string, got {describe(title)}")
        run = run_options(executor, vectorized, memory_budget)
        if run.vectorized and method == "directional":
            raise InvalidArgument("vectorized: the directional method calls the loss on one parameter set at a "
                                  "time; use vectorized=False with method='directional'")
        if engine not in ENGINES:
            raise InvalidArgument(f"engine: expected 'structured' or 'generic', got {engine!r}")
        for name, v in (("deltas", deltas), ("diagnostics", diagnostics)):
            if not isinstance(v, (bool, np.bool_)):
                raise InvalidArgument(f"{name}: expected True or False, got {describe(v)}")
        return cls(method=method, tolerance=Tolerance(rtol=float(rtol), atol=float(atol), safety=float(safety)),
                   seed=None if seed is None else int(seed), n_directions=int(n_directions), run=run,
                   progress=progress, title=title, engine=engine, deltas=bool(deltas),
                   diagnostics=bool(diagnostics), typical_scale=_typical_scale(typical_scale))

    def scales(self, names: list[str]) -> dict[str, float]:
        """The typical scale of every group in ``names`` (1 where none was given).

        Raises
        ------
        InvalidArgument
            ``typical_scale`` names a group that is not among ``names``.
        """
        t = self.typical_scale
        if isinstance(t, dict):
            unknown = sorted(set(t) - set(names))
            if unknown:
                raise InvalidArgument(f"typical_scale: no parameter group {unknown[0]!r}; expected keys from "
                                      f"{names}")
            return {k: t.get(k, 1.0) for k in names}
        return {k: 1.0 if t is None else t for k in names}

    def config(self, measured: NumericalGradient | None = None,
               network: dict[str, Any] | None = None) -> dict[str, Any]:
        """The report's ``config``: these options and what the measurement chose.

        Parameters
        ----------
        measured : NumericalGradient, optional
            The full methods' measurement (its steps and the loss's
            precision are recorded); None for the directional method.
        network : dict, optional
            The network check's description of the net and data; its own
            options (engine, deltas, diagnostics) are recorded with it.

        Returns
        -------
        dict
            JSON-serialisable, keys in the order the reports have always had.
        """
        config: dict[str, Any] = {"method": self.method, "tolerance": asdict(self.tolerance), "seed": self.seed}
        if self.method == "directional":
            config["n_directions"] = self.n_directions
        if self.typical_scale is not None:
            config["typical_scale"] = self.typical_scale
        if measured is not None:
            config["steps"] = {name: _step_summary(s) for name, s in measured.steps.items()}
            config["precision"] = str(measured.precision)
        if network is not None:
            config.update(engine=self.engine, deltas=self.deltas, network=network)
            if self.diagnostics:
                config["diagnostics"] = True
        return config


def _typical_scale(value: Any) -> float | dict[str, float] | None:
    """``typical_scale`` validated: None, a positive finite number, or a mapping of group names to one."""
    def number(v: Any, where: str) -> float:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v) or v <= 0:
            raise InvalidArgument(f"{where}: expected a positive finite number (the scale the parameters vary on, "
                                  f"e.g. 1e-8), got {describe(v)}")
        return float(v)

    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): number(v, f"typical_scale[{k!r}]") for k, v in value.items()}
    return number(value, "typical_scale")


def _step_summary(steps: np.ndarray | RowChunks) -> dict[str, float] | None:
    if isinstance(steps, RowChunks):  # a delta group blocked by samples: its steps a block of rows at a time
        every = int(steps.shape[0]) if steps.shape else 1
        per = max(1, (1 << 16) // max(1, steps.row_size))
        parts = [_step_summary(steps.block(slice(s, min(every, s + per)))) for s in range(0, every, per)]
        found = [p for p in parts if p is not None]
        return {"min": min(p["min"] for p in found), "max": max(p["max"] for p in found)} if found else None
    s = np.asarray(steps, dtype=np.float64)
    if s.size:
        # Both extremes finite: every step is (a NaN or an infinity would be one); no mask to form.
        lo, hi = float(s.min()), float(s.max())
        if math.isfinite(lo) and math.isfinite(hi):
            return {"min": lo, "max": hi}
    s = s[np.isfinite(s)]
    return {"min": float(s.min()), "max": float(s.max())} if s.size else None

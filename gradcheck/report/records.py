"""The result records a check fills in, and what their JSON form needs.

verify measures and builds these records; the report model collects them and
the renderers (text, HTML, plots) read them.  They hold numbers only, so this
module depends on nothing in gradcheck but numpy.

=================== ==========================================================
record              holds
=================== ==========================================================
``Mismatch``        one entry of a group: analytic, numerical, errors, tolerance
``GroupResult``     the verdict and error metrics of one parameter group
``TaylorResult``    the Taylor remainder test of one group
``SweepResult``     the step-size sweep of one group
=================== ==========================================================
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy

__all__ = ["Mismatch", "GroupResult", "TaylorResult", "SweepResult", "json_safe", "environment"]


def json_safe(obj: Any) -> Any:
    """``obj`` with NumPy scalars made Python scalars and non-finite floats made strings.

    Parameters
    ----------
    obj : object
        Nested dicts, lists and tuples of numbers, strings, None.

    Returns
    -------
    object
        The same structure, tuples as lists, that ``json.dumps(..., allow_nan=False)`` accepts.

    Examples
    --------
    >>> json_safe({"e": np.float32(0.5), "n": (np.int64(2), float("inf"))})
    {'e': 0.5, 'n': [2, 'inf']}
    """
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if np.isfinite(f) else str(f)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def environment() -> dict[str, str]:
    """Versions of Python, NumPy and SciPy and the platform, as recorded in reports."""
    return {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "platform": platform.platform()}


@dataclass
class Mismatch:
    """One entry of a group, as shown in failure tables."""

    index: tuple[int, ...]
    analytic: float
    numerical: float
    abs_error: float
    rel_error: float
    tolerance: float


@dataclass
class GroupResult:
    """The verdict and error metrics of one parameter group.

    The metrics are defined in :mod:`gradcheck.verify.tolerance`, which computes them.

    Attributes
    ----------
    name : str
    shape : tuple of int
    passed : bool
        Every entry within its tolerance and finite.
    n_entries, n_mismatched : int
    max_abs_error : float
        max_i |g_i − n_i| over finite entries (inf if any is non-finite).
    max_rel_error : float
        Largest entry-wise relative error.
    norm_rel_error : float
        Normwise relative error.
    worst_index : tuple of int or None
        The entry furthest outside (or least inside) its tolerance, by
        |g_i − n_i| / tol_i; None when entries were not measured one by one.
    worst_analytic, worst_numerical, worst_tolerance : float
        That entry's values and tolerance.
    method : str
        Numerical method used for the group.
    max_error_estimate : float
        Largest error estimate of the numerical method in the group.
    worst : list of Mismatch
        The entries with the largest error-to-tolerance ratio, worst first
        (failing entries only when the group failed).
    notes : list of str
        Non-finite values found, precision caveats, method fallbacks.
    kink_entries : int
        Entries judged one-sided at an activation's kink (ReLU).
    inconclusive_reason : str or None
        Set when the check cannot resolve the group (loss noise, precision,
        a kink no step avoids); ``passed`` is then False and ``verdict``
        ``"inconclusive"``.
    """

    name: str
    shape: tuple[int, ...]
    passed: bool
    n_entries: int
    n_mismatched: int
    max_abs_error: float
    max_rel_error: float
    norm_rel_error: float
    worst_index: tuple[int, ...] | None
    worst_analytic: float
    worst_numerical: float
    worst_tolerance: float
    method: str
    max_error_estimate: float
    worst: list[Mismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The compared arrays (float64) and each entry's tolerance, kept for
    #: diagnosis and plots; not serialised.
    analytic: np.ndarray | None = field(default=None, repr=False, compare=False)
    numerical: np.ndarray | None = field(default=None, repr=False, compare=False)
    tolerance: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: When the numerical values were streamed (never held whole), ``numerical`` holds only the
    #: entries ``numerical_sample`` (a leading block of the group) for diagnosis; None otherwise.
    numerical_sample: tuple[slice, ...] | None = field(default=None, repr=False, compare=False)
    #: Why the check could not decide this group (None when it could); an
    #: inconclusive group never counts as passed.
    inconclusive_reason: str | None = None
    #: Entries judged one-sided at a kink of the activation (ReLU), see
    #: :mod:`gradcheck.verify.kinks`; a sweep or Taylor line through them
    #: may cross the kink.
    kink_entries: int = 0

    @property
    def verdict(self) -> str:
        """``"passed"``, ``"failed"`` or ``"inconclusive"`` (see ``inconclusive_reason``)."""
        if self.inconclusive_reason is not None and not self.passed:
            return "inconclusive"
        return "passed" if self.passed else "failed"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (non-finite floats become strings)."""
        d = asdict(self)
        del d["analytic"], d["numerical"], d["tolerance"], d["numerical_sample"]
        d["verdict"] = self.verdict
        d["shape"] = list(self.shape)
        d["worst_index"] = None if self.worst_index is None else list(self.worst_index)
        for m in d["worst"]:
            m["index"] = list(m["index"])
        return json_safe(d)


@dataclass
class TaylorResult:
    """The Taylor remainder test of one parameter group (see :func:`gradcheck.verify.convergence.taylor_test`).

    Attributes
    ----------
    name : str
        The parameter group.
    epsilons : ndarray of shape (k,)
        The ε used, in the order given.
    remainder0 : ndarray of shape (k,)
        r0(ε) = |L(θ + εv) − L(θ)|.
    remainder1 : ndarray of shape (k,)
        r1(ε) = |L(θ + εv) − L(θ) − ε⟨g, v⟩|.
    order : float
        Least-squares slope of log r1 against log ε over the points used;
        ≈ 2 for a correct gradient, ≈ 1 for a wrong one, NaN when fewer than
        two consecutive ε leave r1 above the round-off floor.
    passed : bool
        ``order >= 1.8``; or, when r1 never rises above the round-off floor
        (and every value is finite), True: ⟨g, v⟩ then matches the loss to
        working precision, |⟨∇L − g, v⟩| ≲ floor/max(ε).
    n_points_used : int
        Number of ε the order was fitted over.
    direction_norm : float
        ‖v‖₂ of the random direction.
    used : ndarray of bool, shape (k,)
        Which ε the order was fitted over.
    roundoff_floor : ndarray of shape (k,)
        1e3·ε_mach·max(1, |L(θ)|, |L(θ + εv)|): r1 at or below it is round-off.
    directional_derivative : float
        ⟨g, v⟩, the slope the gradient under test predicts.
    loss_value : float
        L(θ).
    notes : list of str
        How the verdict was reached, and what to look at when it failed.
    """

    name: str
    epsilons: np.ndarray
    remainder0: np.ndarray
    remainder1: np.ndarray
    order: float
    passed: bool
    n_points_used: int
    direction_norm: float
    used: np.ndarray
    roundoff_floor: np.ndarray
    directional_derivative: float
    loss_value: float
    notes: list[str] = field(default_factory=list)


@dataclass
class SweepResult:
    """The step-size sweep of one parameter group (see :func:`gradcheck.verify.convergence.step_sweep`).

    Attributes
    ----------
    name : str
        The parameter group.
    steps : ndarray of shape (k,)
        The steps h, in the order given (distance moved along the unit direction v).
    errors : dict of str to ndarray of shape (k,)
        Per method, |D(h) − ⟨g, v⟩| / max(|⟨g, v⟩|, tiny) with tiny the
        smallest normal float64.  A wrong g makes every curve level off at
        the gradient's own relative error.
    best_step : dict of str to float
        Per method, the h with the smallest error (NaN if none is finite).
    best_error : dict of str to float
        Per method, that smallest error.
    directional_derivative : float
        ⟨g, v⟩ with ‖v‖₂ = 1.
    loss_value : float
        L(θ).
    notes : list of str
        Methods dropped and why (e.g. a loss that does not accept complex input).
    """

    name: str
    steps: np.ndarray
    errors: dict[str, np.ndarray]
    best_step: dict[str, float]
    best_error: dict[str, float]
    directional_derivative: float
    loss_value: float
    notes: list[str] = field(default_factory=list)

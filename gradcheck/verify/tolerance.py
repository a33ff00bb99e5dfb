"""Error metrics and the tolerance model.

Each entry i of a group gets its own tolerance, derived from how accurate the
numerical derivative n_i is known to be rather than from one fixed rtol:

    tol_i = min(safety · est_i, B)                       error estimate of the numerical method, at most
                                                         the resolution bound B (:mod:`~gradcheck.verify.resolution`)
          + rtol · max(|g_i|, |n_i|)                     small relative term
          + c_g · ε_g · (|g_i| + G + |L| / max(1, |θ_i|))  rounding of the analytic gradient
          + s_i                                          rounding bound of the analytic gradient, if known
          + atol                                         optional absolute floor (default 0)

where ``est_i`` is the method's own error estimate (truncation estimate plus
round-off ≈ κ·ε·|L|/h, or the Richardson / SciPy error estimate, see
:mod:`gradcheck.numerical.rules`), ``g_i`` the analytic value, ``ε_g`` the machine
epsilon of the parameters' dtype (or of the precision the loss is evaluated
in, if coarser), ``G = max_j |n_j|`` the scale of the group's gradient and
``L`` the loss.  The ``|L|`` term is the loss's own resolution: a gradient
error below ε·|L| per unit step of θ changes no loss value the loss can
represent, and hand-written gradients reach it when sigmoids saturate (σ'
computed as a(1 − a) from a rounded a has an absolute, not a relative, error
of about ε).  ``s_i`` is supplied by :func:`gradcheck.check_network`, which
propagates that rounding through the network (zero for :func:`check_params`
unless the caller passes ``grad_rounding``).  For parameters coarser than float64
(ε_g > 2.2e-16) the relative term is max(rtol, √ε_g): a float32 gradient is a
sum of rounded terms that may cancel, so it is trusted to about 3e-4 relative.
When the loss's measured rounding noise σ (:func:`gradcheck.numerical.evaluator.estimate_loss_noise`)
is larger relative to |L| than ε_g, ε_g in the rounding term is replaced by
σ/|L|, with c_g·σ/|L| capped at 1e-6: near an exact fit the residuals a − y,
from which both the loss and the analytic gradient are computed, are rounded
at the scale of a, and the gradient loses that relative accuracy too
(measured on 60 random nets: its relative error stayed below 4.5·σ/|L| at
residuals 1e-6 … 1e-3, and far below it closer to the fit).  The cap keeps
the check's relative sensitivity at 1e-6 or better in that regime.
The entry passes when ``|g_i − n_i| ≤ tol_i``; a non-finite analytic or
numerical value never passes.

The relative error reported for an entry is
``|g_i − n_i| / max(|g_i|, |n_i|, abs_i)`` with ``abs_i = tol_i − rtol ·
max(|g_i|, |n_i|)`` the absolute part of its tolerance, so an entry whose
true gradient is zero never divides by zero; identical values have error 0.
The normwise relative error is ``‖g − n‖₂ / max(‖g‖₂, ‖n‖₂, ‖abs‖₂)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..report.records import GroupResult, Mismatch
from .resolution import RESOLUTION, LossResolution, undecided_reason

__all__ = ["Tolerance", "compare_group", "entry_tolerance", "gradient_epsilon",
           "dtype_eps_grad", "NOISE_TRUST_CAP"]

_EPS64 = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Tolerance:
    """Parameters of the tolerance model (see the module docstring).

    Attributes
    ----------
    rtol : float
        The small relative term (default 1e-10).
    atol : float
        Absolute floor added to every tolerance (default 0).
    safety : float
        Multiplier on the numerical method's error estimate (default 4).
    grad_factor : float
        c_g, multiplier on the analytic gradient's rounding term (default 16).
    """

    rtol: float = 1e-10
    atol: float = 0.0
    safety: float = 4.0
    grad_factor: float = 16.0


def _nonfinite_note(label: str, arr: np.ndarray, finite: np.ndarray | None = None, limit: int = 3) -> str | None:
    finite = np.isfinite(arr) if finite is None else finite
    if finite.all():
        return None
    bad = np.argwhere(~finite)
    where = ", ".join(str(tuple(int(i) for i in b)) for b in bad[:limit])
    more = f" and {len(bad) - limit} more" if len(bad) > limit else ""
    return f"{label} is not finite at {where}{more}"


def _norm(x: np.ndarray) -> np.floating:
    """np.linalg.norm of a real array, the same operations (flatten in memory order, dot, sqrt) without its checks."""
    flat = x.ravel(order="K")
    return np.sqrt(flat.dot(flat))


#: Largest relative allowance c_g·σ/|L| the tolerance grants the analytic
#: gradient on account of the loss's measured noise (see the module docstring).
NOISE_TRUST_CAP = 1e-6


def dtype_eps_grad(param: np.ndarray, precision: np.dtype) -> float:
    """ε_g from the dtypes: the parameters' own precision, or the loss's if that is coarser."""
    return max(float(np.finfo(param.dtype).eps), float(np.finfo(precision).eps))


def gradient_epsilon(eps_grad: float, loss_value: float, loss_noise: float, grad_factor: float) -> float:
    """ε_g, or the loss's relative noise σ/|L| when that is larger (with c_g·σ/|L| at most ``NOISE_TRUST_CAP``)."""
    if loss_noise > 0 and np.isfinite(loss_value) and grad_factor > 0:
        rho = loss_noise / abs(loss_value) if loss_value != 0 else np.inf
        return max(eps_grad, min(rho, NOISE_TRUST_CAP / grad_factor))
    return eps_grad


def entry_tolerance(analytic: np.ndarray, numerical: np.ndarray, error: np.ndarray,
                    eps_grad: float, tol: Tolerance, *, loss_value: float = 0.0,
                    params: np.ndarray | None = None, grad_rounding: np.ndarray | None = None,
                    loss_noise: float = 0.0, bound: float = np.inf,
                    numerical_max: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-entry tolerance tol_i and its absolute part abs_i; shapes of the inputs.

    ``grad_rounding`` is s_i, ``loss_noise`` σ, the measured rounding noise of the loss values;
    ``bound`` caps the numerical method's part safety·est_i (the resolution bound B of
    :mod:`gradcheck.verify.resolution`); ``numerical_max`` is G when the arrays are one chunk of
    a group (default: G of ``numerical``).
    """
    if numerical_max is None:
        finite_n = np.abs(numerical[np.isfinite(numerical)])
        numerical_max = float(finite_n.max()) if finite_n.size else 0.0
    G = numerical_max
    # A float32 (or coarser) gradient is a sum of rounded terms that may cancel,
    # and its inputs (a − y near a fit) are rounded at the scale of a: trust it
    # to √ε_g relative, not to ε_g.
    rtol = tol.rtol if eps_grad <= _EPS64 else max(tol.rtol, float(np.sqrt(eps_grad)))
    eps_grad = gradient_epsilon(eps_grad, loss_value, loss_noise, tol.grad_factor)
    L = abs(loss_value) if np.isfinite(loss_value) else 0.0
    theta = 1.0 if params is None else np.maximum(1.0, np.abs(np.asarray(params, dtype=np.float64)))
    with np.errstate(invalid="ignore", over="ignore"):
        abs_tol = (np.minimum(tol.safety * error, bound)
                   + tol.grad_factor * eps_grad * (np.abs(analytic) + G + L / theta) + tol.atol
                   + (0.0 if grad_rounding is None else grad_rounding))
        total = abs_tol + rtol * np.maximum(np.abs(analytic), np.abs(numerical))
    return total, abs_tol


def judge(a: np.ndarray, n: np.ndarray, e: np.ndarray, abs_a: np.ndarray, abs_n: np.ndarray, total: np.ndarray,
          abs_tol: np.ndarray, finite: np.ndarray, safety: float, bound: float | np.ndarray
          ) -> tuple[np.ndarray, ...]:
    """Each entry's judgement against its tolerance: (|a − n|, ok, undecided, relative error, error / tolerance).

    All arrays of one shape; ``finite`` marks the entries that can be judged (the others get an
    infinite ratio and relative error).  Undecided: within the uncapped tolerance but not the capped
    one, so that only an error estimate above the resolution bound explains the difference.
    """
    diff = np.abs(a - n)
    ok = finite & (diff <= total)
    undecided = finite & ~ok & (diff <= total + np.maximum(safety * e - bound, 0.0))
    denom = np.maximum(np.maximum(abs_a, abs_n), abs_tol)
    rel = np.where(diff == 0, 0.0, diff / np.where(denom > 0, denom, np.inf))
    ratio = np.where(finite, np.where(diff == 0, 0.0, diff / np.where(total > 0, total, 0.0)), np.inf)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    return diff, ok, undecided, np.where(finite, rel, np.inf), ratio


def compare_group(name: str, analytic: np.ndarray, numerical: np.ndarray, error: np.ndarray,
                  *, eps_grad: float, tol: Tolerance = Tolerance(), method: str = "",
                  params: np.ndarray | None = None, loss_value: float = 0.0,
                  grad_rounding: np.ndarray | None = None, loss_noise: float = 0.0, n_worst: int = 5,
                  resolution: LossResolution | None = None, roundoff: np.ndarray | None = None) -> GroupResult:
    """Compare one group's analytic gradient with its numerical derivative.

    Parameters
    ----------
    name : str
    analytic, numerical, error : ndarray, all of the same shape
        Analytic gradient, numerical derivative, and the numerical method's
        absolute error estimate.
    eps_grad : float
        ε_g of the tolerance model.
    tol : Tolerance
    method : str
        Recorded in the result.
    params : ndarray, optional
        The parameter values (θ in the tolerance model; non-finite entries fail).
    loss_value : float
        L in the tolerance model.
    grad_rounding : ndarray, optional
        s_i in the tolerance model, a bound on the analytic gradient's rounding error.
    loss_noise : float
        σ, the measured rounding noise of the loss values (0: not measured).
    n_worst : int
        How many entries to keep in ``worst``.
    resolution : LossResolution, optional
        Apply the resolution bound of :mod:`gradcheck.verify.resolution`: safety·est_i is capped at
        B, and a group whose only disagreements lie between the capped and the uncapped tolerance is
        inconclusive, its reason naming what limits the loss's resolution.
    roundoff : ndarray, optional
        The round-off and noise part of ``error`` (the rest is truncation), to say which limits an
        undecided entry.

    Returns
    -------
    GroupResult

    Examples
    --------
    >>> import numpy as np
    >>> r = compare_group("w", np.array([1.0, 2.0]), np.array([1.0, 2.000001]), np.full(2, 1e-12),
    ...                   eps_grad=2.2e-16)
    >>> r.passed, r.worst_index, r.n_mismatched
    (False, (1,), 1)
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numerical, dtype=np.float64)
    e = np.asarray(error, dtype=np.float64)
    shape = a.shape
    # Each mask and magnitude is formed once and shared by the notes, the scale, the tolerance and the
    # metrics: on the small groups of a small net these calls, not the arithmetic, are the cost.
    fin_a, fin_n = np.isfinite(a), np.isfinite(n)
    fin_p = None if params is None else np.isfinite(np.asarray(params))
    notes = [m for m in (
        _nonfinite_note(f"params[{name!r}]", np.asarray(params), fin_p) if params is not None else None,
        _nonfinite_note("the analytic gradient", a, fin_a),
        _nonfinite_note("the numerical derivative (the loss is not finite nearby)", n, fin_n),
    ) if m]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_a, abs_n = np.abs(a), np.abs(n)
        # gradient_scale(a, n, e, tol.safety), from the shared masks and magnitudes.
        resolved = fin_n & np.isfinite(e) & (abs_n > tol.safety * e)
        scale = float(max(np.max(abs_a[fin_a], initial=0.0), np.max(abs_n[resolved], initial=0.0)))
        bound = RESOLUTION * scale if resolution is not None else np.inf
        total, abs_tol = entry_tolerance(a, n, e, eps_grad, tol, loss_value=loss_value, params=params,
                                         grad_rounding=grad_rounding, loss_noise=loss_noise, bound=bound,
                                         numerical_max=float(np.max(abs_n[fin_n], initial=0.0)))
        finite = fin_a & fin_n & np.isfinite(total)
        if fin_p is not None:
            finite &= fin_p
        diff, ok, undecided, rel, ratio = judge(a, n, e, abs_a, abs_n, total, abs_tol, finite, tol.safety, bound)
        size = a.size
        if size:
            order = np.argsort(-ratio, axis=None, kind="stable")
            worst_flat = int(order[0])
            worst_index = tuple(int(i) for i in np.unravel_index(worst_flat, shape))
            failing = int(np.count_nonzero(~ok))
            keep = order[: min(n_worst, failing)] if failing else order[:n_worst]
            where = (zip(*(i.tolist() for i in np.unravel_index(keep, shape)), strict=True) if shape
                     else [()] * keep.size)
            rows = zip(*(x.reshape(-1)[keep].tolist() for x in (a, n, diff, rel, total)), strict=True)
            worst = [Mismatch(tuple(i), *r) for i, r in zip(where, rows, strict=True)]
            max_abs = float(np.max(np.where(finite, diff, np.inf)))
            max_rel = float(np.max(rel))
            dn = _norm(np.where(finite, a - n, np.inf))
            norm_den = max(_norm(np.where(finite, a, 0)), _norm(np.where(finite, n, 0)),
                           _norm(np.where(finite, abs_tol, 0)))
            norm_rel = 0.0 if dn == 0 else float(dn / norm_den) if norm_den > 0 else float("inf")
            w = worst_flat
            worst_vals = (float(a.flat[w]), float(n.flat[w]), float(total.flat[w]))
            max_est = float(np.max(e)) if e.size else 0.0
        else:
            worst_index, failing, worst = (), 0, []
            max_abs = max_rel = norm_rel = max_est = 0.0
            worst_vals = (0.0, 0.0, 0.0)
    reason = None
    n_undecided = int(np.count_nonzero(undecided))
    if n_undecided and n_undecided == failing:
        k = np.flatnonzero(undecided.ravel())
        worst_k = int(k[np.argmax(tol.safety * e.ravel()[k])])
        truncation = roundoff is not None and bool(
            e.flat[worst_k] > 2 * np.asarray(roundoff, dtype=np.float64).flat[worst_k])
        reason = undecided_reason(n_undecided, int(size), scale, bound, float(tol.safety * e.flat[worst_k]),
                                  truncation, method, resolution)
    elif n_undecided:
        notes.append(f"{n_undecided} more entr{'y' if n_undecided == 1 else 'ies'} could not be decided: their "
                     f"numerical error estimates exceed the resolution bound {bound:.2g}")
    return GroupResult(
        name=name, shape=tuple(shape), passed=bool(failing == 0), n_entries=int(size), n_mismatched=failing,
        max_abs_error=max_abs, max_rel_error=max_rel, norm_rel_error=norm_rel, worst_index=worst_index,
        worst_analytic=worst_vals[0], worst_numerical=worst_vals[1], worst_tolerance=worst_vals[2],
        method=method, max_error_estimate=max_est, worst=worst, notes=notes, analytic=a, numerical=n,
        tolerance=total, inconclusive_reason=reason,
    )

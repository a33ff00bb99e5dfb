"""The public checks: check_params, check_grad, assert_gradients, check_network.

Validation happens here, once, before any loss call; the numerical engines
and the comparison below assume validated input.
"""

from __future__ import annotations

import math
import time
import warnings
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from .._validation import check_grads_mapping, check_params_mapping, describe
from .diagnose import diagnose_report
from .tolerance import GroupResult, Tolerance, compare_group, entry_tolerance, gradient_epsilon
from ..errors import GradientMismatch, InvalidArgument
from ..numerical.numeric import (DEFAULT_MEMORY_BUDGET, METHODS, OFFSETS, Engine, LossEngine, LossEvaluator, NumericalGradient,
                      Progress, apply_rule, precision_of, run_options)
from ..report.model import CheckReport

if TYPE_CHECKING:
    from ..report.model import NetworkReport

__all__ = ["check_params", "check_grad", "assert_gradients", "check_network", "GradcheckWarning", "run_check",
           "Measured"]


class GradcheckWarning(UserWarning):
    """A check ran, but with reduced power (e.g. the loss evaluates in float32)."""


def _tolerance(rtol: float, atol: float, safety: float) -> Tolerance:
    for name, v in (("rtol", rtol), ("atol", atol), ("safety", safety)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) \
                or not math.isfinite(v) or v < 0:
            raise InvalidArgument(f"{name}: expected a finite number >= 0, got {describe(v)}")
    return Tolerance(rtol=float(rtol), atol=float(atol), safety=float(safety))


def _eps_grad(param: np.ndarray, precision: np.dtype) -> float:
    """ε_g: the parameters' own precision, or the loss's if that is coarser."""
    return max(float(np.finfo(param.dtype).eps), float(np.finfo(precision).eps))


def check_params(loss: Callable[[Mapping[str, np.ndarray]], Any], params: Mapping[str, Any],
                 grads: Mapping[str, Any], *, method: str = "auto", rtol: float = 1e-10,
                 atol: float = 0.0, safety: float = 4.0, seed: int | None = 0,
                 n_directions: int = 4, noise: Mapping[str, Any] | None = None,
                 progress: Progress | None = None, title: str = "gradient check",
                 executor: Executor | None = None, vectorized: bool = False,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET) -> CheckReport:
    """Check analytic gradients of any loss against numerical derivatives.

    Parameters
    ----------
    loss : callable
        ``loss(params) -> scalar``; receives a dict with the keys and shapes of
        ``params`` (float64 arrays, complex128 for the complex step).
    params : mapping of str to array_like
        Where to check (never modified).
    grads : mapping of str to array_like
        The analytic gradient: same keys and shapes as ``params``.
    method : {'auto', 'forward', 'backward', 'central', 'central4', 'richardson', 'complex', \
'scipy-fprime', 'scipy-differentiate', 'directional'}
        Numerical method (see :mod:`gradcheck.numerical.numeric`).  ``'auto'`` uses the
        complex step where the loss carries it faithfully and Richardson
        extrapolation elsewhere, and re-measures flagged complex-step entries
        with Richardson extrapolation.  ``'directional'`` compares ⟨g, v⟩ with a
        directional derivative for ``n_directions`` random v per group: cheap,
        but it cannot say which entry is wrong.
    rtol, atol, safety : float
        Tolerance model parameters (see :mod:`gradcheck.verify.tolerance`).
    seed : int or None
        Seed for random probe and check directions.
    n_directions : int
        Directions per group for ``method='directional'``.
    noise : mapping of str to array_like, optional
        Known absolute rounding scale of the analytic gradient per entry
        (s_i in the tolerance model, same keys and shapes as ``params``);
        :func:`check_network` computes it for DenseNet.
    progress : callable, optional
        ``progress(done, total)`` as entries are measured.  When entries
        that a first pass cannot clear are re-measured (see ``method``),
        ``total`` grows by their number and ``done`` continues up to it.
    title : str
        Name of the check in the report.
    executor : concurrent.futures.Executor, optional
        Evaluates blocks of entries concurrently (threads, processes, or
        ``dask.distributed.Client(...).get_executor()``), each block on its own
        copy of the parameters; the report does not depend on it.  The loss
        must be thread-safe for threads and picklable for processes.
        Default: the calling thread, since an arbitrary loss may be neither.
    vectorized : bool
        The loss accepts parameter sets stacked along a leading axis: every
        array of the dict it receives has shape (B,) + shape, and it returns
        shape (B,); many perturbations are then evaluated per call (see
        :func:`gradcheck.numerical.numeric.numerical_gradient`).
    memory_budget : int
        Bytes of extra memory for stacked parameter copies (default 256 MB).

    Returns
    -------
    CheckReport

    Raises
    ------
    InvalidArgument
        Bad arguments: missing or extra keys, shape mismatch, non-numeric
        arrays, a loss that does not return a scalar, unknown method.
    LossEvaluationError
        The loss raised; the original exception is chained.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([1.0, -2.0])}
    >>> loss = lambda p: np.sum(p["w"] ** 2)
    >>> check_params(loss, params, {"w": 2 * params["w"]}).passed
    True
    >>> check_params(loss, params, {"w": np.array([2.0, -4.00001])}).failed_groups
    ['w']
    """
    if not callable(loss):
        raise InvalidArgument(f"loss: expected a callable loss(params) -> scalar, got {describe(loss)}")
    if method not in METHODS:
        raise InvalidArgument(f"method: expected one of {list(METHODS)}, got {method!r}")
    opts = run_options(executor, vectorized, memory_budget)
    params = check_params_mapping(params)
    grads = check_grads_mapping(grads, params)
    tol = _tolerance(rtol, atol, safety)
    noise = {} if noise is None else {k: np.abs(v) for k, v in check_grads_mapping(noise, params, "noise").items()}
    if method == "directional" and (isinstance(n_directions, bool) or n_directions < 1
                                    or not isinstance(n_directions, (int, np.integer))):
        raise InvalidArgument(f"n_directions: expected a positive integer, got {describe(n_directions)}")
    if vectorized and method == "directional":
        raise InvalidArgument("vectorized: the directional method calls the loss on one parameter set at a time; "
                              "use vectorized=False with method='directional'")
    report = run_check(loss, params, grads, method=method, tol=tol, seed=seed, noise=noise,
                       n_directions=int(n_directions), progress=progress, title=title,
                       engine=LossEngine(loss, params, opts, lazy_truncation=True)).report
    # check_network diagnoses its own report (per layer); only here is this one kept.
    report.diagnoses = diagnose_report(report, params)
    return report


@dataclass
class Measured:
    """A check's report with the numerical values and error estimates it compared.

    ``values`` and ``errors`` are None for the directional method, which does
    not measure entries.
    """

    report: CheckReport
    values: dict[str, np.ndarray] | None
    errors: dict[str, np.ndarray] | None


def run_check(loss: Callable, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], *,
              method: str, tol: Tolerance, seed: int | None, noise: dict[str, np.ndarray],
              n_directions: int = 4, progress: Progress | None = None,
              title: str = "gradient check", engine: Engine | None = None) -> Measured:
    """check_params on validated arguments, keeping the measured derivatives.

    ``engine`` supplies the numerical derivatives of the full methods (default:
    :class:`~gradcheck.numerical.numeric.LossEngine` on ``loss``, run serially); the
    directional method always calls ``loss``.
    """
    start = time.perf_counter()
    config: dict[str, Any] = {"method": method, "tolerance": {"rtol": tol.rtol, "atol": tol.atol,
                                                            "safety": tol.safety, "grad_factor": tol.grad_factor},
                              "seed": seed}
    values = errors = None
    if method == "directional":
        config["n_directions"] = n_directions
        groups, f0, n_evals, notes = _directional(loss, params, grads, tol, seed, n_directions)
    else:
        engine = engine if engine is not None else LossEngine(loss, params)
        ng = engine.gradient(method, seed=seed, progress=progress)
        groups, n_evals, notes, values, errors = _compare_all(engine, params, grads, ng, tol, method, noise,
                                                              progress)
        f0 = ng.loss_value
        config["steps"] = {name: _step_summary(s) for name, s in ng.steps.items()}
        config["precision"] = str(ng.precision)
        if ng.precision != np.float64:
            warnings.warn(f"gradcheck: the loss evaluates in {ng.precision}; tolerances are widened to that "
                          "precision (pass float64 parameters through a float64 loss for a sharper check)",
                          GradcheckWarning, stacklevel=3)
    if not math.isfinite(f0):
        notes.insert(0, f"the loss is {f0} at the given parameters: no group can pass")
        for g in groups:
            g.passed = False
    report = CheckReport(groups, method, config, time.perf_counter() - start, n_evals, f0, notes, title=title)
    return Measured(report, values, errors)


def _step_summary(steps: np.ndarray) -> dict[str, float] | None:
    s = np.asarray(steps, dtype=np.float64)
    s = s[np.isfinite(s)]
    return {"min": float(s.min()), "max": float(s.max())} if s.size else None


def _compare_all(engine: Engine, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                 ng: NumericalGradient, tol: Tolerance, method: str,
                 noise: dict[str, np.ndarray], progress: Progress | None = None
                 ) -> tuple[list[GroupResult], int, list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Compare every group, re-measuring the entries a first pass cannot clear.

    Two first passes are provisional: auto's complex step (Richardson decides
    its flags) and the generic engine's central differences with round-off
    estimates only (the 4-call rule completes them).  ``progress`` continues
    past the first pass: total becomes (entries + re-measured entries).
    """
    notes = list(ng.notes)
    n_evals = ng.n_evaluations
    eps = float(np.finfo(ng.precision).eps)
    values, errors, used = dict(ng.values), dict(ng.errors), dict(ng.methods)
    confirm, flagged = {}, {}
    for name, p in params.items():
        rule = ("richardson" if method == "auto" and used[name] == "complex"
                else used[name] if name in ng.roundoff_only else None)
        if rule:
            idx = _flagged(grads[name], values[name], errors[name], _eps_grad(p, ng.precision), tol,
                           ng.loss_value, p, noise.get(name), ng.noise)
            if idx.size:
                confirm[name], flagged[name] = rule, idx
    n_entries = sum(np.size(p) for p in params.values())
    n_flagged = sum(idx.size for idx in flagged.values())
    done = 0
    for name, idx in flagged.items():
        sub = (lambda d, _t, _o=done: progress(n_entries + _o + d, n_entries + n_flagged)) if progress else None
        rv, re, _, n = engine.remeasure(confirm[name], name, idx, f0=ng.loss_value, eps=eps, noise=ng.noise,
                                        progress=sub)
        done += idx.size
        values[name], errors[name] = values[name].copy(), errors[name].copy()
        values[name].flat[idx], errors[name].flat[idx] = rv, re
        n_evals += n
        if confirm[name] == "richardson":
            # An entry fails under auto only if real arithmetic confirms the
            # disagreement: the complex step also resolves the analytic
            # gradient's own rounding (a(1 − a) near saturation, residuals
            # near an exact fit), which is not a bug.  Use method='complex'
            # to judge by the complex step alone.
            used[name] = "complex+richardson"
            notes.append(f"{name}: {idx.size} entr{'y' if idx.size == 1 else 'ies'} flagged by the "
                         "complex step re-measured with Richardson extrapolation, which decides them")
    sigma = ng.noise
    if flagged and engine.measured_noise is not None:
        sigma = max(sigma, engine.measured_noise)  # measured while completing the first pass
    if ng.roundoff_only:
        completed = sum(idx.size for k, idx in flagged.items() if k in ng.roundoff_only)
        notes.append(f"central differences: f(θ ± 2h) and the loss's noise level measured for the {completed} "
                     f"entr{'y' if completed == 1 else 'ies'} that round-off alone could not clear; the other "
                     "entries' error estimates are round-off bounds (their verdict cannot change)")
    groups = [compare_group(name, grads[name], values[name], errors[name], eps_grad=_eps_grad(p, ng.precision),
                            tol=tol, method=used[name], params=p, loss_value=ng.loss_value, noise=noise.get(name),
                            loss_noise=sigma)
              for name, p in params.items()]
    eps_eff = gradient_epsilon(0.0, ng.loss_value, sigma, tol.grad_factor)
    if tol.grad_factor * eps_eff > tol.rtol:
        notes.append(f"the loss's measured rounding noise is {sigma:.2g} (σ/|L| = "
                     f"{sigma / abs(ng.loss_value) if ng.loss_value else math.inf:.2g}, "
                     "as near an exact fit, where a − y rounds at the scale of a): analytic gradients are trusted "
                     f"to {tol.grad_factor * eps_eff:.2g} relative, not to rtol = {tol.rtol:.2g}")
    return groups, n_evals, notes, values, errors


def _flagged(g: np.ndarray, values: np.ndarray, errors: np.ndarray, eps_g: float, tol: Tolerance,
             loss_value: float, p: np.ndarray, noise: np.ndarray | None, loss_noise: float = 0.0) -> np.ndarray:
    """Flat indices of the entries whose difference exceeds the tolerance."""
    g = np.asarray(g, np.float64)
    total, _ = entry_tolerance(g, values, errors, eps_g, tol, loss_value=loss_value, params=p, noise=noise,
                               loss_noise=loss_noise)
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(~(np.abs(g - values) <= total))


def _directional(loss: Callable, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                 tol: Tolerance, seed: int | None, k: int) -> tuple[list[GroupResult], float, int, list[str]]:
    """⟨g, v⟩ against a Richardson directional derivative, k directions per group."""
    rng = np.random.default_rng(seed)
    ev = LossEvaluator(loss, params)
    ev.context = "at the unperturbed parameters"
    f0_raw = ev()
    precision = precision_of(f0_raw)
    eps = float(np.finfo(precision).eps)
    f0 = float(np.real(f0_raw))
    h = eps ** (1 / 5)
    groups = []
    for name, p in params.items():
        g = np.asarray(grads[name], dtype=np.float64)
        x = ev.work[name].copy()
        proj, nums, errs, scales = [], [], [], []
        ev.context = f"along a random direction in {name!r} (method 'directional')"
        for _ in range(k):
            v = rng.standard_normal(p.shape)
            # Non-finite parameters make NaN here; the comparison reports them.
            hv = h * max(1.0, float(np.max(np.abs(x), initial=0.0)))
            F = []
            with np.errstate(invalid="ignore", over="ignore"):
                for s in OFFSETS["richardson"]:
                    ev.work[name][...] = x + s * hv * v
                    F.append(float(np.real(ev())))
                ev.work[name][...] = x
                # The same Richardson rule as per-entry checks, along v.
                value, error = apply_rule("richardson", np.asarray([F]) - f0, f0, np.asarray([hv]), eps)
            R2, est = float(value[0]), float(error[0])
            proj.append(float(np.sum(g * v)))
            nums.append(R2)
            errs.append(est)
            scales.append(float(np.sum(np.abs(g * v))))
        eps_g = _eps_grad(p, precision)
        # The rounding of ⟨g, v⟩ scales with Σ|g_i v_i|, not with |⟨g, v⟩|.
        errs_arr = np.asarray(errs) + tol.grad_factor * eps_g * np.asarray(scales) / tol.safety
        r = compare_group(name, np.asarray(proj), np.asarray(nums), errs_arr, eps_grad=0.0, tol=tol,
                          method="directional")
        r.shape = tuple(p.shape)
        r.n_entries = int(np.size(p))
        r.worst_index = None
        r.worst = []
        r.notes.append(f"directional check along {k} random directions: {r.n_mismatched} disagree"
                       + ("; it cannot say which entry is wrong: run method='auto' on this group to locate it"
                          if not r.passed else ""))
        groups.append(r)
    return groups, f0, ev.n_evaluations, []


def check_grad(f: Callable[[np.ndarray], Any], grad: Callable[[np.ndarray], Any] | Any, x0: Any,
               **options: Any) -> CheckReport:
    """Check the gradient of a function of one flat vector (SciPy-like).

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar`` for ``x`` of shape (n,).
    grad : callable or array_like of shape (n,)
        ``grad(x) -> ndarray of shape (n,)``, or its value at ``x0``.
    x0 : array_like of shape (n,)
    **options
        As for :func:`check_params`.

    Returns
    -------
    CheckReport
        One group, named ``"x"``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import rosen, rosen_der
    >>> x0 = np.array([1.3, 0.7, 0.8])
    >>> check_grad(rosen, rosen_der, x0).passed
    True
    """
    x = check_params_mapping({"x": x0}, "x0")["x"]
    if x.ndim != 1:
        raise InvalidArgument(f"x0: expected a 1-D array of shape (n,), got shape {x.shape}; flatten it "
                              "or use check_params for arrays of other shapes")
    if not callable(f):
        raise InvalidArgument(f"f: expected a callable f(x) -> scalar, got {describe(f)}")
    g = grad(x.copy()) if callable(grad) else grad
    options.setdefault("title", "check_grad")
    return check_params(lambda p: f(p["x"]), {"x": x}, {"x": g}, **options)


def assert_gradients(loss: Callable[[Mapping[str, np.ndarray]], Any], params: Mapping[str, Any],
                     grads: Mapping[str, Any], **options: Any) -> CheckReport:
    """Like :func:`check_params`, but raise when a group fails.

    Returns
    -------
    CheckReport
        When every group passed.

    Raises
    ------
    GradientMismatch
        An ``AssertionError`` whose message is the failure table; the report
        is attached as ``.report``.

    Examples
    --------
    >>> import numpy as np
    >>> p = {"w": np.array([3.0])}
    >>> assert_gradients(lambda q: q["w"][0] ** 2, p, {"w": np.array([6.0])}).passed
    True
    """
    __tracebackhide__ = True
    report = check_params(loss, params, grads, **options)
    if not report.passed:
        raise GradientMismatch(report.failure_message(), report)
    return report


def check_network(net: Any, X: Any, y: Any, method: str = "auto", deltas: bool = True,
                  **options: Any) -> "NetworkReport":
    """Check a DenseNet's backpropagation on data ``(X, y)``, layer by layer.

    Parameters
    ----------
    net : DenseNet
    X : array_like of shape (N, n_0)
    y : array_like of shape (N, n_L), or (N,) for one output
    method : str
        As for :func:`check_params`; the delta checks use ``'auto'`` when it
        is ``'directional'``.
    deltas : bool
        Also verify every layer's δ_l against a numerical ∂L/∂z_l, the
        recurrence δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ f'(z_l) and the weight and bias
        formulas (see :mod:`gradcheck.verify.network`); False checks parameters only.
    **options
        ``rtol``, ``atol``, ``safety``, ``seed``, ``n_directions``, ``progress``,
        ``title`` as for :func:`check_params`; ``backward``, a
        :class:`~gradcheck.model.backprop.Backward` record to verify instead of
        ``net.backward(X, y)``; ``diagnostics`` (default True) adds the Taylor
        remainder test, the step-size sweep and error heatmaps to the report;
        ``engine`` (default ``'structured'``) measures every entry with
        :mod:`gradcheck.numerical.structured`, which exploits the network's layers and
        equals the generic ``'generic'`` engine up to rounding;
        ``executor`` (a ``concurrent.futures.Executor``; default: the calling
        thread) and ``memory_budget`` (bytes, default 256 MB) say where its
        chunks run and how much extra memory they may use.

    Returns
    -------
    NetworkReport
        A CheckReport with ``.layers``.

    Examples
    --------
    >>> import gradcheck as gc
    >>> net = gc.DenseNet([5, 7, 3, 2], seed=0)
    >>> X = np.linspace(-1, 1, 20).reshape(4, 5); y = np.zeros((4, 2))
    >>> report = gc.check_network(net, X, y, diagnostics=False)
    >>> report.passed, [layer.passed for layer in report.layers]
    (True, [True, True, True])
    """
    from .network import check_layers

    return check_layers(net, X, y, method=method, deltas=deltas, **options)

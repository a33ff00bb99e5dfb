"""Numerical derivatives of a scalar loss over a dict of parameter arrays.

Every method perturbs one entry at a time in a private float64 (or complex128)
copy of the parameters, restores it, and returns the derivative together with
an estimate of its own absolute error, so that :mod:`gradcheck.compare` can
derive a tolerance from it.  With ε the precision the loss is evaluated in,
κ = ``ROUNDOFF_FACTOR`` and F the loss values the rule used:

============ ================================ ===================================== =====================
method       value                            error estimate                        loss calls per entry
============ ================================ ===================================== =====================
forward      D₊(h) = (f(θ+h) − f(θ))/h        |D₊(2h) − D₊(h)| + κε·max|F|/h        2
backward     D₋(h) = (f(θ) − f(θ−h))/h        |D₋(2h) − D₋(h)| + κε·max|F|/h        2
central      D(h) = (f(θ+h) − f(θ−h))/2h      |D(2h) − D(h)|/3 + κε·max|F|/h        4
central4     (4D(h) − D(2h))/3 (5-point)      |D(2h) − D(h)|/3 + 1.5κε·max|F|/h     4
richardson   two Richardson levels over       |R₂ − R₁| + 2κε·max|F|/(h/4)          6
             D(h), D(h/2), D(h/4)
complex      Im f(θ + i·h)/h, h = 1e-20       κε·|value|                            1
============ ================================ ===================================== =====================

where κε·max|F| is raised to 2σ when the measured noise σ of the loss values
(:func:`estimate_noise`, 8 extra loss calls per check) is larger.
The truncation error of a rule of order p is estimated from the same rule at
two steps: D(h) − D(2h) ≈ (1 − 2^p)·c·h^p.  Richardson extrapolation removes
the h² and h⁴ terms of central differences (Richardson 1911; Press et al.,
Numerical Recipes, 3rd ed., §5.7); the complex step has no subtractive
cancellation (Squire & Trapp, SIAM Review 40, 1998).

``"auto"`` uses the complex step for a parameter group only after
:func:`complex_step_faithful` has verified that the loss carries a complex
perturbation through (no ``float()``, ``abs``, ``.real``, ``np.maximum``…);
otherwise it uses Richardson extrapolation.  :func:`gradcheck.check_params`
further re-measures every entry that the complex step flags with Richardson
extrapolation before reporting it, so a loss that drops imaginary parts in a
way the probe missed cannot produce a false failure.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .errors import InvalidArgument, LossEvaluationError
from .steps import COMPLEX_STEP, step_sizes

__all__ = [
    "METHODS",
    "NumericalGradient",
    "LossEvaluator",
    "numerical_gradient",
    "differentiate_entries",
    "complex_step_faithful",
]

#: Methods that measure every entry.  ``"directional"`` is handled by
#: :func:`gradcheck.check_params`, since it measures projections, not entries.
FULL_METHODS = ("auto", "forward", "backward", "central", "central4", "richardson", "complex",
                "scipy-fprime", "scipy-differentiate")
METHODS = FULL_METHODS + ("directional",)
LOCAL_METHODS = ("forward", "backward", "central", "central4", "richardson", "complex")

#: Round-off of one loss evaluation in units of ε·|L|: a loss is a long sum of
#: rounded terms, and the two evaluations of a difference round independently.
ROUNDOFF_FACTOR = 8.0

Progress = Callable[[int, int], None]


@dataclass
class NumericalGradient:
    """Numerical derivatives with their error estimates.

    Attributes
    ----------
    values : dict of str to ndarray of float64
        ∂L/∂θ for every parameter group, in the group's shape.
    errors : dict of str to ndarray of float64
        Estimated absolute error of every entry of ``values`` (>= 0).
    steps : dict of str to ndarray of float64
        The step used for every entry (NaN where the method chooses its own).
    methods : dict of str to str
        The method actually used per group (``"auto"`` resolves to
        ``"complex"`` or ``"richardson"``).
    loss_value : float
        The loss at the unperturbed parameters.
    precision : numpy.dtype
        The floating precision the loss is evaluated in (its result's dtype).
    n_evaluations : int
        Number of loss calls made.
    notes : list of str
        Decisions a user should know about (fallbacks, precision).
    noise : float
        Measured rounding noise of the loss values (see :func:`estimate_noise`).
    """

    values: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    steps: dict[str, np.ndarray]
    methods: dict[str, str]
    loss_value: float
    precision: np.dtype
    n_evaluations: int = 0
    notes: list[str] = field(default_factory=list)
    noise: float = 0.0


class LossEvaluator:
    """Calls a user's loss on a private, perturbable copy of the parameters.

    The caller's arrays are copied once; an entry is perturbed in place in the
    copy and restored after the call, so no per-call copy of the parameters is
    made.

    Parameters
    ----------
    loss : callable
        ``loss(params: dict[str, ndarray]) -> scalar``.
    params : mapping of str to ndarray
        Validated parameter arrays (never modified).
    complex_mode : bool
        Keep the copy in complex128 (for the complex step).
    """

    def __init__(self, loss: Callable[[Mapping[str, np.ndarray]], Any],
                 params: Mapping[str, np.ndarray], complex_mode: bool = False) -> None:
        dtype = np.complex128 if complex_mode else np.float64
        self.loss = loss
        # C order, so that reshape(-1) below is a view of the working copy.
        self.work = {k: np.array(v, dtype=dtype, copy=True, order="C") for k, v in params.items()}
        self.flat = {k: v.reshape(-1) for k, v in self.work.items()}
        self.n_evaluations = 0
        self.context = ""

    def __call__(self) -> Any:
        """The loss at the current (perturbed) copy, as a numpy scalar."""
        self.n_evaluations += 1
        try:
            # A shallow dict per call: a loss that rebinds keys cannot break our views.
            out = self.loss(dict(self.work))
        except Exception as exc:
            where = f" {self.context}" if self.context else ""
            raise LossEvaluationError(
                f"the loss raised {type(exc).__name__}: {exc} (while gradcheck evaluated it{where})"
            ) from exc
        return as_scalar(out)

    def at(self, name: str, i: int, value: float | complex) -> Any:
        """The loss with entry ``i`` of group ``name`` set to ``value``."""
        flat = self.flat[name]
        old = flat[i]
        flat[i] = value
        try:
            return self()
        finally:
            flat[i] = old


def as_scalar(out: Any) -> np.generic:
    """Check that a loss returned one number and return it as a numpy scalar."""
    try:
        arr = np.asarray(out)
    except Exception:
        arr = np.asarray(None)
    if arr.size != 1 or arr.dtype.kind not in "biufc":
        raise InvalidArgument(
            f"loss: expected the loss function to return a scalar, got "
            f"{'an array of shape ' + str(arr.shape) if arr.dtype.kind in 'biufc' else type(out).__name__}; "
            "reduce it to one number (e.g. with .sum())"
        )
    return arr.reshape(())[()]


def precision_of(value: np.generic) -> np.dtype:
    """The real floating precision a loss result was computed in."""
    dtype = np.asarray(value).dtype
    if dtype.kind == "c":
        return np.finfo(dtype).dtype
    if dtype.kind == "f" and dtype.itemsize < 8:
        return dtype
    return np.dtype(np.float64)


class _Tracker:
    """Counts measured entries and reports progress."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total, self.done, self.progress = total, 0, progress
        self._next = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.progress is not None and (self.done >= self._next or self.done == self.total):
            self.progress(self.done, self.total)
            self._next = self.done + max(1, self.total // 100)


def _stencil(ev: LossEvaluator, name: str, idx: np.ndarray, h: np.ndarray,
             offsets: tuple[float, ...], tracker: _Tracker) -> np.ndarray:
    """Loss values at θ_i + o·h_i for every entry i in ``idx`` and offset o.

    Returns
    -------
    ndarray of shape (len(idx), len(offsets))
    """
    flat = ev.flat[name]
    out = np.empty((len(idx), len(offsets)))
    for j, i in enumerate(idx):
        x = flat[i]
        try:
            for k, o in enumerate(offsets):
                flat[i] = x + o * h[j]
                out[j, k] = ev()
        finally:
            flat[i] = x
        tracker.advance()
    return out


#: Multiplier on the measured noise level of the loss in the round-off term.
NOISE_FACTOR = 2.0


def estimate_noise(ev: LossEvaluator, f0: float, seed: int | None = 0, m: int = 8) -> float:
    """Standard deviation of the rounding noise in the loss values, measured.

    The loss is evaluated at m + 1 points θ + i·s·v (i = −m/2 … m/2, v a
    seeded random direction, s = 1e-6·max(1, |θ|)); the fourth differences of
    those values cancel the smooth part to O(s⁴) and leave the noise, whose
    level is σ = (γ₄ · mean((Δ⁴f)²))^½ with γ₄ = (4!)²/8!.  This is the
    ECnoise idea of Moré & Wild, "Estimating computational noise", SIAM J. Sci.
    Comput. 33 (2011).  A loss such as ½Σ(a − y)² near a good fit has noise
    far above ε·|L|: it is rounded at the scale of a, not of (a − y)².

    Returns
    -------
    float
        σ (0 when the loss is exactly reproducible along the line).
    """
    rng = np.random.default_rng(0 if seed is None else seed)
    base = {k: v.copy() for k, v in ev.work.items()}
    dirs = {k: rng.uniform(-1.0, 1.0, v.shape) * 1e-6 * max(1.0, float(np.max(np.abs(v), initial=0.0)))
            for k, v in base.items()}
    values = []
    ev.context = "while measuring the loss's rounding noise"
    try:
        for i in range(-(m // 2), m // 2 + 1):
            if i == 0:
                values.append(f0)
                continue
            for k in base:
                ev.work[k][...] = base[k] + i * dirs[k]
            values.append(float(np.real(ev())))
    except LossEvaluationError:
        # The measurement itself will hit the same failure and report it with
        # the entry it perturbed; here there is nothing more useful to say.
        return 0.0
    finally:
        for k in base:
            ev.work[k][...] = base[k]
    d4 = np.diff(np.asarray(values), n=4)
    if not np.all(np.isfinite(d4)):
        return 0.0
    return float(np.sqrt((576.0 / 40320.0) * np.mean(d4 * d4)))


def _local_rule(method: str, ev: LossEvaluator, f0: float, eps: float, name: str,
                idx: np.ndarray, tracker: _Tracker, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One finite-difference rule on the entries ``idx`` of a group.

    Returns values, error estimates and steps, each of shape (len(idx),).
    """
    x = ev.flat[name][idx].real
    kappa = ROUNDOFF_FACTOR * eps
    if method == "complex":
        flat = ev.flat[name]
        vals = np.empty(len(idx))
        for j, i in enumerate(idx):
            x0 = flat[i]
            flat[i] = x0 + 1j * COMPLEX_STEP
            try:
                vals[j] = np.imag(ev()) / COMPLEX_STEP
            finally:
                flat[i] = x0
            tracker.advance()
        return vals, kappa * np.abs(vals), np.full(len(idx), COMPLEX_STEP)

    h = step_sizes(x, method, np.float64 if eps <= np.finfo(np.float64).eps else np.float32)
    if method in ("forward", "backward"):
        s = 1.0 if method == "forward" else -1.0
        F = _stencil(ev, name, idx, h, (s, 2 * s), tracker)
        d1 = s * (F[:, 0] - f0) / h
        d2 = s * (F[:, 1] - f0) / (2 * h)
        big = np.maximum(np.maximum(np.abs(F).max(axis=1), abs(f0)), NOISE_FACTOR * noise / kappa)
        return d1, np.abs(d2 - d1) + kappa * big / h, h
    if method in ("central", "central4"):
        F = _stencil(ev, name, idx, h, (1.0, -1.0, 2.0, -2.0), tracker)
        d1 = (F[:, 0] - F[:, 1]) / (2 * h)
        d2 = (F[:, 2] - F[:, 3]) / (4 * h)
        big = np.maximum(np.abs(F).max(axis=1), NOISE_FACTOR * noise / kappa)
        trunc = np.abs(d2 - d1) / 3
        if method == "central":
            return d1, trunc + kappa * big / h, h
        c4 = (4 * d1 - d2) / 3  # = (8(f₁ − f₋₁) − (f₂ − f₋₂)) / 12h
        # Bounded by the error of the central difference it improves on: an
        # h⁴ estimate would need a third step and is optimistic when the
        # higher derivatives are large (saturated sigmoids).
        return c4, trunc + 1.5 * kappa * big / h, h
    if method == "richardson":
        F = _stencil(ev, name, idx, h, (1.0, -1.0, 0.5, -0.5, 0.25, -0.25), tracker)
        D0 = (F[:, 0] - F[:, 1]) / (2 * h)
        D1 = (F[:, 2] - F[:, 3]) / h
        D2 = (F[:, 4] - F[:, 5]) / (0.5 * h)
        R10 = (4 * D1 - D0) / 3
        R11 = (4 * D2 - D1) / 3
        R2 = (16 * R11 - R10) / 15
        big = np.maximum(np.abs(F).max(axis=1), NOISE_FACTOR * noise / kappa)
        return R2, np.abs(R2 - R11) + 2 * kappa * big / (0.25 * h), h
    raise InvalidArgument(f"method: unknown local method {method!r}")  # unreachable via public API


def _probe_rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(0 if seed is None else seed)


def complex_step_faithful(loss: Callable, params: Mapping[str, np.ndarray], name: str, *,
                          f0: float, eps: float, seed: int | None = 0,
                          evaluator: LossEvaluator | None = None,
                          complex_evaluator: LossEvaluator | None = None) -> tuple[bool, str]:
    """Check that a loss carries a complex perturbation of one group faithfully.

    Two random directions v: the complex-step directional derivative
    Im L(θ + i·h·v)/h must agree with a real central difference along v, the
    real part must reproduce L(θ), and no ``ComplexWarning`` may be raised.
    A loss that calls ``float()``, ``abs``, ``.real``, ``np.maximum``,
    ``np.clip`` or casts to a real dtype fails one of these.

    Parameters
    ----------
    loss : callable
    params : mapping of str to ndarray
    name : str
        The group to probe.
    f0 : float
        L(θ).
    eps : float
        Precision the loss is evaluated in.
    seed : int or None
        Seed of the random directions.
    evaluator, complex_evaluator : LossEvaluator, optional
        Real and complex evaluators to reuse (their call counts include the probe).

    Returns
    -------
    ok : bool
    reason : str
        Why the probe failed ('' when it passed).
    """
    rng = _probe_rng(seed)
    x = np.asarray(params[name], dtype=np.float64)
    if x.size == 0:
        return True, ""
    cev = complex_evaluator if complex_evaluator is not None else LossEvaluator(loss, params, complex_mode=True)
    rev = evaluator if evaluator is not None else LossEvaluator(loss, params)
    cev.context = rev.context = f"while probing whether the loss carries a complex step in {name!r}"
    scale = max(1.0, float(np.max(np.abs(x))))
    for _ in range(2):
        v = rng.standard_normal(x.shape)
        v /= max(np.max(np.abs(v)), 1e-300)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", np.exceptions.ComplexWarning)
                cev.work[name][...] = x + 1j * COMPLEX_STEP * v
                out = cev()
        except (LossEvaluationError, InvalidArgument) as exc:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            return False, f"the loss does not accept complex input ({type(cause).__name__}: {cause})"
        finally:
            cev.work[name][...] = x
        if np.asarray(out).dtype.kind != "c":
            return False, "the loss returned a real number for complex input (the imaginary part was dropped)"
        if not np.isfinite(out):
            return False, "the loss returned a non-finite value for complex input"
        dc = float(np.imag(out)) / COMPLEX_STEP
        if abs(float(np.real(out)) - f0) > 1e3 * eps * max(1.0, abs(f0)):
            return False, "the real part of the loss changed under a complex perturbation"
        h = scale * eps ** (1 / 3)
        orig = rev.work[name].copy()
        try:
            rev.work[name][...] = orig + h * v
            fp = float(rev())
            rev.work[name][...] = orig - h * v
            fm = float(rev())
        finally:
            rev.work[name][...] = orig
        dr = (fp - fm) / (2 * h)
        if not math.isfinite(dr):
            return False, "the loss is not finite near the parameters"
        tol = 1e-4 * (abs(dr) + abs(dc)) + 10 * ROUNDOFF_FACTOR * eps * (abs(fp) + abs(fm)) / h
        if abs(dc - dr) > tol:
            return False, (f"the complex-step directional derivative {dc:.6g} disagrees with real differences "
                           f"{dr:.6g} (the loss drops part of the imaginary perturbation)")
    return True, ""


def differentiate_entries(method: str, loss: Callable, params: Mapping[str, np.ndarray], name: str,
                          idx: np.ndarray, *, f0: float, eps: float,
                          evaluator: LossEvaluator | None = None, noise: float = 0.0,
                          progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Measure the derivative of selected entries of one group with a local rule.

    Returns values, error estimates, steps (each of shape (len(idx),)) and the
    number of loss calls made.
    """
    ev = evaluator or LossEvaluator(loss, params, complex_mode=(method == "complex"))
    before = ev.n_evaluations
    tracker = _Tracker(len(idx), progress)
    ev.context = f"for entries of {name!r} (method {method!r})"
    # Non-finite parameters or loss values give NaN derivatives, which the
    # comparison reports; they must not raise under warnings-as-errors.
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        vals, errs, steps = _local_rule(method, ev, f0, eps, name, np.asarray(idx, dtype=np.intp), tracker, noise)
    return vals, errs, steps, ev.n_evaluations - before


def numerical_gradient(loss: Callable[[Mapping[str, np.ndarray]], Any], params: Mapping[str, Any],
                       method: str = "auto", *, seed: int | None = 0,
                       progress: Progress | None = None) -> NumericalGradient:
    """Numerical gradient of a scalar loss with an error estimate per entry.

    Parameters
    ----------
    loss : callable
        ``loss(params) -> scalar`` taking a dict shaped like ``params``.
    params : mapping of str to array_like
        The point to differentiate at (never modified).
    method : {'auto', 'forward', 'backward', 'central', 'central4', 'richardson', 'complex', \
'scipy-fprime', 'scipy-differentiate'}
        See the module docstring.
    seed : int or None
        Seed of the random directions of the complex-step probe.
    progress : callable, optional
        ``progress(done, total)``, called as entries are measured.

    Returns
    -------
    NumericalGradient

    Examples
    --------
    >>> import numpy as np
    >>> g = numerical_gradient(lambda p: (p["x"] ** 3).sum(), {"x": np.array([1.0, 2.0])})
    >>> np.round(g.values["x"], 10).tolist(), g.methods
    ([3.0, 12.0], {'x': 'complex'})
    """
    from ._validation import check_params_mapping  # local: keeps module import order one-way

    if method not in FULL_METHODS:
        hint = ("; 'directional' compares projections and is run by gradcheck.check_params"
                if method == "directional" else "")
        raise InvalidArgument(f"method: expected one of {list(FULL_METHODS)}, got {method!r}{hint}")
    params = check_params_mapping(params)
    return _numerical_gradient(loss, params, method, seed=seed, progress=progress)


def _numerical_gradient(loss: Callable, params: Mapping[str, np.ndarray], method: str, *,
                        seed: int | None, progress: Progress | None) -> NumericalGradient:
    ev = LossEvaluator(loss, params)
    ev.context = "at the unperturbed parameters"
    f0_raw = ev()
    precision = precision_of(f0_raw)
    eps = float(np.finfo(precision).eps)
    f0 = float(np.real(f0_raw))
    notes: list[str] = []
    noise = estimate_noise(ev, f0, seed) if method != "complex" and math.isfinite(f0) else 0.0
    if precision != np.float64:
        notes.append(f"the loss returns {precision} values: steps and tolerances use {precision} precision")
    if method.startswith("scipy-"):
        from .scipy_backend import scipy_gradient

        values, errors, steps = scipy_gradient(method, ev, f0, eps, progress, noise=noise)
        return NumericalGradient(values, errors, steps, {k: method for k in params}, f0, precision,
                                 ev.n_evaluations, notes, noise)
    values, errors, steps, methods = {}, {}, {}, {}
    tracker_total = sum(np.size(v) for v in params.values())
    done = 0
    cev = LossEvaluator(loss, params, complex_mode=True) if method in ("auto", "complex") else None
    for name, arr in params.items():
        chosen = method
        if method == "auto":
            if not math.isfinite(f0):
                chosen = "richardson"
            else:
                ok, reason = complex_step_faithful(loss, params, name, f0=f0, eps=eps, seed=seed,
                                                   evaluator=ev, complex_evaluator=cev)
                chosen = "complex" if ok else "richardson"
                if not ok:
                    notes.append(f"{name}: complex step not used ({reason}); used Richardson extrapolation")
        sub = (lambda d, t, _o=done: progress(_o + d, tracker_total)) if progress else None
        vals, errs, stp, n = differentiate_entries(
            chosen, loss, params, name, np.arange(np.size(arr)), f0=f0, eps=eps,
            evaluator=cev if chosen == "complex" else ev, noise=noise, progress=sub)
        done += np.size(arr)
        shape = np.shape(arr)
        values[name], errors[name], steps[name] = vals.reshape(shape), errs.reshape(shape), stp.reshape(shape)
        methods[name] = chosen
    n_evals = ev.n_evaluations + (cev.n_evaluations if cev is not None else 0)
    return NumericalGradient(values, errors, steps, methods, f0, precision, n_evals, notes, noise)

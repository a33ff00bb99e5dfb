"""Convergence diagnostics along a random direction: the Taylor remainder test and a step-size sweep.

Both diagnostics move one parameter group along a seeded random direction v
(standard normal, the group's shape; every other group stays put) and look
at how the loss changes, so they cost a handful of loss calls per group,
whatever its size.

Taylor remainder test
    With g the gradient under test,

        r0(ε) = |L(θ + εv) − L(θ)|              = O(ε)
        r1(ε) = |L(θ + εv) − L(θ) − ε⟨g, v⟩|

    r1 is O(ε²) when g is the gradient, and ≈ ε·|⟨∇L − g, v⟩| (order 1) when
    it is not, however small the mismatch: halving ε must quarter r1.  The
    observed order is the least-squares slope of log r1 against log ε
    (Farrell, Ham, Funke & Rognes, SIAM J. Sci. Comput. 35, 2013, who call it
    the Taylor test).

Step-size sweep
    The error of a numerical directional derivative D(h) against ⟨g, v⟩ for
    h from 1e-1 to 1e-14 (v scaled to unit length, so h is the distance
    moved).  Forward differences have truncation error ∝ h and central ones
    ∝ h², while round-off grows as ε_mach·|L|/h; the error curve is a V whose
    bottom is the best step (Press et al., Numerical Recipes, 3rd ed., §5.7).
    The complex step Im L(θ + ihv)/h subtracts nothing and stays accurate down
    to the smallest h (Squire & Trapp, SIAM Review 40, 1998).

Directions are drawn from ``numpy.random.default_rng(seed)`` for every group
in ``params`` order, whichever groups are selected, so a group's direction
depends only on the seed and the parameter shapes.  They are not kept: each
is drawn again in chunks where it is read (⟨g, v⟩, the stacked passes of
check_network), so a large group's direction never takes 8 bytes per
parameter at once (the loss-call path still forms it whole, as it moves the
whole group at each call).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import numpy as np

from .._validation import (
    as_numeric_array,
    check_choices,
    check_grads_mapping,
    check_params_mapping,
    check_seed,
    describe,
)
from ..errors import InvalidArgument, LossEvaluationError
from ..numerical.directions import SeededDirection, seeded_directions
from ..numerical.evaluator import LossEvaluator, complex_step_faithful, loss_at_rest
from ..report.records import SweepResult, TaylorResult

__all__ = ["taylor_test", "step_sweep", "Along", "LossCalls", "DEFAULT_EPSILONS", "DEFAULT_STEPS", "SWEEP_METHODS"]

#: ε for the Taylor test: 1e-1 … 1e-7, half a decade apart.
DEFAULT_EPSILONS = np.logspace(-1, -7, 13)
#: h for the step-size sweep: 1e-1 … 1e-14, half a decade apart.
DEFAULT_STEPS = np.logspace(-1, -14, 27)
SWEEP_METHODS = ("forward", "central", "complex")

#: r1 is resolved when it exceeds this many ε_mach·max(1, |L|): the two loss
#: values it subtracts are each rounded, and a loss is a long sum of rounded
#: terms, so a few hundred ε_mach·|L| can still be pure round-off.
ROUNDOFF_FLOOR = 1e3
#: A correct gradient gives order 2; 1.8 leaves room for round-off in the
#: smallest resolved r1 and for the ε³ term in the largest.
PASS_ORDER = 1.8
#: The fit spans at most this many decades of ε above the smallest resolved ε …
FIT_DECADES = 2.0
#: … but at least this many points when the resolved run has them.
MIN_FIT_POINTS = 3


# -- validation --------------------------------------------------------------


def _validate(loss: Any, params: Any, grads: Any, seed: Any,
              groups: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    if not callable(loss):
        raise InvalidArgument(f"loss: expected a callable loss(params) -> scalar, got {describe(loss)}")
    params = check_params_mapping(params)
    grads = check_grads_mapping(grads, params)
    check_seed(seed)
    return params, grads, _select_groups(groups, params)


def _select_groups(groups: Any, params: dict[str, np.ndarray]) -> list[str]:
    if groups is None:
        return list(params)
    names = [groups] if isinstance(groups, str) else groups
    try:
        names = list(names)
    except TypeError:
        raise InvalidArgument(f"groups: expected a list of parameter names such as {list(params)[:2]}, "
                              f"got {describe(groups)}") from None
    if not names:
        raise InvalidArgument(f"groups: expected at least one parameter name, got an empty list; "
                              f"pass groups=None to test every group of {list(params)}")
    unknown = [g for g in names if not isinstance(g, str) or g not in params]
    if unknown:
        raise InvalidArgument(f"groups: unknown parameter names {unknown}; expected names from params: "
                              f"{list(params)}")
    return [k for k in params if k in names]


def _grid(label: str, values: Any, default: np.ndarray, minimum: int) -> np.ndarray:
    """Validate a sequence of distinct positive finite numbers (ε or h)."""
    if values is None:
        return default.copy()
    arr = np.array(as_numeric_array(label, values), dtype=np.float64)
    if arr.ndim != 1 or arr.size < minimum:
        example = f"numpy.logspace({np.log10(default[0]):.0f}, {np.log10(default[-1]):.0f}, {default.size})"
        raise InvalidArgument(f"{label}: expected a 1-D sequence of at least {minimum} positive numbers such as "
                              f"{example}, got {describe(values)}")
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise InvalidArgument(f"{label}: expected finite positive values, got {arr.tolist()}")
    if np.unique(arr).size != arr.size:
        raise InvalidArgument(f"{label}: expected distinct values, got duplicates in {arr.tolist()}")
    return arr


def _directions(params: dict[str, np.ndarray], seed: int | None) -> dict[str, SeededDirection]:
    """Every group's direction, kept as a generator state: drawn again in chunks wherever it is read."""
    return seeded_directions({k: np.shape(p) for k, p in params.items()}, seed)


def _along(ev: LossEvaluator, name: str, base: np.ndarray, v: np.ndarray, t: float | complex) -> Any:
    """L at ``base + t·v`` in group ``name`` of the evaluator's private copy; the copy is restored."""
    ev.work[name][...] = base + t * v
    try:
        return ev()
    finally:
        ev.work[name][...] = base


class Along(Protocol):
    """How the diagnostics evaluate L(θ + t·v) along a direction v of one group.

    ``along(name, v, ts, context)`` returns the values at every t of ``ts``
    (complex when ``ts`` is) and L(θ) as the same evaluation gives it, which
    the differences subtract.  ``complex_safe`` says whether the loss carries
    a complex step faithfully by construction (no probe needed).
    :class:`LossCalls` calls the loss once per t; check_network passes
    :class:`gradcheck.numerical.directions.NetworkDirections`, which stacks
    every t into passes from the perturbed layer.
    """

    complex_safe: bool

    def along(self, name: str, v: np.ndarray | SeededDirection, ts: np.ndarray,
              context: str = "") -> tuple[np.ndarray, Any]: ...


class LossCalls:
    """L along v by one call of the loss per step, on the evaluators' private copies."""

    complex_safe = False

    def __init__(self, ev: LossEvaluator, f0: float, complex_ev: LossEvaluator | None = None) -> None:
        self.ev, self.f0, self.cev = ev, f0, complex_ev

    def along(self, name: str, v: np.ndarray | SeededDirection, ts: np.ndarray,
              context: str = "") -> tuple[np.ndarray, Any]:
        """L(θ + t·v) for every t (one call each) and L(θ) as measured at the start."""
        if isinstance(v, SeededDirection):
            v = v.full()  # the loss takes the whole moved group at every call
        if np.iscomplexobj(ts):
            if self.cev is None:
                self.cev = LossEvaluator(self.ev.raw_loss, self.ev.work, complex_mode=True)
            ev = self.cev
        else:
            ev = self.ev
        base = ev.work[name].copy()
        ev.context = context
        return np.array([_along(ev, name, base, v, t) for t in ts]), self.f0


def _probe_route(source: Along, name: str) -> Callable[[np.ndarray, Any], Any]:
    """L(θ + t·v) in group ``name`` by ``source`` (one t per request), errors as LossEvaluationError."""
    def at(v: np.ndarray, t: Any) -> Any:
        try:
            return source.along(name, v, np.array([t]), "complex-step probe")[0][0]
        except Exception as exc:  # noqa: BLE001 - chained: the probe reads the cause (ComplexWarning included)
            raise LossEvaluationError(f"the loss raised {type(exc).__name__} while probing whether it "
                                      f"carries a complex step in {name!r}: {exc}") from exc
    return at


def _start(loss: Callable, params: dict[str, np.ndarray]) -> tuple[LossEvaluator, float, float, list[str]]:
    """An evaluator, L(θ), ε_mach of the loss's precision, and notes about them."""
    ev = LossEvaluator(loss, params)
    f0, _, eps = loss_at_rest(ev)
    notes = [] if math.isfinite(f0) else [f"the loss is {f0} at the given parameters: nothing can be measured"]
    return ev, f0, eps, notes


# -- Taylor remainder test ---------------------------------------------------


def _fit_window(eps: np.ndarray, r1: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Indices of the ε the order is fitted over (the rule is in :func:`taylor_test`'s Notes)."""
    desc = np.argsort(-eps)
    with np.errstate(invalid="ignore"):
        resolved = np.isfinite(r1[desc]) & (r1[desc] > floor[desc])
    best, start = (0, 0), None
    for i, ok in enumerate(np.append(resolved, False)):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    run = desc[best[0]:best[1]]
    if run.size < 2:
        return run[:0]
    # The relative slack keeps a grid point at exactly FIT_DECADES inside despite rounding.
    window = run[eps[run] <= eps[run[-1]] * 10 ** FIT_DECADES * (1 + 1e-9)]
    return window if window.size >= MIN_FIT_POINTS else run[-MIN_FIT_POINTS:]


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y against x."""
    dx = x - x.mean()
    return float(np.sum(dx * (y - y.mean())) / np.sum(dx * dx))


def taylor_test(loss: Callable[[Mapping[str, np.ndarray]], Any], params: Mapping[str, Any],
                grads: Mapping[str, Any], *, epsilons: Any = None, seed: int | None = 0,
                groups: Iterable[str] | str | None = None, along: Along | None = None) -> list[TaylorResult]:
    """The Taylor remainder test of a gradient, one parameter group at a time.

    For each group a seeded standard-normal direction v (the group's shape,
    other groups zero) is drawn and r1(ε) = |L(θ + εv) − L(θ) − ε⟨g, v⟩| is
    measured for every ε; the observed order of r1 is ≈ 2 for a correct
    gradient and ≈ 1 for a wrong one (see the module docstring).

    Parameters
    ----------
    loss : callable
        ``loss(params) -> scalar``; receives a dict of private float64 copies
        with the keys and shapes of ``params``.
    params : mapping of str to array_like
        Where to test (never modified).
    grads : mapping of str to array_like
        The gradient under test: same keys and shapes as ``params``.
    epsilons : array_like of shape (k,), k >= 2, optional
        Distinct positive ε; default ``DEFAULT_EPSILONS`` (1e-1 … 1e-7, 13 points).
    seed : int or None
        Seed of the random directions.
    groups : str or sequence of str, optional
        Only test these groups (default: all, in ``params`` order).
    along : Along, optional
        How L(θ + ε·v) is evaluated (default: one call of ``loss`` per ε;
        :func:`gradcheck.check_network` passes its network's stacked passes).

    Returns
    -------
    list of TaylorResult
        One per tested group, in ``params`` order.

    Raises
    ------
    InvalidArgument
        Bad arguments (see :func:`gradcheck.check_params`), bad ``epsilons``,
        ``seed`` or ``groups``.
    LossEvaluationError
        The loss raised; the original exception is chained.

    Notes
    -----
    *Which ε the order is fitted over.*  r1(ε) is resolved when it is finite
    and above the round-off floor 1e3·ε_mach·max(1, |L(θ)|, |L(θ + εv)|).
    Round-off can lift an isolated point above the floor, so only the longest
    contiguous run of resolved ε is kept (on a tie, the run at larger ε).
    The asymptotic regime is at small ε: the ε³ term bends the curve at
    large ε (the nonlinear regime), and a small gradient error δ = ⟨∇L − g, v⟩
    dominates r1 only below ε ≈ |δ| / |½ vᵀ∇²L v|.  So the fit takes the
    smallest ε of the run and every ε of the run at most two decades above
    it, or the three smallest of the run if that leaves fewer; the larger ε
    are dropped.  With the default ε that is five points, half a decade apart.

    *Verdict.*  ``passed`` is ``order >= 1.8``.  When no ε resolves r1 at
    all (a loss linear along v, or a remainder below round-off everywhere)
    and every value is finite, no order can be measured (``order`` is NaN)
    and the test passes: the linear term ε⟨g, v⟩ then reproduces the change
    of the loss to working precision, |δ| ≲ floor / max(ε).  One resolved ε,
    or non-finite values, fail with a note saying why.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([0.5, -1.0, 2.0])}
    >>> loss = lambda p: np.sum(np.sin(p["w"]))
    >>> [r] = taylor_test(loss, params, {"w": np.cos(params["w"])})
    >>> r.passed, round(r.order, 1)
    (True, 2.0)
    >>> [r] = taylor_test(loss, params, {"w": 1.01 * np.cos(params["w"])})
    >>> r.passed, round(r.order, 1)
    (False, 1.0)
    """
    params, grads, names = _validate(loss, params, grads, seed, groups)
    eps = _grid("epsilons", epsilons, DEFAULT_EPSILONS, 2)
    directions = _directions(params, seed)
    ev, f0, eps_mach, start_notes = _start(loss, params)
    source = along if along is not None else LossCalls(ev, f0)
    results = []
    for name in names:
        v = directions[name]
        with np.errstate(invalid="ignore", over="ignore"):
            gv = v.dot(grads[name])
        found, rest = source.along(name, v, eps, f"along a random direction in {name!r} (Taylor test)")
        values = np.real(found).astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            r0 = np.abs(values - rest)
            r1 = np.abs((values - rest) - eps * gv)
            floor = ROUNDOFF_FLOOR * eps_mach * np.maximum(1.0, np.maximum(abs(f0), np.abs(values)))
        window = _fit_window(eps, r1, floor)
        used = np.zeros(eps.size, dtype=bool)
        used[window] = True
        notes = list(start_notes)
        if window.size:
            order = _slope(np.log(eps[window]), np.log(r1[window]))
            passed = order >= PASS_ORDER
            lo, hi = eps[window].min(), eps[window].max()
            notes.append(f"order fitted over ε = {lo:.3g} … {hi:.3g} ({window.size} points)")
            if not passed:
                k = window[np.argmin(eps[window])]
                rate = (values[k] - rest) / eps[k]
                notes.append(f"r1 shrinks like ε^{order:.2f}, not ε²: along v the gradient predicts a slope "
                             f"⟨g, v⟩ = {gv:.10g} but the loss changes at ≈ {rate:.10g}")
        else:
            order = math.nan
            finite = math.isfinite(gv) and bool(np.all(np.isfinite(r1)))
            with np.errstate(invalid="ignore"):
                at_floor = finite and bool(np.all(r1 <= floor))
            passed = at_floor
            if at_floor:
                notes.append("r1 stays at the round-off floor for every ε: ⟨g, v⟩ matches the loss to working "
                             "precision, so no order can be (or needs to be) measured")
            elif not math.isfinite(gv):
                notes.append(f"⟨g, v⟩ is {gv}: grads[{name!r}] has non-finite entries")
            elif math.isfinite(f0):  # a non-finite L(θ) is already in the notes
                notes.append("r1 rises above round-off at only one ε: too few points to measure an order; "
                             "pass larger or more epsilons" if finite else
                             "the loss is not finite along v for some ε; try smaller epsilons")
        results.append(TaylorResult(name, eps.copy(), r0, r1, order, bool(passed), int(window.size),
                                    v.norm, used, floor, gv, f0, notes))
    return results


# -- step-size sweep ---------------------------------------------------------


def _estimates(source: Along, name: str, v: SeededDirection, hs: np.ndarray,
               methods: list[str]) -> dict[str, np.ndarray]:
    """D(h) for every step and method, along the unit direction ``v`` of group ``name``."""
    out = {}
    if "forward" in methods or "central" in methods:
        # forward and central share L(θ + hv).
        ts = np.r_[hs, -hs] if "central" in methods else hs
        found, rest = source.along(name, v, ts, f"along a random direction in {name!r} (step sweep)")
        values = np.real(found).astype(np.float64)
        plus = values[: hs.size]
        if "forward" in methods:
            out["forward"] = (plus - rest) / hs
        if "central" in methods:
            out["central"] = (plus - values[hs.size:]) / (2 * hs)
    if "complex" in methods:
        found, _ = source.along(name, v, 1j * hs, f"along a random direction in {name!r} (complex step sweep)")
        out["complex"] = np.imag(found).astype(np.float64) / hs
    return out


def step_sweep(loss: Callable[[Mapping[str, np.ndarray]], Any], params: Mapping[str, Any],
               grads: Mapping[str, Any], *, steps: Any = None,
               methods: Iterable[str] = SWEEP_METHODS, seed: int | None = 0,
               groups: Iterable[str] | str | None = None, along: Along | None = None) -> list[SweepResult]:
    """Error of numerical directional derivatives against ⟨g, v⟩ as the step h varies.

    For each group, v is the seeded random direction of :func:`taylor_test`
    scaled to unit length, and each method estimates the derivative along v:

    ========= =============================== ======================
    method    D(h)                            loss calls per step
    ========= =============================== ======================
    forward   (L(θ + hv) − L(θ)) / h          1
    central   (L(θ + hv) − L(θ − hv)) / 2h    2
    complex   Im L(θ + ihv) / h               1
    ========= =============================== ======================

    The complex curve is dropped, with a note, for a group where the loss
    does not carry a complex perturbation (it raises, returns a real number,
    emits ``ComplexWarning`` or disagrees with real differences; see
    :func:`gradcheck.numerical.evaluator.complex_step_faithful`).

    Parameters
    ----------
    loss : callable
        ``loss(params) -> scalar``; receives a dict of private float64 (or
        complex128) copies with the keys and shapes of ``params``.
    params : mapping of str to array_like
        Where to measure (never modified).
    grads : mapping of str to array_like
        The gradient to compare with: same keys and shapes as ``params``.
    steps : array_like of shape (k,), optional
        Distinct positive h; default ``DEFAULT_STEPS`` (1e-1 … 1e-14, 27 points).
    methods : sequence of {'forward', 'central', 'complex'}
    seed : int or None
        Seed of the random directions.
    groups : str or sequence of str, optional
        Only sweep these groups (default: all, in ``params`` order).
    along : Along, optional
        How L(θ + t·v) is evaluated (default: one call of ``loss`` per step;
        :func:`gradcheck.check_network` passes its network's stacked passes,
        which carry the complex step by construction and skip the probe).

    Returns
    -------
    list of SweepResult
        One per swept group, in ``params`` order.

    Raises
    ------
    InvalidArgument
        Bad arguments, ``steps``, ``methods``, ``seed`` or ``groups``.
    LossEvaluationError
        The loss raised on real input; the original exception is chained.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([0.5, -1.0, 2.0])}
    >>> loss = lambda p: np.sum(np.sin(p["w"]))
    >>> [s] = step_sweep(loss, params, {"w": np.cos(params["w"])})
    >>> s.best_error["complex"] < 1e-14, 1e-7 < s.best_step["central"] < 1e-3
    (True, True)
    """
    params, grads, names = _validate(loss, params, grads, seed, groups)
    hs = _grid("steps", steps, DEFAULT_STEPS, 1)
    methods = tuple(dict.fromkeys(check_choices("methods", methods, SWEEP_METHODS)))
    directions = _directions(params, seed)
    ev, f0, eps_mach, start_notes = _start(loss, params)
    # A complex copy only for the probe, or for the loss calls themselves; the probe of a network
    # that is not complex-safe by construction runs on its passes (blocks of samples), not the loss.
    probe = "complex" in methods and (along is None or not along.complex_safe)
    cev = LossEvaluator(loss, params, complex_mode=True) if probe and along is None else None
    source = along if along is not None else LossCalls(ev, f0, cev)
    tiny = np.finfo(np.float64).tiny
    results = []
    for name in names:
        v = directions[name].unit()
        with np.errstate(invalid="ignore", over="ignore"):
            gv = v.dot(grads[name])
        notes = list(start_notes)
        if math.isfinite(f0):
            active = list(methods)
            if probe:
                if cev is not None:
                    ev.context = cev.context = f"along random directions in {name!r} (complex-step probe)"
                ok, reason = complex_step_faithful(loss, params, name, f0=f0, eps=eps_mach, seed=seed,
                                                   evaluator=ev, complex_evaluator=cev,
                                                   along=None if along is None else _probe_route(along, name))
                if not ok:
                    active.remove("complex")
                    notes.append(f"complex step dropped: {reason}")
            estimates = _estimates(source, name, v, hs, active)
        else:
            estimates = {m: np.full(hs.size, math.nan) for m in methods}
        errors, best_step, best_error = {}, {}, {}
        for m in [m for m in methods if m in estimates]:
            with np.errstate(invalid="ignore", over="ignore"):
                err = np.abs(estimates[m] - gv) / max(abs(gv), tiny)
            errors[m] = err
            ranked = np.where(np.isnan(err), np.inf, err)
            k = int(np.argmin(ranked))
            best_step[m], best_error[m] = (float(hs[k]), float(err[k])) if np.isfinite(ranked[k]) \
                else (math.nan, math.nan)
        if gv == 0:
            notes.append("⟨g, v⟩ = 0: the errors are absolute errors divided by the smallest normal float "
                         "(2.2e-308)")
        results.append(SweepResult(name, hs.copy(), errors, best_step, best_error, gv, f0, notes))
    return results

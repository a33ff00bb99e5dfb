"""Calls of a user's loss: the private copy it is evaluated on, the loss at rest, its noise, complex safety.

Every numerical method perturbs one entry at a time in a private float64 (or
complex128) copy of the parameters held by a :class:`LossEvaluator`, and
restores it.  :func:`loss_at_rest` is the first call of every measurement (the
loss at the unperturbed parameters, its precision and ε); :func:`estimate_loss_noise`
measures the noise σ of the loss values; :func:`complex_step_faithful` decides
whether ``"auto"`` may use the complex step.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast

import numpy as np

from ..errors import InvalidArgument, LossEvaluationError
from .rules import COMPLEX_STEP, ROUNDOFF_FACTOR

__all__ = ["LossEvaluator", "AtRest", "loss_at_rest", "as_scalar", "precision_of", "estimate_loss_noise",
           "complex_step_faithful", "read_only", "mutation_error", "repeat_at_rest"]

# Loss results accepted without the full as_scalar check: the hot loop calls
# the loss millions of times, and these types are scalars by construction.
_SCALAR_TYPES = frozenset((float, complex, np.float64, np.float32, np.complex128, np.complex64))


class LossEvaluator:
    """Calls a user's loss on a private, perturbable copy of the parameters.

    The caller's arrays are copied once; an entry is perturbed in place in the
    copy and restored after the call, so no per-call copy of the parameters is
    made.  The loss receives read-only views of the copy: a loss that writes
    into its argument would corrupt every later evaluation, so the write raises
    and becomes a :class:`~gradcheck.errors.LossEvaluationError` naming the
    parameter.  The views cost nothing per call (a copy or a comparison after
    each call would cost O(size of θ), as much as a small loss itself).

    Parameters
    ----------
    loss : callable
        ``loss(params: dict[str, ndarray]) -> scalar``.
    params : mapping of str to ndarray
        Validated parameter arrays (never modified).
    complex_mode : bool
        Keep the copy in complex128 (for the complex step).
    vectorized : bool
        The loss takes parameter sets stacked along a leading axis (see :meth:`batch`).
    """

    def __init__(self, loss: Callable[[Mapping[str, np.ndarray]], Any],
                 params: Mapping[str, np.ndarray], complex_mode: bool = False,
                 vectorized: bool = False) -> None:
        dtype = np.complex128 if complex_mode else np.float64
        self.raw_loss = loss
        self.loss = _OneOfBatch(loss) if vectorized else loss
        self.complex_mode = complex_mode
        # C order, so that reshape(-1) below is a view of the working copy.
        self.work = {k: np.array(v, dtype=dtype, copy=True, order="C") for k, v in params.items()}
        self.flat = {k: v.reshape(-1) for k, v in self.work.items()}
        self.views = {k: read_only(v) for k, v in self.work.items()}
        self.n_evaluations = 0
        self.context = ""

    def _failed(self, exc: Exception) -> LossEvaluationError:
        if isinstance(exc, ValueError) and "read-only" in str(exc):
            written = self._written()
            if written:
                return mutation_error(written, exc)
        where = f" {self.context}" if self.context else ""
        return LossEvaluationError(
            f"the loss raised {type(exc).__name__}: {exc} (while gradcheck evaluated it{where})")

    def _written(self) -> list[str]:
        """The groups the loss writes into: it runs once more on writable copies, compared after the call."""
        copies = {k: v.copy() for k, v in self.work.items()}
        with contextlib.suppress(Exception):  # only which arrays changed matters here
            self.loss(copies)
        return [k for k, v in copies.items() if not np.array_equal(v, self.work[k], equal_nan=True)]

    def __call__(self) -> Any:
        """The loss at the current (perturbed) copy, as a scalar."""
        self.n_evaluations += 1
        try:
            # A shallow dict per call: a loss that rebinds keys cannot break our views.
            out = self.loss(dict(self.views))
        except InvalidArgument:
            raise
        except Exception as exc:
            raise self._failed(exc) from exc
        return out if type(out) in _SCALAR_TYPES else as_scalar(out)

    def batch(self, arrays: dict[str, np.ndarray], size: int) -> np.ndarray:
        """A vectorized loss at ``size`` parameter sets stacked along a leading axis.

        Returns
        -------
        ndarray of shape (size,)
        """
        self.n_evaluations += size
        try:
            out = self.raw_loss(arrays)
        except Exception as exc:
            raise self._failed(exc) from exc
        out = np.asarray(out)
        if out.shape != (size,) or out.dtype.kind not in "biufc":
            got = f"an array of shape {out.shape}" if out.dtype.kind in "biufc" else type(out).__name__
            raise InvalidArgument(
                f"loss: with vectorized=True the loss must return an array of shape ({size},), one value per "
                f"stacked parameter set, got {got}; "
                "pass vectorized=False for a loss of one parameter set")
        return out

    def at(self, name: str, i: int, value: float | complex) -> Any:
        """The loss with entry ``i`` of group ``name`` set to ``value``."""
        flat = self.flat[name]
        old = flat[i]
        flat[i] = value
        try:
            return self()
        finally:
            flat[i] = old


def read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (writes to ``a`` itself show through it)."""
    view = a.view()
    view.flags.writeable = False
    return view


def mutation_error(names: list[str], exc: Exception | None = None) -> LossEvaluationError:
    """The error for a loss that writes into the parameters it receives."""
    which = ", ".join(f"params[{k!r}]" for k in names)
    cause = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    return LossEvaluationError(
        f"the loss writes into its argument {which}{cause}: every later evaluation would see the changed values; "
        f"copy before modifying (e.g. w = p[{names[0]!r}].copy())")


class _OneOfBatch:
    """A vectorized loss called on one parameter set (a batch of one)."""

    def __init__(self, loss: Callable) -> None:
        self.loss = loss

    def __call__(self, params: Mapping[str, np.ndarray]) -> Any:
        out = np.asarray(self.loss({k: v[None] for k, v in params.items()}))
        if out.shape != (1,):
            raise InvalidArgument(
                f"loss: with vectorized=True the loss must return one value per stacked parameter set, shape (1,) "
                f"for a batch of one, got shape {out.shape}; pass vectorized=False for a loss of one parameter set")
        return out[0]


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
    return cast(np.generic, arr.reshape(())[()])


def precision_of(value: np.generic) -> np.dtype:
    """The real floating precision a loss result was computed in."""
    dtype = np.asarray(value).dtype
    if dtype.kind == "c":
        return np.finfo(dtype).dtype
    if dtype.kind == "f" and dtype.itemsize < 8:
        return dtype
    return np.dtype(np.float64)


class AtRest(NamedTuple):
    """The loss at the unperturbed parameters: what every measurement starts from."""

    value: float
    """L(θ) (the real part of what the loss returned)."""
    precision: np.dtype
    """The real floating precision the loss computes in (:func:`precision_of`)."""
    eps: float
    """Machine epsilon of ``precision``."""


def loss_at_rest(ev: LossEvaluator) -> AtRest:
    """Evaluate the loss once at the evaluator's unperturbed copy.

    Parameters
    ----------
    ev : LossEvaluator
        At rest (no entry perturbed); the call is counted in its ``n_evaluations``.

    Returns
    -------
    AtRest
        ``(value, precision, eps)``.

    Examples
    --------
    >>> ev = LossEvaluator(lambda p: np.sum(p["x"].astype(np.float32) ** 2), {"x": np.array([1.0, 2.0])})
    >>> loss_at_rest(ev)
    AtRest(value=5.0, precision=dtype('float32'), eps=1.1920928955078125e-07)
    """
    ev.context = "at the unperturbed parameters"
    raw = ev()
    precision = precision_of(raw)
    return AtRest(float(np.real(raw)), precision, float(np.finfo(precision).eps))


def repeat_at_rest(ev: LossEvaluator, f0: float, calls: int,
                   context: str = "once more at the unperturbed parameters") -> tuple[float, float] | None:
    """Call the loss ``calls`` more times at rest; the first value that differs from ``f0``.

    Parameters
    ----------
    ev : LossEvaluator
        At rest.
    f0 : float
        L(θ) from its first call.
    calls : int
    context : str
        Where the calls happen, for an error message.

    Returns
    -------
    (f0, other) or None
        Two different values at the same θ (the loss is not deterministic), or None when all agree.
    """
    ev.context = context
    for _ in range(calls):
        again = float(np.real(ev()))
        if again != f0 and not (math.isnan(again) and math.isnan(f0)):
            return f0, again
    return None


def estimate_loss_noise(ev: LossEvaluator, f0: float, seed: int | None = 0, m: int = 8) -> float:
    """σ, the standard deviation of the rounding noise in the loss values, measured.

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
    rng = _probe_rng(seed)
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
    h = max(1.0, float(np.max(np.abs(x)))) * eps ** (1 / 3)
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
        # rev's copy of this group equals x at rest, as cev's does.
        try:
            rev.work[name][...] = x + h * v
            fp = float(rev())
            rev.work[name][...] = x - h * v
            fm = float(rev())
        finally:
            rev.work[name][...] = x
        dr = (fp - fm) / (2 * h)
        if not math.isfinite(dr):
            return False, "the loss is not finite near the parameters"
        tol = 1e-4 * (abs(dr) + abs(dc)) + 10 * ROUNDOFF_FACTOR * eps * (abs(fp) + abs(fm)) / h
        if abs(dc - dr) > tol:
            return False, (f"the complex-step directional derivative {dc:.6g} disagrees with real differences "
                           f"{dr:.6g} (the loss drops part of the imaginary perturbation)")
    return True, ""

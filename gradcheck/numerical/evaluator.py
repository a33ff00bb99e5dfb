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
import functools
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast

import numpy as np

from ..errors import InvalidArgument, LossEvaluationError
from .noise_line import NoiseDirection, at_rest, noise_direction, restore, write_point
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
        # What the copy was made from (read, never written): θ is restored from it a chunk at a time.
        self.source = params
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
    if np.iscomplexobj(raw) and np.imag(raw) != 0:
        # At real parameters a real loss has no imaginary part; one that does is not the function to check.
        raise InvalidArgument(f"loss: returned the complex value {complex(raw)!r} at the real parameters; a loss "
                              "must be real-valued: return a real number (e.g. its .real, if that is the loss)")
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


def estimate_loss_noise(ev: LossEvaluator, f0: float, seed: int | None = 0, m: int = 8,
                        still: Mapping[str, np.ndarray] | None = None,
                        scales: Mapping[str, float] | None = None) -> float:
    """σ, the standard deviation of the rounding noise in the loss values, measured.

    The loss is evaluated at m + 1 points θ + (i + ½)·s·v (i = −m/2 … m/2, v a
    seeded random direction, s = 1e-6·max(1, |θ|); θ itself is left out, since a
    loss varying on a scale far below s would put one spike there, which looks
    like noise to every difference order); the fourth differences of
    those values cancel the smooth part to O(s⁴) and leave the noise, whose
    level is σ = (γ₄ · mean((Δ⁴f)²))^½ with γ₄ = (4!)²/8!.  This is the
    ECnoise idea of Moré & Wild, "Estimating computational noise", SIAM J. Sci.
    Comput. 33 (2011).  A loss such as ½Σ(a − y)² near a good fit has noise
    far above ε·|L|: it is rounded at the scale of a, not of (a − y)².

    ``still`` (per group, a boolean array) names entries the line must not
    move: those whose move could cross a kink (ReLU), where the fourth
    differences would measure the kink instead of the noise.
    As in ECnoise, the levels σ_k of the 3rd, 4th and 5th differences must
    agree (within a factor 4) for σ₄ to be noise: a loss that varies on a scale
    below s (a parameter of size 1e-8) gives differences that are its smooth
    part, not noise, and the line is measured again with s/100 (twice at
    most; then the smallest σ₄ seen).  Levels below 100ε·max|f| are taken as
    they are (rounding).

    ``scales`` replaces the 1 of max(1, |θ|) per group (the ``typical_scale`` option).

    A loss that varies on a scale far below s in one group (a first layer of
    weights of scale 1e-8) can give differences whose levels agree although they
    are its smooth part: the joint line read σ = 6e-3 on a loss of 0.46.  So
    when the joint reading is above rounding, every group's own line is
    measured too; noise reads alike along any line, so readings more than
    ``GROUP_NOISE_RATIO`` (16) times below the joint one show that it came from
    such a group, and the largest of them is σ.  (A loss whose noise enters
    through one group only would then be under-read; the loss of a network, the
    case this serves, has no such noise.)

    Returns
    -------
    float
        σ (0 when the loss is exactly reproducible along the line).
    """
    # θ is read back from the arrays the copy was made from when it still holds them (a copy otherwise);
    # v is drawn again a chunk at a time for every point: nothing of size P is kept.
    source: Mapping[str, Any] = ev.source if at_rest(ev.flat, ev.source) else \
        {k: v.copy() for k, v in ev.work.items()}
    line = noise_direction(source, seed, still, scales)
    ev.context = "while measuring the loss's rounding noise"
    sigma, rounding = _line_noise(ev, source, line, list(source), f0, m)
    if rounding or len(line.moving) < 2:
        return sigma
    # Noise does not depend on the direction; a loss varying on a scale below the line's step in one
    # group does, and its smooth part reads as noise with consistent difference levels.  Lines along
    # one group each expose it: readings far below the joint one come from groups the joint line's
    # step resolves, and the largest of those is the noise.
    alone = [_line_noise(ev, source, line, [g], f0, m)[0] for g in line.moving]
    resolved = [s for s in alone if s < sigma / GROUP_NOISE_RATIO]
    return max(resolved) if resolved else sigma


#: A group's own noise line reading this many times below the joint line's marks the joint reading as
#: the smooth part of a loss that varies faster than the line's step in another group.  A noise level
#: from the few differences of one line varies by a factor of about 2 between lines; 16 is far beyond.
GROUP_NOISE_RATIO = 16.0


def _line_noise(ev: LossEvaluator, source: Mapping[str, Any], line: NoiseDirection, groups: list[str], f0: float,
                m: int) -> tuple[float, bool]:
    """σ along θ + (i + ½)·s·v moving ``groups``, s shrinking while the levels disagree; and whether it is rounding.

    ``source`` holds θ; the working copy is at rest on entry and on return.
    """
    seen = []
    for shrink in (1.0, 1e-2, 1e-4):
        values = []
        try:
            for i in range(-(m // 2), m // 2 + 1):
                # Every group is written before the call: the loss sees one consistent point.
                write_point(ev.flat, source, line, (i + 0.5) * shrink, groups)
                values.append(float(np.real(ev())))
        except LossEvaluationError:
            # The measurement itself will hit the same failure and report it with
            # the entry it perturbed; here there is nothing more useful to say.
            return 0.0, True
        finally:
            restore(ev.flat, source, groups)
        F = np.asarray(values)
        levels = {k: _noise_level(F, k) for k in (3, 4, 5)}
        if not all(math.isfinite(v) for v in levels.values()):
            return 0.0, True
        seen.append(levels[4])
        spread = max(levels.values()) / max(min(levels.values()), 1e-300)
        rounding = levels[4] <= 100 * float(np.finfo(np.float64).eps) * max(float(np.max(np.abs(F))), abs(f0))
        if rounding or spread <= 4:
            return levels[4], rounding
    return min(seen), False


def _noise_level(F: np.ndarray, k: int) -> float:
    """(γ_k · mean((Δᵏf)²))^½ with γ_k = (k!)²/(2k)!: σ if the k-th differences are noise."""
    d = np.diff(F, n=k)
    gamma = math.factorial(k) ** 2 / math.factorial(2 * k)
    return float(np.sqrt(gamma * np.mean(d * d)))


def _probe_rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(0 if seed is None else seed)


#: Steps of the probe's real differences shrink by this factor while they disagree
#: with the complex step, at most ``PROBE_SHRINKS`` times: a loss that varies on a
#: scale far below max(1, |θ|)·ε^⅓ (a parameter of size 1e-8) needs a step below
#: that scale before real differences mean anything.
PROBE_SHRINK, PROBE_SHRINKS = 8.0, 7

#: What a loss does when the probe fails, by how it fails (the operation class a user can look for).
PROBE_CLASSES = {
    "raises": "converts a complex number to a real one (float(), int(), math.* functions, .item() into math)",
    "warns": "casts complex values to a real number or dtype (float(z) or math.* on a NumPy complex, "
             "astype(float), writing into a real array)",
    "real": "returns a real number: a modulus or real part (abs, np.abs, np.linalg.norm, .real, np.hypot) "
            "drops the imaginary part",
    "disagrees": "loses part of the imaginary perturbation on the way (abs, .real or a real cast in part of "
                 "the loss, comparisons as in np.maximum, np.clip, np.sort, np.where on complex values)",
    "real-part": "returns a different real part for a tiny imaginary perturbation (a loss that is not "
                 "deterministic, or one that mixes real and imaginary parts)",
    "non-finite": "returns a non-finite value for complex input",
}


def complex_step_faithful(loss: Callable, params: Mapping[str, np.ndarray], name: str, *,
                          f0: float, eps: float, seed: int | None = 0,
                          evaluator: LossEvaluator | None = None,
                          complex_evaluator: LossEvaluator | None = None,
                          loss_noise: float = 0.0, strict: bool = False, scale: float = 1.0,
                          still: np.ndarray | None = None,
                          along: Callable[[np.ndarray, Any], Any] | None = None) -> tuple[bool, str]:
    """Check that a loss carries a complex perturbation of one group faithfully.

    Two random directions v: the complex-step directional derivative
    Im L(θ + i·h·v)/h must agree with a real central difference along v, the
    real part must reproduce L(θ), and no ``ComplexWarning`` may be raised.
    A loss that calls ``float()``, ``abs``, ``.real``, ``np.maximum``,
    ``np.clip`` or casts to a real dtype fails one of these.

    The real differences decide only where they can: at a step h they are
    trusted to their round-off 10κε(|f₊| + |f₋|)/h, and while they disagree the
    step shrinks (by ``PROBE_SHRINK``, at most ``PROBE_SHRINKS`` times, as long
    as that round-off stays below 1e-3 of the derivatives compared), since
    real differences at a step larger than the scale the loss varies on are no
    evidence against the complex step.  From the second step on they are also
    trusted to their measured error, twice their change from the previous step,
    which holds the rounding an exact fit puts in them (L ≈ 0 there, so the
    a-priori round-off misses it); real differences that never change along v
    (a loss rounded to exactly 0) are no evidence either.

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
    loss_noise : float
        σ, the measured noise of the loss values: the real part may differ by 8σ and the real
        differences are trusted to 10·(κε(|f₊| + |f₋|) + 2σ)/h.
    strict : bool
        Re-raise an error of the loss under complex input unless it is a complex-to-real
        conversion (TypeError, ComplexWarning): for an explicit complex step, a loss that fails
        for another reason should say so, not be called unsafe.
    scale : float
        The typical scale of the group (the first real step is ε^⅓·max(scale, |θ|)).
    still : ndarray of bool, optional
        Entries the directions leave at rest (those near a kink, where real
        differences and the complex step legitimately disagree).
    along : callable, optional
        ``along(v, t) -> L(θ + t·v)`` (v in group ``name``, t real or complex): how
        the probe's points are evaluated instead of calls of ``loss`` on the
        evaluators' copies (a network's blocked passes, whose memory does not
        grow with the samples; errors must come as LossEvaluationError).

    Returns
    -------
    ok : bool
    reason : str
        Why the probe failed, naming the operation class (``PROBE_CLASSES``); '' when it passed.
    """
    rng = _probe_rng(seed)
    x = np.asarray(params[name], dtype=np.float64)
    if x.size == 0:
        return True, ""
    if along is None:
        cev = complex_evaluator if complex_evaluator is not None else LossEvaluator(loss, params, complex_mode=True)
        rev = evaluator if evaluator is not None else LossEvaluator(loss, params)
        cev.context = rev.context = f"while probing whether the loss carries a complex step in {name!r}"
        along = _on_copies(rev, cev, name, x)
    h0 = max(scale, float(np.max(np.abs(x)))) * eps ** (1 / 3)
    for _ in range(2):
        v = rng.standard_normal(x.shape)
        if still is not None:
            v = np.where(still, 0.0, v)
        v /= max(np.max(np.abs(v)), 1e-300)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", np.exceptions.ComplexWarning)
                out = along(v, 1j * COMPLEX_STEP)
        except (LossEvaluationError, InvalidArgument) as exc:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            if isinstance(cause, np.exceptions.ComplexWarning):
                return False, f"the loss {PROBE_CLASSES['warns']} ({type(cause).__name__}: {cause})"
            if isinstance(cause, TypeError):
                return False, f"the loss {PROBE_CLASSES['raises']} ({type(cause).__name__}: {cause})"
            if strict:
                raise
            return False, f"the loss does not accept complex input ({type(cause).__name__}: {cause})"
        if np.asarray(out).dtype.kind != "c":
            return False, f"the loss {PROBE_CLASSES['real']}"
        if not np.isfinite(out):
            return False, f"the loss {PROBE_CLASSES['non-finite']}"
        dc = float(np.imag(out)) / COMPLEX_STEP
        if abs(float(np.real(out)) - f0) > max(1e3 * eps * max(1.0, abs(f0)), 8 * loss_noise):
            return False, (f"the loss {PROBE_CLASSES['real-part']}: {float(np.real(out))!r} instead of {f0!r}")
        agree, dr = _real_differences_agree(functools.partial(along, v), dc, h0, eps, loss_noise, f0)
        if dr is None:
            return False, "the loss is not finite near the parameters"
        if not agree:
            return False, (f"the loss {PROBE_CLASSES['disagrees']}: the complex-step directional derivative "
                           f"{dc:.6g} disagrees with real differences {dr:.6g}")
    return True, ""


def _on_copies(rev: LossEvaluator, cev: LossEvaluator, name: str, x: np.ndarray) -> Callable[[np.ndarray, Any], Any]:
    """L(x + t·v) in group ``name`` by a call on the real or complex evaluator's copy, restored after."""
    def at(v: np.ndarray, t: Any) -> Any:
        ev = cev if isinstance(t, complex) else rev
        try:
            ev.work[name][...] = x + t * v
            return ev()
        finally:
            ev.work[name][...] = x
    return at


def _real_differences_agree(at: Callable[[float], Any], dc: float, h: float, eps: float, loss_noise: float,
                            f0: float = math.nan) -> tuple[bool, float | None]:
    """Whether central differences along v (``at(t)`` = L(θ + t·v)) agree with ``dc`` within their own
    error; (agree, last value).

    At a step h the real difference d(h) is trusted to its a-priori round-off
    10(κε(|f₊| + |f₋|) + 2σ)/h and, from the second step on, to its measured
    error: the change |d(h) − d(h·s)| from the previous, ``PROBE_SHRINK`` times
    larger step, which holds its truncation (for a central difference the error
    at h·s is s² times that at h) and the rounding the a-priori term misses.
    That term misses it at an exact fit: L = ½Σ(a − y)² is near 0, yet each
    a − y carries a rounding error of ε·|a|, so d(h) is off by about ε·|a|·|∂a/∂v|
    whatever h, while ``dc`` is such a rounding residue too (1.8e-19 against
    2.9e-18 on a DenseNet).  A loss that drops part of the imaginary
    perturbation still disagrees by that part at every step, where successive
    real differences agree to their truncation, ~h² times smaller.

    Where the loss is at its minimum of 0 (an exact fit: the curvature term
    f₊ + f₋ − 2f₀ is most of f₊ + f₋, so L ≈ ½|r|² along v with a residual r
    that vanishes at θ), both derivatives are r·∂r/∂v with r a rounding
    residue ε·|a|, |∂r/∂v| = √(f₊ + f₋ − 2f₀)/h.  They are indistinguishable
    from 0 within :func:`fit_residue` (taking |a| at the scale 1 of a sigmoid's
    output), which no rule of the real differences resolves: one read −3e-19 at
    every step where the complex step read exactly 0, another 8e-66 against
    2.6e-26.  A loss with a non-zero value at θ (a dropped term included) is
    not in that regime and is judged by the rules above.
    """
    dr = math.nan
    previous: float | None = None
    moved = False
    for _ in range(PROBE_SHRINKS + 1):
        fp = float(np.real(at(h)))  # a real-valued loss may compute in complex
        fm = float(np.real(at(-h)))
        dr = (fp - fm) / (2 * h)
        if not math.isfinite(dr):
            return False, None
        moved = moved or fp != fm
        level = 10 * (ROUNDOFF_FACTOR * eps * (abs(fp) + abs(fm)) + 2 * loss_noise)
        # Twice the change from the last step: the change estimates the larger step's error,
        # and the margin covers two rounding errors that happen to be alike.
        measured = 0.0 if previous is None else PROBE_ERROR_MARGIN * abs(dr - previous)
        if abs(dc - dr) <= 1e-4 * (abs(dr) + abs(dc)) + level / h + measured + fit_residue(fp, fm, f0, h, eps):
            return True, dr
        h /= PROBE_SHRINK
        if previous is not None and level / h > 1e-3 * max(abs(dc), abs(dr)):
            break  # smaller steps resolve nothing more (a second step is always taken: its change is the error)
        previous = dr
    # A loss whose values did not change along v at any step (a net's loss rounded to exactly 0 at an
    # exact fit) shows the real differences nothing to compare the complex step with.
    return not moved, dr


#: The real differences' measured error is this many times the change between two successive steps.
PROBE_ERROR_MARGIN = 2.0


def fit_residue(fp: float, fm: float, f0: float, h: float, eps: float) -> float:
    """The rounding residue of a directional derivative at an exact fit, or 0 away from one.

    At a minimum of value 0 (f₀ at most a tenth of the curvature term
    f₊ + f₋ − 2f₀, itself at least half of f₊ + f₋), 10·ε·√(f₊ + f₋ − 2f₀)/h:
    ε·|∂r/∂v| with the margins the probe's round-off level takes (see
    :func:`_real_differences_agree`).
    """
    curvature = fp + fm - 2 * f0
    if not (math.isfinite(curvature) and curvature > 0 and 0 <= f0 <= 0.1 * curvature
            and curvature >= 0.5 * (abs(fp) + abs(fm))):
        return 0.0
    return 10 * eps * math.sqrt(curvature) / h

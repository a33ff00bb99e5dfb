"""Numerical derivatives of a scalar loss over a dict of parameter arrays.

Every method perturbs one entry at a time in a private float64 (or complex128)
copy of the parameters, restores it, and returns the derivative together with
an estimate of its own absolute error, so that :mod:`gradcheck.verify.tolerance` can
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

A check only needs the truncation part of central differences where the
round-off part alone cannot explain a disagreement, so
:func:`gradcheck.check_params` (``LossEngine(..., lazy_truncation=True)``)
measures f(θ ± h) for every entry (2 calls) with the round-off estimate
κε·max|F|/h, and only for the entries that estimate flags adds f(θ ± 2h)
(2 more calls each) and the measured noise σ (8 calls, once).  An entry that
passes with the smaller estimate passes with the complete one, and the
flagged entries get exactly the values and estimates of the 4-call rule, so
every verdict is the one the 4-call rule gives.

``"auto"`` uses the complex step for a parameter group only after
:func:`complex_step_faithful` has verified that the loss carries a complex
perturbation through (no ``float()``, ``abs``, ``.real``, ``np.maximum``…);
otherwise it uses Richardson extrapolation.  :func:`gradcheck.check_params`
further re-measures every entry that the complex step flags with Richardson
extrapolation before reporting it, so a loss that drops imaginary parts in a
way the probe missed cannot produce a false failure.

Every rule is computed by :func:`apply_rule` from the loss differences
f(θ + o·h) − f(θ), whoever obtains them: :class:`LossEngine` calls the loss on
a private copy perturbed in place (serially, on any
``concurrent.futures.Executor`` in blocks with their own copies, or many
perturbations per call for a ``vectorized`` loss), and
:mod:`gradcheck.numerical.structured` forms them from a DenseNet's layers.
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from ..errors import InvalidArgument, LossEvaluationError
from .steps import COMPLEX_STEP, step_sizes

__all__ = [
    "METHODS",
    "OFFSETS",
    "DEFAULT_MEMORY_BUDGET",
    "NumericalGradient",
    "LossEvaluator",
    "Engine",
    "LossEngine",
    "numerical_gradient",
    "differentiate_entries",
    "complex_step_faithful",
    "apply_rule",
    "run_tasks",
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

#: Offsets o of the loss values f(θ + o·h) a rule uses, in the column order of
#: the differences that :func:`apply_rule` takes (the complex step's offset is i).
OFFSETS: dict[str, tuple[Any, ...]] = {
    "forward": (1.0, 2.0),
    "backward": (-1.0, -2.0),
    "central": (1.0, -1.0, 2.0, -2.0),
    "central4": (1.0, -1.0, 2.0, -2.0),
    "richardson": (1.0, -1.0, 0.5, -0.5, 0.25, -0.25),
    "complex": (1j,),
}

#: Extra memory (bytes) that batched evaluations may use: the stacked
#: parameter copies of ``vectorized=True`` and the structured engine's chunks.
DEFAULT_MEMORY_BUDGET = 256 * 2**20

# Loss results accepted without the full as_scalar check: the hot loop calls
# the loss millions of times, and these types are scalars by construction.
_SCALAR_TYPES = frozenset((float, complex, np.float64, np.float32, np.complex128, np.complex64))


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
        Number of calls of the loss function made (the structured engine of
        :mod:`gradcheck.numerical.structured` obtains most loss values without a call and
        says how in ``notes``).
    notes : list of str
        Decisions a user should know about (fallbacks, precision, chunking).
    noise : float
        Measured rounding noise of the loss values (see :func:`estimate_noise`).
    roundoff_only : list of str
        Groups whose ``errors`` hold the round-off part only (the first pass of
        a check's central differences; see the module docstring).
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
    roundoff_only: list[str] = field(default_factory=list)


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
                 params: Mapping[str, np.ndarray], complex_mode: bool = False,
                 vectorized: bool = False) -> None:
        dtype = np.complex128 if complex_mode else np.float64
        self.raw_loss = loss
        self.loss = _OneOfBatch(loss) if vectorized else loss
        self.complex_mode = complex_mode
        # C order, so that reshape(-1) below is a view of the working copy.
        self.work = {k: np.array(v, dtype=dtype, copy=True, order="C") for k, v in params.items()}
        self.flat = {k: v.reshape(-1) for k, v in self.work.items()}
        self.n_evaluations = 0
        self.context = ""

    def _failed(self, exc: Exception) -> LossEvaluationError:
        where = f" {self.context}" if self.context else ""
        return LossEvaluationError(
            f"the loss raised {type(exc).__name__}: {exc} (while gradcheck evaluated it{where})")

    def __call__(self) -> Any:
        """The loss at the current (perturbed) copy, as a scalar."""
        self.n_evaluations += 1
        try:
            # A shallow dict per call: a loss that rebinds keys cannot break our views.
            out = self.loss(dict(self.work))
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
            raise InvalidArgument(
                f"loss: with vectorized=True the loss must return an array of shape ({size},), one value per "
                f"stacked parameter set, got {'an array of shape ' + str(out.shape) if out.dtype.kind in 'biufc' else type(out).__name__}; "
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


@dataclass(frozen=True)
class RunOptions:
    """How loss values are obtained: where the work runs and how it is batched.

    Attributes
    ----------
    executor : concurrent.futures.Executor or None
        Runs blocks of entries; None runs them in the calling thread.
    vectorized : bool
        The loss takes parameters stacked along a leading batch axis.
    memory_budget : int
        Bytes of extra memory the batches may use.
    """

    executor: Executor | None = None
    vectorized: bool = False
    memory_budget: int = DEFAULT_MEMORY_BUDGET

    @property
    def serial(self) -> bool:
        return self.executor is None and not self.vectorized


def run_options(executor: Any = None, vectorized: Any = False,
                memory_budget: Any = DEFAULT_MEMORY_BUDGET) -> RunOptions:
    """Validate the execution options of the public entry points."""
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise InvalidArgument(
            f"executor: expected a concurrent.futures.Executor (an object with .submit), got {type(executor).__name__}; "
            "e.g. concurrent.futures.ThreadPoolExecutor() or dask.distributed.Client(...).get_executor()")
    if not isinstance(vectorized, (bool, np.bool_)):
        raise InvalidArgument(f"vectorized: expected True or False, got {type(vectorized).__name__} {vectorized!r}")
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer)) or memory_budget < 1:
        raise InvalidArgument(f"memory_budget: expected a positive number of bytes, got {memory_budget!r}; "
                              "e.g. memory_budget=64 * 2**20 for 64 MB")
    return RunOptions(executor, bool(vectorized), int(memory_budget))


def run_tasks(fn: Callable[..., Any], tasks: Sequence[tuple], *, executor: Executor | None = None,
              max_in_flight: int | None = None, on_result: Callable[[int, Any], None]) -> None:
    """Run ``fn(*task)`` for every task and hand the results over in task order.

    ``on_result(k, result)`` runs in the calling thread for k = 0, 1, 2, …
    whatever order the tasks finish in, so that results combined there do
    not depend on the executor.  With an executor at most ``max_in_flight``
    tasks are running or waiting to be handed over, which bounds the memory
    they hold.  A task's exception is re-raised here and tasks not yet
    started are cancelled.
    """
    if executor is None:
        for k, task in enumerate(tasks):
            on_result(k, fn(*task))
        return
    limit = max(1, max_in_flight or len(tasks))
    pending: dict[Future, int] = {}
    finished: dict[int, Any] = {}
    submitted = handed = 0
    try:
        while handed < len(tasks):
            while submitted < len(tasks) and len(pending) + len(finished) < limit:
                pending[executor.submit(fn, *tasks[submitted])] = submitted
                submitted += 1
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in done:
                finished[pending.pop(fut)] = fut.result()
            while handed in finished:
                on_result(handed, finished.pop(handed))
                handed += 1
    finally:
        for fut in pending:
            fut.cancel()


def _stencil(ev: LossEvaluator, name: str, idx: np.ndarray, h: np.ndarray,
             offsets: tuple[Any, ...], tracker: _Tracker) -> np.ndarray:
    """Loss values at θ_i + o·h_i for every entry i in ``idx`` and offset o.

    Returns
    -------
    ndarray of shape (len(idx), len(offsets)), complex for the complex step
    """
    flat = ev.flat[name]
    out = np.empty((len(idx), len(offsets)), dtype=np.result_type(*offsets, np.float64))
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


def _stencil_stacked(ev: LossEvaluator, name: str, idx: np.ndarray, h: np.ndarray,
                     offsets: tuple[Any, ...], batch: int) -> np.ndarray:
    """As :func:`_stencil`, with the loss evaluating ``batch`` parameter sets per call.

    Each call receives every group with a leading axis of the batch size: the
    perturbed group as a stacked copy with one entry changed per set, the
    others as read-only broadcast views of the unperturbed arrays.
    """
    base = ev.work[name]
    off = np.asarray(offsets)
    n_off = len(off)
    total = len(idx) * n_off
    out = np.empty(total, dtype=np.result_type(off, np.float64))
    for start in range(0, total, batch):
        rows = np.arange(start, min(total, start + batch))
        entry, o = rows // n_off, off[rows % n_off]
        stacked = np.broadcast_to(base, (len(rows),) + base.shape).copy()
        flat = stacked.reshape(len(rows), -1)
        flat[np.arange(len(rows)), idx[entry]] += o * h[entry]
        arrays = {k: stacked if k == name else np.broadcast_to(v, (len(rows),) + v.shape)
                  for k, v in ev.work.items()}
        out[rows] = ev.batch(arrays, len(rows))
    return out.reshape(len(idx), n_off)


def _stencil_task(loss: Callable, params: Mapping[str, np.ndarray], complex_mode: bool, context: str,
                  name: str, idx: np.ndarray, h: np.ndarray, offsets: tuple[Any, ...],
                  batch: int) -> tuple[np.ndarray, int]:
    """One block of entries on its own copy of the parameters (runs on an executor)."""
    ev = LossEvaluator(loss, params, complex_mode, vectorized=batch > 0)
    ev.context = context
    if batch:
        values = _stencil_stacked(ev, name, idx, h, offsets, batch)
    else:
        values = _stencil(ev, name, idx, h, offsets, _Tracker(len(idx), None))
    return values, ev.n_evaluations


def _evaluate(ev: LossEvaluator, name: str, idx: np.ndarray, h: np.ndarray, offsets: tuple[Any, ...],
              tracker: _Tracker, opts: RunOptions) -> np.ndarray:
    """Loss values of a stencil for the entries ``idx``, serially, batched or on an executor."""
    if opts.serial:
        return _stencil(ev, name, idx, h, offsets, tracker)
    itemsize = 16 if ev.complex_mode else 8
    batch = 0
    if opts.vectorized:
        batch = int(max(1, min(4096, opts.memory_budget // (4 * itemsize * max(1, ev.work[name].size)))))
    workers = os.cpu_count() or 1
    if opts.executor is None:
        per_task = batch * 8
        in_flight = 1
    else:
        per_task = max(1, batch, -(-len(idx) // (4 * workers)))
        params_bytes = itemsize * sum(v.size for v in ev.work.values())
        in_flight = int(max(1, min(2 * workers, opts.memory_budget // max(1, 2 * params_bytes))))
    blocks = [np.arange(s, min(len(idx), s + per_task)) for s in range(0, len(idx), per_task)]
    if opts.executor is None:
        # Batched calls on ev itself, which counts them.
        fn: Callable[..., tuple[np.ndarray, int]] = \
            lambda i, hh: (_stencil_stacked(ev, name, i, hh, offsets, batch), 0)  # noqa: E731
        tasks: list[tuple] = [(idx[b], h[b]) for b in blocks]
    else:
        fn = _stencil_task
        tasks = [(ev.raw_loss, ev.work, ev.complex_mode, ev.context, name, idx[b], h[b], offsets, batch)
                 for b in blocks]
    parts: list[np.ndarray] = []

    def done(k: int, result: tuple[np.ndarray, int]) -> None:
        parts.append(result[0])
        ev.n_evaluations += result[1]
        tracker.advance(len(blocks[k]))

    run_tasks(fn, tasks, executor=opts.executor, max_in_flight=in_flight, on_result=done)
    return np.concatenate(parts) if parts else np.empty((0, len(offsets)))


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


def rule_steps(method: str, x: np.ndarray, eps: float) -> np.ndarray:
    """The step of a rule for every entry of ``x`` (see :mod:`gradcheck.numerical.steps`)."""
    if method == "complex":
        return np.full(np.shape(x), COMPLEX_STEP)
    return step_sizes(x, method, np.float64 if eps <= np.finfo(np.float64).eps else np.float32)


def apply_rule(method: str, D: np.ndarray, f0: float, h: np.ndarray, eps: float,
               noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Values and error estimates of a difference rule, from its loss differences.

    Parameters
    ----------
    method : {'forward', 'backward', 'central', 'central4', 'richardson', 'complex'}
    D : ndarray of shape (n, len(OFFSETS[method]))
        f(θ + o·h) − f(θ) for every entry and offset o of ``OFFSETS[method]``
        (complex for ``'complex'``).  The generic engine subtracts two loss
        values; the structured engine forms the difference from the changed
        terms of the loss only.
    f0 : float
        f(θ).
    h : ndarray of shape (n,)
        The steps.
    eps : float
        Precision the loss is evaluated in.
    noise : float
        Measured rounding noise of the loss values.

    Returns
    -------
    values, errors : ndarray of shape (n,)
        See the table in the module docstring.
    """
    kappa = ROUNDOFF_FACTOR * eps
    if method == "complex":
        vals = np.imag(D[:, 0]) / h
        return vals, kappa * np.abs(vals)
    big = _magnitude(D, f0, kappa, noise)
    if method in ("forward", "backward"):
        s = 1.0 if method == "forward" else -1.0
        d1 = s * D[:, 0] / h
        d2 = s * D[:, 1] / (2 * h)
        return d1, np.abs(d2 - d1) + kappa * np.maximum(big, abs(f0)) / h
    if method in ("central", "central4"):
        d1 = (D[:, 0] - D[:, 1]) / (2 * h)
        d2 = (D[:, 2] - D[:, 3]) / (4 * h)
        trunc = np.abs(d2 - d1) / 3
        if method == "central":
            return d1, trunc + kappa * big / h
        c4 = (4 * d1 - d2) / 3  # = (8(f₁ − f₋₁) − (f₂ − f₋₂)) / 12h
        # Bounded by the error of the central difference it improves on: an
        # h⁴ estimate would need a third step and is optimistic when the
        # higher derivatives are large (saturated sigmoids).
        return c4, trunc + 1.5 * kappa * big / h
    if method == "richardson":
        D0 = (D[:, 0] - D[:, 1]) / (2 * h)
        D1 = (D[:, 2] - D[:, 3]) / h
        D2 = (D[:, 4] - D[:, 5]) / (0.5 * h)
        R10 = (4 * D1 - D0) / 3
        R11 = (4 * D2 - D1) / 3
        R2 = (16 * R11 - R10) / 15
        return R2, np.abs(R2 - R11) + 2 * kappa * big / (0.25 * h)
    raise InvalidArgument(f"method: unknown local method {method!r}")  # unreachable via public API


def _magnitude(D: np.ndarray, f0: float, kappa: float, noise: float) -> np.ndarray:
    """max |F| per row, raised to the measured noise level: the scale of the round-off term."""
    return np.maximum(np.abs(f0 + D).max(axis=1), NOISE_FACTOR * noise / kappa)


#: Offsets of the first pass of a check's central differences, and of the
#: second pass that completes the 4-call rule for the entries it flags.
CENTRAL_FIRST, CENTRAL_SECOND = OFFSETS["central"][:2], OFFSETS["central"][2:]


def central_first_pass(D: np.ndarray, f0: float, h: np.ndarray, eps: float,
                       noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Central differences from f(θ ± h) alone, with the round-off part of the estimate.

    Parameters
    ----------
    D : ndarray of shape (n, 2)
        f(θ + o·h) − f(θ) for o in ``CENTRAL_FIRST`` (+1, −1).
    f0, h, eps, noise
        As in :func:`apply_rule`.

    Returns
    -------
    values, errors : ndarray of shape (n,)
        The values of the 'central' rule, and a lower bound of its error
        estimate (the truncation part |D(2h) − D(h)|/3 is missing).
    """
    kappa = ROUNDOFF_FACTOR * eps
    return (D[:, 0] - D[:, 1]) / (2 * h), kappa * _magnitude(D, f0, kappa, noise) / h


def _local_rule(method: str, ev: LossEvaluator, f0: float, eps: float, name: str,
                idx: np.ndarray, tracker: _Tracker, noise: float = 0.0,
                opts: RunOptions = RunOptions(),
                first_pass: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One finite-difference rule on the entries ``idx`` of a group.

    With ``first_pass`` (method 'central' only), only f(θ ± h) is measured:
    the loss values are kept in ``first_pass[name]`` and the error estimates
    are those of :func:`central_first_pass`.

    Returns values, error estimates and steps, each of shape (len(idx),).
    """
    h = rule_steps(method, ev.flat[name][idx].real, eps)
    F = _evaluate(ev, name, idx, h, OFFSETS[method] if first_pass is None else CENTRAL_FIRST, tracker, opts)
    if first_pass is None:
        vals, errs = apply_rule(method, F - f0, f0, h, eps, noise)
    else:
        first_pass[name] = F
        vals, errs = central_first_pass(F - f0, f0, h, eps, noise)
    return vals, errs, h


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


def differentiate_entries(method: str, loss: Callable, params: Mapping[str, np.ndarray], name: str,
                          idx: np.ndarray, *, f0: float, eps: float,
                          evaluator: LossEvaluator | None = None, noise: float = 0.0,
                          progress: Progress | None = None,
                          opts: RunOptions = RunOptions(),
                          first_pass: dict[str, np.ndarray] | None = None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Measure the derivative of selected entries of one group with a local rule.

    ``first_pass`` (method 'central'): see :func:`_local_rule`.

    Returns values, error estimates, steps (each of shape (len(idx),)) and the
    number of loss calls made.
    """
    ev = evaluator or LossEvaluator(loss, params, complex_mode=(method == "complex"), vectorized=opts.vectorized)
    before = ev.n_evaluations
    tracker = _Tracker(len(idx), progress)
    ev.context = f"for entries of {name!r} (method {method!r})"
    # Non-finite parameters or loss values give NaN derivatives, which the
    # comparison reports; they must not raise under warnings-as-errors.
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        vals, errs, steps = _local_rule(method, ev, f0, eps, name, np.asarray(idx, dtype=np.intp), tracker,
                                        noise, opts, first_pass)
    return vals, errs, steps, ev.n_evaluations - before


class Engine(Protocol):
    """A source of numerical derivatives for :func:`gradcheck.verify.params.run_check`.

    :class:`LossEngine` calls any loss closure; :mod:`gradcheck.numerical.structured`
    provides one that exploits a DenseNet's layers.
    """

    def gradient(self, method: str, *, seed: int | None,
                 progress: Progress | None) -> NumericalGradient:
        """Every entry of every group by ``method`` (one of :data:`FULL_METHODS`)."""
        ...

    def remeasure(self, method: str, name: str, idx: np.ndarray, *, f0: float, eps: float,
                  noise: float, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Values, error estimates, steps and loss calls for the entries ``idx`` of one group.

        ``progress(done, len(idx))`` as they are measured.
        """
        ...

    @property
    def measured_noise(self) -> float | None:
        """σ measured by :meth:`remeasure` when :meth:`gradient` left it out (None otherwise)."""
        ...


class LossEngine:
    """The generic engine: the loss closure called on perturbed copies of the parameters.

    Parameters
    ----------
    loss : callable
    params : dict of str to ndarray
        Validated parameters (never modified).
    opts : RunOptions
        Executor, vectorized calls and memory budget.
    lazy_truncation : bool
        Method 'central' measures f(θ ± h) only, with round-off-only error
        estimates (``NumericalGradient.roundoff_only``), and :meth:`remeasure`
        completes the 4-call rule from the kept values: 2 loss calls per entry,
        plus 2 per entry the caller re-measures and 8 (once) for the noise
        level σ (see the module docstring).
    """

    def __init__(self, loss: Callable, params: Mapping[str, np.ndarray], opts: RunOptions = RunOptions(),
                 *, lazy_truncation: bool = False) -> None:
        self.loss, self.params, self.opts = loss, params, opts
        self._evaluators: dict[bool, LossEvaluator] = {}
        self._first: dict[str, np.ndarray] | None = {} if lazy_truncation else None
        self._seed: int | None = 0
        self._noise: float | None = None  # measured when the first flagged entry is completed

    @property
    def measured_noise(self) -> float | None:
        """σ measured while completing a first pass (None until then)."""
        return self._noise

    def gradient(self, method: str, *, seed: int | None = 0,
                 progress: Progress | None = None) -> NumericalGradient:
        first = self._first if method == "central" else None
        self._seed = seed
        return _numerical_gradient(self.loss, self.params, method, seed=seed, progress=progress, opts=self.opts,
                                   first_pass=first)

    def remeasure(self, method: str, name: str, idx: np.ndarray, *, f0: float, eps: float,
                  noise: float, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        if method == "central" and self._first is not None and name in self._first:
            return self._complete_central(name, np.asarray(idx, dtype=np.intp), f0=f0, eps=eps, noise=noise,
                                          progress=progress)
        return differentiate_entries(method, self.loss, self.params, name, idx, f0=f0, eps=eps,
                                     evaluator=self._evaluator(method == "complex"), noise=noise,
                                     progress=progress, opts=self.opts)

    def _evaluator(self, complex_mode: bool = False) -> LossEvaluator:
        """The engine's private copy of the parameters (real or complex), made once and kept at rest."""
        if complex_mode not in self._evaluators:
            self._evaluators[complex_mode] = LossEvaluator(self.loss, self.params, complex_mode=complex_mode,
                                                           vectorized=self.opts.vectorized)
        return self._evaluators[complex_mode]

    def _complete_central(self, name: str, idx: np.ndarray, *, f0: float, eps: float, noise: float,
                          progress: Progress | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The 4-call central rule for entries of a first pass: f(θ ± 2h) added to the kept f(θ ± h).

        The first pass ran without the loss's noise level (``noise`` is 0);
        it is measured here, once per check.
        """
        assert self._first is not None
        ev = self._evaluator()
        before = ev.n_evaluations
        if self._noise is None:
            self._noise = estimate_noise(ev, f0, self._seed) if math.isfinite(f0) else 0.0
        noise = max(noise, self._noise)
        ev.context = f"for entries of {name!r} (method 'central', steps ±2h)"
        h = rule_steps("central", ev.flat[name][idx].real, eps)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            F2 = _evaluate(ev, name, idx, h, CENTRAL_SECOND, _Tracker(len(idx), progress), self.opts)
            vals, errs = apply_rule("central", np.hstack([self._first[name][idx], F2]) - f0, f0, h, eps, noise)
        return vals, errs, h, ev.n_evaluations - before


def numerical_gradient(loss: Callable[[Mapping[str, np.ndarray]], Any], params: Mapping[str, Any],
                       method: str = "auto", *, seed: int | None = 0,
                       progress: Progress | None = None, executor: Executor | None = None,
                       vectorized: bool = False, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> NumericalGradient:
    """Numerical gradient of a scalar loss with an error estimate per entry.

    Parameters
    ----------
    loss : callable
        ``loss(params) -> scalar`` taking a dict shaped like ``params``; with
        ``vectorized=True``, ``loss(stacked) -> ndarray of shape (B,)`` where
        every array of ``stacked`` has a leading axis of length B.
    params : mapping of str to array_like
        The point to differentiate at (never modified).
    method : {'auto', 'forward', 'backward', 'central', 'central4', 'richardson', 'complex', \
'scipy-fprime', 'scipy-differentiate'}
        See the module docstring.
    seed : int or None
        Seed of the random directions of the complex-step probe.
    progress : callable, optional
        ``progress(done, total)``, called as entries are measured.
    executor : concurrent.futures.Executor, optional
        Evaluates blocks of entries concurrently, each block on its own copy
        of the parameters; the results do not depend on it.  The loss (and
        for process-based executors, its closure) must then be thread-safe
        (picklable).  Default: the calling thread.
    vectorized : bool
        The loss accepts parameter sets stacked along a leading axis (every
        group of shape (B,) + shape, the perturbed group with one entry changed
        per set, the others read-only broadcast views) and returns shape (B,):
        many perturbations per call.
    memory_budget : int
        Bytes the stacked copies of ``vectorized=True`` (and the parameter
        copies of concurrent blocks) may use; default 256 MB.

    Returns
    -------
    NumericalGradient

    Examples
    --------
    >>> import numpy as np
    >>> g = numerical_gradient(lambda p: (p["x"] ** 3).sum(), {"x": np.array([1.0, 2.0])})
    >>> np.round(g.values["x"], 10).tolist(), g.methods
    ([3.0, 12.0], {'x': 'complex'})
    >>> cubes = lambda p: (p["x"] ** 3).sum(axis=-1)     # one value per stacked set
    >>> g = numerical_gradient(cubes, {"x": np.array([1.0, 2.0])}, "richardson", vectorized=True)
    >>> np.round(g.values["x"], 8).tolist()
    [3.0, 12.0]
    """
    from .._validation import check_params_mapping  # local: keeps module import order one-way

    if method not in FULL_METHODS:
        hint = ("; 'directional' compares projections and is run by gradcheck.check_params"
                if method == "directional" else "")
        raise InvalidArgument(f"method: expected one of {list(FULL_METHODS)}, got {method!r}{hint}")
    opts = run_options(executor, vectorized, memory_budget)
    params = check_params_mapping(params)
    return _numerical_gradient(loss, params, method, seed=seed, progress=progress, opts=opts)


def _numerical_gradient(loss: Callable, params: Mapping[str, np.ndarray], method: str, *,
                        seed: int | None, progress: Progress | None,
                        opts: RunOptions = RunOptions(),
                        first_pass: dict[str, np.ndarray] | None = None) -> NumericalGradient:
    ev = LossEvaluator(loss, params, vectorized=opts.vectorized)
    ev.context = "at the unperturbed parameters"
    f0_raw = ev()
    precision = precision_of(f0_raw)
    eps = float(np.finfo(precision).eps)
    f0 = float(np.real(f0_raw))
    notes: list[str] = []
    # A first pass leaves the noise level to the entries it cannot clear.
    noise = estimate_noise(ev, f0, seed) if method != "complex" and first_pass is None and math.isfinite(f0) \
        else 0.0
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
    cev = LossEvaluator(loss, params, complex_mode=True, vectorized=opts.vectorized) \
        if method in ("auto", "complex") else None
    for name, arr in params.items():
        chosen = method
        if method == "auto":
            if not math.isfinite(f0):
                chosen = "richardson"
            else:
                ok, reason = complex_step_faithful(ev.loss, params, name, f0=f0, eps=eps, seed=seed,
                                                   evaluator=ev, complex_evaluator=cev)
                chosen = "complex" if ok else "richardson"
                if not ok:
                    notes.append(f"{name}: complex step not used ({reason}); used Richardson extrapolation")
        sub = (lambda d, t, _o=done: progress(_o + d, tracker_total)) if progress else None
        vals, errs, stp, n = differentiate_entries(
            chosen, loss, params, name, np.arange(np.size(arr)), f0=f0, eps=eps,
            evaluator=cev if chosen == "complex" else ev, noise=noise, progress=sub, opts=opts,
            first_pass=first_pass)
        done += np.size(arr)
        shape = np.shape(arr)
        values[name], errors[name], steps[name] = vals.reshape(shape), errs.reshape(shape), stp.reshape(shape)
        methods[name] = chosen
    n_evals = ev.n_evaluations + (cev.n_evaluations if cev is not None else 0)
    return NumericalGradient(values, errors, steps, methods, f0, precision, n_evals, notes, noise,
                             list(params) if first_pass is not None else [])

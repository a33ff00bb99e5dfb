"""The generic engine: numerical derivatives of any loss closure, and the engine protocol.

:class:`LossEngine` perturbs one entry at a time in a private copy of the
parameters (:class:`~gradcheck.numerical.evaluator.LossEvaluator`) and turns
the loss values into derivatives with error estimates by the rules of
:mod:`gradcheck.numerical.rules`.  The loss runs serially, on any
``concurrent.futures.Executor`` in blocks with their own copies, or many
perturbations per call for a ``vectorized`` loss; :func:`run_tasks` hands the
results back in a fixed order, so the numbers never depend on where they ran.

``"auto"`` uses the complex step for a parameter group only after
:func:`~gradcheck.numerical.evaluator.complex_step_faithful` has verified that
the loss carries a complex perturbation through (no ``float()``, ``abs``,
``.real``, ``np.maximum``…); otherwise it uses Richardson extrapolation.
:func:`gradcheck.check_params` further re-measures every entry that the
complex step flags with Richardson extrapolation before reporting it, so a
loss that drops imaginary parts in a way the probe missed cannot produce a
false failure.

A check only needs the truncation part of central differences where the
round-off part alone cannot explain a disagreement, so
:func:`gradcheck.check_params` (``LossEngine(..., lazy_truncation=True)``)
measures f(θ ± h) for every entry (2 calls) with the round-off estimate
κε·max|F|/h, and only for the entries that estimate flags adds f(θ ± 2h)
(2 more calls each) and the measured loss noise σ (8 calls, once).  An entry
that passes with the smaller estimate passes with the complete one, and the
flagged entries get exactly the values and estimates of the 4-call rule, so
every verdict is the one the 4-call rule gives.

:mod:`gradcheck.numerical.structured` implements the same :class:`Engine`
protocol for a DenseNet, from the network's layers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..errors import InvalidArgument
from .batching import batch_size
from .evaluator import LossEvaluator, complex_step_faithful, estimate_loss_noise, loss_at_rest, repeat_at_rest
from .progress import Progress, ProgressTracker
from .rules import CENTRAL_FIRST, CENTRAL_SECOND, LOCAL_METHODS, RULES, apply_rule, central_first_pass
from .scipy_backend import SCIPY_METHODS, scipy_gradient
from .steps import rule_steps

__all__ = ["FULL_METHODS", "METHODS", "DEFAULT_MEMORY_BUDGET", "DETERMINISM_CALLS", "NumericalGradient", "RunOptions",
           "run_options", "run_tasks", "differentiate_entries", "Engine", "LossEngine"]

#: Methods that measure every entry.  ``"directional"`` is handled by
#: :func:`gradcheck.check_params`, since it measures projections, not entries.
FULL_METHODS = ("auto",) + LOCAL_METHODS + SCIPY_METHODS
METHODS = FULL_METHODS + ("directional",)

#: Extra memory (bytes) that batched evaluations may use: the stacked
#: parameter copies of ``vectorized=True`` and the structured engine's chunks.
DEFAULT_MEMORY_BUDGET = 256 * 2**20

#: Extra loss calls at the unperturbed θ before the measurement (one more
#: follows it): a dropout mask that keeps 90 % of 4 entries repeats in two
#: calls 45 % of the time, in all four calls 18 % of the time.
DETERMINISM_CALLS = 2

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
    loss_noise : float
        σ, the measured rounding noise of the loss values (see
        :func:`~gradcheck.numerical.evaluator.estimate_loss_noise`; 0: not measured).
    roundoff_only : list of str
        Groups whose ``errors`` hold the round-off part only (the first pass of
        a check's central differences; see the module docstring).
    nondeterministic : tuple of float or None
        Two different loss values returned at the unperturbed parameters (the
        loss is not deterministic; σ is at least their difference), or None.
    """

    values: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    steps: dict[str, np.ndarray]
    methods: dict[str, str]
    loss_value: float
    precision: np.dtype
    n_evaluations: int = 0
    notes: list[str] = field(default_factory=list)
    loss_noise: float = 0.0
    roundoff_only: list[str] = field(default_factory=list)
    nondeterministic: tuple[float, float] | None = None


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
            "executor: expected a concurrent.futures.Executor (an object with .submit), "
            f"got {type(executor).__name__}; "
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


#: Entries whose indices, values and steps are made Python scalars at once by :func:`_stencil`.
SCALAR_BLOCK = 1024


def _stencil(ev: LossEvaluator, name: str, idx: np.ndarray, h: np.ndarray,
             offsets: tuple[Any, ...], tracker: ProgressTracker) -> np.ndarray:
    """Loss values at θ_i + o·h_i for every entry i in ``idx`` and offset o.

    Returns
    -------
    ndarray of shape (len(idx), len(offsets)), complex for the complex step
    """
    flat = ev.flat[name]
    out = np.empty((len(idx), len(offsets)), dtype=np.result_type(*offsets, np.float64))
    # Python scalars in the loop: arithmetic on NumPy scalars costs about a microsecond per loss call,
    # which shows on a loss of a few microseconds.  They are the same IEEE doubles (complex: the same
    # componentwise products and sums), so every perturbed entry, and every value, is unchanged.
    # The scalars are made a block at a time: lists of the whole group cost about 100 bytes per entry.
    per_entry = tracker.progress is not None
    for s in range(0, len(idx), SCALAR_BLOCK):
        block = slice(s, s + SCALAR_BLOCK)
        part = idx[block]
        for j, (i, x, step) in enumerate(zip(part.tolist(), flat[part].tolist(), h[block].tolist(), strict=True),
                                         start=s):
            try:
                for k, o in enumerate(offsets):
                    flat[i] = x + o * step
                    out[j, k] = ev()
            finally:
                flat[i] = x
            if per_entry:
                tracker.advance()
    if not per_entry:
        tracker.advance(len(idx))  # only counted: the same count as one entry at a time
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
        stacked.flags.writeable = False  # as in LossEvaluator: a loss must not write into its argument
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
        values = _stencil(ev, name, idx, h, offsets, ProgressTracker(len(idx), None))
    return values, ev.n_evaluations


def _evaluate(ev: LossEvaluator, name: str, idx: np.ndarray, h: np.ndarray, offsets: tuple[Any, ...],
              tracker: ProgressTracker, opts: RunOptions) -> np.ndarray:
    """Loss values of a stencil for the entries ``idx``, serially, batched or on an executor."""
    if opts.serial:
        return _stencil(ev, name, idx, h, offsets, tracker)
    itemsize = 16 if ev.complex_mode else 8
    workers = os.cpu_count() or 1
    if opts.executor is None:
        in_flight = 1
    else:
        params_bytes = itemsize * sum(v.size for v in ev.work.values())
        in_flight = int(max(1, min(2 * workers, opts.memory_budget // max(1, 2 * params_bytes))))
    # Every task in flight holds one batch: they share the budget.
    batch = batch_size(ev, name, opts.memory_budget // in_flight) if opts.vectorized else 0
    if opts.executor is None:
        per_task = batch * 8
    else:
        per_task = max(1, batch, -(-len(idx) // (4 * workers)))
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

def _local_rule(method: str, ev: LossEvaluator, f0: float, eps: float, name: str,
                idx: np.ndarray, tracker: ProgressTracker, loss_noise: float = 0.0,
                opts: RunOptions = RunOptions(),
                first_pass: dict[str, np.ndarray] | None = None,
                scale: float = 1.0, step_factor: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One finite-difference rule on the entries ``idx`` of a group.

    With ``first_pass`` (method 'central' only), only f(θ ± h) is measured:
    the loss values are kept in ``first_pass[name]`` and the error estimates
    are those of :func:`central_first_pass`.  ``step_factor`` multiplies the
    rule's steps (the step guard's smaller steps; the step taken is recomputed).

    Returns values, error estimates and steps, each of shape (len(idx),).
    """
    h = rule_steps(method, ev.flat[name][idx].real, eps, scale)
    if step_factor != 1.0:
        x = ev.flat[name][idx].real
        h = (x + h * step_factor) - x
    F = _evaluate(ev, name, idx, h, RULES[method].offsets if first_pass is None else CENTRAL_FIRST, tracker, opts)
    if first_pass is None:
        vals, errs = apply_rule(method, F - f0, f0, h, eps, loss_noise)
    else:
        first_pass[name] = F
        vals, errs = central_first_pass(F - f0, f0, h, eps, loss_noise)
    return vals, errs, h



#: Groups are laid end to end (one pass over every entry instead of one per group) only up to this many
#: entries in all: what that saves is a fixed cost per group, tens of microseconds, and the concatenated
#: copies it makes would add to a large check's peak memory (231 against 143 bytes per parameter measured on
#: a 90,601-parameter check_params under a 16 MB budget).
LAID_END_TO_END = 1 << 15


def _central_first_pass(ev: LossEvaluator, f0: float, eps: float, loss_noise: float,
                        first_pass: dict[str, np.ndarray], scales: Mapping[str, float], total: int,
                        progress: Progress | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray],
                                                            dict[str, np.ndarray]]:
    """differentiate_entries('central', first_pass=...) of every group, serially: values, estimates, steps per group.

    The steps and the round-off estimates are formed once over every group's entries laid end to end
    (each group's scale repeated over its entries): the same elementwise operations on the same
    operands as group by group, so the same numbers, without a fixed cost per group that shows on
    small nets.  The loss calls, their order, progress and error context are differentiate_entries'.
    """
    names = list(ev.flat)
    sizes = [ev.flat[k].size for k in names]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # as differentiate_entries
        h = rule_steps("central", np.concatenate([ev.flat[k].real for k in names]), eps,
                       np.repeat(np.array([scales[k] for k in names], dtype=np.float64), sizes))
        F = np.empty((h.size, len(CENTRAL_FIRST)))
        done = 0
        for name, size in zip(names, sizes, strict=True):
            sub = (lambda d, t, _o=done: progress(_o + d, total)) if progress else None
            ev.context = f"for entries of {name!r} (method 'central')"
            F[done:done + size] = _stencil(ev, name, np.arange(size), h[done:done + size], CENTRAL_FIRST,
                                           ProgressTracker(size, sub))
            first_pass[name] = F[done:done + size]
            done += size
        vals, errs = central_first_pass(F - f0, f0, h, eps, loss_noise)
    values, errors, steps = {}, {}, {}
    for name, start, size in zip(names, np.cumsum([0, *sizes[:-1]]).tolist(), sizes, strict=True):
        shape = ev.work[name].shape
        part = slice(start, start + size)
        values[name], errors[name], steps[name] = vals[part].reshape(shape), errs[part].reshape(shape), \
            h[part].reshape(shape)
    return values, errors, steps


def differentiate_entries(method: str, loss: Callable, params: Mapping[str, np.ndarray], name: str,
                          idx: np.ndarray, *, f0: float, eps: float,
                          evaluator: LossEvaluator | None = None, loss_noise: float = 0.0,
                          progress: Progress | None = None,
                          opts: RunOptions = RunOptions(),
                          first_pass: dict[str, np.ndarray] | None = None, scale: float = 1.0,
                          step_factor: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Measure the derivative of selected entries of one group with a local rule.

    ``first_pass`` (method 'central'): see :func:`_local_rule`; ``scale``: the group's typical
    scale (steps ε^e·max(scale, |θ|)); ``step_factor``: those steps times this factor.

    Returns values, error estimates, steps (each of shape (len(idx),)) and the
    number of loss calls made.
    """
    ev = evaluator or LossEvaluator(loss, params, complex_mode=(method == "complex"), vectorized=opts.vectorized)
    before = ev.n_evaluations
    tracker = ProgressTracker(len(idx), progress)
    ev.context = f"for entries of {name!r} (method {method!r})"
    # Non-finite parameters or loss values give NaN derivatives, which the
    # comparison reports; they must not raise under warnings-as-errors.
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        vals, errs, steps = _local_rule(method, ev, f0, eps, name, np.asarray(idx, dtype=np.intp), tracker,
                                        loss_noise, opts, first_pass, scale, step_factor)
    return vals, errs, steps, ev.n_evaluations - before


class Engine(Protocol):
    """A source of numerical derivatives for :func:`gradcheck.verify.core.run_check`.

    :class:`LossEngine` calls any loss closure; :mod:`gradcheck.numerical.structured`
    provides one that exploits a DenseNet's layers.
    """

    def gradient(self, method: str, *, seed: int | None,
                 progress: Progress | None) -> NumericalGradient:
        """Every entry of every group by ``method`` (one of :data:`FULL_METHODS`)."""
        ...

    def remeasure(self, method: str, name: str, idx: np.ndarray, *, f0: float, eps: float,
                  loss_noise: float, progress: Progress | None = None, step_factor: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Values, error estimates, steps and loss calls for the entries ``idx`` of one group.

        ``progress(done, len(idx))`` as they are measured; ``step_factor`` scales the rule's steps
        (the step guard of :mod:`gradcheck.verify.step_guard` passes 16⁻ᵏ).
        """
        ...

    @property
    def measured_loss_noise(self) -> float | None:
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
        plus 2 per entry the caller re-measures and 9 (once) for the noise
        level σ (see the module docstring).
    still : dict of str to ndarray of bool, optional
        Entries that the random-direction measurements (loss noise, complex
        probe) leave at rest: those near a kink (see :mod:`gradcheck.numerical.kinks`).
    typical_scale : mapping of str to float, optional
        Per group, the scale its parameters vary on: steps are ε^e·max(scale, |θ|) instead of
        ε^e·max(1, |θ|) (default 1 for groups not given).
    """

    def __init__(self, loss: Callable, params: Mapping[str, np.ndarray], opts: RunOptions = RunOptions(),
                 *, lazy_truncation: bool = False, still: Mapping[str, np.ndarray] | None = None,
                 typical_scale: Mapping[str, float] | None = None) -> None:
        self.loss, self.params, self.opts = loss, params, opts
        self.still = still
        self.scales = {k: float((typical_scale or {}).get(k, 1.0)) for k in params}
        self._evaluators: dict[bool, LossEvaluator] = {}
        self._first: dict[str, np.ndarray] | None = {} if lazy_truncation else None
        self._seed: int | None = 0
        self._loss_noise: float | None = None  # measured when the first flagged entry is completed
        self._spread = 0.0  # |L(θ) − L(θ)| of two calls, when the first pass left σ unmeasured

    @property
    def measured_loss_noise(self) -> float | None:
        """σ measured while completing a first pass (None until then)."""
        return self._loss_noise

    def gradient(self, method: str, *, seed: int | None = 0,
                 progress: Progress | None = None) -> NumericalGradient:
        """Every entry of every group by ``method`` (one of :data:`FULL_METHODS`), on fresh copies."""
        first_pass = self._first if method == "central" else None
        self._seed = seed
        ev = LossEvaluator(self.loss, self.params, vectorized=self.opts.vectorized)
        f0, precision, eps = loss_at_rest(ev)
        notes: list[str] = []
        if precision != np.float64:
            notes.append(f"the loss returns {precision} values: steps and tolerances use {precision} precision")
        # More calls at the same θ: a loss that is not deterministic
        # (dropout, sampling) has noise no step can remove.
        nondeterministic = repeat_at_rest(ev, f0, DETERMINISM_CALLS)
        spread = 0.0
        if nondeterministic is not None:
            a, b = nondeterministic
            spread = abs(a - b) if math.isfinite(a - b) else 0.0
            notes.append(f"the loss is not deterministic: it returned {a!r} and {b!r} at the same parameters")
        # A first pass leaves σ to the entries it cannot clear.
        loss_noise = estimate_loss_noise(ev, f0, seed, still=self.still, scales=self.scales) \
            if first_pass is None and math.isfinite(f0) else 0.0
        loss_noise = max(loss_noise, spread)
        if first_pass is not None:
            self._spread = spread
        if method in SCIPY_METHODS:
            values, errors, steps = scipy_gradient(method, ev, f0, eps, progress, loss_noise=loss_noise)
            return NumericalGradient(values, errors, steps, {k: method for k in self.params}, f0, precision,
                                     ev.n_evaluations, notes, loss_noise, nondeterministic=nondeterministic)
        values, errors, steps, methods = {}, {}, {}, {}
        total = sum(np.size(v) for v in self.params.values())
        done = 0
        cev = LossEvaluator(self.loss, self.params, complex_mode=True, vectorized=self.opts.vectorized) \
            if method in ("auto", "complex") else None
        every_group = first_pass is not None and self.opts.serial and 0 < total <= LAID_END_TO_END
        if every_group:
            assert first_pass is not None
            values, errors, steps = _central_first_pass(ev, f0, eps, loss_noise, first_pass, self.scales, total,
                                                        progress)
            methods = dict.fromkeys(self.params, method)
        for name, arr in () if every_group else self.params.items():
            chosen = method
            if method == "auto" and not math.isfinite(f0):
                chosen = "richardson"
            elif method in ("auto", "complex") and math.isfinite(f0):
                # Explicit complex runs the same probe as auto: an unsafe complex step gives wrong
                # numbers (zeros where the imaginary part is dropped), never a warning.
                ok, reason = complex_step_faithful(ev.loss, self.params, name, f0=f0, eps=eps, seed=seed,
                                                   evaluator=ev, complex_evaluator=cev, loss_noise=loss_noise,
                                                   strict=method == "complex", scale=self.scales[name],
                                                   still=None if self.still is None else self.still.get(name))
                if not ok and method == "complex":
                    raise InvalidArgument(
                        f"method: the complex step cannot differentiate this loss in {name!r}: {reason}; use "
                        "method='auto' (it falls back to Richardson extrapolation where the complex step is unsafe)")
                chosen = "complex" if ok else "richardson"
                if not ok:
                    notes.append(f"{name}: complex step not used ({reason}); used Richardson extrapolation")
            sub = (lambda d, t, _o=done: progress(_o + d, total)) if progress else None
            vals, errs, stp, _ = differentiate_entries(
                chosen, self.loss, self.params, name, np.arange(np.size(arr)), f0=f0, eps=eps,
                evaluator=cev if chosen == "complex" else ev, loss_noise=loss_noise, progress=sub, opts=self.opts,
                first_pass=first_pass, scale=self.scales[name])
            done += np.size(arr)
            shape = np.shape(arr)
            values[name], errors[name], steps[name] = vals.reshape(shape), errs.reshape(shape), stp.reshape(shape)
            methods[name] = chosen
        if nondeterministic is None and math.isfinite(f0):
            # Once more at θ, after every perturbation: state kept between calls shows here.
            nondeterministic = repeat_at_rest(ev, f0, 1, "at the unperturbed parameters, after the measurement")
            if nondeterministic is not None:
                a, b = nondeterministic
                notes.append(f"the loss is not deterministic: it returned {a!r} and, after the measurement, "
                             f"{b!r} at the same parameters")
                if math.isfinite(b):
                    loss_noise = max(loss_noise, abs(b - a))
                    self._spread = max(self._spread, abs(b - a))
        n_evals = ev.n_evaluations + (cev.n_evaluations if cev is not None else 0)
        return NumericalGradient(values, errors, steps, methods, f0, precision, n_evals, notes, loss_noise,
                                 list(self.params) if first_pass is not None else [], nondeterministic)

    def remeasure(self, method: str, name: str, idx: np.ndarray, *, f0: float, eps: float,
                  loss_noise: float, progress: Progress | None = None, step_factor: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """As :meth:`Engine.remeasure`; ``step_factor`` scales the rule's steps (the step guard)."""
        if method == "central" and self._first is not None and name in self._first and step_factor == 1.0:
            return self._complete_central(name, np.asarray(idx, dtype=np.intp), f0=f0, eps=eps,
                                          loss_noise=loss_noise, progress=progress)
        return differentiate_entries(method, self.loss, self.params, name, idx, f0=f0, eps=eps,
                                     evaluator=self._evaluator(method == "complex"), loss_noise=loss_noise,
                                     progress=progress, opts=self.opts, scale=self.scales[name],
                                     step_factor=step_factor)

    def _evaluator(self, complex_mode: bool = False) -> LossEvaluator:
        """The engine's private copy of the parameters (real or complex), made once and kept at rest."""
        if complex_mode not in self._evaluators:
            self._evaluators[complex_mode] = LossEvaluator(self.loss, self.params, complex_mode=complex_mode,
                                                           vectorized=self.opts.vectorized)
        return self._evaluators[complex_mode]

    def _complete_central(self, name: str, idx: np.ndarray, *, f0: float, eps: float, loss_noise: float,
                          progress: Progress | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The 4-call central rule for entries of a first pass: f(θ ± 2h) added to the kept f(θ ± h).

        The first pass ran without the loss's noise σ (``loss_noise`` is 0);
        it is measured here, once per check.
        """
        assert self._first is not None
        ev = self._evaluator()
        before = ev.n_evaluations
        if self._loss_noise is None:
            self._loss_noise = max(estimate_loss_noise(ev, f0, self._seed, still=self.still,
                                                      scales=self.scales)
                                   if math.isfinite(f0) else 0.0,
                                   self._spread)
        loss_noise = max(loss_noise, self._loss_noise)
        ev.context = f"for entries of {name!r} (method 'central', steps ±2h)"
        h = rule_steps("central", ev.flat[name][idx].real, eps, self.scales[name])
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            F2 = _evaluate(ev, name, idx, h, CENTRAL_SECOND, ProgressTracker(len(idx), progress), self.opts)
            vals, errs = apply_rule("central", np.hstack([self._first[name][idx], F2]) - f0, f0, h, eps, loss_noise)
        return vals, errs, h, ev.n_evaluations - before


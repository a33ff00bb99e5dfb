"""Measure, then compare: the check that check_params and check_network share.

:func:`run_check` takes validated arguments and a :class:`CheckOptions`,
obtains the numerical derivatives from an engine, re-measures the entries a
provisional first pass cannot clear, and compares every group with the
tolerance model of :mod:`gradcheck.verify.tolerance`.  The public entry points
(:mod:`gradcheck.verify.params`, :mod:`gradcheck.verify.network`) validate and
call it; it never calls them.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import GradcheckWarning
from ..numerical.chunked import take
from ..numerical.engine import LAID_END_TO_END, Engine, LossEngine, NumericalGradient
from ..numerical.evaluator import LossEvaluator, loss_at_rest
from ..numerical.rules import COMPLEX_STEP, LOSS_NOISE_FACTOR, ROUNDOFF_FACTOR, RULES, apply_rule
from ..numerical.steps import relative_step
from ..report.model import CheckReport
from ..report.records import GroupResult
from .batch_compare import coarse_groups, first_pass_batch
from .confirm import complex_confirmed
from .options import CheckOptions
from .resolution import RESOLUTION, LossResolution, resolution_bound
from .step_guard import SHRINK, TRUNCATION_SMALL, coarse_entries, guard_steps, levels
from .streaming import RowChunks, chunk_entries, compare_in_budget, fits_whole, flat_part, group_maxima, whole
from .tolerance import Tolerance, compare_group, dtype_eps_grad, entry_tolerance, gradient_epsilon

__all__ = ["Measured", "run_check", "flagged_entries"]

#: Entries of a streamed group's values kept for its diagnosis (a 64 × 64 block of a matrix).
SAMPLE_ENTRIES = 4096


@dataclass
class Measured:
    """A check's report with the numerical values and error estimates it compared.

    ``values`` and ``errors`` are None for the directional method, which does
    not measure entries; a group the engine returned by rows (over the memory
    budget) is a :class:`~gradcheck.numerical.chunked.RowChunks` with its
    re-measured entries patched in.
    """

    report: CheckReport
    values: dict[str, np.ndarray | RowChunks] | None
    errors: dict[str, np.ndarray | RowChunks] | None


def run_check(loss: Callable, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
              options: CheckOptions, *, engine: Engine | None = None,
              grad_rounding: dict[str, np.ndarray | RowChunks] | None = None,
              network: dict[str, Any] | None = None) -> Measured:
    """check_params on validated arguments, keeping the measured derivatives.

    Parameters
    ----------
    loss : callable
    params, grads : dict of str to ndarray
        Validated: the same keys and shapes.
    options : CheckOptions
        Method, tolerance, seed, progress and title of the check.
    engine : Engine, optional
        Supplies the numerical derivatives of the full methods (default:
        :class:`~gradcheck.numerical.engine.LossEngine` on ``loss``, run
        serially); the directional method always calls ``loss``.
    grad_rounding : dict of str to ndarray, optional
        s_i of the tolerance model per group (absent groups: 0).
    network : dict, optional
        Recorded in the report's config (see :meth:`CheckOptions.config`).

    Returns
    -------
    Measured
    """
    start = time.perf_counter()
    grad_rounding = grad_rounding or {}
    values = errors = None
    if options.method == "directional":
        groups, f0, n_evals, notes = _directional(loss, params, grads, options)
        config = options.config(network=network)
    else:
        engine = engine if engine is not None else LossEngine(loss, params)
        ng = engine.gradient(options.method, seed=options.seed, progress=options.progress)
        # The first measurement's steps, recorded before re-measured entries are written into its arrays.
        config = options.config(ng, network=network)
        groups, n_evals, notes, values, errors = _compare_all(engine, params, grads, ng, options, grad_rounding)
        f0 = ng.loss_value
        if ng.precision != np.float64:
            warnings.warn(f"gradcheck: the loss evaluates in {ng.precision}; tolerances are widened to that "
                          "precision (pass float64 parameters through a float64 loss for a sharper check)",
                          GradcheckWarning, stacklevel=3)
    if not math.isfinite(f0):
        notes.insert(0, f"the loss is {f0} at the given parameters: no group can pass")
        for g in groups:
            g.passed = False
    report = CheckReport(groups, options.method, config, time.perf_counter() - start, n_evals, f0, notes,
                         title=options.title)
    return Measured(report, values, errors)


def _compare_all(engine: Engine, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                 ng: NumericalGradient, options: CheckOptions, grad_rounding: dict[str, np.ndarray | RowChunks]
                 ) -> tuple[list[GroupResult], int, list[str], dict[str, Any], dict[str, Any]]:
    """Compare every group, re-measuring the entries a first pass cannot clear.

    Two first passes are provisional: auto's complex step (Richardson decides
    its flags) and the generic engine's central differences with round-off
    estimates only (the 4-call rule completes them).  ``options.progress``
    continues past the first pass: total becomes (entries + re-measured entries).
    """
    tol, progress = options.tolerance, options.progress
    notes = list(ng.notes)
    n_evals = ng.n_evaluations
    eps = float(np.finfo(ng.precision).eps)
    values, errors, used, steps = dict(ng.values), dict(ng.errors), dict(ng.methods), dict(ng.steps)
    confirm, flagged = {}, {}
    cleared = set()  # groups whose every entry this pass's own estimates already clear
    budget = options.run.memory_budget
    context = LossResolution(ng.loss_value, ng.loss_noise, str(ng.precision), eps, ng.nondeterministic)

    # A whole group's round-off parts as the first pass's comparison formed them: the step guard's coarse
    # test of a cleared group (the same values, estimates, steps and σ) takes them instead of forming them again.
    whole_roundoff: dict[str, np.ndarray | None] = {}

    def compare(name: str, sigma: float, context: LossResolution) -> GroupResult:
        def roundoff(sl: slice) -> np.ndarray | None:
            part = _roundoff_part(used[name], flat_part(errors[name], sl), flat_part(steps[name], sl), eps,
                                  ng.loss_value, sigma)
            if sigma == ng.loss_noise and sl == slice(0, int(np.size(params[name]))):
                whole_roundoff[name] = part
            return part

        return compare_in_budget(
            name, grads[name], values[name], errors[name], memory_budget=budget,
            eps_grad=dtype_eps_grad(params[name], ng.precision), tol=tol, method=used[name], params=params[name],
            loss_value=ng.loss_value, grad_rounding=grad_rounding.get(name), loss_noise=sigma, resolution=context,
            roundoff=roundoff)

    # A small group's first-pass comparison, made in full: flagged_entries' tolerances are its own, and a
    # group nothing re-measures keeps it as its final comparison instead of repeating it.  Two or more such
    # groups are compared in one pass over their entries (first_pass_batch: compare's results, each group's).
    batched = [name for name, p in params.items()
               if name in ng.roundoff_only and not (options.method == "auto" and used[name] == "complex")
               and fits_whole(p, budget) and not any(isinstance(x[name], RowChunks) for x in (values, errors, steps))]
    lay = len(batched) > 1 and sum(int(np.size(params[k])) for k in batched) <= LAID_END_TO_END
    first: dict[str, GroupResult] = first_pass_batch(batched, params, grads, ng, options, grad_rounding, used, values,
                                                     errors, steps, context, whole_roundoff,
                                                     _roundoff_part) if lay else {}
    for name, p in params.items():
        rule = ("richardson" if options.method == "auto" and used[name] == "complex"
                else used[name] if name in ng.roundoff_only else None)
        if rule:
            # Flag complex-step entries by its precision alone, without the
            # loss-noise term: Richardson resolves noise near an exact fit
            # (tiny σ in absolute terms) that the relative term overstates.
            err: np.ndarray | RowChunks = errors[name]
            if rule == "richardson":
                err = RowChunks((int(np.size(p)),), _complex_precision(values[name], eps))
            if rule != "richardson" and fits_whole(p, budget):
                if name not in first:  # not among the batched groups
                    first[name] = compare(name, ng.loss_noise, context)
                r = first[name]
                idx = _beyond(r)
            else:
                idx = flagged_entries(grads[name], values[name], err, dtype_eps_grad(p, ng.precision),
                                      tol, ng.loss_value, p, grad_rounding.get(name), ng.loss_noise, bounded=True,
                                      memory_budget=budget)
            if idx.size:
                confirm[name], flagged[name] = rule, idx
                first.pop(name, None)  # its entries are re-measured
            elif rule != "richardson":
                cleared.add(name)
    n_entries = sum(np.size(p) for p in params.values())
    n_flagged = sum(idx.size for idx in flagged.values())
    chunk = chunk_entries(options.run.memory_budget)
    done = 0
    for name, flagged_idx in flagged.items():
        if confirm[name] == "richardson":
            # Real differences whose own error estimate exceeds the resolution
            # bound are no evidence against the complex step the probe
            # verified: such entries keep the complex step's value.  The bound is
            # the first pass's, taken before any entry is replaced.
            bound = RESOLUTION * group_maxima(grads[name], values[name], errors[name], tol.safety, chunk)[1]
        n_confirmed = n_replaced = n = 0
        # The flagged entries a chunk at a time: each chunk's re-measurements are written into the
        # group's arrays before the next is taken, so none is held for every flagged entry at once.
        for start in range(0, flagged_idx.size, chunk):
            idx = flagged_idx[start:start + chunk]
            sub = (lambda d, _t, _o=done: progress(n_entries + _o + d, n_entries + n_flagged)) if progress else None
            rv, re, rs, n_part = engine.remeasure(confirm[name], name, idx, f0=ng.loss_value, eps=eps,
                                                  loss_noise=ng.loss_noise, progress=sub)
            done += idx.size
            n += n_part
            if confirm[name] == "richardson":
                keep = tol.safety * re > bound
                # With a bound s_i on the analytic rounding, a Richardson value that agrees with the
                # complex step confirms it (:mod:`gradcheck.verify.confirm`).
                confirmed = (complex_confirmed(take(values[name], idx), take(errors[name], idx), rv, re, tol.safety)
                             & ~keep if name in grad_rounding else np.zeros(idx.size, dtype=bool))
                keep |= confirmed
                n_confirmed += int(np.count_nonzero(confirmed))
                idx, rv, re, rs = idx[~keep], rv[~keep], re[~keep], rs[~keep]
            n_replaced += idx.size
            if idx.size:
                for arrays, new in ((values, rv), (errors, re), (steps, rs)):
                    _write(arrays, name, idx, new)
        n_evals += n
        if confirm[name] == "richardson":
            # An entry fails under auto only if real arithmetic confirms the
            # disagreement: the complex step also resolves the analytic
            # gradient's own rounding (a(1 − a) near saturation, residuals
            # near an exact fit), which is not a bug, unless s_i bounds that
            # rounding and Richardson confirms the complex step's value.  Use
            # method='complex' to judge by the complex step alone.
            used[name] = "complex+richardson"
            notes.append(f"{name}: {n_replaced + n_confirmed} entr{'y' if n_replaced + n_confirmed == 1 else 'ies'} "
                         "flagged by the complex step re-measured with Richardson extrapolation, which decides "
                         + (f"{n_replaced} of them; {n_confirmed} it confirms keep the complex step's value (the "
                            "analytic gradient's rounding is bounded)" if n_confirmed else "them"))
    sigma = ng.loss_noise
    if flagged and engine.measured_loss_noise is not None:
        sigma = max(sigma, engine.measured_loss_noise)  # measured while completing the first pass
    n_guarded, guarded = _guard(engine, params, grads, ng, options, grad_rounding, sigma, values, errors, steps,
                                used, notes, cleared if sigma == ng.loss_noise else set(), whole_roundoff)
    n_evals += n_guarded
    if ng.roundoff_only:
        completed = sum(idx.size for k, idx in flagged.items() if k in ng.roundoff_only)
        notes.append(f"central differences: f(θ ± 2h) and the loss's noise level measured for the {completed} "
                     f"entr{'y' if completed == 1 else 'ies'} that round-off alone could not clear; the other "
                     "entries' error estimates are round-off bounds (their verdict cannot change)")
    reuse = sigma == ng.loss_noise  # else every tolerance changes with σ
    context = LossResolution(ng.loss_value, sigma, str(ng.precision), eps, ng.nondeterministic)
    # A group neither re-measured nor guarded has the first pass's values, estimates, steps, σ and context.
    groups = [first[name] if reuse and name in first and name not in guarded else compare(name, sigma, context)
              for name in params]
    for g in groups:
        streamed = values[g.name]
        if isinstance(streamed, RowChunks) and g.numerical is None:
            g.numerical_sample, g.numerical = _sample(streamed)
    if ng.nondeterministic is not None and _beyond_rounding(ng.nondeterministic, eps):
        # Loss values that change between calls can make any difference (a
        # disagreement is no evidence of a wrong gradient) and any agreement
        # (dropout that happens to keep an entry): only a group whose every
        # estimate, noise included, stays within the bound keeps its verdict
        # (the complex step of a loss with additive noise, which it does not see).
        for g in groups:
            e = whole(errors[g.name])
            bound = resolution_bound(grads[g.name], whole(values[g.name]), e, tol.safety)
            resolved = bool(np.all(tol.safety * e <= bound))
            if g.inconclusive_reason is None and not resolved:
                g.passed = False
                g.inconclusive_reason = (f"{context.limit()}: {g.n_mismatched} of {g.n_entries} entries disagree "
                                         f"and {int(np.count_nonzero(tol.safety * e > bound))} have error estimates "
                                         f"above the resolution bound {bound:.2g}; values that change between calls "
                                         "make either verdict unreliable")
    eps_eff = gradient_epsilon(0.0, ng.loss_value, sigma, tol.grad_factor)
    if tol.grad_factor * eps_eff > tol.rtol and not any(g.verdict == "inconclusive" for g in groups):
        notes.append(f"the loss's measured noise is {sigma:.2g} (σ/|L| = "
                     f"{sigma / abs(ng.loss_value) if ng.loss_value else math.inf:.2g}; near an exact fit a − y "
                     "rounds at the scale of a, and the analytic gradient loses as much): analytic gradients are "
                     f"trusted to {tol.grad_factor * eps_eff:.2g} relative, not to rtol = {tol.rtol:.2g}")
    return groups, n_evals, notes, values, errors


def _guard(engine: Engine, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], ng: NumericalGradient,
           options: CheckOptions, grad_rounding: dict[str, np.ndarray | RowChunks], sigma: float,
           values: dict[str, Any], errors: dict[str, Any], steps: dict[str, Any],
           used: dict[str, str], notes: list[str], cleared: set[str],
           whole_roundoff: dict[str, np.ndarray | None] | None = None) -> tuple[int, set[str]]:
    """The step guard (:mod:`gradcheck.verify.step_guard`) on every entry a real-difference rule cannot pass.

    ``cleared``: groups whose entries the same comparison (same values, estimates and σ) already passed;
    ``whole_roundoff``: the round-off parts that comparison formed for a whole group (cleared groups only).
    Returns the loss calls made and the groups whose entries it re-measured.
    """
    eps = float(np.finfo(ng.precision).eps)
    n_evals = 0
    guarded = set()
    # The cleared groups' coarse tests in one pass over their entries (coarse_entries' indices, group by group).
    whole_roundoff = whole_roundoff or {}
    reused = [name for name in params if name in cleared and name in whole_roundoff]
    laid = coarse_groups({name: (flat_part(values[name], slice(0, int(np.size(params[name])))),
                                 flat_part(errors[name], slice(0, int(np.size(params[name])))),
                                 whole_roundoff[name]) for name in reused}) \
        if len(reused) > 1 and sum(int(np.size(params[k])) for k in reused) <= LAID_END_TO_END else {}
    for name, p in params.items():
        rule = used[name].split("+")[-1]
        if rule not in RULES or RULES[rule].exponent is None or not math.isfinite(ng.loss_value):
            continue
        # auto's complex-step entries have no step to shrink: they are left out chunk by chunk, so a
        # group the complex step decided never lists its entries here.
        def stepped(sl: slice, _h: np.ndarray | RowChunks = steps[name]) -> np.ndarray:
            return np.asarray(flat_part(_h, sl)) > COMPLEX_STEP

        # A cleared group's comparison would repeat the first pass's own (a fixed cost per group that
        # shows on small problems).
        idx = np.empty(0, np.intp) if name in cleared else flagged_entries(
            grads[name], values[name], errors[name], dtype_eps_grad(p, ng.precision), options.tolerance,
            ng.loss_value, p, grad_rounding.get(name), sigma, bounded=True, memory_budget=options.run.memory_budget,
            among=stepped)
        # First-pass entries with round-off estimates only have no truncation part here: never coarse.
        if name in laid:
            coarse = laid[name]
        elif name in cleared and whole_roundoff is not None and name in whole_roundoff:
            every = slice(0, int(np.size(p)))  # _coarse's one chunk
            coarse = coarse_entries(flat_part(values[name], every), flat_part(errors[name], every),
                                    whole_roundoff[name])
        else:
            coarse = _coarse(used[name], values[name], errors[name], steps[name], eps, ng.loss_value, sigma,
                             chunk_entries(options.run.memory_budget))
        if coarse.size:  # else idx, sorted and unique, is its own union with nothing
            idx = np.union1d(idx, coarse[take(steps[name], coarse) > COMPLEX_STEP])
        if not idx.size:
            continue
        h0 = take(steps[name], idx)  # new arrays of the guarded entries only
        v, e, h, n = guard_steps(engine, rule, name, idx, take(values[name], idx), take(errors[name], idx), h0,
                                 f0=ng.loss_value, eps=eps, loss_noise=sigma, safety=options.tolerance.safety)
        for arrays, new in ((values, v), (errors, e), (steps, h)):
            _write(arrays, name, idx, new)
        n_evals += n
        guarded.add(name)
        moved = int(np.count_nonzero(h < h0))
        notes.append(f"{name}: {idx.size} entr{'y' if idx.size == 1 else 'ies'} the first step could not pass "
                     f"or resolve to {TRUNCATION_SMALL:.0e} of their value re-measured at steps down to "
                     f"h/{SHRINK ** levels(rule, eps):.0f} (the step guard); "
                     f"{moved} kept a smaller step")
    return n_evals, guarded


def _beyond(r: GroupResult) -> np.ndarray:
    """Flat indices of a compared group's entries outside their tolerance: flagged_entries(bounded=True)'s.

    compare_group's tolerances are flagged_entries' (the same G, resolution bound, σ, θ and s_i).
    """
    if r.n_mismatched == 0:
        # Its mismatches are the entries outside (|a − n| <= tolerance) or not finite: none here.
        return np.empty(0, np.intp)
    # compare_group (a group within the budget) keeps its arrays and tolerances.
    assert r.analytic is not None and r.numerical is not None and r.tolerance is not None
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(~(np.abs(r.analytic - r.numerical) <= r.tolerance))


def _complex_precision(values: np.ndarray | RowChunks, eps: float) -> Callable[[slice], np.ndarray]:
    """The complex step's estimate by its precision alone, for the flat entries ``sl`` of ``values``."""
    return lambda sl: RULES["complex"].roundoff * ROUNDOFF_FACTOR * eps * np.abs(flat_part(values, sl))


def _write(arrays: dict[str, Any], name: str, idx: np.ndarray, new: np.ndarray) -> None:
    """Set the flat entries ``idx`` of ``arrays[name]`` to ``new``.

    The engines' values, estimates and steps are their own fresh arrays, so the re-measured
    entries are written into them.  A group the engine returned by rows (a RowChunks) keeps them
    as a patch, and so does a shared read-only step (the structured engine's one complex step
    for a whole layer, a broadcast view), which never becomes an array of the group's size.
    """
    x = arrays[name]
    if isinstance(x, np.ndarray) and not x.flags.writeable:
        rows = x.reshape(x.shape[0], -1) if x.ndim else None
        x = arrays[name] = RowChunks(x.shape, lambda r: rows[r]) if rows is not None else np.array(x)
    if isinstance(x, RowChunks):
        arrays[name] = x.patched(idx, new)
    else:
        x.flat[idx] = new


def _coarse(method: str, values: np.ndarray | RowChunks, errors: np.ndarray | RowChunks,
            steps: np.ndarray | RowChunks, eps: float, loss_value: float, sigma: float, chunk: int) -> np.ndarray:
    """:func:`~gradcheck.verify.step_guard.coarse_entries` of a group, a chunk of entries at a time."""
    size = values.size if isinstance(values, RowChunks) else int(np.size(values))
    found = []
    for start in range(0, size, chunk):
        sl = slice(start, min(size, start + chunk))
        e = flat_part(errors, sl)
        found.append(start + coarse_entries(flat_part(values, sl), e,
                                            _roundoff_part(method, e, flat_part(steps, sl), eps, loss_value, sigma)))
    return np.concatenate(found) if found else np.empty(0, np.intp)


def _sample(values: RowChunks) -> tuple[tuple[slice, ...], np.ndarray]:
    """A leading block of a streamed group's values, about :data:`SAMPLE_ENTRIES` of them, for diagnosis.

    A square block of a square matrix keeps the transpose check (W[:k, :k]ᵀ is Wᵀ's own block); a
    constant factor, a regulariser, a precision or one wrong entry among agreeing ones show in any block.
    """
    k = max(1, int(SAMPLE_ENTRIES ** (1 / max(1, len(values.shape)))))
    sample = tuple(slice(0, min(d, k)) for d in values.shape)
    block = values.block(sample[0]) if sample else values.full()
    return sample, np.array(block[(slice(None), *sample[1:])] if sample else block)


def _beyond_rounding(values: tuple[float, float], eps: float) -> bool:
    """Two loss values at the same θ differ by more than rounding (8ε of their size)."""
    a, b = values
    return not (math.isfinite(a) and math.isfinite(b)) or abs(a - b) > ROUNDOFF_FACTOR * eps * max(abs(a), abs(b))


def _roundoff_part(method: str, errors: np.ndarray, steps: np.ndarray, eps: float, loss_value: float,
                   sigma: float) -> np.ndarray | None:
    """The round-off and noise part of each error estimate (the rest is truncation); None if unknown.

    Entries measured by the complex step (step ``COMPLEX_STEP``) have no truncation part.
    """
    rule = RULES.get(method.split("+")[-1])
    if rule is None or rule.exponent is None:
        return None if rule is None else np.asarray(errors, np.float64)
    L = abs(loss_value) if math.isfinite(loss_value) else 0.0
    h = np.asarray(steps, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        part = rule.roundoff * max(ROUNDOFF_FACTOR * eps * L, LOSS_NOISE_FACTOR * sigma) / h
    return np.where(h <= COMPLEX_STEP, errors, part)


def flagged_entries(g: np.ndarray, values: np.ndarray | RowChunks, errors: np.ndarray | RowChunks, eps_g: float,
                    tol: Tolerance,
                    loss_value: float, p: np.ndarray, grad_rounding: np.ndarray | RowChunks | None,
                    loss_noise: float = 0.0, bounded: bool = False, memory_budget: int | None = None,
                    among: Callable[[slice], np.ndarray] | None = None) -> np.ndarray:
    """Flat indices of the entries whose difference exceeds the tolerance.

    Parameters
    ----------
    g, values, errors, p : ndarray, all of one group's shape
        Analytic gradient, numerical derivative, its error estimate, and θ (``values`` and
        ``errors`` may be :class:`~gradcheck.verify.streaming.RowChunks`).
    eps_g, tol, loss_value, grad_rounding, loss_noise
        As for :func:`gradcheck.verify.tolerance.entry_tolerance` (``grad_rounding`` may be a
        :class:`~gradcheck.verify.streaming.RowChunks`).
    bounded : bool
        Cap the numerical part of the tolerance at the resolution bound (as the comparison does).
    memory_budget : int, optional
        Bytes the tolerances may take: larger groups are judged in chunks of entries
        (:mod:`gradcheck.verify.streaming`), with the same result.
    among : callable, optional
        ``among(sl)``: bool array of the flat entries ``sl``; only entries where it is True can be
        flagged (asked a chunk at a time).

    Returns
    -------
    ndarray of int, shape (k,)
    """
    # Flat, so that a 0-d group's chunks have the shape of a RowChunks' (1-D) entries.
    g = np.asarray(g, np.float64).reshape(-1)
    values, errors = (x if isinstance(x, RowChunks) else np.reshape(x, -1) for x in (values, errors))
    chunk = chunk_entries(memory_budget) if memory_budget is not None else max(1, g.size)
    if isinstance(grad_rounding, RowChunks):
        chunk = max(grad_rounding.row_size, chunk // max(1, grad_rounding.row_size) * grad_rounding.row_size)
    G, S = group_maxima(g, values, errors, tol.safety, chunk)
    bound = RESOLUTION * S if bounded else np.inf
    gf = g
    found = []
    for start in range(0, g.size, chunk):
        sl = slice(start, min(g.size, start + chunk))
        vc, ec = flat_part(values, sl), flat_part(errors, sl)
        total, _ = entry_tolerance(gf[sl], vc, ec, eps_g, tol, loss_value=loss_value,
                                   params=flat_part(p, sl), grad_rounding=flat_part(grad_rounding, sl),
                                   loss_noise=loss_noise, bound=bound, numerical_max=G)
        with np.errstate(invalid="ignore"):
            beyond = ~(np.abs(gf[sl] - vc) <= total)
            found.append(start + np.flatnonzero(beyond if among is None else beyond & among(sl)))
    return np.concatenate(found) if found else np.empty(0, np.intp)


def _directional(loss: Callable, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                 options: CheckOptions) -> tuple[list[GroupResult], float, int, list[str]]:
    """⟨g, v⟩ against a Richardson directional derivative, ``options.n_directions`` directions per group."""
    tol, k = options.tolerance, options.n_directions
    rng = np.random.default_rng(options.seed)
    ev = LossEvaluator(loss, params)
    f0, precision, eps = loss_at_rest(ev)
    h = relative_step("richardson", precision)
    typical = options.scales(list(params))
    groups = []
    for name, p in params.items():
        g = np.asarray(grads[name], dtype=np.float64)
        x = ev.work[name].copy()
        proj, nums, errs, scales = [], [], [], []
        ev.context = f"along a random direction in {name!r} (method 'directional')"
        for _ in range(k):
            v = rng.standard_normal(p.shape)
            # Non-finite parameters make NaN here; the comparison reports them.
            hv = h * max(typical[name], float(np.max(np.abs(x), initial=0.0)))
            F = []
            with np.errstate(invalid="ignore", over="ignore"):
                for s in RULES["richardson"].offsets:
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
        eps_g = dtype_eps_grad(p, precision)
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

"""Several small groups compared in one vectorized pass: compare_group's results, group by group.

:func:`~gradcheck.verify.tolerance.compare_group` costs a few dozen numpy calls
whatever a group's size; on a small network (a dozen entries per group) those
calls, not the arithmetic, are its time, and check_params pays them for every
group.  :func:`compare_groups` forms every per-entry quantity (masks, the
tolerance of :func:`~gradcheck.verify.tolerance.entry_tolerance`, differences,
ratios) once over the groups' entries laid end to end, with each group's
scalars (G, the scale, the resolution bound, ε_g, rtol) repeated over its own
entries, and splits the summaries per group.  Every entrywise operation is the
one compare_group performs on the same operands in the same order, maxima and
counts do not depend on the order of their terms, and the sorts and norms run on
each group's own segment, so every field of every result equals compare_group's
bit for bit (tests/test_batch_compare.py).  Groups it cannot lay end to end
(empty, 0-d, not C-ordered, without params) go through compare_group itself.
:func:`coarse_groups` does the same for the step guard's coarse test, and
:func:`first_pass_batch` is run_check's first-pass comparison through compare_groups.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..numerical.engine import NumericalGradient
from ..report.records import GroupResult, Mismatch
from .options import CheckOptions
from .resolution import RESOLUTION, LossResolution, undecided_reason
from .step_guard import SHRINK, TRUNCATION_SMALL
from .streaming import RowChunks, flat_part, whole
from .tolerance import _EPS64, Tolerance, _nonfinite_note, compare_group, dtype_eps_grad, gradient_epsilon, judge

__all__ = ["GroupInputs", "compare_groups", "coarse_groups", "first_pass_batch"]


@dataclass(frozen=True)
class GroupInputs:
    """One group's per-entry inputs to :func:`compare_groups` (compare_group's arguments of the same names).

    Attributes
    ----------
    name : str
    analytic, numerical, error, params : ndarray, all of one shape
    eps_grad : float
    method : str
    grad_rounding : ndarray or None, the group's shape
    roundoff : ndarray or None, the group's shape
    """

    name: str
    analytic: np.ndarray
    numerical: np.ndarray
    error: np.ndarray
    params: np.ndarray
    eps_grad: float
    method: str = ""
    grad_rounding: np.ndarray | None = None
    roundoff: np.ndarray | None = None


def _layable(g: GroupInputs) -> bool:
    """Whether the group's entries can be laid end to end with the same results (see the module docstring)."""
    arrays = (g.analytic, g.numerical, g.error, g.params)
    shape = np.shape(g.analytic)
    return (all(isinstance(x, np.ndarray) and x.flags.c_contiguous and x.shape == shape for x in arrays)
            and g.analytic.size > 0 and g.analytic.ndim > 0  # a 0-d group's arithmetic gives numpy scalars
            and (g.grad_rounding is None or np.shape(g.grad_rounding) == shape))


def compare_groups(groups: Sequence[GroupInputs], *, tol: Tolerance | None = None, loss_value: float = 0.0,
                   loss_noise: float = 0.0, n_worst: int = 5,
                   resolution: LossResolution | None = None) -> list[GroupResult]:
    """compare_group on each group, with the shared arguments; the results in the groups' order.

    Parameters
    ----------
    groups : sequence of GroupInputs
    tol, loss_value, loss_noise, n_worst, resolution
        As for :func:`~gradcheck.verify.tolerance.compare_group`, shared by every group.

    Returns
    -------
    list of GroupResult
        Equal, field by field, to ``compare_group(g.name, g.analytic, ...)`` for each group ``g``.
    """
    tol = Tolerance() if tol is None else tol
    out: list[GroupResult | None] = [None] * len(groups)
    batch = []
    for i, g in enumerate(groups):
        if _layable(g):
            batch.append(i)
        else:
            out[i] = compare_group(g.name, g.analytic, g.numerical, g.error, eps_grad=g.eps_grad, method=g.method,
                                   params=g.params, grad_rounding=g.grad_rounding, roundoff=g.roundoff, tol=tol,
                                   loss_value=loss_value, loss_noise=loss_noise, n_worst=n_worst, resolution=resolution)
    if batch:
        for i, r in zip(batch, _compare_laid([groups[i] for i in batch], tol, loss_value, loss_noise, n_worst,
                                             resolution), strict=True):
            out[i] = r
    return [r for r in out if r is not None]


def _compare_laid(groups: list[GroupInputs], tol: Tolerance, loss_value: float, loss_noise: float, n_worst: int,
                  resolution: LossResolution | None) -> list[GroupResult]:
    """compare_group's body over the groups' entries laid end to end (see the module docstring)."""
    sizes = np.array([g.analytic.size for g in groups])
    ends = np.cumsum(sizes)
    starts = ends - sizes

    def lay(xs: list[np.ndarray]) -> np.ndarray:
        # axis=None: each (C-ordered) array flattened in C order, as reshape(-1); cast as np.asarray(x, np.float64).
        return np.concatenate(xs, axis=None, dtype=np.float64)

    def per_entry(values: list[float]) -> np.ndarray:
        return np.repeat(np.array(values, dtype=np.float64), sizes)

    arrays = [np.asarray(g.analytic, dtype=np.float64) for g in groups]
    numericals = [np.asarray(g.numerical, dtype=np.float64) for g in groups]
    a, n, e = lay(arrays), lay(numericals), lay([g.error for g in groups])
    p = np.concatenate([g.params for g in groups], axis=None)
    fin_a, fin_n, fin_p = np.isfinite(a), np.isfinite(n), np.isfinite(p)
    L = abs(loss_value) if np.isfinite(loss_value) else 0.0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_a, abs_n = np.abs(a), np.abs(n)
        resolved = fin_n & np.isfinite(e) & (abs_n > tol.safety * e)
        # Group maxima of non-negative magnitudes: max(x[mask], initial=0) is the max of where(mask, x, 0).
        scales = np.maximum(np.maximum.reduceat(np.where(fin_a, abs_a, 0.0), starts),
                            np.maximum.reduceat(np.where(resolved, abs_n, 0.0), starts))
        G = np.maximum.reduceat(np.where(fin_n, abs_n, 0.0), starts)
        bounds = RESOLUTION * scales if resolution is not None else np.full(len(groups), np.inf)
        bound = np.repeat(bounds, sizes)
        # entry_tolerance's terms, each group's scalars repeated over its entries.
        rtol = per_entry([tol.rtol if g.eps_grad <= _EPS64 else max(tol.rtol, float(np.sqrt(g.eps_grad)))
                          for g in groups])
        factor = per_entry([tol.grad_factor * gradient_epsilon(g.eps_grad, loss_value, loss_noise, tol.grad_factor)
                            for g in groups])
        theta = np.maximum(1.0, np.abs(p.astype(np.float64, copy=False)))
        abs_tol = (np.minimum(tol.safety * e, bound) + factor * (abs_a + np.repeat(G, sizes) + L / theta)
                   + tol.atol)
        if any(g.grad_rounding is not None for g in groups):
            abs_tol = abs_tol + lay([np.zeros(g.analytic.shape) if g.grad_rounding is None else g.grad_rounding
                                     for g in groups])
        total = abs_tol + rtol * np.maximum(abs_a, abs_n)
        finite = fin_a & fin_n & np.isfinite(total) & fin_p
        diff, ok, undecided, rel, ratio = judge(a, n, e, abs_a, abs_n, total, abs_tol, finite, tol.safety, bound)
        # Each group's entries by decreasing ratio, stably: argsort(-ratio, kind="stable") of its segment.
        gid = np.repeat(np.arange(len(groups)), sizes)
        order_all = np.lexsort((-ratio, gid))
        failing_all = np.add.reduceat((~ok).astype(np.intp), starts)
        undecided_all = np.add.reduceat(undecided.astype(np.intp), starts)
        max_abs_all = np.maximum.reduceat(np.where(finite, diff, np.inf), starts)
        max_rel_all = np.maximum.reduceat(rel, starts)
        max_est_all = np.maximum.reduceat(e, starts)
        d_all = np.where(finite, a - n, np.inf)
        na_all, nn_all, nt_all = (np.where(finite, x, 0) for x in (a, n, abs_tol))
        all_finite = bool(fin_a.all() and fin_n.all() and fin_p.all())
        results = []
        # Python numbers, read once (the same values as float()/int() of each element).
        n_failing, n_undecided_of, max_abs, max_rel, max_est, scale_of, bound_of = (
            x.tolist() for x in (failing_all, undecided_all, max_abs_all, max_rel_all, max_est_all, scales, bounds))
        # Every group's kept entries (its n_worst largest ratios, or its failing ones if fewer), gathered at once.
        bounds_list = list(zip(starts.tolist(), ends.tolist(), strict=True))
        kept = [order_all[s:s + (min(n_worst, f) if f else n_worst)][: t - s]
                for (s, t), f in zip(bounds_list, n_failing, strict=True)]
        kept_all = np.concatenate(kept)
        kept_rows = list(zip(kept_all.tolist(), *(x[kept_all].tolist() for x in (a, n, diff, rel, total)),
                             strict=True))
        row_ends = np.cumsum([k.size for k in kept]).tolist()
        for k, (g, (s, t)) in enumerate(zip(groups, bounds_list, strict=True)):
            shape = g.analytic.shape
            notes = [] if all_finite else [m for m in (
                _nonfinite_note(f"params[{g.name!r}]", g.params, fin_p[s:t].reshape(shape)),
                _nonfinite_note("the analytic gradient", arrays[k], fin_a[s:t].reshape(shape)),
                _nonfinite_note("the numerical derivative (the loss is not finite nearby)", numericals[k],
                                fin_n[s:t].reshape(shape)),
            ) if m]
            order = order_all[s:t]
            w = int(order[0])
            worst_index = _unravel(w - s, shape)
            failing = n_failing[k]
            worst = [Mismatch(_unravel(r[0] - s, shape), *r[1:])
                     for r in kept_rows[row_ends[k] - kept[k].size:row_ends[k]]]
            # _norm of each segment (1-d, contiguous): the same dot product, and sqrt correctly rounded either way.
            dn = math.sqrt(_dot(d_all[s:t]))
            norm_den = max(math.sqrt(_dot(na_all[s:t])), math.sqrt(_dot(nn_all[s:t])), math.sqrt(_dot(nt_all[s:t])))
            norm_rel = 0.0 if dn == 0 else float(dn / norm_den) if norm_den > 0 else float("inf")
            reason = None
            n_undecided = n_undecided_of[k]
            scale, bnd = scale_of[k], bound_of[k]
            if n_undecided and n_undecided == failing:
                ek = e[s:t]
                idx = np.flatnonzero(undecided[s:t])
                worst_k = int(idx[np.argmax(tol.safety * ek[idx])])
                truncation = g.roundoff is not None and bool(
                    ek[worst_k] > 2 * np.asarray(g.roundoff, dtype=np.float64).flat[worst_k])
                reason = undecided_reason(n_undecided, int(t - s), scale, bnd, float(tol.safety * ek[worst_k]),
                                          truncation, g.method, resolution)
            elif n_undecided:
                notes.append(f"{n_undecided} more entr{'y' if n_undecided == 1 else 'ies'} could not be decided: their "
                             f"numerical error estimates exceed the resolution bound {bnd:.2g}")
            results.append(GroupResult(
                name=g.name, shape=tuple(shape), passed=bool(failing == 0), n_entries=int(t - s), n_mismatched=failing,
                max_abs_error=max_abs[k], max_rel_error=max_rel[k], norm_rel_error=norm_rel,
                worst_index=worst_index, worst_analytic=float(a[w]), worst_numerical=float(n[w]),
                worst_tolerance=float(total[w]), method=g.method, max_error_estimate=max_est[k],
                worst=worst, notes=notes, analytic=arrays[k], numerical=numericals[k],
                tolerance=total[s:t].reshape(shape), inconclusive_reason=reason,
            ))
    return results


def _dot(x: np.ndarray) -> float:
    """x·x of a 1-d array, as :func:`~gradcheck.verify.tolerance._norm` forms it."""
    return float(x.dot(x))


def _unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """np.unravel_index(flat, shape) (C order) as a tuple of ints, without numpy's per-call cost."""
    if len(shape) == 2:  # a weight matrix: the common case
        return divmod(flat, shape[1])
    if len(shape) == 1:
        return (flat,)
    index = []
    for dim in reversed(shape):
        flat, i = divmod(flat, dim)
        index.append(i)
    return tuple(reversed(index))


def coarse_groups(groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> dict[str, np.ndarray]:
    """:func:`~gradcheck.verify.step_guard.coarse_entries` of several groups, in one pass over their entries.

    Parameters
    ----------
    groups : dict of str to (values, errors, roundoff)
        Per group its flat numerical derivative, error estimate and round-off part (each of shape (n,);
        roundoff None: unknown, no entry is coarse).

    Returns
    -------
    dict of str to ndarray of int, shape (k,)
        Each group's flat indices, equal to ``coarse_entries(values, errors, roundoff)``.
    """
    known = [k for k, (_, _, ro) in groups.items() if ro is not None]
    out = {k: np.zeros(0, dtype=np.intp) for k in groups if k not in set(known)}
    if not known:
        return out
    sizes = [np.size(groups[k][0]) for k in known]
    v, e, ro = (np.concatenate([np.asarray(groups[k][j], np.float64).reshape(-1) for k in known]) for j in range(3))
    with np.errstate(invalid="ignore"):
        # coarse_entries' test, entry by entry.
        truncation = e - ro
        coarse = np.flatnonzero((truncation > TRUNCATION_SMALL * np.abs(v)) & (truncation > SHRINK * ro))
    starts = np.cumsum([0, *sizes]).tolist()
    cuts = np.searchsorted(coarse, starts).tolist()
    for j, k in enumerate(known):
        out[k] = coarse[cuts[j]:cuts[j + 1]] - starts[j]
    return out


def first_pass_batch(names: list[str], params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                     ng: NumericalGradient, options: CheckOptions, grad_rounding: dict[str, np.ndarray | RowChunks],
                     used: dict[str, str], values: dict[str, Any], errors: dict[str, Any], steps: dict[str, Any],
                     context: LossResolution, whole_roundoff: dict[str, np.ndarray | None],
                     roundoff_part: Callable[..., np.ndarray | None]) -> dict[str, GroupResult]:
    """run_check's first-pass comparisons of the groups ``names`` in one pass (:func:`compare_groups`).

    ``names``: groups with round-off-only first-pass estimates whose comparison fits the budget whole
    (run_check chooses them).  Their round-off parts (``roundoff_part``: run_check's) are recorded in
    ``whole_roundoff`` as run_check's own comparison records them; the other arguments are run_check's
    state after the first pass (values, estimates, steps and rule per group, the loss's resolution
    ``context``).  On a small net the per-group fixed cost of compare_group, not its arithmetic, was
    the check's own time.

    Returns
    -------
    dict of str to GroupResult
        Each group's result, equal to run_check's comparison of it.
    """
    eps = float(np.finfo(ng.precision).eps)
    inputs = []
    sizes = [int(np.size(params[name])) for name in names]
    if len({used[name] for name in names}) == 1 and all(np.size(steps[name]) == np.size(errors[name]) == size
                                                         for name, size in zip(names, sizes, strict=True)):
        # One rule: the round-off parts, elementwise in the estimates and steps, formed once over every group.
        laid = roundoff_part(used[names[0]], np.concatenate([np.ravel(errors[name]) for name in names]),
                             np.concatenate([np.ravel(steps[name]) for name in names]), eps, ng.loss_value,
                             ng.loss_noise)
        ends = np.cumsum(sizes).tolist()
        parts = [None if laid is None else laid[end - size:end] for end, size in zip(ends, sizes, strict=True)]
    else:
        parts = [roundoff_part(used[name], flat_part(errors[name], slice(0, size)), flat_part(steps[name],
                               slice(0, size)), eps, ng.loss_value, ng.loss_noise)
                 for name, size in zip(names, sizes, strict=True)]
    for name, part in zip(names, parts, strict=True):
        whole_roundoff[name] = part  # compare's roundoff(every group entry), flat as it records it
        gr = grad_rounding.get(name)
        inputs.append(GroupInputs(
            name, grads[name], values[name], errors[name], params[name], dtype_eps_grad(params[name], ng.precision),
            used[name], None if gr is None else whole(gr),
            None if part is None else np.reshape(part, np.shape(grads[name]))))
    results = compare_groups(inputs, tol=options.tolerance, loss_value=ng.loss_value, loss_noise=ng.loss_noise,
                             resolution=context)
    return dict(zip(names, results, strict=True))

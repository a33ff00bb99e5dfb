"""Group comparisons within the memory budget: compare_group's result, computed chunk by chunk.

:func:`~gradcheck.verify.tolerance.compare_group` forms a dozen arrays of the
group's size at once (tolerances, differences, ratios, masks, an argsort).
For a group whose entries times :data:`COMPARE_BYTES` exceed the memory
budget, :func:`compare_in_budget` makes two passes over chunks of entries
instead:

1. the group's maxima that every tolerance depends on, G = max |n_i| and the
   gradient scale S of the resolution bound (both maxima, so exact per chunk);
2. each chunk's tolerances and verdicts, keeping only running summaries: the
   counts of failing and undecided entries, the largest absolute and relative
   errors, the sums of squares of the normwise error, the ``n_worst`` entries
   with the largest error-to-tolerance ratio (ties: the lowest index, as the
   stable argsort does) and the undecided entry with the largest estimate.

The verdict, counts, worst index, worst entries and inconclusive reason equal
compare_group's exactly; the normwise relative error equals it to rounding
(its sums are taken per chunk).  The result refers to the caller's analytic and
numerical arrays (no copy, so diagnosis reads them as before) but keeps no
per-entry tolerance (``tolerance`` is None), so a report shows no error
heatmap for such a group and says so.

Any per-entry input may also be a :class:`RowChunks`, an array formed a
block of rows at a time (check_network's formula rows and backprop's rounding
bound: a row of W_l is one product with a column of a_{l−1}), so that no input
of a group's size need exist at once; such an input is never kept in the
result (``analytic`` or ``numerical`` is None then).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..numerical.chunked import RowChunks, whole
from ..report.records import GroupResult, Mismatch
from .resolution import RESOLUTION, LossResolution, undecided_reason
from .tolerance import Tolerance, compare_group, entry_tolerance

__all__ = ["COMPARE_BYTES", "compare_in_budget", "compare_streamed", "group_maxima", "chunk_entries",
           "STREAMED_NOTE", "RowChunks", "flat_part", "whole", "fits_whole"]

#: Bytes per entry that compare_group's temporaries take at their peak (75 measured with
#: tracemalloc on a 10⁶-entry group with θ, s_i, round-off parts and the resolution bound).
COMPARE_BYTES = 80

#: What a report says of a group compared in chunks.
STREAMED_NOTE = ("compared in chunks to stay within the memory budget: every entry was judged, the report keeps "
                 "the worst entries and the group's summary, not a per-entry tolerance map")


_DEFAULT = Tolerance()


def chunk_entries(memory_budget: int) -> int:
    """Entries per chunk: their temporaries take at most a quarter of the budget (at least 1,024 entries)."""
    return max(1024, int(memory_budget) // (4 * COMPARE_BYTES))


PerEntry = np.ndarray | RowChunks




def flat_part(x, sl: slice):
    """One chunk of a per-entry array or RowChunks (scalars and None are shared by every chunk)."""
    if isinstance(x, RowChunks):
        return x.flat(slice(sl.start, min(sl.stop, x.size)))
    if x is None or np.ndim(x) == 0:
        return x
    return np.asarray(x).reshape(-1)[sl]




def _slices(size: int, chunk: int) -> list[slice]:
    return [slice(s, min(size, s + chunk)) for s in range(0, size, chunk)]


def _aligned(chunk: int, *inputs) -> int:
    """``chunk`` rounded to whole rows of the RowChunks among ``inputs`` (each chunk then forms its rows once)."""
    k = max([x.row_size for x in inputs if isinstance(x, RowChunks)] or [1])
    return max(k, chunk // k * k) if k > 1 else chunk


def group_maxima(analytic: PerEntry, numerical: PerEntry, error: PerEntry, safety: float,
                 chunk: int, census: list[_Census] | None = None) -> tuple[float, float]:
    """(G, S) of a group, chunk by chunk: the largest finite |n_i|, and the gradient scale.

    S is :func:`~gradcheck.verify.resolution.gradient_scale`: the largest finite
    |g_i|, or |n_i| where n_i stands above safety·est_i.  ``census``: inputs of the group's size whose
    non-finite entries are counted in the same pass (a RowChunks formed on request is then formed once).
    """
    G = S = 0.0
    chunk = _aligned(chunk, analytic, numerical, error, *(c.arr for c in census or []))
    with np.errstate(invalid="ignore", over="ignore"):
        for sl in _slices(int(np.size(analytic) if not isinstance(analytic, RowChunks) else analytic.size), chunk):
            ac, nc, ec = (np.asarray(flat_part(x, sl), np.float64) for x in (analytic, numerical, error))
            fin = np.abs(nc[np.isfinite(nc)])
            G = max(G, float(np.max(fin, initial=0.0)))
            resolved = np.isfinite(nc) & np.isfinite(ec) & (np.abs(nc) > safety * ec)
            S = max(S, float(np.max(np.abs(ac[np.isfinite(ac)]), initial=0.0)),
                    float(np.max(np.abs(nc[resolved]), initial=0.0)))
            for c in census or []:
                c.add(flat_part(c.arr, sl), sl.start)
    return G, S


class _Census:
    """The non-finite entries of one per-entry input, counted chunk by chunk: the sentence of
    :func:`gradcheck.verify.tolerance._nonfinite_note`."""

    def __init__(self, label: str, arr: PerEntry, limit: int = 3) -> None:
        self.label, self.arr, self.limit = label, arr, limit
        self.first: list[int] = []
        self.count = 0

    def add(self, part: np.ndarray, start: int) -> None:
        bad = np.flatnonzero(~np.isfinite(part))
        self.count += bad.size
        self.first += [int(i) + start for i in bad[: self.limit - len(self.first)]]

    def note(self) -> str | None:
        if not self.count:
            return None
        where = ", ".join(str(tuple(int(i) for i in np.unravel_index(k, _shape(self.arr)))) for k in self.first)
        more = f" and {self.count - self.limit} more" if self.count > self.limit else ""
        return f"{self.label} is not finite at {where}{more}"


def _nonfinite_note(label: str, arr: PerEntry, chunk: int) -> str | None:
    """:class:`_Census`'s sentence for ``arr`` alone."""
    census = _Census(label, arr)
    for sl in _slices(_size(arr), _aligned(chunk, arr)):
        census.add(flat_part(arr, sl), sl.start)
    return census.note()


def _size(x: PerEntry) -> int:
    return x.size if isinstance(x, RowChunks) else int(np.size(x))


def _shape(x: PerEntry) -> tuple[int, ...]:
    return tuple(x.shape) if isinstance(x, RowChunks) else tuple(np.shape(x))


def compare_streamed(name: str, analytic: PerEntry, numerical: PerEntry, error: PerEntry, *,
                     chunk: int, eps_grad: float, tol: Tolerance = _DEFAULT, method: str = "",
                     params: PerEntry | None = None, loss_value: float = 0.0,
                     grad_rounding: PerEntry | None = None, loss_noise: float = 0.0, n_worst: int = 5,
                     resolution: LossResolution | None = None,
                     roundoff: np.ndarray | Callable[[slice], np.ndarray | None] | None = None) -> GroupResult:
    """:func:`~gradcheck.verify.tolerance.compare_group` in chunks of ``chunk`` entries (see the module docstring).

    Parameters are compare_group's, except ``roundoff``, which may also be a
    function of a slice of flat indices (only the worst undecided entry's is needed),
    ``chunk``, the entries per chunk, and that every per-entry input may be a
    :class:`RowChunks`.

    Returns
    -------
    GroupResult
        With ``analytic`` and ``numerical`` the given arrays (as float64; None
        for a RowChunks) and ``tolerance`` None.
    """
    a, n, e = (x if isinstance(x, RowChunks) else np.asarray(x, dtype=np.float64)
               for x in (analytic, numerical, error))
    shape, size = _shape(a), _size(a)
    if not size:
        return compare_group(name, whole(a), whole(n), whole(e), eps_grad=eps_grad, tol=tol, method=method,
                             params=whole(params), loss_value=loss_value, grad_rounding=whole(grad_rounding),
                             loss_noise=loss_noise, n_worst=n_worst, resolution=resolution,
                             roundoff=None if callable(roundoff) else roundoff)
    chunk = _aligned(chunk, a, n, e, params, grad_rounding)
    # The non-finite census in the maxima's pass: a delta group blocked by samples is measured once per pass.
    p = params if params is None or isinstance(params, RowChunks) else np.asarray(params)
    census = [_Census("the analytic gradient", a), _Census("the numerical derivative (the loss is not finite "
                                                            "nearby)", n)]
    first = None
    if p is not None and _size(p) == size:
        census.insert(0, _Census(f"params[{name!r}]", p))
    elif p is not None:
        first = _nonfinite_note(f"params[{name!r}]", p, chunk)
    G, scale = group_maxima(a, n, e, tol.safety, chunk, census)
    notes = [m for m in [first, *(c.note() for c in census)] if m]
    bound = RESOLUTION * scale if resolution is not None else np.inf
    failing = n_undecided = 0
    undecided_at, undecided_est = -1, -np.inf
    max_abs: list[float] = []
    max_rel: list[float] = []
    max_est: list[float] = []
    squares = np.zeros(4)  # ‖g − n‖², ‖g‖², ‖n‖², ‖abs‖²
    # The worst entries so far: flat index, ratio, and (a, n, diff, rel, tol) of each.
    top_idx = np.empty(0, np.intp)
    top_ratio = np.empty(0)
    top_rows = np.empty((0, 5))
    for sl in _slices(size, chunk):
        ac, nc, ec = (np.asarray(flat_part(x, sl), np.float64) for x in (a, n, e))
        pc = flat_part(params, sl)
        total, abs_tol = entry_tolerance(ac, nc, ec, eps_grad, tol, loss_value=loss_value, params=pc,
                                         grad_rounding=flat_part(grad_rounding, sl),
                                         loss_noise=loss_noise, bound=bound, numerical_max=G)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            diff = np.abs(ac - nc)
            finite = np.isfinite(ac) & np.isfinite(nc) & np.isfinite(total)
            if pc is not None:
                finite &= np.isfinite(np.asarray(pc))
            ok = finite & (diff <= total)
            undecided = finite & ~ok & (diff <= total + np.maximum(tol.safety * ec - bound, 0.0))
            denom = np.maximum(np.maximum(np.abs(ac), np.abs(nc)), abs_tol)
            rel = np.where(diff == 0, 0.0, diff / np.where(denom > 0, denom, np.inf))
            ratio = np.where(finite, np.where(diff == 0, 0.0, diff / np.where(total > 0, total, 0.0)), np.inf)
            ratio = np.where(np.isnan(ratio), np.inf, ratio)
            rel = np.where(finite, rel, np.inf)
            failing += int(np.count_nonzero(~ok))
            k = np.flatnonzero(undecided)
            if k.size:
                n_undecided += k.size
                j = int(k[np.argmax(tol.safety * ec[k])])
                if tol.safety * ec[j] > undecided_est:  # strictly larger: the first of equals, as argmax
                    undecided_at, undecided_est = sl.start + j, float(tol.safety * ec[j])
            max_abs.append(float(np.max(np.where(finite, diff, np.inf))))
            max_rel.append(float(np.max(rel)))
            max_est.append(float(np.max(ec)))
            for q, x in enumerate((np.where(finite, ac - nc, np.inf), np.where(finite, ac, 0),
                                   np.where(finite, nc, 0), np.where(finite, abs_tol, 0))):
                squares[q] += float(np.dot(x, x))
        best = np.argsort(-ratio, kind="stable")[:n_worst]
        cand_idx = np.r_[top_idx, sl.start + best]
        cand_ratio = np.r_[top_ratio, ratio[best]]
        cand_rows = np.vstack([top_rows, np.column_stack([ac[best], nc[best], diff[best], rel[best], total[best]])])
        order = np.argsort(-cand_ratio, kind="stable")[:n_worst]  # earlier chunks first: ties keep the lower index
        top_idx, top_ratio, top_rows = cand_idx[order], cand_ratio[order], cand_rows[order]
    keep = top_idx[: min(n_worst, failing)] if failing else top_idx[:n_worst]
    worst = [Mismatch(tuple(int(i) for i in np.unravel_index(int(k), shape)), *map(float, top_rows[q]))
             for q, k in enumerate(keep)]
    worst_index = tuple(int(i) for i in np.unravel_index(int(top_idx[0]), shape))
    with np.errstate(invalid="ignore", over="ignore"):
        dn = np.sqrt(squares[0])
        norm_den = float(np.sqrt(max(squares[1], squares[2], squares[3])))
    norm_rel = 0.0 if dn == 0 else float(dn / norm_den) if norm_den > 0 else float("inf")
    reason = None
    if n_undecided and n_undecided == failing:
        at = slice(undecided_at, undecided_at + 1)
        r = roundoff(at) if callable(roundoff) else None if roundoff is None else flat_part(roundoff, at)
        e_at = float(np.asarray(flat_part(e, at)).reshape(-1)[0])
        truncation = r is not None and bool(e_at > 2 * np.asarray(r, dtype=np.float64).reshape(-1)[0])
        reason = undecided_reason(n_undecided, int(size), scale, bound, undecided_est, truncation, method, resolution)
    elif n_undecided:
        notes.append(f"{n_undecided} more entr{'y' if n_undecided == 1 else 'ies'} could not be decided: their "
                     f"numerical error estimates exceed the resolution bound {bound:.2g}")
    wa, wn, _, _, wt = (float(v) for v in top_rows[0])
    return GroupResult(
        name=name, shape=tuple(shape), passed=bool(failing == 0), n_entries=int(size), n_mismatched=failing,
        max_abs_error=float(np.max(max_abs)), max_rel_error=float(np.max(max_rel)), norm_rel_error=norm_rel,
        worst_index=worst_index, worst_analytic=wa, worst_numerical=wn, worst_tolerance=wt, method=method,
        max_error_estimate=float(np.max(max_est)), worst=worst, notes=notes,
        analytic=None if isinstance(a, RowChunks) else a, numerical=None if isinstance(n, RowChunks) else n,
        tolerance=None, inconclusive_reason=reason,
    )


def fits_whole(analytic: PerEntry, memory_budget: int) -> bool:
    """Whether :func:`compare_in_budget` compares a group of ``analytic``'s size whole (compare_group)."""
    return _size(analytic) * COMPARE_BYTES <= memory_budget


def compare_in_budget(name: str, analytic: PerEntry, numerical: PerEntry, error: PerEntry, *,
                      memory_budget: int, roundoff: np.ndarray | Callable[[slice], np.ndarray | None] | None = None,
                      **options) -> GroupResult:
    """compare_group when its temporaries fit ``memory_budget``, else :func:`compare_streamed`.

    ``options`` are compare_group's keywords; ``roundoff`` may be a function of a
    slice of flat indices (compare_group gets it for the whole group); any
    per-entry input may be a :class:`RowChunks` (formed in full for compare_group).
    """
    size = _size(analytic)
    if fits_whole(analytic, memory_budget):
        if callable(roundoff):
            part = roundoff(slice(0, size))
            roundoff = None if part is None else np.reshape(part, _shape(analytic))
        for key in ("params", "grad_rounding"):
            if key in options:
                options[key] = whole(options[key])
        return compare_group(name, whole(analytic), whole(numerical), whole(error), roundoff=roundoff, **options)
    result = compare_streamed(name, analytic, numerical, error, chunk=chunk_entries(memory_budget),
                              roundoff=roundoff, **options)
    result.notes.append(STREAMED_NOTE)
    return result

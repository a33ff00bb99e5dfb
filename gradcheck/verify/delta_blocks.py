"""check_network's delta checks and formula rows by blocks of samples, when the deltas exceed their share.

A delta group z_l has one row per sample, and every per-entry array of the delta checks and of
the formula rows is row-local: ∂L/∂z_l[n, :] is sample n's unit responses, the recurrence row of
sample n reads δ_l[n] and δ_{l+1}[n] only, and backprop's rounding bound of δ_l[n] is sample n's
(:mod:`gradcheck.verify.rounding_bound`).  When these arrays, held for every layer, would take
more than a quarter of the memory budget (:func:`by_samples`), check_network holds none of
them:

* the structured delta engines return their values, error estimates and steps as RowChunks
  measured a block of samples at a time when read (:mod:`gradcheck.numerical.delta_rows`), with
  the whole group's loss at rest, loss noise and precision;
* run_check compares such a group as it compares any group over the budget
  (:mod:`gradcheck.verify.streaming`): pass 1 the group's maxima G and S, pass 2 each chunk's
  verdicts against them, keeping the worst entries by their index in the whole group; the
  entries the complex step flags and the step guard re-measure are patched in sparsely, with the
  whole group's flags (:mod:`gradcheck.verify.core`), so verdicts, worst entries and causes are
  the unblocked path's;
* the weight and bias formula rows are sums over samples: :func:`sample_sums` accumulates
  a_{l−1}ᵀ δ_l, |a_{l−1}|ᵀ est(δ_l) and |a_{l−1}|ᵀ bound(δ_l) (each of W_l's size) and the
  column sums in one pass over blocks of samples.  Both paths sum over the same fixed blocks
  (:data:`SUM_ENTRIES`), so the formula rows' numbers do not depend on the budget.

The price is time: every pass over a blocked group measures its deltas again (a delta check reads
its group about four times: the complex step's flags in two passes, the comparison's maxima with
its non-finite census, then its chunks; each recurrence row twice more, and the sums once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.network import DenseNet, ForwardCache
from .options import CheckOptions
from .streaming import RowChunks

__all__ = ["DELTA_ENTRY_BYTES", "SUM_ENTRIES", "SampleSums", "by_samples", "column_sum", "rows_of", "sample_product",
           "sample_sums"]

#: Bytes per delta entry that the unblocked path holds for every layer at once: the numerical
#: value, its error estimate and backprop's rounding bound.
DELTA_ENTRY_BYTES = 24


def by_samples(net: DenseNet, cache: ForwardCache, options: CheckOptions, kinked: bool) -> bool:
    """Whether check_network's delta checks run by blocks of samples (see the module docstring).

    When the deltas' :data:`DELTA_ENTRY_BYTES` per entry over every layer exceed a quarter of the
    budget (the comparisons' share), with the structured engine (the generic engine measures a
    group whole).  A kinked net's delta groups too: their one-sided entries are patched into the
    blocked values (:func:`gradcheck.numerical.kinks.project`), and ``kinked`` changes nothing.
    """
    entries = sum(int(np.size(z)) for z in cache.zs)
    return (options.engine == "structured" and options.method != "directional"
            and DELTA_ENTRY_BYTES * entries > options.run.memory_budget // 4)


def rows_of(x: np.ndarray | RowChunks, r: slice) -> np.ndarray:
    """Rows ``r`` (samples) of a per-sample array or RowChunks."""
    return x.block(r) if isinstance(x, RowChunks) else x[r]


#: Delta entries per block of every sum over samples of the formula rows, blocked or not: the blocks
#: (SUM_ENTRIES // n_l samples, fixed by the network) are then the same on both paths, so that blocking
#: changes no digit of the sums, and a blocked read of one (its deltas measured again) stays small.
SUM_ENTRIES = 4096


def _sum_blocks(n_samples: int, width: int) -> list[slice]:
    step = max(1, SUM_ENTRIES // max(1, width))
    return [slice(s, min(n_samples, s + step)) for s in range(0, n_samples, step)]


def sample_product(a: np.ndarray, x: np.ndarray | RowChunks, absolute: bool = False) -> np.ndarray:
    """aᵀ x (|a|ᵀ x with ``absolute``), summed over blocks of samples in order (:data:`SUM_ENTRIES`).

    Parameters
    ----------
    a : ndarray of shape (N, m)
        Columns of a_{l−1}.
    x : ndarray or RowChunks of shape (N, n_l)

    Returns
    -------
    ndarray of shape (m, n_l)
    """
    out = np.zeros((a.shape[1], x.shape[1]))
    for r in _sum_blocks(a.shape[0], x.shape[1]):
        out += (np.abs(a[r]) if absolute else a[r]).T @ rows_of(x, r)
    return out


def column_sum(x: np.ndarray | RowChunks) -> np.ndarray:
    """Σ_n x[n, :], summed over blocks of samples in order (:data:`SUM_ENTRIES`); shape (n_l,)."""
    out = np.zeros(x.shape[1])
    for r in _sum_blocks(x.shape[0], x.shape[1]):
        out += rows_of(x, r).sum(axis=0)
    return out


@dataclass(frozen=True)
class SampleSums:
    """Sums over samples for one layer's weight and bias formula rows.

    ``products``: a_{l−1}ᵀ δ_l, |a_{l−1}|ᵀ est(δ_l), |a_{l−1}|ᵀ bound(δ_l), each of shape (n_{l−1}, n_l);
    ``columns``: Σ_n δ_l, Σ_n est(δ_l), Σ_n bound(δ_l), each of shape (n_l,).
    """

    products: tuple[np.ndarray, np.ndarray, np.ndarray]
    columns: tuple[np.ndarray, np.ndarray, np.ndarray]


def sample_sums(a: np.ndarray, num: np.ndarray | RowChunks, est: np.ndarray | RowChunks,
                bound: np.ndarray | RowChunks) -> SampleSums:
    """The formula rows' sums over samples in one pass over blocks of samples (each block's deltas read once).

    Parameters
    ----------
    a : ndarray of shape (N, n_{l−1})
        The layer's inputs a_{l−1}.
    num, est, bound : ndarray or RowChunks of shape (N, n_l)
        The numerical δ_l, its error estimate and backprop's rounding bound of δ_l.

    Returns
    -------
    SampleSums
        :func:`sample_product`'s and :func:`column_sum`'s numbers (the same blocks, the same order).
    """
    N, n_prev = a.shape
    n_l = num.shape[1]
    products = tuple(np.zeros((n_prev, n_l)) for _ in range(3))
    columns = tuple(np.zeros(n_l) for _ in range(3))
    for r in _sum_blocks(N, n_l):
        part = a[r]
        for q, x in enumerate((num, est, bound)):
            block = rows_of(x, r)
            products[q][...] += (part if q == 0 else np.abs(part)).T @ block
            columns[q][...] += block.sum(axis=0)
    return SampleSums(products, columns)  # type: ignore[arg-type]

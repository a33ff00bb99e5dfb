"""A group's values and error estimates formed from its loss differences, a chunk of entries at a time.

The structured engine obtains a layer's differences f(θ + o·h·e_i) − f(θ)
either as an array (one row per entry and a column per offset) or, for the
complex step's weights, as a product a_{l−1}ᵀψ that it forms a block of rows of
W_l at a time (:class:`RowDifferences`).  :func:`form_values` applies the
rule to chunks of entries, so that neither the rule's temporaries nor the
complex step's differences (16 bytes per weight) exist for the whole group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .chunked import RowChunks
from .rules import apply_rule

__all__ = ["Extra", "RowDifferences", "form_values", "lazy_values", "product_rows", "whole_rows"]


class RowDifferences(NamedTuple):
    """A group's differences formed on request: ``rows(sl)`` for the flat entries ``sl``, shape (len, K).

    ``row_size`` entries make one row of the group (one product with a column of a_{l−1}).
    """

    rows: Callable[[slice], np.ndarray]
    row_size: int


#: Differences added to some entries of a group (weight decay's): ``extra(ei, ej, sl)`` for the flat entries
#: ``sl``, which are (ei, ej) of the weight matrix.
Extra = Callable[[np.ndarray, np.ndarray, slice], np.ndarray]


def product_rows(x: np.ndarray, psi: np.ndarray, extra: Extra | None = None) -> RowDifferences:
    """The differences ``(xᵀ ψ).reshape(-1, 1)`` (plus ``extra``), formed a block of rows at a time.

    Parameters
    ----------
    x : ndarray of shape (N, n_prev)
        a_{l−1}, the layer's inputs.
    psi : ndarray of shape (N, n_l)
        The unit responses of the layer's units.
    """
    n_l = psi.shape[1]

    def rows(sl: slice) -> np.ndarray:
        # The rows of W_l that hold the entries sl: one product with those columns of a_{l−1}.
        first, last = sl.start // n_l, -(-sl.stop // n_l)
        D = (x[:, first:last].T @ psi).reshape(-1, 1)[sl.start - first * n_l: sl.stop - first * n_l]
        return D if extra is None else D + extra(*np.divmod(np.arange(sl.start, sl.stop), n_l), sl)

    return RowDifferences(rows, n_l)


def whole_rows(D: np.ndarray, row_size: int, extra: Extra | None = None) -> RowDifferences:
    """Differences already formed whole, shape (n, 1), served by rows as :func:`product_rows` serves them."""

    def rows(sl: slice) -> np.ndarray:
        part = D[sl]
        return part if extra is None else part + extra(*np.divmod(np.arange(sl.start, sl.stop), row_size), sl)

    return RowDifferences(rows, row_size)


def form_values(method: str, D: np.ndarray | RowDifferences, f0: float, h: np.ndarray, eps: float,
                loss_noise: float, rounding: float | np.ndarray,
                chunk_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~gradcheck.numerical.rules.apply_rule` on chunks of entries of about ``chunk_bytes`` of temporaries.

    Parameters
    ----------
    method : str
        The rule.
    D : ndarray of shape (n, K) or RowDifferences
        The differences of the n entries.
    f0, eps, loss_noise
        As for apply_rule.
    h : ndarray of shape (n,)
        The steps.
    rounding : float or ndarray of shape (n,)
        apply_rule's bound on the rounding of one difference.
    chunk_bytes : int
        Working bytes per chunk (a few arrays of the chunk's size).

    Returns
    -------
    values, errors : ndarray of shape (n,)
    """
    size = h.shape[0]
    v, e = np.empty(size), np.empty(size)
    rows = max(1, chunk_bytes // (8 * 8 * (1 if isinstance(D, RowDifferences) else D.shape[1])))
    if isinstance(D, RowDifferences):
        # Whole rows, a multiple of 8 of them: chunking then changes no digit of the products.
        rows = max(8, rows // D.row_size // 8 * 8) * D.row_size
    for s in range(0, size, rows):
        sl = slice(s, min(size, s + rows))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            v[sl], e[sl] = apply_rule(method, D.rows(sl) if isinstance(D, RowDifferences) else D[sl], f0, h[sl],
                                      eps, loss_noise, rounding if isinstance(rounding, float) else rounding[sl])
    return v, e


def lazy_values(method: str, D: RowDifferences, f0: float, h: np.ndarray, eps: float, loss_noise: float,
                rounding: np.ndarray, shape: tuple[int, ...]) -> tuple[RowChunks, RowChunks]:
    """:func:`form_values` on request: values and error estimates as RowChunks formed a block of rows at a time.

    Parameters
    ----------
    method, f0, eps, loss_noise
        As for :func:`form_values`.
    D : RowDifferences
        The differences, whose rows are the group's rows (``D.row_size`` entries each).
    h : ndarray of shape (n,)
        The steps (a read-only broadcast view is fine: it is only read).
    rounding : ndarray of shape (shape[0],)
        apply_rule's bound on one difference, per row (the same for every entry of a row).
    shape : tuple of int
        The group's shape; its rows hold ``D.row_size`` entries each.

    Returns
    -------
    values, errors : RowChunks of ``shape``
        Each block of rows is formed once for both (the last block is kept), so a pass that reads
        the values and then the estimates of the same rows applies the rule once.
    """
    k = D.row_size
    last: list = [None, None]

    def both(r: slice) -> tuple[np.ndarray, np.ndarray]:
        if last[0] != (r.start, r.stop):
            sl = slice(r.start * k, r.stop * k)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                v, e = apply_rule(method, D.rows(sl), f0, h[sl], eps, loss_noise, np.repeat(rounding[r], k))
            last[:] = [(r.start, r.stop), (v.reshape((-1, *shape[1:])), e.reshape((-1, *shape[1:])))]
        return last[1]

    return RowChunks(shape, lambda r: both(r)[0]), RowChunks(shape, lambda r: both(r)[1])

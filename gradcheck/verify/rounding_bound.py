"""Backprop's own rounding: a first-order bound on the error of its deltas and gradients.

check_network (:mod:`gradcheck.verify.network`) adds this bound to the tolerance of every
analytic value it judges (s_i of :mod:`gradcheck.verify.tolerance`).  It is formed a block of
samples at a time within the memory budget: the recurrence is row-local, and the weight bound's
rows are sums over samples.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..model.backprop import Backward
from ..model.network import DenseNet
from ..numerical.engine import DEFAULT_MEMORY_BUDGET
from .streaming import RowChunks

__all__ = ["backprop_rounding_bound"]


def backprop_rounding_bound(net: DenseNet, reference: Backward, y: np.ndarray,
                            memory_budget: int = DEFAULT_MEMORY_BUDGET, by_rows: bool = False
                            ) -> tuple[dict[str, np.ndarray | RowChunks], list[np.ndarray | RowChunks]]:
    """First-order bound on the rounding error of backprop's gradients and deltas.

    A running error bound in the style of Higham, *Accuracy and Stability of
    Numerical Algorithms* (2002), §3: every product and sum contributes ε times
    the magnitude of its terms, and the derivative f'(z) written from the
    output (a(1 − a) for sigmoid) has an *absolute* error of about ε, which is
    why saturated layers have gradients that are tiny and only absolutely
    accurate.  Magnitudes use |W| and |a| so that cancellation cannot hide
    rounding.

    Parameters
    ----------
    net : DenseNet
    reference : Backward
        A correct backward pass at the data (its forward cache and deltas).
    y : ndarray of shape (N, n_L)
    memory_budget : int
        Bytes the bound's temporaries may take: the samples are taken in blocks.
    by_rows : bool
        Return the hidden layers' delta bounds as RowChunks formed a block of samples at a time
        (the last block kept for every layer), not as arrays of the deltas' size.

    Returns
    -------
    params_bound : dict of str to ndarray or RowChunks
        Same keys and shapes as ``net.params``; a weight's bound is a
        :class:`~gradcheck.verify.streaming.RowChunks` (a row of W_l is one
        product with a column of |a_{l−1}|), formed where it is compared, so
        that it never takes 8 bytes per parameter at once.
    delta_bound : list of ndarray or RowChunks
        ``delta_bound[l - 1]`` has the shape of δ_l.
    """
    eps = float(np.finfo(net.dtype).eps)
    cache, L = reference.cache, net.n_layers
    N = cache.activations[0].shape[0]
    # δ_L's bound over every sample at once (a mean's scale counts them all), n_L floats per sample.
    out = cache.activations[L]
    output_bound = _output_delta_rounding(net, out, y, np.abs(net.activations[L - 1].derivative(out)), eps)

    def block(rows: slice) -> list[np.ndarray]:
        # The recurrence is row-local (sample n's bound reads sample n's values only): a block of
        # samples at a time, so its temporaries (|a|, f'(z), |δ| W products) never span every sample.
        fp = [np.abs(net.activations[l - 1].derivative(cache.activations[l][rows])) for l in range(1, L)]
        E = output_bound[rows]
        bounds = []
        for l in range(L, 0, -1):
            bounds.append(E)
            if l > 1:
                absW = np.abs(net.params[f"W{l}"])
                up = np.abs(reference.deltas[l - 1][rows]) @ absW.T
                E = (E @ absW.T + eps * net.sizes[l] * up) * fp[l - 2] + eps * up * (1 + fp[l - 2])
        return bounds[::-1]

    delta_bound: list[np.ndarray | RowChunks]
    if by_rows:
        delta_bound = [*_rows_of_layers(block, [np.shape(d) for d in reference.deltas[:-1]]), output_bound]
    else:
        held = [np.empty(np.shape(d)) for d in reference.deltas[:-1]]
        for rows in _sample_rows(N, sum(net.sizes), memory_budget):
            for l, E in enumerate(block(rows)[:-1]):
                held[l][rows] = E
        delta_bound = [*held, output_bound]
    params_bound: dict[str, np.ndarray | RowChunks] = {}
    for l in range(L, 0, -1):
        params_bound[f"W{l}"] = RowChunks(net.params[f"W{l}"].shape,
                                          _weight_rounding(cache.activations[l - 1], delta_bound[l - 1],
                                                           reference.deltas[l - 1], eps, net.params[f"W{l}"],
                                                           net.weight_decay, memory_budget))
        if net.bias:
            b = np.zeros(net.sizes[l])
            for rows in _sample_rows(N, net.sizes[l], memory_budget):
                b += (_sample_block(delta_bound[l - 1], rows).sum(axis=0)
                      + eps * N * np.abs(reference.deltas[l - 1][rows]).sum(axis=0))
            params_bound[f"b{l}"] = b
    return {k: params_bound[k] for k in net.params}, delta_bound


def _rows_of_layers(block: Callable[[slice], list[np.ndarray]], shapes: list[tuple[int, ...]]) -> list[RowChunks]:
    """One RowChunks per layer of ``block(rows)``'s arrays (every layer's, for the same samples); the last
    block is kept, since a check reads the layers of the same samples together."""
    last: dict[tuple[int, int], list[np.ndarray]] = {}

    def rows_of(l: int) -> Callable[[slice], np.ndarray]:
        def rows(r: slice) -> np.ndarray:
            key = r.indices(shapes[l][0])[:2]
            if key not in last:
                last.clear()
                last[key] = block(slice(*key))
            return last[key][l]

        return rows

    return [RowChunks(tuple(shape), rows_of(l)) for l, shape in enumerate(shapes)]


def _sample_block(x: np.ndarray | RowChunks, rows: slice) -> np.ndarray:
    """Samples ``rows`` of a per-sample array or RowChunks."""
    return x.block(rows) if isinstance(x, RowChunks) else x[rows]


def _sample_rows(n_samples: int, width: int, memory_budget: int) -> list[slice]:
    """Blocks of samples whose ``width`` floats each, a few times over, take at most a sixteenth of the budget."""
    rows = max(1, int(memory_budget) // (16 * 8 * 4 * max(1, width)))
    return [slice(s, min(n_samples, s + rows)) for s in range(0, n_samples, rows)]


def _weight_rounding(a: np.ndarray, E: np.ndarray | RowChunks, d: np.ndarray, eps: float, W: np.ndarray,
                     decay: float, memory_budget: int) -> Callable[[slice], np.ndarray]:
    """Rows ``r`` of ∂L/∂W_l's rounding bound: |a_{l−1}|[:, r]ᵀ E_l + εN·|a_{l−1}|[:, r]ᵀ|δ_l| (+ 2ελ|W_l[r]|).

    The magnitudes are taken a block of samples at a time where the rows are formed: no copy of
    a_{l−1} or δ_l is kept.
    """
    N = a.shape[0]

    def rows(r: slice) -> np.ndarray:
        out = np.zeros((len(range(*r.indices(W.shape[0]))), W.shape[1]))
        for s in _sample_rows(N, out.shape[0] + 2 * W.shape[1], memory_budget):
            part = np.abs(a[s, r]).T
            out += part @ _sample_block(E, s) + eps * N * (part @ np.abs(d[s]))
        if decay:
            out += 2 * eps * decay * np.abs(W[r])  # + λW_l: one more rounded product and sum
        return out

    return rows


def _output_delta_rounding(net: DenseNet, out: np.ndarray, y: np.ndarray, fp_L: np.ndarray,
                           eps: float) -> np.ndarray:
    """First-order rounding bound of δ_L, shape (N, n_L), for the output link of ``net``."""
    crit, act = net.criterion, net.activations[-1]
    if crit.fused_delta is not None:
        # c·(a − y): the rounding of a itself (about ε|a|), of the subtraction and of the scaling.
        return 2 * eps * np.abs(crit.fused_delta(np.abs(out) + np.abs(y), np.zeros_like(y)))
    dL_da = np.abs(crit.derivative(out, y))
    dL_da_scale = np.abs(crit.derivative(np.abs(out) + np.abs(y), np.zeros_like(y)))
    if act.elementwise:
        return eps * (dL_da * (1 + fp_L) + dL_da_scale * fp_L)
    # a ⊙ (g − ⟨a, g⟩) with every term taken in magnitude, per rounded operation.
    g = dL_da + dL_da_scale
    a = np.abs(out)
    return eps * out.shape[1] * 2 * a * (g + np.sum(a * g, axis=1, keepdims=True))

"""A rounding bound for the structured engine's complex step, which near a fit is far above κε·|value|.

The complex step Im ψ(i·h)/h of an MSE loss is 2·scale·Σ_k resid_k·ȧ_k, where ȧ is the
tangent of the output and ``resid = a_L − y`` the cached forward pass's residual.  It has no
subtraction of loss values, but it inherits the rounding of that residual: a_L is rounded at
ε·|a_L| (more through the layers below), so resid carries an absolute error E_k that near a
fit (|a − y| ≪ |a|) is a large fraction of resid itself.  Each term then errs by |ȧ_k|·E_k, and
a sum over samples that cancels can be dominated by it: a relative bound κε·|value| is
optimistic there (tests/test_structured_estimates.py measured up to ~100×).

The bound below is a running error bound (Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., §3.1, the γ_n bound of a dot product) of the forward pass, times a bound
of the tangent's magnitude propagated from the moved layer, plus the tangent's own relative
rounding (two rounded operations per layer).  The generic engine has no such model of the
loss: it keeps the measured-noise term 2σ/|L|·|value| of :func:`gradcheck.numerical.rules.apply_rule`,
which for one sample is the same size (σ ≈ ε|a||a − y|, |L| = |a − y|²/2, |value| = |a − y||ȧ|)
but cannot see a cancellation between samples.

Cross-entropy (:mod:`gradcheck.numerical.output_loss`): the value is c·Σ_k g_k·ż_k with
g = s·p − y (sigmoid: p − y) and ż the logits' tangent.  The probabilities inherit the logits'
rounding E_z through the softmax Jacobian, |δp_k| ≤ p_k(|δz_k| + max|δz|) ≤ 2p_k·max|δz| (sigmoid:
p(1 − p)|δz|), plus their own (n_L + 3)ε·p_k; the tangent's bound stops at ż_L (no output slope).
"""

from __future__ import annotations

import numpy as np

from .responses import Responses

__all__ = ["complex_step_rounding", "complex_entry_rounding"]


def complex_step_rounding(rs: Responses, layer: int, eps: float) -> np.ndarray:
    """Per sample n, a bound on the rounding of Im ψ_{layer, n, j}(i·h)/h for any unit j.

    Parameters
    ----------
    rs : Responses
        The network at rest.
    layer : int
        The layer whose units move, 1 … L.
    eps : float
        Machine epsilon of the forward pass (float64's).

    Returns
    -------
    ndarray of shape (N,)
        In units of the derivative ∂ψ/∂z_{layer, j}.
    """
    c = rs.cache
    L = len(rs.weights)
    first = max(1, c.first)

    def fp(m: int) -> np.ndarray:
        return np.abs(rs.slope(m))

    # E: the absolute rounding of a_m in the cached pass.  z = a_{m−1} W + b rounds within
    # γ_k·(|a_{m−1}| |W| + |b|), k = n_{m−1} + 1 terms; f adds ε|a| and passes z's error through |f'|.
    E = eps * (np.abs(c.a(first)) + np.abs(c.z(first)) * fp(first))
    if c.first == 0:
        W1 = np.abs(rs.weights[0])
        E = E + fp(1) * (W1.shape[0] + 1) * eps * (np.abs(c.a(0)) @ W1 + np.abs(c.z(1)))
    ce = rs.kind != "mse"
    if ce and first == L:  # the logits' own rounding: none in a pass from z_L, one product from X
        W1 = np.abs(rs.weights[0])
        E = np.zeros_like(rs.resid) if c.first else (W1.shape[0] + 1) * eps * (np.abs(c.a(0)) @ W1 + np.abs(c.z(1)))
    for m in range(first + 1, L + 1):
        W = np.abs(rs.weights[m - 1])
        z_err = E @ W + (W.shape[0] + 1) * eps * (np.abs(c.a(m - 1)) @ W + np.abs(c.z(m)))
        if ce and m == L:
            E = z_err
        else:
            E = eps * np.abs(c.a(m)) + fp(m) * z_err
    if ce:  # E is the logits' rounding: through the probabilities into g = s·p − y
        p = rs.output_p
        n_out = p.shape[1]
        if rs.kind == "softmax":
            s = np.abs(rs.targets.sum(axis=1, keepdims=True))
            E = s * (2.0 * p * E.max(axis=1, keepdims=True) + (n_out + 3) * eps * p)
        else:
            E = p * rs.rest_q * E + 2.0 * eps * p
    # Twice: a complex pass that cannot take the real tangent recomputes the layers above the moved
    # one, and its real parts (equal to the cached a at rest) round within E again.  Then a − y.
    E = 2.0 * E + eps * np.abs(rs.resid)

    tangent_ops = 2 * (L - layer + 1) + 2  # a product and a slope per layer, then 2·scale·resid
    if ce and layer == L:  # ż_L = e_j: one output's term, the largest
        return abs(rs.scale) * np.max(E + tangent_ops * eps * np.abs(rs.resid), axis=1)

    def slope(m: int) -> np.ndarray | float:  # cross-entropy's tangent stops at ż_L
        return 1.0 if ce and m == L else fp(m)

    # T: a bound on |ȧ_L| (cross-entropy: |ż_L|) per unit tangent of any one unit j of ``layer`` (its largest over j).
    T = fp(layer)
    if layer < L:
        T = slope(layer + 1) * (T.max(axis=1, keepdims=True) * np.abs(rs.weights[layer]).max(axis=0))
        for m in range(layer + 2, L + 1):
            T = slope(m) * (T @ np.abs(rs.weights[m - 1]))
    factor = 1.0 if ce else 2.0
    return factor * abs(rs.scale) * np.sum(T * (E + tangent_ops * eps * np.abs(rs.resid)), axis=1)


def complex_entry_rounding(per_sample: np.ndarray, a_prev: np.ndarray, n_units: int, kind: str,
                           idx: np.ndarray) -> np.ndarray:
    """The bound of :func:`complex_step_rounding` for entries ``idx`` of one group; shape (len(idx),).

    Parameters
    ----------
    per_sample : ndarray of shape (N,)
        :func:`complex_step_rounding` of the layer (formed a block of samples at a time if need be).
    a_prev : ndarray of shape (N, n_{layer−1})
        The layer's inputs a_{layer−1}.
    n_units : int
        The number of units of the layer (the group's last axis).
    kind : {'W', 'b', 'z'}
        A weight, a bias or a delta (one sample's unit) group.
    idx : ndarray of int
        Flat indices into the group.

    Returns
    -------
    ndarray of shape (len(idx),)
        In units of the derivative; a weight entry (i, j) sums |a_{layer−1}[n, i]| times the
        per-sample bound, a bias entry sums the bound, a delta entry is one sample's.
    """
    idx = np.asarray(idx)
    if kind == "z":
        return per_sample[idx // n_units]
    if kind == "b":
        return np.full(len(idx), float(np.sum(per_sample)))
    weighted = np.abs(a_prev).T @ per_sample  # shape (n_{layer−1},)
    return weighted[idx // n_units]

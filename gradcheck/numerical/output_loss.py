"""Cross-entropy in the structured engine: a unit response's loss change from the change of the logits.

With cross-entropy the loss of sample n is a function of its logits z_L[n] alone
(:mod:`gradcheck.model.losses`, ``from_logits``), so the structured engine's unit
response ψ (:mod:`gradcheck.numerical.structured`) is ℓ_n(z_L[n] + Δz) − ℓ_n(z_L[n]), with
Δz = Δa_{L−1}·W_L formed from the changed terms only (never z + Δz − z).  It is formed
without the difference of two losses, from the cached probabilities p = a_L and their
complements q = 1 − p (formed without cancellation):

* softmax, s = Σ_k y_k:  s·[lse(z + Δ) − lse(z)] − Σ_k y_k Δ_k
  = Σ_c y_c · log1p(Σ_k p_k·expm1(Δ_k − Δ_c)),
  since lse(z + Δ) − lse(z) − Δ_c = log Σ_k p_k e^(Δ_k − Δ_c); the term k = c is 0 exactly, so
  near a fit (p_c → 1) only the small p_k of the other classes remain.  One perturbed logit
  (the output layer's own units), Δ = t·e_j: y_j·log1p(q_j·expm1(−t)) + (s − y_j)·log1p(p_j·expm1(t)).
* sigmoid (binary per output): softplus(z + Δ) − softplus(z) − yΔ
  = y·log1p(q·expm1(−Δ)) + (1 − y)·log1p(p·expm1(Δ)), q = σ(−z).

Rows whose logits move by more than :data:`LARGE_SHIFT` (where expm1 could overflow and
cancellation no longer matters) take the direct difference of the two losses.

The tangent of the complex step is ℓ' = c·⟨g, ż_L⟩ per row, g = ∂ℓ_n/∂z_L / c = s·p − y
(sigmoid: p − y), which :class:`~gradcheck.numerical.responses.Responses` keeps as its
``resid``; the loss factor c is 1 (``sum``) or 1/N (``mean``).

Rounding model (used by :func:`unit_response_rounding` and :func:`output_rounding`): Δz carries
the rounding of the last hidden layer's changed activations, ε(|a| + |z|·|f'|) per entry,
through |W_L|, and ψ's first-order term c·⟨g, Δz⟩ passes it on through |g|.  The formulas above
round relative to their terms (a few ε), which the engine's relative terms (ε·max|ψ| in the
interpolants' acceptance, κε·max|F| in the rules' estimates) cover.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..model.losses import _logsumexp, _softplus  # the loss's own complex-safe forms

if TYPE_CHECKING:  # responses imports this module
    from .responses import Responses

__all__ = ["CE_KINDS", "ce_kind", "ce_rest", "ce_logits_change", "ce_unit_change", "ce_unit_response_rounding",
           "ce_output_rounding", "LARGE_SHIFT"]

#: The output layers of cross-entropy the structured engine models, by the output activation's name.
CE_KINDS = ("softmax", "sigmoid")
#: Rows whose largest |Re Δz| exceeds this take the direct difference of the two losses.
LARGE_SHIFT = 1.0


def ce_kind(loss_name: str, output: str) -> str:
    """``'mse'``, or the cross-entropy kind ``'softmax'``/``'sigmoid'`` of a network's loss and output activation."""
    return output if loss_name == "cross_entropy" and output in CE_KINDS else "mse"


def ce_rest(kind: str, z: np.ndarray, p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(g, q) at rest: g = ∂ℓ_n/∂z_L / c (s·p − y, or p − y) and q = 1 − p without cancellation; shapes (N, m).

    Parameters
    ----------
    kind : {'softmax', 'sigmoid'}
    z, p, y : ndarray of shape (N, m)
        The logits, the probabilities a_L and the targets.
    """
    if kind == "sigmoid":
        # σ(−z) = e^(−z)/(1 + e^(−z)) = 1/(1 + e^z): relatively accurate where p rounds to 1.
        with np.errstate(over="ignore"):
            q = 1.0 / (1.0 + np.exp(z))
        return p - y, q
    s = y.sum(axis=1, keepdims=True)
    # 1 − p_j = Σ_{k≠j} p_k: a sum of positive terms; 1 − p_j itself only where p_j ≤ ½ (exact to ε).
    q = 1.0 - p
    rows, cols = np.nonzero(p > 0.5)
    if len(rows):
        others = p[rows].copy()
        others[np.arange(len(rows)), cols] = 0.0
        q[rows, cols] = others.sum(axis=1)
    return s * p - y, q


def _direct(rs: Responses, n: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """ℓ_n(z + Δz) − ℓ_n(z) as the difference of the two losses (rows with large Δz)."""
    z, y = rs.cache.z(len(rs.weights))[n], rs.targets[n]
    if rs.kind == "sigmoid":
        return np.sum(_softplus(z + dz) - _softplus(z) - y * dz, axis=1)
    return y.sum(axis=1) * (_logsumexp(z + dz) - _logsumexp(z)) - np.sum(y * dz, axis=1)


def ce_logits_change(rs: Responses, n: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """ψ for rows of samples ``n`` whose logits move by ``dz`` (shape (R, m)); shape (R,), complex if dz is."""
    p, q, y = rs.output_p[n], rs.rest_q[n], rs.targets[n]
    if rs.kind == "sigmoid":
        out = np.sum(y * np.log1p(q * np.expm1(-dz)) + (1.0 - y) * np.log1p(p * np.expm1(dz)), axis=1)
    else:
        out = np.zeros(len(n), dtype=dz.dtype)
        for c in range(dz.shape[1]):
            w = y[:, c]
            sel = np.flatnonzero(w)
            if len(sel):
                e = np.expm1(dz[sel] - dz[sel, c:c + 1])
                out[sel] += w[sel] * np.log1p(np.einsum("rk,rk->r", p[sel], e))
    big = np.flatnonzero(np.max(np.abs(dz.real), axis=1, initial=0.0) > LARGE_SHIFT)
    if len(big):
        out[big] = _direct(rs, n[big], dz[big])
    return rs.scale * out


def ce_unit_change(rs: Responses, n: np.ndarray, j: np.ndarray, t: np.ndarray) -> np.ndarray:
    """ψ of the output layer's own units: logit z_L[n, j] moved by t; shape (R,), complex if t is."""
    p, q, y = rs.output_p[n, j], rs.rest_q[n, j], rs.targets[n, j]
    s = rs.targets[n].sum(axis=1) if rs.kind == "softmax" else 1.0
    out = y * np.log1p(q * np.expm1(-t)) + (s - y) * np.log1p(p * np.expm1(t))
    big = np.flatnonzero(np.abs(np.real(t)) > LARGE_SHIFT)
    if len(big):
        m = rs.output_p.shape[1]
        dz = np.zeros((len(big), m), dtype=np.result_type(t, np.float64))
        dz[np.arange(len(big)), j[big]] = t[big]
        out[big] = _direct(rs, n[big], dz)
    return rs.scale * out


def _hidden_rounding(rs: Responses, eps: float) -> np.ndarray:
    """ε(|a| + |z|·|f'|) of the last hidden layer's activations, shape (N, n_{L−1}); None-like zeros without one."""
    c = rs.cache
    L = len(rs.weights)
    m = L - 1
    if m < max(1, c.first):
        return np.zeros((c.output.shape[0], 0))
    fp = np.abs(rs.activations[m - 1].derivative(c.a(m)))
    return eps * (np.abs(c.a(m)) + np.abs(c.z(m)) * fp)


def ce_output_rounding(rs: Responses, eps: float) -> np.ndarray:
    """Per sample, the rounding a loss difference inherits: the last hidden layer's, through |W_L| and |g|; (N,)."""
    e = _hidden_rounding(rs, eps)
    if e.shape[1] == 0:  # Δz_L is the perturbation itself
        return np.zeros(rs.cache.output.shape[0])
    return abs(rs.scale) * np.sum((e @ np.abs(rs.weights[-1])) * np.abs(rs.resid), axis=1)


def ce_unit_response_rounding(rs: Responses, layer: int, eps: float) -> np.ndarray:
    """Per sample, a running bound of one evaluation of ψ_{layer,n,j}'s inherited rounding (see the module); (N,).

    As :func:`gradcheck.numerical.responses.unit_response_rounding`, up to the last hidden layer;
    then Δz_L = Δa_{L−1}·W_L and c·|g|.  The output layer's own units move Δz_L = t exactly: 0.
    """
    c = rs.cache
    L = len(rs.weights)
    N = c.output.shape[0]
    if layer == L:
        return np.zeros(N)

    def fp(m: int) -> np.ndarray:
        return np.abs(rs.activations[m - 1].derivative(c.a(m)))

    def own(m: int) -> np.ndarray:
        return eps * (np.abs(c.a(m)) + np.abs(c.z(m)) * fp(m))

    e = own(layer)
    if layer + 1 < L:
        W = np.abs(rs.weights[layer])
        e = own(layer + 1) + fp(layer + 1) * (e.max(axis=1, keepdims=True) * W.max(axis=0))
        for m in range(layer + 2, L):
            e = own(m) + fp(m) * (e @ np.abs(rs.weights[m - 1]))
        ez = e @ np.abs(rs.weights[L - 1])
    else:
        ez = e.max(axis=1, keepdims=True) * np.abs(rs.weights[L - 1]).max(axis=0)
    return abs(rs.scale) * np.sum(ez * np.abs(rs.resid), axis=1)

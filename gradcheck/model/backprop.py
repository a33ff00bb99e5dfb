"""Analytic backpropagation for dense networks: the delta formulas.

Layers are numbered from 1 to L; ``a_0`` is the input ``X`` of shape (N, n_0)
and every layer computes ``z_l = a_{l−1} W_l + b_l`` and ``a_l = f_l(z_l)``.
With ``δ_l = ∂L/∂z_l`` of shape (N, n_l) the backward pass is

    δ_L = ∂L/∂a_L ⊙ f'_L(z_L)               (MSE half_sum: (a_L − y) ⊙ a_L(1 − a_L))
    δ_L = J_softmax(z_L)ᵀ ∂L/∂a_L           a softmax output: per row a ⊙ (g − ⟨a, g⟩)
    δ_L = c·(a_L − y)                       cross-entropy with its sigmoid or softmax output (fused)
    δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ f'_l(z_l)     l = L−1, …, 1
    ∂L/∂W_l = a_{l−1}ᵀ δ_l + λ W_l           shape (n_{l−1}, n_l); λ the weight decay
    ∂L/∂b_l = Σ_samples δ_l                  shape (n_l,)

where ``f'_l(z_l)`` is written from the output ``a_l`` (sigmoid: ``a_l(1 − a_l)``;
ReLU: 1 where a_l > 0, else 0) and c is 1 (``sum``) or 1/N (``mean``).
Each formula is one method of :class:`Backprop`; :meth:`Backprop.run` chains
them.  The bug catalogue (:mod:`gradcheck.catalogue.bugs`) plants a mistake by
overriding one of these steps, so the formulas are written here only.
Reference: Rumelhart, Hinton & Williams, "Learning representations by
back-propagating errors", Nature 323 (1986); Nielsen, "Neural Networks and
Deep Learning", ch. 2 (equations BP1–BP4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .network import DenseNet, ForwardCache

__all__ = ["Backprop", "Backward"]


@dataclass
class Backward:
    """Everything the backward pass computed.

    Attributes
    ----------
    loss : float
        The loss at the cached forward pass.
    deltas : list of ndarray
        ``deltas[l - 1]`` is δ_l = ∂L/∂z_l, shape (N, n_l), for l = 1 … L.
    gradients : dict of str to ndarray
        ``"W1"``, ``"b1"``, … with the shapes of the parameters.
    cache : ForwardCache
        The forward pass the deltas were computed from.
    """

    loss: float
    deltas: list[np.ndarray]
    gradients: dict[str, np.ndarray] = field(repr=False)
    cache: ForwardCache = field(repr=False)


class Backprop:
    """The backward pass of one network at one forward pass, one method per formula.

    Parameters
    ----------
    net : DenseNet
        Supplies the weights, the activation, the criterion (loss) and whether
        there are biases.
    cache : ForwardCache
        The forward pass at the data from X: ``cache.a(l)`` is a_l, shape
        (N, n_l), with a_0 = X.
    y : ndarray of shape (N, n_L)
        Targets, validated and in the network's dtype.

    Examples
    --------
    >>> from gradcheck.model.network import DenseNet, xor_data
    >>> net = DenseNet([3, 4, 1], seed=0)
    >>> X, y = xor_data()
    >>> result = Backprop(net, net.forward_cache(X), y).run()
    >>> [d.shape for d in result.deltas], sorted(result.gradients)
    ([(4, 4), (4, 1)], ['W1', 'W2', 'b1', 'b2'])
    """

    def __init__(self, net: DenseNet, cache: ForwardCache, y: np.ndarray) -> None:
        self.net = net
        self.cache = cache
        self.y = y

    # -- the steps ---------------------------------------------------------

    def output_error(self) -> np.ndarray:
        """∂L/∂a_L, shape (N, n_L)."""
        return self.net.criterion.derivative(self.cache.output, self.y)

    def derivative(self, l: int) -> np.ndarray:
        """f'_l(z_l) written from a_l, shape (N, n_l), for l = 1 … L (softmax: the Jacobian's diagonal)."""
        return self.net.activations[l - 1].derivative(self.cache.a(l))

    def output_delta(self) -> np.ndarray:
        """δ_L, shape (N, n_L): c·(a_L − y) fused for cross-entropy, else ∂L/∂a_L through f_L's Jacobian."""
        L = self.net.n_layers
        fused = self.net.criterion.fused_delta
        if fused is not None:
            return fused(self.cache.output, self.y)
        if self.net.activations[L - 1].elementwise:
            return self.output_error() * self.derivative(L)
        return self.net.activations[L - 1].backward(self.cache.output, self.output_error())

    def propagate(self, l: int, upper: np.ndarray) -> np.ndarray:
        """∂L/∂a_l = δ_{l+1} W_{l+1}ᵀ, shape (N, n_l), from ``upper`` = δ_{l+1}."""
        return upper @ self.net.params[f"W{l + 1}"].T

    def hidden_delta(self, l: int, upper: np.ndarray) -> np.ndarray:
        """δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ f'(z_l), shape (N, n_l), for l = L−1 … 1."""
        return self.propagate(l, upper) * self.derivative(l)

    def decay(self, l: int) -> np.ndarray | float:
        """λ·W_l, the weight-decay term of ∂L/∂W_l (0 without weight decay)."""
        lam = self.net.weight_decay
        return lam * self.net.params[f"W{l}"] if lam else 0.0

    def weight_gradient(self, l: int, deltas: list[np.ndarray]) -> np.ndarray:
        """∂L/∂W_l = a_{l−1}ᵀ δ_l + λ W_l, shape (n_{l−1}, n_l); ``deltas[k - 1]`` is δ_k."""
        return self.cache.a(l - 1).T @ deltas[l - 1] + self.decay(l)

    def bias_gradient(self, l: int, deltas: list[np.ndarray]) -> np.ndarray:
        """∂L/∂b_l = Σ_samples δ_l, shape (n_l,); ``deltas[k - 1]`` is δ_k."""
        return deltas[l - 1].sum(axis=0)

    def gradients(self, deltas: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Every parameter's gradient, keyed and ordered like ``net.params``."""
        grads: dict[str, np.ndarray] = {}
        for l in range(1, self.net.n_layers + 1):
            grads[f"W{l}"] = self.weight_gradient(l, deltas)
            if self.net.bias:
                grads[f"b{l}"] = self.bias_gradient(l, deltas)
        return grads

    # -- the chain ---------------------------------------------------------

    def run(self) -> Backward:
        """The delta recurrence from the output down, then the gradients.

        Returns
        -------
        Backward
        """
        L = self.net.n_layers
        deltas = [self.output_delta()]
        for l in range(L - 1, 0, -1):
            deltas.insert(0, self.hidden_delta(l, deltas[0]))
        loss = float(np.real(self.net.output_loss(self.cache, self.y) + self.net.penalty()))
        return Backward(loss, deltas, self.gradients(deltas), self.cache)

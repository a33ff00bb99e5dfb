"""Analytic backpropagation for dense networks: the delta formulas.

Layers are numbered from 1 to L; ``a_0`` is the input ``X`` of shape (N, n_0)
and every layer computes ``z_l = a_{l−1} W_l + b_l`` and ``a_l = f(z_l)``.
With ``δ_l = ∂L/∂z_l`` of shape (N, n_l) the backward pass is

    δ_L = ∂L/∂a_L ⊙ f'(z_L)                 (MSE half_sum: (a_L − y) ⊙ a_L(1 − a_L))
    δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ f'(z_l)       l = L−1, …, 1
    ∂L/∂W_l = a_{l−1}ᵀ δ_l                   shape (n_{l−1}, n_l)
    ∂L/∂b_l = Σ_samples δ_l                  shape (n_l,)

where ``f'(z_l)`` is written from the output ``a_l`` (sigmoid: ``a_l(1 − a_l)``).
Reference: Rumelhart, Hinton & Williams, "Learning representations by
back-propagating errors", Nature 323 (1986); Nielsen, "Neural Networks and
Deep Learning", ch. 2 (equations BP1–BP4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .activations import Activation
from .losses import Loss

if TYPE_CHECKING:
    from .network import ForwardCache

__all__ = ["Backward", "backward"]


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
    cache: "ForwardCache" = field(repr=False)


def backward(
    weights: Sequence[np.ndarray],
    cache: "ForwardCache",
    y: np.ndarray,
    activation: Activation,
    loss: Loss,
    bias: bool,
) -> Backward:
    """Run the delta recurrence from a forward cache.

    Parameters
    ----------
    weights : sequence of ndarray
        ``weights[l - 1]`` is W_l of shape (n_{l−1}, n_l).
    cache : ForwardCache
        Pre-activations ``z`` and activations ``a`` of every layer.
    y : ndarray of shape (N, n_L)
        Targets.
    activation : Activation
    loss : Loss
    bias : bool
        Whether the network has biases (adds ``"b1"``, … to the gradients).

    Returns
    -------
    Backward
    """
    a = cache.activations  # a[0] = X, a[l] = a_l
    L = len(weights)
    deltas: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    deltas[L - 1] = loss.derivative(a[L], y) * activation.derivative(a[L])
    for l in range(L - 1, 0, -1):  # hidden layers, l = L−1 … 1
        deltas[l - 1] = (deltas[l] @ weights[l].T) * activation.derivative(a[l])
    gradients: dict[str, np.ndarray] = {}
    for l in range(1, L + 1):
        gradients[f"W{l}"] = a[l - 1].T @ deltas[l - 1]
        if bias:
            gradients[f"b{l}"] = deltas[l - 1].sum(axis=0)
    return Backward(float(np.real(loss.value(a[L], y))), deltas, gradients, cache)

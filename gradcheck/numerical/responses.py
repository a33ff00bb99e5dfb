"""What the structured engine models: a DenseNet at rest, and which networks it covers.

The structured engine (:mod:`gradcheck.numerical.structured`) evaluates the
loss change of a perturbation from the changed terms only; that needs an MSE
loss ``c·Σ(a_L − y)²`` of element-wise layers.  Weight decay adds its own
exact term.  Other networks (softmax, cross-entropy) go to the generic engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.activations import Activation
from ..model.network import DenseNet, ForwardCache

__all__ = ["Responses", "unsupported", "decay_differences"]


@dataclass(frozen=True)
class Responses:
    """What a worker needs to evaluate unit responses: the network at rest.

    ``cache`` is the float64 forward pass at θ (from X, or from the z_l whose
    derivatives are measured); ``weights[l - 1]`` is W_l and ``activations[l - 1]``
    is f_l.  The loss is ``scale · Σ resid²`` with ``resid = a_L − y`` (plus the
    weight-decay term, whose differences :func:`decay_differences` adds).
    """

    cache: ForwardCache
    weights: tuple[np.ndarray, ...]
    resid: np.ndarray
    scale: float
    activations: tuple[Activation, ...]
    weight_decay: float = 0.0
    slopes: tuple[np.ndarray, ...] = ()

    @classmethod
    def of(cls, net: DenseNet, params: dict[str, np.ndarray], cache: ForwardCache, y: np.ndarray) -> Responses:
        """The network ``net`` with parameters ``params`` at rest, ``cache`` its forward pass, on targets ``y``."""
        first = max(1, cache.first)
        # f'(z) as a complex step of f computes it (Im f(z + iη)/η, η a power of 2 so the division is exact):
        # relatively accurate in saturated tails, where a(1 − a) is not.
        eta = 2.0 ** -70
        slopes = tuple(np.imag(net.activations[l - 1].value(cache.z(l) + 1j * eta)) / eta
                       for l in range(first, net.n_layers + 1))
        return cls(cache, tuple(net.weights(params)), cache.output - y, float(net.criterion.scale(cache.output.size)),
                   tuple(net.activations), net.weight_decay, slopes)

    def slope(self, layer: int) -> np.ndarray:
        """f_layer'(z_layer), shape (N, n_layer), as the complex step through f_layer gives it."""
        return self.slopes[layer - max(1, self.cache.first)]


def unsupported(net: DenseNet) -> str | None:
    """Why the structured engine cannot model ``net`` (its loss must be MSE of element-wise layers), or None.

    Such networks go to the generic engine, which gives the same numbers the
    structured engine would, at the cost of full forward passes.
    """
    if net.criterion.name != "mse":
        return f"the loss is {net.criterion.name}, not mse"
    if not all(f.elementwise for f in net.activations):
        return "the output activation is " + net.activations[-1].name + ", not element-wise"
    return None


def decay_differences(rs: Responses, layer: int, ei: np.ndarray, ej: np.ndarray, eh: np.ndarray,
                       offsets: np.ndarray) -> np.ndarray | float:
    """The change (λ/2)((w + t)² − w²) = λ(w·t + t²/2), t = o·h, of the weight-decay term; shape (E, K).

    Entries (ei, ej) of W_layer; ``ei`` = −1 marks a bias, which the term leaves alone.
    Exact in the arithmetic of t: no difference of two large sums.
    """
    if not rs.weight_decay:
        return 0.0
    w = np.where(ei >= 0, rs.weights[layer - 1][np.maximum(ei, 0), ej], 0.0)
    t = offsets[None, :] * eh[:, None]
    return np.where((ei >= 0)[:, None], rs.weight_decay * (w[:, None] * t + 0.5 * t * t), 0.0)

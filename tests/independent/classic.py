"""The classic numpy XOR network, generalised to any depth, in the "in_out" layout and the descent sign convention.

The well-known two-layer program reads::

    l1 = nonlin(X.dot(syn0))                  # X: (4, 3), syn0: (3, 4)
    l2 = nonlin(l1.dot(syn1))                 # syn1: (4, 1)
    l2_delta = (y - l2) * nonlin(l2, deriv=True)
    l1_delta = l2_delta.dot(syn1.T) * nonlin(l1, deriv=True)
    syn1 += l1.T.dot(l2_delta)
    syn0 += X.T.dot(l1_delta)

Conventions here
----------------
* ``weights[l - 1]`` (``syn{l-1}`` in the program) is W^l with shape ``(n_{l-1}, n_l)``; there are no biases.
* ``X`` has shape ``(N, n_0)`` and ``y`` has shape ``(N, n_L)``: one row per sample; ``layers[l]`` is a^l.
* The cost is C = ½ Σ (y − a^L)² summed over samples and outputs.
* ``backprop`` returns the program's own quantities: ``deltas[l - 1]`` = ``l{l}_delta`` = −∂C/∂z^l with shape
  ``(N, n_l)``, and ``grads["W{l}"]`` = ``layers[l-1].T.dot(l{l}_delta)`` = −∂C/∂W^l, exactly what the program adds
  to its weights (descent convention).
* In the code the layer number is ``k`` (the book's l).
"""

from __future__ import annotations

import numpy as np


def nonlin(x, deriv=False):
    """The sigmoid, or with ``deriv=True`` its derivative expressed through the sigmoid's OUTPUT x: x(1 − x)."""
    if deriv:
        return x * (1 - x)
    return 1 / (1 + np.exp(-x))


def forward(weights, X):
    """``[l0, l1, ..., lL]``: the input followed by every layer's activation."""
    layers = [X]
    for syn in weights:
        layers.append(nonlin(layers[-1].dot(syn)))
    return layers


def forward_from(weights, layer, z):
    """The output a^L when the pre-activation of layer ``layer`` (1-based) is forced to ``z`` (shape (N, n_layer))."""
    a = nonlin(z)
    for syn in weights[layer:]:
        a = nonlin(a.dot(syn))
    return a


def cost_of_output(a_out, y):
    """C = ½ Σ (y − a^L)²."""
    return 0.5 * float(np.sum((y - a_out) ** 2))


def loss(weights, X, y):
    """The quadratic cost of the batch."""
    return cost_of_output(forward(weights, X)[-1], y)


def pack(deltas, updates):
    """Result dictionary from per-layer lists (index 0 is layer 1)."""
    return {"deltas": list(deltas), "grads": {f"W{k}": u for k, u in enumerate(updates, start=1)}}


def backprop(weights, X, y):
    """Correct deltas and weight updates of the classic program, for any number of layers."""
    L = len(weights)
    layers = forward(weights, X)
    deltas = [None] * L

    error = y - layers[L]
    delta = error * nonlin(layers[L], deriv=True)
    deltas[L - 1] = delta
    for k in range(L - 1, 0, -1):
        error = delta.dot(weights[k].T)          # weights[k] is syn_k, i.e. W^{k+1}
        delta = error * nonlin(layers[k], deriv=True)
        deltas[k - 1] = delta

    updates = [layers[k - 1].T.dot(deltas[k - 1]) for k in range(1, L + 1)]
    return pack(deltas, updates)

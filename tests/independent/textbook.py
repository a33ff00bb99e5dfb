"""A textbook dense sigmoid network and its backpropagation, in the "out_in" layout.

Written from the four backpropagation equations of Nielsen, *Neural Networks and Deep Learning*, ch. 2:

* BP1  δ^L = ∇_a C ⊙ σ'(z^L)
* BP2  δ^l = ((W^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)
* BP3  ∂C/∂b^l_j = δ^l_j
* BP4  ∂C/∂W^l_{jk} = a^{l-1}_k δ^l_j

Layout and conventions
----------------------
* ``weights[l - 1]`` is W^l with shape ``(n_l, n_{l-1})``; ``biases[l - 1]`` is b^l with shape ``(n_l, 1)``;
  ``biases`` may be ``None`` (a network without biases).
* ``X`` has shape ``(n_0, N)`` and ``y`` has shape ``(n_L, N)``: one column per sample.
* Every layer, the output layer included, applies the logistic sigmoid σ.
* The cost is C = ½ Σ_samples Σ_outputs (a^L − y)², a plain sum over the batch (no 1/N).

``backprop`` returns ``{"deltas": [δ^1, ..., δ^L], "grads": {"W1": ..., "b1": ..., ...}}`` where ``δ^l`` has shape
``(n_l, N)`` and holds ∂C/∂z^l for every sample (column), and the grads are ∂C/∂W^l and ∂C/∂b^l summed over the
batch.  Layer numbers are 1-based everywhere, as in the book; the code calls the layer number ``k`` (the
book's l, renamed because ruff's E741 rejects ``l``).
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    """The logistic function σ(z) = 1 / (1 + e^{−z}), elementwise."""
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    """σ'(z) = σ(z)(1 − σ(z)); the argument is the pre-activation z, not the activation."""
    s = sigmoid(z)
    return s * (1.0 - s)


def forward(weights, biases, X):
    """Run the whole batch forward and keep every layer's z and a.

    Returns ``(zs, activations)`` indexed by layer number: ``activations[0]`` is the input ``X``,
    ``activations[l]`` is a^l and ``zs[l]`` is z^l (``zs[0]`` is ``None``, so indices match the book).
    """
    zs = [None]
    activations = [X]
    a = X
    for k, W in enumerate(weights, start=1):
        z = W @ a
        if biases is not None:
            z = z + biases[k - 1]
        a = sigmoid(z)
        zs.append(z)
        activations.append(a)
    return zs, activations


def forward_from(weights, biases, layer, z):
    """The output activation a^L when the pre-activation of layer ``layer`` (1-based) is forced to ``z``."""
    a = sigmoid(z)
    for k in range(layer + 1, len(weights) + 1):
        z = weights[k - 1] @ a
        if biases is not None:
            z = z + biases[k - 1]
        a = sigmoid(z)
    return a


def cost_of_output(a_out, y):
    """C = ½ Σ (a^L − y)² over every output unit and every sample."""
    return 0.5 * float(np.sum((a_out - y) ** 2))


def loss(weights, biases, X, y):
    """The quadratic cost C of the whole batch."""
    _, activations = forward(weights, biases, X)
    return cost_of_output(activations[-1], y)


def pack(deltas, grad_w, grad_b):
    """Build the result dictionary from per-layer lists (index 0 is layer 1); ``grad_b=None`` means no biases."""
    grads = {}
    for k, gw in enumerate(grad_w, start=1):
        grads[f"W{k}"] = gw
        if grad_b is not None:
            grads[f"b{k}"] = grad_b[k - 1]
    return {"deltas": list(deltas), "grads": grads}


def backprop(weights, biases, X, y):
    """Correct backpropagation, one sample at a time as in the textbook, accumulating the batch gradient."""
    L = len(weights)
    n_samples = X.shape[1]
    deltas = [np.zeros((W.shape[0], n_samples)) for W in weights]
    grad_w = [np.zeros_like(W, dtype=float) for W in weights]
    grad_b = [np.zeros((W.shape[0], 1)) for W in weights]

    for i in range(n_samples):
        x = X[:, [i]]
        target = y[:, [i]]

        # Forward pass for this sample, remembering z^l and a^l (index 0 = input layer).
        zs = [None]
        activations = [x]
        a = x
        for k in range(1, L + 1):
            z = weights[k - 1] @ a
            if biases is not None:
                z = z + biases[k - 1]
            a = sigmoid(z)
            zs.append(z)
            activations.append(a)

        # BP1: the output error; ∇_a C = a^L − y for the quadratic cost.
        delta = (activations[L] - target) * sigmoid_prime(zs[L])
        deltas[L - 1][:, [i]] = delta
        grad_b[L - 1] += delta                              # BP3
        grad_w[L - 1] += delta @ activations[L - 1].T       # BP4

        # BP2 going down: δ^k from δ^{k+1}; weights[k] is W^{k+1}.
        for k in range(L - 1, 0, -1):
            delta = (weights[k].T @ delta) * sigmoid_prime(zs[k])
            deltas[k - 1][:, [i]] = delta
            grad_b[k - 1] += delta
            grad_w[k - 1] += delta @ activations[k - 1].T

    return pack(deltas, grad_w, grad_b if biases is not None else None)

"""Hand-written backpropagation mistakes for the textbook network of ``textbook.py``.

Every function below has the signature of :func:`textbook.backprop` and is a complete backward pass written the way
a student could plausibly get it wrong: the mistake sits in the code path, the output is never corrupted after the
fact.  The module-level list ``BUGS`` holds one :class:`Bug` record per function with the expected findings.

Ground truth refers to the canonical problem ``arch=(4, 4, 4, 4)`` (three square sigmoid layers), ``N=5`` samples,
with biases (``Bug.arch`` / ``Bug.n_samples``).  "Groups" are ``W1, b1, W2, ...`` for the returned gradients and
``d1, d2, ...`` for the returned deltas; layer numbers are 1-based.

``link`` says where the chain first breaks when going down from the output layer ``first_wrong_layer``:

* ``"sign"`` / ``"scale"``: every returned gradient is the same constant times the true one (−1 for ``"sign"``),
  and each delta is either right or that same multiple;
* otherwise, at ``first_wrong_layer``: ``"output-delta"`` if it is L and δ^L is wrong, ``"recurrence"`` if δ^l is
  wrong while δ^{l+1} is right, ``"weight-formula"`` if δ^l is right but ∂C/∂W^l is wrong (∂C/∂b^l may be wrong
  too), ``"bias-formula"`` if only ∂C/∂b^l is wrong there; ``"other"`` for anything else.

``needs`` lists the conditions for the bug to run and show: ``{"square": True}`` (all widths equal, input included;
the code may not even run otherwise), ``{"min_samples": 2}`` (invisible with one sample), ``{"bias": True}``
(invisible without biases), ``{"min_layers": 3}`` (invisible with fewer than three weight layers).

Formulas use the book's layer index l; the code calls it ``k`` (ruff's E741 rejects ``l``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from textbook import forward, pack, sigmoid, sigmoid_prime

CANONICAL_ARCH = (4, 4, 4, 4)
CANONICAL_SAMPLES = 5
LEARNING_RATE = 0.5

LINKS = ("output-delta", "recurrence", "weight-formula", "bias-formula", "sign", "scale", "other")


@dataclass
class Bug:
    """One planted mistake and the findings a correct diagnosis must report for it."""

    name: str
    function: Callable
    description: str
    first_wrong_layer: int
    link: str
    wrong_groups: frozenset[str]
    needs: dict = field(default_factory=dict)
    arch: tuple[int, ...] = CANONICAL_ARCH
    n_samples: int = CANONICAL_SAMPLES


def layer_gradients(deltas, activations, biases):
    """BP3/BP4 for a whole batch: ``deltas[l-1]`` is δ^l; sums over the sample columns. Correct helper."""
    grad_w = [d @ activations[k - 1].T for k, d in enumerate(deltas, start=1)]
    grad_b = None if biases is None else [d.sum(axis=1, keepdims=True) for d in deltas]
    return grad_w, grad_b


# --------------------------------------------------------------------------------------------------------------
# Mistakes in the recurrence BP2
# --------------------------------------------------------------------------------------------------------------


def recurrence_uses_own_layer_weights(weights, biases, X, y):
    """BP2 written with ``weights[k - 1]`` (W^k) where W^{k+1} is needed: a 0-based/1-based index slip."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k - 1].T @ deltas[k + 1]) * sigmoid_prime(zs[k])
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


def recurrence_weights_not_transposed(weights, biases, X, y):
    """BP2 with W^{l+1} δ^{l+1} instead of (W^{l+1})ᵀ δ^{l+1}; only runs when the layers are square."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k] @ deltas[k + 1]) * sigmoid_prime(zs[k])
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


def hidden_derivative_of_activation(weights, biases, X, y):
    """In BP2 the derivative is taken as sigmoid_prime(a^l), i.e. σ(a)(1 − σ(a)), instead of σ'(z^l)."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k].T @ deltas[k + 1]) * sigmoid_prime(acts[k])
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


def derivative_from_next_layer_activation(weights, biases, X, y):
    """BP2 uses a^{l+1}(1 − a^{l+1}), the next layer's activation, instead of a^l(1 − a^l)."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * acts[L] * (1 - acts[L])
    for k in range(L - 1, 0, -1):
        a_next = acts[k + 1]
        deltas[k] = (weights[k].T @ deltas[k + 1]) * a_next * (1 - a_next)
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


def derivative_from_previous_activation(weights, biases, X, y):
    """BP2 uses a^{k-1}(1 − a^{k-1}) (``activations[k - 1]``, as if index 0 were layer 1) instead of a^k(1 − a^k)."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        a_l = acts[k - 1]
        deltas[k] = (weights[k].T @ deltas[k + 1]) * a_l * (1 - a_l)
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


def recurrence_missing_sigmoid_prime(weights, biases, X, y):
    """BP2 written as δ^l = (W^{l+1})ᵀ δ^{l+1}, forgetting the ⊙ σ'(z^l) factor."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = weights[k].T @ deltas[k + 1]
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


def loop_stops_before_first_layer(weights, biases, X, y):
    """The backward loop is ``range(L - 1, 1, -1)``, so δ^1 is never computed and stays zero."""
    L = len(weights)
    n_samples = X.shape[1]
    zs, acts = forward(weights, biases, X)
    deltas = [np.zeros((W.shape[0], n_samples)) for W in weights]
    deltas[L - 1] = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 1, -1):
        deltas[k - 1] = (weights[k].T @ deltas[k]) * sigmoid_prime(zs[k])
    grad_w, grad_b = layer_gradients(deltas, acts, biases)
    return pack(deltas, grad_w, grad_b)


def running_delta_not_updated(weights, biases, X, y):
    """The loop computes each new δ into a fresh variable but keeps propagating the output δ^L to every layer."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    delta = (acts[L] - y) * sigmoid_prime(zs[L])
    deltas = [None] * (L + 1)
    deltas[L] = delta
    for k in range(L - 1, 0, -1):
        new_delta = (weights[k].T @ delta) * sigmoid_prime(zs[k])
        deltas[k] = new_delta
        # forgot: delta = new_delta
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


def stale_weights_updated_during_backprop(weights, biases, X, y):
    """Applies the SGD step to W^{l+1} as soon as its gradient is known, then propagates δ^l through the new W^{l+1}."""
    weights = [W.copy() for W in weights]  # the student's version updated the model in place
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * L
    grad_w = [None] * L
    grad_b = [None] * L
    delta = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L, 0, -1):
        deltas[k - 1] = delta
        grad_w[k - 1] = delta @ acts[k - 1].T
        grad_b[k - 1] = delta.sum(axis=1, keepdims=True)
        weights[k - 1] -= LEARNING_RATE * grad_w[k - 1]
        if k > 1:
            delta = (weights[k - 1].T @ delta) * sigmoid_prime(zs[k - 1])
    return pack(deltas, grad_w, grad_b if biases is not None else None)


# --------------------------------------------------------------------------------------------------------------
# Mistakes in the output error BP1 and in the cost derivative
# --------------------------------------------------------------------------------------------------------------


def output_derivative_of_activation(weights, biases, X, y):
    """BP1 uses sigmoid_prime(a^L) = σ(a)(1 − σ(a)) instead of σ'(z^L); the hidden layers are done right."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * sigmoid_prime(acts[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k].T @ deltas[k + 1]) * sigmoid_prime(zs[k])
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


def output_delta_missing_sigmoid_prime(weights, biases, X, y):
    """BP1 written as δ^L = a^L − y (the cross-entropy shortcut) although the cost is quadratic."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = acts[L] - y
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k].T @ deltas[k + 1]) * sigmoid_prime(zs[k])
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


def derivative_z_times_one_minus_z(weights, biases, X, y):
    """σ'(z) coded as z(1 − z), the "x(1 − x)" shortcut applied to pre-activations instead of activations."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * zs[L] * (1 - zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k].T @ deltas[k + 1]) * zs[k] * (1 - zs[k])
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


def cost_derivative_sign_flipped(weights, biases, X, y):
    """∇_a C written as y − a^L instead of a^L − y."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (y - acts[L]) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k].T @ deltas[k + 1]) * sigmoid_prime(zs[k])
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


def cost_derivative_doubled(weights, biases, X, y):
    """Differentiates ½(a − y)² as 2(a − y), forgetting the ½ in front of the cost."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = 2 * (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k].T @ deltas[k + 1]) * sigmoid_prime(zs[k])
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


def forward_pass_forgets_bias(weights, biases, X, y):
    """The hand-written forward pass inside backprop computes z = W a and never adds the bias."""
    L = len(weights)
    zs = [None]
    acts = [X]
    for W in weights:
        zs.append(W @ acts[-1])
        acts.append(sigmoid(zs[-1]))
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k].T @ deltas[k + 1]) * sigmoid_prime(zs[k])
    grad_w, grad_b = layer_gradients(deltas[1:], acts, biases)
    return pack(deltas[1:], grad_w, grad_b)


# --------------------------------------------------------------------------------------------------------------
# Mistakes in the gradient formulas BP3/BP4 and in the batch bookkeeping
# --------------------------------------------------------------------------------------------------------------


def weight_grad_uses_own_activation(weights, biases, X, y):
    """BP4 written as δ^l (a^l)ᵀ, the layer's own output, instead of δ^l (a^{l-1})ᵀ."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k].T @ deltas[k + 1]) * sigmoid_prime(zs[k])
    grad_w = [deltas[k] @ acts[k].T for k in range(1, L + 1)]
    grad_b = None if biases is None else [deltas[k].sum(axis=1, keepdims=True) for k in range(1, L + 1)]
    return pack(deltas[1:], grad_w, grad_b)


def weight_grad_transposed(weights, biases, X, y):
    """BP4 written as a^{l-1} (δ^l)ᵀ, the transpose of the weight gradient; only fits square layers."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k].T @ deltas[k + 1]) * sigmoid_prime(zs[k])
    grad_w = [acts[k - 1] @ deltas[k].T for k in range(1, L + 1)]
    grad_b = None if biases is None else [deltas[k].sum(axis=1, keepdims=True) for k in range(1, L + 1)]
    return pack(deltas[1:], grad_w, grad_b)


def weight_grad_uses_network_input(weights, biases, X, y):
    """Per sample, BP4 is written as δ^l xᵀ with the network input x for every layer, not the layer input a^{l-1}."""
    L = len(weights)
    n_samples = X.shape[1]
    deltas = [np.zeros((W.shape[0], n_samples)) for W in weights]
    grad_w = [np.zeros_like(W, dtype=float) for W in weights]
    grad_b = [np.zeros((W.shape[0], 1)) for W in weights]
    for i in range(n_samples):
        x = X[:, [i]]
        zs, acts = forward(weights, biases, x)
        delta = (acts[L] - y[:, [i]]) * sigmoid_prime(zs[L])
        for k in range(L, 0, -1):
            if k < L:
                delta = (weights[k].T @ delta) * sigmoid_prime(zs[k])
            deltas[k - 1][:, [i]] = delta
            grad_w[k - 1] += delta @ x.T
            grad_b[k - 1] += delta
    return pack(deltas, grad_w, grad_b if biases is not None else None)


def weight_grad_uses_previous_z(weights, biases, X, y):
    """BP4 uses the pre-activation z^{l-1} of the layer below (X for layer 1) instead of a^{l-1} = σ(z^{l-1})."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k].T @ deltas[k + 1]) * sigmoid_prime(zs[k])
    layer_inputs = [X] + zs[1:]
    grad_w = [deltas[k] @ layer_inputs[k - 1].T for k in range(1, L + 1)]
    grad_b = None if biases is None else [deltas[k].sum(axis=1, keepdims=True) for k in range(1, L + 1)]
    return pack(deltas[1:], grad_w, grad_b)


def bias_grad_from_next_layer(weights, biases, X, y):
    """In the textbook loop, ``nabla_b[k]`` is stored before δ is advanced, so b^l receives δ^{l+1}."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * L
    grad_w = [None] * L
    grad_b = [None] * L
    delta = (acts[L] - y) * sigmoid_prime(zs[L])
    deltas[L - 1] = delta
    grad_b[L - 1] = delta.sum(axis=1, keepdims=True)
    grad_w[L - 1] = delta @ acts[L - 1].T
    for k in range(L - 1, 0, -1):
        grad_b[k - 1] = delta.sum(axis=1, keepdims=True)
        delta = (weights[k].T @ delta) * sigmoid_prime(zs[k])
        deltas[k - 1] = delta
        grad_w[k - 1] = delta @ acts[k - 1].T
    return pack(deltas, grad_w, grad_b if biases is not None else None)


def bias_grad_not_accumulated(weights, biases, X, y):
    """In the per-sample loop the weight gradients are accumulated with += but the bias gradients assigned with =."""
    L = len(weights)
    n_samples = X.shape[1]
    deltas = [np.zeros((W.shape[0], n_samples)) for W in weights]
    grad_w = [np.zeros_like(W, dtype=float) for W in weights]
    grad_b = [np.zeros((W.shape[0], 1)) for W in weights]
    for i in range(n_samples):
        zs, acts = forward(weights, biases, X[:, [i]])
        delta = (acts[L] - y[:, [i]]) * sigmoid_prime(zs[L])
        for k in range(L, 0, -1):
            if k < L:
                delta = (weights[k].T @ delta) * sigmoid_prime(zs[k])
            deltas[k - 1][:, [i]] = delta
            grad_w[k - 1] += delta @ acts[k - 1].T
            grad_b[k - 1] = delta
    return pack(deltas, grad_w, grad_b if biases is not None else None)


def bias_grad_averaged(weights, biases, X, y):
    """The bias gradient is ``delta.mean(axis=1)`` (a mean-cost habit) while the weight gradient is a sum."""
    L = len(weights)
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k].T @ deltas[k + 1]) * sigmoid_prime(zs[k])
    grad_w = [deltas[k] @ acts[k - 1].T for k in range(1, L + 1)]
    grad_b = None if biases is None else [deltas[k].mean(axis=1, keepdims=True) for k in range(1, L + 1)]
    return pack(deltas[1:], grad_w, grad_b)


def gradients_divided_by_batch_size(weights, biases, X, y):
    """Divides every gradient by the batch size m although the cost is a sum, not a mean, over samples."""
    L = len(weights)
    m = X.shape[1]
    zs, acts = forward(weights, biases, X)
    deltas = [None] * (L + 1)
    deltas[L] = (acts[L] - y) * sigmoid_prime(zs[L])
    for k in range(L - 1, 0, -1):
        deltas[k] = (weights[k].T @ deltas[k + 1]) * sigmoid_prime(zs[k])
    grad_w = [deltas[k] @ acts[k - 1].T / m for k in range(1, L + 1)]
    grad_b = None if biases is None else [deltas[k].sum(axis=1, keepdims=True) / m for k in range(1, L + 1)]
    return pack(deltas[1:], grad_w, grad_b)


def gradients_overwritten_per_sample(weights, biases, X, y):
    """The per-sample loop assigns the gradients (=) instead of accumulating them (+=): only the last sample counts."""
    L = len(weights)
    n_samples = X.shape[1]
    deltas = [np.zeros((W.shape[0], n_samples)) for W in weights]
    grad_w = [None] * L
    grad_b = [None] * L
    for i in range(n_samples):
        zs, acts = forward(weights, biases, X[:, [i]])
        delta = (acts[L] - y[:, [i]]) * sigmoid_prime(zs[L])
        for k in range(L, 0, -1):
            if k < L:
                delta = (weights[k].T @ delta) * sigmoid_prime(zs[k])
            deltas[k - 1][:, [i]] = delta
            grad_w[k - 1] = delta @ acts[k - 1].T
            grad_b[k - 1] = delta
    return pack(deltas, grad_w, grad_b if biases is not None else None)


def return_inside_sample_loop(weights, biases, X, y):
    """The ``return`` is indented one level too deep, inside the per-sample loop: only sample 0 is processed."""
    L = len(weights)
    n_samples = X.shape[1]
    deltas = [np.zeros((W.shape[0], n_samples)) for W in weights]
    grad_w = [np.zeros_like(W, dtype=float) for W in weights]
    grad_b = [np.zeros((W.shape[0], 1)) for W in weights]
    for i in range(n_samples):
        zs, acts = forward(weights, biases, X[:, [i]])
        delta = (acts[L] - y[:, [i]]) * sigmoid_prime(zs[L])
        for k in range(L, 0, -1):
            if k < L:
                delta = (weights[k].T @ delta) * sigmoid_prime(zs[k])
            deltas[k - 1][:, [i]] = delta
            grad_w[k - 1] += delta @ acts[k - 1].T
            grad_b[k - 1] += delta
        return pack(deltas, grad_w, grad_b if biases is not None else None)
    raise ValueError("empty batch")


# --------------------------------------------------------------------------------------------------------------
# Ground truth (canonical problem: arch (4, 4, 4, 4), L = 3, N = 5, with biases)
# --------------------------------------------------------------------------------------------------------------

_ALL = frozenset({"d1", "d2", "d3", "W1", "W2", "W3", "b1", "b2", "b3"})
_BELOW_OUTPUT = frozenset({"d1", "d2", "W1", "W2", "b1", "b2"})
_ALL_W = frozenset({"W1", "W2", "W3"})
_ALL_B = frozenset({"b1", "b2", "b3"})
_SQUARE = {"square": True}

BUGS = [
    Bug("recurrence-uses-own-layer-weights", recurrence_uses_own_layer_weights,
        "Propagated δ^{l+1} through W^l instead of W^{l+1} (list index off by one).",
        2, "recurrence", _BELOW_OUTPUT, _SQUARE),
    Bug("recurrence-weights-not-transposed", recurrence_weights_not_transposed,
        "Multiplied δ^{l+1} by W^{l+1} instead of its transpose.",
        2, "recurrence", _BELOW_OUTPUT, _SQUARE),
    Bug("hidden-derivative-of-activation", hidden_derivative_of_activation,
        "Evaluated σ' at the hidden activation a^l instead of at z^l in the recurrence.",
        2, "recurrence", _BELOW_OUTPUT),
    Bug("derivative-from-next-layer-activation", derivative_from_next_layer_activation,
        "Used a^{l+1}(1 − a^{l+1}) of the layer above instead of a^l(1 − a^l) in the recurrence.",
        2, "recurrence", _BELOW_OUTPUT, _SQUARE),
    Bug("derivative-from-previous-activation", derivative_from_previous_activation,
        "Used a^{l-1}(1 − a^{l-1}) of the layer below instead of a^l(1 − a^l) in the recurrence.",
        2, "recurrence", _BELOW_OUTPUT, _SQUARE),
    Bug("recurrence-missing-sigmoid-prime", recurrence_missing_sigmoid_prime,
        "Left out the ⊙ σ'(z^l) factor of the recurrence.",
        2, "recurrence", _BELOW_OUTPUT),
    Bug("loop-stops-before-first-layer", loop_stops_before_first_layer,
        "Wrote the backward loop bound one too high, so δ^1 is never computed and stays zero.",
        1, "recurrence", frozenset({"d1", "W1", "b1"})),
    Bug("running-delta-not-updated", running_delta_not_updated,
        "Never reassigned the running δ, so every hidden layer is fed the output δ^L.",
        1, "recurrence", frozenset({"d1", "W1", "b1"}), {"square": True, "min_layers": 3}),
    Bug("stale-weights-updated-during-backprop", stale_weights_updated_during_backprop,
        "Updated W^{l+1} with its gradient before using it to propagate δ to layer l.",
        2, "recurrence", _BELOW_OUTPUT),
    Bug("output-derivative-of-activation", output_derivative_of_activation,
        "Evaluated σ' at the output activation a^L instead of at z^L in the output error.",
        3, "output-delta", _ALL),
    Bug("output-delta-missing-sigmoid-prime", output_delta_missing_sigmoid_prime,
        "Took the output error as a^L − y, dropping σ'(z^L) as if the cost were cross-entropy.",
        3, "output-delta", _ALL),
    Bug("derivative-z-times-one-minus-z", derivative_z_times_one_minus_z,
        "Coded σ'(z) as z(1 − z), applying the activation-based shortcut to the pre-activation.",
        3, "output-delta", _ALL),
    Bug("cost-derivative-sign-flipped", cost_derivative_sign_flipped,
        "Wrote the cost derivative as y − a^L instead of a^L − y.",
        3, "sign", _ALL),
    Bug("cost-derivative-doubled", cost_derivative_doubled,
        "Differentiated ½(a − y)² as 2(a − y), ignoring the ½.",
        3, "scale", _ALL),
    Bug("forward-pass-forgets-bias", forward_pass_forgets_bias,
        "Left the bias out of the forward pass that backprop runs for itself.",
        3, "output-delta", _ALL, {"bias": True}),
    Bug("weight-grad-uses-own-activation", weight_grad_uses_own_activation,
        "Multiplied δ^l by the layer's own activation a^l instead of its input a^{l-1}.",
        3, "weight-formula", _ALL_W, _SQUARE),
    Bug("weight-grad-transposed", weight_grad_transposed,
        "Returned a^{l-1}(δ^l)ᵀ, the transpose of the weight gradient.",
        3, "weight-formula", _ALL_W, _SQUARE),
    Bug("weight-grad-uses-network-input", weight_grad_uses_network_input,
        "Multiplied δ^l by the network input x for every layer instead of by a^{l-1}.",
        3, "weight-formula", frozenset({"W2", "W3"}), _SQUARE),
    Bug("weight-grad-uses-previous-z", weight_grad_uses_previous_z,
        "Multiplied δ^l by the pre-activation z^{l-1} instead of the activation a^{l-1}.",
        3, "weight-formula", frozenset({"W2", "W3"})),
    Bug("bias-grad-from-next-layer", bias_grad_from_next_layer,
        "Stored the bias gradient before advancing δ, so b^l receives δ^{l+1}.",
        2, "bias-formula", frozenset({"b1", "b2"}), {"square": True, "bias": True}),
    Bug("bias-grad-not-accumulated", bias_grad_not_accumulated,
        "Assigned instead of accumulating the bias gradient in the sample loop, keeping only the last sample.",
        3, "bias-formula", _ALL_B, {"min_samples": 2, "bias": True}),
    Bug("bias-grad-averaged", bias_grad_averaged,
        "Averaged the bias gradient over the batch while summing the weight gradient.",
        3, "bias-formula", _ALL_B, {"min_samples": 2, "bias": True}),
    Bug("gradients-divided-by-batch-size", gradients_divided_by_batch_size,
        "Divided every gradient by the batch size although the cost is a sum over samples.",
        3, "scale", _ALL_W | _ALL_B, {"min_samples": 2}),
    Bug("gradients-overwritten-per-sample", gradients_overwritten_per_sample,
        "Assigned instead of accumulating all gradients in the sample loop, keeping only the last sample.",
        3, "weight-formula", _ALL_W | _ALL_B, {"min_samples": 2}),
    Bug("return-inside-sample-loop", return_inside_sample_loop,
        "Indented the return statement into the sample loop, so only the first sample is processed.",
        3, "output-delta", _ALL, {"min_samples": 2}),
]

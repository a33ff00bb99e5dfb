"""Hand-written mistakes for the classic in_out network of ``classic.py`` (descent sign convention, no biases).

Same record type and the same meaning of ``link``/``needs`` as ``textbook_bugs.py``, with one difference: the
correct values are −∂C/∂θ (and −∂C/∂z for the deltas), so ``"sign"`` means the bug returns +∂C/∂θ.  Ground truth
refers to the canonical problem ``arch=(4, 4, 4, 4)``, ``N=5``, no biases.
"""

from __future__ import annotations

from classic import forward, nonlin, pack
from textbook_bugs import Bug


def _updates(layers, deltas):
    """``syn_{l-1} += layers[l-1].T.dot(l{l}_delta)`` for every layer. Correct helper."""
    return [layers[k - 1].T.dot(deltas[k - 1]) for k in range(1, len(deltas) + 1)]


def error_as_output_minus_target(weights, X, y):
    """The error is written ``l2 - y`` (the usual loss-gradient order) but the updates are still added with +=."""
    L = len(weights)
    layers = forward(weights, X)
    deltas = [None] * L
    delta = (layers[L] - y) * nonlin(layers[L], deriv=True)
    deltas[L - 1] = delta
    for k in range(L - 1, 0, -1):
        delta = delta.dot(weights[k].T) * nonlin(layers[k], deriv=True)
        deltas[k - 1] = delta
    return pack(deltas, _updates(layers, deltas))


def derivative_with_sigmoid_again(weights, X, y):
    """nonlin's derivative is "fixed" to σ(x)(1 − σ(x)) but still called with the layer outputs, giving σ'(a)."""

    def nonlin_deriv(x):
        s = nonlin(x)
        return s * (1 - s)

    L = len(weights)
    layers = forward(weights, X)
    deltas = [None] * L
    delta = (y - layers[L]) * nonlin_deriv(layers[L])
    deltas[L - 1] = delta
    for k in range(L - 1, 0, -1):
        delta = delta.dot(weights[k].T) * nonlin_deriv(layers[k])
        deltas[k - 1] = delta
    return pack(deltas, _updates(layers, deltas))


def hidden_error_not_transposed(weights, X, y):
    """``l1_error = l2_delta.dot(syn1)`` without the ``.T``; it only runs when the layers are square."""
    L = len(weights)
    layers = forward(weights, X)
    deltas = [None] * L
    delta = (y - layers[L]) * nonlin(layers[L], deriv=True)
    deltas[L - 1] = delta
    for k in range(L - 1, 0, -1):
        delta = delta.dot(weights[k]) * nonlin(layers[k], deriv=True)
        deltas[k - 1] = delta
    return pack(deltas, _updates(layers, deltas))


def hidden_delta_missing_derivative(weights, X, y):
    """``l1_delta = l1_error``: the ``* nonlin(l1, deriv=True)`` factor is forgotten in the hidden layers."""
    L = len(weights)
    layers = forward(weights, X)
    deltas = [None] * L
    delta = (y - layers[L]) * nonlin(layers[L], deriv=True)
    deltas[L - 1] = delta
    for k in range(L - 1, 0, -1):
        delta = delta.dot(weights[k].T)
        deltas[k - 1] = delta
    return pack(deltas, _updates(layers, deltas))


def weights_updated_before_error_propagated(weights, X, y):
    """Moves ``syn1 += l1.T.dot(l2_delta)`` above ``l1_error = l2_delta.dot(syn1.T)``: the error uses new weights."""
    weights = [syn.copy() for syn in weights]  # the program updates its own weights in place
    L = len(weights)
    layers = forward(weights, X)
    deltas = [None] * L
    updates = [None] * L
    delta = (y - layers[L]) * nonlin(layers[L], deriv=True)
    for k in range(L, 0, -1):
        deltas[k - 1] = delta
        updates[k - 1] = layers[k - 1].T.dot(delta)
        weights[k - 1] += updates[k - 1]
        if k > 1:
            delta = delta.dot(weights[k - 1].T) * nonlin(layers[k - 1], deriv=True)
    return pack(deltas, updates)


def update_averaged_over_samples(weights, X, y):
    """Divides each update by the number of rows of X although the cost is summed over samples."""
    L = len(weights)
    m = len(X)
    layers = forward(weights, X)
    deltas = [None] * L
    delta = (y - layers[L]) * nonlin(layers[L], deriv=True)
    deltas[L - 1] = delta
    for k in range(L - 1, 0, -1):
        delta = delta.dot(weights[k].T) * nonlin(layers[k], deriv=True)
        deltas[k - 1] = delta
    return pack(deltas, [u / m for u in _updates(layers, deltas)])


def update_uses_own_layer_output(weights, X, y):
    """Writes ``syn1 += l2.T.dot(l2_delta)``: the layer's own output instead of its input; fits square layers only."""
    L = len(weights)
    layers = forward(weights, X)
    deltas = [None] * L
    delta = (y - layers[L]) * nonlin(layers[L], deriv=True)
    deltas[L - 1] = delta
    for k in range(L - 1, 0, -1):
        delta = delta.dot(weights[k].T) * nonlin(layers[k], deriv=True)
        deltas[k - 1] = delta
    return pack(deltas, [layers[k].T.dot(deltas[k - 1]) for k in range(1, L + 1)])


def error_always_from_output_delta(weights, X, y):
    """Generalising ``l1_error = l2_delta.dot(syn1.T)`` to a loop, every hidden error is taken from the OUTPUT delta."""
    L = len(weights)
    layers = forward(weights, X)
    deltas = [None] * L
    output_delta = (y - layers[L]) * nonlin(layers[L], deriv=True)
    deltas[L - 1] = output_delta
    for k in range(L - 1, 0, -1):
        error = output_delta.dot(weights[k].T)
        deltas[k - 1] = error * nonlin(layers[k], deriv=True)
    return pack(deltas, _updates(layers, deltas))


_ALL = frozenset({"d1", "d2", "d3", "W1", "W2", "W3"})
_BELOW_OUTPUT = frozenset({"d1", "d2", "W1", "W2"})

BUGS = [
    Bug("error-as-output-minus-target", error_as_output_minus_target,
        "Computed the error as l2 − y but kept adding the update, so it climbs the cost.",
        3, "sign", _ALL),
    Bug("derivative-with-sigmoid-again", derivative_with_sigmoid_again,
        "Rewrote the derivative as σ(x)(1 − σ(x)) while still passing it the layer outputs.",
        3, "output-delta", _ALL),
    Bug("hidden-error-not-transposed", hidden_error_not_transposed,
        "Back-propagated the error with syn instead of syn.T.",
        2, "recurrence", _BELOW_OUTPUT, {"square": True}),
    Bug("hidden-delta-missing-derivative", hidden_delta_missing_derivative,
        "Forgot to multiply the hidden error by nonlin(l, deriv=True).",
        2, "recurrence", _BELOW_OUTPUT),
    Bug("weights-updated-before-error-propagated", weights_updated_before_error_propagated,
        "Updated syn_l before using it to back-propagate the error to the layer below.",
        2, "recurrence", _BELOW_OUTPUT),
    Bug("update-averaged-over-samples", update_averaged_over_samples,
        "Divided each weight update by the number of samples although the cost is a sum.",
        3, "scale", frozenset({"W1", "W2", "W3"}), {"min_samples": 2}),
    Bug("update-uses-own-layer-output", update_uses_own_layer_output,
        "Used the layer's own output instead of its input in the weight update.",
        3, "weight-formula", frozenset({"W1", "W2", "W3"}), {"square": True}),
    Bug("error-always-from-output-delta", error_always_from_output_delta,
        "Derived every hidden error from the output delta instead of the delta of the layer just above.",
        1, "recurrence", frozenset({"d1", "W1"}), {"square": True, "min_layers": 3}),
]

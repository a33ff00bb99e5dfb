"""A hand-written softmax + cross-entropy output layer, checked with gradcheck.check_params.

The network is the kind people write themselves: a sigmoid hidden layer and
a softmax output trained on the mean cross-entropy

    L = −(1/N) Σ_n Σ_k Y_nk log P_nk,   P = softmax(Z2),  Z2 = A1 W2 + b2,  A1 = σ(X W1 + b1).

Softmax and cross-entropy together have the short output delta
∂L/∂Z2 = (P − Y)/N; from there the usual backprop formulas give every
gradient.  ``gradients`` below implements that and passes the check.

``output_delta_wrong`` makes a classic mistake: it multiplies the output
delta by P(1 − P), as if the output were a sigmoid unit trained on squared
error.
Its check fails, and the table shows which groups are wrong, at which
entries, by how much.

Run: ``python examples/softmax_cross_entropy.py``; it exits with status 0
when the correct gradients pass and the wrong ones are caught.
"""

import sys

import numpy as np

import gradcheck as gc


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(p, X):
    A1 = sigmoid(X @ p["W1"] + p["b1"])
    Z2 = A1 @ p["W2"] + p["b2"]
    # Subtracting the row maximum keeps exp from overflowing; .real keeps the
    # shift a constant when gradcheck feeds complex parameters (complex step).
    Z2 = Z2 - Z2.real.max(axis=1, keepdims=True)
    P = np.exp(Z2) / np.exp(Z2).sum(axis=1, keepdims=True)
    return A1, P


def cross_entropy(p, X, Y):
    _, P = forward(p, X)
    return -np.sum(Y * np.log(P)) / len(X)


def output_delta(P, Y):
    """∂L/∂Z2 of softmax followed by mean cross-entropy."""
    return (P - Y) / len(Y)


def output_delta_wrong(P, Y):
    """The sigmoid/MSE delta, a common mistake: wrong for softmax + cross-entropy."""
    return (P - Y) * P * (1 - P) / len(Y)


def gradients(p, X, Y, delta=output_delta):
    A1, P = forward(p, X)
    dZ2 = delta(P, Y)
    dZ1 = (dZ2 @ p["W2"].T) * A1 * (1 - A1)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": A1.T @ dZ2, "b2": dZ2.sum(axis=0)}


def main():
    rng = np.random.default_rng(0)
    n_samples, n_inputs, n_hidden, n_classes = 12, 4, 6, 3
    X = rng.standard_normal((n_samples, n_inputs))
    Y = np.eye(n_classes)[rng.integers(0, n_classes, n_samples)]
    params = {"W1": rng.standard_normal((n_inputs, n_hidden)), "b1": np.zeros(n_hidden),
              "W2": rng.standard_normal((n_hidden, n_classes)), "b2": np.zeros(n_classes)}

    def loss(p):
        return cross_entropy(p, X, Y)

    right = gc.check_params(loss, params, gradients(params, X, Y), title="softmax + cross-entropy")
    print(right)
    wrong = gc.check_params(loss, params, gradients(params, X, Y, delta=output_delta_wrong),
                            title="softmax + cross-entropy, sigmoid delta by mistake")
    print(wrong)
    return 0 if right.passed and not wrong.passed else 1


if __name__ == "__main__":
    sys.exit(main())

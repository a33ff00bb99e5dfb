"""A textbook column-vector network, its backprop checked layer by layer and on many drawn networks.

The network is written the way textbooks write it (Nielsen, "Neural Networks
and Deep Learning", ch. 2): weights W_l of shape (n_l, n_{l−1}), biases b_l of
shape (n_l, 1), one column per sample, and backpropagation run one sample at a
time with the four equations BP1–BP4, summed over the batch:

    δ_L = (a_L − y) ⊙ σ'(z_L)
    δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ σ'(z_l)
    ∂C/∂b_l = δ_l,   ∂C/∂W_l = δ_l a_{l−1}ᵀ

Two checks follow:

1. :func:`gradcheck.check_backprop` on one network and batch: the layout
   (``"out_in"``) is read from the shapes, and the report's rows, indices and
   formulas read as in this code;
2. :func:`gradcheck.verify_backprop` on networks hypothesis draws (depths 1–4,
   non-square layers, one sample, saturated weights, with biases); a failure
   would be shrunk to the smallest network that shows it.

Then the same for a copy with a classic slip (σ'(a) for σ'(z) in the hidden
layers), to show what a failure looks like.  Exits with status 1 if the
correct network fails or the slip is missed.  The functions can also be
checked from the command line::

    gradcheck verify examples/textbook_network.py:backprop_with_slip --layout out_in
"""

import sys

import numpy as np

import gradcheck as gc


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def backprop(weights, biases, X, y, slip=False):
    """δ_l for every sample (as columns) and the batch gradients, by BP1–BP4 one sample at a time."""
    L = len(weights)
    deltas = [np.zeros((W.shape[0], X.shape[1])) for W in weights]
    grad_w = [np.zeros_like(W) for W in weights]
    grad_b = [np.zeros((W.shape[0], 1)) for W in weights]
    for i in range(X.shape[1]):
        activation, activations, zs = X[:, [i]], [X[:, [i]]], []
        for W, b in zip(weights, biases, strict=True):
            zs.append(W @ activation + b)
            activation = sigmoid(zs[-1])
            activations.append(activation)
        delta = (activations[-1] - y[:, [i]]) * sigmoid_prime(zs[-1])          # BP1
        for k in range(L - 1, -1, -1):
            if k < L - 1:
                # The slip: σ' of the layer's activation a_l where BP2 has z_l.
                z = activations[k + 1] if slip else zs[k]
                delta = (weights[k + 1].T @ delta) * sigmoid_prime(z)          # BP2
            deltas[k][:, [i]] = delta
            grad_b[k] += delta                                                 # BP3
            grad_w[k] += delta @ activations[k].T                              # BP4
    return {"deltas": deltas, "grads": {**{f"W{k + 1}": g for k, g in enumerate(grad_w)},
                                        **{f"b{k + 1}": g for k, g in enumerate(grad_b)}}}


def backprop_with_slip(weights, biases, X, y):
    """The same code with σ' applied to the activation a_l instead of z_l in the hidden layers."""
    return backprop(weights, biases, X, y, slip=True)


def main() -> int:
    """Check both versions; 0 when the correct one passes and the slip is caught."""
    rng = np.random.default_rng(0)
    sizes = [2, 5, 3, 1]
    weights = [rng.standard_normal((n, m)) for m, n in zip(sizes[:-1], sizes[1:], strict=True)]
    biases = [rng.standard_normal((n, 1)) for n in sizes[1:]]
    X = rng.uniform(-1, 1, (2, 6))
    y = (X[[0]] * X[[1]] > 0).astype(float)

    results = []
    for name, fn in (("correct", backprop), ("sigma-prime-of-a slip", backprop_with_slip)):
        out = fn(weights, biases, X, y)
        report = gc.check_backprop(weights, X, y, biases=biases, deltas=out["deltas"], grads=out["grads"],
                                   title=f"textbook {name}", diagnostics=False)
        print(report.summary_line())
        if report.diagnoses:
            print(f"probable cause ({report.diagnoses[0].cause}): {report.diagnoses[0].message}")
        verification = gc.verify_backprop(fn, layout="out_in", bias=True, max_examples=30, seed=0)
        print(verification)
        print()
        results.append((report.passed, verification.passed))

    return 0 if results == [(True, True), (False, False)] else 1


if __name__ == "__main__":
    sys.exit(main())

"""A hand-written ReLU + softmax classifier with weight decay, checked layer by layer, kink included.

The network has two ReLU hidden layers and a softmax output, trained on the
summed categorical cross-entropy plus an L2 term on the weights:

    L = −Σ_n Σ_k Y_nk log P_nk + (λ/2)·Σ_l ‖W_l‖²,   P = softmax(Z3).

``backprop`` writes the usual formulas: δ3 = P − Y (softmax and
cross-entropy together), δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ [Z_l > 0] below, and
∂L/∂W_l = A_{l−1}ᵀ δ_l + λW_l.

On purpose, the first sample is all zeros and two first-layer biases are 0,
so two hidden units sit exactly at the ReLU kink, z = 0, where the derivative
is undefined.  A central difference there measures ½ — the average of both
sides — and a plain gradient check fails a correct network.  gradcheck
measures such entries one-sided, accepts either side's derivative or any
value between (a subgradient), and names them in the report.

``relu_derivative_one`` then makes a classic mistake, taking ReLU' as 1 (the
negative side not masked); the check fails it and locates the break at the
top hidden layer's δ.

Run: ``python examples/relu_softmax_layers.py``; it exits with status 0 when
the correct backprop passes and the wrong one is caught.
"""

import sys

import numpy as np

import gradcheck as gc

LAMBDA = 1e-2


def backprop(Ws, bs, X, Y, relu_prime=lambda Z: (Z > 0).astype(float)):
    """Deltas and gradients, one row per sample: W_l of shape (n_(l-1), n_l)."""
    A, Zs = [X], []
    for l, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        Z = A[-1] @ W + b
        Zs.append(Z)
        if l < len(Ws) - 1:
            A.append(np.maximum(Z, 0))
        else:
            E = np.exp(Z - Z.max(axis=1, keepdims=True))
            A.append(E / E.sum(axis=1, keepdims=True))
    deltas = [A[-1] - Y]
    for l in range(len(Ws) - 1, 0, -1):
        deltas.insert(0, (deltas[0] @ Ws[l].T) * relu_prime(Zs[l - 1]))
    grads = [A[l].T @ d + LAMBDA * W for l, (d, W) in enumerate(zip(deltas, Ws, strict=True))]
    bias_grads = [d.sum(axis=0) for d in deltas]
    return deltas, grads, bias_grads


def check(title, Ws, bs, X, Y, **kw):
    deltas, grads, bias_grads = backprop(Ws, bs, X, Y, **kw)
    report = gc.check_backprop(Ws, X, Y, biases=bs, deltas=deltas, grads=grads, bias_grads=bias_grads,
                               activation=["relu", "relu", "softmax"], loss="cross_entropy",
                               weight_decay=LAMBDA, layout="in_out", title=title, diagnostics=False)
    print(report)
    print(f"{title}: {'PASSED' if report.passed else 'FAILED'}\n")
    return report


def main():
    rng = np.random.default_rng(0)
    sizes = [4, 6, 5, 3]
    Ws = [rng.standard_normal((m, n)) / np.sqrt(m) for m, n in zip(sizes[:-1], sizes[1:], strict=True)]
    bs = [0.1 * rng.standard_normal(n) for n in sizes[1:]]
    X = rng.standard_normal((8, 4))
    Y = np.eye(3)[rng.integers(3, size=8)]
    # The kink, on purpose: sample 0 is all zeros, so z1[0, j] = b1[j], and b1[0] = b1[3] = 0.
    X[0] = 0.0
    bs[0][[0, 3]] = 0.0

    right = check("relu-softmax correct", Ws, bs, X, Y)
    wrong = check("relu-softmax relu-derivative-one", Ws, bs, X, Y, relu_prime=np.ones_like)
    kink_notes = [n for n in right.notes if "kink" in n]
    print(kink_notes[0] if kink_notes else "no entry at a kink")
    return 0 if right.passed and kink_notes and not wrong.passed and wrong.first_failure == (2, "delta") else 1


if __name__ == "__main__":
    sys.exit(main())

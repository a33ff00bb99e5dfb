"""check_backprop and verify_backprop with ReLU, softmax, cross-entropy and weight decay (user's own code)."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc

FAST = {"diagnostics": False}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def textbook_backprop(weights, biases, X, y, lmbda_over_n, sigma_prime_in_delta=False, decay_biases=False):
    """Nielsen-style column-vector code (W_l (n_l, n_(l-1)), X (n_0, N)): cross-entropy, L2 folded into ∇w."""
    activation, activations, zs = X, [X], []
    for W, b in zip(weights, biases, strict=False):
        z = W @ activation + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    delta = activations[-1] - y  # the cross-entropy cost's delta: no σ'(z) factor
    if sigma_prime_in_delta:
        delta = delta * activations[-1] * (1 - activations[-1])
    deltas = [delta]
    for l in range(2, len(weights) + 1):
        sp = activations[-l] * (1 - activations[-l])
        deltas.insert(0, (weights[-l + 1].T @ deltas[0]) * sp)
    nabla_w = [d @ a.T + lmbda_over_n * W for d, a, W in zip(deltas, activations[:-1], weights, strict=False)]
    nabla_b = [d.sum(axis=1, keepdims=True) + (lmbda_over_n * b if decay_biases else 0) for d, b in
               zip(deltas, biases, strict=False)]
    return deltas, nabla_w, nabla_b


@pytest.fixture
def textbook_case():
    rng = np.random.default_rng(7)
    sizes = [4, 5, 3]
    weights = [rng.standard_normal((n, m)) for m, n in zip(sizes[:-1], sizes[1:], strict=False)]
    biases = [rng.standard_normal((n, 1)) for n in sizes[1:]]
    X = rng.standard_normal((4, 6))
    y = (rng.random((3, 6)) < 0.5).astype(float)
    return weights, biases, X, y


class TestTextbookCrossEntropyL2:
    """Binary cross-entropy + L2 on textbook (out_in) code: passes, and its classic mistakes are located."""

    def run(self, case, **bug):
        weights, biases, X, y = case
        lam = 0.05
        deltas, gw, gb = textbook_backprop(weights, biases, X, y, lam, **bug)
        return gc.check_backprop(weights, X, y, biases=biases, deltas=deltas, grads=gw, bias_grads=gb,
                                 activation="sigmoid", loss="cross_entropy", weight_decay=lam, **FAST)

    def test_passes(self, textbook_case):
        report = self.run(textbook_case)
        assert report.passed, str(report)
        assert report.config["network"]["backprop"]["layout"] == "out_in"
        names = [g.name for layer in report.layers for _, g in layer.rows()]
        assert "∂L/∂W1 = δ1 a0ᵀ + λW1" in names and "δ2 = ∂L/∂a2 ⊙ f'(z2) = a2 − y" in names

    def test_sigma_prime_kept_in_the_delta_is_the_output_delta(self, textbook_case):
        report = self.run(textbook_case, sigma_prime_in_delta=True)
        assert not report.passed
        assert report.first_failure == (2, "delta")
        assert report.layers[-1].recurrence.passed  # the formula holds on numbers: the code broke it

    def test_decay_on_biases_fails_the_bias_rows_only(self, textbook_case):
        report = self.run(textbook_case, decay_biases=True)
        failed = {g.name for g in report.groups if not g.passed}
        assert failed == {"b1", "b2"}
        assert all(layer.delta.passed for layer in report.layers)

    def test_without_the_decay_option_the_weight_rows_fail(self, textbook_case):
        weights, biases, X, y = textbook_case
        deltas, gw, gb = textbook_backprop(weights, biases, X, y, 0.05)
        report = gc.check_backprop(weights, X, y, biases=biases, grads=gw, loss="cross_entropy", **FAST)
        assert {g.name for g in report.groups if not g.passed} == {"W1", "W2"}


def softmax_backprop(weights, biases, X, y, lam=0.0):
    """Row-per-sample ReLU hidden layers, softmax output, categorical cross-entropy (sum), L2 λ."""
    a, zs = [X], []
    for l, (W, b) in enumerate(zip(weights, biases, strict=False)):
        z = a[-1] @ W + b
        zs.append(z)
        if l < len(weights) - 1:
            a.append(np.maximum(z, 0))
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            a.append(e / e.sum(axis=1, keepdims=True))
    deltas = [a[-1] - y]
    for l in range(len(weights) - 1, 0, -1):
        deltas.insert(0, (deltas[0] @ weights[l].T) * (zs[l - 1] > 0))
    grads = {}
    for l, d in enumerate(deltas, start=1):
        grads[f"W{l}"] = a[l - 1].T @ d + lam * weights[l - 1]
        grads[f"b{l}"] = d.sum(axis=0)
    return {"deltas": deltas, "grads": grads}


class TestSoftmaxCrossEntropy:
    def test_check_backprop_passes(self):
        rng = np.random.default_rng(3)
        weights = [rng.standard_normal((4, 6)), rng.standard_normal((6, 3))]
        biases = [rng.standard_normal(6), rng.standard_normal(3)]
        X = rng.standard_normal((5, 4))
        y = np.eye(3)[[0, 1, 2, 1, 0]]
        out = softmax_backprop(weights, biases, X, y, lam=0.01)
        report = gc.check_backprop(weights, X, y, biases=biases, deltas=out["deltas"], grads=out["grads"],
                                   activation=["relu", "softmax"], loss="cross_entropy", weight_decay=0.01,
                                   layout="in_out", **FAST)
        assert report.passed, str(report)
        assert report.layers[-1].recurrence.name == "δ2 = ∂L/∂a2 J_softmax(z2) = a2 − y"

    def test_verify_backprop_draws_and_passes(self):
        result = gc.verify_backprop(lambda W, b, X, y: softmax_backprop(W, b, X, y, 0.02), bias=True,
                                    activation=["relu", "relu", "softmax"], loss="cross_entropy", weight_decay=0.02,
                                    max_examples=15, seed=1)
        assert result.passed, str(result)

    def test_verify_backprop_finds_a_missing_decay(self):
        result = gc.verify_backprop(lambda W, b, X, y: softmax_backprop(W, b, X, y, 0.0), bias=True,
                                    activation=["relu", "softmax"], loss="cross_entropy", weight_decay=0.5,
                                    max_examples=15, seed=1)
        assert not result.passed
        assert result.report.first_failure[1] == "weight"

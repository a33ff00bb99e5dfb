"""Property tests: backprop gradients agree with central differences on random networks."""

from __future__ import annotations

from functools import partial

import numpy as np
from hypothesis import given, settings

from gradcheck.interfaces import strategies as strategies

H = 1e-6


# The issue asks for 1–6 layers, widths 1–12, 1–40 samples, with and without
# biases, every reduction: gradcheck's own strategy draws exactly that.
dense_nets = partial(strategies.dense_nets, min_layers=1, max_layers=6, max_width=12, max_samples=40,
                     activations=("sigmoid", "tanh"), weight_scale=(0.1, 2.0))


def central_differences(loss, params):
    grads = {}
    for name, value in params.items():
        g = np.empty_like(value)
        for idx in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][idx] += H
            minus[name][idx] -= H
            g[idx] = (loss(plus) - loss(minus)) / (2 * H)
        grads[name] = g
    return grads


class TestGradients:
    @settings(max_examples=30, deadline=None)
    @given(dense_nets())
    def test_match_central_differences(self, case):
        net, X, y = case
        before = {k: v.copy() for k, v in net.params.items()}
        analytic = net.gradients(X, y)
        loss = net.loss_closure(X, y)
        numeric = central_differences(loss, net.params)
        assert list(analytic) == list(net.params)
        # Error model of the central difference: round-off ≈ ε·|L|/H = 2.2e-10·|L| (the two loss values share
        # every term but the perturbed entry's, so their rounding is correlated) and truncation
        # H²·|L'''|/6 = 1.7e-13·|L'''|.  atol is 450 times the round-off; rtol = 1e-5 covers the truncation
        # while |L'''| stays below 6e7 times the gradient.
        atol = 1e-7 * max(1.0, abs(net.loss(X, y)))
        for name in net.params:
            assert analytic[name].shape == net.params[name].shape
            np.testing.assert_allclose(analytic[name], numeric[name], rtol=1e-5, atol=atol, err_msg=name)
        for k in before:
            np.testing.assert_array_equal(net.params[k], before[k])


class TestBackward:
    @settings(max_examples=30, deadline=None)
    @given(dense_nets())
    def test_shapes_and_consistency(self, case):
        net, X, y = case
        result = net.backward(X, y)
        n = X.shape[0]
        assert len(result.deltas) == net.n_layers
        for l, delta in enumerate(result.deltas, start=1):
            assert delta.shape == (n, net.sizes[l])
        assert len(result.cache.activations) == net.n_layers + 1
        # Not a tolerance: the same forward pass and loss formula on the same arrays give the same bits.
        assert result.loss == net.loss(X, y)
        # ∂L/∂b_l = Σ_samples δ_l and ∂L/∂W_l = a_{l−1}ᵀ δ_l, up to the rounding of a sum of n terms, which is
        # at most n·ε·Σ|terms| in any order of summation (Higham, Accuracy and Stability, §3.1): twice that
        # bounds the difference of two evaluations.
        eps = np.finfo(net.dtype).eps
        for l, delta in enumerate(result.deltas, start=1):
            a = result.cache.activations[l - 1]
            bound = 2 * n * eps * (np.abs(a).T @ np.abs(delta))
            assert np.all(np.abs(result.gradients[f"W{l}"] - a.T @ delta) <= bound)
            if net.bias:
                bound = 2 * n * eps * np.abs(delta).sum(axis=0)
                assert np.all(np.abs(result.gradients[f"b{l}"] - delta.sum(axis=0)) <= bound)

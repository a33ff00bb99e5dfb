"""The diagnostics' stacked passes (numerical/directions.py) against one loss call per step.

Error model: every loss value either way is within :func:`_bounds.loss_rounding`
of the exact L(θ + t·v), evaluated at the perturbed point with the
perturbation's magnitude added to the perturbed group (it covers both
θ + t·v rounded and z_l + t·Δz rounded); a difference L(θ + t·v) − L(θ) of
each path is then within B(t) + B(0), and the two paths' differences within
twice that.  The complex step's imaginary parts round relative to the terms of
the directional derivative, :func:`_bounds.tangent_magnitude`, a few γ per
layer.  MARGIN covers the bounds' second-order terms.

Blocks of samples (a small memory budget) evaluate the same per-sample terms
as one pass over every sample and add them in another order (a ``mean``
also rounds each block's weight once, within the γ of the loss's own sum):
each value of either is within the same loss_rounding bound, so blocked and
whole differences are held to the bound above.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from _bounds import gamma, loss_rounding, tangent_magnitude
from _memory import peak_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

import gradcheck as gc
from gradcheck.numerical.directions import NetworkDirections, seeded_directions
from gradcheck.numerical.evaluator import LossEvaluator, loss_at_rest
from gradcheck.strategies import dense_nets
from gradcheck.verify.convergence import DEFAULT_EPSILONS, DEFAULT_STEPS, LossCalls, step_sweep, taylor_test

MARGIN = 2.0

nets = dense_nets(max_layers=3, max_width=6, max_samples=6,
                  activations=("sigmoid", "tanh", "relu", "identity"),
                  output_activations=("sigmoid", "identity", "softmax", "tanh"),
                  losses=("mse", "cross_entropy"), weight_decay=(0.0, 0.1))


def _paths(net, X, y, budget=2**28):
    X, y = net.checked_data(X, y, copy=True)
    loss = net.loss_closure(X, y)
    ev = LossEvaluator(loss, net.params)
    f0 = loss_at_rest(ev)[0]
    return X, y, NetworkDirections(net, X, y, budget), LossCalls(ev, f0)


def _assert_real_agree(net, X, y, name, v, ts, structured, generic):
    s, s0 = structured.along(name, v, ts)
    g, g0 = generic.along(name, v, ts)
    b0 = loss_rounding(net, net.params, X, y, {name: 0.0})
    for k, t in enumerate(ts):
        moved = dict(net.params)
        moved[name] = net.params[name] + t * v
        bound = 2 * MARGIN * (loss_rounding(net, moved, X, y, {name: abs(t) * np.abs(v)}) + b0)
        diff = abs((s[k] - s0) - (float(np.real(g[k])) - g0))
        assert diff <= bound, (name, t, diff, bound)


class TestAgainstLossCalls:
    @settings(max_examples=40, deadline=None)
    @given(nets, st.integers(0, 2**16))
    def test_real_steps_agree_to_rounding(self, drawn, seed):
        net, X, y = drawn
        X, y, structured, generic = _paths(net, X, y)
        rng = np.random.default_rng(seed)
        ts = np.r_[DEFAULT_EPSILONS, DEFAULT_STEPS[::3], -DEFAULT_STEPS[::3]]
        for name, p in net.params.items():
            _assert_real_agree(net, X, y, name, rng.standard_normal(p.shape), ts, structured, generic)

    @settings(max_examples=40, deadline=None)
    @given(nets, st.integers(0, 2**16))
    def test_complex_steps_agree_to_rounding(self, drawn, seed):
        net, X, y = drawn
        X, y, structured, generic = _paths(net, X, y)
        rng = np.random.default_rng(seed)
        hs = DEFAULT_STEPS[::2]
        depth = net.n_layers + 1
        for name, p in net.params.items():
            v = rng.standard_normal(p.shape)
            v /= max(np.linalg.norm(v), 1e-300)
            s = np.imag(structured.along(name, v, 1j * hs)[0]) / hs
            g = np.imag(generic.along(name, v, 1j * hs)[0]) / hs
            scale = tangent_magnitude(net, net.params, X, y, name, np.abs(v))
            bound = 2 * MARGIN * depth * gamma(max(net.sizes) + 8) * scale + 1e-300
            # h = 0.1 moves far enough that the magnitudes at θ no longer bound the rounding.
            small = hs <= 1e-3
            assert np.all(np.abs(s - g)[small] <= bound), (name, np.abs(s - g), bound)
            assert np.allclose(s[~small], g[~small], rtol=1e-9, atol=bound)

    def test_chunks_change_nothing_beyond_rounding(self):
        net = gc.DenseNet([5, 9, 7, 2], activation=["tanh", "sigmoid", "identity"], seed=3)
        rng = np.random.default_rng(1)
        X, y = rng.standard_normal((6, 5)), rng.standard_normal((6, 2))
        big = NetworkDirections(net, X, y, 2**28)
        tiny = NetworkDirections(net, X, y, 1)  # one step per pass
        ts = np.r_[DEFAULT_EPSILONS, -DEFAULT_STEPS]
        for name, p in net.params.items():
            v = rng.standard_normal(p.shape)
            a, a0 = big.along(name, v, ts)
            b, b0 = tiny.along(name, v, ts)
            bound = 2 * MARGIN * 2 * loss_rounding(net, net.params, X, y, {name: 0.1 * np.abs(v)})
            assert np.max(np.abs((a - a0) - (b - b0))) <= bound

    def test_the_complex_step_needs_no_probe_only_without_kinks(self):
        smooth = gc.DenseNet([3, 4, 1], activation="tanh", seed=0)
        kinked = gc.DenseNet([3, 4, 1], activation=["relu", "sigmoid"], seed=0)
        X, y = np.ones((2, 3)), np.zeros((2, 1))
        assert NetworkDirections(smooth, X, y, 2**20).complex_safe
        assert not NetworkDirections(kinked, X, y, 2**20).complex_safe


def _assert_complex_agree(net, X, y, name, v, hs, one, other):
    """Im L(θ + ihv)/h of two evaluations within twice the complex step's rounding (module docstring)."""
    s = np.imag(one.along(name, v, 1j * hs)[0]) / hs
    g = np.imag(other.along(name, v, 1j * hs)[0]) / hs
    scale = tangent_magnitude(net, net.params, X, y, name, np.abs(v))
    bound = 2 * MARGIN * (net.n_layers + 1) * gamma(max(net.sizes) + 8) * scale + 1e-300
    # h = 0.1 moves far enough that the magnitudes at θ no longer bound the rounding.
    small = hs <= 1e-3
    assert np.all(np.abs(s - g)[small] <= bound), (name, np.abs(s - g), bound)
    assert np.allclose(s[~small], g[~small], rtol=1e-9, atol=bound)


class TestBlocksOfSamples:
    """A budget too small for one pass over every sample: blocks of samples, the same values to rounding."""

    blocked_nets = dense_nets(max_layers=3, max_width=6, min_samples=2, max_samples=8,
                              activations=("sigmoid", "tanh", "relu", "identity"),
                              output_activations=("sigmoid", "identity", "softmax", "tanh"),
                              losses=("mse", "cross_entropy"), weight_decay=(0.0, 0.1))

    @settings(max_examples=40, deadline=None)
    @given(blocked_nets, st.integers(0, 2**16))
    def test_blocks_agree_with_one_pass_to_rounding(self, drawn, seed):
        net, X, y = drawn
        X, y = net.checked_data(X, y, copy=True)
        whole = NetworkDirections(net, X, y, 2**28)
        blocked = NetworkDirections(net, X, y, 1)  # one sample per block
        rng = np.random.default_rng(seed)
        ts = np.r_[DEFAULT_EPSILONS, DEFAULT_STEPS[::3], -DEFAULT_STEPS[::3]]
        for name, p in net.params.items():
            v = rng.standard_normal(p.shape)
            _assert_real_agree(net, X, y, name, v, ts, blocked, whole)
            _assert_complex_agree(net, X, y, name, v / max(np.linalg.norm(v), 1e-300), DEFAULT_STEPS[::2],
                                  blocked, whole)
        assert whole.blocks == 1 and blocked.blocks == X.shape[0]

    def test_mean_weights_each_block_by_its_share(self):
        """Blocks of unequal size under a mean: L(θ) equals the one-pass value to the loss's rounding."""
        for loss, output in (("mse", "sigmoid"), ("cross_entropy", "softmax")):
            net = gc.DenseNet([4, 6, 3], activation=["tanh", output], loss=loss, reduction="mean", seed=1)
            rng = np.random.default_rng(4)
            X = rng.standard_normal((11, 4))
            y = rng.dirichlet(np.ones(3), 11) if output == "softmax" else rng.random((11, 3))
            whole = NetworkDirections(net, X, y, 2**28)
            # Blocks of 2 samples at the output layer's sizes: 11 = 5·2 + 1, a last block of one.
            budget = 4 * 2 * (whole._sample_bytes(2) + whole._row_bytes(2, False))
            blocked = NetworkDirections(net, X, y, budget)
            (_, rest), (_, rest_b) = (d.along("W2", np.ones((6, 3)), np.array([0.1])) for d in (whole, blocked))
            assert blocked.blocks == 6
            assert abs(rest - net.loss(X, y)) <= MARGIN * loss_rounding(net, net.params, X, y)
            assert abs(rest_b - rest) <= 2 * MARGIN * loss_rounding(net, net.params, X, y)

    def test_linear_imaginary_steps_use_the_largest_tangent_of_any_block(self):
        """The shortcut's test h·max|T| <= LINEAR_IMAG takes the max over blocks: the same steps as one pass.

        One sample far out (inputs 10³ times the others) has the largest
        tangent; a block-local or first-block tangent would take the shortcut
        at steps where that sample is not linear.
        """
        net = gc.DenseNet([3, 5, 2], activation=["tanh", "sigmoid"], seed=2)
        rng = np.random.default_rng(5)
        X, y = rng.standard_normal((9, 3)) * 1e-3, rng.random((9, 2))
        X[7] *= 1e3
        hs = np.logspace(-1, -20, 40)
        stacked = {}
        for budget in (2**28, 1):
            d = NetworkDirections(net, X, y, budget)
            sums, sizes = d._sums, []

            def counted(layer, kind, v, ts, sums=sums, sizes=sizes):
                sizes.append(ts.size)
                return sums(layer, kind, v, ts)

            d._sums = counted
            d.along("W1", np.ones((3, 5)), 1j * hs)
            stacked[budget] = sizes
        # The probe at the smallest step, then the steps not linear and L(θ): between none and all of them.
        assert stacked[1] == stacked[2**28] and 2 < stacked[1][1] < hs.size + 1

    def test_a_request_stays_within_a_quarter_of_the_budget_at_many_samples(self):
        """Peak of one request, the sweep's steps, against the blocks' bytes (a quarter of the budget).

        The model: one block's forward pass at rest, Δz and stacked rows fit a
        quarter of the budget (their sizes are the plan's); besides them a
        request holds the direction when it is formed whole (at most an eighth
        of that quarter) and a few arrays of one number per step.  A pass over
        all 2,000 samples at one step would be 7.4 MB, the forward pass at
        rest 3.3 MB: both above the bound.
        """
        budget = 2**20
        rng = np.random.default_rng(0)
        net = gc.DenseNet([32, 64, 32, 8], seed=0)
        X, y = rng.standard_normal((2000, 32)), rng.random((2000, 8))
        dirs = seeded_directions({k: p.shape for k, p in net.params.items()}, 0)
        quarter = budget // 4
        for ts in (np.r_[DEFAULT_STEPS, -DEFAULT_STEPS], 1j * DEFAULT_STEPS):
            for name in net.params:
                along = NetworkDirections(net, X, y, budget)
                peak = peak_bytes(partial(along.along, name, dirs[name].unit(), ts))
                assert along.blocks > 10
                assert peak <= quarter + quarter // 8 + 8 * 16 * ts.size, (name, ts.dtype, peak / quarter)


class TestCheckNetworkDiagnostics:
    """The report's Taylor test and step sweep are the generic engine's, to rounding."""

    def _pair(self, net, X, y, backward=None):
        return [gc.check_network(net, X, y, engine=e, backward=backward, deltas=False)
                for e in ("structured", "generic")]

    def test_correct_gradient_same_curves(self):
        net = gc.DenseNet([4, 6, 5, 3], activation=["sigmoid", "tanh", "sigmoid"], seed=2)
        rng = np.random.default_rng(0)
        X, y = rng.standard_normal((7, 4)), rng.random((7, 3))
        s, g = self._pair(net, X, y)
        for ts, tg in zip(s.taylor, g.taylor, strict=True):
            assert ts.passed and tg.passed
            assert abs(ts.order - tg.order) < 0.05
            np.testing.assert_array_equal(ts.used, tg.used)
        for ws, wg in zip(s.sweep, g.sweep, strict=True):
            assert set(ws.errors) == set(wg.errors) == {"forward", "central", "complex"}
            assert ws.best_error["complex"] < 1e-12 and wg.best_error["complex"] < 1e-12
            # Both D(h) are within 2·B/h of the exact difference quotient (B: one loss value's rounding).
            B = loss_rounding(net, net.params, X, y)
            for m in ("forward", "central"):
                bound = 2 * MARGIN * 2 * B / (ws.steps * abs(ws.directional_derivative))
                assert np.all(np.abs(ws.errors[m] - wg.errors[m]) <= bound), m

    def test_wrong_gradient_fails_both_ways(self):
        net = gc.DenseNet([3, 5, 2], seed=1)
        rng = np.random.default_rng(2)
        X, y = rng.standard_normal((4, 3)), rng.random((4, 2))
        wrong = net.backward(X, y)
        wrong.gradients["W1"] = wrong.gradients["W1"] * 1.05
        for report in self._pair(net, X, y, backward=wrong):
            taylor = {r.name: r for r in report.taylor}
            assert not taylor["W1"].passed and round(taylor["W1"].order) == 1
            assert taylor["W2"].passed and taylor["b1"].passed

    def test_taylor_and_sweep_take_the_network_source(self):
        net = gc.DenseNet([3, 4, 1], seed=0)
        X, y = gc.xor_data()
        X, y, structured, _ = _paths(net, X, y)
        loss = net.loss_closure(X, y)
        calls = []

        def counted(p):
            calls.append(1)
            return loss(p)

        grads = net.gradients(X, y)
        taylor_test(counted, net.params, grads, along=structured)
        step_sweep(counted, net.params, grads, along=structured)
        # L(θ) once per function, and the loss-noise-free start; every step ran in the stacked passes.
        assert len(calls) <= 2 * 3


def test_progress_moves_during_the_diagnostics():
    net = gc.DenseNet([6, 9, 5, 2], seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 6)), rng.random((5, 2))
    seen = []
    gc.check_network(net, X, y, deltas=False, progress=lambda done, total: seen.append((done, total)))
    P = sum(p.size for p in net.params.values())
    total = seen[-1][1]
    assert total == 3 * P and seen[-1][0] == total
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    # reports strictly inside the Taylor test's share and the sweep's, not only at their ends
    assert any(P < d < 2 * P for d, _ in seen) and any(2 * P < d < 3 * P for d, _ in seen)

"""The Taylor remainder test and the step-size sweep (gradcheck.verify.convergence)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.report.records import SweepResult, TaylorResult
from gradcheck.verify.convergence import DEFAULT_EPSILONS, DEFAULT_STEPS, step_sweep, taylor_test

# Any warning (RuntimeWarning from log(0), ComplexWarning, ...) is a bug here.
pytestmark = pytest.mark.filterwarnings("error")


def dense_case(sizes, *, bias=True, seed=0, n_samples=6, dtype=np.float64):
    """(net, loss, grads) on random data; XOR data for 3 inputs and 1 output."""
    net = gc.DenseNet(sizes, bias=bias, seed=seed, dtype=dtype)
    if sizes[0] == 3 and sizes[-1] == 1:
        X, y = gc.xor_data()
    else:
        rng = np.random.default_rng(seed + 1)
        X, y = rng.standard_normal((n_samples, sizes[0])), rng.random((n_samples, sizes[-1]))
    return net, net.loss_closure(X, y), net.gradients(X, y)


def smooth_case():
    """A smooth loss over two groups with its exact gradient."""
    params = {"u": np.array([0.3, -1.2, 0.7]), "M": np.array([[0.5, -0.4], [1.1, 0.2]])}

    def loss(p):
        return np.sum(np.sin(p["u"])) + np.sum(np.exp(0.5 * p["M"])) + p["u"][0] * p["M"][1, 0]

    grads = {"u": np.cos(params["u"]), "M": 0.5 * np.exp(0.5 * params["M"])}
    grads["u"][0] += params["M"][1, 0]
    grads["M"][1, 0] += params["u"][0]
    return loss, params, grads


NETS = [
    pytest.param(([3, 4, 4, 1], True), id="xor-3-4-4-1"),
    pytest.param(([3, 4, 1], False), id="xor-3-4-1-no-bias"),
    pytest.param(([5, 7, 3, 2], True), id="5-7-3-2"),
]


class TestTaylorTest:
    @pytest.mark.parametrize("sizes,bias", [p.values[0] for p in NETS], ids=[p.id for p in NETS])
    def test_correct_gradients_have_order_two_in_every_group(self, sizes, bias):
        net, loss, grads = dense_case(sizes, bias=bias)
        results = taylor_test(loss, net.params, grads)
        assert [r.name for r in results] == list(net.params)
        for r in results:
            assert isinstance(r, TaylorResult)
            assert r.passed, (r.name, r.order, r.notes)
            assert 1.8 <= r.order <= 2.2, (r.name, r.order)
            assert r.n_points_used >= 3 and r.n_points_used == int(r.used.sum())

    @pytest.mark.parametrize("planted", ["W1", "b1", "W2", "b2", "W3", "b3"])
    @pytest.mark.parametrize("bug", ["scaled by 1.01", "sign flipped"])
    def test_a_wrong_group_has_order_one_and_only_that_group_fails(self, planted, bug):
        net, loss, grads = dense_case([5, 7, 3, 2])
        wrong = dict(grads)
        wrong[planted] = grads[planted] * (1.01 if bug == "scaled by 1.01" else -1.0)
        results = {r.name: r for r in taylor_test(loss, net.params, wrong)}
        assert results[planted].order < 1.3
        assert not results[planted].passed
        assert any("not ε²" in n for n in results[planted].notes)
        assert [k for k, r in results.items() if not r.passed] == [planted]
        assert all(r.order >= 1.8 for k, r in results.items() if k != planted)

    def test_float32_network(self):
        net, loss, grads = dense_case([3, 4, 4, 1], dtype=np.float32)
        assert all(r.passed for r in taylor_test(loss, net.params, grads))

    def test_linear_loss_leaves_r1_at_round_off_and_passes_without_an_order(self):
        a = np.array([1.0, -2.0, 0.5])
        results = taylor_test(lambda p: a @ p["x"], {"x": np.array([0.1, 0.2, 0.3])}, {"x": a})
        [r] = results
        assert r.passed and math.isnan(r.order) and r.n_points_used == 0
        assert np.all(r.remainder1 <= r.roundoff_floor)
        assert "round-off" in r.notes[0]

    def test_linear_loss_with_a_wrong_gradient_fails(self):
        a = np.array([1.0, -2.0, 0.5])
        [r] = taylor_test(lambda p: a @ p["x"], {"x": np.zeros(3)}, {"x": a * (1 + 1e-6)})
        assert not r.passed and r.order == pytest.approx(1.0, abs=0.05)

    def test_quadratic_loss(self):
        # r1 = ε²·‖v‖²/2 exactly in "x"; "y" enters linearly, so its r1 is pure round-off.
        params = {"x": np.array([1.0, -3.0, 2.0]), "y": np.array([[1.0, 2.0], [3.0, 4.0]])}
        loss = lambda p: 0.5 * np.sum(p["x"] ** 2) + 3.0 * np.sum(p["y"])  # noqa: E731
        x, y = taylor_test(loss, params, {"x": params["x"], "y": np.full((2, 2), 3.0)})
        # Rounding of θ + εv and of the two loss values is at most ~20ε·|L| in r1, and the fit only uses r1 above
        # the floor 1000ε·|L|: its smallest point is off by ≤ 2% (log error 0.02), which moves a least-squares
        # slope over two decades (ln 100 = 4.6) by ≤ 0.005.  abs=0.01 is a margin of 2 on that worst case.
        assert x.passed and x.order == pytest.approx(2.0, abs=0.01)
        assert y.passed and math.isnan(y.order)
        resolved = x.remainder1 > x.roundoff_floor
        np.testing.assert_allclose(x.remainder1[resolved],
                                   0.5 * (x.epsilons[resolved] * x.direction_norm) ** 2,
                                   rtol=1e-9, atol=100 * np.finfo(float).eps * x.loss_value)  # 5× the 20ε·|L|

    def test_records_the_numbers_used(self):
        loss, params, grads = smooth_case()
        u, M = taylor_test(loss, params, grads)
        for r in (u, M):
            assert r.epsilons.shape == r.remainder0.shape == r.remainder1.shape == DEFAULT_EPSILONS.shape
            assert r.loss_value == pytest.approx(float(loss(params)))
        assert u.direction_norm == pytest.approx(np.linalg.norm(np.random.default_rng(0).standard_normal(3)))

    def test_params_and_grads_are_not_modified_and_the_loss_gets_float64_copies(self):
        net, loss, grads = dense_case([3, 4, 1])
        params = {k: v.astype(np.float32) for k, v in net.params.items()}
        before = {k: v.copy() for k, v in params.items()}
        grads_before = {k: v.copy() for k, v in grads.items()}
        seen = []

        def spy(p):
            seen.append(p)
            assert all(v.dtype == np.float64 for v in p.values())
            assert not any(p[k] is params[k] for k in params)
            return loss(p)

        taylor_test(spy, params, grads)
        assert seen
        for k in params:
            np.testing.assert_array_equal(params[k], before[k])
            assert params[k].dtype == np.float32
            np.testing.assert_array_equal(grads[k], grads_before[k])

    def test_groups_selects_and_keeps_params_order_and_directions(self):
        net, loss, grads = dense_case([3, 4, 4, 1])
        every = {r.name: r for r in taylor_test(loss, net.params, grads)}
        some = taylor_test(loss, net.params, grads, groups=["W3", "b1"])
        assert [r.name for r in some] == ["b1", "W3"]
        for r in some:
            np.testing.assert_array_equal(r.remainder1, every[r.name].remainder1)
        [only] = taylor_test(loss, net.params, grads, groups="W2")
        assert only.name == "W2"

    def test_seed_makes_it_deterministic(self):
        loss, params, grads = smooth_case()
        a = taylor_test(loss, params, grads, seed=3)
        b = taylor_test(loss, params, grads, seed=3)
        c = taylor_test(loss, params, grads, seed=4)
        for x, y, z in zip(a, b, c, strict=True):
            np.testing.assert_array_equal(x.remainder1, y.remainder1)
            assert x.direction_norm != z.direction_norm

    def test_custom_epsilons_in_any_order(self):
        loss, params, grads = smooth_case()
        eps = [1e-3, 1e-2, 1e-4, 3e-3, 3e-4]
        [u] = taylor_test(loss, params, grads, epsilons=eps, groups="u")
        assert u.epsilons.tolist() == eps
        assert u.passed and u.order == pytest.approx(2.0, abs=0.1)

    def test_non_finite_gradient_fails(self):
        loss, params, grads = smooth_case()
        grads = dict(grads, u=np.array([np.nan, 1.0, 1.0]))
        u, M = taylor_test(loss, params, grads)
        assert not u.passed and "non-finite" in u.notes[-1]
        assert M.passed

    def test_non_finite_loss_fails_every_group(self):
        results = taylor_test(lambda p: np.sum(p["x"]) * np.nan, {"x": np.ones(2)}, {"x": np.ones(2)})
        assert not results[0].passed and "nan" in results[0].notes[0]

    @pytest.mark.parametrize("kwargs,match", [
        ({"loss": "not callable"}, r"^loss: expected a callable"),
        ({"params": [1.0, 2.0]}, r"^params: expected a mapping"),
        ({"grads": {}}, r"^grads: expected at least one"),
        ({"grads": {"u": np.zeros(3)}}, r"^grads: keys must match params; missing \['M'\]"),
        ({"grads": {"u": np.zeros(2), "M": np.zeros((2, 2))}}, r"^grads\['u'\]: expected shape \(3,\)"),
        ({"epsilons": [1e-3]}, r"^epsilons: expected a 1-D sequence of at least 2"),
        ({"epsilons": [[1e-3, 1e-4]]}, r"^epsilons: expected a 1-D sequence"),
        ({"epsilons": [1e-3, -1e-4]}, r"^epsilons: expected finite positive values"),
        ({"epsilons": [1e-3, np.inf]}, r"^epsilons: expected finite positive values"),
        ({"epsilons": [1e-3, 1e-3]}, r"^epsilons: expected distinct values"),
        ({"epsilons": ["a", "b"]}, r"^epsilons: expected a real numeric array"),
        ({"seed": -1}, r"^seed: expected a non-negative integer or None"),
        ({"seed": 1.5}, r"^seed: "),
        ({"seed": True}, r"^seed: "),
        ({"groups": ["W9"]}, r"^groups: unknown parameter names \['W9'\]; expected names from params: \['u', 'M'\]"),
        ({"groups": []}, r"^groups: expected at least one parameter name"),
        ({"groups": 3}, r"^groups: expected a list of parameter names"),
    ])
    def test_bad_input_raises_invalid_argument(self, kwargs, match):
        loss, params, grads = smooth_case()
        args = {"loss": loss, "params": params, "grads": grads} | kwargs
        with pytest.raises(gc.InvalidArgument, match=match):
            taylor_test(args.pop("loss"), args.pop("params"), args.pop("grads"), **args)

    def test_a_loss_that_raises_is_reported_with_the_group(self):
        loss, params, grads = smooth_case()

        def fragile(p):
            if p["M"][0, 0] != params["M"][0, 0]:
                raise RuntimeError("boom")
            return loss(p)

        with pytest.raises(gc.LossEvaluationError, match=r"RuntimeError: boom .*in 'M' \(Taylor test\)"):
            taylor_test(fragile, params, grads)

    def test_a_loss_that_is_not_a_scalar_raises_invalid_argument(self):
        with pytest.raises(gc.InvalidArgument, match=r"^loss: expected the loss function to return a scalar"):
            taylor_test(lambda p: p["x"] * 2, {"x": np.ones(3)}, {"x": np.ones(3)})


class TestStepSweep:
    def test_smooth_loss_shows_each_rule_at_its_best(self):
        loss, params, grads = smooth_case()
        for r in step_sweep(loss, params, grads):
            assert isinstance(r, SweepResult)
            assert list(r.errors) == ["forward", "central", "complex"] and not r.notes
            # Best relative errors a rule can reach on this O(1) loss: forward ≈ √ε = 1.5e-8, central
            # ≈ ε^(2/3) = 3.7e-11, the complex step ≈ ε·Σ|g_i v_i|/|⟨g, v⟩|, a few ε; each bound leaves a
            # margin of 25 or more.  The best central step is near ε^(1/3) = 6e-6.
            assert r.best_error["forward"] < 1e-6
            assert r.best_error["central"] < 1e-9
            assert r.best_error["complex"] < 1e-13
            assert 1e-7 <= r.best_step["central"] <= 1e-3
            # The complex step stays exact down to the smallest steps, where differences drown in round-off.
            tiny = r.steps <= 1e-8
            assert np.all(r.errors["complex"][tiny] < 1e-13)
            assert np.all(r.errors["central"][r.steps <= 1e-12] > 1e-6)
            for m, err in r.errors.items():
                assert err.shape == DEFAULT_STEPS.shape
                assert r.best_error[m] == err.min() and r.best_step[m] == r.steps[np.argmin(err)]

    def test_dense_net(self):
        net, loss, grads = dense_case([3, 4, 4, 1])
        results = step_sweep(loss, net.params, grads)
        assert [r.name for r in results] == list(net.params)
        for r in results:
            assert r.best_error["central"] < 1e-8 and r.best_error["complex"] < 1e-13, r.name

    def test_a_wrong_gradient_levels_every_curve_off_at_its_error(self):
        loss, params, grads = smooth_case()
        [u] = step_sweep(loss, params, dict(grads, u=grads["u"] * 1.01), groups="u")
        # |⟨g, v⟩ − 1.01⟨g, v⟩| / |1.01⟨g, v⟩| = 1/101 wherever the rule itself is accurate: to ≤ 1e-8
        # relative on these plateaus (round-off ε/h, truncation h²/6), which moves 1/101 by 1e-6 of itself.
        plateau = {"complex": u.steps <= 1e-6, "central": (u.steps >= 1e-6) & (u.steps <= 1e-4)}
        for m, where in plateau.items():
            np.testing.assert_allclose(u.errors[m][where], 1 / 101, rtol=1e-4)

    def test_loss_using_float_drops_the_complex_curve_with_a_note(self):
        params = {"x": np.array([0.2, 0.4])}
        [r] = step_sweep(lambda p: float(np.sum(np.sin(p["x"]))), params, {"x": np.cos(params["x"])})
        assert list(r.errors) == list(r.best_step) == ["forward", "central"]
        assert len(r.notes) == 1 and r.notes[0].startswith("complex step dropped")
        assert "ComplexWarning" in r.notes[0]
        assert r.best_error["central"] < 1e-9

    @pytest.mark.parametrize("loss,reason", [
        (lambda p: np.real(np.sum(p["x"] ** 2)), "returns a real number"),
        (lambda p: np.sum(p["x"].astype(float) ** 2), "ComplexWarning"),
        (lambda p: np.sum(p["x"] ** 2) if not np.iscomplexobj(p["x"]) else 1 / 0, "ZeroDivisionError"),
    ], ids=["returns-real", "casts-to-real", "raises"])
    def test_loss_that_does_not_carry_complex_input(self, loss, reason):
        params = {"x": np.array([0.5, 1.5])}
        [r] = step_sweep(loss, params, {"x": 2 * params["x"]})
        assert "complex" not in r.errors and reason in r.notes[0]

    def test_seed_makes_it_deterministic(self):
        loss, params, grads = smooth_case()
        a, b, c = (step_sweep(loss, params, grads, seed=s) for s in (7, 7, 8))
        for x, y, z in zip(a, b, c, strict=True):
            for m in x.errors:
                np.testing.assert_array_equal(x.errors[m], y.errors[m])
            assert not np.array_equal(x.errors["central"], z.errors["central"])

    def test_methods_and_steps(self):
        loss, params, grads = smooth_case()
        [M] = step_sweep(loss, params, grads, methods=["central", "forward", "central"], steps=[1e-2, 1e-5],
                         groups=["M"])
        assert list(M.errors) == ["central", "forward"] and M.steps.tolist() == [1e-2, 1e-5]
        assert M.best_step["central"] == 1e-5

    def test_params_are_not_modified(self):
        loss, params, grads = smooth_case()
        before = {k: v.copy() for k, v in params.items()}
        step_sweep(loss, params, grads)
        for k in params:
            np.testing.assert_array_equal(params[k], before[k])

    def test_zero_directional_derivative_is_noted(self):
        [r] = step_sweep(lambda p: np.sum(p["x"] ** 2), {"x": np.zeros(2)}, {"x": np.zeros(2)},
                         methods="complex")
        assert r.directional_derivative == 0 and r.best_error["complex"] == 0
        assert "⟨g, v⟩ = 0" in r.notes[0]

    @pytest.mark.parametrize("kwargs,match", [
        ({"methods": ["richardson"]}, r"^methods: expected one or more of \['forward', 'central', 'complex'\]"),
        ({"methods": []}, r"^methods: expected one or more of"),
        ({"methods": 3}, r"^methods: expected one or more of"),
        ({"steps": []}, r"^steps: expected a 1-D sequence of at least 1"),
        ({"steps": [0.0, 1e-3]}, r"^steps: expected finite positive values"),
        ({"groups": ["nope"]}, r"^groups: unknown parameter names"),
        ({"loss": None}, r"^loss: expected a callable"),
    ])
    def test_bad_input_raises_invalid_argument(self, kwargs, match):
        loss, params, grads = smooth_case()
        args = {"loss": loss} | kwargs
        with pytest.raises(gc.InvalidArgument, match=match):
            step_sweep(args.pop("loss"), params, grads, **args)


def test_both_emit_no_warnings_on_a_saturated_network():
    net, _, _ = dense_case([3, 4, 1])
    X, y = gc.xor_data()
    net.params["W1"] *= 40  # saturate the hidden sigmoids
    loss, grads = net.loss_closure(X, y), net.gradients(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert all(r.passed for r in taylor_test(loss, net.params, grads))
        assert all(math.isfinite(r.best_error["central"]) for r in step_sweep(loss, net.params, grads))

"""numerical_gradient: every method against functions whose gradient is known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.numerical.engine import FULL_METHODS
from gradcheck.numerical.gradient import numerical_gradient
from gradcheck.numerical.rules import ROUNDOFF_FACTOR

EPS = np.finfo(np.float64).eps
RNG = np.random.default_rng(20240607)
A = RNG.standard_normal((4, 4))
W = RNG.standard_normal((4, 3))
V = np.array([0.3, -1.2, 2.0, 0.7])
M = np.array([[0.5, 1.5], [-0.7, 0.2]])


def _lse(x):
    return np.log(np.sum(np.exp(x)))


# name -> (loss, params, exact gradient); every gradient is O(1) except "large_theta".
SMOOTH = {
    "polynomial": (lambda p: np.sum(p["x"] ** 4 - 3 * p["x"] ** 2 + p["x"]),
                   {"x": V}, {"x": 4 * V ** 3 - 6 * V + 1}),
    "exp_sin": (lambda p: np.sum(np.exp(p["x"]) * np.sin(p["x"])),
                {"x": V}, {"x": np.exp(V) * (np.sin(V) + np.cos(V))}),
    "log_sum_exp": (lambda p: _lse(p["x"]), {"x": V}, {"x": np.exp(V) / np.exp(V).sum()}),
    "trace_quadratic_form": (lambda p: np.trace(p["W"].T @ A @ p["W"]), {"W": W}, {"W": (A + A.T) @ W}),
    "two_groups": (lambda p: np.sum(np.cos(p["x"])) * np.sum(p["M"] ** 2),
                   {"x": V, "M": M},
                   {"x": -np.sin(V) * np.sum(M ** 2), "M": 2 * M * np.sum(np.cos(V))}),
}
LARGE = {"large_theta": (lambda p: np.sum(p["x"] ** 3), {"x": np.array([100.0, -250.0, 1e3])},
                         {"x": 3 * np.array([100.0, -250.0, 1e3]) ** 2})}

# How far a value may be from the truth: its own error estimate, times a
# margin of 4 (an estimate, not a rigorous bound: κ = 8 units of ε per loss value
# already covers typical rounding), plus a floor at the rounding of the group's
# largest entry: an entry that is a cancellation of larger terms cannot be
# computed better than that.  Largest observed ratio to this bound: 0.22
# (central differences; x86-64).
MARGIN = 4


def assert_within_estimate(g, exact):
    for name, truth in exact.items():
        assert g.values[name].shape == truth.shape
        err = np.abs(g.values[name] - truth)
        floor = 8 * EPS * np.max(np.abs(truth))
        assert np.all(err <= MARGIN * g.errors[name] + floor), (name, err, g.errors[name])


# Upper bounds on error estimate / max(1, |gradient|) for O(1) gradients: an
# estimate this loose would still let a checker built on it catch real bugs.
# Each is the rule's round-off term c·κε·|L|/h (|L| ≤ 10 here, h its step) plus
# its truncation estimate (∝ h^p), with a margin (largest observed estimate:
# 0.12 of its bound, Richardson; every other rule below 0.1): complex
# κε ≈ 1.8e-15; Richardson 8κε·|L|/ε^(1/5) ≈ 2e-10; central κε·|L|/ε^(1/3) ≈
# 3e-9 plus h² ≈ 4e-11; central4 1.5κε·|L|/ε^(1/5) ≈ 2e-11 plus (16/15)|C(h) − C(h/2)| ≈ h⁴ ≈ 1e-12;
# forward and backward h ≈ 1.5e-8 plus κε·|L|/h ≈ 1e-6; scipy-fprime likewise at
# h = √ε; scipy-differentiate its own order-8 estimate plus our round-off floor.
ESTIMATE_BOUND = {
    "auto": 1e-13, "complex": 1e-13, "richardson": 1e-9, "scipy-differentiate": 1e-8,
    "central": 1e-6, "central4": 1e-9, "forward": 1e-5, "backward": 1e-5, "scipy-fprime": 1e-5,
}


def _byte_snapshot(params):
    return {k: (v.dtype, v.shape, v.tobytes()) for k, v in params.items()}


class TestAccuracy:
    @pytest.mark.parametrize("method", FULL_METHODS)
    @pytest.mark.parametrize("case", sorted(SMOOTH) + sorted(LARGE))
    def test_within_own_error_estimate(self, method, case):
        loss, params, exact = {**SMOOTH, **LARGE}[case]
        g = numerical_gradient(loss, params, method)
        assert set(g.values) == set(params)
        assert_within_estimate(g, exact)

    @pytest.mark.parametrize("method", FULL_METHODS)
    @pytest.mark.parametrize("case", sorted(SMOOTH))
    def test_error_estimate_is_not_absurdly_loose(self, method, case):
        loss, params, exact = SMOOTH[case]
        g = numerical_gradient(loss, params, method)
        for name, truth in exact.items():
            est = g.errors[name]
            assert np.all(np.isfinite(est)) and np.all(est >= 0)
            assert np.max(est / np.maximum(1.0, np.abs(truth))) < ESTIMATE_BOUND[method]

    def test_higher_order_rules_are_more_accurate(self):
        loss, params, exact = SMOOTH["exp_sin"]
        err = {m: np.max(np.abs(numerical_gradient(loss, params, m).values["x"] - exact["x"]))
               for m in ("forward", "central", "richardson", "complex")}
        # Truncation h (forward, ~1e-7 here), h² and round-off ε/h (central, ~1e-9), round-off
        # ε/(h/4) (Richardson, ~1e-11): each step down is a factor ~100, so the order is robust.
        assert err["forward"] > err["central"] > err["richardson"] > err["complex"]
        # The complex step subtracts nothing: its error is the rounding of the loss, κε relative.
        assert err["complex"] < ROUNDOFF_FACTOR * EPS * np.max(np.abs(exact["x"]))

    def test_loss_value_and_precision(self):
        loss, params, _ = SMOOTH["polynomial"]
        g = numerical_gradient(loss, params, "central")
        # The same operations on an equal copy: equal up to a few ulps where the SIMD path depends on alignment.
        assert g.loss_value == pytest.approx(float(loss(params)), rel=4 * EPS)
        assert g.precision == np.float64

    @pytest.mark.parametrize("method", ["forward", "backward", "central", "central4", "richardson"])
    def test_steps_recorded(self, method):
        loss, params, _ = SMOOTH["two_groups"]
        g = numerical_gradient(loss, params, method)
        for name, p in params.items():
            assert g.steps[name].shape == p.shape
            assert np.all(g.steps[name] > 0)

    def test_float32_loss_precision_is_detected(self):
        g = numerical_gradient(lambda p: np.sum(p["x"].astype(np.float32) ** 2), {"x": V}, "central")
        assert g.precision == np.float32
        assert any("float32" in n for n in g.notes)
        # Central differences are exact for a quadratic but for rounding, here float32's (the input
        # cast included): the round-off term κε₃₂·max|F|/h bounds it (largest observed ratio 0.025).
        assert np.all(np.abs(g.values["x"] - 2 * V) <= g.errors["x"])


class TestMethodsRecord:
    @pytest.mark.parametrize("method", [m for m in FULL_METHODS if m != "auto"])
    def test_names_the_method_used_per_group(self, method):
        loss, params, _ = SMOOTH["two_groups"]
        assert numerical_gradient(loss, params, method).methods == {"x": method, "M": method}

    def test_auto_uses_complex_step_on_complex_safe_loss(self):
        loss, params, _ = SMOOTH["two_groups"]
        g = numerical_gradient(loss, params)
        assert g.methods == {"x": "complex", "M": "complex"}
        assert g.notes == []


def _smooth_part(x):
    return np.exp(x) + np.sin(x)


TRUTH_X = np.exp(V) + np.cos(V)
# Losses that lose the imaginary part of a complex perturbation of "x".
LOSSY = {
    "float()": lambda p: float(np.sum(_smooth_part(p["x"]))) + np.sum(p["M"] ** 2),
    "np.abs": lambda p: np.sum(np.abs(_smooth_part(p["x"]) + 10.0)) + np.sum(p["M"] ** 2),
    ".real": lambda p: np.sum(_smooth_part(p["x"])).real + np.sum(p["M"] ** 2),
    "astype(float)": lambda p: np.sum(_smooth_part(p["x"].astype(float))) + np.sum(p["M"] ** 2),
    "np.linalg.norm": lambda p: np.linalg.norm(_smooth_part(p["x"]) + 10.0) ** 2 + np.sum(p["M"] ** 2),
}
LOSSY_TRUTH = {
    "np.linalg.norm": {"x": 2 * (_smooth_part(V) + 10.0) * TRUTH_X, "M": 2 * M},
}
# np.maximum / np.clip order complex numbers lexicographically, so where they pass
# a value through they keep its imaginary part; where they cut it off the true
# derivative is zero, which the complex step also reports.
KINKED = {
    "np.maximum": lambda p: np.sum(np.maximum(_smooth_part(p["x"]), -0.5)) + np.sum(np.maximum(p["M"], 0.0) ** 2),
    "np.clip": lambda p: np.sum(np.clip(_smooth_part(p["x"]), -0.5, 100.0)) + np.sum(np.clip(p["M"], 0.0, 1.0) ** 2),
}
KINKED_TRUTH = {
    "np.maximum": {"x": np.where(_smooth_part(V) > -0.5, TRUTH_X, 0.0), "M": 2 * np.maximum(M, 0.0)},
    "np.clip": {"x": np.where(_smooth_part(V) > -0.5, TRUTH_X, 0.0), "M": 2 * M * ((M > 0) & (M < 1))},
}


class TestAutoFallback:
    params = {"x": V, "M": M}

    @pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
    @pytest.mark.parametrize("kind", sorted(LOSSY))
    def test_falls_back_to_richardson_with_a_note(self, kind):
        g = numerical_gradient(LOSSY[kind], self.params)
        assert g.methods["x"] == "richardson"
        assert any(n.startswith("x:") and "richardson" in n.lower() for n in g.notes), g.notes
        assert_within_estimate(g, LOSSY_TRUTH.get(kind, {"x": TRUTH_X, "M": 2 * M}))

    @pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
    @pytest.mark.parametrize("kind", sorted(LOSSY))
    def test_check_params_auto_never_false_alarms(self, kind):
        truth = LOSSY_TRUTH.get(kind, {"x": TRUTH_X, "M": 2 * M})
        report = gc.check_params(LOSSY[kind], self.params, truth)
        assert report.passed, str(report)

    @pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
    @pytest.mark.parametrize("kind", sorted(LOSSY))
    def test_check_params_auto_still_catches_a_bug(self, kind):
        truth = LOSSY_TRUTH.get(kind, {"x": TRUTH_X, "M": 2 * M})
        wrong = {"x": truth["x"] * np.array([1, 1, 1 + 1e-6, 1]), "M": truth["M"]}
        report = gc.check_params(LOSSY[kind], self.params, wrong)
        assert report.failed_groups == ["x"]
        assert report.group("x").worst_index == (2,)

    def test_only_the_lossy_group_falls_back(self):
        g = numerical_gradient(LOSSY["np.abs"], self.params)
        assert g.methods == {"x": "richardson", "M": "complex"}

    @pytest.mark.parametrize("kind", sorted(KINKED))
    def test_maximum_and_clip_give_correct_values(self, kind):
        g = numerical_gradient(KINKED[kind], self.params)
        assert_within_estimate(g, KINKED_TRUTH[kind])
        assert gc.check_params(KINKED[kind], self.params, KINKED_TRUTH[kind]).passed

    def test_drop_missed_by_the_probe_is_re_measured(self):
        # A tiny |·| term on one entry hides from the probe's random directions;
        # the complex step then misses its derivative, and check_params must
        # re-measure the flagged entry rather than report a false failure.
        w = np.array([0.3, -0.7, 1.1])
        def loss(p):
            return np.sum(1000 * p["w"] ** 2) + 1e-6 * np.abs(p["w"][0] + 5)

        grads = {"w": 2000 * w + np.array([1e-6, 0, 0])}
        assert numerical_gradient(loss, {"w": w}).methods == {"w": "complex"}
        report = gc.check_params(loss, {"w": w}, grads)
        assert report.passed, str(report)
        assert report.group("w").method == "complex+richardson"
        assert any("re-measured" in n for n in report.notes)

    def test_non_finite_loss_uses_richardson(self):
        g = numerical_gradient(lambda p: np.sum(p["x"]) * np.nan, {"x": V})
        assert g.methods == {"x": "richardson"}
        assert not np.any(np.isfinite(g.values["x"]))


class TestProgress:
    @pytest.mark.parametrize("method", FULL_METHODS)
    def test_reports_done_and_total_ending_at_total(self, method):
        loss, params, _ = SMOOTH["two_groups"]
        calls = []
        numerical_gradient(loss, params, method, progress=lambda done, total: calls.append((done, total)))
        total = sum(p.size for p in params.values())
        assert calls, "progress never called"
        assert all(t == total for _, t in calls)
        done = [d for d, _ in calls]
        assert done == sorted(done) and 0 <= done[0] and done[-1] == total


class TestInputsUntouched:
    @pytest.mark.parametrize("method", FULL_METHODS)
    @pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
    def test_params_byte_identical(self, method, dtype):
        params = {"x": (V * 10).astype(dtype), "M": (M * 10).astype(dtype)}
        before = _byte_snapshot(params)
        numerical_gradient(lambda p: np.sum(p["x"] ** 2) + np.sum(np.sin(p["M"])), params, method)
        assert _byte_snapshot(params) == before

    def test_loss_that_writes_into_its_argument_does_not_reach_the_caller(self):
        params = {"x": V.copy()}
        before = _byte_snapshot(params)

        def rude(p):
            value = np.sum(p["x"] ** 2)
            p["x"] = p["x"] * 0  # rebinding the key must not break the evaluator
            return value

        g = numerical_gradient(rude, params, "central")
        assert _byte_snapshot(params) == before
        # Exact for a quadratic but for rounding, which the round-off term bounds.
        assert np.all(np.abs(g.values["x"] - 2 * V) <= g.errors["x"])


class TestArguments:
    def test_directional_points_to_check_params(self):
        with pytest.raises(gc.InvalidArgument, match=r"^method:.*check_params"):
            numerical_gradient(lambda p: np.sum(p["x"]), {"x": V}, "directional")

    @pytest.mark.parametrize("method", ["Central", "cs", "", None, "scipy"])
    def test_unknown_method(self, method):
        with pytest.raises(gc.InvalidArgument, match=r"^method: expected one of"):
            numerical_gradient(lambda p: np.sum(p["x"]), {"x": V}, method)

    def test_params_must_be_a_mapping(self):
        with pytest.raises(gc.InvalidArgument, match=r"^params:"):
            numerical_gradient(lambda p: 0.0, [V])


class _Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self, p):
        self.calls += 1
        return np.sum(np.exp(p["x"])) + np.sum(p["M"] ** 3)


class TestEvaluationCount:
    N = V.size + M.size

    @pytest.mark.parametrize("method,per_entry", [("forward", 2), ("backward", 2), ("central", 4),
                                                  ("central4", 6), ("richardson", 6), ("complex", 1)])
    def test_documented_calls_per_entry(self, method, per_entry):
        small, large = _Counter(), _Counter()
        g_small = numerical_gradient(small, {"x": V, "M": M}, method)
        g_large = numerical_gradient(large, {"x": np.tile(V, 3), "M": M}, method)
        assert (g_small.n_evaluations, g_large.n_evaluations) == (small.calls, large.calls)
        # Each extra entry costs exactly the rule's stencil ...
        assert g_large.n_evaluations - g_small.n_evaluations == per_entry * 2 * V.size
        # ... on top of a small fixed cost: the unperturbed loss and its repeats (4), the noise
        # measurement (8) and, for the complex step, the safety probe (per group 2 complex
        # calls and 4 real ones, when real differences agree at their first step).
        probe = 6 * 2 if method == "complex" else 0
        assert 1 <= g_small.n_evaluations - per_entry * self.N <= 16 + probe

    def test_auto_adds_only_the_probe(self):
        loss = _Counter()
        g = numerical_gradient(loss, {"x": V, "M": M})
        assert g.methods == {"x": "complex", "M": "complex"}
        assert g.n_evaluations == loss.calls
        # Complex step on every entry plus a few probe calls per group.
        assert 1 + self.N < g.n_evaluations <= 16 + self.N + 2 * 6

    @pytest.mark.parametrize("method", ["scipy-fprime", "scipy-differentiate"])
    def test_scipy_counts_are_exact(self, method):
        loss = _Counter()
        assert numerical_gradient(loss, {"x": V, "M": M}, method).n_evaluations == loss.calls


class TestMemoryLayout:
    """Parameters arrive in any memory layout; the derivative must not depend on it.

    Regression: Fortran-ordered copies were once perturbed through a reshaped copy.
    """

    def _check(self, W, method):
        loss = lambda p: np.sum(p["W"] ** 3)  # noqa: E731
        g = numerical_gradient(loss, {"W": W}, method)
        assert_within_estimate(g, {"W": 3 * W ** 2})
        # The loss sees a C-ordered float64 copy whatever the layout: the very same operations.
        contiguous = numerical_gradient(loss, {"W": np.ascontiguousarray(W)}, method)
        np.testing.assert_array_equal(g.values["W"], contiguous.values["W"])

    @pytest.mark.parametrize("method", FULL_METHODS)
    def test_strided_view(self, method):
        self._check(np.arange(1.0, 13.0).reshape(2, 6)[:, ::2] / 7, method)

    @pytest.mark.parametrize("method", FULL_METHODS)
    def test_fortran_ordered(self, method):
        self._check(np.asfortranarray(np.arange(1.0, 7.0).reshape(2, 3) / 7), method)

    @pytest.mark.parametrize("method", FULL_METHODS)
    def test_transposed_view(self, method):
        self._check((np.arange(1.0, 7.0).reshape(3, 2) / 7).T, method)

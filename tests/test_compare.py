"""compare_group: verdicts, the tolerance model, locating entries, non-finite values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gradcheck.report.records import GroupResult
from gradcheck.verify.tolerance import NOISE_TRUST_CAP, Tolerance, compare_group, gradient_epsilon

EPS = np.finfo(np.float64).eps


def _grid(shape=(3, 4), seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _compare(analytic, numerical, error=None, **kw):
    error = np.zeros_like(numerical) if error is None else error
    kw.setdefault("eps_grad", EPS)
    return compare_group("g", analytic, numerical, error, **kw)


class TestVerdict:
    def test_identical_values_pass_with_zero_errors(self):
        a = _grid()
        r = _compare(a, a.copy(), np.full(a.shape, 1e-12))
        assert r.passed and r.n_mismatched == 0
        assert r.max_abs_error == 0 and r.max_rel_error == 0 and r.norm_rel_error == 0
        assert r.shape == (3, 4) and r.n_entries == 12

    def test_error_inside_the_numerical_estimate_passes(self):
        a = _grid()
        r = _compare(a, a + 1e-7, np.full(a.shape, 1e-7))
        assert r.passed

    def test_error_outside_the_numerical_estimate_fails(self):
        a = _grid()
        r = _compare(a, a + 1e-5, np.full(a.shape, 1e-7))
        assert not r.passed and r.n_mismatched == a.size

    @pytest.mark.parametrize("index", [(0, 0), (2, 3), (1, 2)])
    def test_worst_index_locates_a_planted_entry(self, index):
        a = _grid()
        n = a.copy()
        n[index] *= 1 + 1e-6
        r = _compare(a, n, np.full(a.shape, 1e-14))
        assert not r.passed and r.n_mismatched == 1
        assert r.worst_index == index
        assert r.worst_analytic == a[index] and r.worst_numerical == n[index]
        assert [m.index for m in r.worst] == [index]
        # Constructed values: the product and the difference round to ε/1e-6 = 2e-10 of the planted 1e-6.
        assert r.worst[0].rel_error == pytest.approx(1e-6, rel=1e-3)
        assert r.max_rel_error == pytest.approx(1e-6, rel=1e-3)
        assert r.max_abs_error == pytest.approx(abs(a[index]) * 1e-6, rel=1e-3)

    def test_worst_is_judged_against_each_entrys_own_tolerance(self):
        # Entry (0, 0) has the larger absolute error, but a far looser error estimate.
        a = np.ones((2, 2))
        n = a.copy()
        n[0, 0] += 1e-4
        n[1, 1] += 1e-8
        e = np.full((2, 2), 1e-14)
        e[0, 0] = 1e-3
        r = _compare(a, n, e)
        assert not r.passed
        assert r.n_mismatched == 1 and r.worst_index == (1, 1)

    def test_worst_lists_failing_entries_worst_first(self):
        a = np.ones(10)
        n = a.copy()
        n[[2, 5, 7]] += np.array([1e-6, 1e-4, 1e-5])
        r = _compare(a, n, np.full(10, 1e-14), n_worst=5)
        assert [m.index for m in r.worst] == [(5,), (7,), (2,)]
        assert r.n_mismatched == 3

    def test_worst_is_capped(self):
        a = np.ones(10)
        r = _compare(a, a + 1e-3, np.zeros(10), n_worst=4)
        assert len(r.worst) == 4 and r.n_mismatched == 10

    def test_passing_group_still_shows_its_closest_entries(self):
        a = _grid()
        r = _compare(a, a, n_worst=3)
        assert r.passed and len(r.worst) == 3

    def test_empty_group(self):
        r = _compare(np.zeros((0, 3)), np.zeros((0, 3)))
        assert r.passed and r.n_entries == 0 and r.shape == (0, 3)

    def test_docstring_example(self):
        r = compare_group("w", np.array([1.0, 2.0]), np.array([1.0, 2.000001]), np.full(2, 1e-12),
                          eps_grad=2.2e-16)
        assert (r.passed, r.worst_index, r.n_mismatched) == (False, (1,), 1)

    def test_method_is_recorded(self):
        assert _compare(np.ones(2), np.ones(2), method="central").method == "central"


class TestToleranceModel:
    def test_safety_multiplies_the_error_estimate(self):
        a, n, e = np.ones(3), np.ones(3) + 3e-8, np.full(3, 1e-8)
        assert _compare(a, n, e, tol=Tolerance(safety=4)).passed
        assert not _compare(a, n, e, tol=Tolerance(safety=2)).passed

    def test_rtol_term(self):
        a, n = np.full(3, 10.0), np.full(3, 10.0 + 1e-8)
        assert not _compare(a, n).passed
        assert _compare(a, n, tol=Tolerance(rtol=2e-9)).passed

    def test_atol_floor(self):
        a, n = np.zeros(3), np.full(3, 1e-9)
        assert not _compare(a, n).passed
        assert _compare(a, n, tol=Tolerance(atol=1e-8)).passed

    def test_loss_resolution_term(self):
        # An error below ε·|L| cannot be seen through the loss: it passes ...
        a = np.ones(3)
        n = a + 1e-9
        assert not _compare(a, n).passed
        assert _compare(a, n, loss_value=1e7).passed
        # ... and the term shrinks for large parameters (steps grow with |θ|).
        assert not _compare(a, n, loss_value=1e7, params=np.full(3, 1e6)).passed

    def test_grad_rounding_term(self):
        a, n = np.ones(3), np.ones(3) + 1e-9
        assert not _compare(a, n).passed
        assert _compare(a, n, grad_rounding=np.full(3, 1e-9)).passed

    def test_tolerance_is_reported(self):
        a = np.ones(2)
        n = a + np.array([0.0, 1e-3])
        r = _compare(a, n, np.full(2, 1e-6))
        assert r.worst_tolerance == r.worst[0].tolerance
        assert 4e-6 <= r.worst_tolerance < 1e-5

    def test_defaults(self):
        t = Tolerance()
        assert (t.rtol, t.atol, t.safety) == (1e-10, 0.0, 4.0)


class TestZeroGradients:
    def test_zero_versus_zero(self):
        r = _compare(np.zeros((3, 2)), np.zeros((3, 2)))
        assert r.passed
        assert r.max_rel_error == 0 and r.norm_rel_error == 0 and r.max_abs_error == 0

    def test_zero_versus_rounding_noise_is_finite_and_passes(self):
        n = np.array([0.0, 1e-18, -3e-17])
        r = _compare(np.zeros(3), n, np.full(3, 1e-16))
        assert r.passed
        assert math.isfinite(r.max_rel_error) and math.isfinite(r.norm_rel_error)
        assert r.max_rel_error < 1

    def test_zero_analytic_versus_real_gradient_fails_with_finite_relative_error(self):
        n = np.array([0.0, 0.5, 0.0])
        r = _compare(np.zeros(3), n, np.full(3, 1e-12))
        assert not r.passed and r.worst_index == (1,)
        assert r.max_rel_error == pytest.approx(1.0)
        assert r.norm_rel_error == pytest.approx(1.0)

    def test_zero_rows_in_a_matrix(self):
        a = _grid((4, 3))
        a[1] = 0.0
        r = _compare(a, a.copy(), np.full(a.shape, 1e-14))
        assert r.passed and r.max_rel_error == 0

    def test_no_warnings_on_all_zero_input(self):
        with np.errstate(all="raise"):
            r = _compare(np.zeros(4), np.zeros(4))
        assert r.passed


class TestNonFinite:
    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_in_analytic(self, bad):
        a = _grid()
        n = a.copy()
        a[1, 2] = bad
        r = _compare(a, n, np.full(a.shape, 1e-12))
        assert not r.passed and r.worst_index == (1, 2)
        assert any("analytic" in note and "(1, 2)" in note for note in r.notes), r.notes
        assert r.max_rel_error == math.inf and r.max_abs_error == math.inf

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_in_numerical(self, bad):
        a = _grid()
        n = a.copy()
        n[2, 0] = bad
        r = _compare(a, n, np.full(a.shape, 1e-12))
        assert not r.passed and r.worst_index == (2, 0)
        assert any("numerical" in note and "(2, 0)" in note for note in r.notes), r.notes

    def test_in_params(self):
        a = _grid()
        p = np.ones_like(a)
        p[0, 3] = np.nan
        r = _compare(a, a.copy(), params=p)
        assert not r.passed
        assert any("params" in note and "(0, 3)" in note for note in r.notes), r.notes

    def test_non_finite_error_estimate_fails(self):
        a = np.ones(2)
        r = _compare(a, a.copy(), np.array([0.0, np.inf]))
        assert not r.passed and r.worst_index == (1,)

    def test_nan_on_both_sides_never_passes(self):
        a = np.array([1.0, np.nan])
        r = _compare(a, a.copy())
        assert not r.passed and r.n_mismatched == 1

    def test_many_non_finite_entries_are_summarised(self):
        a = np.full(10, np.nan)
        r = _compare(a, np.ones(10))
        assert any("more" in note for note in r.notes)


class TestToDict:
    def test_json_serialisable_with_inf_and_nan(self):
        a = _grid()
        n = a.copy()
        a[0, 0] = np.inf
        n[1, 1] = np.nan
        r = _compare(a, n)
        d = r.to_dict()
        text = json.dumps(d, allow_nan=False)
        back = json.loads(text)
        assert back["passed"] is False
        assert back["worst_index"] in ([0, 0], [1, 1])
        assert back["max_rel_error"] == "inf"

    def test_layout(self):
        a = _grid((2, 3))
        n = a.copy()
        n[1, 2] += 1.0
        d = _compare(a, n).to_dict()
        for key in ("name", "shape", "passed", "max_abs_error", "max_rel_error", "worst_index",
                    "norm_rel_error", "n_mismatched", "worst", "notes"):
            assert key in d
        assert d["shape"] == [2, 3] and d["worst_index"] == [1, 2]
        assert d["worst"][0]["index"] == [1, 2]
        assert isinstance(d["passed"], bool) and isinstance(d["n_mismatched"], int)
        json.dumps(d, allow_nan=False)

    def test_is_a_group_result(self):
        assert isinstance(_compare(np.ones(1), np.ones(1)), GroupResult)


class TestLossNoise:
    """σ/|L| replaces ε_g in the analytic gradient's rounding term, capped."""

    EPS = np.finfo(np.float64).eps

    def test_small_noise_keeps_epsilon(self):
        assert gradient_epsilon(self.EPS, 1.0, 1e-17, 16.0) == self.EPS
        assert gradient_epsilon(self.EPS, 1.0, 0.0, 16.0) == self.EPS

    def test_large_relative_noise_replaces_epsilon(self):
        assert gradient_epsilon(self.EPS, 1e-16, 1e-24, 16.0) == pytest.approx(1e-8)

    def test_cap_and_zero_loss(self):
        assert gradient_epsilon(self.EPS, 1e-20, 1e-22, 16.0) == NOISE_TRUST_CAP / 16.0
        assert gradient_epsilon(self.EPS, 0.0, 1e-22, 16.0) == NOISE_TRUST_CAP / 16.0
        assert gradient_epsilon(self.EPS, float("nan"), 1e-22, 16.0) == self.EPS

    def test_widens_the_tolerance_only_through_the_rounding_term(self):
        g = np.array([1e-8, -2e-8])
        args = dict(eps_grad=self.EPS, loss_value=1e-16)
        plain = compare_group("w", g, g * (1 + 1e-7), np.zeros(2), **args)
        noisy = compare_group("w", g, g * (1 + 1e-7), np.zeros(2), loss_noise=1e-23, **args)
        assert not plain.passed and noisy.passed
        # The allowance is c_g·σ/|L|·(|g| + G) ≤ 1e-6 relative: a 1e-5 error fails.
        assert not compare_group("w", g, g * (1 + 1e-5), np.zeros(2), loss_noise=1e-23, **args).passed

"""Step sizes: ε^(1/(p+1)) per rule, scaled by max(1, |θ|), exactly representable."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck.numerical.steps import relative_step, step_sizes

EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps

# The order p of each rule's truncation error sets the exponent 1/(p+1).
EXPECTED_EXPONENT = {"forward": 1 / 2, "backward": 1 / 2, "central": 1 / 3, "central4": 1 / 5}
X = np.array([0.0, 1e-8, -0.3, 0.5, 1.0, -1.0, 3.0, -17.5, 1234.5, -1e6, 1e12])


class TestRelativeStep:
    @pytest.mark.parametrize("method,exponent", sorted(EXPECTED_EXPONENT.items()))
    @pytest.mark.parametrize("dtype,eps", [(np.float64, EPS64), (np.float32, EPS32)])
    def test_exponent_of_machine_epsilon(self, method, exponent, dtype, eps):
        # The same power of the same numbers: within a few ulps even where libm differs.
        assert relative_step(method, dtype) == pytest.approx(eps ** exponent, rel=4 * EPS64)

    def test_richardson_uses_a_step_large_enough_for_three_levels(self):
        # Extrapolating from h, h/2, h/4 needs a base step well above the central one.
        assert relative_step("richardson") > relative_step("central")

    @pytest.mark.parametrize("method", sorted(EXPECTED_EXPONENT))
    def test_float32_gives_a_larger_relative_step(self, method):
        # (ε32/ε64)^e = 2^(29·e) >= 2^5.8 for every exponent used.
        assert relative_step(method, np.float32) > 50 * relative_step(method, np.float64)

    def test_accepts_dtype_names(self):
        assert relative_step("central", "float64") == relative_step("central", np.float64)


class TestStepSizes:
    @pytest.mark.parametrize("method", sorted(EXPECTED_EXPONENT) + ["richardson"])
    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    def test_scaled_by_max_of_one_and_abs_theta(self, method, dtype):
        h = step_sizes(X, method, dtype)
        ideal = relative_step(method, dtype) * np.maximum(1.0, np.abs(X))
        # Rounded to a power of two: at most a factor √2 away from the ideal step (1e-12 covers the
        # rounding of the ideal step and of its log2, a few ulps each).
        ratio = h / ideal
        assert np.all(ratio >= 2 ** -0.5 - 1e-12) and np.all(ratio <= 2 ** 0.5 + 1e-12), ratio

    def test_small_parameters_share_one_step(self):
        h = step_sizes(np.array([0.0, 1e-8, -0.3, 0.99]), "central")
        assert np.all(h == h[0])

    def test_large_parameters_get_proportionally_larger_steps(self):
        h = step_sizes(np.array([1.0, 1024.0, -1024.0 ** 2]), "central")
        assert h[1] == 1024 * h[0]
        assert h[2] == 1024 ** 2 * h[0]

    @pytest.mark.parametrize("method", sorted(EXPECTED_EXPONENT) + ["richardson"])
    def test_step_is_what_theta_plus_h_actually_moves(self, method):
        rng = np.random.default_rng(3)
        x = np.concatenate([X, rng.standard_normal(200) * 10.0 ** rng.integers(-3, 6, 200)])
        h = step_sizes(x, method)
        assert np.all(h > 0)
        # The returned step is exact: θ + h lands exactly h away from θ.
        assert np.array_equal((x + h) - x, h)

    def test_positive_for_zero_and_negative_parameters(self):
        assert np.all(step_sizes(np.array([0.0, -0.0, -5.0]), "forward") > 0)

    @pytest.mark.parametrize("method", sorted(EXPECTED_EXPONENT))
    def test_float32_steps_are_larger(self, method):
        assert np.all(step_sizes(X, method, np.float32) > step_sizes(X, method, np.float64))

    def test_shape_is_preserved(self):
        x = np.arange(12.0).reshape(3, 4)
        assert step_sizes(x, "central").shape == (3, 4)

    def test_order_of_rules(self):
        # Higher-order rules tolerate larger steps.
        x = np.array([0.5])
        assert step_sizes(x, "forward")[0] < step_sizes(x, "central")[0] < step_sizes(x, "central4")[0]

    def test_input_not_modified(self):
        x = X.copy()
        step_sizes(x, "central")
        assert np.array_equal(x, X)

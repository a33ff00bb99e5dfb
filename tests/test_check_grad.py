"""check_grad: the flat-vector, SciPy-like front end."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import rosen, rosen_der

import gradcheck as gc


def start(n, seed=0):
    return np.random.default_rng(seed).uniform(-1.5, 1.5, n)


class TestCheckGrad:
    @pytest.mark.parametrize("n", [2, 5, 10])
    def test_rosenbrock_passes(self, n):
        report = gc.check_grad(rosen, rosen_der, start(n))
        assert report.passed, str(report)
        assert [g.name for g in report.groups] == ["x"]
        assert report.group("x").shape == (n,)

    @pytest.mark.parametrize("n", [2, 5, 10])
    def test_rosenbrock_at_the_minimum(self, n):
        # Zero gradient, loss exactly 0.
        assert gc.check_grad(rosen, rosen_der, np.ones(n)).passed

    @pytest.mark.parametrize("n", [2, 5, 10])
    def test_relative_error_1e5_in_one_entry_is_caught_and_located(self, n):
        x0 = start(n, seed=n)
        for i in range(n):
            def wrong(x, i=i):
                g = rosen_der(x)
                g[i] *= 1 + 1e-5
                return g

            report = gc.check_grad(rosen, wrong, x0)
            assert report.failed_groups == ["x"]
            assert report.group("x").worst_index == (i,)
            assert report.group("x").n_mismatched == 1

    @pytest.mark.parametrize("method", ["central", "richardson", "complex", "scipy-differentiate"])
    def test_other_methods_on_rosenbrock(self, method):
        x0 = start(5, seed=1)
        assert gc.check_grad(rosen, rosen_der, x0, method=method).passed
        g = rosen_der(x0)
        g[3] *= 1 + 1e-4
        report = gc.check_grad(rosen, g, x0, method=method)
        assert report.failed_groups == ["x"] and report.group("x").worst_index == (3,)

    def test_grad_given_as_array(self):
        x0 = start(5)
        assert gc.check_grad(rosen, rosen_der(x0), x0).passed
        wrong = rosen_der(x0)
        wrong[1] += 1e-3
        report = gc.check_grad(rosen, wrong, x0)
        assert report.group("x").worst_index == (1,)

    def test_grad_given_as_list_and_x0_as_list(self):
        x0 = [0.3, -0.8, 1.1]
        assert gc.check_grad(rosen, list(rosen_der(np.array(x0))), x0).passed

    def test_integer_x0(self):
        x0 = np.array([1, 2, -1])
        assert gc.check_grad(rosen, rosen_der, x0).passed

    def test_grad_receives_a_copy_and_x0_is_untouched(self):
        x0 = start(4)
        before = x0.tobytes()

        def scribbling_grad(x):
            g = rosen_der(x)
            x[:] = 99.0
            return g

        def scribbling_f(x):
            value = rosen(x)
            x[0] = -7.0  # writing into the evaluation point must not reach the caller
            return value

        assert gc.check_grad(rosen, scribbling_grad, x0).passed
        # A loss that writes into its argument would corrupt every later
        # evaluation: it is an error naming the parameter, and x0 is untouched.
        with pytest.raises(gc.LossEvaluationError, match=r"writes into its argument params\['x'\]"):
            gc.check_grad(scribbling_f, rosen_der, x0, method="central")
        assert x0.tobytes() == before

    def test_options_are_passed_on(self):
        x0 = start(3)
        g = rosen_der(x0)
        g[0] *= 1 + 1e-6
        assert not gc.check_grad(rosen, g, x0).passed
        assert gc.check_grad(rosen, g, x0, rtol=1e-5).passed
        assert gc.check_grad(rosen, rosen_der, x0, title="mine").title == "mine"
        assert gc.check_grad(rosen, rosen_der, x0).title == "check_grad"

    @pytest.mark.parametrize("x0", [np.zeros((2, 3)), np.ones((4, 1)), np.array(1.5)], ids=["2d", "column", "0d"])
    def test_x0_not_one_dimensional(self, x0):
        with pytest.raises(gc.InvalidArgument, match=r"^x0: expected a 1-D array"):
            gc.check_grad(lambda x: np.sum(x ** 2), lambda x: 2 * x, x0)

    def test_non_numeric_x0(self):
        with pytest.raises(gc.InvalidArgument, match=r"^x0"):
            gc.check_grad(rosen, rosen_der, np.array(["a", "b"]))

    def test_f_not_callable(self):
        with pytest.raises(gc.InvalidArgument, match=r"^f: expected a callable"):
            gc.check_grad(np.ones(3), rosen_der, np.ones(3))

    def test_grad_of_wrong_length(self):
        with pytest.raises(gc.InvalidArgument, match=r"expected shape \(3,\)"):
            gc.check_grad(rosen, np.ones(4), np.ones(3))

    def test_f_returning_a_vector(self):
        with pytest.raises(gc.InvalidArgument, match=r"^loss: expected .* scalar"):
            gc.check_grad(lambda x: x ** 2, lambda x: 2 * x, np.ones(3))

    def test_f_that_raises(self):
        def f(x):
            raise RuntimeError("broken objective")

        with pytest.raises(gc.LossEvaluationError) as info:
            gc.check_grad(f, rosen_der, np.ones(3))
        assert isinstance(info.value.__cause__, RuntimeError)

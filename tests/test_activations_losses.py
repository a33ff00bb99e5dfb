"""Activations and losses: values, derivatives beside them, complex input, lookup errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.model.activations import ACTIVATIONS, get_activation, identity, sigmoid, tanh
from gradcheck.model.losses import REDUCTIONS, get_loss

H_CS = 1e-20  # complex step
EPS = float(np.finfo(np.float64).eps)
H_FD = 1e-6  # central difference


def exact_derivative(name, z):
    """f'(z) written without the output, accurate where a(1 − a) underflows or cancels."""
    z = np.asarray(z, dtype=np.float64)
    if name == "sigmoid":
        e = np.exp(-np.abs(z))
        return e / (1 + e) ** 2
    if name == "tanh":
        e = np.exp(-2 * np.abs(z))
        return 4 * e / (1 + e) ** 2
    return np.ones_like(z)


@pytest.fixture
def no_warnings():
    """Every warning and every overflow / invalid / divide-by-zero is an error.

    Underflow is left alone: exp(−1000) → 0 is the right answer, not a failure.
    """
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        yield


class TestSigmoid:
    def test_saturates_without_warnings(self, no_warnings):
        with np.errstate(all="raise"):  # overflow and underflow are expected and silenced inside
            a = sigmoid.value(np.array([1000.0, -1000.0]))
        np.testing.assert_array_equal(a, [1.0, 0.0])

    def test_known_values(self):
        np.testing.assert_allclose(sigmoid.value(np.array([0.0, np.log(3.0)])), [0.5, 0.75], rtol=1e-15)

    def test_keeps_float32(self):
        assert sigmoid.value(np.zeros(3, dtype=np.float32)).dtype == np.float32

    @pytest.mark.parametrize("z", [1000.0, -1000.0, 50.0, -50.0, 3.0, -0.5, 0.0])
    def test_complex_value_real_part_matches_real_value(self, no_warnings, z):
        out = sigmoid.value(np.array([z + 1j * H_CS]))
        assert np.isfinite(out).all()
        assert out.real[0] == pytest.approx(float(sigmoid.value(np.array([z]))[0]), rel=1e-15, abs=0)

    def test_complex_mixed_signs_keep_positions(self, no_warnings):
        z = np.array([[-2.0, 3.0], [0.0, -1000.0]]) + 1j * H_CS
        out = sigmoid.value(z)
        assert out.shape == z.shape
        np.testing.assert_allclose(out.real, sigmoid.value(z.real), rtol=1e-15)


    def test_real_values_equal_expit_to_rounding(self):
        """1/(1 + e^(−z)) is relatively accurate down to the smallest normal number, and 0 below it."""
        from scipy.special import expit

        z = np.r_[np.linspace(-700, 700, 5001), np.random.default_rng(0).standard_normal(20000) * 8]
        np.testing.assert_allclose(sigmoid.value(z), expit(z), rtol=4 * EPS, atol=0)
        below = np.array([-709.9, -720.0, -745.0])
        assert np.all(sigmoid.value(below) <= np.finfo(np.float64).tiny)

    @pytest.mark.parametrize("scale", [1e-20, 1e-9, 1e-4, 5e-3, 0.3, 2.0])
    def test_complex_values_equal_complex_division_to_rounding(self, no_warnings, scale):
        """Every branch (tangent, series, cos/sin) against σ = 1/(1 + e^(−z)) in complex arithmetic."""
        rng = np.random.default_rng(1)
        # away from the poles z = ±iπ(2k + 1), where either form is ill-conditioned
        z = rng.standard_normal(3 * 16384 + 5) * 6 + 1j * scale * rng.uniform(-1, 1, 3 * 16384 + 5)
        with np.errstate(over="ignore"):
            ref = np.where(z.real >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))
        out = sigmoid.value(z)
        assert np.all(np.abs(out - ref) <= 8 * EPS * np.abs(ref))
        assert np.all(np.abs(out.imag - ref.imag) <= 8 * EPS * np.abs(ref.imag) + 8 * EPS * scale * np.abs(ref))


class TestTanh:
    def test_saturates_without_warnings(self, no_warnings):
        np.testing.assert_array_equal(tanh.value(np.array([1000.0, -1000.0])), [1.0, -1.0])


@pytest.mark.parametrize("act", [sigmoid, tanh, identity], ids=lambda a: a.name)
class TestActivation:
    @pytest.mark.parametrize("z", [1000.0, -1000.0, 50.0, -50.0, 2.5, -0.3])
    def test_complex_step_gives_derivative(self, no_warnings, act, z):
        out = act.value(np.array([z + 1j * H_CS]))
        assert np.all(np.isfinite(out))
        expected = exact_derivative(act.name, z)
        assert out.imag[0] / H_CS == pytest.approx(float(expected), rel=1e-12, abs=0)

    def test_complex_step_array(self, no_warnings, act):
        z = np.linspace(-60, 60, 41).reshape(41, 1) * np.ones((1, 3))
        out = act.value(z + 1j * H_CS)
        assert out.shape == z.shape
        np.testing.assert_allclose(out.imag / H_CS, exact_derivative(act.name, z), rtol=1e-12, atol=0)

    def test_derivative_from_output_matches_central_difference(self, act):
        z = np.linspace(-6, 6, 49)
        a = act.value(z)
        fd = (act.value(z + H_FD) - act.value(z - H_FD)) / (2 * H_FD)
        np.testing.assert_allclose(act.derivative(a), fd, rtol=1e-7, atol=1e-10)

    def test_derivative_keeps_shape(self, act):
        a = act.value(np.zeros((4, 3)))
        assert act.derivative(a).shape == (4, 3)

    def test_registered_under_its_name(self, act):
        assert ACTIVATIONS[act.name] is act
        assert get_activation(act.name) is act
        assert get_activation(act) is act


class TestGetActivation:
    @pytest.mark.parametrize("name", ["ReLU", "Sigmoid", "", None, 3, ["sigmoid"]])
    def test_unknown_raises_naming_argument(self, name):
        with pytest.raises(gc.InvalidArgument, match=r"^activation: .*sigmoid") as info:
            get_activation(name)
        assert isinstance(info.value, ValueError)


def central_difference_loss(loss, a, y):
    out = np.empty_like(a)
    for idx in np.ndindex(a.shape):
        ap, am = a.copy(), a.copy()
        ap[idx] += H_FD
        am[idx] -= H_FD
        out[idx] = (loss.value(ap, y) - loss.value(am, y)) / (2 * H_FD)
    return out


@pytest.mark.parametrize("reduction", REDUCTIONS)
class TestLoss:
    @pytest.mark.parametrize("shape", [(1, 1), (4, 1), (5, 3)])
    def test_derivative_matches_central_difference(self, reduction, shape):
        rng = np.random.default_rng(len(shape) * 10 + shape[0])
        a, y = rng.random(shape), rng.random(shape)
        loss = get_loss("mse", reduction)
        np.testing.assert_allclose(loss.derivative(a, y), central_difference_loss(loss, a, y), rtol=1e-7, atol=1e-10)

    def test_zero_at_target(self, reduction):
        y = np.arange(6.0).reshape(3, 2)
        loss = get_loss("mse", reduction)
        assert loss.value(y, y) == 0
        np.testing.assert_array_equal(loss.derivative(y, y), np.zeros((3, 2)))

    def test_carries_complex_step(self, reduction):
        rng = np.random.default_rng(3)
        a, y = rng.random((4, 2)), rng.random((4, 2))
        loss = get_loss("mse", reduction)
        d = np.zeros_like(a)
        d[2, 1] = 1.0
        out = loss.value(a + 1j * H_CS * d, y)
        assert out.imag / H_CS == pytest.approx(loss.derivative(a, y)[2, 1], rel=1e-14)

    def test_spec_fields(self, reduction):
        loss = get_loss("mse", reduction)
        assert (loss.name, loss.reduction) == ("mse", reduction)


class TestGetLoss:
    def test_reduction_values(self):
        a = np.array([[1.0, 2.0], [3.0, 4.0]])
        y = np.zeros((2, 2))
        assert get_loss("mse", "half_sum").value(a, y) == 15.0
        assert get_loss("mse", "sum").value(a, y) == 30.0
        assert get_loss("mse", "mean").value(a, y) == 7.5

    def test_default_is_half_sum(self):
        assert get_loss().reduction == "half_sum"

    @pytest.mark.parametrize("name", ["mae", "MSE", "", None])
    def test_unknown_name_raises_naming_argument(self, name):
        with pytest.raises(gc.InvalidArgument, match=r"^loss: .*'mse'"):
            get_loss(name)

    @pytest.mark.parametrize("reduction", ["avg", "Mean", ""])
    def test_unknown_reduction_raises_naming_argument(self, reduction):
        with pytest.raises(gc.InvalidArgument, match=r"^reduction: .*half_sum"):
            get_loss("mse", reduction)

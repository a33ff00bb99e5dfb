"""ReLU family, softmax, cross-entropy and weight decay in the model: values beside derivatives, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.model.activations import LEAKY_SLOPE, activation_list, get_activation, leaky_relu, relu, softmax
from gradcheck.model.losses import get_loss

H_CS = 1e-20


def complex_step_jacobian(f, z):
    """∂f_i/∂z_j of one row by the complex step: exact to rounding for an analytic f."""
    n = z.shape[-1]
    J = np.empty((n, n))
    for j in range(n):
        dz = np.zeros(n, complex)
        dz[j] = 1j * H_CS
        J[:, j] = f((z + dz)[None, :])[0].imag / H_CS
    return J


class TestRelu:
    def test_values_and_derivative_from_output(self):
        z = np.array([-2.0, -0.0, 0.0, 1e-300, 3.0])
        a = relu.value(z)
        np.testing.assert_array_equal(a, [0.0, 0.0, 0.0, 1e-300, 3.0])
        # At z = 0 the derivative from a is 0: the left one-sided derivative, a valid subgradient.
        np.testing.assert_array_equal(relu.derivative(a), [0.0, 0.0, 0.0, 1.0, 1.0])
        assert relu.kinks == (0.0,)

    @pytest.mark.parametrize("z, slope", [(2.5, 1.0), (-2.5, 0.0), (1e-3, 1.0), (-1e-3, 0.0)])
    def test_complex_step_follows_the_piece(self, z, slope):
        out = relu.value(np.array([z + 1j * H_CS]))
        assert out.imag[0] / H_CS == slope

    def test_leaky_default_and_custom_slope(self):
        assert get_activation("leaky_relu").name == "leaky_relu"
        f = get_activation("leaky_relu:0.25")
        assert f.name == "leaky_relu:0.25"
        z = np.array([-4.0, 0.0, 2.0])
        np.testing.assert_array_equal(f.value(z), [-1.0, 0.0, 2.0])
        np.testing.assert_array_equal(f.derivative(f.value(z)), [0.25, 0.25, 1.0])
        np.testing.assert_array_equal(get_activation("leaky_relu").derivative(np.array([-1.0])), [LEAKY_SLOPE])
        # The slope survives the name: a network rebuilt from its name has the same function.
        assert get_activation(f.name).value(np.array([-4.0]))[0] == -1.0

    @pytest.mark.parametrize("slope", [-0.1, float("nan"), "a", True])
    def test_bad_slope(self, slope):
        with pytest.raises(gc.InvalidArgument, match="^slope: "):
            leaky_relu(slope)

    def test_bad_slope_in_name(self):
        with pytest.raises(gc.InvalidArgument, match="^activation: .*leaky_relu:<slope>"):
            get_activation("leaky_relu:x")


class TestSoftmax:
    def test_rows_sum_to_one_without_overflow(self):
        with np.errstate(over="raise", invalid="raise"):
            a = softmax.value(np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]]))
        np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-15)
        assert a[0, 0] == 1.0

    def test_backward_is_the_jacobian_product(self):
        rng = np.random.default_rng(0)
        z, g = rng.standard_normal(4), rng.standard_normal(4)
        J = complex_step_jacobian(softmax.value, z)
        a = softmax.value(z[None, :])
        # J is symmetric for softmax, so Jᵀg = Jg; both sides are exact to rounding (~1e-16 each term).
        np.testing.assert_allclose(softmax.backward(a, g[None, :])[0], J.T @ g, rtol=1e-13, atol=1e-15)
        # The derivative alone is the diagonal only (the bug "softmax Jacobian treated as diagonal").
        np.testing.assert_allclose(softmax.derivative(a)[0], np.diag(J), rtol=1e-13)

    def test_output_layer_only(self):
        with pytest.raises(gc.InvalidArgument, match="^activation: softmax is allowed on the output layer only"):
            activation_list(["softmax", "sigmoid"], 2)
        with pytest.raises(gc.InvalidArgument, match="^activation: softmax is allowed on the output layer only"):
            gc.DenseNet([3, 4, 2], activation="softmax")

    def test_list_length(self):
        with pytest.raises(gc.InvalidArgument, match="^activation: expected one name or a list of 2"):
            gc.DenseNet([3, 4, 2], activation=["relu"])


def numeric_grad_a(value, a, y, h=1e-6):
    out = np.empty_like(a)
    for idx in np.ndindex(a.shape):
        ap, am = a.copy(), a.copy()
        ap[idx] += h
        am[idx] -= h
        out[idx] = (value(ap, y) - value(am, y)) / (2 * h)
    return out


@pytest.mark.parametrize("reduction", ["sum", "mean"])
class TestCrossEntropy:
    def test_binary_value_and_derivative(self, reduction):
        rng = np.random.default_rng(1)
        a, y = rng.uniform(0.1, 0.9, (5, 3)), rng.random((5, 3))
        loss = get_loss("cross_entropy", reduction, output="sigmoid")
        c = 1.0 if reduction == "sum" else 1 / 5
        assert loss.value(a, y) == pytest.approx(-c * np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)), rel=1e-14)
        # Central differences at h = 1e-6 on a smooth function with |f'''| ≲ 1e3: error ≲ 1e-9.
        np.testing.assert_allclose(loss.derivative(a, y), numeric_grad_a(loss.value, a, y), rtol=1e-6, atol=1e-8)

    def test_categorical_value_and_derivative(self, reduction):
        rng = np.random.default_rng(2)
        a = rng.uniform(0.1, 0.9, (4, 3))
        y = np.eye(3)[[0, 2, 1, 2]]
        loss = get_loss("cross_entropy", reduction, output="softmax")
        np.testing.assert_allclose(loss.derivative(a, y), numeric_grad_a(loss.value, a, y), rtol=1e-6, atol=1e-8)

    @pytest.mark.parametrize("output", ["sigmoid", "softmax"])
    def test_logit_form_equals_value_and_fused_delta_is_its_gradient(self, reduction, output):
        rng = np.random.default_rng(3)
        z = rng.standard_normal((4, 3))
        y = np.eye(3)[[0, 2, 1, 2]] if output == "softmax" else rng.random((4, 3))
        loss = get_loss("cross_entropy", reduction, output=output)
        act = get_activation(output)
        a = act.value(z)
        assert loss.from_logits(z, y) == pytest.approx(loss.value(a, y), rel=1e-13)
        # ∂L/∂z by the complex step through the logit form equals c·(a − y).
        d = np.empty_like(z)
        for idx in np.ndindex(z.shape):
            dz = np.zeros(z.shape, complex)
            dz[idx] = 1j * H_CS
            d[idx] = loss.from_logits(z + dz, y).imag / H_CS
        np.testing.assert_allclose(d, loss.fused_delta(a, y), rtol=1e-12, atol=1e-15)

    def test_logit_form_finite_where_log_a_is_not(self, reduction):
        loss = get_loss("cross_entropy", reduction, output="sigmoid")
        z, y = np.array([[800.0, -800.0]]), np.array([[0.0, 1.0]])
        with np.errstate(divide="ignore", invalid="ignore"):
            assert not np.isfinite(loss.value(get_activation("sigmoid").value(z), y))
        assert loss.from_logits(z, y) == pytest.approx(1600.0 * (1.0 if reduction == "sum" else 1.0))


class TestGetCrossEntropy:
    def test_default_reduction_is_sum(self):
        assert get_loss("cross_entropy", output="softmax").reduction == "sum"

    def test_half_sum_refused(self):
        with pytest.raises(gc.InvalidArgument, match="^reduction: cross-entropy takes 'sum' or 'mean'"):
            get_loss("cross_entropy", "half_sum", output="sigmoid")

    @pytest.mark.parametrize("output", ["relu", "tanh", "identity", None])
    def test_needs_sigmoid_or_softmax_output(self, output):
        with pytest.raises(gc.InvalidArgument, match="^loss: cross_entropy needs a sigmoid .* or softmax"):
            get_loss("cross_entropy", output=output)


class TestNetwork:
    def net(self, **kw):
        return gc.DenseNet([4, 5, 3], activation=["relu", "softmax"], loss="cross_entropy", seed=0, **kw)

    def data(self):
        rng = np.random.default_rng(0)
        return rng.standard_normal((6, 4)), np.eye(3)[[0, 1, 2, 0, 1, 2]]

    def test_design_example(self):
        net = gc.DenseNet([4, 8, 3], activation=["relu", "softmax"], loss="cross_entropy", weight_decay=1e-3)
        assert [f.name for f in net.activations] == ["relu", "softmax"]
        assert (net.criterion.name, net.criterion.output, net.weight_decay) == ("cross_entropy", "softmax", 1e-3)
        assert "weight_decay=0.001" in repr(net)

    def test_loss_is_cross_entropy_plus_decay(self):
        X, y = self.data()
        net = self.net(weight_decay=0.1)
        a = net.forward(X)
        expected = -np.sum(y * np.log(a)) + 0.05 * sum(np.sum(W ** 2) for W in net.weights())
        assert net.loss(X, y) == pytest.approx(expected, rel=1e-13)

    def test_gradients_match_complex_step_of_the_loss(self):
        X, y = self.data()
        for kw in ({}, {"weight_decay": 0.3}):
            net = self.net(**kw)
            g = net.gradients(X, y)
            f = net.loss_closure(X, y)
            for name, p in net.params.items():
                for idx in np.ndindex(p.shape):
                    q = {k: v.astype(complex) for k, v in net.params.items()}
                    q[name][idx] += 1j * H_CS
                    # Complex step: exact to rounding (no kink is within 1e-20 of any z here).
                    assert f(q).imag / H_CS == pytest.approx(g[name][idx], rel=1e-10, abs=1e-13)

    def test_weight_decay_never_on_biases(self):
        X, y = self.data()
        g0 = self.net().gradients(X, y)
        net = self.net(weight_decay=0.5)
        g1 = net.gradients(X, y)
        np.testing.assert_array_equal(g1["b1"], g0["b1"])
        np.testing.assert_allclose(g1["W1"] - g0["W1"], 0.5 * net.params["W1"], rtol=1e-13, atol=1e-15)

    @pytest.mark.parametrize("lam", [-1.0, float("inf"), "0.1", True])
    def test_bad_weight_decay(self, lam):
        with pytest.raises(gc.InvalidArgument, match="^weight_decay: "):
            self.net(weight_decay=lam)

    def test_targets_outside_unit_interval(self):
        X, y = self.data()
        y[2, 1] = 1.5
        with pytest.raises(gc.InvalidArgument, match=r"^y: cross-entropy needs targets in \[0, 1\], got y\(2, 1\)"):
            self.net().loss(X, y)

    def test_softmax_rows_must_sum_to_one(self):
        X, y = self.data()
        y[3] = [0.5, 0.2, 0.2]
        with pytest.raises(gc.InvalidArgument, match="^y: with a softmax output every row of y must sum to 1.*row 3"):
            self.net().gradients(X, y)

    def test_binary_targets_need_not_sum_to_one(self):
        X = np.ones((2, 4))
        net = gc.DenseNet([4, 3], activation="sigmoid", loss="cross_entropy", seed=0)
        assert np.isfinite(net.loss(X, np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])))

    def test_like_keeps_every_option(self):
        net = gc.DenseNet([3, 4, 2], activation=["leaky_relu:0.2", "sigmoid"], loss="cross_entropy",
                          reduction="mean", weight_decay=0.01, seed=1)
        other = net.like({k: 2 * v for k, v in net.params.items()})
        assert (other.activation_spec, other.criterion.reduction, other.weight_decay) == \
            (["leaky_relu:0.2", "sigmoid"], "mean", 0.01)

    def test_mixed_activation_attribute(self):
        with pytest.raises(gc.InvalidArgument, match="^activation: this network has one activation per layer"):
            self.net().activation  # noqa: B018
        assert gc.DenseNet([2, 2]).activation.name == "sigmoid"


class TestCheckNetwork:
    """check_network on the new layers: every row passes, the output link reads as its fused form."""

    @pytest.mark.parametrize("engine", ["structured", "generic"])
    def test_softmax_cross_entropy_passes_layer_by_layer(self, engine):
        rng = np.random.default_rng(4)
        net = gc.DenseNet([4, 6, 3], activation=["tanh", "softmax"], loss="cross_entropy", weight_decay=1e-2, seed=4)
        X, y = rng.standard_normal((5, 4)), np.eye(3)[[0, 1, 2, 2, 1]]
        report = gc.check_network(net, X, y, engine=engine, diagnostics=False)
        assert report.passed
        out = report.layers[-1].recurrence
        assert out.name == "δ2 = ∂L/∂a2 J_softmax(z2) = a2 − y" and out.passed
        assert report.layers[0].weight_formula.name == "∂L/∂W1 = a0ᵀ δ1 + λW1"
        assert report.config["network"]["activation"] == ["tanh", "softmax"]
        assert report.config["network"]["weight_decay"] == 1e-2
        if engine == "structured":  # cross-entropy is inside the structured engine's model
            assert not any("structured engine not used" in n for n in report.notes)
            assert any(n.startswith("structured engine (") for n in report.notes)

    def test_binary_cross_entropy_mean_output_link(self):
        net = gc.DenseNet([3, 4, 2], activation="sigmoid", loss="cross_entropy", reduction="mean", seed=1)
        X = np.random.default_rng(1).standard_normal((4, 3))
        report = gc.check_network(net, X, np.array([[1, 0], [0, 0], [1, 1], [0, 1.0]]), diagnostics=False)
        assert report.passed
        assert report.layers[-1].recurrence.name == "δ2 = ∂L/∂a2 ⊙ f'(z2) = (a2 − y)/N"

    def test_softmax_with_mse_uses_the_jacobian(self):
        net = gc.DenseNet([3, 4, 3], activation=["relu", "softmax"], seed=2)
        X = np.random.default_rng(2).standard_normal((4, 3))
        report = gc.check_network(net, X, np.eye(3)[[0, 1, 2, 0]], diagnostics=False)
        assert report.passed
        assert report.layers[-1].recurrence.name == "δ2 = ∂L/∂a2 J_softmax(z2)"

    def test_overflowing_logits_are_refused(self):
        # z = 1e300·1e10 overflows to inf: the cross-entropy (log 0 in its a-form) is not finite.
        net = gc.DenseNet.from_params({"W1": np.full((2, 2), 1e300)}, activation="softmax", loss="cross_entropy")
        with np.errstate(all="ignore"), \
                pytest.raises(gc.InvalidArgument, match="^loss: the cross-entropy is nan at these weights"):
            gc.check_network(net, np.full((1, 2), 1e10), np.array([[1.0, 0.0]]))

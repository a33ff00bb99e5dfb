"""check_network: correct networks confirm every per-layer row; planted backward bugs are caught and located.

The planted bugs are built here by hand from a correct ``net.backward`` record
and handed to ``check_network(..., backward=...)``, so these tests depend only
on the public Backward record, not on any catalogue of bugs in the package.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.model.backprop import Backward
from gradcheck.report.model import NetworkReport


def _fast_options() -> dict:
    accepted = set(inspect.signature(gc.check_network).parameters)
    # The Taylor test and step-size sweep are slow and are not what these tests are about.
    return {"diagnostics": False} if "diagnostics" in accepted else {}


FAST = _fast_options()
ALL_KINDS = ("weight", "bias", "delta", "recurrence", "weight_formula", "bias_formula")
PARAM_KINDS = ("weight", "bias")


def check(net: gc.DenseNet, X, y, **options) -> NetworkReport:
    return gc.check_network(net, X, y, **FAST, **options)


def random_data(sizes, n_samples=6, seed=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_samples, sizes[0])), rng.random((n_samples, sizes[-1]))


def expected_kinds(net: gc.DenseNet, deltas: bool = True) -> list[str]:
    kinds = ALL_KINDS if deltas else PARAM_KINDS
    return [k for k in kinds if net.bias or not k.startswith("bias")]


def assert_every_row_passes(report: NetworkReport, net: gc.DenseNet, n_samples: int, deltas: bool = True) -> None:
    assert isinstance(report, NetworkReport)
    assert report.passed, str(report)
    assert report.first_failure is None
    assert report.failed_groups == []
    assert [layer.layer for layer in report.layers] == list(range(1, net.n_layers + 1))
    for layer in report.layers:
        l = layer.layer
        assert [kind for kind, _ in layer.rows()] == expected_kinds(net, deltas)
        assert all(row.passed for _, row in layer.rows()), f"layer {l}: {layer}"
        assert layer.passed
        assert layer.weight.name == f"W{l}"
        assert tuple(layer.weight.shape) == net.params[f"W{l}"].shape
        if net.bias:
            assert layer.bias.name == f"b{l}"
            assert tuple(layer.bias.shape) == net.params[f"b{l}"].shape
        else:
            assert layer.bias is None
            assert layer.bias_formula is None
        if deltas:
            assert tuple(layer.delta.shape) == (n_samples, net.sizes[l])
            assert tuple(layer.recurrence.shape) == (n_samples, net.sizes[l])
            assert tuple(layer.weight_formula.shape) == net.params[f"W{l}"].shape
        else:
            for kind in ("delta", "recurrence", "weight_formula", "bias_formula"):
                assert getattr(layer, kind) is None


class TestCheckNetworkCorrect:
    @pytest.mark.parametrize("sizes", [[3, 4, 1], [3, 4, 4, 1]], ids=["3-4-1", "3-4-4-1"])
    @pytest.mark.parametrize("trained", [False, True], ids=["init", "trained"])
    def test_classic_xor_networks(self, sizes, trained):
        X, y = gc.xor_data()
        net = gc.DenseNet(sizes, bias=False, seed=1)
        if trained:
            history = net.train(X, y, 3000)
            # far into training: the sigmoids saturate and the gradients become tiny
            assert net.loss(X, y) < history[0] / 10
        report = check(net, X, y)
        assert_every_row_passes(report, net, len(X))

    @pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
    @pytest.mark.parametrize("reduction", ["half_sum", "sum", "mean"])
    def test_5_7_3_2_with_biases_on_random_data(self, reduction, activation):
        sizes = [5, 7, 3, 2]
        X, y = random_data(sizes)
        net = gc.DenseNet(sizes, bias=True, seed=2, reduction=reduction, activation=activation)
        report = check(net, X, y)
        assert_every_row_passes(report, net, len(X))
        assert report.config["network"]["reduction"] == reduction
        assert report.config["network"]["activation"] == activation

    @pytest.mark.parametrize("sizes,bias", [([3, 4, 4, 1], False), ([5, 7, 3, 2], True)])
    def test_float32_networks(self, sizes, bias):
        if sizes == [3, 4, 4, 1]:
            X, y = gc.xor_data()
        else:
            X, y = random_data(sizes)
        net = gc.DenseNet(sizes, bias=bias, seed=1, dtype=np.float32)
        report = check(net, X, y)
        assert_every_row_passes(report, net, len(X))
        assert report.config["network"]["dtype"] == "float32"

    def test_trained_float32_xor_network(self):
        X, y = gc.xor_data()
        net = gc.DenseNet([3, 4, 4, 1], bias=False, seed=1, dtype=np.float32)
        net.train(X, y, 3000)
        assert_every_row_passes(check(net, X, y), net, len(X))

    @pytest.mark.parametrize("bias", [False, True])
    def test_deltas_false_checks_parameters_only(self, bias):
        X, y = gc.xor_data()
        net = gc.DenseNet([3, 4, 4, 1], bias=bias, seed=1)
        report = check(net, X, y, deltas=False)
        assert_every_row_passes(report, net, len(X), deltas=False)
        assert report.config["deltas"] is False
        assert "Per layer" in str(report)
        assert "δ1" not in str(report)

    def test_deltas_false_still_catches_a_wrong_gradient(self):
        X, y = gc.xor_data()
        net = gc.DenseNet([3, 4, 4, 1], bias=False, seed=1)
        b = net.backward(X, y)
        grads = dict(b.gradients)
        grads["W2"] = 1.01 * grads["W2"]
        report = check(net, X, y, deltas=False, backward=Backward(b.loss, list(b.deltas), grads, b.cache))
        assert not report.passed
        assert report.failed_groups == ["W2"]
        assert report.first_failure == (2, "weight")
        assert all(layer.delta is None for layer in report.layers)

    def test_does_not_modify_the_network_or_data(self):
        X, y = random_data([5, 7, 3, 2])
        net = gc.DenseNet([5, 7, 3, 2], bias=True, seed=2)
        before = {k: v.copy() for k, v in net.params.items()}
        X0, y0 = X.copy(), y.copy()
        check(net, X, y)
        assert all(np.array_equal(net.params[k], before[k]) for k in before)
        assert np.array_equal(X, X0) and np.array_equal(y, y0)

    def test_records_the_network_in_the_config(self):
        X, y = random_data([5, 7, 3, 2], n_samples=4)
        net = gc.DenseNet([5, 7, 3, 2], bias=True, seed=2, reduction="mean")
        network = check(net, X, y).config["network"]
        assert network["sizes"] == [5, 7, 3, 2]
        assert network["bias"] is True
        assert network["reduction"] == "mean"
        assert network["samples"] == 4

    def test_backward_must_be_a_backward_record(self):
        X, y = gc.xor_data()
        net = gc.DenseNet([3, 4, 1], bias=False, seed=1)
        with pytest.raises(gc.InvalidArgument, match="backward"):
            check(net, X, y, backward=net.gradients(X, y))


# -- planted backward bugs --------------------------------------------------------


def gradients_from(net: gc.DenseNet, activations, deltas) -> dict[str, np.ndarray]:
    grads = {}
    for l in range(1, net.n_layers + 1):
        grads[f"W{l}"] = activations[l - 1].T @ deltas[l - 1]
        if net.bias:
            grads[f"b{l}"] = deltas[l - 1].sum(axis=0)
    return grads


def hidden_derivative_missing(net, X, y) -> Backward:
    """δ1 = δ2 W2ᵀ, forgetting ⊙ f'(z1); the gradients follow from the wrong δ1."""
    b = net.backward(X, y)
    deltas = list(b.deltas)
    deltas[0] = deltas[1] @ net.params["W2"].T
    return Backward(b.loss, deltas, gradients_from(net, b.cache.activations, deltas), b.cache)


def weight_gradient_from_wrong_activation(net, X, y) -> Backward:
    """Correct deltas, but ∂L/∂W2 = a2ᵀ δ2 instead of a1ᵀ δ2 (needs n1 == n2)."""
    b = net.backward(X, y)
    a = b.cache.activations
    grads = dict(b.gradients)
    grads["W2"] = a[2].T @ b.deltas[1]
    assert grads["W2"].shape == net.params["W2"].shape
    return Backward(b.loss, list(b.deltas), grads, b.cache)


def output_derivative_missing(net, X, y) -> Backward:
    """δ_L = ∂L/∂a_L, forgetting ⊙ f'(z_L); the correct recurrence then carries the error down."""
    b = net.backward(X, y)
    a = b.cache.activations
    L = net.n_layers
    deltas = [None] * L
    deltas[L - 1] = net.criterion.derivative(a[L], np.asarray(y, dtype=net.dtype).reshape(a[L].shape))
    for l in range(L - 1, 0, -1):
        deltas[l - 1] = (deltas[l] @ net.params[f"W{l + 1}"].T) * net.activation.derivative(a[l])
    return Backward(b.loss, deltas, gradients_from(net, a, deltas), b.cache)


def network_and_data(bias: bool, reduction: str = "half_sum"):
    net = gc.DenseNet([3, 4, 4, 1], bias=bias, seed=1, reduction=reduction)
    X, y = gc.xor_data() if not bias else random_data([3, 4, 4, 1])
    return net, X, y


def row_verdicts(report: NetworkReport, kind: str) -> list[bool]:
    return [getattr(layer, kind).passed for layer in report.layers]


class TestCheckNetworkPlantedBugs:
    @pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
    def test_hidden_derivative_missing_is_located_at_layer_1(self, bias):
        net, X, y = network_and_data(bias)
        report = check(net, X, y, backward=hidden_derivative_missing(net, X, y))
        assert not report.passed
        assert report.failed_groups == (["W1", "b1"] if bias else ["W1"])
        layer1, layer2, layer3 = report.layers
        assert not layer1.delta.passed
        assert not layer1.weight.passed
        # the formula rows use numerical values only, so the bug cannot touch them
        assert layer1.recurrence.passed
        assert layer1.weight_formula.passed
        if bias:
            assert not layer1.bias.passed
            assert layer1.bias_formula.passed
        assert layer2.passed and layer3.passed
        assert layer2.delta.passed and layer3.delta.passed
        # documented order: from the output layer down, δ before the parameter rows
        assert report.first_failure == (1, "delta")
        assert report.to_dict()["first_failure"] == {"layer": 1, "check": "delta"}
        assert "layer 1" in report.summary_line()

    def test_wrong_activation_in_weight_gradient_fails_only_that_weight(self):
        net, X, y = network_and_data(bias=False)
        report = check(net, X, y, backward=weight_gradient_from_wrong_activation(net, X, y))
        assert not report.passed
        assert report.failed_groups == ["W2"]
        assert row_verdicts(report, "delta") == [True, True, True]
        assert row_verdicts(report, "recurrence") == [True, True, True]
        assert row_verdicts(report, "weight") == [True, False, True]
        assert row_verdicts(report, "weight_formula") == [True, True, True]
        assert report.first_failure == (2, "weight")
        assert [layer.passed for layer in report.layers] == [True, False, True]

    @pytest.mark.parametrize("bias,reduction", [(False, "half_sum"), (True, "mean")])
    def test_output_derivative_missing_breaks_every_delta_below(self, bias, reduction):
        net, X, y = network_and_data(bias, reduction)
        report = check(net, X, y, backward=output_derivative_missing(net, X, y))
        assert not report.passed
        assert row_verdicts(report, "delta") == [False, False, False]
        assert row_verdicts(report, "recurrence") == [True, True, True]
        assert row_verdicts(report, "weight_formula") == [True, True, True]
        assert row_verdicts(report, "weight") == [False, False, False]
        assert report.first_failure == (3, "delta")
        assert {"W1", "W2", "W3"} <= set(report.failed_groups)

    def test_a_wrong_delta_with_correct_gradients_still_fails_the_report(self):
        net, X, y = network_and_data(bias=False)
        b = net.backward(X, y)
        deltas = list(b.deltas)
        deltas[1] = 3 * deltas[1]
        report = check(net, X, y, backward=Backward(b.loss, deltas, dict(b.gradients), b.cache))
        assert report.failed_groups == []
        assert not report.passed
        assert row_verdicts(report, "delta") == [True, False, True]
        assert report.first_failure == (2, "delta")

    def test_correct_backward_passed_explicitly_passes(self):
        net, X, y = network_and_data(bias=True)
        assert_every_row_passes(check(net, X, y, backward=net.backward(X, y)), net, len(X))

"""Bad arguments to the Python API raise InvalidArgument naming the argument, never another exception type."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import gradcheck as gc

PARAMS = {"w": np.array([1.0, -2.0])}
GRADS = {"w": 2 * PARAMS["w"]}


def square(p):
    return float(np.sum(p["w"] ** 2))


class TestSeeds:
    @pytest.mark.parametrize("seed", [-1, "a", 1.5, True])
    def test_densenet(self, seed):
        with pytest.raises(gc.InvalidArgument, match=r"^seed: expected a non-negative integer or None"):
            gc.DenseNet([3, 4, 1], seed=seed)

    @pytest.mark.parametrize("seed", [-1, "a"])
    def test_checks(self, seed):
        with pytest.raises(gc.InvalidArgument, match=r"^seed:"):
            gc.check_params(square, PARAMS, GRADS, seed=seed)
        X, y = gc.xor_data()
        with pytest.raises(gc.InvalidArgument, match=r"^seed:"):
            gc.check_network(gc.DenseNet([3, 2, 1], seed=0), X, y, seed=seed)


class TestComplexLoss:
    @pytest.mark.parametrize("value", [1 + 2j, np.complex128(1 + 1j), np.array(3 - 1j)])
    def test_a_complex_constant_is_not_a_loss(self, value):
        with pytest.raises(gc.InvalidArgument, match=r"^loss: returned the complex value .* must be real-valued"):
            gc.check_params(lambda p: value, PARAMS, GRADS)

    def test_a_real_loss_computed_in_complex_arithmetic_is_checked(self):
        # Zero imaginary part at real parameters: a real loss, whatever its type.
        assert gc.check_params(lambda p: complex(np.sum(p["w"] ** 2)), PARAMS, GRADS).passed


class TestBackwardRecord:
    @pytest.fixture
    def case(self):
        X, y = gc.xor_data()
        net = gc.DenseNet([3, 4, 2, 1], bias=True, seed=0)
        return net, X, y, net.backward(X, y)

    def test_missing_group(self, case):
        net, X, y, b = case
        grads = {k: v for k, v in b.gradients.items() if k != "b2"}
        with pytest.raises(gc.InvalidArgument, match=r"^backward\.gradients: expected the keys .*'b2'"):
            gc.check_network(net, X, y, backward=dataclasses.replace(b, gradients=grads))

    def test_wrong_gradient_shape(self, case):
        net, X, y, b = case
        grads = {**b.gradients, "W2": b.gradients["W2"].T}
        with pytest.raises(gc.InvalidArgument, match=r"^backward\.gradients\['W2'\]: expected the shape \(4, 2\)"):
            gc.check_network(net, X, y, backward=dataclasses.replace(b, gradients=grads))

    def test_wrong_delta_shape_and_count(self, case):
        net, X, y, b = case
        with pytest.raises(gc.InvalidArgument, match=r"^backward\.deltas\[1\] \(δ2\): expected shape \(4, 2\)"):
            gc.check_network(net, X, y, backward=dataclasses.replace(b, deltas=[b.deltas[0], b.deltas[1].T,
                                                                                 b.deltas[2]]))
        with pytest.raises(gc.InvalidArgument, match=r"^backward\.deltas: expected a list of 3 arrays"):
            gc.check_network(net, X, y, backward=dataclasses.replace(b, deltas=b.deltas[:2]))

    def test_a_wrong_but_well_formed_record_is_checked(self, case):
        net, X, y, b = case
        grads = {**b.gradients, "W2": 1.01 * b.gradients["W2"]}
        report = gc.check_network(net, X, y, backward=dataclasses.replace(b, gradients=grads))
        assert not report.passed and "W2" in report.failed_groups


def test_save_name_with_nul(tmp_path):
    report = gc.check_params(square, PARAMS, GRADS)
    with pytest.raises(gc.InvalidArgument, match=r"^name:"):
        report.save(tmp_path, name="x\x00y")

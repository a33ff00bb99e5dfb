"""DenseNet: construction, from_params, forward, loss, train, loss_closure."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc

X_XOR, Y_XOR = gc.xor_data()


def data(n_samples, n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_samples, n_in)), rng.random((n_samples, n_out))


class TestDenseNet:
    @pytest.mark.parametrize("sizes", [[3, 1], [3, 4, 1], [3, 4, 4, 1], [2, 5, 3, 7, 2]])
    def test_params_keys_order_and_shapes(self, sizes):
        net = gc.DenseNet(sizes, seed=0)
        L = len(sizes) - 1
        expected_keys = [k for l in range(1, L + 1) for k in (f"W{l}", f"b{l}")]
        assert list(net.params) == expected_keys
        for l in range(1, L + 1):
            assert net.params[f"W{l}"].shape == (sizes[l - 1], sizes[l])
            assert net.params[f"b{l}"].shape == (sizes[l],)
        assert net.sizes == sizes
        assert net.n_layers == L
        assert net.bias is True

    def test_no_bias_has_only_weights(self):
        net = gc.DenseNet([3, 4, 4, 1], bias=False, seed=0)
        assert list(net.params) == ["W1", "W2", "W3"]
        assert net.bias is False

    def test_same_seed_same_params(self):
        a = gc.DenseNet([3, 4, 4, 1], seed=42)
        b = gc.DenseNet([3, 4, 4, 1], seed=42)
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])

    def test_different_seed_different_params(self):
        a = gc.DenseNet([3, 4, 4, 1], seed=1)
        b = gc.DenseNet([3, 4, 4, 1], seed=2)
        for k in a.params:
            assert not np.array_equal(a.params[k], b.params[k])

    def test_draw_order_is_w1_b1_w2_b2(self):
        net = gc.DenseNet([3, 4, 2], seed=5)
        rng = np.random.default_rng(5)
        for k, shape in [("W1", (3, 4)), ("b1", (4,)), ("W2", (4, 2)), ("b2", (2,))]:
            np.testing.assert_array_equal(net.params[k], 2 * rng.random(shape) - 1)

    @pytest.mark.parametrize("seed", range(5))
    def test_default_init_in_minus_one_one(self, seed):
        net = gc.DenseNet([10, 20, 20, 5], seed=seed)
        values = np.concatenate([p.ravel() for p in net.params.values()])
        assert values.min() >= -1.0
        assert values.max() < 1.0
        # 2·U[0,1) − 1 covers both signs, not e.g. U[0, 1)
        assert values.min() < -0.5 and values.max() > 0.5

    def test_float32_stays_float32(self):
        net = gc.DenseNet([3, 4, 1], seed=0, dtype=np.float32)
        assert all(p.dtype == np.float32 for p in net.params.values())
        assert net.dtype == np.float32
        assert net.forward(X_XOR).dtype == np.float32
        assert all(g.dtype == np.float32 for g in net.gradients(X_XOR, Y_XOR).values())
        net.train(X_XOR, Y_XOR, iterations=3)
        assert all(p.dtype == np.float32 for p in net.params.values())

    def test_default_dtype_is_float64(self):
        net = gc.DenseNet([3, 4, 1], seed=0)
        assert all(p.dtype == np.float64 for p in net.params.values())

    def test_sizes_may_be_numpy_array(self):
        net = gc.DenseNet(np.array([3, 4, 1]), seed=0)
        assert net.sizes == [3, 4, 1]
        assert all(type(s) is int for s in net.sizes)


class TestFromParams:
    def params(self, bias=True, seed=0):
        return gc.DenseNet([3, 5, 2], bias=bias, seed=seed).params

    def test_copies_its_input(self):
        src = self.params()
        net = gc.DenseNet.from_params(src)
        before = {k: v.copy() for k, v in net.params.items()}
        for v in src.values():
            v += 100.0
        for k in before:
            np.testing.assert_array_equal(net.params[k], before[k])
            assert not np.shares_memory(net.params[k], src[k])

    def test_never_modifies_its_input(self):
        src = self.params()
        src["W1"] = src["W1"].astype(np.float32)
        snapshot = {k: v.copy() for k, v in src.items()}
        net = gc.DenseNet.from_params(src)
        net.train(*data(4, 3, 2), iterations=5)
        assert list(src) == list(snapshot)
        for k in snapshot:
            assert src[k].dtype == snapshot[k].dtype
            np.testing.assert_array_equal(src[k], snapshot[k])

    def test_values_equal_input(self):
        src = self.params()
        net = gc.DenseNet.from_params(src)
        assert list(net.params) == list(src)
        for k in src:
            np.testing.assert_array_equal(net.params[k], src[k])

    def test_infers_sizes_and_bias(self):
        net = gc.DenseNet.from_params(self.params(bias=True))
        assert net.sizes == [3, 5, 2]
        assert net.bias is True
        net = gc.DenseNet.from_params(self.params(bias=False))
        assert net.sizes == [3, 5, 2]
        assert net.bias is False
        assert list(net.params) == ["W1", "W2"]

    def test_key_order_of_input_does_not_matter(self):
        src = self.params()
        shuffled = {k: src[k] for k in ["b2", "W2", "b1", "W1"]}
        net = gc.DenseNet.from_params(shuffled)
        assert list(net.params) == ["W1", "b1", "W2", "b2"]
        np.testing.assert_array_equal(net.forward(X_XOR), gc.DenseNet.from_params(src).forward(X_XOR))

    def test_accepts_nested_lists_and_ints(self):
        net = gc.DenseNet.from_params({"W1": [[1, 0], [0, 1]], "W2": [[2], [3]]})
        assert net.sizes == [2, 2, 1]
        assert net.dtype == np.float64

    def test_same_function_as_original(self):
        orig = gc.DenseNet([3, 5, 2], seed=3, activation="tanh", reduction="mean")
        net = gc.DenseNet.from_params(orig.params, activation="tanh", reduction="mean")
        X, y = data(6, 3, 2)
        np.testing.assert_array_equal(net.forward(X), orig.forward(X))
        assert net.loss(X, y) == orig.loss(X, y)


class TestForward:
    @pytest.mark.parametrize("sizes,n", [([3, 1], 1), ([3, 4, 1], 4), ([2, 6, 3], 17)])
    def test_shape(self, sizes, n):
        net = gc.DenseNet(sizes, seed=0)
        X, _ = data(n, sizes[0], sizes[-1])
        assert net.forward(X).shape == (n, sizes[-1])

    def test_matches_hand_computation(self):
        W1 = np.array([[0.5, -1.0], [2.0, 0.25]])
        b1 = np.array([0.1, -0.2])
        W2 = np.array([[1.5], [-0.5]])
        b2 = np.array([0.3])
        net = gc.DenseNet.from_params({"W1": W1, "b1": b1, "W2": W2, "b2": b2})
        X = np.array([[1.0, 2.0], [-1.0, 0.5]])
        sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
        expected = sig(sig(X @ W1 + b1) @ W2 + b2)
        np.testing.assert_allclose(net.forward(X), expected, rtol=1e-14)

    def test_accepts_integer_input(self):
        net = gc.DenseNet([3, 4, 1], seed=0)
        np.testing.assert_array_equal(net.forward(X_XOR.astype(int)), net.forward(X_XOR))


class TestLoss:
    # identity activation, W1 = I: predictions are X itself; y = 0
    X_ID = np.array([[1.0, 2.0], [3.0, 4.0]])
    # 1 + 4 + 9 + 16 = 30 over N·m = 4 entries
    @pytest.mark.parametrize("reduction,expected", [("half_sum", 15.0), ("sum", 30.0), ("mean", 7.5)])
    def test_identity_hand_computed(self, reduction, expected):
        net = gc.DenseNet.from_params({"W1": np.eye(2)}, activation="identity", reduction=reduction)
        assert net.loss(self.X_ID, np.zeros((2, 2))) == pytest.approx(expected, rel=1e-15)

    # zero weights: every prediction is σ(0) = ½, each squared error is ¼
    @pytest.mark.parametrize("reduction,expected", [("half_sum", 0.5), ("sum", 1.0), ("mean", 0.25)])
    def test_sigmoid_zero_weights_hand_computed(self, reduction, expected):
        net = gc.DenseNet.from_params({"W1": np.zeros((3, 4)), "W2": np.zeros((4, 1))}, reduction=reduction)
        assert net.loss(X_XOR, Y_XOR) == pytest.approx(expected, rel=1e-15)

    def test_returns_python_float(self):
        net = gc.DenseNet([3, 4, 1], seed=0)
        assert type(net.loss(X_XOR, Y_XOR)) is float

    def test_one_dimensional_y_for_one_output(self):
        net = gc.DenseNet([3, 4, 1], seed=0)
        y1 = Y_XOR.ravel()
        assert net.loss(X_XOR, y1) == net.loss(X_XOR, Y_XOR)
        g1, g2 = net.gradients(X_XOR, y1), net.gradients(X_XOR, Y_XOR)
        for k in g2:
            np.testing.assert_array_equal(g1[k], g2[k])
        other = gc.DenseNet([3, 4, 1], seed=0)
        np.testing.assert_array_equal(net.train(X_XOR, y1, iterations=3), other.train(X_XOR, Y_XOR, iterations=3))


class TestTrain:
    def test_history_length_and_decrease(self):
        net = gc.DenseNet([3, 4, 1], seed=0)
        start = net.loss(X_XOR, Y_XOR)
        history = net.train(X_XOR, Y_XOR, iterations=500)
        assert history.shape == (500,)
        assert history[0] == start
        assert history[-1] < history[0]
        assert net.loss(X_XOR, Y_XOR) < history[-1]

    def test_history_is_loss_before_each_step(self):
        net = gc.DenseNet([3, 4, 4, 1], seed=2)
        stepwise = gc.DenseNet([3, 4, 4, 1], seed=2)
        history = net.train(X_XOR, Y_XOR, iterations=10, learning_rate=0.5)
        expected = []
        for _ in range(10):
            expected.append(stepwise.loss(X_XOR, Y_XOR))
            stepwise.train(X_XOR, Y_XOR, iterations=1, learning_rate=0.5)
        np.testing.assert_array_equal(history, expected)

    def test_one_step_is_gradient_descent(self):
        net = gc.DenseNet([3, 4, 1], seed=0)
        before = {k: v.copy() for k, v in net.params.items()}
        grads = net.gradients(X_XOR, Y_XOR)
        net.train(X_XOR, Y_XOR, iterations=1, learning_rate=0.3)
        for k in before:
            np.testing.assert_allclose(net.params[k], before[k] - 0.3 * grads[k], rtol=0, atol=1e-15)

    def test_zero_iterations_leaves_params_unchanged(self):
        net = gc.DenseNet([3, 4, 1], seed=0)
        before = {k: v.copy() for k, v in net.params.items()}
        history = net.train(X_XOR, Y_XOR, iterations=0)
        assert history.shape == (0,)
        for k in before:
            np.testing.assert_array_equal(net.params[k], before[k])

    def test_numpy_integer_iterations(self):
        net = gc.DenseNet([3, 4, 1], seed=0)
        assert net.train(X_XOR, Y_XOR, iterations=np.int64(4)).shape == (4,)


class TestLossFunction:
    @pytest.mark.parametrize("reduction", ["half_sum", "sum", "mean"])
    def test_equals_loss_at_own_params(self, reduction):
        net = gc.DenseNet([3, 4, 4, 1], seed=0, reduction=reduction)
        assert net.loss_closure(X_XOR, Y_XOR)(net.params) == pytest.approx(net.loss(X_XOR, Y_XOR), rel=1e-15)

    def test_evaluates_given_params_without_touching_net(self):
        net = gc.DenseNet([3, 4, 1], seed=0)
        before = {k: v.copy() for k, v in net.params.items()}
        other = {k: 0.5 * v for k, v in net.params.items()}
        value = net.loss_closure(X_XOR, Y_XOR)(other)
        assert value == pytest.approx(gc.DenseNet.from_params(other).loss(X_XOR, Y_XOR), rel=1e-15)
        assert value != pytest.approx(net.loss(X_XOR, Y_XOR))
        for k in before:
            np.testing.assert_array_equal(net.params[k], before[k])

    def test_data_is_fixed_when_closure_is_made(self):
        X = X_XOR.copy()
        net = gc.DenseNet([3, 4, 1], seed=0)
        loss = net.loss_closure(X, Y_XOR)
        first = loss(net.params)
        X[:] = 0.0
        assert loss(net.params) == first

    @pytest.mark.parametrize("reduction", ["half_sum", "sum", "mean"])
    @pytest.mark.parametrize("bias", [True, False])
    def test_complex_step_equals_analytic_gradient(self, reduction, bias):
        net = gc.DenseNet([3, 4, 4, 2], seed=1, bias=bias, reduction=reduction)
        X, y = data(5, 3, 2, seed=1)
        loss = net.loss_closure(X, y)
        grads = net.gradients(X, y)
        h = 1e-30
        for name, value in net.params.items():
            cs = np.empty_like(value)
            for idx in np.ndindex(value.shape):
                p = {k: v.astype(np.complex128) for k, v in net.params.items()}
                p[name][idx] += 1j * h
                out = loss(p)
                assert np.iscomplexobj(out)
                assert out.real == pytest.approx(net.loss(X, y), rel=1e-14)
                cs[idx] = out.imag / h
            np.testing.assert_allclose(cs, grads[name], rtol=1e-12, atol=0, err_msg=name)

"""Bad input raises InvalidArgument (a ValueError) whose message names the argument."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc

X_XOR, Y_XOR = gc.xor_data()


def test_invalid_argument_is_value_error():
    assert issubclass(gc.InvalidArgument, ValueError)


class TestDenseNetSizes:
    @pytest.mark.parametrize(
        "sizes,match",
        [
            ([], r"^sizes: expected at least 2"),
            ([3], r"^sizes: expected at least 2"),
            ((5,), r"^sizes: expected at least 2"),
            ([3, 0, 1], r"^sizes: entry 1 must be a positive integer"),
            ([0, 1], r"^sizes: entry 0 must be a positive integer"),
            ([3, -4, 1], r"^sizes: entry 1 must be a positive integer"),
            ([3, 4.0, 1], r"^sizes: entry 1 must be a positive integer"),
            ([3, 4.5], r"^sizes: entry 1 must be a positive integer"),
            ([True, 1], r"^sizes: entry 0 must be a positive integer"),
            ([3, np.bool_(True)], r"^sizes: entry 1 must be a positive integer"),
            (["3", "1"], r"^sizes: entry 0 must be a positive integer"),
            ([3, None], r"^sizes: entry 1 must be a positive integer"),
            ("341", r"^sizes: expected a sequence"),
            (b"\x03\x01", r"^sizes: expected a sequence"),
            (3, r"^sizes: expected a sequence"),
            (None, r"^sizes: expected a sequence"),
            ({3, 1}, r"^sizes: expected a sequence"),
        ],
        ids=repr,
    )
    def test_bad_sizes(self, sizes, match):
        with pytest.raises(gc.InvalidArgument, match=match):
            gc.DenseNet(sizes)

    def test_message_gives_an_example(self):
        with pytest.raises(gc.InvalidArgument, match=r"sizes=\[3, 4, 1\]"):
            gc.DenseNet([3])


class TestDenseNetOptions:
    @pytest.mark.parametrize(
        "kwargs,match",
        [
            ({"activation": "ReLU"}, r"^activation: expected one of \['identity', 'leaky_relu', 'relu', 'sigmoid', "
                                     r"'softmax', 'tanh'\] \(or 'leaky_relu:<slope>'\), got 'ReLU'"),
            ({"activation": None}, r"^activation: "),
            ({"loss": "hinge"}, r"^loss: expected 'mse' or 'cross_entropy', got 'hinge'"),
            ({"loss": "cross_entropy", "activation": "tanh"}, r"^loss: cross_entropy needs a sigmoid \(binary\)"),
            ({"reduction": "avg"}, r"^reduction: expected one of \['half_sum', 'sum', 'mean'\], got 'avg'"),
            ({"dtype": np.int64}, r"^dtype: expected a floating dtype"),
            ({"dtype": np.complex128}, r"^dtype: expected a floating dtype"),
        ],
        ids=repr,
    )
    def test_bad_option(self, kwargs, match):
        with pytest.raises(gc.InvalidArgument, match=match):
            gc.DenseNet([3, 4, 1], **kwargs)

    @pytest.mark.parametrize(
        "kwargs,match",
        [
            ({"activation": "softplus"}, r"^activation: "),
            ({"loss": "l1"}, r"^loss: "),
            ({"reduction": "none"}, r"^reduction: "),
        ],
        ids=repr,
    )
    def test_bad_option_from_params(self, kwargs, match):
        with pytest.raises(gc.InvalidArgument, match=match):
            gc.DenseNet.from_params({"W1": np.ones((3, 1))}, **kwargs)


def net():
    return gc.DenseNet([3, 4, 2], seed=0)


Y2 = np.zeros((4, 2))


def object_array():
    arr = np.empty((4, 3), dtype=object)
    arr[:] = 1.0
    return arr


def with_value(arr, idx, value):
    arr = np.array(arr, dtype=np.float64)
    arr[idx] = value
    return arr


BAD_X = [
    (np.ones(3), r"^X: expected a 2-D array of shape \(n_samples, 3\), got shape \(3,\)"),
    (np.ones((4, 3, 1)), r"^X: expected a 2-D array .*got shape \(4, 3, 1\)"),
    (np.float64(1.0), r"^X: expected a 2-D array .*got shape \(\)"),
    (np.ones((4, 2)), r"^X: expected a 2-D array of shape \(n_samples, 3\), got shape \(4, 2\)"),
    (np.ones((4, 4)), r"^X: .*got shape \(4, 4\)"),
    (with_value(X_XOR, (1, 2), np.nan), r"^X: expected finite values, found nan at index \(1, 2\)"),
    (with_value(X_XOR, (3, 0), np.inf), r"^X: expected finite values, found inf at index \(3, 0\)"),
    (with_value(X_XOR, (0, 0), -np.inf), r"^X: expected finite values"),
    (np.full((4, 3), "a"), r"^X: expected a real numeric array"),
    ([["0", "0", "1"]] * 4, r"^X: expected a real numeric array"),
    (object_array(), r"^X: expected a real numeric array.*dtype object"),
    (X_XOR + 0j, r"^X: expected a real numeric array"),
    ([[0, 0, 1], [0, 1]], r"^X: expected a numeric array"),
    (None, r"^X: expected a real numeric array"),
]


class TestData:
    """X and y checks, shared by loss, gradients, backward, train and loss_closure."""

    METHODS = ["loss", "gradients", "backward", "train", "loss_closure"]

    @pytest.mark.parametrize("method", METHODS)
    @pytest.mark.parametrize("X,match", BAD_X, ids=range(len(BAD_X)))
    def test_bad_X(self, method, X, match):
        with pytest.raises(gc.InvalidArgument, match=match):
            getattr(net(), method)(X, Y2)

    @pytest.mark.parametrize("method", METHODS)
    def test_empty_X(self, method):
        with pytest.raises(gc.InvalidArgument, match=r"^X: expected at least one sample"):
            getattr(net(), method)(np.zeros((0, 3)), np.zeros((0, 2)))

    @pytest.mark.parametrize("method", METHODS)
    @pytest.mark.parametrize(
        "y,match",
        [
            (np.zeros((4, 1)), r"^y: expected shape \(4, 2\).*got shape \(4, 1\)"),
            (np.zeros((4, 3)), r"^y: expected shape \(4, 2\).*got shape \(4, 3\)"),
            (np.zeros((3, 2)), r"^y: expected shape \(4, 2\).*got shape \(3, 2\)"),
            (np.zeros((5, 2)), r"^y: expected shape \(4, 2\).*got shape \(5, 2\)"),
            (np.zeros(8), r"^y: expected shape \(4, 2\).*got shape \(8,\)"),
            (np.zeros((4, 2, 1)), r"^y: expected shape \(4, 2\)"),
            (with_value(Y2, (2, 1), np.nan), r"^y: expected finite values, found nan at index \(2, 1\)"),
            (with_value(Y2, (0, 0), np.inf), r"^y: expected finite values, found inf at index \(0, 0\)"),
            (np.full((4, 2), "x"), r"^y: expected a real numeric array"),
        ],
        ids=repr,
    )
    def test_bad_y(self, method, y, match):
        with pytest.raises(gc.InvalidArgument, match=match):
            getattr(net(), method)(X_XOR, y)

    @pytest.mark.parametrize("y", [np.zeros(3), np.zeros(5)], ids=["short", "long"])
    def test_one_dimensional_y_wrong_length(self, y):
        one_output = gc.DenseNet([3, 4, 1], seed=0)
        with pytest.raises(gc.InvalidArgument, match=r"^y: expected shape \(4, 1\).*1-D array also works"):
            one_output.loss(X_XOR, y)


class TestForwardValidation:
    @pytest.mark.parametrize("X,match", BAD_X, ids=range(len(BAD_X)))
    def test_bad_X(self, X, match):
        with pytest.raises(gc.InvalidArgument, match=match):
            net().forward(X)


def weights(**overrides):
    params = {"W1": np.ones((3, 4)), "b1": np.ones(4), "W2": np.ones((4, 2)), "b2": np.ones(2)}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


class TestFromParamsValidation:
    @pytest.mark.parametrize(
        "params,match",
        [
            ({}, r"^params: expected a non-empty mapping"),
            ([("W1", np.ones((3, 1)))], r"^params: expected a non-empty mapping"),
            (None, r"^params: expected a non-empty mapping"),
            (np.ones((3, 1)), r"^params: expected a non-empty mapping"),
            (weights(V1=np.ones((3, 4))), r"^params: unexpected key 'V1'.*numbered from 1"),
            (weights(W0=np.ones((3, 4))), r"^params: unexpected key 'W0'"),
            ({"weights": np.ones((3, 1))}, r"^params: unexpected key 'weights'"),
            (weights(w1=np.ones((3, 4))), r"^params: unexpected key 'w1'"),
            (weights(W01=np.ones((3, 4))), r"^params: unexpected key 'W01'"),
            ({1: np.ones((3, 1))}, r"^params: unexpected key 1"),
            (weights(W3=np.ones((2, 1)), b3=np.ones(1), W2=None, b2=None),
             r"^params: weight keys must be W1 … W2 without gaps, got \['W1', 'W3'\]"),
            ({"W2": np.ones((3, 1))}, r"^params: weight keys must be W1 … W1 without gaps, got \['W2'\]"),
            ({"b1": np.ones(1)}, r"^params: .*'b1'"),
            (weights(b2=None), r"^params: biases must be given for every layer or for none; missing \['b2'\]"),
            (weights(b1=None), r"^params: biases .*missing \['b1'\]"),
            (weights(b3=np.ones(1)), r"^params: biases .*unexpected \['b3'\]"),
            (weights(W2=np.ones((5, 2))),
             r"^params\['W2'\]: expected 4 rows \(the width of layer 1\), got shape \(5, 2\)"),
            (weights(W2=np.ones((2, 4))), r"^params\['W2'\]: expected 4 rows"),
            (weights(W1=np.ones(3)), r"^params\['W1'\]: expected a non-empty 2-D array"),
            (weights(W2=np.ones((4, 2, 1))), r"^params\['W2'\]: expected a non-empty 2-D array"),
            (weights(W2=np.ones((4, 0)), b2=np.ones(0)), r"^params\['W2'\]: expected a non-empty 2-D array"),
            (weights(b1=np.ones(3)), r"^params\['b1'\]: expected shape \(4,\) to match W1 .*got shape \(3,\)"),
            (weights(b2=np.ones((1, 2))), r"^params\['b2'\]: expected shape \(2,\) .*got shape \(1, 2\)"),
            (weights(b2=np.float64(1.0)), r"^params\['b2'\]: expected shape \(2,\)"),
            (weights(W1=with_value(np.ones((3, 4)), (2, 1), np.nan)),
             r"^params\['W1'\]: expected finite values, found nan at index \(2, 1\)"),
            (weights(b2=with_value(np.ones(2), 1, np.inf)),
             r"^params\['b2'\]: expected finite values, found inf at index \(1,\)"),
            (weights(W2=np.full((4, 2), "1")), r"^params\['W2'\]: expected a real numeric array"),
            (weights(W2=np.ones((4, 2)) + 0j), r"^params\['W2'\]: expected a real numeric array"),
        ],
        ids=repr,
    )
    def test_bad_params(self, params, match):
        with pytest.raises(gc.InvalidArgument, match=match):
            gc.DenseNet.from_params(params)


class TestTrainValidation:
    @pytest.mark.parametrize(
        "iterations",
        [-1, -60000, 10.0, 2.5, "10", None, True, np.float64(3.0)],
        ids=repr,
    )
    def test_bad_iterations(self, iterations):
        n = net()
        before = {k: v.copy() for k, v in n.params.items()}
        with pytest.raises(gc.InvalidArgument, match=r"^iterations: expected a non-negative integer"):
            n.train(X_XOR, Y2, iterations=iterations)
        for k in before:
            np.testing.assert_array_equal(n.params[k], before[k])

    @pytest.mark.parametrize("learning_rate", [0, 0.0, -1.0, -1e-9, np.nan, np.inf, -np.inf], ids=repr)
    def test_bad_learning_rate(self, learning_rate):
        with pytest.raises(gc.InvalidArgument, match=r"^learning_rate: expected a finite positive number"):
            net().train(X_XOR, Y2, iterations=1, learning_rate=learning_rate)

    @pytest.mark.parametrize("learning_rate", ["fast", None], ids=repr)
    def test_non_numeric_learning_rate(self, learning_rate):
        with pytest.raises(gc.InvalidArgument, match=r"^learning_rate: "):
            net().train(X_XOR, Y2, iterations=1, learning_rate=learning_rate)

"""DenseNet against an independent, inline rewrite of the classic numpy XOR programs.

The two programs below follow the well-known two-layer (3-4-1) and three-layer
(3-4-4-1) scripts: sigmoid everywhere, no biases (the third input column is a
constant 1), loss ½Σ(a − y)², full-batch steps with learning rate 1.  They are
written here with the sign convention "gradient = ∂L/∂W, update W −= gradient",
which is the classic ``syn += l.T.dot(delta)`` with ``delta`` built from
``y − l`` instead of ``l − y``.  Nothing here calls gradcheck's backprop.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)

TOL = 1e-12


def nonlin(x):
    return 1.0 / (1.0 + np.exp(-x))


def classic_init(seed, shapes):
    rng = np.random.default_rng(seed)
    return [2 * rng.random(shape) - 1 for shape in shapes]


def classic_two_layer(syn0, syn1):
    """One forward and backward pass of the 3-4-1 program."""
    l0 = X
    l1 = nonlin(l0 @ syn0)
    l2 = nonlin(l1 @ syn1)
    l2_delta = (l2 - Y) * l2 * (1 - l2)
    l1_delta = (l2_delta @ syn1.T) * l1 * (1 - l1)
    return {
        "activations": [l0, l1, l2],
        "deltas": [l1_delta, l2_delta],
        "gradients": [l0.T @ l1_delta, l1.T @ l2_delta],
        "loss": 0.5 * np.sum((l2 - Y) ** 2),
    }


def classic_three_layer(syn0, syn1, syn2):
    """One forward and backward pass of the 3-4-4-1 program."""
    l0 = X
    l1 = nonlin(l0 @ syn0)
    l2 = nonlin(l1 @ syn1)
    l3 = nonlin(l2 @ syn2)
    l3_delta = (l3 - Y) * l3 * (1 - l3)
    l2_delta = (l3_delta @ syn2.T) * l2 * (1 - l2)
    l1_delta = (l2_delta @ syn1.T) * l1 * (1 - l1)
    return {
        "activations": [l0, l1, l2, l3],
        "deltas": [l1_delta, l2_delta, l3_delta],
        "gradients": [l0.T @ l1_delta, l1.T @ l2_delta, l2.T @ l3_delta],
        "loss": 0.5 * np.sum((l3 - Y) ** 2),
    }


PROGRAMS = {
    "3-4-1": ([(3, 4), (4, 1)], classic_two_layer),
    "3-4-4-1": ([(3, 4), (4, 4), (4, 1)], classic_three_layer),
}


def net_from(weights):
    return gc.DenseNet.from_params({f"W{l}": W for l, W in enumerate(weights, start=1)})


def assert_lists_close(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=TOL, atol=TOL)


@pytest.fixture(params=sorted(PROGRAMS))
def program(request):
    return PROGRAMS[request.param]


SEEDS = [0, 1, 7, 2024]


class TestInitialisation:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_densenet_seed_draws_the_classic_weights(self, program, seed):
        shapes, _ = program
        sizes = [shapes[0][0]] + [s[1] for s in shapes]
        net = gc.DenseNet(sizes, bias=False, seed=seed)
        assert_lists_close(net.weights(), classic_init(seed, shapes))


class TestForwardCache:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_activations_match(self, program, seed):
        shapes, run = program
        weights = classic_init(seed, shapes)
        cache = net_from(weights).forward_cache(X)
        assert_lists_close(cache.activations, run(*weights)["activations"])


class TestBackward:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_deltas_match(self, program, seed):
        shapes, run = program
        weights = classic_init(seed, shapes)
        assert_lists_close(net_from(weights).backward(X, Y).deltas, run(*weights)["deltas"])

    @pytest.mark.parametrize("seed", SEEDS)
    def test_loss_matches(self, program, seed):
        shapes, run = program
        weights = classic_init(seed, shapes)
        assert net_from(weights).backward(X, Y).loss == pytest.approx(run(*weights)["loss"], rel=TOL)


class TestGradients:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_gradients_match(self, program, seed):
        shapes, run = program
        weights = classic_init(seed, shapes)
        grads = net_from(weights).gradients(X, Y)
        assert list(grads) == [f"W{l}" for l in range(1, len(shapes) + 1)]
        assert_lists_close(list(grads.values()), run(*weights)["gradients"])


class TestTrain:
    @pytest.mark.parametrize("seed", [0, 3])
    def test_side_by_side_steps_agree(self, program, seed):
        shapes, run = program
        weights = classic_init(seed, shapes)
        net = net_from(weights)
        for _ in range(200):
            result = run(*weights)
            weights = [W - g for W, g in zip(weights, result["gradients"], strict=True)]
            history = net.train(X, Y, iterations=1)
            assert history[0] == pytest.approx(result["loss"], rel=TOL)
            assert_lists_close(net.weights(), weights)

    def test_two_layer_learns_xor(self):
        net = gc.DenseNet([3, 4, 1], bias=False, seed=1)
        history = net.train(X, Y, iterations=60000)
        np.testing.assert_array_equal(np.round(net.forward(X)), Y)
        assert history[-1] < 1e-3 < history[0]

    def test_three_layer_learns_xor(self):
        net = gc.DenseNet([3, 4, 4, 1], bias=False, seed=1)
        history = net.train(X, Y, iterations=60000)
        np.testing.assert_array_equal(np.round(net.forward(X)), Y)
        assert history[-1] < 1e-3 < history[0]


class TestXorData:
    def test_is_the_classic_data(self):
        Xd, yd = gc.xor_data()
        np.testing.assert_array_equal(Xd, X)
        np.testing.assert_array_equal(yd, Y)
        assert Xd.dtype == yd.dtype == np.float64

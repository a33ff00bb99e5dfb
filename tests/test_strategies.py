"""gradcheck.interfaces.strategies: drawn networks respect their options, and gradcheck verifies them."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradcheck as gc
from gradcheck.interfaces.strategies import batches, dense_nets, layer_sizes


class TestLayerSizes:
    @given(layer_sizes(min_layers=2, max_layers=3, min_width=2, max_width=5))
    def test_ranges(self, sizes):
        assert 3 <= len(sizes) <= 4
        assert all(2 <= n <= 5 for n in sizes)

    @given(layer_sizes(min_layers=2, max_layers=2, min_width=3, max_width=3))
    def test_degenerate_ranges(self, sizes):
        assert sizes == [3, 3, 3]


class TestDenseNets:
    @settings(max_examples=25)
    @given(dense_nets(min_layers=2, max_layers=3, min_width=2, max_width=4, min_samples=3, max_samples=5,
                      bias=False, activations=("tanh",), reductions=("mean",), weight_scale=(0.5, 0.5),
                      dtype=np.float32))
    def test_options_are_respected(self, case):
        net, X, y = case
        assert 3 <= len(net.sizes) <= 4 and all(2 <= n <= 4 for n in net.sizes)
        assert not net.bias and sorted(net.params) == [f"W{l}" for l in range(1, net.n_layers + 1)]
        assert (net.activation.name, net.criterion.reduction) == ("tanh", "mean")
        assert 3 <= X.shape[0] <= 5
        assert X.shape == (X.shape[0], net.sizes[0]) and y.shape == (X.shape[0], net.sizes[-1])
        assert net.dtype == X.dtype == y.dtype == np.float32
        assert np.all(np.abs(y) <= 1)  # tanh targets stay in (−1, 1)

    @settings(max_examples=25, deadline=None)
    @given(dense_nets(min_layers=2, max_layers=3, activations=("relu", "leaky_relu:0.2"),
                      output_activations=("sigmoid", "softmax"), losses=("mse", "cross_entropy"),
                      reductions=("sum", "mean"), weight_decay=(0.0, 0.1)))
    def test_relu_softmax_cross_entropy_decay(self, case):
        net, X, y = case
        assert net.activations[0].name in ("relu", "leaky_relu:0.2")
        assert net.activations[-1].name in ("sigmoid", "softmax")
        assert 0.0 <= net.weight_decay <= 0.1 and net.criterion.reduction in ("sum", "mean")
        if net.activations[-1].name == "softmax":
            np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-15)
        report = gc.check_network(net, X, y, diagnostics=False)
        assert report.passed, str(report)

    @given(dense_nets(sizes=[3, 4, 1], bias=True, max_samples=4))
    def test_fixed_sizes(self, case):
        net, X, y = case
        assert net.sizes == [3, 4, 1] and sorted(net.params) == ["W1", "W2", "b1", "b2"]
        assert X.shape[1] == 3 and y.shape[1] == 1 and 1 <= len(X) <= 4
        assert np.all((0 <= y) & (y <= 1))  # sigmoid targets

    @given(dense_nets(sizes=st.sampled_from([[2, 2], [5, 3, 1]])))
    def test_sizes_strategy(self, case):
        assert case[0].sizes in ([2, 2], [5, 3, 1])

    @settings(max_examples=25, deadline=None)
    @given(dense_nets())
    def test_check_network_verifies_drawn_networks(self, case):
        net, X, y = case
        report = gc.check_network(net, X, y, diagnostics=False)
        assert report.passed, str(report)

    @settings(max_examples=10, deadline=None)
    @given(dense_nets(activations=("sigmoid", "tanh", "identity"), max_layers=3, max_width=5))
    def test_check_network_verifies_every_activation(self, case):
        net, X, y = case
        report = gc.check_network(net, X, y, diagnostics=False)
        assert report.passed, str(report)


class TestBatches:
    NET = gc.DenseNet([4, 3, 2], activation="tanh", seed=0, dtype=np.float32)

    @given(batches(NET, min_samples=2, max_samples=6))
    def test_shapes_and_dtype(self, data):
        X, y = data
        assert 2 <= len(X) <= 6 and X.shape[1] == 4 and y.shape == (len(X), 2)
        assert X.dtype == y.dtype == np.float32 and np.all(np.abs(y) <= 1)

    @given(batches(gc.DenseNet([3, 4, 1], seed=0), max_samples=8))
    def test_gradients_check(self, data):
        net = gc.DenseNet([3, 4, 1], seed=0)
        X, y = data
        assert gc.check_params(net.loss_closure(X, y), net.params, net.gradients(X, y)).passed


class TestValidation:
    """Bad options raise InvalidArgument when the strategy is built, naming the option."""

    @pytest.mark.parametrize("build, name", [
        (lambda: layer_sizes(min_width=5, max_width=2), "min_width=5 > max_width=2"),
        (lambda: layer_sizes(min_layers=4, max_layers=3), "min_layers=4 > max_layers=3"),
        (lambda: layer_sizes(min_layers=0), "min_layers"),
        (lambda: layer_sizes(max_width=2.5), "max_width"),
        (lambda: layer_sizes(min_layers=True), "min_layers"),
        (lambda: dense_nets(min_samples=0), "min_samples"),
        (lambda: dense_nets(min_samples=4, max_samples=3), "min_samples=4 > max_samples=3"),
        (lambda: dense_nets(max_width=0), "max_width"),
        (lambda: dense_nets(bias="yes"), "bias"),
        (lambda: dense_nets(activations=()), "activations"),
        (lambda: dense_nets(activations=["swish"]), "activations"),
        (lambda: dense_nets(activations=["softmax"]), "activations: softmax is for the output layer only"),
        (lambda: dense_nets(activations=["tanh"], losses=["cross_entropy"]), "losses: cross_entropy needs a sigmoid"),
        (lambda: dense_nets(losses=["hinge"]), "losses"),
        (lambda: dense_nets(weight_decay=-1.0), "weight_decay"),
        (lambda: dense_nets(weight_decay=(0.2, 0.1)), "weight_decay"),
        (lambda: dense_nets(activations=3), "activations"),
        (lambda: dense_nets(reductions=["avg"]), "reductions"),
        (lambda: dense_nets(weight_scale=(0.0, 1.0)), "weight_scale"),
        (lambda: dense_nets(weight_scale=(2.0, 1.0)), "weight_scale"),
        (lambda: dense_nets(weight_scale=(1.0, math.inf)), "weight_scale"),
        (lambda: dense_nets(weight_scale=5.0), "weight_scale"),
        (lambda: dense_nets(dtype=np.int32), "dtype"),
        (lambda: dense_nets(dtype="no such dtype"), "dtype"),
        (lambda: dense_nets(sizes=[3]), "sizes"),
        (lambda: dense_nets(sizes=[3, 4, 1], max_layers=2), "sizes: given together with max_layers"),
        (lambda: batches("net"), "net"),
        (lambda: batches(gc.DenseNet([2, 1]), max_samples=0), "max_samples"),
    ])
    def test_invalid_option(self, build, name):
        with pytest.raises(gc.InvalidArgument, match=f"^{name}"):
            build()

    def test_options_are_keyword_only(self):
        with pytest.raises(TypeError):
            dense_nets([3, 4, 1])
        with pytest.raises(TypeError):
            batches(gc.DenseNet([2, 1]), 1, 4)


def test_import_gradcheck_does_not_load_hypothesis():
    code = "import sys, gradcheck; print('hypothesis' in sys.modules, 'gradcheck.interfaces.strategies' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]

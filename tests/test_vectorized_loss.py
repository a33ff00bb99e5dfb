"""The README's pattern of a loss for ``vectorized=True`` (examples/vectorized_loss.py) computes the plain loss.

Its shortcuts (layers below the first group that differs between the sets
computed once, one matmul per layer over the sets) must not change a value:
every stacked value equals the one-set loss at that set, and the numerical
derivatives equal the plain loop's within the rounding of the differences.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from _bounds import gamma, roundoff

import gradcheck as gc
from gradcheck.numerical.gradient import numerical_gradient

_spec = importlib.util.spec_from_file_location(
    "_vectorized_loss", Path(__file__).resolve().parents[1] / "examples" / "vectorized_loss.py")
example = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = example
_spec.loader.exec_module(example)

NETS = [[3, 5, 2], [4, 6, 6, 3], [2, 3, 4, 3, 1]]


def case(sizes):
    net = gc.DenseNet(sizes, seed=len(sizes))
    rng = np.random.default_rng(sum(sizes))
    X, y = rng.standard_normal((7, sizes[0])), rng.random((7, sizes[-1]))
    return net, X, y


@pytest.mark.parametrize("sizes", NETS, ids=str)
@pytest.mark.parametrize("shared", [True, False], ids=["broadcast", "copies"])
def test_every_set_is_the_one_set_loss(sizes, shared):
    """Each group in turn differs between 5 sets; the others are broadcast views (as the engine passes
    them) or copies (the general path).  Each set's layers are the one-set loss's operations on the
    same numbers (a matmul of the same (N, n) and (n, m) matrices, elementwise arithmetic); only the
    final sum of N·n_L non-negative squares may run in another order, which moves it by at most
    γ_{N·n_L} relative each way (Higham 2002, §4.2): within 2γ_{N·n_L}."""
    net, X, y = case(sizes)
    plain, stacked = net.loss_closure(X, y), example.stacked_loss(X, y, net.n_layers)
    rng = np.random.default_rng(0)
    for name in net.params:
        sets = [{k: v + (0.1 * rng.standard_normal(v.shape) if k == name else 0.0) for k, v in net.params.items()}
                for _ in range(5)]
        batch = {k: (np.stack([s[k] for s in sets]) if k == name or not shared
                     else np.broadcast_to(net.params[k], (5,) + net.params[k].shape)) for k in net.params}
        got = stacked(batch)
        want = np.array([plain(s) for s in sets])
        assert got.shape == (5,)
        np.testing.assert_allclose(got, want, rtol=2 * gamma(X.shape[0] * sizes[-1]), atol=0, err_msg=name)


@pytest.mark.parametrize("sizes", NETS, ids=str)
@pytest.mark.parametrize("method", ["central", "richardson"])
def test_derivatives_equal_the_plain_loop(sizes, method):
    """Same steps; values and error estimates within 2r of the loop's (r the rounding of one difference:
    the two losses may round each value differently by up to r)."""
    net, X, y = case(sizes)
    loop = numerical_gradient(net.loss_closure(X, y), net.params, method)
    batched = numerical_gradient(example.stacked_loss(X, y, net.n_layers), net.params, method, vectorized=True)
    assert batched.methods == loop.methods
    for k in loop.values:
        np.testing.assert_array_equal(batched.steps[k], loop.steps[k])
        r = roundoff(loop, k)
        assert np.all(np.abs(batched.values[k] - loop.values[k]) <= 2 * r), k
        assert np.all(np.abs(batched.errors[k] - loop.errors[k]) <= 2 * r), k


def test_a_wrong_entry_is_found_as_by_the_plain_loop():
    net, X, y = case([4, 6, 6, 3])
    grads = net.gradients(X, y)
    grads["W2"][3, 1] += 1e-5 * np.max(np.abs(grads["W2"]))
    loop = gc.check_params(net.loss_closure(X, y), net.params, grads, method="central")
    batched = gc.check_params(example.stacked_loss(X, y, net.n_layers), net.params, grads, method="central",
                              vectorized=True)
    assert batched.failed_groups == loop.failed_groups == ["W2"]
    assert batched.groups[2].worst_index == loop.groups[2].worst_index == (3, 1)

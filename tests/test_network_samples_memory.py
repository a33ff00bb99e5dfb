"""check_network's per-sample memory: the engines read backprop's forward pass, backprop's rounding bound by blocks.

The structured engines used to form two more forward passes over every sample
(one for the parameters, one per layer for the deltas); they now read the
float64 pass backprop already holds, so the same arrays (no copy) give the same
numbers.  backprop_rounding_bound takes the samples in blocks within the
budget: its temporaries (|a_l|, f'(z_l), |δ_l|·|W| products, 4 arrays of the
block's Σn_l floats at most) stay below the budget; what it returns (the delta
bounds, 8 bytes per unit and sample like backprop's deltas) is its output.
"""

from __future__ import annotations

import numpy as np
from _memory import peak_bytes

import gradcheck as gc
from gradcheck.numerical.structured import StructuredEngine
from gradcheck.verify.network import _z_loss, backprop_rounding_bound

MB = 2**20


def _net(n_samples: int):
    rng = np.random.default_rng(3)
    net = gc.DenseNet([32, 64, 32, 8], seed=0)
    return net, rng.standard_normal((n_samples, 32)), rng.random((n_samples, 8))


def test_engines_read_the_held_forward_pass_and_give_the_same_numbers():
    net, X, y = _net(30)
    cache = net.forward_cache(X)
    held = StructuredEngine.for_params(net, X, y, cache=cache)
    assert held.rs.cache is cache
    own = StructuredEngine.for_params(net, X, y)
    a, b = held.gradient("central"), own.gradient("central")
    for k in net.params:
        np.testing.assert_array_equal(a.values[k], b.values[k])
        np.testing.assert_array_equal(a.errors[k], b.errors[k])
    for layer in range(1, net.n_layers + 1):
        z, loss = np.array(cache.zs[layer - 1]), _z_loss(net, layer, y)
        e = StructuredEngine.for_deltas(net, layer, z, y, loss, cache)
        assert e.rs.cache.z(layer) is cache.zs[layer - 1] and e.rs.cache.a(layer) is cache.activations[layer]
        own_d = StructuredEngine.for_deltas(net, layer, z, y, loss)
        np.testing.assert_array_equal(e.gradient("complex").values["z"], own_d.gradient("complex").values["z"])


def test_float32_network_forms_its_own_float64_pass():
    net, X, y = _net(5)
    net32 = net.like({k: v.astype(np.float32) for k, v in net.params.items()})
    X32, y32 = net32.checked_data(X, y)
    cache = net32.forward_cache(X32)
    engine = StructuredEngine.for_params(net32, X32, y32, cache=cache)
    assert engine.rs.cache is not cache and engine.rs.cache.output.dtype == np.float64


def test_rounding_bound_by_sample_blocks_equals_whole_and_stays_in_budget():
    net, X, y = _net(2000)
    ref = net.backward(X, y)
    whole_p, whole_d = backprop_rounding_bound(net, ref, y, memory_budget=2**40)
    out = []
    top = peak_bytes(lambda: out.append(backprop_rounding_bound(net, ref, y, memory_budget=MB)))
    p, d = out[0]
    outputs = sum(x.nbytes for x in d) + sum(v.nbytes for v in p.values() if isinstance(v, np.ndarray))
    # 1.25 × the budget for the temporaries plus the returned delta bounds (5.1 MB here at 2000
    # samples: before the blocks the temporaries alone were 9 MB).
    assert top <= 1.25 * MB + outputs, (top / MB, outputs / MB)
    # Blocks change only the order of the sums of nonnegative terms: relative rounding ≤ N·ε.
    rel = 2000 * np.finfo(float).eps
    for a, b in zip(d, whole_d, strict=True):
        np.testing.assert_allclose(a, b, rtol=rel, atol=0)
    for k in net.params:
        got = p[k].full() if hasattr(p[k], "full") else p[k]
        want = whole_p[k].full() if hasattr(whole_p[k], "full") else whole_p[k]
        np.testing.assert_allclose(got, want, rtol=rel, atol=0)

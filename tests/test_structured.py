"""The structured engine gives the generic engine's numbers, faster.

The yardstick is the generic engine itself (the loss closure called once per
stencil point): structured values must agree with it within the generic
engine's own round-off term κε·max(|F|, 2σ/κ)/h, and error estimates too,
since both apply the same formulas to the same steps and measured noise.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.numerical import structured as structured
from gradcheck.model.backprop import Backward
from gradcheck.verify.network import _z_loss
from gradcheck.numerical.numeric import LOCAL_METHODS, NOISE_FACTOR, ROUNDOFF_FACTOR, LossEngine
from gradcheck.numerical.structured import StructuredEngine, structured_gradient

EPS = np.finfo(np.float64).eps
KAPPA = ROUNDOFF_FACTOR * EPS

ARCHITECTURES = [
    # sizes, bias, reduction, activation, samples, weight scale, input scale
    ([3, 4, 4, 1], True, "half_sum", "sigmoid", 4, 1.0, 1.0),
    ([5, 7, 3, 2], False, "mean", "sigmoid", 6, 1.0, 1.0),
    ([4, 9, 6, 3], True, "sum", "tanh", 5, 1.0, 3.0),
    ([10, 12, 8, 3], True, "half_sum", "sigmoid", 7, 4.0, 1.0),
    ([6, 5, 4], False, "sum", "identity", 3, 1.0, 1.0),
    ([2, 3], True, "mean", "sigmoid", 2, 1.0, 1.0),
    ([8, 6, 5, 4, 2], True, "half_sum", "sigmoid", 5, 2.0, 10.0),
]


def make(sizes, bias, reduction, activation, n, w_scale, x_scale, seed=0):
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(sizes)):
        params[f"W{l}"] = w_scale * rng.uniform(-1, 1, (sizes[l - 1], sizes[l]))
        if bias:
            params[f"b{l}"] = w_scale * rng.uniform(-1, 1, sizes[l])
    net = gc.DenseNet.from_params(params, activation=activation, reduction=reduction)
    X = x_scale * rng.standard_normal((n, sizes[0]))
    y = rng.uniform(0, 1, (n, sizes[-1]))
    return net, X, y


def roundoff(g, name, method):
    """The generic engine's round-off term for each entry of a group (value units)."""
    if method == "complex":
        # κε|value| does not cover cancellation in the sum over samples: use the group's scale.
        return KAPPA * np.max(np.abs(g.values[name])) + 1e-300
    # Richardson's smallest step is h/4 and its round-off term 2κε·max|F|/(h/4).
    factor = {"richardson": 8.0, "central4": 1.5}.get(method, 1.0)
    return factor * KAPPA * max(abs(g.loss_value), NOISE_FACTOR * g.noise / KAPPA) / g.steps[name]


def assert_same_as_generic(fast, slow, factor=2.0):
    assert list(fast.values) == list(slow.values)
    assert fast.methods == slow.methods
    assert fast.loss_value == slow.loss_value
    assert fast.noise == slow.noise
    for name in slow.values:
        np.testing.assert_array_equal(fast.steps[name], slow.steps[name])
        r = roundoff(slow, name, slow.methods[name])
        assert np.all(np.abs(fast.values[name] - slow.values[name]) <= factor * r), name
        assert np.all(np.abs(fast.errors[name] - slow.errors[name]) <= factor * r), name


@pytest.mark.parametrize("method", LOCAL_METHODS)
@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: "-".join(map(str, a[0])) + ("b" if a[1] else "")
                         + f"-{a[2]}-{a[3]}")
def test_parameters_equal_the_generic_engine(arch, method):
    net, X, y = make(*arch)
    fast = structured_gradient(net, X, y, method)
    slow = LossEngine(net.loss_function(X, y), dict(net.params)).gradient(method)
    assert_same_as_generic(fast, slow)


@pytest.mark.parametrize("method", LOCAL_METHODS)
def test_deltas_equal_the_generic_engine(method):
    net, X, y = make([5, 6, 4, 2], True, "half_sum", "sigmoid", 4, 1.5, 1.0)
    cache = net.forward_cache(X)
    for layer in range(1, net.n_layers + 1):
        z = np.array(cache.zs[layer - 1])
        loss = _z_loss(net, layer, y)
        fast = StructuredEngine.for_deltas(net, layer, z, y, loss).gradient(method)
        slow = LossEngine(loss, {"z": z}).gradient(method)
        assert_same_as_generic(fast, slow)


def test_auto_is_the_complex_step_without_probe_calls():
    net, X, y = make([4, 5, 3], True, "half_sum", "sigmoid", 3, 1.0, 1.0)
    fast = structured_gradient(net, X, y)
    slow = LossEngine(net.loss_function(X, y), dict(net.params)).gradient("auto")
    assert fast.methods == slow.methods == {k: "complex" for k in net.params}
    assert_same_as_generic(fast, slow)
    assert fast.n_evaluations == 1 + 8  # the unperturbed loss and the noise measurement


@pytest.mark.parametrize("method", ["central", "richardson", "forward"])
def test_interpolation_equals_direct_evaluation(method):
    """Chebyshev interpolation of unit responses is exact to the rounding of ψ itself."""
    net, X, y = make([12, 10, 6, 3], True, "half_sum", "sigmoid", 9, 1.0, 2.0)
    Xv, yv = net._data(X, y, copy=True)
    interp = StructuredEngine.for_params(net, Xv, yv).gradient(method)
    direct = StructuredEngine.for_params(net, Xv, yv, interpolate=False).gradient(method)
    assert "interpolated" in interp.notes[0]
    for name in interp.values:
        # A tenth of the generic round-off term: far below what the comparison can see.
        assert np.all(np.abs(interp.values[name] - direct.values[name]) <= 0.1 * roundoff(direct, name, method))


def test_unresolved_interpolants_fall_back_to_direct_evaluation(monkeypatch):
    """With too few nodes the tail test rejects the interpolants and ψ is evaluated at every argument."""
    net, X, y = make([9, 7, 4, 2], True, "sum", "sigmoid", 6, 2.0, 5.0)
    Xv, yv = net._data(X, y, copy=True)
    direct = StructuredEngine.for_params(net, Xv, yv, interpolate=False).gradient("richardson")
    monkeypatch.setitem(structured.NODES, "richardson", 3)
    coarse = StructuredEngine.for_params(net, Xv, yv).gradient("richardson")
    assert "evaluated at every argument" in coarse.notes[0] and not coarse.notes[0].endswith(" 0 evaluated at every argument")
    for name in direct.values:
        assert np.all(np.abs(coarse.values[name] - direct.values[name]) <= 0.1 * roundoff(direct, name, "richardson"))


def test_textbook_central_difference():
    """Against a hand-written loop: two full forward passes per parameter, step h."""
    net, X, y = make([3, 4, 4, 1], True, "half_sum", "sigmoid", 4, 1.0, 1.0)
    loss = net.loss_function(X, y)
    fast = structured_gradient(net, X, y, "central")
    for name, p in net.params.items():
        h = fast.steps[name]
        textbook = np.empty(p.shape)
        for i in np.ndindex(p.shape):
            q = {k: v.copy() for k, v in net.params.items()}
            q[name][i] += h[i]
            up = loss(q)
            q[name][i] -= 2 * h[i]
            textbook[i] = (up - loss(q)) / (2 * h[i])
        np.testing.assert_allclose(fast.values[name], textbook, rtol=0, atol=float(np.max(fast.errors[name])))


def test_tiny_memory_budget_gives_identical_results():
    net, X, y = make([6, 8, 5, 2], True, "half_sum", "sigmoid", 5, 1.0, 1.0)
    for method in ("central", "complex"):
        big = structured_gradient(net, X, y, method)
        tiny = structured_gradient(net, X, y, method, memory_budget=2048)
        assert tiny.notes[0] != big.notes[0] and "budget 2 kB" in tiny.notes[0]
        for name in big.values:
            np.testing.assert_array_equal(tiny.values[name], big.values[name])
            np.testing.assert_array_equal(tiny.errors[name], big.errors[name])


def test_notes_record_the_chunking():
    net, X, y = make([4, 6, 2], True, "half_sum", "sigmoid", 3, 1.0, 1.0)
    note = structured_gradient(net, X, y, "central", memory_budget=64 * 2**20).notes[0]
    assert note.startswith("structured engine (central): ") and "chunk" in note and "budget 64 MB" in note


@pytest.mark.parametrize("method", ["central", "complex"])
def test_progress_reaches_total(method):
    net, X, y = make([6, 8, 5, 2], True, "half_sum", "sigmoid", 5, 1.0, 1.0)
    calls = []
    structured_gradient(net, X, y, method, progress=lambda d, t: calls.append((d, t)), memory_budget=4096)
    total = sum(p.size for p in net.params.values())
    assert calls and all(t == total for _, t in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == total


class TestCheckNetwork:
    def test_both_engines_give_the_same_verdicts(self):
        net, X, y = make([5, 7, 3, 2], True, "mean", "sigmoid", 6, 1.0, 1.0)
        for method in ("auto", "central", "richardson"):
            fast = gc.check_network(net, X, y, method=method, diagnostics=False)
            slow = gc.check_network(net, X, y, method=method, diagnostics=False, engine="generic")
            assert fast.passed and slow.passed
            assert fast.config["engine"] == "structured" and slow.config["engine"] == "generic"
            assert any(n.startswith("structured engine") for n in fast.notes)
            for a, b in zip(fast.layers, slow.layers):
                assert [(k, r.passed) for k, r in a.rows()] == [(k, r.passed) for k, r in b.rows()]

    def test_planted_bug_is_located_by_both_engines(self):
        net, X, y = make([4, 5, 3, 2], True, "half_sum", "sigmoid", 4, 1.0, 1.0)
        good = net.backward(X, y)
        grads = {k: v.copy() for k, v in good.gradients.items()}
        grads["W2"][3, 1] *= 1.001
        wrong = Backward(good.loss, good.deltas, grads, good.cache)
        for engine in ("structured", "generic"):
            report = gc.check_network(net, X, y, backward=wrong, diagnostics=False, engine=engine)
            assert report.failed_groups == ["W2"]
            assert report.group("W2").worst_index == (3, 1)

    @pytest.mark.parametrize("engine", ["structured", "generic"])
    def test_progress_stays_monotone_when_flagged_entries_are_remeasured(self, engine):
        net, X, y = make([4, 5, 3, 2], True, "half_sum", "sigmoid", 4, 1.0, 1.0)
        good = net.backward(X, y)
        grads = {k: v.copy() for k, v in good.gradients.items()}
        grads["W1"] = -grads["W1"]  # every entry flagged by the complex step, then by Richardson
        wrong = Backward(good.loss, good.deltas, grads, good.cache)
        calls = []
        report = gc.check_network(net, X, y, backward=wrong, diagnostics=False, engine=engine,
                                  progress=lambda d, t: calls.append((d, t)))
        assert "W1" in report.failed_groups
        total = sum(p.size for p in net.params.values()) + sum(z.size for z in good.cache.zs)
        done = [d for d, _ in calls]
        assert done == sorted(done) and all(t == total for _, t in calls) and done[-1] == total

    def test_unknown_engine_is_rejected(self):
        net, X, y = make([2, 3], True, "mean", "sigmoid", 2, 1.0, 1.0)
        with pytest.raises(gc.InvalidArgument, match=r"^engine: expected 'structured' or 'generic'"):
            gc.check_network(net, X, y, engine="fast", diagnostics=False)

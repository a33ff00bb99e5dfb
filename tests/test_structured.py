"""The structured engine gives the generic engine's numbers, faster.

The yardstick is the generic engine itself (the loss closure called once per
stencil point).  Both apply the same rule to the same steps and the same
measured loss noise σ, so they differ only by the rounding of the loss
differences D.  The generic engine's round-off term r = c·κε·max(|L|, 2σ/κ)/h
(c the rule's ``roundoff``) bounds the rounding of its own value, and the
structured differences, formed from the changed terms only, round less; so
values must agree within 2r (one r for each engine; see :mod:`_bounds`), or
within 2(r + c·κ·R/h) near a fit (below).
Largest observed ratio to 2r over these tests: 0.16 (x86-64, OpenBLAS), a
margin of 6.  The structured error estimate may exceed the generic one by
its own round-off term c·κ·R/h, R the running bound of one difference's
rounding (:meth:`StructuredEngine.difference_rounding`): near a fit a
difference rounds at ε·|a|·|a − y| per sample, more than ε·|L|, and only the
structured engine can bound that; it is never below the generic estimate.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _bounds import EPS, amplification, roundoff
from hypothesis import given, settings
from hypothesis import strategies as st

import gradcheck as gc
from gradcheck.model.backprop import Backprop, Backward
from gradcheck.numerical.engine import LossEngine
from gradcheck.numerical.rules import LOCAL_METHODS, ROUNDOFF_FACTOR, RULES
from gradcheck.numerical.structured import StructuredEngine, structured_gradient, unit_response_rounding
from gradcheck.strategies import dense_nets
from gradcheck.verify.kinks import KinkRegistry
from gradcheck.verify.network import _z_loss

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


def assert_same_as_generic(fast, slow, depth, engine=None):
    """Within 2r of the generic engine (see the module docstring); ``depth``: the layers above the perturbation.

    ``engine``: the structured engine that made ``fast``, whose estimates may add its own round-off term.
    Without it (two structured passes compared), the bound is 2r.
    """
    assert list(fast.values) == list(slow.values)
    assert fast.methods == slow.methods
    # The same loss closure at the same θ (and the same seeded σ measurement): the same operations.
    assert fast.loss_value == slow.loss_value
    assert fast.loss_noise == slow.loss_noise
    for name in slow.values:
        np.testing.assert_array_equal(fast.steps[name], slow.steps[name])
        r = roundoff(slow, name, depth)
        extra, own = 0.0, 0.0
        if engine is not None and fast.methods[name] != "complex":
            R = engine.difference_rounding(name, np.arange(fast.values[name].size), EPS)
            extra = RULES[fast.methods[name]].roundoff * ROUNDOFF_FACTOR * np.reshape(R / fast.steps[name].ravel(),
                                                                                      fast.steps[name].shape)
        elif engine is not None:
            # The complex step's value Σ 2c·(a − y)·ȧ carries the rounding of a − y, ε·|a| absolute:
            # relative ε·|a|/|a − y|, above r's κ near a fit (both engines round a differently).
            a = engine.rs.cache.output
            extra = r * float(np.max(np.abs(a) / np.maximum(np.abs(engine.rs.resid), 1e-300), initial=1.0))
            # Summed over samples that cancel, that rounding is bounded absolutely, not relatively:
            # the structured estimate adds that bound (gradcheck.numerical.complex_rounding), and
            # the generic value, rounding the same terms, is within it of the truth too.
            R = engine.difference_rounding(name, np.arange(fast.values[name].size), EPS, "complex")
            own = np.reshape(R / fast.steps[name].ravel(), fast.steps[name].shape)
            extra = extra + own
        # Each engine's value rounds within the larger of r and the structured bound (the generic
        # loss rounds the same terms, so near a fit its own rounding exceeds r too); the truncation
        # estimate is formed from the same differences.
        assert np.all(np.abs(fast.values[name] - slow.values[name]) <= 2 * (r + extra)), name
        # The generic engine cannot form that bound: its complex estimate lacks ``own``.
        assert np.all(np.abs(fast.errors[name] - own - slow.errors[name]) <= 2 * (r + extra)), name


@pytest.mark.parametrize("method", LOCAL_METHODS)
@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: "-".join(map(str, a[0])) + ("b" if a[1] else "")
                         + f"-{a[2]}-{a[3]}")
def test_parameters_equal_the_generic_engine(arch, method):
    net, X, y = make(*arch)
    engine = StructuredEngine.for_params(net, X, y)
    fast = engine.gradient(method)
    slow = LossEngine(net.loss_closure(X, y), dict(net.params)).gradient(method)
    assert_same_as_generic(fast, slow, net.n_layers, engine)


@pytest.mark.parametrize("method", LOCAL_METHODS)
def test_deltas_equal_the_generic_engine(method):
    net, X, y = make([5, 6, 4, 2], True, "half_sum", "sigmoid", 4, 1.5, 1.0)
    cache = net.forward_cache(X)
    for layer in range(1, net.n_layers + 1):
        z = np.array(cache.zs[layer - 1])
        loss = _z_loss(net, layer, y)
        engine = StructuredEngine.for_deltas(net, layer, z, y, loss)
        fast = engine.gradient(method)
        slow = LossEngine(loss, {"z": z}).gradient(method)
        assert_same_as_generic(fast, slow, net.n_layers - layer + 1, engine)


def test_auto_is_the_complex_step_without_probe_calls():
    net, X, y = make([4, 5, 3], True, "half_sum", "sigmoid", 3, 1.0, 1.0)
    engine = StructuredEngine.for_params(net, X, y)
    fast = engine.gradient("auto")
    slow = LossEngine(net.loss_closure(X, y), dict(net.params)).gradient("auto")
    assert fast.methods == slow.methods == {k: "complex" for k in net.params}
    assert_same_as_generic(fast, slow, net.n_layers, engine)
    assert fast.n_evaluations == 1 + 9  # the unperturbed loss and the noise measurement


def psi_rounding(engine, g, name, per_response):
    """How far a group's values move when every ψ value moves by at most ``per_response``·r_n (value units).

    Every difference D of an entry of layer l is a sum over samples n of one
    unit response ψ_{l,n,j} each, and :func:`unit_response_rounding` bounds
    the rounding r_n of one evaluation of ψ (a running error bound).  D then
    moves by at most Σ_n per_response·r_n, and the rule's value by
    amplification/h times that.
    """
    r = unit_response_rounding(engine.rs, int(name[1:]), EPS)  # (N,)
    return amplification(g.methods[name]) * per_response * r.sum() / g.steps[name]


def lebesgue(K):
    """A bound on the Lebesgue constant of interpolation at K Chebyshev points (Trefethen, ATAP, Thm. 15.2)."""
    return 2 / np.pi * np.log(K) + 1


@pytest.mark.parametrize("method", ["central", "richardson", "forward"])
def test_interpolation_equals_direct_evaluation(method):
    """Chebyshev interpolation of unit responses is exact to the rounding of ψ itself.

    Error model, per difference D = Σ_n ψ_n(t_n): direct evaluation rounds
    each ψ_n(t_n) within r_n; the interpolant reproduces the K node values,
    each rounded within r_n, with at most the Lebesgue constant Λ_K times that
    error anywhere on the interval.  Its truncation error is negligible: ψ is
    analytic within distance ~1 of the interval (σ has poles at ±iπ), whose
    half-width T ≤ 2·h·max|a| ≤ 1e-2 here, so the Chebyshev coefficients decay
    like (T/1)^k and the K-th is below 1e-10·max|ψ'|·T — below r_n.  Hence
    |D_interp − D_direct| ≤ (Λ_K + 1)·Σ_n r_n, and the values differ by at
    most amplification/h times that.  (The running bound r_n omits ε·|ψ|, which
    is smaller by the interval's relative width.)  Margin: the largest
    observed ratio to this bound was 0.08 (0.25 of the bound without Λ_K + 1),
    on x86-64 with OpenBLAS, over four seeds.
    """
    net, X, y = make([12, 10, 6, 3], True, "half_sum", "sigmoid", 9, 1.0, 2.0)
    Xv, yv = net.checked_data(X, y, copy=True)
    engine = StructuredEngine.for_params(net, Xv, yv)
    interp = engine.gradient(method)
    direct = StructuredEngine.for_params(net, Xv, yv, interpolate=False).gradient(method)
    assert "interpolated" in interp.notes[0]
    for name in interp.values:
        bound = psi_rounding(engine, direct, name, lebesgue(RULES[method].nodes) + 1)
        assert np.all(np.abs(interp.values[name] - direct.values[name]) <= bound), name


def test_unresolved_interpolants_fall_back_to_direct_evaluation(monkeypatch):
    """With too few nodes the tail test rejects the interpolants and ψ is evaluated at every argument.

    The interpolants the tail test still accepts carry, besides Λ_K·r_n from
    their node values, a truncation error of about their last two
    coefficients, which the test admits up to 8× the rounding level: the
    bound of :func:`test_interpolation_equals_direct_evaluation` with
    Λ_K + 1 + 8.
    """
    net, X, y = make([9, 7, 4, 2], True, "sum", "sigmoid", 6, 2.0, 5.0)
    Xv, yv = net.checked_data(X, y, copy=True)
    direct = StructuredEngine.for_params(net, Xv, yv, interpolate=False).gradient("richardson")
    coarse_rule = dataclasses.replace(RULES["richardson"], nodes=3)
    monkeypatch.setitem(RULES, "richardson", coarse_rule)
    engine = StructuredEngine.for_params(net, Xv, yv)
    coarse = engine.gradient("richardson")
    assert "evaluated at every argument" in coarse.notes[0]
    assert not coarse.notes[0].endswith(" 0 evaluated at every argument")
    for name in direct.values:
        # Refined interpolants have 2·3 − 1 = 5 points, whose Lebesgue constant is the larger.
        bound = psi_rounding(engine, direct, name, lebesgue(5) + 1 + 8)
        assert np.all(np.abs(coarse.values[name] - direct.values[name]) <= bound), name


def test_unresolved_interpolants_are_refined_at_twice_the_points():
    """Responses K points leave unresolved are resolved at the 2K − 1 points, not evaluated everywhere.

    Inputs of scale 30 widen the interval T = 2h·max|x| thirty-fold, so its
    third and fourth Chebyshev coefficients pass the rounding level for some
    (n, j) at K = 5.  The refined interpolants obey the error model of
    :func:`test_unresolved_interpolants_fall_back_to_direct_evaluation`, with
    Λ_9.
    """
    net, X, y = make([20, 30, 10], True, "half_sum", "sigmoid", 32, 1.0, 30.0)
    Xv, yv = net.checked_data(X, y, copy=True)
    engine = StructuredEngine.for_params(net, Xv, yv)
    fast = engine.gradient("central")
    direct = StructuredEngine.for_params(net, Xv, yv, interpolate=False).gradient("central")
    assert engine._stats["refined"] > 0
    assert engine._stats["fallback"] == 0
    assert fast.notes[0].endswith(" 0 evaluated at every argument")
    for name in direct.values:
        bound = psi_rounding(engine, direct, name, lebesgue(9) + 1 + 8)
        assert np.all(np.abs(fast.values[name] - direct.values[name]) <= bound), name


deep_nets = dense_nets(min_layers=5, max_layers=12, max_width=5, max_samples=4,
                       activations=("sigmoid", "tanh", "identity"), weight_decay=(0.0, 0.1))


@settings(max_examples=25, deadline=None)
@given(deep_nets, st.sampled_from(["central", "forward", "richardson", "complex"]))
def test_deep_nets_equal_the_generic_engine(drawn, method):
    """Deep nets (5 to 12 layers), drawn: values and error estimates within 2r of the generic loop."""
    net, X, y = drawn
    X, y = net.checked_data(X, y, copy=True)
    engine = StructuredEngine.for_params(net, X, y)
    fast = engine.gradient(method)
    slow = LossEngine(net.loss_closure(X, y), dict(net.params)).gradient(method)
    assert_same_as_generic(fast, slow, net.n_layers, engine)


def test_textbook_central_difference():
    """Against a hand-written loop: two full forward passes per parameter, step h."""
    net, X, y = make([3, 4, 4, 1], True, "half_sum", "sigmoid", 4, 1.0, 1.0)
    loss = net.loss_closure(X, y)
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
        # Same rule, same h: the two differ only by rounding, which the estimate's round-off term bounds.
        np.testing.assert_allclose(fast.values[name], textbook, rtol=0, atol=float(np.max(fast.errors[name])))


def test_tiny_memory_budget_gives_the_same_results_to_rounding():
    """Chunks change only the shapes of the matrix products, whose rounding a BLAS may pick by shape.

    Each chunking evaluates every ψ value within r_n; the central rule's
    interpolants pass that on magnified by at most Λ_K (directly evaluated
    ones by 1), so the two results differ by at most 2(Λ_K + 1)·Σ_n r_n per
    difference.  The complex step's values differ by at most 2r (see
    :mod:`_bounds`).  On OpenBLAS rows are padded so that the digits agree
    exactly; the bound holds wherever they do not.
    """
    net, X, y = make([6, 8, 5, 2], True, "half_sum", "sigmoid", 5, 1.0, 1.0)
    Xv, yv = net.checked_data(X, y, copy=True)
    for method in ("central", "complex"):
        engine = StructuredEngine.for_params(net, Xv, yv)
        big = engine.gradient(method)
        tiny = StructuredEngine.for_params(net, Xv, yv, memory_budget=2048).gradient(method)
        assert tiny.notes[0] != big.notes[0] and "budget 2 kB" in tiny.notes[0]
        for name in big.values:
            if method == "complex":
                bound = 2 * roundoff(big, name, net.n_layers)
            else:
                bound = psi_rounding(engine, big, name, 2 * (lebesgue(RULES[method].nodes) + 1))
            assert np.all(np.abs(tiny.values[name] - big.values[name]) <= bound), name
            assert np.all(np.abs(tiny.errors[name] - big.errors[name]) <= bound), name


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
            for a, b in zip(fast.layers, slow.layers, strict=True):
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


# Beyond sigmoid/MSE: ReLU family per layer and weight decay stay in the structured engine; softmax and
# cross-entropy go to the generic engine.  Same yardstick (2r) as above.
NEW_ARCHITECTURES = [
    # sizes, activation(s), reduction, weight decay, with units exactly at the kink
    ([4, 6, 3, 2], ["relu", "relu", "sigmoid"], "half_sum", 0.0, True),
    ([5, 7, 3], ["leaky_relu:0.1", "identity"], "mean", 0.3, True),
    ([3, 5, 4, 1], ["tanh", "relu", "sigmoid"], "sum", 0.05, False),
    ([6, 4, 2], "relu", "half_sum", 1.0, False),
]


def make_new(sizes, activation, reduction, decay, at_kink, seed=3):
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, len(sizes)):
        params[f"W{l}"] = rng.uniform(-1, 1, (sizes[l - 1], sizes[l]))
        params[f"b{l}"] = rng.uniform(-1, 1, sizes[l])
    X = rng.standard_normal((5, sizes[0]))
    if at_kink:
        # Sample 0 is all zeros and the first-layer biases of units 0 and 2 are 0: z1[0, 0] = z1[0, 2] = 0.
        X[0] = 0.0
        params["b1"][[0, 2]] = 0.0
    net = gc.DenseNet.from_params(params, activation=activation, reduction=reduction, weight_decay=decay)
    return net, X, rng.uniform(0, 1, (5, sizes[-1]))


def kinks(net, X, y):
    """The network check's kink registry: which entries a random-direction probe must leave at rest."""
    return KinkRegistry(net, X, y, Backprop(net, net.forward_cache(X), y).run())


@pytest.mark.parametrize("method", LOCAL_METHODS)
@pytest.mark.parametrize("arch", NEW_ARCHITECTURES, ids=lambda a: "-".join(map(str, a[0])) + f"-{a[1]}-{a[3]}")
def test_relu_family_and_weight_decay_equal_the_generic_engine(arch, method):
    net, X, y = make_new(*arch)
    # The random-direction measurements (noise, complex probe) must not cross a kink, as in check_network.
    still = kinks(net, X, y).still_params()
    engine = StructuredEngine.for_params(net, X, y, still=still)
    fast = engine.gradient(method)
    slow = LossEngine(net.loss_closure(X, y), dict(net.params), still=still).gradient(method)
    assert not any("structured engine not used" in n for n in fast.notes)
    assert_same_as_generic(fast, slow, net.n_layers, engine)


@pytest.mark.parametrize("method", ["central", "complex", "forward"])
def test_relu_deltas_equal_the_generic_engine(method):
    net, X, y = make_new([4, 6, 3, 2], ["relu", "leaky_relu", "sigmoid"], "half_sum", 0.1, True)
    cache = net.forward_cache(X)
    for layer in range(1, net.n_layers + 1):
        z = np.array(cache.zs[layer - 1])
        loss = _z_loss(net, layer, y)
        still = kinks(net, X, y).still_z(layer)
        engine = StructuredEngine.for_deltas(net, layer, z, y, loss, still=still)
        fast = engine.gradient(method)
        slow = LossEngine(loss, {"z": z}, still=still).gradient(method)
        assert_same_as_generic(fast, slow, net.n_layers - layer + 1, engine)


@pytest.mark.parametrize("activation, loss", [(["tanh", "softmax"], "mse")])
def test_mse_of_a_softmax_output_goes_to_the_generic_engine(activation, loss):
    """A softmax output under MSE is outside the structured model (cross-entropy is inside: test_structured_ce)."""
    net = gc.DenseNet([4, 5, 3], activation=activation, loss=loss, weight_decay=0.01, seed=0)
    X = np.random.default_rng(0).standard_normal((4, 4))
    y = np.eye(3)[[0, 1, 2, 1]]
    fast = structured_gradient(net, X, y, "central")
    slow = LossEngine(net.loss_closure(X, y), dict(net.params)).gradient("central")
    assert any(n.startswith("structured engine not used (") for n in fast.notes)
    for name in slow.values:  # the same engine on the same closure: the same numbers
        np.testing.assert_array_equal(fast.values[name], slow.values[name])


@pytest.mark.parametrize("arch", ARCHITECTURES[:5], ids=lambda a: "-".join(map(str, a[0])) + f"-{a[3]}")
def test_the_complex_step_as_tangents_equals_complex_arithmetic(arch, monkeypatch):
    """Carrying only the imaginary parts (the tangents) gives the complex pass's numbers, to rounding."""
    from gradcheck.numerical import responses as structured

    net, X, y = make(*arch)
    tangents = structured_gradient(net, X, y, "complex")
    monkeypatch.setattr(structured, "TANGENT_STEP", 0.0)  # every ψ through complex arithmetic
    complex_pass = structured_gradient(net, X, y, "complex")
    assert_same_as_generic(tangents, complex_pass, net.n_layers)
    # deltas too: the tangent starts at the perturbed layer's own unit
    cache = net.forward_cache(X)
    for layer in range(1, net.n_layers + 1):
        z, loss = np.array(cache.zs[layer - 1]), _z_loss(net, layer, y)
        via_complex = StructuredEngine.for_deltas(net, layer, z, y, loss).gradient("complex")
        monkeypatch.setattr(structured, "TANGENT_STEP", 1e-15)
        via_tangent = StructuredEngine.for_deltas(net, layer, z, y, loss).gradient("complex")
        monkeypatch.setattr(structured, "TANGENT_STEP", 0.0)
        assert_same_as_generic(via_tangent, via_complex, net.n_layers - layer + 1)


def test_slopes_are_relatively_accurate_in_saturated_tails():
    """f'(z) from a complex step of f keeps its relative accuracy where a(1 − a) loses it (a rounds near 1)."""
    net = gc.DenseNet([1, 1], seed=0)
    net.params["W1"][...] = 1.0
    net.params["b1"][...] = 0.0
    X = np.array([[-30.0], [0.5], [30.0]])
    rs = StructuredEngine.for_params(net, X, np.zeros((3, 1))).rs
    exact = np.exp(-np.abs(X[:, 0])) / (1 + np.exp(-np.abs(X[:, 0]))) ** 2
    np.testing.assert_allclose(rs.slope(1)[:, 0], exact, rtol=8 * EPS)
    a = rs.cache.a(1)[:, 0]
    assert abs(a[2] * (1 - a[2]) - exact[2]) > 1e-6 * exact[2]  # the form from a would not be

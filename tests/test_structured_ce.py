"""The structured engine on cross-entropy networks: the generic engine's numbers, without cancellation.

Error models:

* Engines against each other: as in ``test_structured`` (``assert_same_as_generic``): the two
  apply the same rule to the same steps and σ, so their values differ by the rounding of the
  differences, within 2r (r the generic round-off term), plus the structured engine's own
  bounds where it adds them to its estimates.
* One unit response against the exact loss change (the decimal module, 50 digits, from the same float
  logits): the cancellation-free forms round relative to their terms.  p and q carry the
  softmax's rounding, (m + 3)ε relative; each expm1, product, sum of m terms and log1p adds
  ε, so |ψ − ψ_exact| ≤ (2m + 8)ε·Σ|terms| with Σ|terms| = Σ_c y_c·Σ_k p_k|expm1(Δ_k − Δ_c)|
  (sigmoid: Σ y·q|expm1(−Δ)| + (1 − y)·p|expm1(Δ)|).  Asserted with a margin of 4 on that
  bound; the generic loss difference is off by ε·|ℓ| instead, which near a fit is far larger.
* Estimates against the truth: as in ``test_structured_estimates``: actual ≤ 1.25·estimate +
  16ε·|g| against the complex step.
"""

from __future__ import annotations

import decimal

import numpy as np
import pytest
from _bounds import amplification, loss_rounding, roundoff
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_structured import assert_same_as_generic, kinks

import gradcheck as gc
from gradcheck.catalogue.bugs import CATALOGUE
from gradcheck.numerical.engine import LossEngine
from gradcheck.numerical.output_loss import ce_logits_change, ce_unit_change
from gradcheck.numerical.rules import LOCAL_METHODS, ROUNDOFF_FACTOR, RULES
from gradcheck.numerical.structured import StructuredEngine
from gradcheck.strategies import dense_nets
from gradcheck.verify.network import _z_loss

EPS = float(np.finfo(np.float64).eps)
CONTEXT = decimal.Context(prec=50)


def ce_nets(hidden=("relu", "tanh", "sigmoid")):
    return dense_nets(activations=hidden, output_activations=("sigmoid", "softmax"), losses=("cross_entropy",),
                      reductions=("sum", "mean"), min_layers=1, max_layers=3, max_width=5, max_samples=6)


def one_hot(y, net):
    """The drawn soft targets as one-hot rows (their largest entry), for a softmax output."""
    if net.activations[-1].name != "softmax":
        return np.round(y)
    return np.eye(y.shape[1])[np.argmax(y, axis=1)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ce_nets(), st.sampled_from(LOCAL_METHODS), st.booleans())
def test_drawn_ce_nets_equal_the_generic_engine(case, method, hard):
    net, X, y = case
    if hard:
        y = one_hot(y, net)
    still = kinks(net, X, y).still_params()  # as check_network: probes never cross a ReLU kink
    engine = StructuredEngine.for_params(net, X, y, still=still)
    assert engine.fallback is None
    fast = engine.gradient(method)
    slow = LossEngine(net.loss_closure(X, y), dict(net.params), still=still).gradient(method)
    assert_ce_same_as_generic(fast, slow, engine, net, X, y)


def assert_ce_same_as_generic(fast, slow, engine, net, X, y):
    """``assert_same_as_generic``, with the generic value's rounding bounded by a running bound of the loss.

    The generic engine's round-off term r scales with |L|, but cross-entropy from the logits,
    s·lse(z) − ⟨y, z⟩, rounds relative to |lse| and |z|, which cancel near a fit or with a
    small loss: its value may then exceed r by amplification·2R/h, R the loss's running
    rounding bound (``_bounds.loss_rounding``, the perturbed group widened by the largest step).
    The estimates are formed from the same differences, so they differ by as much, plus the
    structured engine's own round-off term, which only it adds.  The complex step: as in
    ``assert_same_as_generic``.
    """
    if set(fast.methods.values()) == {"complex"}:
        assert_same_as_generic(fast, slow, net.n_layers, engine)
        return
    assert fast.loss_value == slow.loss_value and fast.loss_noise == slow.loss_noise
    for name in slow.values:
        h = slow.steps[name]
        np.testing.assert_array_equal(fast.steps[name], h)
        widen = {name: float(np.max(np.abs(RULES[fast.methods[name]].offsets))) * float(np.max(h))}
        R = loss_rounding(net, net.params, X, y, widen)
        loose = roundoff(slow, name, net.n_layers) + amplification(fast.methods[name]) * 2 * R / h
        own = _own(engine, fast, name)
        assert np.all(np.abs(fast.values[name] - slow.values[name]) <= 2 * loose + own), name
        assert np.all(np.abs(fast.errors[name] - slow.errors[name]) <= 2 * loose + own), name


def _own(engine, fast, name):
    """The structured engine's own round-off term c·κ·R/h (see test_structured)."""
    R = engine.difference_rounding(name, np.arange(fast.values[name].size), EPS)
    return 2 * RULES[fast.methods[name]].roundoff * ROUNDOFF_FACTOR * np.reshape(
        R / fast.steps[name].ravel(), fast.steps[name].shape)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ce_nets(), st.sampled_from(["central", "complex", "forward"]))
def test_drawn_ce_deltas_equal_the_generic_engine(case, method):
    net, X, y = case
    cache = net.forward_cache(X)
    registry = kinks(net, X, y)
    for layer in range(1, net.n_layers + 1):
        z = np.array(cache.zs[layer - 1])
        loss = _z_loss(net, layer, y)
        still = registry.still_z(layer)
        engine = StructuredEngine.for_deltas(net, layer, z, y, loss, still=still)
        fast = engine.gradient(method)
        slow = LossEngine(loss, {"z": z}, still=still).gradient(method)
        assert_same_as_generic(fast, slow, net.n_layers - layer + 1, engine)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("bias", [True, False])
def test_weight_decay_and_both_reductions_equal_the_generic_engine(output, reduction, bias):
    rng = np.random.default_rng(3)
    net = gc.DenseNet([5, 7, 6, 4], activation=["relu", "tanh", output], loss="cross_entropy", reduction=reduction,
                      bias=bias, weight_decay=0.05, seed=3)
    X = rng.standard_normal((9, 5))
    y = np.eye(4)[rng.integers(0, 4, 9)] if output == "softmax" else rng.integers(0, 2, (9, 4)).astype(float)
    still = kinks(net, X, y).still_params()
    for method in ("central", "richardson", "complex"):
        engine = StructuredEngine.for_params(net, X, y, still=still)
        fast = engine.gradient(method)
        slow = LossEngine(net.loss_closure(X, y), dict(net.params), still=still).gradient(method)
        assert not any("structured engine not used" in n for n in fast.notes)
        assert_same_as_generic(fast, slow, net.n_layers, engine)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ce_nets(hidden=("sigmoid", "tanh")))
def test_ce_estimates_are_not_optimistic(case):
    net, X, y = case
    engine = StructuredEngine.for_params(net, X, y)
    truth = engine.gradient("complex")
    for method in [m for m in LOCAL_METHODS if m != "complex"]:
        g = engine.gradient(method)
        for name in net.params:
            actual = np.abs(g.values[name] - truth.values[name])
            allowed = 1.25 * g.errors[name] + 16 * EPS * np.abs(truth.values[name])
            assert np.all(actual <= allowed), (method, name, float(np.max(actual / allowed)))


# -- one unit response against the exact loss change ------------------------------------------------------


def _exact(kind, z, y, dz):
    """ℓ(z + Δz) − ℓ(z) of one sample, in 50 digits from the float z, y and Δz taken as exact."""
    with decimal.localcontext(CONTEXT):
        z, y, dz = ([decimal.Decimal(float(v)) for v in a] for a in (z, y, dz))
        if kind == "sigmoid":
            def sp(v):
                return (1 + v.exp()).ln()
            return sum(sp(zk + dk) - sp(zk) - yk * dk for zk, yk, dk in zip(z, y, dz, strict=True))
        s = sum(y)

        def lse(v):
            return sum(vk.exp() for vk in v).ln()
        return s * (lse([zk + dk for zk, dk in zip(z, dz, strict=True)]) - lse(z)) - sum(
            yk * dk for yk, dk in zip(y, dz, strict=True))


def _terms(kind, p, q, y, dz):
    """Σ|terms| of the cancellation-free form (see the module docstring); shape (R,)."""
    if kind == "sigmoid":
        return np.sum(y * q * np.abs(np.expm1(-dz)) + (1 - y) * p * np.abs(np.expm1(dz)), axis=1)
    return np.array([sum(y[r, c] * np.sum(p[r] * np.abs(np.expm1(dz[r] - dz[r, c]))) for c in range(dz.shape[1]))
                     for r in range(len(dz))])


@pytest.mark.parametrize("kind", ["softmax", "sigmoid"])
@pytest.mark.parametrize("fit", [1.0, 12.0, 30.0])
@pytest.mark.parametrize("shift", [1e-9, 1e-4, 3.0])
def test_unit_responses_have_no_cancellation(kind, fit, shift):
    """Near a fit (logits ``fit`` apart), ψ keeps its relative accuracy where the loss difference would not."""
    rng = np.random.default_rng(int(fit))
    m, N = 4, 6
    labels = rng.integers(0, m, N)
    y = np.eye(m)[labels]
    # Logits that fit the targets by ``fit``: the loss is ~e^(−fit) per sample, ψ smaller still.
    W = np.where(y > 0, fit, -fit * (kind == "sigmoid")) + 0.3 * rng.standard_normal((N, m))
    net = gc.DenseNet.from_params({"W1": np.eye(m)}, activation=kind, loss="cross_entropy")
    engine = StructuredEngine.for_params(net, W, y)
    rs = engine.rs
    n = np.arange(N)
    dz = shift * rng.standard_normal((N, m))
    p, q = rs.output_p, rs.rest_q
    psi = ce_logits_change(rs, n, dz)
    naive_over = 0  # samples where the difference of two losses (the generic engine's) misses the bound
    for r in range(N):
        exact = float(_exact(kind, W[r], y[r], dz[r]))
        bound = 4 * (2 * m + 8) * EPS * float(_terms(kind, p, q, y, dz)[r])
        if shift > 1:  # the direct difference of the two losses: rounds relative to the losses
            bound += 4 * (2 * m + 8) * EPS * float(np.sum(np.abs(W[r] + dz[r])) + np.sum(np.abs(y[r] * dz[r])))
        assert abs(psi[r] - exact) <= bound, (r, psi[r], exact, bound)
        naive = net.criterion.from_logits((W[r] + dz[r])[None], y[r:r + 1]) - net.criterion.from_logits(
            W[r][None], y[r:r + 1])
        naive_over += abs(naive - exact) > bound
    if fit >= 12 and shift < 1:  # the bound discriminates: there the naive difference loses digits
        assert naive_over > 0
    # The output layer's own unit: one logit moved.
    j = labels.copy()
    t = shift * rng.standard_normal(N)
    own = ce_unit_change(rs, n, j, t)
    for r in range(N):
        d = np.zeros(m)
        d[j[r]] = t[r]
        exact = float(_exact(kind, W[r], y[r], d))
        bound = 4 * (2 * m + 8) * EPS * float(_terms(kind, p[r:r + 1], q[r:r + 1], y[r:r + 1], d[None])[0])
        if shift > 1:
            bound += 4 * (2 * m + 8) * EPS * (float(np.sum(np.abs(W[r] + d))) + abs(t[r]))
        assert abs(own[r] - exact) <= bound, (r, own[r], exact, bound)


# -- the network check ------------------------------------------------------------------------------------------


def _relu_softmax(seed=5, N=12, decay=0.0):
    rng = np.random.default_rng(seed)
    net = gc.DenseNet([6, 8, 8, 4], activation=["relu", "relu", "softmax"], loss="cross_entropy", seed=seed,
                      weight_decay=decay)
    X = rng.standard_normal((N, 6))
    return net, X, np.eye(4)[rng.integers(0, 4, N)]


@pytest.mark.parametrize("method", ["auto", "central"])
def test_relu_softmax_nets_pass_check_network_on_the_structured_engine(method):
    net, X, y = _relu_softmax()
    # A sample on a kink of the first layer: the kink machinery must still wrap the engine.
    X[0] -= (X[0] @ net.params["W1"][:, 0] + net.params["b1"][0]) / np.sum(net.params["W1"][:, 0] ** 2) * \
        net.params["W1"][:, 0]
    report = gc.check_network(net, X, y, method, diagnostics=method == "auto")
    assert report.passed, [n for n in report.notes]
    assert not any("structured engine not used" in n for n in report.notes)
    assert any(n.startswith("structured engine (") for n in report.notes)
    assert sum(g.kink_entries for g in report.groups) > 0  # the kink was seen and checked one-sided


@pytest.mark.parametrize("name", ["softmax-jacobian-diagonal", "relu-derivative-one", "first-sample-only",
                                  "corrupted-entry", "mean-weights", "decay-on-biases", "decay-not-divided-by-n"])
def test_planted_bugs_in_a_ce_backprop_are_caught_and_located(name):
    net, X, y = _relu_softmax(seed=7, decay=0.01)
    bug = CATALOGUE[name]
    assert bug.applies(net, X)
    affected = bug.affected_groups(net, X, y)
    assert affected
    report = gc.check_network(net, X, y, backward=bug.backward(net, X, y), diagnostics=False)
    assert not any("structured engine not used" in n for n in report.notes)
    assert not report.passed
    assert report.failed_groups == affected

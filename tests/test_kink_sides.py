"""The sides of a moved point formed from the pass at θ equal those of a fresh forward pass."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradcheck as gc
import gradcheck.verify.kinks as verify_kinks
from gradcheck.catalogue.bugs import CATALOGUE
from gradcheck.numerical.kink_sides import MovedSides
from gradcheck.verify.kinks import KinkRegistry

ACTIVATIONS = ["relu", "leaky_relu", "sigmoid", "tanh", "identity"]


@st.composite
def kinked_nets(draw):
    """A small float64 net with at least one kinked layer, its data and a seed for the moves."""
    depth = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 6), min_size=depth + 1, max_size=depth + 1))
    acts = draw(st.lists(st.sampled_from(ACTIVATIONS), min_size=depth, max_size=depth))
    acts[draw(st.integers(0, depth - 1))] = draw(st.sampled_from(["relu", "leaky_relu"]))
    seed = draw(st.integers(0, 2**16))
    net = gc.DenseNet(sizes, activation=acts, bias=draw(st.booleans()), seed=seed)
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 25))
    # Gaussian data: a pre-activation within rounding of a kink (where the two passes' summation
    # orders could disagree on its side) has probability about 1e-15.
    return net, rng.standard_normal((n, sizes[0])), rng.random((n, sizes[-1])), rng


def _fresh(registry: KinkRegistry, net: gc.DenseNet, X: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    return registry._sides(net.forward_cache(X, params).z, 1)


@settings(max_examples=150, deadline=None)
@given(kinked_nets(), st.integers(1, 3), st.booleans())
def test_moved_sides_are_a_fresh_pass_sides(drawn, block, screened):
    net, X, y, rng = drawn
    registry = KinkRegistry(net, X, y, net.backward(X, y))
    # Screened: only the samples whose move reaches half their threshold are formed.
    moved = MovedSides(net, registry.reference.cache, block, thresholds=registry.screen.kept if screened else None)
    base = moved.base()
    assert np.array_equal(base, _fresh(registry, net, X, net.params))
    for name, p in net.params.items():
        for _ in range(4):
            i = int(rng.integers(p.size))
            # Moves from rounding-sized to ones that flip most units.
            t = float(rng.choice([-1, 1]) * 10.0 ** rng.uniform(-9, 0.5))
            point = {k: v.copy() for k, v in net.params.items()}
            point[name].flat[i] += t
            rows, sides = moved.moved(name, i, t)
            assert np.all(np.diff(rows) > 0)
            whole = base.copy()
            whole[rows] = sides
            assert np.array_equal(whole, _fresh(registry, net, X, point)), (name, i, t)
            # Only samples whose sides changed are listed.
            assert not np.any(np.all(sides == base[rows], axis=1))


@st.composite
def losses(draw):
    """A kinked net with a drawn loss, reduction and weight decay, its validated data and an rng."""
    net, X, y, rng = draw(kinked_nets())
    spec = draw(st.sampled_from([("mse", "half_sum"), ("mse", "sum"), ("mse", "mean"), ("cross_entropy", "sum"),
                                 ("cross_entropy", "mean")]))
    output = draw(st.sampled_from(["sigmoid", "softmax"])) if spec[0] == "cross_entropy" else None
    acts = [f.name for f in net.activations[:-1]] + ([output] if output else [net.activations[-1].name])
    if output and not any(f.kinks for f in net.activations[:-1]):
        return draw(losses())  # the output was the only kinked layer
    net = gc.DenseNet(net.sizes, activation=acts, loss=spec[0], reduction=spec[1], bias=net.bias,
                      weight_decay=draw(st.sampled_from([0.0, 0.3])), seed=0)
    if output == "softmax":
        y = np.eye(net.sizes[-1])[rng.integers(0, net.sizes[-1], X.shape[0])]
    return net, *net.checked_data(X, y), rng


@settings(max_examples=100, deadline=None)
@given(losses(), st.integers(1, 4))
def test_the_formed_loss_change_is_two_loss_calls_difference(drawn, block):
    net, X, y, rng = drawn
    moved = MovedSides(net, net.forward_cache(X), block, y)
    assert moved.forms_loss
    loss = net.loss_closure(X, y)
    f0 = float(loss(net.params))
    eps = np.finfo(np.float64).eps
    for name, p in net.params.items():
        i = int(rng.integers(p.size))
        t = float(rng.choice([-1, 1]) * 10.0 ** rng.uniform(-4, -1))
        point = {k: v.copy() for k, v in net.params.items()}
        point[name].flat[i] += t
        f1 = float(loss(point))
        # Both sides round at most a few thousand ε of the loss values in these small nets; 2^20 ε leaves a
        # margin of hundreds, and a wrong term (a mean's 1/N, the decay) is off by O(t·∂L/∂θ) instead.
        assert abs(moved.loss_change(name, i, t) - (f1 - f0)) <= 2**20 * eps * (abs(f0) + abs(f1)), (name, i, t)


def test_a_move_past_the_last_kinked_layer_changes_nothing():
    net = gc.DenseNet([3, 4, 2], activation=["relu", "sigmoid"], seed=0)
    X = np.random.default_rng(0).standard_normal((5, 3))
    moved = MovedSides(net, net.forward_cache(X), 2)
    rows, sides = moved.moved("W2", 3, 10.0)
    assert rows.size == 0 and sides.shape == (0, 4)


@pytest.mark.parametrize("bug", [None, "relu-derivative-one", "factor-two"])
def test_the_network_check_is_unchanged_by_the_formed_sides(monkeypatch, bug):
    """Kink entries, their one-sided values and the verdicts: as with a fresh pass per move."""
    rng = np.random.default_rng(3)
    net = gc.DenseNet([6, 12, 8, 2], activation=["relu", "leaky_relu", "sigmoid"], seed=1)
    X, y = rng.standard_normal((300, 6)), rng.random((300, 2))
    # Sample u puts unit u of layer 1 at its kink (to rounding): every entry feeding it crosses there.
    units = np.arange(12)
    net.params["b1"][:] = -(X[units] @ net.params["W1"])[units, units]
    backward = None if bug is None else CATALOGUE[bug].backward(net, X, y)

    def run() -> gc.NetworkReport:
        return gc.check_network(net, X, y, method="central", deltas=False, diagnostics=False, backward=backward)

    formed = run()
    monkeypatch.setattr(verify_kinks, "MovedSides", lambda *args: None)
    fresh = run()
    assert formed.verdict == fresh.verdict == ("passed" if bug is None else "failed")
    for a, b in zip(formed.groups, fresh.groups, strict=True):
        assert (a.name, a.verdict, a.kink_entries) == (b.name, b.verdict, b.kink_entries)
        if not a.passed:  # a passing group's least-inside entry is a matter of rounding
            assert a.worst_index == b.worst_index
        # The same entries at a kink; their one-sided values are printed to 4 digits, which rounding may move.
        assert [re.sub(r"-?[0-9.]+(e[-+][0-9]+)?(?= |$|,)", "#", n) for n in a.notes] == \
            [re.sub(r"-?[0-9.]+(e[-+][0-9]+)?(?= |$|,)", "#", n) for n in b.notes]
        # One-sided values from the reached samples' loss terms against two whole loss calls: equal within
        # the tolerance (whose error estimates charge the whole loss's rounding to both).
        assert np.all(np.abs(a.numerical - b.numerical) <= np.minimum(a.tolerance, b.tolerance))
    assert sum(g.kink_entries or 0 for g in formed.groups) > 20, [g.kink_entries for g in formed.groups]  # it met kinks


def test_progress_moves_through_the_kink_phase(monkeypatch):
    """The screens and one-sided measurements are the bar's last tenth: reported as they go, never backwards."""
    rng = np.random.default_rng(3)
    net = gc.DenseNet([6, 12, 8, 2], activation=["relu", "relu", "sigmoid"], seed=1)
    X, y = rng.standard_normal((300, 6)), rng.random((300, 2))
    units = np.arange(12)
    net.params["b1"][:] = -(X[units] @ net.params["W1"])[units, units]
    events: list[tuple[int, int] | str] = []
    formed = MovedSides.loss_change

    def marked(self, *args):
        events.append("one-sided")
        return formed(self, *args)

    monkeypatch.setattr(MovedSides, "loss_change", marked)
    report = gc.check_network(net, X, y, method="central", deltas=False, diagnostics=False,
                              progress=lambda done, total: events.append((done, total)))
    P = sum(p.size for p in net.params.values())
    assert sum(g.kink_entries or 0 for g in report.groups) > 20
    seen = [e for e in events if isinstance(e, tuple)]
    assert {t for _, t in seen} == {P} and seen[-1] == (P, P)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    # Between the first and the last one-sided measurement the bar moves, short of the total.
    first, last = events.index("one-sided"), len(events) - events[::-1].index("one-sided")
    during = [e[0] for e in events[first:last] if isinstance(e, tuple)]
    assert len(during) >= 2 and 0.9 * P <= min(during) and max(during) < P

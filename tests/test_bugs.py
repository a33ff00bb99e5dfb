"""The bug catalogue: every planted mistake is detected, located exactly and diagnosed."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gradcheck as gc
from gradcheck.catalogue.bugs import CATALOGUE, Hooks, textbook_backward
from gradcheck.catalogue.detection import ARCHITECTURES, _architecture, stress_set

CASES = [(bug, arch) for bug in CATALOGUE for arch in ARCHITECTURES
         if CATALOGUE[bug].applies(*_architecture(arch[1], arch[2], arch[3], 1)[:2])]


def test_catalogue_has_at_least_fifteen_distinct_mistakes():
    assert len(CATALOGUE) >= 15
    assert len({b.description for b in CATALOGUE.values()}) == len(CATALOGUE)


def test_every_bug_applies_to_some_architecture():
    for bug in CATALOGUE.values():
        applicable = [a for a in ARCHITECTURES if bug.applies(*_architecture(a[1], a[2], a[3], 1)[:2])]
        assert applicable, bug.name


def test_textbook_backward_without_hooks_is_backprop():
    net, X, y = _architecture([5, 7, 3, 2], True, 6, 1)
    mine, ref = textbook_backward(net, X, y, Hooks()), net.backward(X, y)
    for k in net.params:
        np.testing.assert_allclose(mine.gradients[k], ref.gradients[k], rtol=1e-14, atol=0)
    for d1, d2 in zip(mine.deltas, ref.deltas):
        np.testing.assert_allclose(d1, d2, rtol=1e-14, atol=0)


@pytest.mark.parametrize("bug,arch", CASES, ids=[f"{b}-{a[0].split()[0]}" for b, a in CASES])
def test_bug_is_detected_located_and_diagnosed(bug, arch):
    _, sizes, bias, samples = arch
    net, X, y = _architecture(sizes, bias, samples, 1)
    b = CATALOGUE[bug]
    affected = b.affected_groups(net, X, y)
    assert affected, "a catalogued bug must change some gradient"
    report = gc.check_network(net, X, y, backward=b.backward(net, X, y), diagnostics=False)
    assert not report.passed
    assert report.failed_groups == affected
    assert report.diagnoses and report.diagnoses[0].cause == b.cause


def test_affected_groups_are_computed_not_typed():
    # The same mistake affects different groups on different architectures.
    b = CATALOGUE["hidden-derivative-missing"]
    two = _architecture([3, 5, 2], False, 4, 1)
    three = _architecture([3, 4, 4, 1], False, "xor", 1)
    assert b.affected_groups(*two) == ["W1"]
    assert b.affected_groups(*three) == ["W1", "W2"]


def test_missing_transpose_only_on_square_weights():
    b = CATALOGUE["missing-transpose"]
    net, X, _ = _architecture([3, 5, 2], False, 4, 1)
    assert not b.applies(net, X)
    net, X, _ = _architecture([3, 4, 4, 1], False, "xor", 1)
    assert b.applies(net, X)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
@example(3)  # a saturated net with a one-output layer
def test_stress_set_has_no_false_alarm(seed):
    # The last of the first k nets cycles through every regime as k varies.
    *_, (regime, net, X, y) = stress_set(1 + seed % 7, seed=seed)
    grads = net.gradients(X, y)
    loss = net.loss_function(X.astype(np.float64), y.astype(np.float64))
    report = gc.check_params(loss, net.params, grads)
    assert report.passed, (regime, net, str(report))
    assert gc.check_network(net, X, y, diagnostics=False).passed, (regime, net)

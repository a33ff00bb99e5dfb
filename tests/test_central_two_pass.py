"""check_params' central differences in two passes give the 4-call rule's verdicts.

check_params measures f(θ ± h) for every entry and adds f(θ ± 2h) only where
the round-off bound alone flags the entry.  The yardstick is the same check run
with the complete rule on every entry (``LossEngine(lazy_truncation=False)``):
verdicts, mismatch counts, worst entries and the flagged entries' numbers must
be identical, and the loss must be called 2 times per entry plus 2 per flagged
entry.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gradcheck as gc
from gradcheck.interfaces.strategies import dense_nets
from gradcheck.numerical.engine import DETERMINISM_CALLS, LossEngine, RunOptions
from gradcheck.verify.core import flagged_entries, run_check
from gradcheck.verify.options import CheckOptions
from gradcheck.verify.step_guard import levels
from gradcheck.verify.tolerance import Tolerance, dtype_eps_grad

# f0 with the two determinism calls (once more at θ before and after the
# measurement), and the 9 calls of the rounding-noise measurement (which the
# two-pass rule makes only when it completes an entry).
F0_CALL, NOISE_CALLS = 1 + DETERMINISM_CALLS + 1, 9


def two_pass_calls(P, n_flagged):
    return F0_CALL + 2 * P + (NOISE_CALLS + 2 * n_flagged if n_flagged else 0)


def both(loss, params, grads):
    """(two-pass, complete) Measured of a central check."""
    out = []
    for lazy in (True, False):
        out.append(run_check(loss, params, grads, CheckOptions(method="central"),
                             engine=LossEngine(loss, params, RunOptions(), lazy_truncation=lazy)))
    return out


def plant(grads, kind, rng):
    """A copy of ``grads`` with one planted mistake."""
    bad = {k: v.copy() for k, v in grads.items()}
    name = list(bad)[rng.integers(len(bad))]
    g = bad[name]
    if kind == "entry":
        i = rng.integers(g.size)
        g.flat[i] = g.flat[i] * (1 + 10.0 ** rng.uniform(-9, -3)) + 1e-12
    elif kind == "sign":
        bad[name] = -g
    elif kind == "factor2":
        bad[name] = 2 * g
    return bad


def assert_same_verdicts(lazy, full):
    a, b = lazy.report, full.report
    assert a.passed == b.passed
    assert a.failed_groups == b.failed_groups
    for ga, gb in zip(a.groups, b.groups, strict=True):
        assert (ga.name, ga.n_mismatched) == (gb.name, gb.n_mismatched)
        if not gb.passed:
            # Flagged entries carry the complete estimate, so the entries
            # named as worst (largest |difference| / tolerance) are the same.
            # In a passing group the ranking is relative to round-off bounds.
            assert ga.worst_index == gb.worst_index
            assert ga.worst == gb.worst
        # D(h) is the same pair of loss values in both runs.
        np.testing.assert_array_equal(lazy.values[ga.name], full.values[gb.name])
        # Round-off bounds never exceed the complete estimate.
        assert np.all(lazy.errors[ga.name] <= full.errors[gb.name])


XOR = (gc.DenseNet([3, 4, 4, 1], seed=0), *gc.xor_data())


@settings(max_examples=40, deadline=None)
@given(dense_nets(max_width=6, max_samples=8), st.sampled_from(["none", "entry", "sign", "factor2"]),
       st.integers(0, 2**16))
@example(XOR, "none", 0)
@example(XOR, "entry", 3)
def test_two_pass_gives_the_complete_rules_verdicts(data, kind, seed):
    net, X, y = data
    grads = net.gradients(X, y)
    if kind != "none":
        grads = plant(grads, kind, np.random.default_rng(seed))
    loss = net.loss_closure(X, y)
    params = dict(net.params)
    lazy, full = both(loss, params, grads)
    assert_same_verdicts(lazy, full)

    # The entries the first pass flags get the complete rule's estimate, and
    # cost 2 more calls each.
    first = LossEngine(loss, params, lazy_truncation=True).gradient("central")
    tol = Tolerance()
    n_flagged = 0
    for k, p in params.items():
        idx = flagged_entries(grads[k], first.values[k], first.errors[k], dtype_eps_grad(p, first.precision),
                              tol, first.loss_value, p, None)
        np.testing.assert_array_equal(lazy.errors[k].flat[idx], full.errors[k].flat[idx])
        n_flagged += idx.size
    P = sum(v.size for v in params.values())
    # The entries the complete rule cannot pass go through the step guard: 4 calls per smaller step.
    guarded = 4 * levels("central", float(np.finfo(np.float64).eps)) * sum(g.n_mismatched for g in full.report.groups)
    assert full.report.n_evaluations == F0_CALL + NOISE_CALLS + 4 * P + guarded
    assert lazy.report.n_evaluations == two_pass_calls(P, n_flagged) + guarded
    assert f"measured for the {n_flagged} entr" in " ".join(lazy.report.notes)
    assert n_flagged >= sum(g.n_mismatched for g in lazy.report.groups)


def test_truncation_clears_entries_that_round_off_alone_flags():
    # f = Σ exp(c·x): the central difference's truncation error h²c³e^{cx}/6
    # is ~1e-8 relative at c = 40, far above the round-off bound, so a correct
    # gradient is flagged by the first pass and cleared by the second.
    c = 40.0
    x = np.linspace(-0.05, 0.05, 7)
    loss = lambda p: np.sum(np.exp(c * p["x"]))  # noqa: E731
    grads = {"x": c * np.exp(c * x)}
    report = gc.check_params(loss, {"x": x}, grads, method="central")
    assert report.passed
    assert report.n_evaluations == two_pass_calls(x.size, x.size)
    assert "measured for the 7 entries" in " ".join(report.notes)
    # The same entry 1e-6 off is still caught, and located.
    wrong = {"x": grads["x"].copy()}
    wrong["x"][3] *= 1 + 1e-6
    report = gc.check_params(loss, {"x": x}, wrong, method="central")
    assert report.failed_groups == ["x"] and report.groups[0].worst_index == (3,)


@pytest.mark.parametrize("method", ["central", "auto"])
def test_progress_covers_the_second_pass(method):
    net = gc.DenseNet([4, 6, 3], seed=1)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 4)), rng.uniform(size=(5, 3))
    grads = net.gradients(X, y)
    grads["W1"] = -grads["W1"]  # all 24 entries flagged, then re-measured
    calls = []
    report = gc.check_params(net.loss_closure(X, y), dict(net.params), grads, method=method,
                             progress=lambda d, t: calls.append((d, t)))
    assert report.failed_groups == ["W1"]
    P = sum(v.size for v in net.params.values())
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert calls[-1] == (P + 24, P + 24)
    assert all(d <= t for d, t in calls)

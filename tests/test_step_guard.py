"""The step guard: entries a rule's step cannot pass are re-measured at smaller steps (no typical_scale)."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.verify.step_guard import levels


def bump(x):
    # Varies on a scale of 1e-8 at x[0] = 1e-8: every default step (≥ 1.5e-8) steps over it.
    return np.exp(-(((x[0] - 2e-8) / 1e-8) ** 2)) + x[1] ** 2


def bump_grad(x):
    return np.array([np.exp(-(((x[0] - 2e-8) / 1e-8) ** 2)) * (-2 * (x[0] - 2e-8) / 1e-16), 2 * x[1]])


X0 = np.array([1e-8, 0.5])


@pytest.mark.parametrize("method", ["central", "richardson", "central4", "forward"])
def test_a_loss_finer_than_the_step_passes_without_typical_scale(method):
    # Before the guard: numerical 0 ± 0 against 7.4e7, "failed" (an "indexing slip").
    report = gc.check_grad(bump, bump_grad, X0, method=method)
    assert report.passed
    assert any("step guard" in n for n in report.notes)
    # Still a check: a 1e-3 relative error in that entry fails.  The kept step's
    # truncation estimate, (h/1e-8)^p at h ≤ 1e-10 (4e-9 for forward), is far below it.
    wrong = bump_grad(X0) * np.array([1 + 1e-3, 1.0])
    assert gc.check_grad(bump, wrong, X0, method=method).verdict == "failed"


@pytest.mark.parametrize("method", ["central", "richardson", "central4"])
def test_the_guard_keeps_a_resolved_measurement(method):
    # On a loss the first step resolves, the first measurement agrees with every
    # smaller step and has the smallest estimate: the guard keeps it, so an error the
    # first step resolves stays resolved (central resolves ~1e-9 relative here).
    w = np.array([1.0, -2.0, 0.5, 3.0])
    g = 2 * np.sin(w) * np.cos(w)
    wrong = g * np.array([1.0, 1.0 + 1e-6, 1.0, 1.0])
    report = gc.check_grad(lambda x: np.sum(np.sin(x) ** 2), lambda x: wrong, w, method=method)
    assert report.failed_groups == ["x"] and report.groups[0].worst_index == (1,)
    assert any("0 kept a smaller step" in n for n in report.notes)


def test_correct_gradients_cost_nothing_more():
    # Only entries the first measurement cannot pass are guarded.
    w = np.array([1.0, -2.0, 0.5, 3.0])
    report = gc.check_grad(lambda x: np.sum(np.sin(x) ** 2), lambda x: 2 * np.sin(x) * np.cos(x), w,
                           method="richardson")
    assert report.passed and not any("step guard" in n for n in report.notes)
    assert report.n_evaluations < 6 * w.size + 20  # the rule's calls plus the fixed calls at rest


def test_levels_reach_the_same_floor():
    eps = float(np.finfo(np.float64).eps)
    floors = {r: eps ** gc.numerical.rules.RULES[r].exponent / 16.0 ** levels(r, eps)
              for r in ("forward", "central", "central4", "richardson")}
    assert all(eps ** (2 / 3) / 16 < f <= eps ** (2 / 3) for f in floors.values())

"""assert_gradients: silent on success, an actionable GradientMismatch on failure."""

from __future__ import annotations

import re

import numpy as np
import pytest

import gradcheck as gc


def problem():
    rng = np.random.default_rng(7)
    net = gc.DenseNet([3, 5, 2], seed=3)
    X, y = rng.standard_normal((4, 3)), rng.uniform(0, 1, (4, 2))
    return net.loss_closure(X, y), net.params, net.gradients(X, y)


def with_error(grads, name, index, rel):
    out = {k: v.copy() for k, v in grads.items()}
    out[name][index] *= 1 + rel
    return out


class TestAssertGradients:
    def test_passes_silently_and_returns_the_report(self, recwarn):
        loss, params, grads = problem()
        report = gc.assert_gradients(loss, params, grads)
        assert isinstance(report, gc.CheckReport) and report.passed
        assert [g.name for g in report.groups] == ["W1", "b1", "W2", "b2"]
        assert len(recwarn) == 0

    def test_raises_gradient_mismatch_an_assertion_error(self):
        loss, params, grads = problem()
        with pytest.raises(AssertionError):
            gc.assert_gradients(loss, params, with_error(grads, "W2", (4, 1), 1e-5))
        assert issubclass(gc.GradientMismatch, AssertionError)

    def test_message_is_actionable(self):
        loss, params, grads = problem()
        with pytest.raises(gc.GradientMismatch) as info:
            gc.assert_gradients(loss, params, with_error(grads, "W2", (4, 1), 1e-5))
        message = str(info.value)
        for word in ("W2", "(4, 1)", "analytic", "numerical", "tolerance"):
            assert word in message, (word, message)
        # The failing group is marked, the passing ones are not.
        w2_row = next(line for line in message.splitlines() if line.startswith("W2 "))
        assert "FAIL" in w2_row
        w1_row = next(line for line in message.splitlines() if line.startswith("W1 "))
        assert "FAIL" not in w1_row

    def test_message_shows_both_values_to_enough_digits(self):
        loss, params, grads = problem()
        wrong = with_error(grads, "b1", (2,), 1e-6)
        with pytest.raises(gc.GradientMismatch) as info:
            gc.assert_gradients(loss, params, wrong)
        # The worst-entry table must print enough digits to see a 1e-6 difference.
        row = next(line for line in str(info.value).splitlines() if line.startswith("(2)"))
        analytic, numerical = (float(v) for v in row.split()[1:3])
        # 10 significant digits: each printed value is within half a unit of the 10th digit, 5e-10 relative.
        printed = 5e-10
        assert analytic == pytest.approx(wrong["b1"][2], rel=printed)
        # The numerical value is within its tolerance of the true gradient (the tolerance is at least
        # safety × its error estimate), plus the printing.
        tolerance = info.value.report.group("b1").worst_tolerance
        assert abs(numerical - grads["b1"][2]) <= tolerance + printed * abs(numerical)
        # So the printed difference, 1e-6 relative (5e-8 here), is off by at most 2·5e-10·0.05 + 3.5e-11:
        # 2e-3 of itself, within rel=1e-2.
        assert abs(analytic - numerical) / abs(numerical) == pytest.approx(1e-6, rel=1e-2)

    def test_report_is_attached(self):
        loss, params, grads = problem()
        with pytest.raises(gc.GradientMismatch) as info:
            gc.assert_gradients(loss, params, with_error(grads, "W1", (0, 3), -1e-4))
        report = info.value.report
        assert isinstance(report, gc.CheckReport)
        assert report.failed_groups == ["W1"]
        assert report.group("W1").worst_index == (0, 3)
        assert str(info.value) == report.failure_message()

    def test_counts_mismatched_entries(self):
        loss, params, grads = problem()
        wrong = {**grads, "W1": grads["W1"] * 1.01}
        with pytest.raises(gc.GradientMismatch) as info:
            gc.assert_gradients(loss, params, wrong)
        n = wrong["W1"].size
        assert re.search(rf"\b{n}/{n}\b", str(info.value)) or f"{n} of {n}" in str(info.value)

    def test_several_failing_groups_are_all_named(self):
        loss, params, grads = problem()
        wrong = {**grads, "b1": -grads["b1"], "W2": 2 * grads["W2"]}
        with pytest.raises(gc.GradientMismatch) as info:
            gc.assert_gradients(loss, params, wrong)
        assert info.value.report.failed_groups == ["b1", "W2"]
        assert "b1" in str(info.value) and "W2" in str(info.value)

    def test_options_are_passed_on(self):
        loss, params, grads = problem()
        wrong = with_error(grads, "W2", (0, 0), 1e-7)
        with pytest.raises(gc.GradientMismatch):
            gc.assert_gradients(loss, params, wrong)
        assert gc.assert_gradients(loss, params, wrong, rtol=1e-6).passed
        assert gc.assert_gradients(loss, params, grads, method="central").method == "central"

    def test_bad_input_is_invalid_argument_not_mismatch(self):
        loss, params, grads = problem()
        with pytest.raises(gc.InvalidArgument):
            gc.assert_gradients(loss, params, {"W1": grads["W1"]})

    def test_non_finite_gradient_raises(self):
        loss, params, grads = problem()
        bad = {**grads, "b2": np.array([np.nan, 0.0])}
        with pytest.raises(gc.GradientMismatch, match=r"not finite"):
            gc.assert_gradients(loss, params, bad)

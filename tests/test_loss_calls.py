"""How gradcheck calls a user's loss: a loss that writes into its argument, a loss that is not deterministic."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.numerical.engine import DETERMINISM_CALLS

W = np.array([1.0, -2.0, 0.5, 3.0])
G = 2 * np.sin(W) * np.cos(W)


def L(p):
    return np.sum(np.sin(p["w"]) ** 2)


def scribbling(p):
    value = L(p)
    p["w"][...] = 0  # after computing: every later call would see zeros
    return value


class TestMutation:
    @pytest.mark.parametrize("method", ["auto", "richardson", "forward", "central", "complex", "central4",
                                        "scipy-fprime", "directional"])
    def test_a_loss_writing_into_its_argument_is_an_error_naming_it(self, method):
        params = {"b": np.ones(2), "w": W.copy()}
        with pytest.raises(gc.LossEvaluationError, match=r"writes into its argument params\['w'\]"):
            gc.check_params(lambda p: scribbling(p) + np.sum(p["b"]), params,
                            {"b": np.ones(2), "w": G}, method=method)
        np.testing.assert_array_equal(params["w"], W)

    def test_also_on_an_executor_and_vectorized(self):
        with pytest.raises(gc.LossEvaluationError, match=r"params\['w'\]"):
            with ThreadPoolExecutor(2) as ex:
                gc.check_params(scribbling, {"w": W}, {"w": G}, method="central", executor=ex)

        def vectorized(p):
            value = np.sum(np.sin(p["w"]) ** 2, axis=-1)
            p["w"][..., 0] = 0
            return value

        with pytest.raises(gc.LossEvaluationError, match=r"params\['w'\]"):
            gc.check_params(vectorized, {"w": W}, {"w": G}, method="central", vectorized=True)

    def test_writing_into_its_own_copy_is_fine(self):
        def copying(p):
            w = p["w"].copy()
            w *= 1.0
            return np.sum(np.sin(w) ** 2)

        assert gc.check_params(copying, {"w": W}, {"w": G}).passed


class TestDeterminism:
    def test_a_loss_with_state_is_not_deterministic(self):
        calls = []

        def drifting(p):  # e.g. a running average or a counter kept between calls
            calls.append(1)
            return L(p) + 1e-6 * len(calls)

        report = gc.check_params(drifting, {"w": W}, {"w": G}, method="central")
        assert report.verdict == "inconclusive"
        reason = report.groups[0].inconclusive_reason
        assert reason.startswith("the loss is not deterministic: two calls at the same parameters returned")
        assert any("not deterministic" in n for n in report.notes)

    def test_a_deterministic_loss_costs_three_more_calls(self):
        # f0, DETERMINISM_CALLS repeats, 9 for the noise level, 6 per entry, one repeat at the end.
        report = gc.check_params(L, {"w": W}, {"w": G}, method="richardson")
        assert report.n_evaluations == 1 + DETERMINISM_CALLS + 9 + 6 * W.size + 1
        assert report.verdict == "passed"

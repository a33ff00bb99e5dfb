"""Diagnosis from the shape of the error, on check_params reports."""

import re

import numpy as np
import pytest

import gradcheck as gc


def _quadratic():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    params = {"M": rng.standard_normal((4, 4)), "v": rng.standard_normal(5)}

    def loss(p):
        return np.sum((A @ p["M"]) ** 2) / 2 + np.sum(np.sin(p["v"]))

    grads = {"M": A.T @ A @ params["M"], "v": np.cos(params["v"])}
    return loss, params, grads


def _cause(report):
    assert not report.passed
    return report.diagnoses[0].cause


@pytest.mark.parametrize("factor,cause", [(-1.0, "sign"), (2.0, "factor-2"), (0.5, "factor-2"),
                                          (3.7, "constant-factor")])
def test_constant_ratio(factor, cause):
    loss, params, grads = _quadratic()
    grads["v"] = factor * grads["v"]
    assert _cause(gc.check_params(loss, params, grads)) == cause


def test_transpose():
    loss, params, grads = _quadratic()
    grads["M"] = grads["M"].T.copy()
    report = gc.check_params(loss, params, grads)
    assert report.failed_groups == ["M"]
    assert _cause(report) == "transpose"


def test_single_entry():
    loss, params, grads = _quadratic()
    grads["M"] = grads["M"].copy()
    grads["M"][2, 1] += 1e-3
    report = gc.check_params(loss, params, grads)
    assert _cause(report) == "single-entry"
    assert "(2, 1)" in report.diagnoses[0].message


def test_regulariser():
    loss, params, grads = _quadratic()
    grads["M"] = grads["M"] + 0.01 * params["M"]
    assert _cause(gc.check_params(loss, params, grads)) == "regulariser"


def test_float16_precision():
    loss, params, grads = _quadratic()
    grads["M"] = grads["M"].astype(np.float16).astype(np.float64)
    assert _cause(gc.check_params(loss, params, grads)) == "precision"


def test_non_finite():
    loss, params, grads = _quadratic()
    grads["v"] = grads["v"].copy()
    grads["v"][3] = np.nan
    assert _cause(gc.check_params(loss, params, grads)) == "non-finite"


def test_passed_report_has_no_diagnosis():
    loss, params, grads = _quadratic()
    report = gc.check_params(loss, params, grads)
    assert report.passed and report.diagnoses == []


def test_diagnosis_in_text_and_json():
    loss, params, grads = _quadratic()
    grads["v"] = -grads["v"]
    report = gc.check_params(loss, params, grads)
    assert "probable cause (sign)" in str(report)
    assert report.to_dict()["diagnosis"][0]["cause"] == "sign"


def test_network_mean_vs_sum_names_the_sample_count():
    net = gc.DenseNet([3, 5, 2], seed=2)
    X = np.random.default_rng(1).standard_normal((7, 3))
    y = np.zeros((7, 2))
    from gradcheck.catalogue.bugs import CATALOGUE

    report = gc.check_network(net, X, y, backward=CATALOGUE["mean-weights"].backward(net, X, y), diagnostics=False)
    assert report.diagnoses[0].cause == "mean-vs-sum"
    assert "N = 7" in report.diagnoses[0].message


class TestOneEntry:
    """One wrong value is always "a constant times" the right one: no factor is named from it alone."""

    def test_an_arbitrary_factor_needs_two_entries(self):
        w = np.array([0.7])
        report = gc.check_params(lambda p: np.sum(np.sin(p["w"])), {"w": w}, {"w": 1.37 * np.cos(w)})
        assert not report.passed
        assert all(d["cause"] != "constant-factor" for d in report.to_dict()["diagnosis"])

    def test_the_same_factor_on_two_entries_is_named(self):
        w = np.array([0.7, -0.4])
        report = gc.check_params(lambda p: np.sum(np.sin(p["w"])), {"w": w}, {"w": 1.37 * np.cos(w)})
        assert report.to_dict()["diagnosis"][0]["cause"] == "constant-factor"

    def test_a_sign_is_named_from_one_entry(self):
        w = np.array([0.7])
        report = gc.check_params(lambda p: np.sum(np.sin(p["w"])), {"w": w}, {"w": -np.cos(w)})
        assert report.to_dict()["diagnosis"][0]["cause"] == "sign"


class TestCalibrated:
    """A cause is named only with evidence, and the message states it."""

    @staticmethod
    def _sigma_prime_of_a(seed):
        # σ'(z) written as σ'(a) = σ(a)(1 − σ(a)): a formula bug whose errors are
        # ~1e-2 of the gradient, float16's rounding level by coincidence.
        from gradcheck.model.backprop import Backprop

        class SigmaPrimeOfA(Backprop):
            def derivative(self, l):
                s = 1 / (1 + np.exp(-self.cache.a(l)))
                return s * (1 - s)

        net = gc.DenseNet([2, 1, 4, 1], seed=seed)
        rng = np.random.default_rng(seed)
        X, y = rng.normal(size=(2, 2)), rng.uniform(size=(2, 1))
        return net, X, y, net.backward(X, y, steps=SigmaPrimeOfA)

    @pytest.mark.parametrize("seed", [1, 3, 4])
    def test_a_formula_bug_at_float16_level_is_not_called_float16(self, seed):
        # Before: "precision … float16" (and "regulariser" for the one-entry biases).
        net, X, y, wrong = self._sigma_prime_of_a(seed)
        report = gc.check_params(lambda p: net.like(p).loss(X, y), net.params, wrong.gradients)
        assert not report.passed
        assert {d.cause for d in report.diagnoses} <= {"unknown", "constant-factor"}
        network = gc.check_network(net, X, y, backward=wrong, diagnostics=False)
        assert [d.cause for d in network.diagnoses] == ["output-delta"]

    def test_float16_is_named_from_float16_numbers(self):
        loss, params, grads = _quadratic()
        grads["M"] = grads["M"].astype(np.float16).astype(np.float64)
        d = gc.check_params(loss, params, grads).diagnoses[0]
        assert d.cause == "precision" and "all 16 entries" in d.message and "float16 numbers" in d.message

    def test_a_one_entry_group_is_no_regulariser(self):
        # Any wrong single value is λ·θ for some λ.
        w = np.array([2.0])
        report = gc.check_params(lambda p: np.sum(p["w"] ** 2), {"w": w}, {"w": 2 * w + 0.3})
        assert [d.cause for d in report.diagnoses] == ["unknown"]

    def test_half_at_two_samples_names_both_causes(self):
        # ½ with N = 2 is the ½Σ-vs-Σ convention and a mean over 2 samples alike.
        net = gc.DenseNet([3, 4, 1], seed=0)
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(2, 3)), rng.uniform(size=(2, 1))
        right = net.backward(X, y)
        grads = {k: v / 2 for k, v in right.gradients.items()}
        wrong = type(right)(right.loss, right.deltas, grads, right.cache)
        report = gc.check_network(net, X, y, backward=wrong, diagnostics=False)
        d = report.diagnoses[0]
        assert d.cause == "constant-factor"
        assert "loss convention" in d.message and "mean over samples" in d.message and "N = 2" in d.message

    @pytest.mark.parametrize("sizes", [[3, 4, 1], [2, 3, 2], [3, 4, 4, 1]])
    def test_the_catalogue_mean_bug_at_two_samples_is_not_only_the_convention(self, sizes):
        # The case: the mean-instead-of-sum bug, shrunk by hypothesis to N = 2, was
        # diagnosed "factor-2: the loss convention" alone.
        from gradcheck.catalogue.bugs import CATALOGUE

        net = gc.DenseNet(sizes, seed=0)
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(2, sizes[0])), rng.uniform(size=(2, sizes[-1]))
        report = gc.check_network(net, X, y, backward=CATALOGUE["mean-weights"].backward(net, X, y),
                                  diagnostics=False)
        d = report.diagnoses[0]
        assert d.cause != "factor-2" and "mean over samples" in d.message and "N = 2" in d.message

    def test_half_at_other_sample_counts_stays_specific(self):
        net = gc.DenseNet([3, 4, 1], seed=0)
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(3, 3)), rng.uniform(size=(3, 1))
        right = net.backward(X, y)
        grads = {k: v / 2 for k, v in right.gradients.items()}
        wrong = type(right)(right.loss, right.deltas, grads, right.cache)
        report = gc.check_network(net, X, y, backward=wrong, diagnostics=False)
        assert report.diagnoses[0].cause == "factor-2"

    @pytest.mark.parametrize("bug", ["sign-error", "factor-two", "missing-transpose", "regulariser-not-in-loss",
                                     "corrupted-entry", "swapped-layers", "stale-weights", "float16",
                                     "hidden-derivative-missing", "output-derivative-missing", "bias-wrong-delta"])
    def test_every_cause_states_its_evidence(self, bug):
        from gradcheck.catalogue.bugs import CATALOGUE
        from gradcheck.catalogue.detection import architectures, build_case

        _, sizes, bias, samples, model = next(a for a in architectures("classic")
                                              if CATALOGUE[bug].applies(*build_case(a[1], a[2], a[3], 1)[:2]))
        net, X, y = build_case(sizes, bias, samples, 1, model)
        report = gc.check_network(net, X, y, backward=CATALOGUE[bug].backward(net, X, y), diagnostics=False)
        d = report.diagnoses[0]
        assert d.cause == CATALOGUE[bug].cause
        # How many entries follow the pattern (or "every entry"), and how closely.
        assert re.search(r"\d+ (of \d+ )?entr|every entry", d.message), d.message

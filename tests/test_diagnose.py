"""Diagnosis from the shape of the error, on check_params reports."""

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

"""verify_backprop / assert_backprop: drawn networks, shrinking to a minimal failing one, usage errors.

The backprop functions here are written for these tests from the textbook equations (sigmoid units,
L = ½Σ(a_L − y)²): δ_L = (a_L − y) ⊙ a_L(1 − a_L), δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ a_l(1 − a_l),
∂W_l = a_{l−1}ᵀ δ_l, ∂b_l = Σ_samples δ_l in rows (in_out), and their transposes with column vectors
(out_in): δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ a_l(1 − a_l), ∂W_l = δ_l a_{l−1}ᵀ, ∂b_l = Σ_columns δ_l.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.interfaces.backprop_property import BackpropVerification

# Enough drawn networks to meet depths 1-4, one sample and saturated weights on the passing runs,
# few enough to keep the file fast; a failing run stops at its first failure and shrinks.
EXAMPLES = 25


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def rows_backprop(weights, biases, X, y, *, hidden_prime=lambda a: a * (1 - a)):
    """in_out: one row per sample.  ``hidden_prime`` is σ'(z_l) from a_l in the hidden layers."""
    a = [X]
    for l, W in enumerate(weights):
        a.append(sigmoid(a[-1] @ W + (0 if biases is None else biases[l])))
    L = len(weights)
    deltas = [None] * L
    deltas[-1] = (a[-1] - y) * a[-1] * (1 - a[-1])
    for l in range(L - 2, -1, -1):
        deltas[l] = (deltas[l + 1] @ weights[l + 1].T) * hidden_prime(a[l + 1])
    grads = {f"W{l + 1}": a[l].T @ deltas[l] for l in range(L)}
    if biases is not None:
        grads.update({f"b{l + 1}": deltas[l].sum(axis=0) for l in range(L)})
    return {"deltas": deltas, "grads": grads}


def columns_backprop(weights, biases, X, y):
    """out_in: textbook column vectors, W_l (n_l, n_{l-1}), b_l (n_l, 1), X (n_0, N)."""
    a = [X]
    for l, W in enumerate(weights):
        a.append(sigmoid(W @ a[-1] + (0 if biases is None else biases[l])))
    L = len(weights)
    deltas = [None] * L
    deltas[-1] = (a[-1] - y) * a[-1] * (1 - a[-1])
    for l in range(L - 2, -1, -1):
        deltas[l] = (weights[l + 1].T @ deltas[l + 1]) * a[l + 1] * (1 - a[l + 1])
    grads = {f"W{l + 1}": deltas[l] @ a[l].T for l in range(L)}
    if biases is not None:
        grads.update({f"b{l + 1}": deltas[l].sum(axis=1, keepdims=True) for l in range(L)})
    return {"deltas": deltas, "grads": grads}


def negated(out):
    """The descent convention: every value is −∂L/∂θ."""
    return {"deltas": [-d for d in out["deltas"]], "grads": {k: -g for k, g in out["grads"].items()}}


def first_sample_only(weights, biases, X, y):
    """∂W1 from the first sample alone: right for N = 1, wrong from N = 2."""
    out = rows_backprop(weights, biases, X, y)
    out["grads"]["W1"] = X[:1].T @ out["deltas"][0][:1]
    return out


def a_for_sigma_prime(weights, biases, X, y):
    """σ'(z_l) taken as a_l in the hidden layers: only a network with a hidden layer shows it."""
    return rows_backprop(weights, biases, X, y, hidden_prime=lambda a: a)


class TestCorrectBackpropPasses:
    @pytest.mark.parametrize("fn, layout", [(rows_backprop, "in_out"), (columns_backprop, "out_in")])
    def test_both_layouts(self, fn, layout):
        result = gc.verify_backprop(fn, layout=layout, max_examples=EXAMPLES, seed=1)
        assert result.passed, str(result)
        assert isinstance(result, BackpropVerification)
        assert result.examples == EXAMPLES and result.counterexample is None and result.report is None
        assert f"PASSED — {EXAMPLES} networks" in str(result) and layout in str(result)

    def test_deltas_only_and_grads_only(self):
        deltas = gc.verify_backprop(lambda *a: {"deltas": rows_backprop(*a)["deltas"]}, max_examples=10, seed=2)
        grads = gc.verify_backprop(lambda *a: {"grads": columns_backprop(*a)["grads"]}, layout="out_in",
                                   max_examples=10, seed=2)
        assert deltas.passed and grads.passed

    def test_weight_grads_only_with_biases(self):
        def weights_only(*args):
            return {"grads": {k: g for k, g in rows_backprop(*args)["grads"].items() if k.startswith("W")}}

        assert gc.verify_backprop(weights_only, bias=True, max_examples=10, seed=2).passed

    def test_descent_convention_passes_with_sign_descent(self):
        result = gc.verify_backprop(lambda *a: negated(columns_backprop(*a)), layout="out_in", sign="descent",
                                    max_examples=10, seed=3)
        assert result.passed, str(result)

    def test_per_sample_deltas_of_a_mean(self):
        def mean_backprop(weights, biases, X, y):
            # L = numpy.mean((a − y)²) over N samples × m outputs: per-sample δ with the 2/m of each sample's
            # mean but without the 1/N, which only the gradients get.
            out = rows_backprop(weights, biases, X, y)
            N, m = y.shape
            deltas = [2 * d / m for d in out["deltas"]]
            return {"deltas": deltas, "grads": {k: 2 * g / (N * m) for k, g in out["grads"].items()}}

        assert not gc.verify_backprop(mean_backprop, reduction="mean", max_examples=10, seed=4).passed
        result = gc.verify_backprop(mean_backprop, reduction="mean", per_sample_deltas=True, max_examples=10,
                                    seed=4)
        assert result.passed, str(result)

    def test_fn_gets_copies(self):
        def vandal(weights, biases, X, y):
            out = rows_backprop(weights, biases, X, y)
            for W in weights:
                W *= 2  # must not change what gradcheck checks against
            X[:] = 0
            return out

        assert gc.verify_backprop(vandal, max_examples=10, seed=5).passed


class TestShrinking:
    def test_two_sample_bug_shrinks_to_two_samples(self):
        result = gc.verify_backprop(first_sample_only, max_examples=EXAMPLES, seed=6)
        assert not result.passed and result.error is None
        case = result.counterexample
        assert case.n_samples == 2
        assert case.sizes == (1, 1) and not case.bias and case.seed == 0
        assert result.report is not None and not result.report.passed
        assert result.report.first_failure == (1, "weight")
        assert "2 samples" in str(result) and "layer 1, ∂L/∂W1" in str(result)

    def test_hidden_layer_bug_shrinks_to_two_layers(self):
        result = gc.verify_backprop(a_for_sigma_prime, max_examples=EXAMPLES, seed=7)
        assert not result.passed
        assert len(result.counterexample.sizes) == 3  # two weight layers: the smallest net with a hidden layer
        # δ2 (the output delta) is right; the chain breaks at δ1.
        assert result.report.first_failure == (1, "delta")
        assert result.report.layers[1].delta.passed

    def test_counterexample_arrays_in_the_users_layout(self):
        def wrong_bias(weights, biases, X, y):
            out = columns_backprop(weights, biases, X, y)
            if biases is not None:
                out["grads"]["b1"] = 2 * out["grads"]["b1"]
            return out

        result = gc.verify_backprop(wrong_bias, layout="out_in", max_examples=EXAMPLES, seed=8)
        case = result.counterexample
        assert case.bias and case.layout == "out_in"
        N, sizes = case.n_samples, case.sizes
        assert case.X.shape == (sizes[0], N) and case.y.shape == (sizes[-1], N)
        assert [W.shape for W in case.weights] == [(sizes[l], sizes[l - 1]) for l in range(1, len(sizes))]
        assert [b.shape for b in case.biases] == [(n, 1) for n in sizes[1:]]
        assert result.report.first_failure == (1, "bias")
        # the report speaks in the same orientation
        assert result.report.layers[0].bias.shape == (sizes[1], 1)

    def test_sign_flip_fails_and_names_descent(self):
        result = gc.verify_backprop(lambda *a: negated(rows_backprop(*a)), max_examples=EXAMPLES, seed=9)
        assert not result.passed
        assert [d.cause for d in result.report.diagnoses] == ["sign"]
        assert "sign='descent'" in str(result)

    def test_same_seed_same_counterexample(self):
        a = gc.verify_backprop(a_for_sigma_prime, max_examples=10, seed=10)
        b = gc.verify_backprop(a_for_sigma_prime, max_examples=10, seed=10)
        assert (a.counterexample.describe(), a.examples, a.shrinks) == (b.counterexample.describe(), b.examples,
                                                                          b.shrinks)

    def test_result_to_dict_is_json(self):
        result = gc.verify_backprop(first_sample_only, max_examples=10, seed=6)
        d = json.loads(json.dumps(result.to_dict()))
        assert d["passed"] is False and d["counterexample"]["n_samples"] == 2
        assert d["first_failure"] == {"layer": 1, "check": "weight"}


class TestFnRaising:
    def test_exception_is_a_finding_with_its_architecture(self):
        def no_transpose(weights, biases, X, y):
            """δ_l = (δ_{l+1} W_{l+1}) ⊙ σ'(z_l), no ᵀ: raises unless W_{l+1} is square."""
            out = rows_backprop(weights, biases, X, y)
            if len(weights) > 1:
                a1 = sigmoid(X @ weights[0])
                out["deltas"][0] = (out["deltas"][1] @ weights[1]) * a1 * (1 - a1)
            return out

        result = gc.verify_backprop(no_transpose, bias=False, max_examples=EXAMPLES, seed=11)
        assert not result.passed and result.report is None
        assert result.error.startswith("ValueError: ")
        sizes = result.counterexample.sizes
        assert len(sizes) == 3 and sizes[1] != sizes[2]
        text = str(result)
        assert "your function raised ValueError" in text and f"sizes {list(sizes)}" in text

    def test_assert_backprop(self):
        assert gc.assert_backprop(rows_backprop, max_examples=5, seed=0).passed
        with pytest.raises(gc.GradientMismatch, match="minimal failing network: sizes") as info:
            gc.assert_backprop(first_sample_only, max_examples=10, seed=6)
        assert isinstance(info.value, AssertionError)
        assert info.value.report is not None and not info.value.report.passed


class TestUsageErrors:
    @pytest.mark.parametrize("returned, message", [
        ([1, 2], "returned list"),
        ({"deltas": None}, "returned neither 'deltas' nor 'grads'"),
        ({"delta": []}, r"unknown keys \['delta'\]"),
        ({"grads": [np.zeros((1, 1))]}, "'grads' is list"),
        ({"grads": {"W9": np.zeros((1, 1))}}, r"'grads' has unknown keys \['W9'\]"),
        ({"deltas": [np.zeros((1, 1))] * 9}, "expected a list of 1 arrays"),
        ({"deltas": [np.zeros((3, 7))]}, r"deltas\[0\] \(δ1\) is an array of shape \(3, 7\).*expected a numeric "
                                         r"array of shape \(1, 1\)"),
    ])
    def test_wrong_return_structure(self, returned, message):
        with pytest.raises(gc.InvalidArgument, match=message) as info:
            gc.verify_backprop(lambda *a: returned, max_examples=5, seed=0)
        assert "fn(weights, biases, X, y) on the network sizes" in str(info.value)
        assert "\n" not in str(info.value)

    def test_shape_named_in_the_users_layout(self):
        def rows_in_columns_layout(weights, biases, X, y):  # deltas (N, n_l) where (n_l, N) is expected
            return {"deltas": [d.T for d in columns_backprop(weights, biases, X, y)["deltas"]]}

        with pytest.raises(gc.InvalidArgument, match=r"out_in layout.*expected a numeric array of shape"):
            gc.verify_backprop(rows_in_columns_layout, layout="out_in", max_examples=20, seed=0)

    def test_partial_gradients_of_a_kind(self):
        def w1_only(weights, biases, X, y):
            return {"grads": {"W1": rows_backprop(weights, biases, X, y)["grads"]["W1"]}}

        with pytest.raises(gc.InvalidArgument, match="every layer's gradient of a kind"):
            gc.verify_backprop(w1_only, max_examples=20, seed=0)

    @pytest.mark.parametrize("kwargs, message", [
        ({"layout": "auto"}, "layout"), ({"sign": "minus"}, "sign"), ({"max_examples": 0}, "max_examples"),
        ({"max_examples": 2.5}, "max_examples"), ({"seed": "x"}, "seed"), ({"bias": "yes"}, "bias"),
        ({"activation": []}, "activation"), ({"activation": "softplus"}, "activation"),
        ({"reduction": "median"}, "reduction"), ({"rtol": -1}, "rtol"),
    ])
    def test_bad_options(self, kwargs, message):
        with pytest.raises(gc.InvalidArgument, match=message):
            gc.verify_backprop(rows_backprop, **{"max_examples": 3, **kwargs})

    def test_fn_not_callable(self):
        with pytest.raises(gc.InvalidArgument, match="fn: expected a function"):
            gc.verify_backprop("backprop")

    def test_hypothesis_missing(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "hypothesis", None)  # makes `import hypothesis` raise ImportError
        with pytest.raises(gc.InvalidArgument, match="pip install hypothesis"):
            gc.verify_backprop(rows_backprop)

    def test_import_gradcheck_does_not_import_hypothesis(self):
        code = "import sys, gradcheck as gc; gc.verify_backprop; print('hypothesis' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "False"


class TestUndecided:
    """A network the check cannot decide is neither a pass nor a failure of the function."""

    def planted(self, monkeypatch):
        import gradcheck.interfaces.backprop_property as bp

        real = bp.check_backprop

        def undecided(*args, **kwargs):
            report = real(*args, **kwargs)
            row = report.layers[-1].delta
            row.passed, row.inconclusive_reason = False, "loss noise (planted)"
            return report

        monkeypatch.setattr(bp, "check_backprop", undecided)

    def test_verdict_is_inconclusive_never_passed(self, monkeypatch):
        self.planted(monkeypatch)
        result = gc.verify_backprop(rows_backprop, max_examples=5, seed=0)
        assert result.verdict == "inconclusive" and not result.passed and result.counterexample is None
        assert result.examples == 5 and len(result.undecided) == 5
        assert "INCONCLUSIVE" in str(result) and "loss noise (planted)" in str(result)
        assert result.to_dict()["verdict"] == "inconclusive"

    def test_command_line_exit_code_3(self, monkeypatch, tmp_path, capsys):
        from _cli import run

        self.planted(monkeypatch)
        code = tmp_path / "mine.py"
        here = str(Path(__file__).parent)
        code.write_text(f"import sys\nsys.path.insert(0, {here!r})\nfrom test_verify_backprop import rows_backprop\n")
        status, out, _ = run(["verify", f"{code}:rows_backprop", "--examples", "3", "--out", "-"], capsys)
        assert status == 3 and "INCONCLUSIVE" in out

"""check_backprop: the caller's own deltas and gradients, in their layout and sign, layer by layer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gradcheck as gc


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def rows_backprop(Ws, bs, X, y):
    """A hand-written in_out backward pass (half-sum MSE, sigmoid): deltas and W/b gradients."""
    a, L = [X], len(Ws)
    for k in range(L):
        a.append(sigmoid(a[-1] @ Ws[k] + (0 if bs is None else bs[k])))
    d = [None] * L
    d[-1] = (a[-1] - y) * a[-1] * (1 - a[-1])
    for k in range(L - 2, -1, -1):
        d[k] = d[k + 1] @ Ws[k + 1].T * a[k + 1] * (1 - a[k + 1])
    gW = [a[k].T @ d[k] for k in range(L)]
    gb = None if bs is None else [d[k].sum(axis=0) for k in range(L)]
    return d, gW, gb


def columns_backprop(Ws, bs, X, y):
    """The textbook column-vector version: W_l (n_l, n_(l-1)), X (n_0, N), b_l (n_l, 1)."""
    a, L = [X], len(Ws)
    for k in range(L):
        a.append(sigmoid(Ws[k] @ a[-1] + (0 if bs is None else bs[k])))
    d = [None] * L
    d[-1] = (a[-1] - y) * a[-1] * (1 - a[-1])
    for k in range(L - 2, -1, -1):
        d[k] = (Ws[k + 1].T @ d[k + 1]) * a[k + 1] * (1 - a[k + 1])
    gW = [d[k] @ a[k].T for k in range(L)]
    gb = None if bs is None else [d[k].sum(axis=1, keepdims=True) for k in range(L)]
    return d, gW, gb


def problem(sizes, N, bias, columns, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    L = len(sizes) - 1
    Ws = [scale * rng.uniform(-1, 1, (sizes[k + 1], sizes[k]) if columns else (sizes[k], sizes[k + 1]))
          for k in range(L)]
    bs = None
    if bias:
        bs = [rng.uniform(-1, 1, (sizes[k + 1], 1) if columns else (sizes[k + 1],)) for k in range(L)]
    X = rng.uniform(-1, 1, (sizes[0], N) if columns else (N, sizes[0]))
    y = rng.uniform(0, 1, (sizes[-1], N) if columns else (N, sizes[-1]))
    return Ws, bs, X, y


FAST = {"diagnostics": False}


class TestLayouts:
    @pytest.mark.parametrize("columns", [False, True], ids=["in_out", "out_in"])
    @pytest.mark.parametrize("bias", [False, True])
    def test_correct_backprop_passes_with_every_row(self, columns, bias):
        Ws, bs, X, y = problem([3, 5, 4, 2], 6, bias, columns)
        d, gW, gb = (columns_backprop if columns else rows_backprop)(Ws, bs, X, y)
        report = gc.check_backprop(Ws, X, y, biases=bs, deltas=d, grads=gW, bias_grads=gb, **FAST)
        assert report.passed, str(report)
        assert report.config["network"]["backprop"]["layout"] == ("out_in" if columns else "in_out")
        kinds = {k for layer in report.layers for k, _ in layer.rows()}
        assert kinds == {"weight", "delta", "recurrence", "weight_formula"} | (
            {"bias", "bias_formula"} if bias else set())

    def test_out_in_report_speaks_in_columns(self):
        Ws, bs, X, y = problem([3, 5, 2], 4, True, columns=True)
        d, gW, gb = columns_backprop(Ws, bs, X, y)
        gW[0] = gW[0].copy()
        gW[0][4, 1] += 0.1  # one wrong entry, at row 4, column 1 of the caller's W1 (5×3)
        report = gc.check_backprop(Ws, X, y, biases=bs, deltas=d, grads=gW, bias_grads=gb, **FAST)
        w1 = report.group("W1")
        assert not w1.passed and w1.shape == (5, 3) and w1.worst_index == (4, 1)
        assert w1.analytic.shape == (5, 3) and w1.analytic[4, 1] == pytest.approx(gW[0][4, 1])
        assert report.group("b1").shape == (5, 1)
        layer1 = report.layers[0]
        assert layer1.delta.shape == (5, 4)  # δ1 as (n_1, N)
        assert layer1.recurrence.name == "δ1 = (W2ᵀ δ2) ⊙ f'(z1)"
        assert layer1.weight_formula.name == "∂L/∂W1 = δ1 a0ᵀ"
        assert report.to_dict()["first_failure"] == {"layer": 1, "check": "weight"}
        assert "(4, 1)" in str(report)

    def test_in_out_formulas_read_in_rows(self):
        Ws, _, X, y = problem([3, 4, 1], 4, False, columns=False)
        d, gW, _ = rows_backprop(Ws, None, X, y)
        report = gc.check_backprop(Ws, X, y, deltas=d, grads=gW, **FAST)
        assert report.layers[0].recurrence.name == "δ1 = (δ2 W2ᵀ) ⊙ f'(z1)"
        assert report.layers[0].weight_formula.name == "∂L/∂W1 = a0ᵀ δ1"

    def test_auto_layout_refuses_to_guess_between_two_readings(self):
        Ws, _, X, y = problem([4, 4, 4], 4, False, columns=False)
        d, gW, _ = rows_backprop(Ws, None, X, y)
        with pytest.raises(gc.InvalidArgument, match=r"^layout: both readings fit .*layout='in_out'"):
            gc.check_backprop(Ws, X, y, grads=gW)
        assert gc.check_backprop(Ws, X, y, grads=gW, layout="in_out", **FAST).passed

    def test_shapes_that_fit_no_layout(self):
        Ws, _, X, y = problem([3, 4, 1], 4, False, columns=False)
        with pytest.raises(gc.InvalidArgument, match=r"^X, weights: the shapes fit no layout .*W2 takes 5"):
            gc.check_backprop([Ws[0], np.zeros((5, 1))], X, y, grads=[Ws[0], Ws[1]])

    def test_an_explicit_layout_that_does_not_fit_says_which_does(self):
        Ws, _, X, y = problem([3, 4, 1], 4, False, columns=True)
        with pytest.raises(gc.InvalidArgument, match=r"^layout: .*'in_out'.*\(they fit 'out_in'\)"):
            gc.check_backprop(Ws, X, y, grads=Ws, layout="in_out")


class TestSign:
    def classic(self):
        """The classic XOR program's own l1_delta, l2_delta and weight updates (−∂L/∂θ)."""
        X, y = gc.xor_data()
        rng = np.random.default_rng(1)
        syn0, syn1 = 2 * rng.random((3, 4)) - 1, 2 * rng.random((4, 1)) - 1
        l1 = sigmoid(X @ syn0)
        l2 = sigmoid(l1 @ syn1)
        l2_delta = (y - l2) * l2 * (1 - l2)
        l1_delta = l2_delta @ syn1.T * l1 * (1 - l1)
        return [syn0, syn1], X, y, [l1_delta, l2_delta], [X.T @ l1_delta, l1.T @ l2_delta]

    def test_descent_values_pass_with_sign_descent(self):
        Ws, X, y, d, updates = self.classic()
        assert gc.check_backprop(Ws, X, y, deltas=d, grads=updates, sign="descent", **FAST).passed

    def test_descent_values_as_gradients_fail_and_name_the_convention(self):
        Ws, X, y, d, updates = self.classic()
        report = gc.check_backprop(Ws, X, y, deltas=d, grads=updates, **FAST)
        assert not report.passed
        main = report.to_dict()["diagnosis"][0]
        assert main["cause"] == "sign" and "sign='descent'" in main["message"]

    def test_gradients_passed_as_descent_fail_and_say_so(self):
        Ws, X, y, d, updates = self.classic()
        report = gc.check_backprop(Ws, X, y, deltas=[-x for x in d], grads=[-u for u in updates],
                                   sign="descent", **FAST)
        assert not report.passed
        assert report.diagnoses[0].cause == "sign" and "sign='gradient'" in report.diagnoses[0].message

    def test_a_sign_error_in_one_layer_is_not_called_a_convention(self):
        Ws, X, y, d, updates = self.classic()
        report = gc.check_backprop(Ws, X, y, deltas=[d[0], d[1]], grads=[-updates[0], updates[1]],
                                   sign="descent", **FAST)
        assert not report.passed
        assert "convention" not in report.diagnoses[0].message


class TestPartialInput:
    def test_deltas_only(self):
        Ws, bs, X, y = problem([2, 3, 2], 3, True, columns=True)
        d, _, _ = columns_backprop(Ws, bs, X, y)
        report = gc.check_backprop(Ws, X, y, biases=bs, deltas=d, **FAST)
        assert report.passed and report.groups == []
        assert all(layer.weight is None and layer.bias is None and layer.delta is not None
                   for layer in report.layers)

    def test_deltas_only_locates_a_wrong_delta(self):
        Ws, bs, X, y = problem([2, 3, 3, 2], 3, False, columns=True)
        d, _, _ = columns_backprop(Ws, bs, X, y)
        d[1] = d[1] * 1.5
        report = gc.check_backprop(Ws, X, y, deltas=d, **FAST)
        assert report.first_failure == (2, "delta")

    def test_grads_only(self):
        Ws, bs, X, y = problem([2, 3, 2], 3, True, columns=False)
        _, gW, gb = rows_backprop(Ws, bs, X, y)
        report = gc.check_backprop(Ws, X, y, biases=bs, grads={"W1": gW[0], "W2": gW[1], "b1": gb[0],
                                                                 "b2": gb[1]}, **FAST)
        assert report.passed and [g.name for g in report.groups] == ["W1", "b1", "W2", "b2"]
        assert all(layer.delta is None for layer in report.layers)

    def test_weight_grads_only_leave_no_bias_rows(self):
        Ws, bs, X, y = problem([2, 3, 2], 3, True, columns=False)
        _, gW, _ = rows_backprop(Ws, bs, X, y)
        report = gc.check_backprop(Ws, X, y, biases=bs, grads=gW, **FAST)
        assert report.passed and [g.name for g in report.groups] == ["W1", "W2"]
        assert all(layer.bias is None and layer.bias_formula is not None for layer in report.layers)

    def test_a_wrong_stand_in_can_never_pass_a_missing_row(self):
        """Rows not given are absent, not passed: a failing given row still fails the report."""
        Ws, bs, X, y = problem([2, 3, 2], 3, True, columns=False)
        _, gW, gb = rows_backprop(Ws, bs, X, y)
        report = gc.check_backprop(Ws, X, y, biases=bs, bias_grads=[gb[0], 2 * gb[1]], **FAST)
        assert not report.passed and report.failed_groups == ["b2"]


class TestMeanReduction:
    def per_sample(self, columns=False):
        Ws, bs, X, y = problem([3, 4, 3], 5, False, columns=columns)
        d, gW, _ = (columns_backprop if columns else rows_backprop)(Ws, None, X, y)
        # 'mean' is L = (1/N)·Σ_n ℓ_n with ℓ_n = (1/3)·Σ_j (a_nj − y_nj)², the sample's own mean over
        # its 3 outputs: ∂ℓ_n/∂z = (2/3)·δ(half_sum) per sample, and ∂L/∂W = (2/(3N))·∂(½Σ…)/∂W.
        return Ws, X, y, [2 * x / 3 for x in d], [2 * g / (3 * 5) for g in gW]

    @pytest.mark.parametrize("columns", [False, True])
    def test_per_sample_deltas_pass_with_the_option(self, columns):
        Ws, X, y, d, gW = self.per_sample(columns)
        report = gc.check_backprop(Ws, X, y, deltas=d, grads=gW, reduction="mean", per_sample_deltas=True, **FAST)
        assert report.passed, str(report)

    def test_per_sample_deltas_without_the_option_fail_as_mean_vs_sum(self):
        Ws, X, y, d, gW = self.per_sample()
        report = gc.check_backprop(Ws, X, y, deltas=d, grads=gW, reduction="mean", **FAST)
        assert report.first_failure == (2, "delta")
        assert report.diagnoses[0].cause == "mean-vs-sum"


class TestHardRegimes:
    def test_trained_saturated_classic_network(self):
        """The 3-4-1 XOR net after 60000 steps: saturated sigmoids, gradients of 1e-5 and below."""
        X, y = gc.xor_data()
        net = gc.DenseNet([3, 4, 1], bias=False, seed=1)
        net.train(X, y, iterations=60000)
        Ws = [net.params["W1"], net.params["W2"]]
        d, gW, _ = rows_backprop(Ws, None, X, y)
        assert np.max(np.abs(gW[0])) < 1e-3
        assert gc.check_backprop(Ws, X, y, deltas=[-x for x in d], grads=[-g for g in gW], sign="descent",
                                 **FAST).passed

    @settings(max_examples=25, deadline=None)
    @given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=5), N=st.integers(1, 6), bias=st.booleans(),
           columns=st.booleans(), seed=st.integers(0, 2**16), scale=st.sampled_from([0.1, 1.0, 4.0]))
    @example(sizes=[1, 1], N=1, bias=False, columns=True, seed=0, scale=1.0)
    def test_correct_backprop_passes_on_any_net(self, sizes, N, bias, columns, seed, scale):
        Ws, bs, X, y = problem(sizes, N, bias, columns, seed, scale)
        d, gW, gb = (columns_backprop if columns else rows_backprop)(Ws, bs, X, y)
        report = gc.check_backprop(Ws, X, y, biases=bs, deltas=d, grads=gW, bias_grads=gb,
                                   layout="out_in" if columns else "in_out", **FAST)
        assert report.passed, str(report)


class TestBadInput:
    def setup_method(self):
        self.Ws, self.bs, self.X, self.y = problem([3, 4, 2], 5, True, columns=True)
        self.d, self.gW, self.gb = columns_backprop(self.Ws, self.bs, self.X, self.y)

    @pytest.mark.parametrize("kwargs, match", [
        ({"deltas": "d[:1]"}, r"^deltas: expected 2 arrays, one per layer"),
        ({"grads": "[gW[0], gW[1].T]"}, r"^grads W2: expected shape \(2, 4\) in layout 'out_in', got \(4, 2\)"),
        ({"deltas": "[d[0].T, d[1]]"}, r"^X, weights: the shapes fit no layout"),
        ({"bias_grads": "[gb[0].ravel()[:3], gb[1]]"}, r"^bias grads\[0\] \(b1\): expected shape \(4, 1\) or \(4,\)"),
        ({"grads": "{'W1': gW[0]}"}, r"^grads: has \['W1'\] but not \['W2'\]"),
        ({"grads": "{'W1': gW[0], 'W2': gW[1], 'w3': gW[1]}"}, r"^grads: unexpected keys \['w3'\]"),
        ({"sign": "'negative'"}, r"^sign: expected 'gradient' or 'descent'"),
        ({"layout": "'rows'"}, r"^layout: expected 'auto', 'in_out' or 'out_in'"),
        ({"weight_decay": "-0.1"}, r"^weight_decay: expected a finite number >= 0"),
        ({"activation": "['softmax', 'sigmoid']"}, r"^activation: softmax is allowed on the output layer only"),
        ({"loss": "'cross_entropy'", "activation": "'tanh'"}, r"^loss: cross_entropy needs a sigmoid"),
        ({"per_sample_deltas": "'yes'"}, r"^per_sample_deltas: expected True or False"),
        ({"rtol": "-1"}, r"^rtol: expected a finite number >= 0"),
    ])
    def test_one_line_errors(self, kwargs, match):
        env = {"d": self.d, "gW": self.gW, "gb": self.gb}
        args = {"biases": self.bs, "deltas": self.d, "grads": self.gW}
        args.update({k: eval(v, {}, env) for k, v in kwargs.items()})
        with pytest.raises(gc.InvalidArgument, match=match) as info:
            gc.check_backprop(self.Ws, self.X, self.y, **args)
        assert "\n" not in str(info.value)

    def test_nothing_to_check(self):
        with pytest.raises(gc.InvalidArgument, match=r"^deltas, grads: nothing to check"):
            gc.check_backprop(self.Ws, self.X, self.y, biases=self.bs)

    def test_weights_must_be_a_list(self):
        with pytest.raises(gc.InvalidArgument, match=r"^weights: expected a list of arrays"):
            gc.check_backprop(self.Ws[0], self.X, self.y, grads=self.gW)

    def test_bias_grads_without_biases(self):
        with pytest.raises(gc.InvalidArgument, match=r"^bias_grads: the network has no biases"):
            gc.check_backprop(self.Ws, self.X, self.y, grads=self.gW, bias_grads=self.gb)

    def test_nan_in_the_weights_is_bad_input(self):
        Ws = [self.Ws[0].copy(), self.Ws[1]]
        Ws[0][0, 0] = np.nan
        with pytest.raises(gc.InvalidArgument, match=r"^weights\[0\]: .*(NaN|non-finite)"):
            gc.check_backprop(Ws, self.X, self.y, grads=self.gW)

    def test_nan_in_the_gradients_fails_the_row_and_says_where(self):
        gW = [self.gW[0].copy(), self.gW[1]]
        gW[0][2, 1] = np.nan
        report = gc.check_backprop(self.Ws, self.X, self.y, biases=self.bs, grads=gW, **FAST)
        assert not report.passed and report.failed_groups == ["W1"]
        assert "(2, 1)" in " ".join(report.group("W1").notes)

    def test_the_callers_arrays_are_never_modified(self):
        arrays = [*self.Ws, *self.bs, self.X, self.y, *self.d, *self.gW, *self.gb]
        before = [a.copy() for a in arrays]
        gc.check_backprop(self.Ws, self.X, self.y, biases=self.bs, deltas=self.d, grads=self.gW,
                          bias_grads=self.gb, sign="descent", per_sample_deltas=True, reduction="mean")
        assert all(np.array_equal(a, b) for a, b in zip(arrays, before, strict=True))


def test_report_saves_in_every_format(tmp_path):
    Ws, bs, X, y = problem([3, 4, 2], 5, True, columns=True)
    d, gW, gb = columns_backprop(Ws, bs, X, y)
    d[0] = -d[0]
    report = gc.check_backprop(Ws, X, y, biases=bs, deltas=d, grads=gW, bias_grads=gb)
    paths = report.save(tmp_path, "mine")
    assert sorted(p.suffix for p in paths) == [".html", ".json", ".md", ".txt"]
    data = json.loads((tmp_path / "mine" / "report.json").read_text())
    assert data["first_failure"] == {"layer": 1, "check": "delta"}
    assert data["diagnosis"][0]["cause"] == "sign"
    assert data["config"]["network"]["backprop"] == {"layout": "out_in", "sign": "gradient",
                                                     "given": ["deltas", "weight grads", "bias grads"],
                                                     "per_sample_deltas": False}
    assert "δ1 = (W2ᵀ δ2) ⊙ f'(z1)" in (tmp_path / "mine" / "report.md").read_text()

"""Checks at ReLU kinks: one-sided derivatives decide, never a stencil that straddles the kink."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.model.backprop import Backprop
from gradcheck.numerical.kinks import KinkEntry, project

METHODS = ["auto", "central", "complex", "richardson", "forward"]


def kinked_net(activation="relu"):
    """A 3-4-2 net whose sample 0 has X = 0, so z1[0, 0] = z1[0, 2] = 0 exactly (b1[0] = b1[2] = 0)."""
    rng = np.random.default_rng(0)
    params = {"W1": rng.uniform(-1, 1, (3, 4)), "b1": np.array([0.0, 0.5, 0.0, -0.3]),
              "W2": rng.uniform(-1, 1, (4, 2)), "b2": rng.uniform(-1, 1, 2)}
    X = rng.standard_normal((5, 3))
    X[0] = 0.0
    net = gc.DenseNet.from_params(params, activation=[activation, "sigmoid"])
    return net, X, rng.random((5, 2))


class ReluOneAtKink(Backprop):
    """ReLU' taken as 1 at z = 0: the right one-sided derivative, also a valid subgradient."""

    def derivative(self, l):
        if l == 1:
            return (self.cache.z(1) >= 0).astype(float)
        return super().derivative(l)


class ReluDerivativeOne(Backprop):
    """The bug: ReLU' taken as 1 everywhere (the identity's derivative)."""

    def derivative(self, l):
        if l == 1:
            return np.ones_like(self.cache.a(1))
        return super().derivative(l)


class TestUnitsExactlyAtZero:
    @pytest.mark.parametrize("engine", ["structured", "generic"])
    @pytest.mark.parametrize("method", METHODS)
    def test_passes_and_names_the_kink_entries(self, method, engine):
        net, X, y = kinked_net()
        assert np.count_nonzero(net.forward_cache(X).z(1) == 0) == 2
        report = gc.check_network(net, X, y, method=method, engine=engine, diagnostics=False)
        assert report.passed and report.verdict == "passed", str(report)
        assert report.notes[0].startswith("4 entries at a ReLU kink, checked one-sided")
        # b1[0], b1[2] move z1[0, 0], z1[0, 2]; W1 does not (X[0] = 0); δ1 at the two units themselves.
        assert report.group("b1").notes[-1].startswith("2 entries at a ReLU kink, checked one-sided: b1(0) "
                                                       "one-sided")
        assert "δ1(0, 0) one-sided 0 … " in report.layers[0].delta.notes[-1]
        assert not any("kink" in n for n in report.group("W1").notes)

    def test_the_sweep_marks_the_kink_entries(self):
        net, X, y = kinked_net()
        report = gc.check_network(net, X, y)
        assert report.group("b1").kink_entries == 2 and report.group("W1").kink_entries == 0
        assert report.to_dict()["groups"][1]["kink_entries"] == 2
        page = report.to_html()
        sweep = page[page.index("Step-size sweep"):]
        assert sweep.count('class="kink"') == 1 and "⚠ 2 entries at a kink" in sweep

    def test_the_other_subgradient_passes_too(self):
        net, X, y = kinked_net()
        report = gc.check_network(net, X, y, backward=net.backward(X, y, steps=ReluOneAtKink), diagnostics=False)
        assert report.passed, str(report)
        assert report.layers[0].recurrence.passed  # the formula row accepts either subgradient as well

    def test_a_plain_central_check_false_fails_there(self):
        """Why this exists: without the kink rule, central differences measure the average of both sides."""
        net, X, y = kinked_net()
        report = gc.check_params(net.loss_closure(X, y), net.params, net.gradients(X, y), method="central")
        assert report.failed_groups == ["b1"]

    @pytest.mark.parametrize("slope", [0.01, 0.3])
    def test_leaky_relu(self, slope):
        net, X, y = kinked_net(f"leaky_relu:{slope}")
        report = gc.check_network(net, X, y, method="central", diagnostics=False)
        assert report.passed and "leaky ReLU kink" in report.notes[0]

    def test_softmax_cross_entropy_with_a_kink(self):
        net, X, _ = kinked_net()
        net = gc.DenseNet.from_params(net.params, activation=["relu", "softmax"], loss="cross_entropy",
                                      weight_decay=0.01)
        y = np.eye(2)[[0, 1, 1, 0, 1]]
        report = gc.check_network(net, X, y, method="central", diagnostics=False)
        assert report.passed and report.notes[0].startswith("4 entries at a ReLU kink")


class TestWrongReluDerivative:
    @pytest.mark.parametrize("method", ["auto", "central"])
    def test_located_to_its_layers_delta(self, method):
        net, X, y = kinked_net()
        report = gc.check_network(net, X, y, method=method, backward=net.backward(X, y, steps=ReluDerivativeOne))
        assert not report.passed
        assert report.first_failure == (1, "delta")
        assert report.layers[1].delta.passed and report.layers[0].recurrence.passed
        assert report.diagnoses[0].cause == "recurrence" and report.diagnoses[0].layer == 1


class TestInconclusive:
    def test_no_step_avoids_a_second_kink(self):
        """z1[1, 0] = 1e-13 sits just left of b1[0]'s kink at z1[0, 0] = 0: the left side has no clean step."""
        net, X, y = kinked_net()
        X[1] = [1e-13, 0.0, 0.0]
        net.params["W1"][0, 0] = 1.0
        z = net.forward_cache(X).z(1)
        assert z[0, 0] == 0 and z[1, 0] == 1e-13
        report = gc.check_network(net, X, y, method="central", diagnostics=False)
        b1 = report.group("b1")
        assert b1.verdict == "inconclusive" and "no step avoids" in b1.inconclusive_reason
        assert report.verdict == "inconclusive" and not report.passed
        assert "b1(0) undecided" in b1.notes[-1]


class TestProject:
    def test_between_equals_either_outside(self):
        e = KinkEntry((0,), 0.0, 1.0, 1e-9, 2e-9)
        v, err = project(np.zeros(3), np.zeros(3), np.array([0.4, 7, 7]), [e])
        assert v[0] == 0.4 and err[0] == 2e-9  # between: a valid subgradient, judged within both estimates
        v, err = project(np.zeros(1), np.zeros(1), np.array([1.5]), [e])
        assert v[0] == 1.0 and err[0] == 2e-9  # outside: compared with the nearer one-sided derivative
        v, err = project(np.zeros(1), np.zeros(1), np.array([-3.0]), [e])
        assert v[0] == 0.0 and err[0] == 1e-9


class TestDecisive:
    """The kink rule passes exactly the subgradients: between the sides passes, outside fails, tightly."""

    def backward_with_b1_0(self, net, X, y, value):
        b = net.backward(X, y)
        b.gradients = dict(b.gradients, b1=b.gradients["b1"].copy())
        b.gradients["b1"][0] = value
        return b

    def sides(self, net, X, y):
        # D₋ from ReLU'(0) = 0, D₊ from ReLU'(0) = 1: both exact backprop values at the kink.
        return net.gradients(X, y)["b1"][0], net.backward(X, y, steps=ReluOneAtKink).gradients["b1"][0]

    @pytest.mark.parametrize("method", ["auto", "central"])
    def test_between_passes_outside_fails(self, method):
        net, X, y = kinked_net()
        lo, hi = sorted(self.sides(net, X, y))
        assert hi - lo > 0.01
        for value, passed in (((lo + hi) / 2, True), (lo - 1e-3 * (hi - lo), False), (hi + 1e-3 * (hi - lo), False)):
            report = gc.check_network(net, X, y, method=method, diagnostics=False,
                                      backward=self.backward_with_b1_0(net, X, y, value))
            assert report.group("b1").passed is passed, (value, str(report))
            if not passed:
                assert report.group("b1").worst_index == (0,)

    def test_one_sided_tolerance_is_tight(self):
        """The one-sided estimates stay sharp: the loss-noise line leaves entries near a kink at rest.

        Error model: forward differences at h ≈ 1.5e-8 have truncation |f''|·h ≲ 1e-7 and round-off
        8ε|L|/h ≈ 1.2e-7·|L| (|L| ≈ 1 here), so tolerances stay below 1e-5 — a margin of ~10 over the estimate.
        """
        net, X, y = kinked_net()
        report = gc.check_network(net, X, y, method="auto", diagnostics=False)
        tol = report.group("b1").tolerance
        assert tol[0] < 1e-5 and tol[2] < 1e-5, tol

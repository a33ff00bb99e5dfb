"""check_network's typical_scale= and the step guard on the structured engine's measurements.

A network whose first layer has weights of scale s and inputs of scale 1/s has pre-activations
z_1 = X W_1 of scale 1, so its loss varies on the scale s in W_1: the network-level form of the
issue's 1e-8 example.  Steps ε^e·max(1, |θ|) move z_1 by ε^e/s.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

import gradcheck as gc


def scaled_case(scale: float, activation: str = "sigmoid") -> tuple[gc.DenseNet, np.ndarray, np.ndarray]:
    net = gc.DenseNet([3, 4, 2], seed=0, bias=True, activation=activation)
    net.params["W1"][...] *= scale
    rng = np.random.default_rng(0)
    return net, rng.standard_normal((5, 3)) / scale, rng.random((5, 2))


def planted(net: gc.DenseNet, X: np.ndarray, y: np.ndarray, rel: float) -> tuple[object, tuple[int, ...]]:
    """The correct backward pass with W1's median-magnitude entry off by the relative error ``rel``."""
    b = net.backward(X, y)
    g = {k: v.copy() for k, v in b.gradients.items()}
    order = np.argsort(np.abs(g["W1"]), axis=None)
    index = tuple(int(i) for i in np.unravel_index(int(order[g["W1"].size // 2]), g["W1"].shape))
    g["W1"][index] *= 1 + rel
    return dataclasses.replace(b, gradients=g), index


@pytest.mark.parametrize("engine", ["structured", "generic"])
@pytest.mark.parametrize("method", ["central", "richardson", "central4", "forward"])
def test_typical_scale_per_group_name(method, engine):
    net, X, y = scaled_case(1e-8)
    report = gc.check_network(net, X, y, method=method, engine=engine, typical_scale={"W1": 1e-8},
                              diagnostics=False)
    assert report.passed, report.to_markdown()
    assert report.config["typical_scale"] == {"W1": 1e-8}
    if method != "forward":
        # The first steps already resolve W1.  (Forward's truncation h·f''/2 exceeds 1e-6 of a few
        # entries' values at any step, so the guard may re-measure them; it keeps what it cannot improve.)
        assert not any("step guard" in n for n in report.notes)
    # Steps ε^e·1e-8 move z_1 by ε^e·|x|·1e-8 = ε^e·O(1): every rule's error estimate stays at the
    # level of its scale-1 use, relative to |L|/1e-8 ≈ 5e7.  The coarsest, forward's round-off
    # κ·max(ε|L|, r)/h with h = √ε·1e-8 (r: the structured engine's rounding bound of one difference,
    # 4e-16 here, 4·ε|L|) is 1.5e-4 of |g| (measured); times the safety factor 4 the tolerance stays
    # below 1e-3·|g|, and a 1e-2 error is caught with a margin above 10.
    w1 = report.group("W1")
    assert np.max(w1.tolerance / np.abs(w1.analytic)) < 1e-3
    wrong, index = planted(net, X, y, 1e-2)
    bad = gc.check_network(net, X, y, method=method, engine=engine, typical_scale={"W1": 1e-8},
                           backward=wrong, diagnostics=False, deltas=False)
    assert bad.failed_groups == ["W1"]
    assert bad.group("W1").worst_index == index


def test_typical_scale_one_number_for_every_group():
    net, X, y = scaled_case(1e-3)
    report = gc.check_network(net, X, y, method="central", typical_scale=1e-3, diagnostics=False)
    assert report.passed and report.config["typical_scale"] == 1e-3
    # 1e-3 for W2, b1, b2 too: their steps are ε^(1/3)·max(1e-3, |θ|), the measurements still pass.
    assert report.config["steps"]["b2"]["max"] < 1e-5


@pytest.mark.parametrize("value,needle", [
    ({"W3": 1e-8}, "typical_scale: no parameter group 'W3'; expected keys from ['W1', 'b1', 'W2', 'b2']"),
    (0.0, "typical_scale: expected a positive finite number"),
    ({"W1": -1.0}, "typical_scale['W1']: expected a positive finite number"),
])
def test_bad_typical_scale_names_the_argument(value, needle):
    net, X, y = scaled_case(1.0)
    with pytest.raises(gc.InvalidArgument) as info:
        gc.check_network(net, X, y, typical_scale=value, diagnostics=False)
    assert needle in str(info.value)


def test_check_backprop_takes_typical_scale():
    net, X, y = scaled_case(1e-8)
    b = net.backward(X, y)
    weights = [net.params["W1"], net.params["W2"]]
    report = gc.check_backprop(weights, X, y, biases=[net.params["b1"], net.params["b2"]],
                               grads=[b.gradients["W1"], b.gradients["W2"]], layout="in_out",
                               method="richardson", typical_scale={"W1": 1e-8}, diagnostics=False)
    assert report.passed, report.to_markdown()


@pytest.mark.parametrize("method", ["richardson", "central4"])
def test_step_guard_on_structured_measurements(method):
    # Weights of scale 1e-4 and inputs of 1e4: the ε^(1/5) steps (~7e-4) move z_1 by ~7, far beyond
    # the scale sigmoid varies on; before the guard ran on the structured engine, these correct
    # gradients failed (W1 at 0.6 relative).  The guard's smaller steps resolve them, as the generic
    # engine's do.
    net, X, y = scaled_case(1e-4)
    report = gc.check_network(net, X, y, method=method, diagnostics=False)
    assert report.passed, report.to_markdown()
    note = next(n for n in report.notes if n.startswith("W1: ") and "step guard" in n)
    guarded = re.match(r"W1: (\d+) entries .*; (\d+) kept a smaller step", note)
    assert guarded is not None and guarded[1] == guarded[2] and int(guarded[1]) >= 6
    generic = gc.check_network(net, X, y, method=method, diagnostics=False, engine="generic")
    # Same kept steps, so the same values to the rounding of the two engines (both estimates, with margin).
    s, g = report.group("W1"), generic.group("W1")
    assert np.all(np.abs(s.numerical - g.numerical) <= s.tolerance + g.tolerance)
    # The kept measurements keep their sensitivity: a 1e-6 relative error in the median entry is caught
    # (the kept estimates measured here are < 1e-9 relative, the tolerance below 1e-8).
    assert np.max(s.tolerance / np.abs(s.analytic)) < 1e-7
    wrong, index = planted(net, X, y, 1e-6)
    bad = gc.check_network(net, X, y, method=method, backward=wrong, diagnostics=False, deltas=False)
    assert bad.failed_groups == ["W1"] and bad.group("W1").worst_index == index


def test_step_guard_through_the_kink_engine():
    # ReLU networks wrap the structured engine in the kink engine; its remeasure passes the guard's
    # smaller steps on to the structured one.
    net, X, y = scaled_case(1e-4, activation=["sigmoid", "relu"])
    report = gc.check_network(net, X, y, method="richardson", diagnostics=False)
    assert report.passed, report.to_markdown()
    assert any(n.startswith("W1: ") and "step guard" in n for n in report.notes)

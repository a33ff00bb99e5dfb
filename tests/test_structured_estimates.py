"""The structured engine's error estimates against its actual errors, on drawn networks.

The structured engine forms each difference from the changed terms of the loss
(:mod:`gradcheck.numerical.responses`) and hands it to the generic rules, whose estimate is
truncation plus the round-off bound κ·ε·max|F|/h (:mod:`gradcheck.numerical.rules`).  Its actual
error is measured against the complex step (exact to 8ε relative, 1.8e-15, on these complex-safe
nets).  Bound: actual ≤ 1.25·estimate + 16ε·|g| — the 1.25 of ``test_rule_estimates`` (the next
term of the truncation series, measured at most 2 %), and twice the complex step's own error bound
for the reference.  On the catalogue's nets the estimates are 20…2000 times the actual errors
(Richardson at XOR's median W1 entry: 7.6e-12 against 9e-14); the verdict never rests on an
estimate smaller than the error it should cover.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, example, given, settings

import gradcheck as gc
from gradcheck.numerical.rules import LOCAL_METHODS
from gradcheck.numerical.structured import StructuredEngine
from gradcheck.strategies import dense_nets

EPS = float(np.finfo(np.float64).eps)
RULES_REAL = [m for m in LOCAL_METHODS if m != "complex"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dense_nets(activations=("sigmoid", "tanh"), max_layers=3, max_width=5, max_samples=6))
# Found 2026-11-30 before the estimates took the structured rounding bound: near a fit (|a − y| = 0.065,
# L = 2e-3) a difference rounds at ε·|a|·|a − y|, 15 × ε·|L|, and forward/backward were 1.4 × over.
@example((gc.DenseNet.from_params({"W1": np.array([[0.01276947557979776], [-0.01341690017802285],
                                                   [0.06504292543564584], [0.0106539181483556],
                                                   [-0.05440392071167533]])}),
          np.array([[0.345584192064786, 0.8216181435011584, 0.33043707618338714, -1.303157231604361,
                     0.9053558666731177]]), np.array([[0.42332644897257565]])))
def test_structured_estimates_are_not_optimistic(case):
    net, X, y = case
    engine = StructuredEngine.for_params(net, X, y, interpolate=True)
    truth = engine.gradient("complex")
    for method in RULES_REAL:
        g = engine.gradient(method)
        for name in net.params:
            actual = np.abs(g.values[name] - truth.values[name])
            allowed = 1.25 * g.errors[name] + 16 * EPS * np.abs(truth.values[name])
            assert np.all(actual <= allowed), (method, name, float(np.max(actual / allowed)))

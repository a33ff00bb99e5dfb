"""Error models shared by the numerical tests: how far two correct evaluations of a rule may differ.

Two computations of the same rule at the same steps differ only by the
rounding of the loss values they combine.  The rule's own round-off term
r = c·κε·max(|L|, 2σ/κ)/h (c its ``roundoff``, κ = ``ROUNDOFF_FACTOR``, σ the
measured loss noise) bounds the rounding of one computation, so two of them
agree within 2r.  The complex step has no such term (its estimate is κε·|value|,
blind to cancellation in a sum), so its scale is κε·max|value| over the group
per layer the complex perturbation passes through, each of which rounds it once.
"""

from __future__ import annotations

import numpy as np

from gradcheck.numerical.rules import LOSS_NOISE_FACTOR, ROUNDOFF_FACTOR, RULES

EPS = float(np.finfo(np.float64).eps)
KAPPA = ROUNDOFF_FACTOR * EPS


def roundoff(g, name, depth=1):
    """The round-off term r of every entry of group ``name`` of a NumericalGradient (value units)."""
    method = g.methods[name]
    if RULES[method].exponent is None:
        return depth * KAPPA * np.max(np.abs(g.values[name])) + 1e-300
    return RULES[method].roundoff * KAPPA * max(abs(g.loss_value), LOSS_NOISE_FACTOR * g.loss_noise / KAPPA) \
        / g.steps[name]


def amplification(method):
    """Σ|c_k| of the rule's value Σ c_k·D_k/h: how far rounding of the differences D_k moves it, times h."""
    k = len(RULES[method].offsets)
    return float(np.sum(np.abs(RULES[method].combine(np.eye(k), np.ones(k))[0])))

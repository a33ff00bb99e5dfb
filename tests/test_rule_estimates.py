"""Every difference rule's error estimate against its actual error, on functions with known derivatives.

Two bounds, for every local rule of :data:`gradcheck.numerical.rules.RULES`:

* **not optimistic**: actual ≤ 1.25 · estimate.  In the asymptotic regime an
  estimate from the same rule at two steps equals the leading error term; the
  next term of the series moves it by a fraction of that (measured: at most
  2 %), and 1.25 leaves room for it.  The tolerance multiplies the estimate by
  4 on top.
* **not absurdly pessimistic**: estimate ≤ 64 · max(actual, u), with
  u = ε·max|F|/h_min one rounding unit of the rule's smallest-step
  difference (ε·|value| for the complex step).  An estimate is its truncation
  estimate (≈ the actual truncation error) plus a round-off bound of at most
  2κ = 16 such units (Richardson's, ``rules.ROUNDOFF_FACTOR`` κ = 8) plus the
  rounding that the truncation estimate itself picks up (≤ 5 units): 64 leaves
  a factor of about 2.  The actual error can be far below u by luck (x⁴ is
  differentiated exactly), hence the max.  Richardson reports its sixth-order
  value with the error of its fourth-order level R₁(h/2) (a sixth-order
  estimate needs a fourth step), so its ratio is taken against that level's
  actual error.

Before the fix central4's estimate was |D(2h) − D(h)|/3, the error of the
central difference it improves on: 1.6e6 times its actual error on eˣ.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.numerical.rules import LOCAL_METHODS, RULES, apply_rule
from gradcheck.numerical.steps import rule_steps

EPS = float(np.finfo(np.float64).eps)
NOT_OPTIMISTIC = 1.25
NOT_PESSIMISTIC = 64.0


def _sigmoid_slope(k):
    def f(x):
        return 1 / (1 + np.exp(-k * (x - 1)))

    def df(x):
        e = np.exp(-abs(k * (x - 1)))  # the symmetric form keeps 1 − σ from rounding to 0
        return k * e / (1 + e) ** 2
    return f, df


def _squire_trapp(x):
    return np.exp(x) / np.sqrt(np.sin(x) ** 3 + np.cos(x) ** 3)


def _squire_trapp_prime(x):
    s, c = np.sin(x), np.cos(x)
    return _squire_trapp(x) * (1 - 1.5 * (s * s * c - c * c * s) / (s ** 3 + c ** 3))


# Smooth functions whose scale (1/k) the rules' steps resolve: k·h ≤ 0.1 for
# the largest step (ε^(1/5) ≈ 1e-3); finer scales need the step guard.
FUNCTIONS = {
    "squire-trapp": (_squire_trapp, _squire_trapp_prime),  # Squire & Trapp, SIAM Review 40 (1998)
    "exp": (np.exp, np.exp),
    "sin": (np.sin, np.cos),
    "log": (np.log, lambda x: 1 / x),
    "x^4": (lambda x: x ** 4, lambda x: 4 * x ** 3),
    "runge": (lambda x: 1 / (1 + 25 * x * x), lambda x: -50 * x / (1 + 25 * x * x) ** 2),
    "sigmoid(10(x-1))": _sigmoid_slope(10),
    "sigmoid(100(x-1))": _sigmoid_slope(100),
    "sin(30x)": (lambda x: np.sin(30 * x), lambda x: 30 * np.cos(30 * x)),
    "sin(100x)": (lambda x: np.sin(100 * x), lambda x: 100 * np.cos(100 * x)),
}
POINTS = np.linspace(0.05, 1.45, 15)


def _measure(method, f, x):
    """(value, estimate, rounding unit u, h) of one rule at x."""
    rule = RULES[method]
    h = rule_steps(method, np.array([x]), EPS)
    f0 = float(f(x))
    D = np.array([[f(x + o * h[0]) - f0 for o in rule.offsets]])
    values, errors = apply_rule(method, D, f0, h, EPS)
    if rule.exponent is None:
        unit = EPS * abs(values[0])
    else:
        unit = EPS * max(abs(f0), float(np.abs(D + f0).max())) / (h[0] * min(abs(o) for o in rule.offsets))
    return values[0], errors[0], unit, h[0]


def _richardson_fourth_order(f, x, h):
    """Richardson's level R₁(h/2) = (4D(h/4) − D(h/2))/3, whose error its estimate measures."""
    def d(s):
        return (f(x + s) - f(x - s)) / (2 * s)
    return (4 * d(h / 4) - d(h / 2)) / 3


@pytest.mark.parametrize("method", LOCAL_METHODS)
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_estimate_covers_the_actual_error_and_is_not_absurdly_larger(method, name):
    f, df = FUNCTIONS[name]
    optimistic, pessimistic = [], []
    for x in POINTS:
        value, estimate, unit, h = _measure(method, f, x)
        actual = abs(value - df(x))
        if actual > NOT_OPTIMISTIC * estimate:
            optimistic.append((float(x), actual, estimate))
        reference = abs(_richardson_fourth_order(f, x, h) - df(x)) if method == "richardson" else actual
        if estimate > NOT_PESSIMISTIC * max(reference, unit):
            pessimistic.append((float(x), estimate, reference, unit))
    assert optimistic == []
    assert pessimistic == []


def test_central4_estimate_at_the_squire_trapp_point():
    # The case: 1.3e-6 estimated against 4.7e-12 actual at x = 1.5.
    value, estimate, _, _ = _measure("central4", _squire_trapp, 1.5)
    actual = abs(value - _squire_trapp_prime(1.5))
    assert actual <= estimate <= 1e-10


@pytest.mark.parametrize("method", ["central", "central4", "richardson", "complex"])
def test_a_one_in_a_million_error_is_caught(method):
    # central caught it before; central4's tolerance (4 × 5e-6) passed it.
    x = np.array([1.5])
    wrong = lambda x: _squire_trapp_prime(x) * (1 + 1e-6)  # noqa: E731
    assert gc.check_grad(lambda x: _squire_trapp(x[0]), _squire_trapp_prime, x, method=method).passed
    assert not gc.check_grad(lambda x: _squire_trapp(x[0]), wrong, x, method=method).passed

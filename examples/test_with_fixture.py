"""Checking gradients inside a pytest suite with the ``gradcheck`` fixture.

Installing gradcheck registers its pytest plugin, so the fixture needs no
conftest.  ``gradcheck(loss, params, grads)`` passes silently when the
gradients are right; when they are wrong the test fails with a table of the
worst entries of every failing group (index, analytic, numerical,
tolerance).

``test_wrong_gradient`` shows that failure; it is marked ``xfail`` so that
this example suite stays green.  Remove the mark to see the table.

The last test draws random networks with ``gradcheck.interfaces.strategies`` (hypothesis)
and checks them with :func:`gradcheck.check_network`.

Run: ``python -m pytest examples/test_with_fixture.py``, and add
``--gradcheck-report reports/`` to keep a report of every check.
"""

import numpy as np
import pytest
from hypothesis import given, settings

import gradcheck as gc
from gradcheck.interfaces.strategies import dense_nets

rng = np.random.default_rng(0)
X = rng.standard_normal((20, 3))
t = rng.standard_normal(20)
PARAMS = {"w": rng.standard_normal(3), "c": np.array(0.5)}


def least_squares(p):
    """½‖X w + c − t‖² for a linear model with weights w and intercept c."""
    r = X @ p["w"] + p["c"] - t
    return 0.5 * r @ r


def test_least_squares_gradient(gradcheck):
    r = X @ PARAMS["w"] + PARAMS["c"] - t
    gradcheck(least_squares, PARAMS, {"w": X.T @ r, "c": r.sum()})


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="shows the failure table")
def test_wrong_gradient(gradcheck):
    r = X @ PARAMS["w"] + PARAMS["c"] - t
    # A classic slip: keeping the 2 of the square although the loss has a ½ in front.
    gradcheck(least_squares, PARAMS, {"w": 2 * X.T @ r, "c": 2 * r.sum()})


@settings(max_examples=10, deadline=None)
@given(dense_nets(max_layers=3, max_width=5))
def test_backprop_of_random_networks(case):
    net, X, y = case
    assert gc.check_network(net, X, y, diagnostics=False).passed

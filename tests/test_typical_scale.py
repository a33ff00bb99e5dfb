"""typical_scale=: steps for parameters that vary on a scale far from 1 (the issue's 1e-8 repro)."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc


def f(x):
    return np.exp(-(((x[0] - 2e-8) / 1e-8) ** 2)) + x[1] ** 2


def grad(x):
    return np.array([np.exp(-(((x[0] - 2e-8) / 1e-8) ** 2)) * (-2 * (x[0] - 2e-8) / 1e-16), 2 * x[1]])


X0 = np.array([1e-8, 0.5])


@pytest.mark.parametrize("method", ["central", "richardson", "central4", "forward"])
def test_steps_below_the_scale_the_loss_varies_on(method):
    # ε^e·max(1, |θ|) ≥ 1.5e-8 steps over the bump of width 1e-8: only the step guard's
    # smaller steps find it (tests/test_step_guard.py); typical_scale steps right from the start.
    plain = gc.check_grad(f, grad, X0, method=method)
    report = gc.check_grad(f, grad, X0, method=method, typical_scale=1e-8)
    assert not any("step guard" in n for n in report.notes)
    assert report.n_evaluations < plain.n_evaluations
    assert report.passed and report.config["typical_scale"] == 1e-8
    # With steps ε^e·max(1e-8, |θ|) the rules resolve 1e-4 relative (forward's truncation, the coarsest,
    # is ~h/1e-8 ≈ 1.5e-8 relative, 6000× below it).
    wrong = grad(X0) * np.array([1 + 1e-4, 1.0])
    assert gc.check_grad(f, wrong, X0, method=method, typical_scale={"x": 1e-8}).verdict == "failed"


def test_a_mapping_per_group():
    loss = lambda p: f(np.array([p["a"][0], p["b"][0]]))  # noqa: E731
    g = grad(X0)
    params = {"a": X0[:1], "b": X0[1:]}
    report = gc.check_params(loss, params, {"a": g[:1], "b": g[1:]}, method="central", typical_scale={"a": 1e-8})
    assert report.passed and report.config["typical_scale"] == {"a": 1e-8}


@pytest.mark.parametrize("value,needle", [
    (0.0, "typical_scale: expected a positive finite number"),
    (-1.0, "typical_scale: expected a positive finite number"),
    ("1e-8", "typical_scale: expected a positive finite number"),
    (float("inf"), "typical_scale: expected a positive finite number"),
    ({"x": True}, "typical_scale['x']: expected a positive finite number"),
    ({"y": 1e-8}, "typical_scale: no parameter group 'y'; expected keys from ['x']"),
])
def test_bad_values_name_the_argument(value, needle):
    with pytest.raises(gc.InvalidArgument) as info:
        gc.check_grad(f, grad, X0, typical_scale=value)
    assert needle in str(info.value)

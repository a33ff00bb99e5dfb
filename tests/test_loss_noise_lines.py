"""The loss-noise measurement along one line per group: a loss varying on 1e-8 in one group is not noise.

The network of ``test_network_scale.scaled_case(1e-8)`` has W1 of scale 1e-8 and inputs of scale 1e8;
the joint noise line (every group moved at once, s = 1e-6·max(1, |θ|)) moves z_1 by ~100 and read the
loss's variation as noise σ ≈ 6e-3 (1.4% of |L|), which made every real-difference method FAIL the
correct gradient of W1.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_network_scale import planted, scaled_case

import gradcheck as gc
from gradcheck.numerical.evaluator import GROUP_NOISE_RATIO, LossEvaluator, _line_noise, estimate_loss_noise
from gradcheck.numerical.noise_line import noise_direction

EPS = float(np.finfo(np.float64).eps)


def test_fast_group_is_not_read_as_noise():
    net, X, y = scaled_case(1e-8)
    params = dict(net.params)
    ev = LossEvaluator(net.loss_closure(X, y), params)
    f0 = float(ev())
    line = noise_direction(params, 0)  # the joint line estimate_loss_noise draws with seed 0
    joint, rounding = _line_noise(ev, params, line, list(params), f0, 8)
    assert not rounding and joint > 1e-3 * f0  # what the joint line alone says
    sigma = estimate_loss_noise(ev, f0, seed=0)
    # The loss is deterministic float64: σ is rounding, below the 100ε·|L| the measurement calls rounding.
    assert sigma <= 100 * EPS * f0


@pytest.mark.parametrize("method", ["auto", "complex", "central", "central4", "richardson", "forward"])
def test_correct_gradient_of_the_fast_net_is_never_failed_and_an_error_still_is(method):
    net, X, y = scaled_case(1e-8)
    report = gc.check_network(net, X, y, method=method, diagnostics=False)
    for g in report.groups:
        assert g.verdict in ("passed", "inconclusive"), report.to_markdown()
        if g.verdict == "inconclusive":
            assert g.inconclusive_reason
    # A 1e-2 error in W1's median entry is 1e-2·|g| against tolerances below 3e-4·|g| (the error model
    # of test_network_scale): caught and located.
    wrong, index = planted(net, X, y, 1e-2)
    bad = gc.check_network(net, X, y, method=method, backward=wrong, diagnostics=False, deltas=False)
    assert bad.failed_groups == ["W1"] and bad.group("W1").worst_index == index


@pytest.mark.parametrize("noise", [1e-6, 1e-10])
def test_noise_of_a_noisy_loss_keeps_its_level(noise):
    """Genuine noise reads alike along every group's line: σ stays the joint reading, within its spread."""
    rng = np.random.default_rng(1)
    params = {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([0.5, -1.0])}

    def loss(p):
        return float(np.sum(np.sin(p["a"])) + np.sum(p["b"] ** 2) + rng.normal(0.0, noise))

    ev = LossEvaluator(loss, params)
    readings = [estimate_loss_noise(ev, loss(params), seed) for seed in range(8)]
    # σ₄ of pure noise from one 9-point line (2·10⁵ simulated lines): 0.1% of readings fall below 0.11σ
    # and 0.01% above 3.1σ, so [σ/10, 4σ] holds for 8 readings except with probability ~1%; a reading
    # below σ/GROUP_NOISE_RATIO (the per-group rule replacing the joint reading) has probability < 1e-4.
    assert all(noise / 10 < r < 4 * noise for r in readings), readings
    assert min(readings) > noise / GROUP_NOISE_RATIO

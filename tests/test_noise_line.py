"""The loss-noise measurement's line drawn and written a chunk at a time (issue 14, memory budget in P).

``reference_noise`` is the whole-array form the measurement had before: a copy of θ, the whole
direction, θ + t·v formed per group.  The chunked form must call the loss at the same points (value
for value) and return the same σ, bit for bit, while keeping nothing of the size of θ.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from gradcheck.numerical import noise_line
from gradcheck.numerical.evaluator import GROUP_NOISE_RATIO, LossEvaluator, _noise_level, estimate_loss_noise

EPS = float(np.finfo(np.float64).eps)


def reference_line(ev, base, dirs, f0, m):
    seen = []
    for shrink in (1.0, 1e-2, 1e-4):
        values = []
        for i in range(-(m // 2), m // 2 + 1):
            for k in base:
                ev.work[k][...] = base[k] + ((i + 0.5) * shrink) * dirs[k]
            values.append(float(np.real(ev())))
        for k in base:
            ev.work[k][...] = base[k]
        F = np.asarray(values)
        levels = {k: _noise_level(F, k) for k in (3, 4, 5)}
        seen.append(levels[4])
        spread = max(levels.values()) / max(min(levels.values()), 1e-300)
        rounding = levels[4] <= 100 * EPS * max(float(np.max(np.abs(F))), abs(f0))
        if rounding or spread <= 4:
            return levels[4], rounding
    return min(seen), False


def reference_noise(ev, f0, seed=0, m=8, still=None, scales=None):
    """The whole-array measurement (the form before the line was chunked)."""
    rng = np.random.default_rng(0 if seed is None else seed)
    base = {k: v.copy() for k, v in ev.work.items()}
    dirs = {k: rng.uniform(-1.0, 1.0, v.shape) * 1e-6
            * max((scales or {}).get(k, 1.0), float(np.max(np.abs(v), initial=0.0))) for k, v in base.items()}
    for k, mask in (still or {}).items():
        dirs[k] = np.where(mask, 0.0, dirs[k])
    sigma, rounding = reference_line(ev, base, dirs, f0, m)
    moving = [k for k in base if np.any(dirs[k])]
    if rounding or len(moving) < 2:
        return sigma
    alone = [reference_line(ev, base, {k: dirs[k] if k == g else np.zeros_like(dirs[k]) for k in base}, f0, m)[0]
             for g in moving]
    resolved = [s for s in alone if s < sigma / GROUP_NOISE_RATIO]
    return max(resolved) if resolved else sigma


class Spy:
    """A loss that records a copy of every point it is called at; noise from a generator reset per run."""

    def __init__(self, noise: float, fast: float = 1.0) -> None:
        self.noise, self.fast, self.calls = noise, fast, []
        self.rng = np.random.default_rng(7)

    def reset(self) -> None:
        self.calls, self.rng = [], np.random.default_rng(7)

    def __call__(self, p):
        self.calls.append({k: np.array(v) for k, v in p.items()})
        a, b = p["a"].reshape(-1), p["b"].reshape(-1)
        return float(np.sum(np.sin(self.fast * a)) + b @ b + self.rng.normal(0.0, self.noise))


def cases():
    rng = np.random.default_rng(3)
    small = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    # A group over two chunks (the last one partial), float32, and a non-contiguous one.
    big = {"a": rng.normal(size=noise_line.CHUNK + 1234).astype(np.float32), "b": rng.normal(size=(40, 30)).T}
    with_zeros = {"a": np.array([0.0, -0.0, 1e-300, 2.0]), "b": np.array([-3.0, 0.0])}
    return {"small": small, "big": big, "zeros": with_zeros}


@pytest.mark.parametrize("case", ["small", "big", "zeros"])
@pytest.mark.parametrize("noise,fast", [(0.0, 1.0), (1e-7, 1.0), (1e-9, 1e9)])
@pytest.mark.parametrize("seed", [0, 5, None])
def test_same_points_and_same_sigma_as_the_whole_array_form(case, noise, fast, seed):
    """noise 0: one joint line (rounding); 1e-7: the per-group lines run too; fast 1e9: the joint reading is the
    smooth part of a and the per-group lines replace it."""
    params = cases()[case]
    given = {k: v.copy() for k, v in params.items()}
    still = {"a": np.arange(params["a"].size).reshape(params["a"].shape) % 3 == 0}
    scales = {"b": 4.0}
    spy = Spy(noise, fast)
    ev = LossEvaluator(spy, params)
    f0 = float(ev())
    spy.reset()
    expected = reference_noise(ev, f0, seed, still=still, scales=scales)
    expected_calls = spy.calls
    spy.reset()
    got = estimate_loss_noise(ev, f0, seed, still=still, scales=scales)
    assert got == expected or (math.isnan(got) and math.isnan(expected))
    assert len(spy.calls) == len(expected_calls) > 0
    for new, old in zip(spy.calls, expected_calls, strict=True):
        for k in params:
            # Equal as numbers: the per-group lines leave other groups at rest where the whole-array
            # form wrote θ + t·0 (the same values; a -0.0 can read +0.0 there).
            assert np.array_equal(new[k], old[k]), k
    for k, v in params.items():
        assert np.array_equal(ev.work[k], np.asarray(v, dtype=np.float64)), k  # restored
        assert ev.work[k].tobytes() == np.asarray(v, dtype=np.float64).tobytes(), k  # bit for bit
        assert params[k].tobytes() == given[k].tobytes(), k  # the caller's arrays never change


def test_a_working_copy_not_at_rest_is_measured_where_it_stands():
    """A copy that no longer holds the arrays it was made from is measured and restored as it is."""
    params = cases()["small"]
    spy = Spy(1e-7)
    ev = LossEvaluator(spy, params)
    f0 = float(ev())
    ev.work["a"][0, 0] += 0.5
    moved = ev.work["a"].copy()
    spy.reset()
    expected = reference_noise(ev, f0, 0)
    spy.reset()
    assert estimate_loss_noise(ev, f0, 0) == expected
    assert ev.work["a"].tobytes() == moved.tobytes()


def test_an_error_mid_line_leaves_the_copy_at_rest():
    params = {"a": np.linspace(-1.0, 1.0, 7), "b": np.ones(3)}
    calls = []

    def loss(p):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # not a loss error: it propagates, after the restore
        return float(np.sum(p["a"] ** 2) + np.sum(p["b"]))

    ev = LossEvaluator(loss, params)
    with pytest.raises(KeyboardInterrupt):
        estimate_loss_noise(ev, 1.0, 0)
    for k, v in params.items():
        assert ev.work[k].tobytes() == v.tobytes()


def test_peak_stays_within_a_few_chunks_above_the_working_copy():
    """P = 10⁶: the whole-array form allocated a copy of θ, the direction and two temporaries of θ + t·v
    (4 × 8 MB); the chunked one holds at most a few chunks of 512 kB (the draw, its scaled and masked
    forms, θ's chunk in float64, and the two chunks of the at-rest comparison) and the generator states.
    The bound, 4 MB, is 8 chunks: twice that count, and 8 times below the whole-array form."""
    P = 10**6
    rng = np.random.default_rng(0)
    params = {"a": rng.normal(size=P), "b": rng.normal(size=1000)}
    still = {"a": np.zeros(P, dtype=bool)}
    noise = np.random.default_rng(1)

    def loss(p):  # no temporaries of size P: dot products only
        return float(p["a"] @ p["a"] + p["b"] @ p["b"] + noise.normal(0.0, 1e-6))

    ev = LossEvaluator(loss, params)
    f0 = float(ev())
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        sigma = estimate_loss_noise(ev, f0, 0, still=still)
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert 1e-7 < sigma < 4e-6  # the noise was measured (the per-group lines ran too): see test_loss_noise_lines
    assert peak <= 8 * noise_line.CHUNK * 8, peak

"""A small check's fixed cost, cut without changing a number.

LossEngine's serial central first pass over every group at once equals differentiate_entries group by group.

Steps and round-off estimates are formed once over all entries (numerical/engine.py, _central_first_pass); the
reference is differentiate_entries('central', first_pass=...) on each group in turn, the path the engine takes
for one group at a time.  Values, estimates, steps, kept loss values, loss calls and progress reports must be the
same, bit for bit.  The report's step summary skips its mask when every step is finite, with the same result.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradcheck as gc
from gradcheck.numerical.engine import LossEngine, differentiate_entries
from gradcheck.numerical.evaluator import LossEvaluator, loss_at_rest
from gradcheck.verify.options import _step_summary


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    return x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True) and bool(
        np.all(np.signbit(x) == np.signbit(y)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=2, max_size=4), st.integers(0, 2**16),
       st.sampled_from([None, 1e-3, 10.0]), st.sampled_from([0.0, 1e3]), st.booleans())
def test_every_group_at_once_equals_group_by_group(sizes, seed, typical, spread, nonfinite):
    net = gc.DenseNet(sizes, seed=seed % 97)
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((3, sizes[0])), rng.random((3, sizes[-1]))
    loss = net.loss_closure(X, y)
    params = {k: v * (1 + spread * rng.random(v.shape)) for k, v in net.params.items()}
    if nonfinite:
        params[next(iter(params))].flat[0] = np.nan  # NaN values and estimates, without warnings
    names = list(params)
    scales = None if typical is None else {names[-1]: typical}
    reports: list[tuple[float, float]] = []
    engine = LossEngine(loss, params, lazy_truncation=True, typical_scale=scales)
    ng = engine.gradient("central", progress=lambda d, t: reports.append((d, t)))

    ev = LossEvaluator(loss, params)
    f0, _, eps = loss_at_rest(ev)
    assert f0 == ng.loss_value or (np.isnan(f0) and np.isnan(ng.loss_value))
    kept: dict[str, np.ndarray] = {}
    expected: list[tuple[float, float]] = []
    total, done, n_calls = sum(v.size for v in params.values()), 0, 0
    for name, p in params.items():
        def sub(d, t, _o=done):
            expected.append((_o + d, total))
        v, e, h, n = differentiate_entries("central", loss, params, name, np.arange(p.size), f0=f0, eps=eps,
                                           evaluator=ev, progress=sub, first_pass=kept,
                                           scale=(scales or {}).get(name, 1.0))
        done += p.size
        n_calls += n
        assert _same(ng.values[name], v.reshape(p.shape)) and _same(ng.errors[name], e.reshape(p.shape))
        assert _same(ng.steps[name], h.reshape(p.shape))
        assert _same(engine._first[name], kept[name])
    assert reports == expected
    # At rest: the first call, the determinism calls and the call after the measurement.
    assert ng.n_evaluations - n_calls == engine_calls_at_rest(ng)


def engine_calls_at_rest(ng) -> int:
    from gradcheck.numerical.engine import DETERMINISM_CALLS
    return 1 + DETERMINISM_CALLS + (1 if ng.nondeterministic is None and np.isfinite(ng.loss_value) else 0)


@pytest.mark.parametrize("steps", [[1e-6, 2e-6, 4e-6], [np.nan, 1e-6, 3e-6], [np.inf, 1e-6], [np.nan, np.inf],
                                   [], [[2e-6, 1e-6], [np.nan, 8e-6]]])
def test_the_step_summary_is_the_range_of_the_finite_steps(steps):
    s = np.asarray(steps, dtype=np.float64)
    finite = s[np.isfinite(s)]
    expected = {"min": float(finite.min()), "max": float(finite.max())} if finite.size else None
    assert _step_summary(s) == expected

"""run_check keeps a small group's first-pass comparison as its final one: the reports must not change.

The reference is the path without the reuse (``fits_whole`` false in run_check's first pass: flagged_entries
there, and every group compared again at the end), which is the code before the reuse.
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest
from _cases import report_fields

import gradcheck as gc
from gradcheck.verify import batch_compare, core


def _net(sizes: list[int], activation: str) -> tuple:
    net = gc.DenseNet(sizes, seed=1, activation=activation)
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((5, sizes[0])), rng.random((5, sizes[-1]))
    return net.loss_closure(X, y), net.params, net.gradients(X, y)


def _noisy(loss):
    rng = np.random.default_rng(0)
    return lambda p: loss(p) * (1 + 1e-11 * rng.standard_normal())


def _hashed(loss, amplitude: float = 1e-12):
    """Noise that is a function of θ (a hash of its bytes): no determinism call sees it, but the
    re-measured entries measure σ, so the final comparison has another σ than the first pass."""
    def noisy(p):
        h = zlib.crc32(b"".join(np.ascontiguousarray(v).tobytes() for v in p.values()))
        return loss(p) + amplitude * (h / 2**32 - 0.5)
    return noisy


def _planted(grads: dict) -> dict:
    bad = {k: v.copy() for k, v in grads.items()}
    bad[next(iter(bad))].flat[0] *= 1.001
    return bad


def _exact_fit() -> tuple:
    """L ≈ 1e-30 at θ within a few ulps of the fit: the cleared first-pass groups have coarse entries
    (max|F| far above |L|), so the step guard's coarse test on the reused round-off parts finds entries."""
    w, b = np.array([1 + 2**-51, 1.0, 1 - 2**-52, 1 + 2**-49]), np.array([[1 + 2**-50, 1.0]])
    return (lambda p: np.sum((p["w"] - 1) ** 2) + np.sum((p["b"] - 1) ** 2), {"w": w, "b": b},
            {"w": 2 * (w - 1), "b": 2 * (b - 1)})


CASES = {
    "exact fit, coarse entries": _exact_fit,
    "sigmoid 3-4-4-1": lambda: _net([3, 4, 4, 1], "sigmoid"),
    "tanh 2-5-3": lambda: _net([2, 5, 3], "tanh"),
    "relu 4-6-6-2": lambda: _net([4, 6, 6, 2], "relu"),
    "planted bug": lambda: (lambda loss, p, g: (loss, p, _planted(g)))(*_net([3, 4, 4, 1], "sigmoid")),
    "noisy loss": lambda: (lambda loss, p, g: (_noisy(loss), p, g))(*_net([3, 4, 4, 1], "tanh")),
    "noise a function of θ": lambda: (lambda loss, p, g: (_hashed(loss), p, g))(*_net([3, 4, 4, 1], "tanh")),
    # The planted group's re-measurement finds σ ≈ 5e-15 (σ/|L| ≈ 8e-16 > ε): the cleared groups'
    # tolerances change with it.
    "planted bug, noise a function of θ": lambda: (lambda loss, p, g: (_hashed(loss, 3e-14), p, _planted(g)))(
        *_net([3, 4, 4, 1], "tanh")),
}


@pytest.mark.parametrize("method", ["central", "forward", "auto"])
@pytest.mark.parametrize("case", list(CASES))
def test_reports_equal_those_without_the_reuse(case: str, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    warnings.simplefilter("ignore")
    loss, params, grads = CASES[case]()
    fast = gc.check_params(loss, params, grads, method=method)
    loss, params, grads = CASES[case]()  # a fresh noise generator: the same loss values again
    monkeypatch.setattr(core, "fits_whole", lambda *_: False)
    reference = gc.check_params(loss, params, grads, method=method)
    assert report_fields(fast) == report_fields(reference)


def test_a_clean_small_check_compares_each_group_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reuse is taken: no flagged_entries pass and one comparison per group on a passing central check,
    every group's in the one vectorized pass (compare_groups) and none again."""
    loss, params, grads = CASES["sigmoid 3-4-4-1"]()
    calls = {"flagged": 0, "compared": 0, "batched": 0}
    flagged, compared, batched = core.flagged_entries, core.compare_in_budget, batch_compare.compare_groups

    def batch(inputs, **k):
        calls["batched"] += len(inputs)
        return batched(inputs, **k)

    def count(key, f):
        def wrapped(*a, **k):
            calls[key] += 1
            return f(*a, **k)
        return wrapped

    monkeypatch.setattr(core, "flagged_entries", count("flagged", flagged))
    monkeypatch.setattr(core, "compare_in_budget", count("compared", compared))
    monkeypatch.setattr(batch_compare, "compare_groups", batch)
    report = gc.check_params(loss, params, grads, method="central")
    assert report.verdict == "passed"
    assert calls == {"flagged": 0, "compared": 0, "batched": len(params)}

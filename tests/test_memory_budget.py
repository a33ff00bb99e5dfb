"""memory_budget: group comparisons in chunks equal the in-memory comparison, within the budget."""

from __future__ import annotations

import numpy as np
import pytest
from _memory import peak_bytes

import gradcheck as gc
from gradcheck.report.records import GroupResult
from gradcheck.verify.resolution import LossResolution
from gradcheck.verify.streaming import COMPARE_BYTES, STREAMED_NOTE, compare_in_budget, compare_streamed
from gradcheck.verify.tolerance import Tolerance, compare_group

SUMMARY = ("passed", "n_entries", "n_mismatched", "max_abs_error", "max_rel_error", "worst_index", "worst_analytic",
           "worst_numerical", "worst_tolerance", "max_error_estimate", "worst", "notes", "inconclusive_reason")


def _same(streamed: GroupResult, whole: GroupResult) -> None:
    for field in SUMMARY:
        # repr: NaN entries (a non-finite numerical value) compare equal by their text.
        assert repr(getattr(streamed, field)) == repr(getattr(whole, field)), field
    assert streamed.verdict == whole.verdict
    # Sums of squares taken per chunk: equal to a few roundings of the norms.
    assert streamed.norm_rel_error == pytest.approx(whole.norm_rel_error, rel=1e-12, abs=0)


def _case(rng: np.random.Generator, kind: str, shape: tuple[int, ...]) -> dict:
    g = rng.standard_normal(shape)
    est = (0.5 + np.abs(rng.standard_normal(shape))) * 1e-9  # safety·est ≥ 2e-9: 20σ of the noise below
    n = g + rng.standard_normal(shape) * 1e-10
    p = rng.standard_normal(shape)
    if kind == "wrong":
        n.flat[rng.choice(g.size, 7, replace=False)] += 1e-3  # seven wrong entries: more than n_worst
    elif kind == "ties":
        n = g.copy()
        n.flat[[3, 100, 2000]] += 0.5  # equal ratios: the lowest index must come first
        g.flat[[3, 100, 2000]] = 1.0
        n.flat[[3, 100, 2000]] = 1.5
    elif kind == "nonfinite":
        n.flat[[5, 1500]] = np.nan
        g.flat[17] = np.inf
        p.flat[2500] = np.nan
    elif kind == "undecided":
        # Estimates far above the resolution bound leave disagreeing entries undecided.
        est.flat[[10, 1111, 2222]] = [1.0, 3.0, 3.0]
        n.flat[[10, 1111, 2222]] += 0.05
    elif kind == "factor":
        n = g / 2
    return {"analytic": g, "numerical": n, "error": est, "params": p}


@pytest.mark.parametrize("kind", ["clean", "wrong", "ties", "nonfinite", "undecided", "factor"])
@pytest.mark.parametrize("chunk", [1024, 1500, 100_000])
def test_streamed_comparison_equals_compare_group(kind: str, chunk: int) -> None:
    rng = np.random.default_rng(abs(hash(kind)) % 2**32)
    arrays = _case(rng, kind, (61, 53))
    rounding = np.abs(rng.standard_normal((61, 53))) * 1e-15
    roundoff = arrays["error"] / 3
    common = dict(eps_grad=2.2e-16, tol=Tolerance(), method="central", loss_value=0.7, grad_rounding=rounding,
                  loss_noise=1e-17, resolution=LossResolution(0.7, 1e-17, "float64", 2.2e-16))
    whole = compare_group("W1", **arrays, roundoff=roundoff, **common)
    streamed = compare_streamed("W1", **arrays, chunk=chunk, roundoff=lambda sl: roundoff.reshape(-1)[sl],
                                **common)
    _same(streamed, whole)
    assert streamed.tolerance is None and streamed.numerical is not None
    assert whole.verdict == ("passed" if kind == "clean" else "inconclusive" if kind == "undecided" else "failed")


def test_a_group_that_fits_is_compared_as_before() -> None:
    arrays = _case(np.random.default_rng(0), "wrong", (40, 30))
    r = compare_in_budget("W1", **arrays, memory_budget=1200 * COMPARE_BYTES, eps_grad=2.2e-16)
    assert r.tolerance is not None and STREAMED_NOTE not in r.notes
    s = compare_in_budget("W1", **arrays, memory_budget=1199 * COMPARE_BYTES, eps_grad=2.2e-16)
    assert s.tolerance is None and s.notes[-1] == STREAMED_NOTE
    assert (s.verdict, s.worst_index, s.worst, s.n_mismatched) == (r.verdict, r.worst_index, r.worst,
                                                                   r.n_mismatched)



def test_streamed_comparison_stays_within_the_budget() -> None:
    # 2e5 entries: compare_group's temporaries take about COMPARE_BYTES per entry (15 MB); in chunks the
    # peak is one chunk's temporaries (a quarter of the budget by construction) plus the running summaries.
    # Bound: the 2 MB budget itself, i.e. a margin of 4x over the chunk's share.
    arrays = _case(np.random.default_rng(1), "wrong", (500, 400))
    budget = 2 * 2**20
    whole = peak_bytes(lambda: compare_group("W1", **arrays, eps_grad=2.2e-16))
    streamed = peak_bytes(lambda: compare_in_budget("W1", **arrays, memory_budget=budget, eps_grad=2.2e-16))
    assert whole > 5 * budget  # the in-memory comparison would not fit
    assert streamed <= budget


@pytest.mark.parametrize("plant", ["factor", "one-entry"])
def test_a_planted_bug_is_caught_located_and_diagnosed_when_streaming(plant: str) -> None:
    net = gc.DenseNet([60, 50, 4], seed=3)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((6, 60)), rng.random((6, 4))
    backward = net.backward(X, y)
    W1 = backward.gradients["W1"].copy()
    if plant == "factor":
        W1 *= 2.0
    else:
        W1[3, 7] += 1e-3 * np.max(np.abs(W1))
    backward.gradients["W1"] = W1
    # W1 has 3,000 entries: at 100 kB its comparison (COMPARE_BYTES each) does not fit and runs in chunks.
    small = gc.check_network(net, X, y, backward=backward, memory_budget=100_000)
    whole = gc.check_network(net, X, y, backward=backward)
    streamed_group, whole_group = small.group("W1"), whole.group("W1")
    assert STREAMED_NOTE in streamed_group.notes and STREAMED_NOTE not in whole_group.notes
    assert whole.verdict == small.verdict == "failed"
    for field in ("verdict", "n_mismatched", "worst_index"):
        assert getattr(streamed_group, field) == getattr(whole_group, field), field
    assert [m.index for m in streamed_group.worst] == [m.index for m in whole_group.worst]
    assert small.to_dict()["first_failure"] == whole.to_dict()["first_failure"] == {"layer": 1, "check": "weight"}
    causes = [d["cause"] for d in small.to_dict()["diagnosis"]]
    assert causes == [d["cause"] for d in whole.to_dict()["diagnosis"]]
    assert causes[0] == ("factor-2" if plant == "factor" else "single-entry")
    if plant == "one-entry":
        assert streamed_group.worst_index == (3, 7)
    assert "W1" not in small.error_maps and "W1" in whole.error_maps


def test_small_checks_compare_in_memory() -> None:
    net = gc.DenseNet([3, 4, 1], seed=0)
    X, y = gc.xor_data()
    report = gc.check_network(net, X, y, memory_budget=2**20)
    assert all(g.tolerance is not None and STREAMED_NOTE not in g.notes for g in report.groups)

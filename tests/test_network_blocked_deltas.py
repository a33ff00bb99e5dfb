"""check_network's delta checks and formula rows by blocks of samples (issue 14, N dimension).

When the deltas' per-entry arrays over every layer exceed a quarter of the budget, the delta groups
are measured a block of samples at a time whenever they are read (gradcheck.numerical.delta_rows),
backprop's delta rounding bounds likewise, and the formula rows' sums are accumulated over fixed
blocks of samples (gradcheck.verify.delta_blocks).  Blocking must change no verdict, no worst entry,
no first failure and no cause, and must keep the peak within the budget at large N.
"""

from __future__ import annotations

import numpy as np
import pytest
from _memory import peak_bytes

import gradcheck as gc
import gradcheck.numerical.structured as structured
import gradcheck.verify.network as network
from gradcheck.catalogue.bugs import CATALOGUE

MB = 2**20
ROWS = ("delta", "recurrence", "weight_formula", "bias_formula")


def _data(n_samples: int, sizes: list[int], seed: int = 4) -> tuple[gc.DenseNet, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    net = gc.DenseNet(sizes, seed=seed)
    return net, rng.standard_normal((n_samples, sizes[0])), rng.random((n_samples, sizes[-1]))


def _rows(report: gc.NetworkReport, numbers: bool = True) -> list[tuple]:
    """Every layer's delta and formula rows: (field, name, verdict, counts, reason, worst index, worst entries[,
    numbers])."""
    out = []
    for layer in report.layers:
        for field in ROWS:
            g = getattr(layer, field)
            row = (field, g.name, g.verdict, g.n_entries, g.n_mismatched, g.inconclusive_reason, g.worst_index,
                   [m.index for m in g.worst])
            if numbers:
                row += (g.max_abs_error, [(m.analytic, m.numerical, m.tolerance) for m in g.worst])
            out.append(row)
    return out


def _causes(report: gc.NetworkReport) -> list[tuple]:
    return [(d.cause, d.group, d.layer) for d in report.diagnoses]


def _count_blocked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the delta groups the structured engine hands over by rows (measured when read)."""
    calls: list[int] = []
    orig = structured.delta_rows

    def counted(engine, *args, **kwargs):
        calls.append(engine.groups["z"][0])
        return orig(engine, *args, **kwargs)

    monkeypatch.setattr(structured, "delta_rows", counted)
    return calls


def test_blocking_alone_changes_no_number(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same budget (so the parameter checks are the same), blocking forced on: every delta and formula
    # row, numbers included, is the unblocked one's; the deltas are measured from the same unit responses
    # and the formula sums run over the same fixed blocks of samples.
    net, X, y = _data(300, [6, 8, 8, 3])
    backward = CATALOGUE["hidden-derivative-missing"].backward(net, X, y)
    for bw in (None, backward):
        plain = gc.check_network(net, X, y, backward=bw, diagnostics=False)
        calls = _count_blocked(monkeypatch)
        monkeypatch.setattr(network, "by_samples", lambda *args: True)
        blocked = gc.check_network(net, X, y, backward=bw, diagnostics=False)
        monkeypatch.undo()
        assert calls == [1, 2, 3]  # every delta group went by rows
        assert _rows(blocked) == _rows(plain)
        assert _causes(blocked) == _causes(plain)
        assert blocked.passed == plain.passed


def _bugs(net: gc.DenseNet, X: np.ndarray) -> list[str]:
    return [name for name, bug in CATALOGUE.items() if bug.models == "classic" and bug.applies(net, X)]


@pytest.mark.parametrize("bug", [None, *_bugs(*_data(240, [5, 8, 8, 3])[::2])])
def test_small_budget_judges_as_a_large_one(monkeypatch: pytest.MonkeyPatch, bug: str | None) -> None:
    net, X, y = _data(240, [5, 8, 8, 3])
    backward = None if bug is None else CATALOGUE[bug].backward(net, X, y)
    large = gc.check_network(net, X, y, backward=backward, diagnostics=False, memory_budget=2**30)
    calls = _count_blocked(monkeypatch)
    # 240 × 19 delta entries at 24 bytes (109 kB) exceed a quarter of 64 kB: blocked, and compared in chunks.
    small = gc.check_network(net, X, y, backward=backward, diagnostics=False, memory_budget=64 * 1024)
    assert calls == [1, 2, 3]
    assert small.verdict == large.verdict
    assert large.passed == (bug is None)  # the planted bug is caught (and a correct net passes)
    assert _causes(small) == _causes(large)
    for s, w in zip(_rows(small, numbers=False), _rows(large, numbers=False), strict=True):
        if w[0] in ("delta", "recurrence"):
            assert s == w  # per sample: the same numbers whatever the budget, so the same worst entries
        else:
            # The weight and bias formulas compare with the parameter check's ∂L/∂θ, whose sums over samples
            # the structured engine takes in blocks sized by the budget: their rounding, and so which passing
            # entry is "worst" at the rounding level, depends on the budget with or without blocked deltas.
            assert s[:6] == w[:6]
            if w[2] == "failed":
                assert s[6:] == w[6:]


def test_blocked_delta_checks_stay_within_the_budget_at_large_n() -> None:
    n, budget = 6000, 4 * MB
    net, X, y = _data(n, [32, 64, 32, 8], seed=0)
    P = sum(v.size for v in net.params.values())
    loss = net.loss_closure(X, y)
    # What the budget does not count (benchmarks/memory.py's definition): backprop's output (the gradient,
    # deltas and forward pass z_l, a_l: 8 bytes per parameter, 24 per unit and sample), one working copy
    # of the parameters (16 bytes each) and one call of the loss (measured).
    uncounted = 8 * P + 24 * n * sum(net.sizes[1:]) + 16 * P + peak_bytes(lambda: loss(dict(net.params)))
    counted = peak_bytes(lambda: gc.check_network(net, X, y, diagnostics=False, memory_budget=budget)) - uncounted
    # The issue's target, 1.25 × the budget.  Measured 3.5 MB (0.88) at N = 4000; unblocked, the deltas'
    # values, estimates and rounding bounds alone took 24 bytes × 6000 × 104 = 15 MB.
    assert counted <= 1.25 * budget, counted / MB

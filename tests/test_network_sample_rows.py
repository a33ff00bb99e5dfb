"""check_network's recurrence rows formed a block of samples at a time (issue 14, N dimension).

Each sample's row of (δ_{l+1} W_{l+1}ᵀ) ⊙ f'(z_l) reads that sample's values only, so the rows are
RowChunks over samples: f'(z_l) and the prediction never exist for every sample at once when the
comparison streams.  Judged whole (a budget that holds everything) or in blocks, the rows must give the
same verdicts, counts and worst entries.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from _cases import wrong_derivative_net

import gradcheck as gc
import gradcheck.verify.network as network
from gradcheck.verify.streaming import STREAMED_NOTE

MB = 2**20




def _captured_rows(monkeypatch: pytest.MonkeyPatch, net: gc.DenseNet, n_samples: int,
                   budget: int) -> tuple[list[int], list, dict]:
    """Run check_network with _layer_rows wrapped: its peak above what was held when it began, and its arguments."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((n_samples, 32)), rng.random((n_samples, 8))
    orig = network._layer_rows
    peaks: list[int] = []
    calls: list = []

    def wrapped(*args, **kwargs):
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = orig(*args, **kwargs)
        peaks.append(tracemalloc.get_traced_memory()[1] - before)
        calls.append((args, kwargs))
        return out

    monkeypatch.setattr(network, "_layer_rows", wrapped)
    tracemalloc.start()
    try:
        gc.check_network(net, X, y, memory_budget=budget, diagnostics=False)
    finally:
        tracemalloc.stop()
    return peaks, calls[0][0], calls[0][1]


def test_recurrence_rows_in_sample_blocks_judge_as_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    _, args, kwargs = _captured_rows(monkeypatch, wrong_derivative_net(), 600, 2**40)
    args = args[:9]  # net … kinks: the budget is given below
    whole = network._layer_rows(*args, memory_budget=2**40)
    blocked = network._layer_rows(*args, memory_budget=256 * 1024)
    # 600 × 64 entries at 80 bytes each (3 MB) exceed the 256 kB budget: the blocked rows stream.
    assert STREAMED_NOTE in blocked[0].recurrence.notes and STREAMED_NOTE not in whole[0].recurrence.notes
    assert not whole[0].recurrence.passed and whole[0].recurrence.n_mismatched > 0  # the planted f' is caught
    for w, b in zip(whole, blocked, strict=True):
        br, wr = b.recurrence, w.recurrence
        for field in ("verdict", "n_mismatched", "worst_index", "inconclusive_reason"):
            assert repr(getattr(br, field)) == repr(getattr(wr, field)), (w.layer, field)
        assert [m.index for m in br.worst] == [m.index for m in wr.worst]
        # A block's row-by-matrix products may sum in another order than the whole product's (BLAS
        # blocking), and the normwise error is summed per chunk: the numbers agree to a few ε relative.
        for m, n in zip(br.worst, wr.worst, strict=True):
            assert (m.analytic, m.abs_error, m.tolerance) == pytest.approx((n.analytic, n.abs_error, n.tolerance),
                                                                            rel=1e-12)
        assert br.norm_rel_error == pytest.approx(wr.norm_rel_error, rel=1e-12)


def test_recurrence_rows_are_formed_by_sample_blocks_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    n_samples, budget = 2000, MB
    peaks, _, _ = _captured_rows(monkeypatch, gc.DenseNet([32, 64, 32, 8], seed=0), n_samples, budget)
    # Error model: the streamed comparison's temporaries and one block of each RowChunks input stay within
    # 1.25 × the budget (chunks of a quarter of it), plus the output row's link formed whole: ∂L/∂a_L,
    # f'(z_L) and their product, 3 arrays of N × n_L floats (1.37 MB measured; forming f' for every layer
    # and the recurrence rows whole took 5.5 MB).
    output_row = 3 * 8 * n_samples * 8
    assert peaks[0] <= 1.25 * budget + output_row, peaks[0] / MB

"""check_network's delta checks and formula rows compared within a quarter of the budget (issue 14, N dimension).

The delta groups (N × n_l entries) and the recurrence rows were compared whole whenever the whole budget
held them, on top of the per-sample arrays already held, which doubled the peak at large N.  Judged in
chunks (a small budget) or whole (a budget that holds everything), a planted bug must give the same
verdicts, counts, worst entries and first failure, and the small budget must actually stream the deltas.
"""

from __future__ import annotations

import numpy as np
from _cases import wrong_derivative_net

import gradcheck as gc
from gradcheck.verify.streaming import STREAMED_NOTE


def _summary(g: gc.GroupResult | None) -> tuple | None:
    if g is None:
        return None
    return (g.name, g.passed, g.n_entries, g.n_mismatched, g.worst_index, g.max_abs_error, g.max_rel_error,
            [(m.index, m.analytic, m.numerical, m.tolerance) for m in g.worst])


def test_delta_checks_in_chunks_judge_as_whole() -> None:
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((600, 32)), rng.random((600, 8))
    net = wrong_derivative_net()
    whole = gc.check_network(net, X, y, memory_budget=2**40, diagnostics=False)
    # 600 × 64 = 38,400 delta entries need about 3 MB to compare whole; a quarter of 4 MB is 1 MB.
    chunked = gc.check_network(net, X, y, memory_budget=4 * 2**20, diagnostics=False)
    assert not whole.passed and not chunked.passed
    for a, b in zip(whole.layers, chunked.layers, strict=True):
        for row in ("delta", "recurrence"):
            sa, sb = _summary(getattr(a, row)), _summary(getattr(b, row))
            assert sa is not None and sb is not None
            # Verdicts, counts and worst entries identical; error maxima equal to rounding of the summation order.
            assert sa[:5] == sb[:5] and sa[7] == sb[7]
            assert np.allclose(sa[5:7], sb[5:7], rtol=1e-12, atol=0)
    assert not whole.layers[0].delta.passed  # the planted bug is found in δ1
    assert any(STREAMED_NOTE in n for n in chunked.layers[1].delta.notes)  # the small budget did stream δ2
    assert not any(STREAMED_NOTE in n for n in whole.layers[1].delta.notes)
    # The same first failure and cause.  A delta group blocked by samples keeps no numerical array: its
    # diagnosis reads a leading sample of it (as for a weight group over the budget), so a message that
    # counts entries counts the sample's.
    assert [(d.cause, d.group, d.layer) for d in whole.diagnoses] == \
        [(d.cause, d.group, d.layer) for d in chunked.diagnoses]

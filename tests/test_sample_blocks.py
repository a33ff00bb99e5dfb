"""The structured engine in blocks of samples: the same numbers as all samples at once, within the budget.

The loss is a sum over samples, so a weight's or bias's difference is the sum
of its blocks' differences and a delta entry belongs to one block.  Blocked
and whole passes evaluate the same unit responses ψ; they differ only in the
order the per-sample terms are summed, a rounding each engine's round-off
model already covers: values agree within 2(r + c·κ·R/h) (r the generic
round-off term, R the structured bound of one difference's rounding, see
tests/test_structured.py), the bound two structured passes are held to there.

Memory: tracemalloc's peak of ``gradient()`` minus the peak of one call of the
loss closure (its own forward pass over every sample, which the budget does
not govern: it is the caller's function) must stay within 1.25 × the budget
plus the group's outputs (values, errors, steps and differences: a few
8-byte arrays per entry, which #14's streaming of the P dimension treats).
"""

from __future__ import annotations

import numpy as np
import pytest
from _memory import peak_bytes
from test_structured import assert_same_as_generic, make

import gradcheck as gc
from gradcheck.numerical.structured import StructuredEngine
from gradcheck.verify.network import _z_loss

BIG = 2**30  # every sample in one block
SMALL = 2**13  # blocks of a few samples


def _blocked(engine: StructuredEngine) -> int:
    return engine._stats["sample_blocks"]


@pytest.mark.parametrize("method", ["forward", "central", "richardson", "complex", "auto"])
def test_parameters_in_blocks_equal_all_samples_at_once(method):
    net, X, y = make([6, 9, 5, 2], True, "half_sum", "sigmoid", 40, 1.5, 1.0)
    whole_engine = StructuredEngine.for_params(net, X, y, memory_budget=BIG)
    whole = whole_engine.gradient(method)
    blocked_engine = StructuredEngine.for_params(net, X, y, memory_budget=SMALL)
    blocked = blocked_engine.gradient(method)
    assert _blocked(whole_engine) == 1 and _blocked(blocked_engine) > 4
    assert "the samples in up to" in blocked.notes[0] and "the samples" not in whole.notes[0]
    assert_same_as_generic(blocked, whole, net.n_layers, blocked_engine)


@pytest.mark.parametrize("method", ["central", "complex"])
def test_deltas_in_blocks_equal_all_samples_at_once(method):
    net, X, y = make([5, 7, 4, 2], True, "half_sum", "sigmoid", 60, 1.5, 1.0)
    cache = net.forward_cache(X)
    for layer in range(1, net.n_layers + 1):
        z = np.array(cache.zs[layer - 1])
        loss = _z_loss(net, layer, y)
        blocked_engine = StructuredEngine.for_deltas(net, layer, z, y, loss, memory_budget=2**14)
        blocked = blocked_engine.gradient(method)
        whole = StructuredEngine.for_deltas(net, layer, z, y, loss, memory_budget=BIG).gradient(method)
        assert _blocked(blocked_engine) > 4
        # A delta entry is one sample's ψ: the same operations in either case, the same numbers.
        np.testing.assert_array_equal(blocked.values["z"], whole.values["z"])
        np.testing.assert_array_equal(blocked.errors["z"], whole.errors["z"])


def test_remeasured_entries_in_blocks_equal_all_samples_at_once():
    net, X, y = make([6, 9, 5, 2], True, "half_sum", "sigmoid", 40, 1.5, 1.0)
    idx = np.array([0, 7, 20, 53])
    whole_engine = StructuredEngine.for_params(net, X, y, memory_budget=BIG)
    g = whole_engine.gradient("central")
    common = {"f0": g.loss_value, "eps": float(np.finfo(np.float64).eps), "loss_noise": g.loss_noise}
    v, e, h, _ = whole_engine.remeasure("richardson", "W1", idx, **common)
    blocked_engine = StructuredEngine.for_params(net, X, y, memory_budget=SMALL)
    vb, eb, hb, _ = blocked_engine.remeasure("richardson", "W1", idx, **common)
    assert _blocked(blocked_engine) > 4
    np.testing.assert_array_equal(h, hb)
    # Within the rule's round-off term of the structured bound, twice (see the module docstring).
    R = whole_engine.difference_rounding("W1", idx, common["eps"])
    assert np.all(np.abs(vb - v) <= 2 * 8 * R / h)


def test_a_planted_bug_is_found_the_same_way_in_blocks():
    """Verdict, worst entry, first failure and cause do not depend on the blocks."""
    from gradcheck.catalogue.bugs import CATALOGUE

    net, X, y = make([5, 8, 6, 2], True, "half_sum", "sigmoid", 50, 1.0, 1.0)
    backward = CATALOGUE["hidden-derivative-missing"].backward(net, X, y)
    reports = [gc.check_network(net, X, y, backward=backward, memory_budget=b, diagnostics=False) for b in (BIG, SMALL)]
    whole, blocked = (r.to_dict() for r in reports)
    assert not reports[0].passed
    assert whole["first_failure"] is not None
    assert whole["first_failure"] == blocked["first_failure"]
    assert [d["cause"] for d in whole["diagnosis"]] == [d["cause"] for d in blocked["diagnosis"]]
    # A failing group's worst entry is the bug's; a passing group's "worst" is the largest of ratios far
    # below 1, which the summation order may reorder, so only its verdict is compared.
    failed = 0
    for a, b in zip(reports[0].groups + [x.delta for x in reports[0].layers],
                    reports[1].groups + [x.delta for x in reports[1].layers], strict=True):
        assert a.verdict == b.verdict
        if a.verdict == "failed":
            failed += 1
            assert (a.worst_index, a.n_mismatched) == (b.worst_index, b.n_mismatched)
    assert failed



@pytest.mark.parametrize("method", ["auto", "central"])
def test_structured_evaluation_stays_within_a_small_budget_at_many_samples(method):
    budget = 2**20
    rng = np.random.default_rng(0)
    net = gc.DenseNet([32, 64, 32, 8], seed=0)
    X, y = rng.standard_normal((2000, 32)), rng.random((2000, 8))
    loss = net.loss_closure(X, y)
    engine = StructuredEngine.for_params(net, X, y, loss, memory_budget=budget)
    own = peak_bytes(lambda: loss(net.params))  # the loss's own forward pass over every sample
    P = sum(p.size for p in net.params.values())
    outputs = 8 * 8 * P  # values, errors, steps, differences (up to 4 offsets) and the rule's temporaries
    peak = peak_bytes(lambda: engine.gradient(method))
    assert _blocked(engine) > 10
    # Before blocks of samples: 4.5 MB ('auto') and 25.8 MB ('central') here; now 0.11 and 0.63 MB.
    assert peak - own <= 1.25 * budget + outputs, (peak - own) / budget

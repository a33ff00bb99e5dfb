"""How many stacked parameter sets one call of a ``vectorized=True`` loss may take.

A batched call holds the stacked copy of the perturbed group (one set per
perturbation) and whatever the loss itself allocates per set: its stacked
activations, often far larger than the parameters.  The second is unknown
until the loss runs, so it is measured once, on a call with
:data:`PROBE_SETS` sets at the unperturbed parameters, with :mod:`tracemalloc`
(numpy reports its array allocations to it).  The batch then holds as many
sets as fit the memory budget, and no more than fit :data:`CALL_BYTES`: a
batch whose working arrays stay in cache is faster per set than a larger one,
and a smaller one pays the loss's per-call overhead more often.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from .evaluator import LossEvaluator, read_only

__all__ = ["PROBE_SETS", "CALL_BYTES", "MAX_SETS", "loss_bytes_per_set", "batch_size"]

#: Parameter sets of the call that measures the loss's own memory per set.
PROBE_SETS = 4
#: Working bytes one batched call aims at (the loss's arrays and the stacked group).  On the
#: 32-64-32-8 net's stacked loss (benchmarks/whole_check.py, 2 cores with 1 MB of L2 each) calls
#: of 3-4 MB took 30 µs per set and calls of 8 MB 45-100 µs: a larger call's arrays leave the
#: cache and its allocations are fresh pages.
CALL_BYTES = 4 * 2**20
#: At most this many sets per call.
MAX_SETS = 4096


def loss_bytes_per_set(ev: LossEvaluator) -> int:
    """Peak bytes the vectorized loss of ``ev`` allocates per stacked parameter set (measured once, then kept).

    The probe call (:data:`PROBE_SETS` sets, every group stacked as a copy of
    θ's) counts in ``ev.n_evaluations``.  Its fixed allocations are
    charged to the sets too, so the figure errs high: batches sized from it
    stay within the budget.
    """
    cached = getattr(ev, "_set_bytes", None)
    if cached is not None:
        return int(cached)
    # Every group stacked as its own copy (made before the measurement starts): a loss that computes
    # the layers of groups shared by every set (broadcast views) once allocates the most per set when
    # no group is shared, so the figure bounds every batch, whichever group it perturbs.
    arrays = {k: read_only(np.repeat(v[None], PROBE_SETS, axis=0)) for k, v in ev.work.items()}
    was_tracing = tracemalloc.is_tracing()
    if was_tracing:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
    else:
        start = 0
        tracemalloc.start()
    try:
        ev.batch(arrays, PROBE_SETS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    per_set = max(0, peak - start) // PROBE_SETS + 1
    ev._set_bytes = per_set  # type: ignore[attr-defined]
    return per_set


def batch_size(ev: LossEvaluator, name: str, memory_budget: int) -> int:
    """Sets per call when group ``name`` is perturbed: the stacked copy and the loss's own arrays within the budget.

    Returns
    -------
    int
        At least 1 (a single set is evaluated even when it alone exceeds the
        budget: the loss needs it whatever the batching).
    """
    per_set = ev.work[name].nbytes + loss_bytes_per_set(ev)
    return int(max(1, min(MAX_SETS, memory_budget // per_set, max(1, CALL_BYTES // per_set))))

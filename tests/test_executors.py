"""Executors, vectorized losses and progress: the numbers never depend on how the work runs."""

from __future__ import annotations

import re
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _bounds import roundoff

import gradcheck as gc
from gradcheck.numerical.batching import PROBE_SETS, loss_bytes_per_set
from gradcheck.numerical.engine import run_tasks
from gradcheck.numerical.evaluator import LossEvaluator
from gradcheck.numerical.gradient import numerical_gradient
from gradcheck.numerical.rules import LOCAL_METHODS

RNG = np.random.default_rng(7)
PARAMS = {"x": RNG.standard_normal(7), "M": RNG.standard_normal((3, 4))}


def smooth(p):
    return np.sum(np.exp(0.3 * p["x"])) * np.sum(np.sin(p["M"])) + np.sum(p["M"] ** 3)


def smooth_grads():
    ex, sM = np.sum(np.exp(0.3 * PARAMS["x"])), np.sum(np.sin(PARAMS["M"]))
    return {"x": 0.3 * np.exp(0.3 * PARAMS["x"]) * sM, "M": ex * np.cos(PARAMS["M"]) + 3 * PARAMS["M"] ** 2}


def stacked(p):
    """``smooth`` for parameter sets stacked along axis 0."""
    return (np.sum(np.exp(0.3 * p["x"]), axis=-1) * np.sum(np.sin(p["M"]), axis=(-2, -1))
            + np.sum(p["M"] ** 3, axis=(-2, -1)))


def same_numbers(a, b):
    """Bit for bit: where the work runs changes neither the operations nor their order."""
    assert a.methods == b.methods and a.n_evaluations == b.n_evaluations
    for k in a.values:
        np.testing.assert_array_equal(a.values[k], b.values[k])
        np.testing.assert_array_equal(a.errors[k], b.errors[k])
        np.testing.assert_array_equal(a.steps[k], b.steps[k])


def _timeless(d):
    """A report dict without its timings, timestamps and chunk sizes (an executor gets larger chunks)."""
    if isinstance(d, dict):
        return {k: _timeless(v) for k, v in d.items() if k not in ("elapsed_seconds", "created")}
    if isinstance(d, list):
        return [_timeless(v) for v in d]
    if isinstance(d, str):
        return re.sub(r"in \d+ chunks? of at most [^(]+", "in chunks ", d)
    return d


def same_report(a, b):
    assert _timeless(a.to_dict()) == _timeless(b.to_dict())


@pytest.fixture(scope="module")
def dask_executor():
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    yield client.get_executor()
    client.close()
    cluster.close()


@pytest.fixture(params=["threads", "dask"])
def executor(request):
    if request.param == "threads":
        with ThreadPoolExecutor(max_workers=3) as pool:
            yield pool
    else:
        yield request.getfixturevalue("dask_executor")


class TestGenericEngine:
    @pytest.mark.parametrize("method", ("auto",) + LOCAL_METHODS)
    def test_executor_gives_identical_numbers(self, executor, method):
        same_numbers(numerical_gradient(smooth, PARAMS, method),
                     numerical_gradient(smooth, PARAMS, method, executor=executor))

    def test_check_params_report_is_identical(self, executor):
        grads = smooth_grads()
        same_report(gc.check_params(smooth, PARAMS, grads), gc.check_params(smooth, PARAMS, grads, executor=executor))

    def test_two_pass_central_report_is_identical(self, executor):
        # A planted error makes the second pass (f(θ ± 2h) for flagged
        # entries) run on the executor too.
        grads = smooth_grads()
        grads["M"][1, 2] *= 1 + 1e-7
        serial = gc.check_params(smooth, PARAMS, grads, method="central")
        assert serial.failed_groups == ["M"]
        same_report(serial, gc.check_params(smooth, PARAMS, grads, method="central", executor=executor))

    def test_progress_reaches_total(self, executor):
        calls = []
        numerical_gradient(smooth, PARAMS, "central", executor=executor, progress=lambda d, t: calls.append((d, t)))
        done = [d for d, _ in calls]
        assert done == sorted(done) and done[-1] == calls[-1][1] == 19

    def test_loss_errors_propagate_with_context(self):
        def fragile(p):
            if abs(p["M"][1, 2] - PARAMS["M"][1, 2]) > 0:
                raise ZeroDivisionError("boom")
            return smooth(p)

        with ThreadPoolExecutor(2) as pool, pytest.raises(gc.LossEvaluationError, match="boom.*'M'"):
            numerical_gradient(fragile, PARAMS, "central", executor=pool)

    def test_not_an_executor(self):
        with pytest.raises(gc.InvalidArgument, match=r"^executor: expected a concurrent.futures.Executor"):
            gc.check_params(smooth, PARAMS, smooth_grads(), executor=4)


def assert_probed(batched, loop):
    """The batched run made the loop's evaluations plus one memory probe (PROBE_SETS sets) per evaluator."""
    extra = batched - loop
    assert extra % PROBE_SETS == 0 and PROBE_SETS <= extra <= 2 * PROBE_SETS, (batched, loop)


class TestVectorized:
    @pytest.mark.parametrize("method", ("auto",) + LOCAL_METHODS)
    def test_equals_the_loop(self, method):
        loop = numerical_gradient(smooth, PARAMS, method)
        batched = numerical_gradient(stacked, PARAMS, method, vectorized=True)
        assert batched.methods == loop.methods
        assert_probed(batched.n_evaluations, loop.n_evaluations)
        for k in loop.values:
            np.testing.assert_array_equal(batched.steps[k], loop.steps[k])
            # The stacked loss may round each value differently from the one-set loss: the same
            # rule on the same steps then differs by at most 2r (see _bounds).
            r = roundoff(loop, k)
            assert np.all(np.abs(batched.values[k] - loop.values[k]) <= 2 * r), k
            assert np.all(np.abs(batched.errors[k] - loop.errors[k]) <= 2 * r), k

    def test_many_perturbations_per_call(self):
        sizes = []

        def spy(p):
            sizes.append(p["x"].shape[0])
            return stacked(p)

        numerical_gradient(spy, PARAMS, "central", vectorized=True)
        assert max(sizes) >= 4 * PARAMS["M"].size

    def test_small_budget_batches_and_executor_agree(self, executor):
        a = numerical_gradient(stacked, PARAMS, "richardson", vectorized=True)
        b = numerical_gradient(stacked, PARAMS, "richardson", vectorized=True, memory_budget=512,
                               executor=executor)
        same_numbers(a, b)

    def test_check_params_passes(self):
        assert gc.check_params(stacked, PARAMS, smooth_grads(), vectorized=True).passed

    def test_two_pass_central_finds_the_planted_entry(self):
        grads = smooth_grads()
        grads["M"][1, 2] *= 1 + 1e-7
        loop = gc.check_params(smooth, PARAMS, grads, method="central")
        batched = gc.check_params(stacked, PARAMS, grads, method="central", vectorized=True)
        assert batched.failed_groups == loop.failed_groups == ["M"]
        assert batched.groups[1].worst_index == loop.groups[1].worst_index == (1, 2)
        assert_probed(batched.n_evaluations, loop.n_evaluations)

    def test_batches_fit_the_budget_with_the_loss_own_memory(self):
        """A loss allocating 64 kB per set, under a 1 MB budget: every call, measured, stays inside it.

        The stacked loss below holds one (S, 8192) float64 array per call (64 kB
        per set), far more than the 19 parameters.  The batch is sized from the
        probe's measured bytes per set plus the stacked group, so every call's
        own peak (measured with tracemalloc around the call, stacked group
        included) is at most the budget; sizing from the parameters alone would
        give thousands of sets (hundreds of MB).  The batches still hold more
        than one set, and the results equal the plain loop's.
        """
        budget = 2**20
        peaks, sizes = [], []

        def heavy(p):
            tracemalloc.reset_peak()
            start = tracemalloc.get_traced_memory()[0]
            S = p["x"].shape[0]
            wide = np.repeat(p["x"][:, :1], 8192, axis=1)  # the loss's own per-set memory
            out = stacked(p) + 0.0 * wide[:, 0]
            peaks.append(tracemalloc.get_traced_memory()[1] - start + p["M"].nbytes + p["x"].nbytes)
            sizes.append(S)
            return out

        tracemalloc.start()
        try:
            batched = numerical_gradient(heavy, PARAMS, "central", vectorized=True, memory_budget=budget)
        finally:
            tracemalloc.stop()
        loop = numerical_gradient(smooth, PARAMS, "central")
        assert max(peaks) <= budget
        assert max(sizes) > 1
        for k in loop.values:
            assert np.all(np.abs(batched.values[k] - loop.values[k]) <= 2 * roundoff(loop, k)), k

    def test_the_probe_is_measured_once_per_evaluator(self):
        calls = []

        def spy(p):
            calls.append(p["x"].shape[0])
            return stacked(p)

        ev = LossEvaluator(spy, PARAMS, vectorized=True)
        first = loss_bytes_per_set(ev)
        assert first > 0 and loss_bytes_per_set(ev) == first
        assert calls == [PROBE_SETS] and ev.n_evaluations == PROBE_SETS

    def test_a_scalar_loss_is_told_what_to_return(self):
        with pytest.raises(gc.InvalidArgument, match=r"^loss: with vectorized=True .*shape \(1,\)"):
            numerical_gradient(smooth, PARAMS, "central", vectorized=True)


@pytest.fixture(scope="module")
def case():
    net = gc.DenseNet([6, 9, 5, 3], seed=1)
    rng = np.random.default_rng(1)
    return net, rng.standard_normal((8, 6)), rng.random((8, 3))


class TestStructuredEngine:

    @pytest.mark.parametrize("method", ["auto", "central"])
    def test_report_is_identical(self, case, executor, method):
        net, X, y = case
        default = gc.check_network(net, X, y, method=method, diagnostics=False)
        other = gc.check_network(net, X, y, method=method, diagnostics=False, executor=executor)
        same_report(default, other)
        for a, b in zip(default.layers, other.layers, strict=True):
            assert [r.to_dict() for _, r in a.rows()] == [r.to_dict() for _, r in b.rows()]

    def test_dask_gets_the_network_once_not_with_every_chunk(self, case, dask_executor):
        from gradcheck.numerical.structured import StructuredEngine

        net, X, y = case
        for budget, blocks in ((2**16, "several"), (2**18, "one")):
            engine = StructuredEngine.for_params(net, X, y, executor=dask_executor, memory_budget=budget)
            shipped = []  # (the block shipped, kept alive so that ids stay distinct; its future)
            real = engine._shipped
            engine._shipped = (lambda ex, rs, real=real, shipped=shipped:
                               shipped.append((rs, real(ex, rs))) or shipped[-1][1])
            on_cluster = engine.gradient("central")
            assert shipped and all(type(s).__name__ == "Future" for _, s in shipped)
            keys = {s.key for _, s in shipped}
            # One scattered copy per block of samples, shared by every chunk of that block.
            assert len(keys) == len({id(block) for block, _ in shipped})
            assert (engine._stats["sample_blocks"] > 1) == (blocks == "several")
            if blocks == "one":
                assert len(keys) == 1  # every sample at once: one copy for every chunk of every layer
            same_numbers(StructuredEngine.for_params(net, X, y, memory_budget=budget).gradient("central"), on_cluster)

    def test_progress_reaches_total_through_an_executor(self, case, executor):
        net, X, y = case
        calls = []
        gc.check_network(net, X, y, method="central", diagnostics=False, executor=executor, memory_budget=8192,
                         progress=lambda d, t: calls.append((d, t)))
        total = sum(p.size for p in net.params.values()) + 8 * (9 + 5 + 3)
        done = [d for d, _ in calls]
        assert done == sorted(done) and done[-1] == total and all(t == total for _, t in calls)

    def test_chunks_are_picklable_for_worker_processes(self, case):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        net, X, y = case
        options = {"method": "central", "diagnostics": False, "deltas": False, "memory_budget": 2**16}
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            other = gc.check_network(net, X, y, executor=pool, **options)
        assert "in 1 chunk " not in other.notes[0]
        same_report(gc.check_network(net, X, y, **options), other)

    def test_default_runs_in_the_calling_thread(self, case, monkeypatch):
        net, X, y = case
        seen = []
        real = run_tasks

        def spy(*args, **kwargs):
            seen.append(kwargs.get("executor"))
            return real(*args, **kwargs)

        monkeypatch.setattr("gradcheck.numerical.structured.run_tasks", spy)
        gc.check_network(net, X, y, method="central", diagnostics=False, deltas=False)
        assert seen and all(e is None for e in seen)


def test_run_tasks_hands_results_over_in_order():
    import time

    def slow_first(k):
        time.sleep(0.02 if k == 0 else 0.0)
        return k

    seen = []
    with ThreadPoolExecutor(4) as pool:
        run_tasks(slow_first, [(k,) for k in range(12)], executor=pool, max_in_flight=3,
                  on_result=lambda k, r: seen.append((k, r)))
    assert seen == [(k, k) for k in range(12)]

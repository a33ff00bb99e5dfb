"""ReLU nets under a memory budget: the sweep's complex-step probe on blocked passes, and the checks by blocks."""

from __future__ import annotations

import numpy as np
from _memory import peak_bytes

import gradcheck as gc
from gradcheck.numerical.directions import NetworkDirections
from gradcheck.verify.convergence import step_sweep

MB = 2**20


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 32)), rng.random((n, 8))


class TestSweepProbeOnPasses:
    """A kinked net is not complex-safe by construction: its probe runs on the net's passes, not the loss."""

    def test_the_probe_calls_no_loss_and_keeps_the_complex_curve(self):
        net = gc.DenseNet([32, 64, 32, 8], seed=0, activation="relu")
        X, y = _data(300)
        loss, grads = net.loss_closure(X, y), net.gradients(X, y)
        calls = []

        def counted(p):
            calls.append(1)
            return loss(p)

        sweeps = {b: step_sweep(counted, net.params, grads, seed=0, along=NetworkDirections(net, X, y, b))
                  for b in (2**16, 2**28)}
        # L(θ) at the start only: the probe's real and complex points ran in the stacked passes.
        assert len(calls) == 2
        plain = step_sweep(loss, net.params, grads, seed=0)
        for small, large, ref in zip(sweeps[2**16], sweeps[2**28], plain, strict=True):
            assert set(small.errors) == set(large.errors) == set(ref.errors) == {"forward", "central", "complex"}
            assert small.notes == large.notes == ref.notes == []
            # The complex step along v reads the piece θ lies on: exact to rounding on every route.
            assert max(small.best_error["complex"], large.best_error["complex"]) < 1e-13

    def test_an_error_on_the_passes_is_the_probe_finding(self):
        net = gc.DenseNet([3, 4, 1], seed=0, activation="relu")
        X, y = np.ones((2, 3)), np.zeros((2, 1))
        passes = NetworkDirections(net, X, y, 2**20)

        class Refusing:
            complex_safe = False

            def along(self, name, v, ts, context=""):
                if np.iscomplexobj(ts):
                    raise TypeError("can't convert complex to float")
                return passes.along(name, v, ts, context)

        [sweep, *_] = step_sweep(net.loss_closure(X, y), net.params, net.gradients(X, y), along=Refusing())
        assert "complex" not in sweep.errors
        assert any(n.startswith("complex step dropped: the loss converts a complex number") for n in sweep.notes)

    def test_the_sweep_holds_the_loss_call_and_a_quarter_of_the_budget(self):
        """Peak of a kinked net's step sweep at N = 4,000 under 1 MB.

        The model: the loss at rest (one real call of the closure, measured
        here) is the only pass over every sample; every other point runs in
        the net's blocks of samples, a quarter of the budget plus the eighth
        of it a direction may take (test_directions), and the sweep's own
        arrays of a few numbers per parameter (64 bytes per parameter covers
        the direction, its evaluator copy and the probe's v).  The probe's
        complex call of the closure over every sample took about twice the
        real call (13.6 MB against 6.8) before it ran on the passes.
        """
        net = gc.DenseNet([32, 64, 32, 8], seed=0, activation="relu")
        X, y = _data(4000)
        loss, grads = net.loss_closure(X, y), net.gradients(X, y)
        P = sum(p.size for p in net.params.values())
        call = peak_bytes(lambda: loss(dict(net.params)))
        budget = MB
        passes = NetworkDirections(net, X, y, budget)
        peak = peak_bytes(lambda: step_sweep(loss, net.params, grads, seed=0, along=passes))
        assert passes.blocks > 10
        assert peak <= call + budget // 4 * 9 // 8 + 64 * P, (peak / MB, call / MB)

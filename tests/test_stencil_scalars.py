"""The engine's loop perturbs entries with Python scalars: the reports must equal those of NumPy scalars.

The reference is the loop as it was before (the entry read as a NumPy scalar, the step indexed from
its array, the tracker advanced per entry); every field of every group, the notes and the loss calls
must be bit for bit the same, for the real rules and the complex step, with and without a progress
callback.
"""

from __future__ import annotations

import numpy as np
import pytest
from _cases import report_fields

import gradcheck as gc
from gradcheck.numerical import engine


def _reference_stencil(ev, name, idx, h, offsets, tracker):
    flat = ev.flat[name]
    out = np.empty((len(idx), len(offsets)), dtype=np.result_type(*offsets, np.float64))
    for j, i in enumerate(idx):
        x = flat[i]
        try:
            for k, o in enumerate(offsets):
                flat[i] = x + o * h[j]
                out[j, k] = ev()
        finally:
            flat[i] = x
        tracker.advance()
    return out




def _case(sizes: list[int], activation: str, bad: bool) -> tuple:
    net = gc.DenseNet(sizes, seed=2, activation=activation)
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((4, sizes[0])), rng.random((4, sizes[-1]))
    grads = net.gradients(X, y)
    if bad:
        grads[next(iter(grads))].flat[1] *= 1.0001
    # Negative zeros and exact zeros among the parameters: the perturbed values must match there too.
    params = {k: v.copy() for k, v in net.params.items()}
    first = next(iter(params))
    params[first].flat[0], params[first].flat[-1] = -0.0, 0.0
    return net.loss_closure(X, y), params, grads


@pytest.mark.parametrize("method", ["central", "forward", "central4", "richardson", "complex", "auto"])
@pytest.mark.parametrize("case", [([3, 4, 4, 1], "sigmoid", False), ([2, 5, 3], "tanh", True),
                                  ([4, 3, 2], "relu", True)])
@pytest.mark.parametrize("with_progress", [False, True])
def test_reports_equal_numpy_scalar_loop(monkeypatch, method, case, with_progress):
    loss, params, grads = _case(*case)
    seen: dict[str, list] = {"lean": [], "reference": []}

    def run(key: str) -> dict:
        progress = (lambda d, t: seen[key].append((d, t))) if with_progress else None
        report = gc.check_params(loss, params, grads, method=method, progress=progress)
        return report_fields(report)

    lean = run("lean")
    monkeypatch.setattr(engine, "_stencil", _reference_stencil)
    reference = run("reference")
    assert lean == reference
    assert seen["lean"] == seen["reference"]
    if with_progress:
        assert seen["lean"]  # the callback was called, so the per-entry path was compared

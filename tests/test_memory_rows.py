"""Per-parameter inputs formed in chunks (issue 14, P dimension): formula rows, rounding bounds, directions."""

from __future__ import annotations

import numpy as np
import pytest
from _memory import peak_bytes

import gradcheck as gc
from gradcheck.numerical.directions import DRAW_CHUNK, NetworkDirections, seeded_directions
from gradcheck.verify.network import backprop_rounding_bound
from gradcheck.verify.streaming import STREAMED_NOTE, RowChunks, compare_in_budget, compare_streamed
from gradcheck.verify.tolerance import Tolerance

MB = 2**20



def _rows(x: np.ndarray) -> RowChunks:
    return RowChunks(x.shape, lambda r: x[r].copy())


@pytest.mark.parametrize("chunk", [1024, 1500, 10**6])
def test_row_chunks_compare_as_the_arrays_they_form(chunk: int) -> None:
    rng = np.random.default_rng(7)
    g = rng.standard_normal((61, 53))
    n = g + 1e-10 * rng.standard_normal(g.shape)
    n.flat[[5, 1234, 3000]] += 1e-3
    est, p, rounding = 1e-9 * np.ones(g.shape), rng.standard_normal(g.shape), 1e-15 * np.abs(g)
    common = dict(eps_grad=2.2e-16, tol=Tolerance(), method="formula", loss_value=0.7)
    arrays = compare_streamed("W1", g, n, est, chunk=chunk, params=p, grad_rounding=rounding, **common)
    lazy = compare_streamed("W1", _rows(g), n, _rows(est), chunk=chunk, params=p, grad_rounding=_rows(rounding),
                            **common)
    for field in ("verdict", "n_mismatched", "worst_index", "worst", "max_abs_error", "max_rel_error", "notes"):
        assert repr(getattr(lazy, field)) == repr(getattr(arrays, field)), field
    assert lazy.worst_index in {(0, 5), (23, 15), (56, 32)} and lazy.n_mismatched == 3
    assert lazy.analytic is None and lazy.numerical is not None  # a formed-on-demand input is not kept


def test_row_chunks_are_never_formed_whole_when_streaming() -> None:
    # 4e5 entries: one whole input is 3.2 MB; a 2 MB budget compares 1/4 of it per chunk at COMPARE_BYTES each.
    shape = (800, 500)
    g = np.random.default_rng(1).standard_normal(shape)
    lazy = RowChunks(shape, lambda r: g[r] * 1.0)  # every request forms its rows anew
    err = RowChunks(shape, lambda r: np.full((r.stop - r.start, shape[1]), 1e-9))
    budget = 2 * MB
    peak = peak_bytes(lambda: compare_in_budget("W1", lazy, g, err, memory_budget=budget, eps_grad=2.2e-16))
    assert peak <= budget < 8 * g.size


def test_weight_rounding_bound_is_formed_by_rows() -> None:
    net = gc.DenseNet([700, 600, 1], seed=0)  # W1: 420,000 entries (3.4 MB whole)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, 700)), rng.random((4, 1))
    ref = net.backward(X, y)
    bounds = {}
    peak = peak_bytes(lambda: bounds.update(zip(("p", "d"), backprop_rounding_bound(net, ref, y), strict=True)))
    assert isinstance(bounds["p"]["W1"], RowChunks) and peak < 8 * net.params["W1"].size / 4
    # The rows, formed in any blocks, are the whole bound's: |a0|ᵀE1 + εN|a0|ᵀ|δ1| (rows = input units).
    W1 = bounds["p"]["W1"]
    eps, E, d = np.finfo(float).eps, bounds["d"][0], np.abs(ref.deltas[0])
    direct = np.abs(X).T @ E + eps * X.shape[0] * (np.abs(X).T @ d)
    assert np.allclose(np.vstack([W1.rows(slice(s, s + 97)) for s in range(0, 700, 97)]), direct, rtol=1e-14, atol=0)
    assert np.all(W1.full() > 0)


def test_a_streamed_check_equals_the_in_memory_check_row_by_row() -> None:
    net = gc.DenseNet([60, 50, 4], seed=3)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((6, 60)), rng.random((6, 4))
    backward = net.backward(X, y)
    backward.gradients["W2"] = backward.gradients["W2"] * 2.0  # a factor in one group
    small = gc.check_network(net, X, y, backward=backward, memory_budget=100_000)
    whole = gc.check_network(net, X, y, backward=backward)
    for ls, lw in zip(small.layers, whole.layers, strict=True):
        for kind in ("weight", "bias", "delta", "recurrence", "weight_formula", "bias_formula"):
            rs, rw = getattr(ls, kind), getattr(lw, kind)
            assert (rs.verdict, rs.n_mismatched, rs.worst_index) == (rw.verdict, rw.n_mismatched, rw.worst_index)
    # W1's formula row (3,000 entries) was compared in chunks from row blocks, and passed as in memory.
    assert STREAMED_NOTE in small.layers[0].weight_formula.notes and small.layers[0].weight_formula.passed
    assert small.to_dict()["first_failure"] == whole.to_dict()["first_failure"] == {"layer": 2, "check": "weight"}
    assert [d["cause"] for d in small.to_dict()["diagnosis"]] == [d["cause"] for d in whole.to_dict()["diagnosis"]]
    assert [t.order for t in small.taylor] == pytest.approx([t.order for t in whole.taylor], rel=1e-9)


def test_seeded_directions_are_the_draws_of_one_generator() -> None:
    shapes = {"W1": (300, 400), "b1": (400,), "W2": (400, 3)}  # W1 spans two draw chunks
    assert 300 * 400 > DRAW_CHUNK
    dirs = seeded_directions(shapes, 11)
    rng = np.random.default_rng(11)
    g = np.random.default_rng(5).standard_normal((300, 400))
    for name, shape in shapes.items():
        expected = rng.standard_normal(shape)
        assert np.array_equal(dirs[name].full(), expected)
        assert np.array_equal(np.concatenate([v for _, v in dirs[name].chunks(1000)]), expected.reshape(-1))
        assert dirs[name].norm == pytest.approx(np.linalg.norm(expected), rel=1e-14)
    assert dirs["W1"].dot(g) == pytest.approx(float(np.sum(g * rng_first(11, (300, 400)))), rel=1e-12)
    unit = dirs["W1"].unit()
    assert np.allclose(unit.full(), dirs["W1"].full() / dirs["W1"].norm, rtol=1e-15, atol=0)


def rng_first(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def test_network_directions_read_a_seeded_direction_by_rows() -> None:
    net = gc.DenseNet([500, 800, 1], seed=2)  # W1: 400,000 entries, 3.2 MB as one array
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((3, 500)), rng.random((3, 1))
    budget = 2 * MB
    along = NetworkDirections(net, X, y, budget)
    v = seeded_directions({"W1": (500, 800)}, 4)["W1"]
    ts = np.logspace(-1, -7, 13)
    found = {}
    peak = peak_bytes(lambda: found.update(lazy=along.along("W1", v, ts)))
    full = along.along("W1", v.full(), ts)
    # Δz summed over row blocks differs from one product by rounding only.
    assert np.allclose(found["lazy"][0], full[0], rtol=1e-13, atol=0) and found["lazy"][1] == full[1]
    assert peak <= budget < 8 * v.size

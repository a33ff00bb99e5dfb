"""compare_groups equals compare_group field by field, bit for bit; coarse_groups equals coarse_entries."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck.verify.batch_compare import GroupInputs, coarse_groups, compare_groups
from gradcheck.verify.resolution import LossResolution
from gradcheck.verify.step_guard import coarse_entries
from gradcheck.verify.tolerance import Tolerance, compare_group

EPS = float(np.finfo(np.float64).eps)
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0]


def _same(x, y) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.shape == y.shape
                and x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True))
    if isinstance(x, float) and isinstance(y, float):
        return (math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1, x) == math.copysign(1, y))
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
    if dataclasses.is_dataclass(x) and type(x) is type(y):
        return all(_same(getattr(x, f.name), getattr(y, f.name)) for f in dataclasses.fields(x))
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
    return type(x) is type(y) and x == y


def _assert_same(batched, single):
    for f in dataclasses.fields(single):
        assert _same(getattr(batched, f.name), getattr(single, f.name)), (
            f.name, getattr(batched, f.name), getattr(single, f.name))


def _single(g: GroupInputs, **shared):
    return compare_group(g.name, g.analytic, g.numerical, g.error, eps_grad=g.eps_grad, method=g.method,
                         params=g.params, grad_rounding=g.grad_rounding, roundoff=g.roundoff, **shared)


@st.composite
def group(draw, k: int) -> GroupInputs:
    shape = draw(st.sampled_from([(), (1,), (3,), (2, 3), (4, 1), (1, 5, 2), (0,), (0, 3)]))
    size = int(np.prod(shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.integers(-8, 3))
    a = rng.standard_normal(size) * scale
    # Differences from rounding (passes) through the error estimate (undecided, with a resolution
    # bound) to far beyond it (failures); some entries not finite.
    rel = 10.0 ** rng.uniform(-17, 1, size)
    n = a + rel * np.abs(a) * rng.choice([-1.0, 1.0], size)
    e = np.abs(a) * 10.0 ** rng.uniform(-16, 1, size)
    p = rng.standard_normal(size) * 10.0 ** draw(st.integers(-2, 3))
    for arr in (a, n, e, p):
        bad = rng.random(size) < draw(st.sampled_from([0.0, 0.0, 0.15]))
        arr[bad] = rng.choice(SPECIAL, int(bad.sum()))
    e = np.abs(e)
    if draw(st.booleans()):
        n[: size // 2] = a[: size // 2]  # identical values: error 0
    dtype = draw(st.sampled_from([np.float64, np.float64, np.float32]))
    gr = np.abs(rng.standard_normal(size)) * 1e-12 * scale if draw(st.booleans()) else None
    ro = e * rng.uniform(0, 1, size) if draw(st.booleans()) else None
    order = draw(st.sampled_from(["C", "C", "F"]))

    def shaped(x):
        return None if x is None else np.asarray(x.reshape(shape), order=order)

    return GroupInputs(f"g{k}", shaped(a.astype(dtype)), shaped(n), shaped(e), shaped(p.astype(dtype)),
                       eps_grad=float(np.finfo(dtype).eps), method=draw(st.sampled_from(["central", "forward", ""])),
                       grad_rounding=shaped(gr), roundoff=shaped(ro))


@st.composite
def groups(draw):
    return [draw(group(k)) for k in range(draw(st.integers(1, 6)))]


@settings(max_examples=300, deadline=None)
@given(groups(), st.sampled_from([0.0, 1.0, -3.5e4, 1e-30, np.inf, np.nan]), st.sampled_from([0.0, 1e-14, 1e-3]),
       st.booleans(), st.sampled_from([Tolerance(), Tolerance(rtol=1e-6, atol=1e-9), Tolerance(safety=1.0)]),
       st.sampled_from([5, 1, 0]))
def test_every_field_equals_compare_group(gs, loss_value, loss_noise, with_resolution, tol, n_worst):
    resolution = LossResolution(loss_value, loss_noise, "float64", EPS) if with_resolution else None
    shared = dict(tol=tol, loss_value=loss_value, loss_noise=loss_noise, n_worst=n_worst, resolution=resolution)
    batched = compare_groups(gs, **shared)
    assert [r.name for r in batched] == [g.name for g in gs]
    for g, r in zip(gs, batched, strict=True):
        _assert_same(r, _single(g, **shared))


def test_the_drawn_cases_reach_failures_undecided_groups_and_notes():
    """The property's inputs are not all passes: one fixed draw has failing, undecided and non-finite entries."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 5))
    n = a.copy()
    n[0, 0] += 1.0  # far beyond its estimate: fails
    e = np.full(a.shape, 1e-12)
    n[1, 1] += 0.5
    e[1, 1] = 1.0  # within safety·est = 4 but beyond the resolution bound (1e-2 of the group's scale): undecided
    n[2, 2] = np.nan
    gs = [GroupInputs("w", a, n, e, rng.standard_normal(a.shape), EPS, "central"),
          GroupInputs("b", a[1:2].copy(), n[1:2].copy(), e[1:2].copy(), np.ones((1, 5)), EPS, "central",
                      roundoff=e[1:2] / 4)]
    res = LossResolution(1.0, 0.0, "float64", EPS)
    batched = compare_groups(gs, resolution=res)
    singles = [_single(g, tol=Tolerance(), resolution=res) for g in gs]
    for r, s in zip(batched, singles, strict=True):
        _assert_same(r, s)
    w, b = batched
    assert not w.passed and w.n_mismatched == 3 and w.worst_index in ((0, 0), (2, 2)) and w.notes
    assert b.inconclusive_reason is not None and b.n_mismatched == 1


@st.composite
def coarse_inputs(draw):
    out = {}
    for k in range(draw(st.integers(1, 5))):
        size = draw(st.integers(0, 8))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        v = rng.standard_normal(size) * 10.0 ** rng.uniform(-6, 2, size)
        ro = np.abs(v) * 10.0 ** rng.uniform(-12, -4, size)
        e = ro + np.abs(v) * 10.0 ** rng.uniform(-10, -3, size)  # truncation around 1e-6 of the value
        for arr in (v, e, ro):
            bad = rng.random(size) < 0.1
            arr[bad] = rng.choice(SPECIAL, int(bad.sum()))
        out[f"g{k}"] = (v, e, None if draw(st.integers(0, 4)) == 0 else ro)
    return out


@settings(max_examples=200, deadline=None)
@given(coarse_inputs())
def test_coarse_groups_equal_coarse_entries(groups):
    laid = coarse_groups(groups)
    assert set(laid) == set(groups)
    for k, (v, e, ro) in groups.items():
        with np.errstate(invalid="ignore"):  # coarse_entries subtracts infinities outside its own errstate
            expected = coarse_entries(v, e, ro)
        assert laid[k].dtype == expected.dtype and laid[k].tolist() == expected.tolist()


def test_coarse_groups_find_coarse_entries():
    """The property's inputs are not all empty answers: a fixed case has coarse entries in two groups."""
    v = np.array([1.0, 2.0, 3.0])
    groups = {"a": (v, np.array([1e-3, 1e-12, 1e-3]), np.full(3, 1e-10)), "b": (v, np.full(3, 1e-3), None),
              "c": (v[:2], np.array([1e-12, 1e-2]), np.full(2, 1e-10))}
    assert {k: x.tolist() for k, x in coarse_groups(groups).items()} == {"a": [0, 2], "b": [], "c": [1]}

"""Checks of the independent bug corpus itself, using numpy (and hypothesis) only, never gradcheck.

1. The correct ``textbook.backprop`` and ``classic.backprop`` agree with central finite differences of the cost,
   for the parameter gradients and for the deltas (∂C/∂z^l, obtained by perturbing z^l and running forward from
   layer l).
2. Every bug's recorded ``wrong_groups``, ``first_wrong_layer`` and ``link`` are exactly what a comparison with the
   correct backprop shows on its canonical problem, and its ``needs`` are real.

Error models behind the tolerances
----------------------------------
Finite differences.  D(h) = (C(θ+h) − C(θ−h)) / 2h differs from C'(θ) by at most
h²/6·|C'''| (truncation) + δC/h (rounding), where δC, the absolute rounding error of one evaluation of C, is taken
as κ·ε·|C| with ε the float64 machine epsilon and κ = 64 (C is a sum of non-negative terms, each computed through
at most a few dozen roundings).  |C'''| is measured per tensor with a five-point third difference of step 1e-3.
With h = 1e-5, C ~ 1 and |C'''| ~ 1 the bound is ~1.4e-9, i.e. ~1e-6 relative to typical gradients of 1e-3..1;
the assertion allows ``FD_MARGIN`` = 10 times the bound.

Equal / different.  The bugs and the reference compute the same quantities with different loop orders, so groups
that are "right" still differ by rounding, ≲ κ·ε ≈ 1.4e-14 relative (norm-wise, times a condition factor of the
sums, O(10) for these random weights).  A group counts as equal when its relative norm-wise difference is
≤ ``SAME_RTOL`` = 1e-10 (a margin of ~700 over that estimate), and every group a bug gets wrong must be off by
at least ``BUG_MIN_RDIFF`` = 1e-4 relative, so the two classes are separated by six orders of magnitude.
"""

from __future__ import annotations

import re

import classic
import classic_bugs
import numpy as np
import pytest
import textbook
import textbook_bugs
from hypothesis import given, settings
from hypothesis import strategies as st

EPS = np.finfo(np.float64).eps
KAPPA = 64
FD_STEP = 1e-5
THIRD_STEP = 1e-3
FD_MARGIN = 10.0
SAME_RTOL = 1e-10
BUG_MIN_RDIFF = 1e-4

FD_ARCHS = [(2, 3, 1), (3, 4, 4, 1), (4, 4, 4, 4)]
ALLOWED_NEEDS = {"square", "min_samples", "bias", "min_layers"}


# --------------------------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------------------------


def textbook_problem(arch, n_samples, with_bias, seed=0):
    """Random out_in network and batch: W^l ~ N(0, 1), b^l ~ N(0, 0.5²), X ~ N(0, 1), y ~ U(0.1, 0.9)."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(n_out, n_in)) for n_in, n_out in zip(arch[:-1], arch[1:], strict=True)]
    biases = [rng.normal(scale=0.5, size=(n, 1)) for n in arch[1:]] if with_bias else None
    X = rng.normal(size=(arch[0], n_samples))
    y = rng.uniform(0.1, 0.9, size=(arch[-1], n_samples))
    return weights, biases, X, y


def classic_problem(arch, n_samples, seed=0):
    """Random in_out network and batch (rows are samples): syn ~ N(0, 1), X ~ N(0, 1), y ~ U(0.1, 0.9)."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(n_in, n_out)) for n_in, n_out in zip(arch[:-1], arch[1:], strict=True)]
    X = rng.normal(size=(n_samples, arch[0]))
    y = rng.uniform(0.1, 0.9, size=(n_samples, arch[-1]))
    return weights, X, y


def groups(result):
    """Flatten a backprop result into ``{"d1": ..., "W1": ..., "b1": ...}``."""
    out = {f"d{k}": np.asarray(d) for k, d in enumerate(result["deltas"], start=1)}
    out.update({name: np.asarray(v) for name, v in result["grads"].items()})
    return out


# --------------------------------------------------------------------------------------------------------------
# Finite differences with an explicit error bound
# --------------------------------------------------------------------------------------------------------------


def fd_with_bound(f, x):
    """Central differences of scalar ``f`` w.r.t. every entry of array ``x`` (perturbed in place, then restored).

    Returns ``(derivative, bound)``, the bound being h²/6·max|f'''| + κ·ε·|f|/h elementwise (see module docstring).
    """
    f0 = f()
    deriv = np.zeros_like(x, dtype=float)
    third = np.zeros_like(x, dtype=float)
    for idx in np.ndindex(x.shape):
        orig = x[idx]

        def at(t, orig=orig, idx=idx):
            x[idx] = orig + t
            return f()

        deriv[idx] = (at(FD_STEP) - at(-FD_STEP)) / (2 * FD_STEP)
        H = THIRD_STEP
        third[idx] = (at(2 * H) - 2 * at(H) + 2 * at(-H) - at(-2 * H)) / (2 * H**3)
        x[idx] = orig
    m3 = float(np.max(np.abs(third))) if third.size else 0.0
    bound = FD_STEP**2 / 6 * m3 + KAPPA * EPS * abs(f0) / FD_STEP
    return deriv, np.full(x.shape, bound)


def assert_matches_fd(name, analytic, fd, bound):
    """|analytic − fd| ≤ FD_MARGIN·bound everywhere, and the check is not vacuous (the values dwarf the tolerance)."""
    tol = FD_MARGIN * bound
    assert analytic.shape == fd.shape, name
    err = np.abs(analytic - fd)
    assert np.all(err <= tol), f"{name}: max err {err.max():.3g} > tol {tol.max():.3g}"
    assert np.max(np.abs(analytic)) > 1e3 * tol.max(), f"{name}: gradient too small to make the check meaningful"


def textbook_reference_fd(weights, biases, X, y):
    """Finite-difference ∂C/∂θ and ∂C/∂z^l of the textbook network, with bounds, as ``{group: (fd, bound)}``."""
    out = {}

    def cost():
        return textbook.loss(weights, biases, X, y)

    for k, W in enumerate(weights, start=1):
        out[f"W{k}"] = fd_with_bound(cost, W)
        if biases is not None:
            out[f"b{k}"] = fd_with_bound(cost, biases[k - 1])
    zs, _ = textbook.forward(weights, biases, X)
    for k in range(1, len(weights) + 1):
        z = zs[k].copy()

        def cost_from_z(z=z, k=k):
            return textbook.cost_of_output(textbook.forward_from(weights, biases, k, z), y)

        out[f"d{k}"] = fd_with_bound(cost_from_z, z)
    return out


def classic_reference_fd(weights, X, y):
    """Finite-difference ∂C/∂θ and ∂C/∂z^l of the classic network (ascent sign; the program stores minus these)."""
    out = {}

    def cost():
        return classic.loss(weights, X, y)

    for k, W in enumerate(weights, start=1):
        out[f"W{k}"] = fd_with_bound(cost, W)
    layers = classic.forward(weights, X)
    for k in range(1, len(weights) + 1):
        z = layers[k - 1].dot(weights[k - 1])

        def cost_from_z(z=z, k=k):
            return classic.cost_of_output(classic.forward_from(weights, k, z), y)

        out[f"d{k}"] = fd_with_bound(cost_from_z, z)
    return out


# --------------------------------------------------------------------------------------------------------------
# 1. The correct implementations against finite differences
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("n_samples", [1, 5])
@pytest.mark.parametrize("arch", FD_ARCHS)
def test_textbook_backprop_matches_finite_differences(arch, n_samples, with_bias):
    """δ^l and the gradients of the correct textbook backprop equal central differences within the error model."""
    weights, biases, X, y = textbook_problem(arch, n_samples, with_bias)
    got = groups(textbook.backprop(weights, biases, X, y))
    ref = textbook_reference_fd(weights, biases, X, y)
    assert set(got) == set(ref)
    for name, (fd, bound) in ref.items():
        assert_matches_fd(name, got[name], fd, bound)
    assert got["d1"].shape == (arch[1], n_samples)
    if with_bias:
        assert got["b1"].shape == (arch[1], 1)


@pytest.mark.parametrize("n_samples", [1, 4])
@pytest.mark.parametrize("arch", [(3, 4, 1), (3, 4, 4, 1), (4, 4, 4, 4)])
def test_classic_backprop_matches_finite_differences(arch, n_samples):
    """The classic program's deltas and updates equal MINUS the central differences (descent convention)."""
    weights, X, y = classic_problem(arch, n_samples)
    got = groups(classic.backprop(weights, X, y))
    ref = classic_reference_fd(weights, X, y)
    assert set(got) == set(ref)
    for name, (fd, bound) in ref.items():
        assert_matches_fd(name, got[name], -fd, bound)


def test_classic_is_textbook_transposed_and_negated():
    """Same network in both layouts: classic values are −(textbook values)ᵀ, to rounding."""
    weights, _, X, y = textbook_problem((3, 4, 4, 2), 6, with_bias=False, seed=3)
    text = groups(textbook.backprop(weights, None, X, y))
    clas = groups(classic.backprop([W.T for W in weights], X.T, y.T))
    assert set(text) == set(clas)
    for name in text:
        assert not differs(-text[name].T, clas[name]), name


@settings(max_examples=15, deadline=None)
@given(
    arch=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    n_samples=st.integers(1, 3),
    with_bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_textbook_weight_gradients_random_shapes(arch, n_samples, with_bias, seed):
    """Property: for random small shapes the weight and bias gradients match finite differences."""
    weights, biases, X, y = textbook_problem(tuple(arch), n_samples, with_bias, seed)
    got = groups(textbook.backprop(weights, biases, X, y))

    def cost():
        return textbook.loss(weights, biases, X, y)

    params = [(f"W{k}", W) for k, W in enumerate(weights, start=1)]
    params += [(f"b{k}", b) for k, b in enumerate(biases or [], start=1)]
    for name, p in params:
        fd, bound = fd_with_bound(cost, p)
        assert np.all(np.abs(got[name] - fd) <= FD_MARGIN * bound), name


# --------------------------------------------------------------------------------------------------------------
# 2. The bugs' ground truth
# --------------------------------------------------------------------------------------------------------------


def rel_diff(ref, got):
    """Norm-wise relative difference; infinite when the shapes differ."""
    if np.shape(ref) != np.shape(got):
        return np.inf
    return float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), np.finfo(float).tiny))


def differs(ref, got):
    """True when ``got`` is not ``ref`` up to rounding (see SAME_RTOL in the module docstring)."""
    return rel_diff(ref, got) > SAME_RTOL


def scaled_by(ref, got, c):
    """True when ``got`` equals ``c·ref`` up to rounding."""
    return np.shape(ref) == np.shape(got) and not differs(c * ref, got)


def common_factor(ref, got, names):
    """The constant c with got[n] = c·ref[n] for every group in ``names``, or None if there is none."""
    if not names or any(np.shape(ref[n]) != np.shape(got[n]) for n in names):
        return None
    r = np.concatenate([ref[n].ravel() for n in names])
    g = np.concatenate([got[n].ravel() for n in names])
    c = float(r @ g / (r @ r))
    return c if all(scaled_by(ref[n], got[n], c) for n in names) else None


def classify(ref, got, n_layers):
    """Derive ``(wrong_groups, first_wrong_layer, link)`` from a correct and a buggy result, per the corpus rules."""
    assert set(ref) == set(got)
    wrong = frozenset(n for n in ref if differs(ref[n], got[n]))
    if not wrong:
        return wrong, None, None
    first = max(int(n[1:]) for n in wrong)
    grad_names = sorted(n for n in ref if n[0] in "Wb")
    delta_names = sorted(n for n in ref if n[0] == "d")
    c = common_factor(ref, got, grad_names)
    if (c is not None and abs(c - 1) > SAME_RTOL
            and all(n not in wrong or scaled_by(ref[n], got[n], c) for n in delta_names)):
        link = "sign" if abs(c + 1) <= SAME_RTOL else "scale"
    elif f"d{first}" in wrong:
        link = "output-delta" if first == n_layers else "recurrence"
    elif f"W{first}" in wrong:
        link = "weight-formula"
    elif f"b{first}" in wrong:
        link = "bias-formula"
    else:
        link = "other"
    return wrong, first, link


def run_textbook(bug, arch, n_samples, with_bias, seed=1):
    """Reference and buggy groups for a textbook bug."""
    weights, biases, X, y = textbook_problem(arch, n_samples, with_bias, seed)
    ref = groups(textbook.backprop(weights, biases, X, y))
    got = groups(bug.function([W.copy() for W in weights], biases, X, y))
    return ref, got


def run_classic(bug, arch, n_samples, seed=1):
    """Reference and buggy groups for a classic bug."""
    weights, X, y = classic_problem(arch, n_samples, seed)
    ref = groups(classic.backprop(weights, X, y))
    got = groups(bug.function([W.copy() for W in weights], X, y))
    return ref, got


def run(kind, bug, arch, n_samples, with_bias=True):
    """Dispatch on the corpus kind ("textbook" runs with biases unless told otherwise; "classic" has none)."""
    if kind == "textbook":
        return run_textbook(bug, arch, n_samples, with_bias)
    return run_classic(bug, arch, n_samples)


ALL_BUGS = [("textbook", b) for b in textbook_bugs.BUGS] + [("classic", b) for b in classic_bugs.BUGS]
BUG_IDS = [f"{kind}:{b.name}" for kind, b in ALL_BUGS]


def test_corpus_metadata():
    """Sizes, unique kebab-case names, known links and needs, one-sentence descriptions, distinct functions."""
    assert len(textbook_bugs.BUGS) >= 18
    assert len(classic_bugs.BUGS) >= 5
    for bugs in (textbook_bugs.BUGS, classic_bugs.BUGS):
        names = [b.name for b in bugs]
        assert len(set(names)) == len(names)
        assert len({b.function for b in bugs}) == len(bugs)
    for _, bug in ALL_BUGS:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", bug.name), bug.name
        assert bug.link in textbook_bugs.LINKS, bug.name
        assert set(bug.needs) <= ALLOWED_NEEDS, bug.name
        assert bug.description.endswith(".") and bug.description.count(". ") == 0, bug.name
        assert 1 <= bug.first_wrong_layer <= len(bug.arch) - 1, bug.name
        assert bug.function.__doc__, bug.name


@pytest.mark.parametrize(("kind", "bug"), ALL_BUGS, ids=BUG_IDS)
def test_bug_ground_truth(kind, bug):
    """On its canonical problem the bug differs in exactly ``wrong_groups``, with the recorded layer and link."""
    ref, got = run(kind, bug, bug.arch, bug.n_samples)
    wrong, first, link = classify(ref, got, len(bug.arch) - 1)
    assert wrong == bug.wrong_groups
    assert first == bug.first_wrong_layer
    assert link == bug.link
    for name in wrong:
        assert rel_diff(ref[name], got[name]) >= BUG_MIN_RDIFF, name


@pytest.mark.parametrize(("kind", "bug"), ALL_BUGS, ids=BUG_IDS)
def test_bug_needs_are_necessary(kind, bug):
    """Dropping any one of the bug's conditions (other than squareness) makes it invisible."""
    if bug.needs.get("min_samples", 1) >= 2:
        ref, got = run(kind, bug, bug.arch, 1)
        assert classify(ref, got, len(bug.arch) - 1)[0] == frozenset()
    if bug.needs.get("bias"):
        ref, got = run(kind, bug, bug.arch, bug.n_samples, with_bias=False)
        assert classify(ref, got, len(bug.arch) - 1)[0] == frozenset()
    if bug.needs.get("min_layers", 1) >= 3:
        arch = bug.arch[:3]
        ref, got = run(kind, bug, arch, bug.n_samples)
        assert classify(ref, got, len(arch) - 1)[0] == frozenset()


@pytest.mark.parametrize("bug", textbook_bugs.BUGS, ids=[b.name for b in textbook_bugs.BUGS])
def test_textbook_bug_without_biases(bug):
    """Without biases a textbook bug that does not need them differs in its wrong_groups minus the b-groups."""
    if bug.needs.get("bias"):
        pytest.skip("invisible without biases; covered by test_bug_needs_are_necessary")
    ref, got = run_textbook(bug, bug.arch, bug.n_samples, with_bias=False)
    wrong, first, link = classify(ref, got, len(bug.arch) - 1)
    assert wrong == frozenset(n for n in bug.wrong_groups if not n.startswith("b"))
    assert link == bug.link


NON_SQUARE_ARCHS = [(2, 3, 1), (3, 4, 4, 1), (3, 5, 4, 2, 2)]


@pytest.mark.parametrize(("kind", "bug"), [(kind, b) for kind, b in ALL_BUGS if not b.needs.get("square")],
                         ids=[i for i, (_, b) in zip(BUG_IDS, ALL_BUGS, strict=True) if not b.needs.get("square")])
def test_bug_link_holds_on_non_square_networks(kind, bug):
    """Bugs that do not need square layers show up, with the same kind of link, on non-square networks too."""
    for arch in NON_SQUARE_ARCHS:
        if len(arch) - 1 < bug.needs.get("min_layers", 1):
            continue
        ref, got = run(kind, bug, arch, bug.n_samples)
        wrong, _, link = classify(ref, got, len(arch) - 1)
        assert wrong, arch
        assert link == bug.link, arch

"""Why a check probably failed, read from the shape of the error.

A wrong gradient rarely looks random.  A constant ratio between analytic and
numerical values points at a convention (−1: a sign; 2 or ½: ½Σ(a − y)² vs
Σ(a − y)²; N or 1/N: mean vs sum over the N samples), an analytic gradient
equal to the transpose of the numerical one at a missing ``.T``, a difference
proportional to θ at a regulariser that is differentiated but not in the loss,
errors at float16/float32 rounding level at a low-precision computation, and
for a network the first broken link of the delta chain says which formula:
δ_L (the loss and output derivatives), the recurrence at layer l (σ'(z_l) or
W_{l+1}ᵀ) when δ_{l+1} is right, or the weight/bias formula when δ_l is right.

Every diagnosis names a ``cause`` (a short key) and says it in a sentence
that states its evidence: how many entries follow the pattern and how closely.
A pattern needs enough entries to be one (:data:`MIN_PATTERN`): any single
wrong value is "a constant times" and "θ times" the right one.  Low precision
is claimed only when the analytic values lie on that precision's grid, and a
factor that two causes explain equally (½ with N = 2 samples: the loss
convention or a mean) names both.  Where the evidence is short of that, the
cause is ``'unknown'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..report.records import GroupResult
from .layout import IN_OUT, Notation

if TYPE_CHECKING:
    from ..report.model import CheckReport, NetworkReport

__all__ = ["Diagnosis", "diagnose_group", "diagnose_report", "diagnose_network"]

#: Relative spread below which a ratio counts as constant.
_CONSTANT = 1e-6

#: Significant entries (|n| > 1e-3·max|n|) a one-parameter pattern (an
#: arbitrary factor, λ·θ, one wrong entry among agreeing ones) must hold on:
#: one entry fits any such pattern exactly.
MIN_PATTERN = 2


@dataclass
class Diagnosis:
    """A probable cause of a failed check.

    Attributes
    ----------
    cause : str
        One of ``'sign'``, ``'factor-2'``, ``'mean-vs-sum'``, ``'constant-factor'``,
        ``'transpose'``, ``'single-entry'``, ``'regulariser'``, ``'precision'``,
        ``'swapped'``, ``'wrong-source'``, ``'non-finite'``, ``'output-delta'``, ``'recurrence'``,
        ``'weight-formula'``, ``'bias-formula'``, ``'stale'``, ``'unknown'``.
    message : str
        The diagnosis in one sentence.
    group : str or None
        The parameter group (or delta row) it was read from.
    layer : int or None
        The layer, for network reports.
    """

    cause: str
    message: str
    group: str | None = None
    layer: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"cause": self.cause, "message": self.message, "group": self.group, "layer": self.layer}


def _significant(n: np.ndarray) -> np.ndarray:
    """Entries of n above 1e-3 of its largest: those a ratio is read from."""
    return np.abs(n) > 1e-3 * np.max(np.abs(n), initial=0.0)


def _entries(k: int) -> str:
    return f"{k} entr{'y' if k == 1 else 'ies'}"


def _constant_ratio(a: np.ndarray, n: np.ndarray) -> float | None:
    """c when a ≈ c·n over the significant entries of n, else None."""
    sig = _significant(n)
    if np.count_nonzero(sig) == 0:
        return None
    r = a[sig] / n[sig]
    c = float(np.median(r))
    if c == 0 or not np.all(np.abs(r - c) <= _CONSTANT * abs(c) + 1e-12):
        return None
    # The insignificant entries must follow the same ratio to rounding.
    scale = np.max(np.abs(a), initial=0.0)
    if np.max(np.abs(a - c * n), initial=0.0) > 1e-8 * scale:
        return None
    return c


def _ratio_diagnosis(c: float, name: str, n_samples: int | None, k: int) -> Diagnosis | None:
    """The cause a constant ratio a = c·n over k significant entries points at (None: too little evidence)."""
    def near(x: float, target: float) -> bool:
        return abs(x - target) <= 1e-6 * abs(target)

    evidence = f"analytic = {c:.6g} × numerical in all {_entries(k)} (to {_CONSTANT:g})"
    half_or_two = near(c, 2) or near(c, 0.5)
    n_factor = bool(n_samples and n_samples > 1 and (near(c, 1 / n_samples) or near(c, n_samples)))
    if near(c, -1):
        return Diagnosis("sign", f"{name}: {evidence}: a sign error (e.g. y − a instead of a − y)", name)
    if half_or_two and n_factor:
        # N = 2: ½Σ vs Σ and a mean vs a sum give the same factor.
        return Diagnosis("constant-factor", f"{name}: {evidence}, and with N = {n_samples} samples that is both "
                                            "the loss convention (½Σ(a − y)² vs Σ(a − y)²) and a mean over samples "
                                            "where the loss sums (or the reverse): which one cannot be told at "
                                            "N = 2; check both, or rerun with another N", name)
    if half_or_two:
        # Without N (check_params) a mean over 2 samples is not ruled out: say so.
        unsure = "" if n_samples else "; with 2 samples, a mean where the loss sums gives the same factor"
        return Diagnosis("factor-2", f"{name}: {evidence}: the loss convention (½Σ(a − y)² has derivative "
                                     f"a − y; Σ(a − y)² has 2(a − y)){unsure}", name)
    if n_factor:
        return Diagnosis("mean-vs-sum", f"{name}: {evidence} = {'1/N' if c < 1 else 'N'} with N = {n_samples} "
                                        "samples: mean over samples where the loss sums, or the reverse", name)
    if k < MIN_PATTERN:
        return None
    return Diagnosis("constant-factor", f"{name}: {evidence}: one factor is wrong for the whole group (a "
                                        "learning rate, reduction or loss scale, or one shared value upstream)",
                     name)


def _precision(r: GroupResult) -> Diagnosis | None:
    """Low precision, only when the analytic values are that precision's numbers and err at its level."""
    if r.analytic is None or r.numerical is None:
        return None
    a, n = _arrays(r)
    scale = float(np.max(np.abs(n), initial=0.0))
    if scale == 0:
        return None
    rel = float(np.max(np.abs(a - n))) / scale
    sig = _significant(a)
    k = int(np.count_nonzero(sig))
    for label, dtype in (("float16", np.float16), ("float32", np.float32)):
        eps = float(np.finfo(dtype).eps)
        # On the grid: a float64 value from a float64 computation is a float16
        # (float32) number by chance with probability ~2^-42 (2^-29) per entry.
        with np.errstate(over="ignore"):
            on_grid = np.all(a[sig].astype(dtype).astype(np.float64) == a[sig])
        if k >= MIN_PATTERN and on_grid and eps / 50 <= rel <= 20 * eps:
            return Diagnosis("precision", f"{r.name}: all {_entries(k)} of the analytic gradient are {label} "
                                          f"numbers (exactly representable) and err by up to {rel:.2g} of the "
                                          f"gradient's scale, {label}'s rounding level (ε = {eps:.2g}): the "
                                          f"gradient is computed in {label}", r.name)
    return None


def diagnose_group(r: GroupResult, *, params: np.ndarray | None = None,
                   n_samples: int | None = None) -> Diagnosis | None:
    """Diagnose one failing group from the pattern of its errors (None when it passed).

    Parameters
    ----------
    r : GroupResult
        With ``analytic`` and ``numerical`` arrays.
    params : ndarray, optional
        θ of the group, to recognise a regulariser (analytic − numerical ∝ θ).
    n_samples : int, optional
        N, to recognise mean-vs-sum factors.

    Returns
    -------
    Diagnosis or None
    """
    if r.verdict != "failed" or r.analytic is None or r.numerical is None:
        return None
    a, n = _arrays(r)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(n))):
        bad = int(np.count_nonzero(~(np.isfinite(a) & np.isfinite(n))))
        return Diagnosis("non-finite", f"{r.name}: {_entries(bad)} NaN or Inf (see the notes for where)", r.name)
    scale = float(np.max(np.abs(n), initial=0.0))
    if r.n_mismatched == 1 and r.n_entries > 1:
        # The others must agree where there is something to agree on.
        others = _significant(n)
        at = _within(r.worst_index, r.numerical_sample)
        if at is not None:
            others[at] = False
        agreeing = int(np.count_nonzero(others))
        if agreeing >= MIN_PATTERN:
            return Diagnosis("single-entry", f"{r.name}: only entry {r.worst_index} is wrong (by "
                                             f"{r.max_rel_error:.2g} relative) while {_entries(agreeing)} of "
                                             "significant size agree: an indexing or update slip in one place",
                             r.name)
    c = _constant_ratio(a, n)
    if c is not None:
        d = _ratio_diagnosis(c, r.name, n_samples, int(np.count_nonzero(_significant(n))))
        if d is not None:
            return d
    if a.ndim == 2 and a.shape[0] == a.shape[1] and a.shape[0] > 1 and scale > 0:
        off = float(np.max(np.abs(a - n.T)))
        if off <= 1e-6 * scale:
            which = f"the {a.size} sampled" if r.numerical_sample else f"all {a.size}"
            return Diagnosis("transpose", f"{r.name}: analytic = numericalᵀ in {which} entries (to "
                                          f"{off / scale:.1g} of the scale) while analytic and numerical differ "
                                          f"by up to {r.max_rel_error:.2g} relative: a transpose is missing "
                                          "(square matrices hide it from shape checks)", r.name)
    if params is not None and np.shape(params) == r.analytic.shape:
        theta = np.asarray(params, dtype=np.float64)[r.numerical_sample or ...]
        lam = _constant_ratio(a - n, theta)
        k = int(np.count_nonzero(_significant(theta)))
        if lam is not None and lam > 0 and k >= MIN_PATTERN:
            return Diagnosis("regulariser", f"{r.name}: analytic − numerical = {lam:.3g}·θ in all {_entries(k)} "
                                            f"(to {_CONSTANT:g}): a regulariser (weight decay) in the gradient that "
                                            "the loss does not contain", r.name)
    return _precision(r)


def _matches(g: GroupResult, h: GroupResult) -> bool:
    """g's analytic gradient equals h's numerical gradient."""
    if h is g or g.analytic is None or h.numerical is None or h.shape != g.shape \
            or h.numerical.shape != g.analytic[h.numerical_sample or ...].shape:
        return False
    scale = np.max(np.abs(h.numerical), initial=0.0)
    return bool(scale > 0 and np.max(np.abs(g.analytic[h.numerical_sample or ...] - h.numerical)) <= 1e-6 * scale)


def _arrays(r: GroupResult) -> tuple[np.ndarray, np.ndarray]:
    """(analytic, numerical) of a group over the same entries: a streamed group's sample of them.

    A group whose values were streamed keeps a leading block of its numerical values
    (``numerical_sample``); its patterns are read from that block.
    """
    assert r.analytic is not None and r.numerical is not None
    return np.asarray(r.analytic)[r.numerical_sample or ...], r.numerical


def _within(index: tuple[int, ...] | None, sample: tuple[slice, ...] | None) -> tuple[int, ...] | None:
    """``index`` within the sampled block (itself without a sample); None when outside it."""
    if index is None or sample is None:
        return index
    inside = all(s.start <= i < s.stop for i, s in zip(index, sample, strict=True))
    return tuple(i - s.start for i, s in zip(index, sample, strict=True)) if inside else None


def _swapped(groups: Sequence[GroupResult]) -> Diagnosis | None:
    """Gradients swapped between two groups, or one group's gradient taken from another."""
    for g in groups:
        if g.verdict != "failed":
            continue
        for h in groups:
            if not _matches(g, h):
                continue
            if _matches(h, g):
                return Diagnosis("swapped", f"{g.name} and {h.name}: each analytic gradient is the other's "
                                            f"numerical gradient in all {_entries(g.n_entries)} (to 1e-6 of the "
                                            "scale): the two groups' gradients are swapped", g.name)
            # DenseNet names (W/b) say which formula took the wrong layer's values.
            cause = {"W": "weight-formula", "b": "bias-formula"}.get(g.name[:1], "wrong-source")
            return Diagnosis(cause, f"{g.name}: its analytic gradient is the numerical gradient of {h.name} in all "
                                    f"{_entries(g.n_entries)} (to 1e-6 of the scale): it "
                                    "is computed from the wrong layer's values (e.g. the next layer's delta)", g.name)
    return None


def _off(row: GroupResult) -> str:
    """The evidence that a row is wrong: how many entries, by how much."""
    return f"{row.n_mismatched} of {_entries(row.n_entries)} off, by up to {row.max_rel_error:.2g} relative"


def _agrees(row: GroupResult | None) -> str:
    """The evidence that a row is right."""
    if row is None:
        return ""
    return f" ({'its one entry' if row.n_entries == 1 else f'all {row.n_entries} entries'} within tolerance)"


def diagnose_report(report: CheckReport, params: dict[str, np.ndarray] | None = None,
                    n_samples: int | None = None) -> list[Diagnosis]:
    """Diagnoses of a failed :func:`check_params` report, one per failing group at most."""
    if report.passed:
        return []
    swapped = _swapped(report.groups)
    out = [swapped] if swapped else []
    unknown = []
    for g in report.groups:
        # An inconclusive group has no error pattern to read: its reason says why.
        if g.verdict != "failed" or (swapped and g.name == swapped.group):
            continue
        d = diagnose_group(g, params=None if params is None else params.get(g.name), n_samples=n_samples)
        if d is None:
            unknown.append(g.name)
        else:
            out.append(d)
    if unknown and not out:
        first = report.group(unknown[0])
        out.append(Diagnosis("unknown", f"{', '.join(unknown)}: no known pattern with enough evidence ({unknown[0]}: "
                                        f"{_off(first)}); see the worst entries", unknown[0]))
    return out


def diagnose_network(report: NetworkReport, params: dict[str, np.ndarray], n_samples: int,
                     stale_check: Any = None, notation: Notation = IN_OUT,
                     precision_check: Any = None) -> list[Diagnosis]:
    """The probable cause of a failed network check, from where the delta chain breaks.

    Parameters
    ----------
    report : NetworkReport
    params : dict of str to ndarray
        The network's parameters.
    n_samples : int
    stale_check : callable, optional
        ``stale_check() -> float or None``: a learning rate for which the
        analytic gradients equal the correct gradients at θ + lr·g (weights
        before the last update), if any.
    notation : Notation
        How formulas are written in the messages (the caller's layout).
    precision_check : callable, optional
        ``precision_check() -> str or None``: 'float16' or 'float32' when the
        analytic gradients equal those the network computes from θ, X and y
        in that precision (the evidence for a low-precision backward pass).

    Returns
    -------
    list of Diagnosis
        The main diagnosis first.
    """
    first = report.first_failure
    if first is None:
        return []
    swapped = _swapped(report.groups)
    if swapped:
        return [swapped]
    layer, kind = first
    row: GroupResult = getattr(report.layers[layer - 1], kind)
    param = params.get(row.name) if kind in ("weight", "bias") else None
    d = diagnose_group(row, params=param, n_samples=n_samples)
    if d is not None and d.cause != "precision":
        d.layer = layer
        return [d]
    if stale_check is not None:
        lr = stale_check()
        if lr is not None:
            return [Diagnosis("stale", f"the analytic gradients equal the true gradients at θ + {lr:g}·g in every "
                                       "entry of every group (to 1e-6 relative): they were "
                                       "computed from the weights before the last update (stale weights)",
                              None, layer)]
    if d is not None:
        d.layer = layer
        return [d]
    label = precision_check() if precision_check is not None else None
    if label is not None:
        return [Diagnosis("precision", f"the analytic gradients equal, in every entry of every group (to 1e-6 "
                                       f"relative), those this network computes from θ, X and y in {label}: the "
                                       f"backward pass runs (partly) in {label}", None, layer)]
    L = len(report.layers)
    wrong = _off(row)
    if kind == "delta":
        if layer == L:
            return [Diagnosis("output-delta", f"δ{L} is wrong ({wrong}) while nothing above it exists: the output "
                                              f"delta ∂L/∂a{L} ⊙ f'(z{L}) — check the loss derivative and the output "
                                              "activation's derivative (written from a, not z)", row.name, layer)]
        return [Diagnosis("recurrence", f"δ{layer} is wrong ({wrong}) while δ{layer + 1} is right"
                                        f"{_agrees(report.layers[layer].delta)}: the recurrence at layer "
                                        f"{layer}, {notation.recurrence(layer)} — check "
                                        f"f'(z{layer}) (from a{layer}, this layer's activation) and the transpose "
                                        f"of W{layer + 1}", row.name, layer)]
    if kind in ("weight", "bias") and report.layers[layer - 1].delta is None:
        # Without the caller's δ_l nothing says whether δ_l or the formula
        # built on it broke: naming either would be a guess.
        formula = (notation.weight_formula if kind == "weight" else notation.bias_formula)(layer)
        return [Diagnosis("unknown", f"{row.name} is wrong ({_off(row)}), but without your δ{layer} the broken "
                                     "link cannot be "
                                     f"told apart: δ{layer} (the delta chain above it) or the formula {formula}; "
                                     "pass deltas= as well to locate it", row.name, layer)]
    if kind in ("weight", "bias"):
        formula = notation.weight_formula(layer) if kind == "weight" else f"∂L/∂b{layer} = Σ_samples δ{layer}"
        return [Diagnosis(f"{kind}-formula", f"δ{layer} is right{_agrees(report.layers[layer - 1].delta)} but "
                                             f"∂L/∂{'W' if kind == 'weight' else 'b'}{layer} is wrong ({wrong}): "
                                             f"the formula {formula} (check which activation, which "
                                             "delta, sum over all samples)", row.name, layer)]
    return [Diagnosis("unknown", f"layer {layer}: the {kind.replace('_', ' ')} row fails ({wrong}); no known "
                                 "pattern; see its worst entries",
                      row.name, layer)]

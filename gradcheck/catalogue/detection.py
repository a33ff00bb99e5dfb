"""Detection power of the checker, measured: the bug catalogue, sensitivity and false alarms.

:func:`run_catalogue` plants every mistake of :data:`gradcheck.catalogue.bugs.CATALOGUE`
in several architectures and records whether :func:`gradcheck.check_network`
flags exactly the affected groups and whether the diagnosis names the planted
cause.  :func:`sensitivity` finds, per numerical method, the smallest relative
error in one gradient entry that the default tolerance flags.
:func:`stress_set` builds random *correct* networks in hard regimes, and
:func:`false_alarms` counts how many of them each method wrongly fails (and,
apart, how many it honestly cannot resolve).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ..model.losses import REDUCTIONS
from ..model.network import DenseNet, xor_data
from ..verify.network import check_network
from ..verify.params import check_params
from .bugs import CATALOGUE, Bug

__all__ = ["ARCHITECTURES", "LAYER_ARCHITECTURES", "architectures", "CatalogueRow", "build_case", "run_catalogue",
           "sensitivity", "stress_set", "false_alarms", "SENSITIVITY_METHODS",
           "smallest_flagged"]

#: (label, sizes, bias, samples or "xor"): square and non-square layers, with and without biases.
ARCHITECTURES: tuple[tuple[str, list[int], bool, int | str], ...] = (
    ("3-4-4-1 no bias, XOR", [3, 4, 4, 1], False, "xor"),
    ("5-7-3-2 bias", [5, 7, 3, 2], True, 6),
    ("4-4-4-4 bias", [4, 4, 4, 4], True, 5),
    ("3-5-2 no bias", [3, 5, 2], False, 4),
)

#: (label, sizes, bias, samples, model options) for the mistakes of ReLU, softmax, cross-entropy and
#: weight decay (bugs with ``models='layers'``).
LAYER_ARCHITECTURES: tuple[tuple[str, list[int], bool, int, dict[str, Any]], ...] = (
    ("4-6-5-3 relu/softmax, cross-entropy, λ=0.01, bias", [4, 6, 5, 3], True, 6,
     {"activation": ["relu", "relu", "softmax"], "loss": "cross_entropy", "weight_decay": 0.01}),
    ("3-5-2 leaky/sigmoid, cross-entropy mean, λ=0.05, bias", [3, 5, 2], True, 5,
     {"activation": ["leaky_relu:0.1", "sigmoid"], "loss": "cross_entropy", "reduction": "mean",
      "weight_decay": 0.05}),
    ("3-4-3 tanh/softmax, MSE", [3, 4, 3], False, 5, {"activation": ["tanh", "softmax"]}),
)


def architectures(models: str) -> tuple[tuple[str, list[int], bool, int | str, dict[str, Any]], ...]:
    """The architectures a bug of ``models`` ('classic' or 'layers') is planted in, with their model options."""
    if models == "layers":
        return LAYER_ARCHITECTURES
    return tuple((label, sizes, bias, samples, {}) for label, sizes, bias, samples in ARCHITECTURES)


SENSITIVITY_METHODS = ("forward", "central", "richardson", "complex", "scipy-fprime", "scipy-differentiate", "auto")


def build_case(sizes: list[int], bias: bool, samples: int | str, seed: int,
               model: dict[str, Any] | None = None) -> tuple[DenseNet, np.ndarray, np.ndarray]:
    """The network and data of one entry of :data:`ARCHITECTURES`.

    Parameters
    ----------
    sizes : list of int
        Layer widths ``[n_0, …, n_L]``.
    bias : bool
    samples : int or 'xor'
        Number of random samples (standard normal inputs, uniform targets), or
        ``'xor'`` for :func:`gradcheck.xor_data`.
    seed : int
        Seeds the network's parameters (``seed``) and the random data (``seed + 1000``).
    model : dict, optional
        ``activation``, ``loss``, ``reduction``, ``weight_decay`` for :class:`DenseNet`
        (default: sigmoid and MSE); a softmax output gets one-hot targets.

    Returns
    -------
    net : DenseNet
    X : ndarray of shape (N, n_0)
    y : ndarray of shape (N, n_L)
    """
    net = DenseNet(sizes, bias=bias, seed=seed, **(model or {}))
    if samples == "xor":
        X, y = xor_data()
    else:
        rng = np.random.default_rng(seed + 1000)
        X = rng.standard_normal((int(samples), sizes[0]))
        y = rng.random((int(samples), sizes[-1]))
        if net.activations[-1].name == "softmax":
            y = np.eye(sizes[-1])[rng.integers(sizes[-1], size=int(samples))]
    return net, X, y


@dataclass
class CatalogueRow:
    """One bug on one architecture."""

    bug: str
    architecture: str
    affected: list[str]
    flagged: list[str]
    first_failure: str
    diagnosis: str
    expected_cause: str

    @property
    def detected(self) -> bool:
        return bool(self.flagged)

    @property
    def located(self) -> bool:
        return self.flagged == self.affected

    @property
    def diagnosed(self) -> bool:
        return self.diagnosis == self.expected_cause


def run_catalogue(bugs: dict[str, Bug] | None = None, *, method: str = "auto", seed: int = 1,
                  progress: Callable[[int, int], None] | None = None) -> list[CatalogueRow]:
    """Plant every applicable bug in every architecture of :data:`ARCHITECTURES` and check it.

    Returns
    -------
    list of CatalogueRow
    """
    bugs = CATALOGUE if bugs is None else bugs
    jobs = [(b, arch) for b in bugs.values() for arch in architectures(b.models)]
    rows = []
    for k, (bug, (label, sizes, bias, samples, model)) in enumerate(jobs):
        net, X, y = build_case(sizes, bias, samples, seed, model)
        if bug.applies(net, X):
            wrong = bug.backward(net, X, y)
            report = check_network(net, X, y, method=method, seed=seed, backward=wrong, diagnostics=False)
            first = report.first_failure
            if first is None:
                where = "—"
            else:
                layer = report.layers[first[0] - 1]
                assert layer.delta is not None and layer.recurrence is not None, "checked with deltas=True"
                r = getattr(layer, first[1])
                where = (f"layer {first[0]} {first[1]} (max rel {r.max_rel_error:.2g}); "
                         f"δ{first[0]} {'ok' if layer.delta.passed else 'FAIL'}, "
                         f"recurrence {'ok' if layer.recurrence.passed else 'FAIL'}")
            cause = report.diagnoses[0].cause if report.diagnoses else "—"
            rows.append(CatalogueRow(bug.name, label, bug.affected_groups(net, X, y, wrong), report.failed_groups,
                                     where, cause, bug.cause))
        if progress:
            progress(k + 1, len(jobs))
    return rows


def _plant(grads: dict[str, np.ndarray], name: str, index: tuple[int, ...], rel: float) -> dict[str, np.ndarray]:
    out = {k: v.copy() for k, v in grads.items()}
    out[name][index] *= 1 + rel
    return out


def _flagged(loss: Callable, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], name: str,
             index: tuple[int, ...], method: str, seed: int, k: float) -> bool:
    """Whether ``check_params`` fails group ``name`` when one entry is off by the relative error 10^-k."""
    return name in check_params(loss, params, _plant(grads, name, index, 10.0 ** -k),
                                method=method, seed=seed).failed_groups


def smallest_flagged(flagged: Callable[[float], bool], exps: np.ndarray) -> float:
    """10^-k for the largest k in ``exps`` still flagged, by bisection; inf if ``exps[0]`` is not."""
    lo, hi = 0, len(exps) - 1  # exps[lo] is flagged (checked first), find the last flagged exponent
    if not flagged(exps[lo]):
        return np.inf
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if flagged(exps[mid]):
            lo = mid
        else:
            hi = mid - 1
    return 10.0 ** -exps[lo]


def sensitivity(methods: tuple[str, ...] = SENSITIVITY_METHODS, *, seed: int = 0,
                exponents: np.ndarray | None = None,
                progress: Callable[[int, int], None] | None = None) -> dict[str, dict[str, float]]:
    """Smallest relative error in one entry that the default tolerance flags, per method.

    For each architecture of :data:`ARCHITECTURES` and each parameter group,
    the entry of median magnitude gets a relative error 10^-k; bisection over
    k (half decades, 10^-1 … 10^-13) finds the smallest flagged error.  The
    result gives the median and the largest threshold over those entries.

    Returns
    -------
    dict
        ``{method: {"median": float, "worst": float, "cases": int}}``.
    """
    exps = np.arange(1.0, 13.01, 0.5) if exponents is None else np.asarray(exponents)
    cases = []
    for _label, sizes, bias, samples in ARCHITECTURES:
        net, X, y = build_case(sizes, bias, samples, seed)
        grads = net.gradients(X, y)
        loss = net.loss_closure(X, y)
        for name, g in grads.items():
            if g.size < 2:
                continue
            order = np.argsort(np.abs(g), axis=None)
            index = tuple(int(i) for i in np.unravel_index(int(order[g.size // 2]), g.shape))
            cases.append((net, loss, grads, name, index))
    out: dict[str, dict[str, float]] = {}
    total, done = len(methods) * len(cases), 0
    for method in methods:
        thresholds = []
        for net, loss, grads, name, index in cases:
            flagged = partial(_flagged, loss, net.params, grads, name, index, method, seed)
            thresholds.append(smallest_flagged(flagged, exps))
            done += 1
            if progress:
                progress(done, total)
        t = np.asarray(thresholds)
        out[method] = {"median": float(np.median(t)), "worst": float(np.max(t)), "cases": len(t)}
    return out


REGIMES = ("plain", "saturated", "deep-small", "single-sample", "zero-column", "inputs-x10", "float32")


def stress_set(n: int = 200, *, seed: int = 12345) -> Iterator[tuple[str, DenseNet, np.ndarray, np.ndarray]]:
    """Random correct networks in hard regimes, cycling through :data:`REGIMES` and every reduction.

    Yields
    ------
    (regime, net, X, y)
        ``regime`` names the hard case: sigmoids saturated by weights ×25,
        5-layer nets with weights ×0.1 (vanishing gradients), one sample, a
        zero input column (all-zero gradient rows), inputs ×10, float32.
    """
    rng = np.random.default_rng(seed)
    for k in range(n):
        regime = REGIMES[k % len(REGIMES)]
        reduction = REDUCTIONS[(k // len(REGIMES)) % len(REDUCTIONS)]
        depth = 5 if regime == "deep-small" else int(rng.integers(1, 5))
        sizes = [int(rng.integers(1, 8)) for _ in range(depth + 1)]
        bias = bool(rng.integers(2))
        samples = 1 if regime == "single-sample" else int(rng.integers(2, 16))
        net = DenseNet(sizes, bias=bias, reduction=reduction, seed=int(rng.integers(2**31)))
        X = rng.standard_normal((samples, sizes[0]))
        y = rng.random((samples, sizes[-1]))
        if regime == "saturated":
            for v in net.params.values():
                v *= 25
        elif regime == "deep-small":
            for v in net.params.values():
                v *= 0.1
        elif regime == "zero-column":
            X[:, 0] = 0.0
        elif regime == "inputs-x10":
            X *= 10
        elif regime == "float32":
            net = DenseNet.from_params({k: v.astype(np.float32) for k, v in net.params.items()},
                                       reduction=reduction)
            X, y = X.astype(np.float32), y.astype(np.float32)
        yield regime, net, X, y


def false_alarms(methods: tuple[str, ...] = SENSITIVITY_METHODS, n: int = 200, *, seed: int = 12345,
                 networks: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, dict[str, Any]]:
    """Count wrong failures on :func:`stress_set` for check_params per method (and check_network).

    Returns
    -------
    dict
        ``{method: {"false_alarms": int, "inconclusive": int, "checked": int, "examples": [str, …]}}``;
        the key ``"check_network (auto)"`` holds the per-layer check.  A false
        alarm is a correct gradient reported as failed; "inconclusive" counts
        the checks that said they cannot resolve a group (the method's error
        exceeds the resolution bound, see :mod:`gradcheck.verify.resolution`),
        which is honest, not wrong, and is counted apart.
    """
    keys = list(methods) + (["check_network (auto)"] if networks else [])
    out = {k: {"false_alarms": 0, "inconclusive": 0, "checked": 0, "examples": []} for k in keys}
    for i, (regime, net, X, y) in enumerate(stress_set(n, seed=seed)):
        grads = net.gradients(X, y)
        # For a float32 net the checker still evaluates this loss in float64:
        # its parameter copies are float64 and the forward pass follows them.
        loss = net.loss_closure(X, y)
        for method in methods:
            report = check_params(loss, net.params, grads, method=method, seed=seed)
            _count(out[method], report.verdict, f"{regime} {net!r}: {report.failed_groups}")
        if networks:
            report = check_network(net, X, y, seed=seed, diagnostics=False)
            _count(out["check_network (auto)"], report.verdict, f"{regime} {net!r}: {report.first_failure}")
        if progress:
            progress(i + 1, n)
    return out


def _count(entry: dict[str, Any], verdict: str, example: str) -> None:
    entry["checked"] += 1
    if verdict == "inconclusive":
        entry["inconclusive"] += 1
    elif verdict == "failed":
        entry["false_alarms"] += 1
        if len(entry["examples"]) < 3:
            entry["examples"].append(example)

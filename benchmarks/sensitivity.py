"""Sensitivity of check_network per method: the smallest relative error it flags in one entry, and its false alarms.

For every architecture of ``gradcheck.catalogue.detection.ARCHITECTURES`` and every parameter group
with two entries or more, the entry of median magnitude of the correct gradient gets a relative
error 10^-k; bisection over k (half decades, 10^-1 … 10^-13) finds the smallest error
``check_network(..., deltas=False, diagnostics=False)`` still fails that group for.  The table gives
the median and the largest of those thresholds per method, the share of cases where 1e-9 is caught,
and the false alarms (a correct gradient failed) and inconclusive verdicts of check_network on the
stress set (``gradcheck.catalogue.detection.stress_set``: saturated, deep, one sample, zero
column, inputs ×10, float32, plain; every reduction) and on softmax/cross-entropy and ReLU nets
drawn by ``gradcheck.strategies.dense_nets``-like seeds.

Usage::

    PYTHONPATH=. python benchmarks/sensitivity.py            # full: 210 stress nets, writes SENSITIVITY_RESULTS.md
    PYTHONPATH=. python benchmarks/sensitivity.py --quick    # 42 stress nets, prints only
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

import gradcheck as gc
from gradcheck.catalogue.detection import ARCHITECTURES, build_case, smallest_flagged, stress_set

METHODS = ("auto", "complex", "richardson", "central", "central4", "forward")
EXPONENTS = np.arange(1.0, 13.01, 0.5)
GOAL = 1e-9


def _flagged(net: gc.DenseNet, X: np.ndarray, y: np.ndarray, name: str, index: tuple[int, ...], method: str,
             k: float) -> bool:
    b = net.backward(X, y)
    g = {key: v.copy() for key, v in b.gradients.items()}
    g[name][index] *= 1 + 10.0 ** -k
    report = gc.check_network(net, X, y, method=method, backward=dataclasses.replace(b, gradients=g),
                              deltas=False, diagnostics=False)
    return name in report.failed_groups


def cases(seed: int = 0) -> list[tuple[str, gc.DenseNet, np.ndarray, np.ndarray, str, tuple[int, ...]]]:
    """(label, net, X, y, group, median-magnitude index) for every group of every architecture."""
    out = []
    for label, sizes, bias, samples in ARCHITECTURES:
        net, X, y = build_case(sizes, bias, samples, seed)
        for name, g in net.gradients(X, y).items():
            if g.size < 2:
                continue
            order = np.argsort(np.abs(g), axis=None)
            out.append((label, net, X, y, name,
                        tuple(int(i) for i in np.unravel_index(int(order[g.size // 2]), g.shape))))
    return out


def model_nets(n: int, seed: int = 7) -> list[tuple[str, gc.DenseNet, np.ndarray, np.ndarray]]:
    """Softmax/cross-entropy and ReLU nets (random sizes, every reduction)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        depth = int(rng.integers(1, 4))
        sizes = [int(rng.integers(2, 7)) for _ in range(depth + 1)]
        reduction = ("sum", "mean")[k % 2]
        if k % 2:
            act, loss = ["relu"] * (depth - 1) + ["sigmoid"], "mse"
            y = rng.random((6, sizes[-1]))
        else:
            act, loss = ["tanh"] * (depth - 1) + ["softmax"], "cross_entropy"
            y = np.eye(sizes[-1])[rng.integers(sizes[-1], size=6)]
        net = gc.DenseNet(sizes, activation=act, loss=loss, reduction=reduction, seed=int(rng.integers(2**31)))
        out.append(("relu" if k % 2 else "softmax/CE", net, rng.standard_normal((6, sizes[0])), y))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="42 stress nets, 10 model nets; print, write nothing")
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args(argv)
    methods = tuple(args.methods.split(","))
    n_stress, n_model = (42, 10) if args.quick else (210, 40)
    start = time.perf_counter()
    rows = []
    sens_cases = cases()
    nets = [(r, n, X, y) for r, n, X, y in stress_set(n_stress, seed=12345)] + model_nets(n_model)
    for method in methods:
        t = np.asarray([smallest_flagged(partial(_flagged, net, X, y, name, index, method), EXPONENTS)
                        for _label, net, X, y, name, index in sens_cases])
        alarms, inconclusive, examples = 0, 0, []
        for regime, net, X, y in nets:
            verdict = gc.check_network(net, X, y, method=method, diagnostics=False).verdict
            alarms += verdict == "failed"
            inconclusive += verdict == "inconclusive"
            if verdict == "failed" and len(examples) < 3:
                examples.append(f"{regime} {net!r}")
        rows.append((method, float(np.median(t)), float(np.max(t)), int(np.sum(t <= GOAL * 1.001)), len(t),
                     alarms, inconclusive, len(nets), examples))
        print(rows[-1], flush=True)
    elapsed = time.perf_counter() - start
    lines = ["| method | smallest flagged rel. error (median) | (worst case) | 1e-9 caught | false alarms | "
             "inconclusive |", "|---|---|---|---|---|---|"]
    for m, med, worst, caught, n, fa, inc, total, _ in rows:
        lines.append(f"| {m} | {med:.0e} | {worst:.0e} | {caught}/{n} | {fa}/{total} | {inc}/{total} |")
    table = "\n".join(lines)
    print(table)
    for m, *_, ex in rows:
        for e in ex:
            print(f"false alarm ({m}): {e}")
    if not args.quick:
        Path(__file__).with_name("SENSITIVITY_RESULTS.md").write_text(
            f"# check_network sensitivity (benchmarks/sensitivity.py)\n\n{table}\n\n"
            f"{len(sens_cases)} planted cases (median-magnitude entry of every group of "
            f"{len(ARCHITECTURES)} architectures); {n_stress} stress nets and {n_model} softmax/CE and ReLU nets. "
            f"Python {platform.python_version()}, {elapsed:.0f} s.\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

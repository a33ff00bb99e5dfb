"""Peak memory of a full check_network against its memory_budget, over parameters P and samples N.

    python benchmarks/memory.py [--params 1e3,1e4,1e5,1e6] [--samples 1,100,1000,10000]
                                [--budgets 16,64,256]

The network is ``[n, n, 1]`` with biases, n chosen so that P = n² + 2n + 1 is
near the asked count; for the sample sweep it is the 32-64-32-8 net (4,456
parameters).  The peak is tracemalloc's peak during ``check_network(net, X, y,
memory_budget=B)`` (numpy's allocations are traced), minus what was allocated
before the call (the network and the data).  The budget does not count what
is being checked, backprop's output: the analytic gradient (8 bytes per
parameter), its deltas and the forward pass it kept (z_l and a_l: 24 bytes per
unit and sample), nor one working copy of the parameters (16 bytes per
parameter), nor the loss's own memory during one call (its forward pass over
every sample, measured with tracemalloc on a call of the net's loss closure:
no checker can call the loss with less); the column "counted" is the peak
minus those, and "counted /
budget" is the issue's measure (target: at most 1.25 in every cell).  Prints a
Markdown table; nothing is written to benchmarks/RESULTS.md (copy a run there
by hand).
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc

import numpy as np

import gradcheck as gc

MB = 2**20


def peak(net: gc.DenseNet, X: np.ndarray, y: np.ndarray, budget: int) -> tuple[int, float]:
    """(peak extra bytes, seconds) of one full check."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start_bytes = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    gc.check_network(net, X, y, memory_budget=budget)
    seconds = time.perf_counter() - t0
    top = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return top - start_bytes, seconds


def uncounted_bytes(sizes: list[int], n_samples: int) -> int:
    """What the budget does not count: backprop's output (gradient, deltas, forward cache), one working copy."""
    P = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))  # weights and biases
    return 8 * P + 3 * 8 * n_samples * sum(sizes[1:]) + 16 * P


def loss_call_peak(net: gc.DenseNet, X: np.ndarray, y: np.ndarray) -> int:
    """Peak bytes of one call of the net's loss closure, beyond what was allocated before it."""
    loss = net.loss_closure(X, y)
    params = dict(net.params)
    tracemalloc.start()
    start_bytes = tracemalloc.get_traced_memory()[0]
    loss(params)
    top = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return top - start_bytes


def rows(params: list[float], samples: list[int], budgets: list[int]) -> list[list[str]]:
    out = []
    rng = np.random.default_rng(0)
    cases = []
    for p in params:
        n = max(1, round(math.sqrt(p)) - 1)
        cases.append(([n, n, 1], 4))
    for s in samples:
        cases.append(([32, 64, 32, 8], s))
    for sizes, n_samples in cases:
        net = gc.DenseNet(sizes, seed=0)
        X, y = rng.standard_normal((n_samples, sizes[0])), rng.random((n_samples, sizes[-1]))
        P = sum(v.size for v in net.params.values())
        uncounted = uncounted_bytes(sizes, n_samples) + loss_call_peak(net, X, y)
        for b in budgets:
            top, seconds = peak(net, X, y, b * MB)
            counted = max(0, top - uncounted)
            out.append([f"{'-'.join(map(str, sizes))}", f"{P:,}", str(n_samples), f"{b} MB",
                        f"{top / MB:.1f} MB", f"{top / P:.0f}", f"{counted / MB:.1f} MB",
                        f"{counted / (b * MB):.2f}", f"{seconds:.2f} s"])
            print(" | ".join(out[-1]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="1e3,1e4,1e5,1e6")
    parser.add_argument("--samples", default="1,100,1000,10000")
    parser.add_argument("--budgets", default="16,64,256")
    args = parser.parse_args()
    table = rows([float(p) for p in args.params.split(",") if p], [int(s) for s in args.samples.split(",") if s],
                 [int(b) for b in args.budgets.split(",")])
    print()
    print("| net | P | N | budget | peak | bytes per parameter | counted | counted / budget | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in table:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()

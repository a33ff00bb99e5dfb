"""The cost per loss call of guarding against a loss that writes into its argument.

    python benchmarks/loss_calls.py [--sizes 10,1000,100000]

gradcheck's evaluator perturbs one entry of a private parameter copy per call.
A loss that writes into the arrays it receives would corrupt every later call,
so something must guard them.  Three ways, timed on the same loss (Σ sin²(w),
whose own cost grows with the size like a real loss's does):

* ``read-only views`` (what LossEvaluator does): the loss receives views with
  ``writeable=False`` made once; a write raises.  Nothing per call.
* ``fresh copies``: every call gets a new copy of every array.
* ``compare after``: every call is followed by a comparison with a kept copy.

Printed: microseconds per call and the ratio to an unguarded call, medians of
repeats in this run.  Nothing is written and nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def loss(p: dict[str, np.ndarray]) -> float:
    return float(np.sum(np.sin(p["w"]) ** 2))


def per_call(fns: list, calls: int, repeats: int = 9) -> list[float]:
    """Median seconds per call of each fn(), the contenders interleaved in every repeat."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t_list in zip(fns, times, strict=True):
            t = time.perf_counter()
            for _ in range(calls):
                fn()
            t_list.append((time.perf_counter() - t) / calls)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,100000")
    args = parser.parse_args()
    print(f"{'size':>8} {'unguarded µs':>13} {'read-only views':>16} {'fresh copies':>16} {'compare after':>16}")
    for size in map(int, args.sizes.split(",")):
        base, *rows = time_size(size)
        print(f"{size:>8} {base * 1e6:>13.2f} " + " ".join(f"{r / base:>15.2f}×" for r in rows))


def time_size(size: int) -> list[float]:
    """Seconds per call: unguarded, read-only views, fresh copies, compare after."""
    work = {"w": np.random.default_rng(0).standard_normal(size)}
    view = work["w"].view()
    view.flags.writeable = False
    views = {"w": view}
    kept = {"w": work["w"].copy()}
    calls = max(20, 200_000 // size)

    def compare_after() -> None:
        loss(dict(work))
        if not np.array_equal(work["w"], kept["w"]):
            raise AssertionError

    return per_call([lambda: loss(dict(work)), lambda: loss(dict(views)),
                     lambda: loss({k: v.copy() for k, v in work.items()}), compare_after], calls)

if __name__ == "__main__":
    main()

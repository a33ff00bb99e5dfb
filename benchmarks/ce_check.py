"""Cross-entropy on the structured engine: a relu/softmax check against an MSE one and against the generic engine.

    python benchmarks/ce_check.py [--quick] [--out FILE]

On the 32-64-32-8 net with N = 64 and 256 samples, in rounds that alternate
between contenders (a change of machine load hits them alike):

* ``sigmoid/MSE`` and ``relu,relu,softmax/CE`` (one-hot targets), each checked by the
  default ``check_network(net, X, y)`` and the bare ``check_network(net, X, y,
  method="central", deltas=False, diagnostics=False)``;
* the same CE checks with ``engine="generic"``: what every cross-entropy net got before the
  structured engine modelled it (the engine then handed such a net to the generic one).

Ratios are the fastest runs' and the median of the per-round ratios.  A full run
(3 rounds) writes benchmarks/CE_RESULTS.md; ``--quick`` (1 round, N = 64 only) prints
only and refuses to overwrite that file.  Nothing here is a test: the suite never asserts a time.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _common import arguments, measured, publish, ratio, rounds  # noqa: E402  (benchmarks/ is on the path: the script's own folder)

import gradcheck as gc  # noqa: E402

RESULTS = REPO / "benchmarks" / "CE_RESULTS.md"
SIZES = [32, 64, 32, 8]


def nets(n_samples: int) -> dict[str, tuple[gc.DenseNet, np.ndarray, np.ndarray]]:
    """The MSE and CE nets with their data (seeded)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, SIZES[0]))
    mse = gc.DenseNet(SIZES, activation="sigmoid", seed=0)
    ce = gc.DenseNet(SIZES, activation=["relu", "relu", "softmax"], loss="cross_entropy", seed=0)
    return {"sigmoid/MSE": (mse, X, rng.uniform(0, 1, (n_samples, SIZES[-1]))),
            "relu,relu,softmax/CE": (ce, X, np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], n_samples)])}


def contenders(n_samples: int) -> dict[str, Callable[[], object]]:
    out: dict[str, Callable[[], object]] = {}
    for label, (net, X, y) in nets(n_samples).items():
        engines = ["structured", "generic"] if "CE" in label else ["structured"]
        for engine in engines:
            tag = f"{label}, {engine}"
            out[f"{tag}, default"] = lambda n=net, X=X, y=y, e=engine: gc.check_network(n, X, y, engine=e)
            out[f"{tag}, bare"] = lambda n=net, X=X, y=y, e=engine: gc.check_network(
                n, X, y, method="central", deltas=False, diagnostics=False, engine=e)
    return out


def ratio_text(times: dict[str, list[float]], a: str, b: str) -> str:
    """``min a / min b`` and the median of the per-round ratios, as text."""
    fastest, median = ratio(times, a, b)
    return f"{fastest:.2f}× / {median:.2f}×"


def main(argv: list[str] | None = None) -> int:
    args, out_path = arguments(__doc__, RESULTS, "1 round, N = 64 only", argv)
    n_rounds = 1 if args.quick else 3
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    results = {N: rounds(contenders(N), n_rounds) for N in ([64] if args.quick else [64, 256])}
    ce, mse = "relu,relu,softmax/CE", "sigmoid/MSE"
    lines = ["# Benchmark: cross-entropy on the structured engine", "",
             f"{measured('ce_check.py', args.quick, started, load_before)}; {n_rounds} round(s), contenders "
             f"alternating within each round.  Net {'-'.join(map(str, SIZES))}; ratios: fastest / median of "
             "per-round ratios.", "",
             "| N | check | time (fastest) | CE × MSE (structured) | generic (before) × structured |",
             "|---|---|---|---|---|"]
    for N, times in results.items():
        for kind in ("default", "bare"):
            for label in (f"{mse}, structured", f"{ce}, structured", f"{ce}, generic"):
                key = f"{label}, {kind}"
                vs_mse = ratio_text(times, key, f"{mse}, structured, {kind}") if label == f"{ce}, structured" else ""
                vs_before = ratio_text(times, key, f"{ce}, structured, {kind}") if label.endswith("generic") else ""
                lines.append(f"| {N} | {label}, {kind} | {min(times[key]):.3f} s | {vs_mse} | {vs_before} |")
    return publish(lines, out_path)


if __name__ == "__main__":
    sys.exit(main())

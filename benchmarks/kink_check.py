"""ReLU nets at large N: kink entries' sides and one-sided values formed from the pass at θ, against fresh passes.

    python benchmarks/kink_check.py [--quick] [--out FILE]

On the 32-64-32-8 net (relu, relu, sigmoid; MSE), the bare central check
``check_network(net, X, y, method="central", deltas=False, diagnostics=False)``
at N = 1,000 and 10,000 samples.  With many samples nearly every weight's
central stencil crosses a kink in some sample, so the kink engine decides and
measures hundreds of entries one-sided:

* ``formed``: today's path, the moved point formed from the pass at θ for the
  samples the move reaches (gradcheck/numerical/kink_sides.py);
* ``fresh passes``: the path before it, a whole forward pass over every sample
  for each side question and a whole loss call for each one-sided point
  (the same check with the formed path switched off);
* ``default``: the default ``check_network(net, X, y)`` for scale (its complex
  step meets a kink only within rounding of θ).

Contenders alternate within each round.  A full run (2 rounds) writes
benchmarks/KINK_RESULTS.md; ``--quick`` (1 round, N = 1,000 only) prints only and
refuses to overwrite that file.  Nothing here is a test: the suite never asserts a time.
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

from _common import arguments, measured, publish, ratio, rounds  # noqa: E402  (benchmarks/ is on the path)

import gradcheck as gc  # noqa: E402
import gradcheck.verify.kinks as verify_kinks  # noqa: E402

RESULTS = REPO / "benchmarks" / "KINK_RESULTS.md"
SIZES = [32, 64, 32, 8]


def _fresh(check: Callable[[], gc.NetworkReport]) -> Callable[[], gc.NetworkReport]:
    """``check`` with the formed path switched off: the kink engine's fresh passes and loss calls."""

    def run() -> gc.NetworkReport:
        formed = verify_kinks.MovedSides
        verify_kinks.MovedSides = lambda *args: None  # type: ignore[assignment,misc]
        try:
            return check()
        finally:
            verify_kinks.MovedSides = formed  # type: ignore[misc]

    return run


def contenders(n_samples: int) -> tuple[dict[str, Callable[[], object]], gc.NetworkReport]:
    """The three checks of the ReLU net on ``n_samples`` seeded samples, and one bare report."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n_samples, SIZES[0])), rng.random((n_samples, SIZES[-1]))
    net = gc.DenseNet(SIZES, activation=["relu", "relu", "sigmoid"], seed=0)

    def bare() -> gc.NetworkReport:
        return gc.check_network(net, X, y, method="central", deltas=False, diagnostics=False)

    return {"formed": bare, "fresh passes": _fresh(bare),
            "default": lambda: gc.check_network(net, X, y)}, bare()


def main(argv: list[str] | None = None) -> int:
    args, out_path = arguments(__doc__, RESULTS, "1 round, N = 1,000 only", argv)
    n_rounds = 1 if args.quick else 2
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    rows = []
    for N in [1000] if args.quick else [1000, 10000]:
        checks, report = contenders(N)
        times = rounds(checks, n_rounds)
        kinked = sum(g.kink_entries or 0 for g in report.groups)
        fastest, median = ratio(times, "fresh passes", "formed")
        rows.append(f"| {N:,} | {kinked:,} of {sum(g.n_entries for g in report.groups):,} | "
                    f"{min(times['formed']):.2f} s | {min(times['fresh passes']):.2f} s | "
                    f"{fastest:.2f}× / {median:.2f}× | "
                    f"{min(times['default']):.2f} s | {report.verdict} |")
    lines = ["# Benchmark: ReLU nets at large N, kink entries formed from the pass at θ", "",
             f"{measured('kink_check.py', args.quick, started, load_before)}; {n_rounds} round(s), contenders "
             f"alternating within each round.  Net {'-'.join(map(str, SIZES))} (relu, relu, sigmoid; MSE); "
             "the bare central check; ratios: fastest / median of per-round ratios.", "",
             "| N | entries at a kink | formed | fresh passes | fresh × formed | default check | verdict |",
             "|---|---|---|---|---|---|---|", *rows]
    return publish(lines, out_path)


if __name__ == "__main__":
    sys.exit(main())

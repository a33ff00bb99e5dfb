"""check_params(method="central")'s fixed cost on small nets, against the textbook loop, before and after a change.

Each tree (this checkout, and with ``--before DIR`` another gradcheck source tree, e.g. made by
``git archive <commit> gradcheck | tar -x -C DIR``) runs in its own subprocess with PYTHONPATH set
to it; the trees alternate within every round, and each subprocess times the check and the textbook
loop (two loss calls per entry, the loss closure of whole_check.py's ``own_loss``) alternately, so
every ratio comes from one process and the before/after ratios from one run.  "own time" is the
check's time with a loss that costs nothing (and zero gradients, which pass) minus the loop's with
that loss: what the check adds beyond its loss calls.  Prints only; writes no file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import textbook_loop  # benchmarks/ is on the path: the script's own folder

REPO = Path(__file__).resolve().parents[1]
NETS = [("3-4-4-1", 4, 40), ("32-64-32-8", 64, 1)]  # sizes, samples, checks per timing


def worker(sizes: list[int], n_samples: int, repeat: int, n_timings: int) -> dict[str, list[float]]:
    """Seconds per call of the check and the loop, real and free loss, ``n_timings`` times each, alternating."""
    import numpy as np

    import gradcheck as gc

    net = gc.DenseNet(sizes, seed=0)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((n_samples, sizes[0])), rng.random((n_samples, sizes[-1]))
    loss, grads = net.loss_closure(X, y), net.gradients(X, y)
    zero = {k: np.zeros_like(v) for k, v in net.params.items()}

    def free(p: dict) -> float:
        return 0.5

    def textbook(f=loss) -> None:
        textbook_loop(net.params, f)

    contenders = {"loop": textbook, "check": lambda: gc.check_params(loss, net.params, grads, method="central"),
                  "free loop": lambda: textbook(free),
                  "free check": lambda: gc.check_params(free, net.params, zero, method="central")}
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for f in contenders.values():
        f()
    for _ in range(n_timings):
        for k, f in contenders.items():
            start = time.perf_counter()
            for _ in range(repeat):
                f()
            times[k].append((time.perf_counter() - start) / repeat)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default=None, help="another gradcheck source tree (the parent of its gradcheck/)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (each runs every tree on every net)")
    parser.add_argument("--worker", nargs=3, type=int, metavar=("SAMPLES", "REPEAT", "TIMINGS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        sizes = [int(s) for s in args.sizes.split("-")]
        import gradcheck
        print(json.dumps({"module": gradcheck.__file__, **worker(sizes, *args.worker)}))
        return 0
    trees = {"after": str(REPO)} if args.before is None else {"before": args.before, "after": str(REPO)}
    runs: dict[tuple[str, str], list[dict[str, list[float]]]] = {(n, t): [] for n, _, _ in NETS for t in trees}
    for _ in range(args.rounds):
        for name, n_samples, repeat in NETS:
            for tree, path in trees.items():
                env = dict(os.environ, PYTHONPATH=path)
                out = subprocess.run([sys.executable, __file__, "--sizes", name, "--worker", str(n_samples),
                                      str(repeat), "5"], env=env, capture_output=True, text=True, check=True)
                result = json.loads(out.stdout)
                if not Path(result.pop("module")).resolve().is_relative_to(Path(path).resolve()):
                    raise SystemExit(f"the {tree} run imported gradcheck from outside {path}")
                runs[(name, tree)].append(result)
    print("| net | tree | loop | check | × the loop (fastest / median of per-timing ratios) | own time |")
    print("|---|---|---|---|---|---|")
    for (name, tree), rs in runs.items():
        loop = min(min(r["loop"]) for r in rs)
        check = min(min(r["check"]) for r in rs)
        ratios = [c / lp for r in rs for c, lp in zip(r["check"], r["loop"], strict=True)]
        own = min(min(r["free check"]) - min(r["free loop"]) for r in rs)
        print(f"| {name} | {tree} | {loop * 1e3:.2f} ms | {check * 1e3:.2f} ms | {check / loop:.2f} / "
              f"{statistics.median(ratios):.2f} | {own * 1e3:.2f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

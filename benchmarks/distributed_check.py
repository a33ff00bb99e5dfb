"""A full central check of millions of parameters, in this process and on a dask.distributed cluster.

    python benchmarks/distributed_check.py [--quick] [--out FILE]
                                           [--sizes 1600,3200,1600,10] [--samples 64]

The check is ``check_network(net, X, y, method="central", deltas=False,
diagnostics=False)``, run three ways, alternating: in this process (the
calling thread; BLAS threads as the machine sets them), and with
``executor=Client(cluster).get_executor()`` on a ``LocalCluster`` of 1 and of 2
worker processes (one thread each, one BLAS thread), timed on the cluster's
second check (the first, also given, includes the workers' imports); and the
default ``check_network(net, X, y)`` (auto, per-layer deltas, Taylor test and
step sweep) in this process.  Each runs in a fresh child process, whose
peak resident set (ru_maxrss) is recorded beside the time; the cluster's
worker processes are separate, so the driver's peak is what the caller holds.

The speed-up model: with w workers the time is T(w) = A + B/w, where B is the
chunks' work (shared among the workers) and A what stays serial (the forward
pass, Chebyshev sums and comparisons on the driver, scheduling).  A and B come
from the 1- and 2-worker times; the table extends the model to more workers,
which holds while the scheduler keeps up with the chunks (a few ms each).

A full run (3 rounds unless ``--rounds`` says otherwise, the 10-million-parameter net) writes
benchmarks/DISTRIBUTED_RESULTS.md; ``--quick`` (1 round, 512-1024-512-10)
prints only, and refuses to overwrite that file.  Nothing here is a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import publish  # benchmarks/ is on the path: the script's own folder

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "DISTRIBUTED_RESULTS.md"

CHILD = r"""
import json, resource, sys, time
import numpy as np
import gradcheck as gc

sizes, n, workers = json.loads(sys.argv[1])
net = gc.DenseNet(sizes, seed=0)
rng = np.random.default_rng(0)
X, y = rng.standard_normal((n, sizes[0])), rng.random((n, sizes[-1]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def check(executor=None):
    t = time.perf_counter()
    report = gc.check_network(net, X, y, method="central", deltas=False, diagnostics=False, executor=executor)
    return time.perf_counter() - t, report


cold = None
if workers == -1:  # the default check: auto, per-layer deltas, Taylor test and step sweep
    t = time.perf_counter()
    report = gc.check_network(net, X, y)
    seconds = time.perf_counter() - t
elif workers == 0:
    seconds, report = check()
else:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}) as cluster, \
            Client(cluster) as client:
        cold, _ = check(client.get_executor())  # the workers import gradcheck and get the network's first copy
        seconds, report = check(client.get_executor())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "cold": cold, "passed": report.passed, "peak": peak, "before": before,
                  "note": report.notes[0], "P": sum(p.size for p in net.params.values())}))
"""


def child(sizes: list[int], n: int, workers: int) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps([sizes, n, workers])], env=env,
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"child exited {out.returncode}: {out.stderr[-600:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round on a 1-million-parameter net; prints only")
    parser.add_argument("--out", default=None, help="Markdown file (default: DISTRIBUTED_RESULTS.md, full run)")
    parser.add_argument("--sizes", default=None, help="layer widths (default 1600,3200,1600,10)")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3; --quick: 1)")
    args = parser.parse_args(argv)
    if args.quick and args.out and Path(args.out).resolve() == RESULTS:
        parser.error("--quick never overwrites DISTRIBUTED_RESULTS.md (it holds a full run); give another --out")
    out_path = Path(args.out) if args.out else (None if args.quick else RESULTS)
    sizes = [int(s) for s in (args.sizes or ("512,1024,512,10" if args.quick else "1600,3200,1600,10")).split(",")]
    n_rounds = args.rounds or (1 if args.quick else 3)
    ways = {"in this process": 0, "LocalCluster, 1 worker": 1, "LocalCluster, 2 workers": 2,
            "in this process, the default check (auto, deltas, diagnostics)": -1}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    runs: dict[str, list[dict]] = {k: [] for k in ways}
    for _ in range(n_rounds):
        for label, w in ways.items():
            runs[label].append(child(sizes, args.samples, w))
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    P = runs["in this process"][0]["P"]
    t1, t2 = med["LocalCluster, 1 worker"], med["LocalCluster, 2 workers"]
    B = 2 * (t1 - t2)
    A = t1 - B
    lines = ["# Benchmark: a full central check of millions of parameters, in-process and on dask", "",
             f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by "
             f"`python benchmarks/distributed_check.py{' --quick' if args.quick else ''}` in "
             f"{time.perf_counter() - started:.0f} s on {os.cpu_count()} cores, load average {load_before:.2f} "
             f"before / {os.getloadavg()[0]:.2f} after; medians of {n_rounds} round(s), each run a fresh process.",
             "", f"Net {'-'.join(map(str, sizes))}, {args.samples} samples: {P:,} parameters; "
             "`check_network(net, X, y, method=\"central\", deltas=False, diagnostics=False)`, memory budget 256 MB.",
             "", "| where | time (median) | runs | first check on the cluster | driver's peak RSS | verdict | chunks |",
             "|---|---|---|---|---|---|---|"]
    for label, rs in runs.items():
        peak = max(r["peak"] for r in rs)
        chunks = rs[0]["note"].split(" chunks")[0].rsplit(" ", 1)[-1]
        each = ", ".join(f"{r['seconds']:.1f}" for r in rs)
        cold = ", ".join(f"{r['cold']:.1f} s" for r in rs if r["cold"] is not None) or "—"
        lines.append(f"| {label} | {med[label]:.1f} s | {each} s | {cold} | "
                     f"{peak / 2**20:,.0f} MB | {'passed' if all(r['passed'] for r in rs) else 'FAILED'} | "
                     f"{chunks} |")
    lines += ["", f"Speed-up of 2 workers over 1: {t1 / t2:.2f}×. Model T(w) = A + B/w from these two: "
              f"A = {A:.1f} s serial (driver and scheduling), B = {B:.1f} s of chunk work.", "",
              "| workers | 1 | 2 | 4 | 8 | 16 |", "|---|---|---|---|---|---|",
              "| modelled time | " + " | ".join(f"{A + B / w:.1f} s" for w in (1, 2, 4, 8, 16)) + " |", ""]
    return publish(lines, out_path)


if __name__ == "__main__":
    sys.exit(main())

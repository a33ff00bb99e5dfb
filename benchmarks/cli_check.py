"""Wall time of the README's first command, ``gradcheck check``, and where it goes.

    python benchmarks/cli_check.py [--quick] [--out FILE]

Each variant runs as a fresh ``python -m gradcheck check`` process (imports
included, as a person typing the command waits for them) on the two classic
XOR networks, alternating between variants so that a change of machine load
hits them alike; times are medians.  The variants: the default (text, md,
json and the HTML report with its figures), without the HTML, and printing
only (``--out -``); plus ``python -c "import gradcheck.interfaces.cli"``, the
import alone.  For comparison, in-process: the HTML page of both networks
as written now, and the matplotlib figures the page carried before (nine
PNGs: two sweeps, two Taylor plots, five heatmaps).

A full run (9 repeats) writes benchmarks/CLI_RESULTS.md; ``--quick`` (3
repeats) prints only, unless given an ``--out`` other than that file.
Nothing here is a test: the suite never asserts a time.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import arguments, publish  # benchmarks/ is on the path: the script's own folder

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "CLI_RESULTS.md"
TARGET = 1.0  # seconds: the default `gradcheck check`, HTML with figures included


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _wall(argv: list[str], cwd: str) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *argv], cwd=cwd, env=_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{argv} exited {result.returncode}: {result.stderr[-500:]}")
    return elapsed


def _in_process(repeats: int) -> dict[str, float]:
    """Median seconds of drawing both networks' HTML pages now, and of the matplotlib figures they used to carry."""
    sys.path.insert(0, str(REPO))
    import gradcheck as gc
    from gradcheck.report import plots

    X, y = gc.xor_data()
    reports = [gc.check_network(gc.DenseNet(s, bias=False, seed=0), X, y) for s in ([3, 4, 1], [3, 4, 4, 1])]
    out: dict[str, float] = {}
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for r in reports:
            r.to_html()
        times.append(time.perf_counter() - t)
    out["HTML pages of both networks, figures included (in-process)"] = statistics.median(times)
    if plots.plots_available():
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            for r in reports:
                assert r.sweep is not None and r.taylor is not None
                plots.sweep_figure(r.sweep)
                plots.taylor_figure(r.taylor)
                for name, (err, tol) in r.error_maps.items():
                    plots.heatmap_figure(name, err, tol)
            times.append(time.perf_counter() - t)
        out["the nine matplotlib PNGs the page used to carry (in-process, for comparison)"] = statistics.median(times)
    return out


def main(argv: list[str] | None = None) -> int:
    args, out_path = arguments(__doc__, RESULTS, "3 repeats instead of 9", argv)
    repeats = 3 if args.quick else 9
    variants = {
        "`gradcheck check` (default: text, md, json, html with figures)": ["-m", "gradcheck", "check"],
        "`gradcheck check --format text,md,json`": ["-m", "gradcheck", "check", "--format", "text,md,json"],
        "`gradcheck check --out -` (print only)": ["-m", "gradcheck", "check", "--out", "-"],
        "`import gradcheck.interfaces.cli` alone": ["-c", "import gradcheck.interfaces.cli"],
    }
    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {k: [] for k in variants}
    with tempfile.TemporaryDirectory() as cwd:
        _wall(variants[next(iter(variants))], cwd)  # warm the file cache and the bytecode
        for _ in range(repeats):
            for label, command in variants.items():
                times[label].append(_wall(command, cwd))
        written = sorted(p.name for p in (Path(cwd) / "reports").iterdir())
    medians = {k: statistics.median(v) for k, v in times.items()}
    inner = _in_process(repeats)
    load_after = os.getloadavg()[0]
    default = medians[next(iter(variants))]
    lines = ["# Benchmark: the first command, `gradcheck check`", "",
             f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by "
             f"`python benchmarks/cli_check.py{' --quick' if args.quick else ''}` on {os.cpu_count()} cores, "
             f"load average {load_before:.2f} before / {load_after:.2f} after; medians of {repeats} runs, each a "
             "fresh process (imports included), variants alternating.", "",
             "| what | wall time (median) | range | × the default |", "|---|---|---|---|"]
    for label, value in medians.items():
        lines.append(f"| {label} | {value:.3f} s | {min(times[label]):.3f}–{max(times[label]):.3f} s | "
                     f"{value / default:.2f} |")
    for label, value in inner.items():
        lines.append(f"| {label} | {value:.3f} s | — | {value / default:.2f} |")
    lines += ["", f"Target: the default command at most {TARGET:.1f} s: "
              f"{'holds' if default <= TARGET else 'does not hold'} ({default:.3f} s). "
              f"Folders after {repeats + 1} runs of each variant: {', '.join(written)} (a rerun replaces its own "
              "report).", ""]
    return publish(lines, out_path)


if __name__ == "__main__":
    sys.exit(main())

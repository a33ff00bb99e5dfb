"""What the benchmark scripts share: the textbook loop they time against, and writing a results document."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def publish(lines: list[str], out_path: Path | None) -> int:
    """Print the document ``lines`` form and write it to ``out_path`` unless that is None; the exit code 0.

    A quick run passes None: it never overwrites the committed results.
    """
    document = "\n".join(lines)
    print(document)
    if out_path is not None:
        out_path.write_text(document, encoding="utf-8")
        print(f"wrote {out_path}")
    return 0


def textbook_loop(params: dict[str, Any], loss: Callable[[dict[str, Any]], float]) -> None:
    """The textbook central-difference loop: two loss calls per entry, on a copy of ``params``.

    The step is ε^(1/3)·max(1, |θ_i|); the differences are formed and dropped, as a loop that
    only times its work would.
    """
    work = {k: v.copy() for k, v in params.items()}
    for k in work:
        flat = work[k].reshape(-1)
        for i in range(flat.size):
            x = flat[i]
            h = 6.0554544523933395e-06 * max(1.0, abs(x))  # ε^(1/3)
            flat[i] = x + h
            up = loss(work)
            flat[i] = x - h
            down = loss(work)
            flat[i] = x
            (up - down) / (2 * h)


def rounds(contenders: dict[str, Callable[[], object]], n: int) -> dict[str, list[float]]:
    """Seconds of every contender in each of ``n`` rounds, contenders alternating within a round."""
    for f in contenders.values():
        f()  # warm: imports, caches, first allocations
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(n):
        for k, f in contenders.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return times


def ratio(times: dict[str, list[float]], a: str, b: str) -> tuple[float, float]:
    """(min a / min b, median over rounds of a / b)."""
    return min(times[a]) / min(times[b]), statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))


def arguments(doc: str, results: Path, quick: str, argv: list[str] | None) -> tuple[argparse.Namespace, Path | None]:
    """The scripts' ``--quick`` and ``--out`` options: (options, where the document goes; None: print only).

    ``quick`` says what a quick run does.  A quick run never overwrites ``results``, which holds a full run.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{quick}; prints only")
    parser.add_argument("--out", default=None, help=f"Markdown file (default: {results.name} for a full run)")
    args = parser.parse_args(argv)
    if args.quick and args.out and Path(args.out).resolve() == results:
        parser.error(f"--quick never overwrites {results.name} (it holds a full run); give another --out")
    return args, Path(args.out) if args.out else (None if args.quick else results)


def measured(script: str, quick: bool, started: float, load_before: float) -> str:
    """The results' first sentence: when, by which command, how long, on how many cores, under what load."""
    return (f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by "
            f"`python benchmarks/{script}{' --quick' if quick else ''}` in {time.perf_counter() - started:.0f} s "
            f"on {os.cpu_count()} cores, load average {load_before:.2f} before / {os.getloadavg()[0]:.2f} after")

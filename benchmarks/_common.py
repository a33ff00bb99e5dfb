"""What the benchmark scripts share: the textbook loop they time against, and writing a results document."""

from __future__ import annotations

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

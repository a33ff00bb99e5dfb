"""The whole default verification against the bare check, in one run: where the time goes.

    python benchmarks/whole_check.py [--quick] [--out FILE]

On the 128-256-128-10 net with 128 samples (67,210 parameters), in rounds that
alternate between contenders (so that a change of machine load hits them
alike):

* the bare check, ``check_network(net, X, y, method="central", deltas=False, diagnostics=False)``;
* the default ``check_network(net, X, y)`` (auto, per-layer deltas, Taylor test and step sweep);
* the same without the diagnostics;
* the diagnostics alone (Taylor test and step sweep of every group) through the
  network's stacked passes, and through one loss call per step (as before);
* the CLI on that net (``gradcheck check --layers 128,256,128,10 --data random
  --samples 128``, every format), as a fresh process.

Ratios are given two ways: the ratio of the fastest runs, and the median of
the per-round ratios.  Then the per-parameter cost of a 12 × 64 net against a
3-layer net of about the same P, the sigmoid's forms on a (2560, 256)
array (scipy's expit and the boolean-mask complex form it replaced are
comparators kept here, not in the package), and ``check_params`` on the
32-64-32-8 net's loss, plain and ``vectorized=True`` (with the loss of
examples/vectorized_loss.py), against the textbook loop.

A full run (7 rounds) writes benchmarks/WHOLE_RESULTS.md; ``--quick`` (2
rounds, no CLI) prints only, and refuses to overwrite that file.  Nothing
here is a test: the suite never asserts a time.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _common import arguments, measured, publish, ratio, rounds, textbook_loop  # noqa: E402  (benchmarks/ is on the path: the script's own folder)

import gradcheck as gc  # noqa: E402
from gradcheck.model import activations  # noqa: E402
from gradcheck.numerical.directions import NetworkDirections  # noqa: E402
from gradcheck.verify.convergence import step_sweep, taylor_test  # noqa: E402

RESULTS = REPO / "benchmarks" / "WHOLE_RESULTS.md"


def cli_command() -> list[str]:
    return ["-m", "gradcheck", "check", "--layers", "128,256,128,10", "--data", "random", "--samples", "128",
            "--replace", "--name", "bench"]


def run_cli(cwd: str) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    result = subprocess.run([sys.executable, *cli_command()], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the CLI exited {result.returncode}: {result.stderr[-400:]}")


def main_net(n_rounds: int, with_cli: bool) -> tuple[dict[str, list[float]], int]:
    net = gc.DenseNet([128, 256, 128, 10], seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((128, 128)), rng.random((128, 10))
    loss, grads = net.loss_closure(X, y), net.gradients(X, y)

    def stacked() -> None:
        along = NetworkDirections(net, X, y, 256 * 2**20)
        taylor_test(loss, net.params, grads, along=along)
        step_sweep(loss, net.params, grads, along=along)

    contenders: dict[str, Callable[[], object]] = {
        "bare": lambda: gc.check_network(net, X, y, method="central", deltas=False, diagnostics=False),
        "default": lambda: gc.check_network(net, X, y),
        "no diagnostics": lambda: gc.check_network(net, X, y, diagnostics=False),
        "diagnostics, stacked passes": stacked,
        "diagnostics, loss calls": lambda: (taylor_test(loss, net.params, grads),
                                            step_sweep(loss, net.params, grads)),
    }
    tmp = tempfile.TemporaryDirectory()
    if with_cli:
        contenders["CLI, every format"] = lambda: run_cli(tmp.name)
    try:
        return rounds(contenders, n_rounds), sum(p.size for p in net.params.values())
    finally:
        tmp.cleanup()


def deep_nets(n_rounds: int) -> list[tuple[str, int, float, float]]:
    rng = np.random.default_rng(1)
    nets = {"12 × 64 (13 widths of 64)": gc.DenseNet([64] * 13, seed=0),
            "128-192-128-10": gc.DenseNet([128, 192, 128, 10], seed=0)}
    contenders: dict[str, Callable[[], object]] = {}
    for label, net in nets.items():
        X, y = rng.standard_normal((64, net.sizes[0])), rng.random((64, net.sizes[-1]))
        contenders[label + " bare"] = (lambda n=net, X=X, y=y:
                                       gc.check_network(n, X, y, method="central", deltas=False, diagnostics=False))
        contenders[label + " default"] = lambda n=net, X=X, y=y: gc.check_network(n, X, y)
    times = rounds(contenders, n_rounds)
    return [(label, sum(p.size for p in net.params.values()), min(times[label + " bare"]),
             min(times[label + " default"])) for label, net in nets.items()]


def own_loss(n_rounds: int, sizes: tuple[int, ...] = (32, 64, 32, 8), n_samples: int = 64,
             repeat: int = 1) -> tuple[dict[str, list[float]], int]:
    """check_params central on a DenseNet's loss closure, plain and vectorized, against the textbook loop.

    Each contender runs ``repeat`` times per timing (a check of a few milliseconds is timed as many).
    """
    net = gc.DenseNet(list(sizes), seed=0)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((n_samples, sizes[0])), rng.random((n_samples, sizes[-1]))
    loss, grads = net.loss_closure(X, y), net.gradients(X, y)

    def textbook() -> None:
        textbook_loop(net.params, loss)

    stacked = vectorized_example().stacked_loss(X, y, net.n_layers)

    contenders: dict[str, Callable[[], object]] = {
        LOOP: textbook,
        PLAIN: lambda: gc.check_params(loss, net.params, grads, method="central"),
        VECTORIZED: lambda: gc.check_params(stacked, net.params, grads, method="central", vectorized=True),
    }
    repeated = {k: (lambda f=f: [f() for _ in range(repeat)]) for k, f in contenders.items()}
    return rounds(repeated, n_rounds), sum(p.size for p in net.params.values())


LOOP = "textbook loop (two forward passes per entry)"
PLAIN = "check_params(method=\"central\")"
VECTORIZED = "check_params(method=\"central\", vectorized=True)"


def vectorized_peak() -> float:
    """tracemalloc's peak (bytes) of the vectorized check of the 32-64-32-8 net's loss (its stacked copies
    and the loss's arrays), for the target's "within the memory budget"."""
    net = gc.DenseNet([32, 64, 32, 8], seed=0)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((64, 32)), rng.random((64, 8))
    stacked = vectorized_example().stacked_loss(X, y, net.n_layers)
    grads = net.gradients(X, y)
    tracemalloc.start()
    try:
        gc.check_params(stacked, net.params, grads, method="central", vectorized=True)
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def issue16_targets(times: dict[str, list[float]], deep: list[tuple[str, int, float, float]],
                    own: dict[str, list[float]], tiny: dict[str, list[float]], peak: float) -> list[str]:
    """The table "Targets (issue 16)": goal, measured (fastest / median of per-round ratios), holds.

    A ratio holds when both figures meet it; an absolute time when the fastest run does (the median of a
    shared machine measures its load).
    """
    out = ["## Targets (issue 16)", "", "| target | goal | measured (fastest / median) | holds |", "|---|---|---|---|"]

    def row(what: str, goal: str, pair: tuple[float, float], ok: Callable[[float], bool], unit: str = "×",
            fastest_only: bool = False) -> None:
        holds = ok(pair[0]) and (fastest_only or ok(pair[1]))
        out.append(f"| {what} | {goal} | {pair[0]:.2f}{unit} / {pair[1]:.2f}{unit} | {'yes' if holds else 'no'} |")

    row("default `check_network` on the 67k net, × the bare check", "≤ 2×", ratio(times, "default", "bare"),
        lambda v: v <= 2)
    if "CLI, every format" in times:
        row("CLI on that net (every format), × the bare check", "≤ 8×", ratio(times, "CLI, every format", "bare"),
            lambda v: v <= 8)
    row("bare central check on that net", "≤ 0.2 s", (min(times["bare"]), statistics.median(times["bare"])),
        lambda v: v <= 0.2, " s", fastest_only=True)
    (_, p1, b1, _), (_, p2, b2, _) = deep
    per = (b1 / p1) / (b2 / p2)
    row("12 × 64 net, bare check's cost per parameter × a 3-layer net's of the same P", "≤ 3×", (per, per),
        lambda v: v <= 3)
    row("`check_params(method=\"central\")` × the textbook loop (same loss), 3-4-4-1", "≤ 1.05×",
        ratio(tiny, PLAIN, LOOP), lambda v: v <= 1.05)
    row("`check_params(method=\"central\")` × the textbook loop (same loss), 32-64-32-8", "≤ 1.05×",
        ratio(own, PLAIN, LOOP), lambda v: v <= 1.05)
    row("`vectorized=True`: the plain loop's time ÷ its own, 32-64-32-8", "≥ 2×", ratio(own, PLAIN, VECTORIZED),
        lambda v: v >= 2)
    mb = peak / 2**20
    row("the vectorized check's peak extra memory (tracemalloc), within the 256 MB budget", "≤ 256 MB", (mb, mb),
        lambda v: v <= 256, " MB")
    return out + [""]


def vectorized_example() -> ModuleType:
    """examples/vectorized_loss.py: the README's pattern of a loss for ``vectorized=True``."""
    spec = importlib.util.spec_from_file_location("_vectorized_loss", REPO / "examples" / "vectorized_loss.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _masked_complex_sigmoid(z: np.ndarray) -> np.ndarray:
    """The complex sigmoid as it was: boolean masks and numpy's complex exp."""
    out = np.empty_like(z)
    pos = z.real >= 0
    e = np.exp(-z[pos])
    out[pos] = 1.0 / (1.0 + e)
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def sigmoid_forms(n_rounds: int) -> dict[str, float]:
    from scipy.special import expit

    rng = np.random.default_rng(2)
    x = 3 * rng.standard_normal((2560, 256))
    tiny = x + 1j * 1e-20 * rng.standard_normal(x.shape)
    small = x + 1j * 1e-3 * rng.standard_normal(x.shape)
    contenders: dict[str, Callable[[], object]] = {
        "real: scipy.special.expit (before)": lambda: expit(x),
        "real: 1/(1 + e^(−z)), blockwise (now)": lambda: activations.sigmoid.value(x),
        "complex step (Im ~ 1e-20): masks and complex exp (before)": lambda: _masked_complex_sigmoid(tiny),
        "complex step (Im ~ 1e-20): real arithmetic (now)": lambda: activations.sigmoid.value(tiny),
        "sweep step (Im ~ 1e-3): masks and complex exp (before)": lambda: _masked_complex_sigmoid(small),
        "sweep step (Im ~ 1e-3): real arithmetic, series (now)": lambda: activations.sigmoid.value(small),
    }
    return {k: min(v) for k, v in rounds(contenders, 5 * n_rounds).items()}


def main(argv: list[str] | None = None) -> int:
    args, out_path = arguments(__doc__, RESULTS, "2 rounds, no CLI", argv)
    n = 2 if args.quick else 7
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    times, P = main_net(n, with_cli=not args.quick)
    deep = deep_nets(max(1, n // 2))
    own, own_P = own_loss(max(1, n // 2))
    tiny, _ = own_loss(n, (3, 4, 4, 1), 4, repeat=50)
    peak = vectorized_peak()
    forms = sigmoid_forms(n)
    lines = ["# Benchmark: the whole default verification against the bare check", "",
             f"{measured('whole_check.py', args.quick, started, load_before)}; {n} rounds, contenders "
             "alternating within each round.", "",
             f"## 128-256-128-10 net, 128 samples ({P:,} parameters)", "",
             "| what | fastest | median | × bare (fastest / median of per-round ratios) |", "|---|---|---|---|"]
    for k, v in times.items():
        a, b = ratio(times, k, "bare")
        lines.append(f"| {k} | {min(v):.3f} s | {statistics.median(v):.3f} s | {a:.2f} / {b:.2f} |")
    d_new, d_old = ratio(times, "diagnostics, loss calls", "diagnostics, stacked passes")
    lines += ["", *issue16_targets(times, deep, own, tiny, peak)]
    lines += [f"The diagnostics through stacked passes are {d_new:.1f}× (fastest) / {d_old:.1f}× (median) faster "
              "than through loss calls.", "", "## Deep against shallow, per parameter (64 samples)", "",
              "| net | P | bare | default | bare per parameter | default per parameter |", "|---|---|---|---|---|---|"]
    for label, p, bare, default in deep:
        lines.append(f"| {label} | {p:,} | {bare:.3f} s | {default:.3f} s | {bare / p * 1e6:.2f} µs | "
                     f"{default / p * 1e6:.2f} µs |")
    (_, p1, b1, f1), (_, p2, b2, f2) = deep
    lines += ["", f"Per parameter the deep net costs {(b1 / p1) / (b2 / p2):.1f}× (bare) and "
              f"{(f1 / p1) / (f2 / p2):.1f}× "
              "(default) the shallow one's (target ≤ 3×).", "", "## The sigmoid, (2560, 256) array", "",
              "| form | fastest |", "|---|---|"]
    lines += [f"| {k} | {v * 1e3:.2f} ms |" for k, v in forms.items()]
    loop = LOOP
    lines += ["", f"## Your own loss: check_params on the 32-64-32-8 net's loss closure ({own_P:,} parameters, "
              "64 samples)", "", "| what | fastest | × the textbook loop (fastest / median of per-round ratios) |",
              "|---|---|---|"]
    for k, v in own.items():
        a, b = ratio(own, k, loop)
        lines.append(f"| {k} | {min(v):.3f} s | {a:.2f} / {b:.2f} |")
    lines.append("")
    return publish(lines, out_path)


if __name__ == "__main__":
    sys.exit(main())

"""Time a full gradient check of dense sigmoid networks: gradcheck against its peers.

    python benchmarks/run.py [--quick] [--out FILE]

A full run writes benchmarks/RESULTS.md; ``--quick`` (fewer repeats, slow
peers skipped) prints its tables and writes only to an ``--out`` other than
RESULTS.md, so the committed results always come from a full run.

Every contender differentiates the same loss, ½Σ(a_L − y)² of a sigmoid
network with biases, at the same parameters and data, in float64:

* gradcheck ``check_network(net, X, y, method="central", deltas=False,
  diagnostics=False)`` (the structured engine), its complex step and ``auto``,
  and ``check_params`` on the loss closure (the generic engine);
* the textbook loop written below (two full forward passes per parameter);
* ``scipy.optimize.approx_fprime`` and ``check_grad``, ``scipy.differentiate.jacobian``;
* ``numdifftools.Gradient``;
* ``torch.autograd.gradcheck`` (full and ``fast_mode``) and ``jax.test_util.check_grads``,
  each in a child process (so that its peak memory can be read), when installed.

The targets of issue 16 (the whole default check against the bare one, the
CLI, a deep net per parameter, ``check_params`` against the textbook loop on
the same loss, ``vectorized=True``) are measured with benchmarks/whole_check.py's
contenders, alternating within rounds, and tabled as "Targets (issue 16)".

Times are medians over repeats measured in this run, ratios are to gradcheck's
structured central-difference check of the same network in the same run.
Peers too slow to run on every entry in a reasonable time are timed on a
random subset of at least ``MIN_SCALED`` entries and their time is scaled to
all entries; the table says so, and no target is judged on a scaled time.  A
peer that cannot even cover that many entries within its budget is reported
as not measured rather than extrapolated from a handful.  Accuracy is
max_i |n_i − g_i| / max_i |g_i| against the analytic gradient g.  Peak
extra memory is tracemalloc's peak for numpy code and the growth of the peak
resident set size (VmHWM, reset before the call) for torch and jax.  Nothing
here is a test: the suite never asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy
import scipy.differentiate
import scipy.optimize
from scipy.special import expit

import gradcheck as gc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import whole_check  # noqa: E402  (the whole default check's measurements, shared with benchmarks/whole_check.py)

CASES = [("3-4-4-1", [3, 4, 4, 1], 4), ("32-64-32-8", [32, 64, 32, 8], 64),
         ("128-256-128-10", [128, 256, 128, 10], 128)]
DIRECTIONAL_SIZES = [1024, 768, 256, 10]  # 986,634 parameters
#: Fewest entries a per-entry peer is timed on before its time is scaled to every entry.
MIN_SCALED = 256
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


# -- the problem ---------------------------------------------------------------


@dataclass
class Problem:
    name: str
    net: gc.DenseNet
    X: np.ndarray
    y: np.ndarray
    theta: np.ndarray = field(init=False)
    grad: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.shapes = [(k, v.shape) for k, v in self.net.params.items()]
        self.theta = np.concatenate([v.ravel() for v in self.net.params.values()])
        g = self.net.gradients(self.X, self.y)
        self.grad = np.concatenate([g[k].ravel() for k, _ in self.shapes])

    @property
    def size(self) -> int:
        return self.theta.size

    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        out, start = {}, 0
        for k, shape in self.shapes:
            n = int(np.prod(shape))
            out[k] = theta[start:start + n].reshape(shape)
            start += n
        return out

    def flat_loss(self, theta: np.ndarray) -> float:
        """The loss of a flat parameter vector, written out in plain numpy."""
        p, a = self.unpack(theta), self.X
        for l in range(1, self.net.n_layers + 1):
            a = expit(a @ p[f"W{l}"] + p[f"b{l}"])
        return 0.5 * float(np.sum((a - self.y) ** 2))

    def flat_grad(self, theta: np.ndarray) -> np.ndarray:
        g = gc.DenseNet.from_params(self.unpack(theta)).gradients(self.X, self.y)
        return np.concatenate([g[k].ravel() for k, _ in self.shapes])

    def accuracy(self, numerical: np.ndarray, subset: np.ndarray | None = None) -> float:
        g = self.grad if subset is None else self.grad[subset]
        return float(np.max(np.abs(numerical - g)) / np.max(np.abs(self.grad)))


def problem(name: str, sizes: list[int], n: int) -> Problem:
    rng = np.random.default_rng(0)
    net = gc.DenseNet(sizes, seed=0)
    return Problem(name, net, rng.standard_normal((n, sizes[0])), rng.uniform(0, 1, (n, sizes[-1])))


def textbook(pb: Problem, entries: np.ndarray) -> np.ndarray:
    """Central differences, two full forward passes per parameter."""
    theta = pb.theta.copy()
    out = np.empty(len(entries))
    for k, i in enumerate(entries):
        x = theta[i]
        h = 6.0554544523933395e-06 * max(1.0, abs(x))  # ε^(1/3)
        theta[i] = x + h
        up = pb.flat_loss(theta)
        theta[i] = x - h
        down = pb.flat_loss(theta)
        theta[i] = x
        out[k] = (up - down) / (2 * h)
    return out


def restricted(pb: Problem, entries: np.ndarray) -> Callable[[np.ndarray], float]:
    """The loss as a function of the entries ``entries`` only (for peers timed on a subset)."""
    theta = pb.theta.copy()

    def f(s: np.ndarray) -> float:
        theta[entries] = s
        return pb.flat_loss(theta)

    return f


# -- measuring -----------------------------------------------------------------


@dataclass
class Row:
    contender: str
    seconds: float
    repeats: int
    accuracy: float | None = None
    memory: float | None = None  # bytes
    memory_kind: str = "tracemalloc"
    note: str = ""
    scaled_from: int | None = None  # entries actually measured, when the time was scaled to all
    calls: int | None = None  # loss calls of one run, where the contender reports them


#: Fast calls are repeated until they have run this long in total (or
#: MAX_RUNS times): a median of 5 runs of a few milliseconds moves with the load.
MIN_TOTAL_SECONDS, MAX_RUNS = 1.0, 200


def timed(fn: Callable[[], Any], repeats: int, warmup: bool = False) -> tuple[float, Any, int]:
    """Median time of at least ``repeats`` runs of ``fn``, its last result, and the number of runs."""
    if warmup:
        fn()
    times, out = [], None
    while len(times) < repeats or (sum(times) < MIN_TOTAL_SECONDS and len(times) < MAX_RUNS):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out, len(times)


def traced_peak(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        fn()
        return float(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()


def subset_of(pb: Problem, k: int, seed: int = 1) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(pb.size, size=min(k, pb.size), replace=False))


def loop_peer(pb: Problem, name: str, run: Callable[[np.ndarray], np.ndarray], budget: float,
              repeats: int, note: str = "", full: bool = True) -> Row:
    """A peer that costs the same per entry: on every entry, or on a subset scaled to all."""
    probe = subset_of(pb, 16)
    t_probe = timed(lambda: run(probe), 1)[0]
    per_entry = t_probe / len(probe)
    if full and per_entry * pb.size <= budget:
        entries = np.arange(pb.size)
    else:
        k = int(budget / 4 / max(per_entry, 1e-9))
        if k < MIN_SCALED:
            # A handful of entries says little about all of them (their cost is not uniform in practice).
            return Row(name, float("nan"), 0, note=f"not measured: {per_entry * pb.size:,.0f} s estimated on every "
                                                   f"entry, and {k} entries in the budget are too few to scale from")
        entries = subset_of(pb, k)
    reps = repeats if per_entry * len(entries) < 2.0 else 1
    seconds, values, reps = timed(lambda: run(entries), reps)
    memory = traced_peak(lambda: run(entries[: min(len(entries), 64)]))
    scaled = None
    if len(entries) < pb.size:
        seconds, scaled = seconds * pb.size / len(entries), len(entries)
    acc = pb.accuracy(values, None if scaled is None else entries) if values is not None else None
    return Row(name, seconds, reps, acc, memory, note=note, scaled_from=scaled)


def child(target: Callable, *args: Any, timeout: float = 3600) -> dict[str, Any] | None:
    """Run ``target(queue, *args)`` in a fresh process; its dict result or None."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(queue,) + args)
    proc.start()
    try:
        return queue.get(timeout=timeout)
    except Exception:
        return None
    finally:
        proc.join(5)
        if proc.is_alive():
            proc.kill()


def _proc_status(key: str) -> float:
    with open("/proc/self/status") as fh:
        return next(float(line.split()[1]) * 1024 for line in fh if line.startswith(key + ":"))


def _reset_peak_rss() -> float:
    """Reset the peak resident set to the current one (Linux) and return the current one, in bytes.

    getrusage's ru_maxrss would not do: a child inherits its parent's maximum.
    """
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _proc_status("VmRSS")


def _peak_rss() -> float:
    return _proc_status("VmHWM")


def _torch_child(queue: Any, sizes: list[int], X: np.ndarray, y: np.ndarray, params: dict, fast: bool,
                 repeats: int) -> None:
    try:
        import torch

        torch.set_default_dtype(torch.float64)
        tparams = [torch.tensor(params[k], requires_grad=True) for k in params]
        tX, ty = torch.tensor(X), torch.tensor(y)

        def loss(*ps):
            a = tX
            for l in range(len(ps) // 2):
                a = torch.sigmoid(a @ ps[2 * l] + ps[2 * l + 1])
            return 0.5 * torch.sum((a - ty) ** 2)

        before = _reset_peak_rss()
        times, ok = [], None
        for _ in range(repeats):
            t = time.perf_counter()
            ok = torch.autograd.gradcheck(loss, tparams, fast_mode=fast, raise_exception=False)
            times.append(time.perf_counter() - t)
        queue.put({"seconds": statistics.median(times), "repeats": repeats, "passed": bool(ok),
                   "memory": max(0.0, _peak_rss() - before), "version": torch.__version__,
                   "threads": torch.get_num_threads()})
    except Exception as exc:  # reported as a skipped row
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def _jax_child(queue: Any, X: np.ndarray, y: np.ndarray, params: dict, repeats: int) -> None:
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        from jax.test_util import check_grads

        jX, jy = jnp.asarray(X), jnp.asarray(y)
        ps = [jnp.asarray(params[k]) for k in params]

        def loss(ps):
            a = jX
            for l in range(len(ps) // 2):
                a = jax.nn.sigmoid(a @ ps[2 * l] + ps[2 * l + 1])
            return 0.5 * jnp.sum((a - jy) ** 2)

        check_grads(loss, (ps,), order=1, modes=("rev",))  # compile outside the timing
        before = _reset_peak_rss()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            check_grads(loss, (ps,), order=1, modes=("rev",))
            times.append(time.perf_counter() - t)
        queue.put({"seconds": statistics.median(times), "repeats": repeats, "passed": True,
                   "memory": max(0.0, _peak_rss() - before), "version": jax.__version__})
    except AssertionError as exc:
        queue.put({"error": f"check_grads failed: {str(exc)[:200]}"})
    except Exception as exc:
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


# -- the contenders --------------------------------------------------------------


def gradcheck_rows(pb: Problem, repeats: int) -> list[Row]:
    rows = []
    net, X, y = pb.net, pb.X, pb.y

    def network(method: str, **kw: Any) -> Callable[[], gc.CheckReport]:
        return lambda: gc.check_network(net, X, y, method=method, deltas=False, diagnostics=False, **kw)

    def flat_numerical(report: gc.CheckReport) -> np.ndarray:
        return np.concatenate([g.numerical.ravel() for g in report.groups])

    for label, fn in [("gradcheck check_network central (structured)", network("central")),
                      ("gradcheck check_network complex (structured)", network("complex")),
                      ("gradcheck check_network auto (structured)", network("auto"))]:
        seconds, report, runs = timed(fn, repeats, warmup=True)
        assert report.passed, f"{label} failed on a correct network:\n{report}"
        note = f"{report.n_evaluations} loss calls; " + next(n for n in report.notes if n.startswith("structured"))
        rows.append(Row(label, seconds, runs, pb.accuracy(flat_numerical(report)), traced_peak(fn), note=note))
    workers = os.cpu_count() or 1
    with ThreadPoolExecutor(workers) as pool:
        seconds, _, runs = timed(network("central", executor=pool), repeats, warmup=True)
    rows.append(Row(f"gradcheck structured central on {workers} threads", seconds, runs,
                    note=f"executor=ThreadPoolExecutor({workers}); the default runs chunks in the calling thread"))
    return rows


def generic_row(pb: Problem, repeats: int, budget: float) -> Row | None:
    loss = pb.net.loss_closure(pb.X, pb.y)
    grads = pb.net.gradients(pb.X, pb.y)
    t_call = timed(lambda: loss(pb.net.params), 20, warmup=True)[0]
    if 4 * pb.size * t_call > budget:
        return None
    reps = repeats if 2 * pb.size * t_call < 2.0 else 1
    seconds, report, reps = timed(lambda: gc.check_params(loss, pb.net.params, grads, method="central"), reps,
                                  warmup=reps > 1)
    numerical = np.concatenate([g.numerical.ravel() for g in report.groups])
    completed = next(n for n in report.notes if n.startswith("central differences: f(θ ± 2h)"))
    completed = completed.split("for the ")[1].split(" ")[0]
    return Row("gradcheck check_params central (generic engine)", seconds, reps, pb.accuracy(numerical),
               traced_peak(lambda: gc.check_params(loss, pb.net.params, grads, method="central")) if pb.size < 5000
               else None, note=f"{report.n_evaluations} loss calls (2 per entry, 2 more for each of the {completed} "
                               "entries round-off alone could not clear, 1 for f(θ), "
                               "8 for the noise level if any entry needed it)",
               calls=report.n_evaluations)


def peer_rows(pb: Problem, repeats: int, budget: float, slow_budget: float, quick: bool) -> list[Row]:
    rows = [loop_peer(pb, "textbook loop (2 forward passes per entry)", lambda e: textbook(pb, e), budget, repeats)]

    def fprime(entries: np.ndarray) -> np.ndarray:
        return scipy.optimize.approx_fprime(pb.theta[entries], restricted(pb, entries))

    rows.append(loop_peer(pb, "scipy.optimize.approx_fprime", fprime, budget, repeats,
                          note="forward differences, P + 1 calls"))
    checked = []

    def check_grad(entries: np.ndarray) -> None:
        f = restricted(pb, entries)
        checked.append(scipy.optimize.check_grad(f, lambda s: pb.grad[entries], pb.theta[entries]))

    rows.append(loop_peer(pb, "scipy.optimize.check_grad", check_grad, budget, repeats,
                          note="forward differences; returns only ‖g − n‖₂"))
    rows[-1].accuracy = None

    def differentiate(entries: np.ndarray) -> np.ndarray:
        f = restricted(pb, entries)

        def vectorized(s: np.ndarray) -> np.ndarray:
            flat = s.reshape(s.shape[0], -1)
            return np.array([f(flat[:, c]) for c in range(flat.shape[1])]).reshape(s.shape[1:])

        return scipy.differentiate.jacobian(vectorized, pb.theta[entries]).df

    rows.append(loop_peer(pb, "scipy.differentiate.jacobian", differentiate, slow_budget, repeats,
                          note="adaptive order-8 differences", full=not quick))
    try:
        import numdifftools as nd

        rows.append(loop_peer(pb, f"numdifftools.Gradient ({nd.__version__})",
                              lambda e: nd.Gradient(restricted(pb, e))(pb.theta[e]), slow_budget, repeats,
                              note="central differences with Richardson extrapolation", full=not quick))
    except ImportError:
        rows.append(Row("numdifftools.Gradient", float("nan"), 0, note="not installed"))
    params = {k: np.ascontiguousarray(v) for k, v in pb.net.params.items()}
    for fast in (False, True):
        label = f"torch.autograd.gradcheck ({'fast_mode' if fast else 'full'})"
        if not fast and quick and pb.size > 10_000:
            rows.append(Row(label, float("nan"), 0, note="skipped in --quick"))
            continue
        reps = repeats if (fast or pb.size < 5000) else 1
        res = child(_torch_child, pb.net.sizes, pb.X, pb.y, params, fast, reps)
        rows.append(_child_row(label, res, "torch"))
    res = child(_jax_child, pb.X, pb.y, params, repeats)
    rows.append(_child_row("jax.test_util.check_grads (rev, order 1)", res, "jax"))
    return rows


def _child_row(label: str, res: dict | None, lib: str) -> Row:
    if res is None or "error" in res:
        reason = "not installed" if res and "ModuleNotFoundError" in res.get("error", "") else \
            (res or {}).get("error", "no result")
        return Row(label, float("nan"), 0, note=reason)
    note = f"{lib} {res['version']}; verdict {'passed' if res['passed'] else 'FAILED'}"
    if lib == "torch":
        note += f"; {res['threads']} intra-op threads" + ("; random projections" if "fast" in label else
                                                             "; full numerical Jacobian")
    else:
        note += "; random directional derivatives, not every entry"
    return Row(label, res["seconds"], res["repeats"], None, res["memory"], "peak RSS growth", note)


# -- the report ----------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"CPU": cpu, "cores": str(os.cpu_count()), "Python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__, "gradcheck": gc.__version__,
            "platform": platform.platform()}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["BLAS"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        pass
    info["OPENBLAS_NUM_THREADS"] = os.environ.get("OPENBLAS_NUM_THREADS", "unset (BLAS default)")
    return info


def fmt_time(s: float) -> str:
    if not np.isfinite(s):
        return "—"
    if s < 0.9995:  # 0.9995 s would print as "1e+03 ms"
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s" if s < 100 else f"{s:,.0f} s"


def fmt_mem(b: float | None) -> str:
    if b is None:
        return "—"
    for unit, size in (("GB", 2**30), ("MB", 2**20)):
        if b >= size:
            return f"{b / size:.3g} {unit}"
    return f"{b / 1024:.3g} kB"


def table(pb: Problem, rows: list[Row], reference: float) -> list[str]:
    out = [f"### {pb.name}: {pb.size:,} parameters, {pb.X.shape[0]} samples", "",
           "| contender | time (median) | runs | × gradcheck structured | accuracy | peak extra memory | notes |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "—" if not np.isfinite(r.seconds) else f"{r.seconds / reference:,.3g}×" \
            if r.seconds / reference < 1000 else f"{r.seconds / reference:,.0f}×"
        time_s = fmt_time(r.seconds) + (f" (scaled from {r.scaled_from:,} entries)" if r.scaled_from else "")
        acc = "—" if r.accuracy is None else f"{r.accuracy:.1e}"
        mem = fmt_mem(r.memory) + ("" if r.memory is None or r.memory_kind == "tracemalloc" else f" ({r.memory_kind})")
        out.append(f"| {r.contender} | {time_s} | {r.repeats} | {ratio} | {acc} | {mem} | {r.note} |")
    return out + [""]


def find(rows: list[Row], prefix: str) -> Row | None:
    return next((r for r in rows if r.contender.startswith(prefix) and np.isfinite(r.seconds)), None)


def targets(results: dict[str, list[Row]], generic: dict[str, tuple[float, float]], directional: float) -> list[str]:
    big, mid = results.get("128-256-128-10", []), results.get("32-64-32-8", [])
    out = ["## Targets (issue 6)", "", "| target | measured | holds |", "|---|---|---|"]

    def line(what: str, value: float | None, ok: Callable[[float], bool], unit: str = "×") -> None:
        if value is None:
            out.append(f"| {what} | not measured | — |")
        else:
            out.append(f"| {what} | {value:.3g}{unit} | {'yes' if ok(value) else 'no'} |")

    def ratio(rows: list[Row], peer: str) -> float | None:
        s, p = find(rows, "gradcheck check_network central"), find(rows, peer)
        if s is not None and p is not None and p.scaled_from:
            # A time scaled from a subset is an estimate; a target is judged on measurements only.
            out.append(f"| {peer}: timed on {p.scaled_from:,} entries only | — | not judged |")
            return None
        return None if s is None or p is None else p.seconds / s.seconds

    line("128-256-128-10: ≥ 25× faster than the textbook loop", ratio(big, "textbook"), lambda v: v >= 25)
    line("128-256-128-10: ≥ 30× faster than torch gradcheck (full)", ratio(big, "torch.autograd.gradcheck (full"),
         lambda v: v >= 30)
    s = find(big, "gradcheck check_network central")
    line("128-256-128-10: under 1 s (stretch)", None if s is None else s.seconds, lambda v: v < 1, " s")
    line("32-64-32-8: ≥ 10× faster than the textbook loop", ratio(mid, "textbook"), lambda v: v >= 10)
    for name, (total, per_call) in generic.items():
        line(f"{name}: generic check_params central ≤ 1.3× the textbook loop", total, lambda v: v <= 1.3)
        line(f"{name}: the same, per loss call", per_call, lambda v: v <= 1.3)
    for name, rows in results.items():
        c, r = find(rows, "gradcheck check_network complex"), find(rows, "gradcheck check_network central")
        if c and r:
            line(f"{name}: complex step ≤ 2× central differences (structured)", c.seconds / r.seconds,
                 lambda v: v <= 2)
    m = find(big, "gradcheck check_network central")
    line("128-256-128-10: extra memory under 64 MB (and the 256 MB budget)",
         None if m is None or m.memory is None else m.memory / 2**20, lambda v: v < 64, " MB")
    line(f"directional check of a {'-'.join(map(str, DIRECTIONAL_SIZES))} net (986,634 parameters) in seconds",
         directional, lambda v: v < 10, " s")
    return out + [""]


def issue16(quick: bool) -> list[str]:
    """The table "Targets (issue 16)", measured by benchmarks/whole_check.py's contenders in this run."""
    n = 2 if quick else 7
    times, _ = whole_check.main_net(n, with_cli=True)
    deep = whole_check.deep_nets(max(1, n // 2))
    own, _ = whole_check.own_loss(max(1, n // 2))
    tiny, _ = whole_check.own_loss(n, (3, 4, 4, 1), 4, repeat=50)
    return whole_check.issue16_targets(times, deep, own, tiny, whole_check.vectorized_peak())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats; slow peers timed on subsets of entries on the large network")
    parser.add_argument("--out", default=None,
                        help="Markdown file to write (default: RESULTS.md for a full run, none for --quick)")
    args = parser.parse_args(argv)
    if args.quick and args.out and os.path.abspath(args.out) == RESULTS:
        parser.error("--quick never overwrites RESULTS.md (it holds a full run); give another --out")
    out_path = args.out or (None if args.quick else RESULTS)
    repeats = 3 if args.quick else 5
    budget = 20.0 if args.quick else 900.0       # seconds a loop peer may take on every entry
    slow_budget = 10.0 if args.quick else 60.0   # seconds for the slowest peers before scaling
    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    results: dict[str, list[Row]] = {}
    generic: dict[str, tuple[float, float]] = {}
    text: list[str] = []
    for name, sizes, n in CASES:
        pb = problem(name, sizes, n)
        print(f"{name}: {pb.size} parameters", flush=True)
        rows = gradcheck_rows(pb, repeats)
        g = generic_row(pb, repeats, budget)
        if g is not None:
            rows.append(g)
        rows += peer_rows(pb, repeats, budget, slow_budget, args.quick)
        reference = rows[0].seconds
        text += table(pb, rows, reference)
        results[name] = rows
        tb = find(rows, "textbook")
        if g is not None and tb is not None and not tb.scaled_from:
            generic[name] = (g.seconds / tb.seconds, (g.seconds / g.calls) / (tb.seconds / (2 * pb.size)))
        for r in rows:
            print(f"  {r.contender}: {fmt_time(r.seconds)} {r.note}", flush=True)
    rng = np.random.default_rng(0)
    big_net = gc.DenseNet(DIRECTIONAL_SIZES, seed=0)
    Xd, yd = rng.standard_normal((64, DIRECTIONAL_SIZES[0])), rng.uniform(0, 1, (64, DIRECTIONAL_SIZES[-1]))
    directional, report, _ = timed(lambda: gc.check_network(big_net, Xd, yd, method="directional", deltas=False,
                                                         diagnostics=False), 3, warmup=True)
    print(f"directional: {fmt_time(directional)}, {report.n_evaluations} loss calls", flush=True)
    targets16 = issue16(args.quick)
    info = machine()
    load_after = os.getloadavg()
    head = ["# Benchmarks: a full gradient check of dense sigmoid networks", "",
            f"Measured {started:%Y-%m-%d %H:%M} UTC by `python benchmarks/run.py{' --quick' if args.quick else ''}` "
            f"in {(dt.datetime.now(dt.timezone.utc) - started).total_seconds() / 60:.0f} min. "
            "Every time is a median of the runs shown, every ratio is between times of this one run.", "",
            "| machine | |", "|---|---|"]
    head += [f"| {k} | {v} |" for k, v in info.items()]
    head += [f"| load average (1 min) before / after | {load_before[0]:.2f} / {load_after[0]:.2f} |", ""]
    head += ["The check is `check_network(net, X, y, method=\"central\", deltas=False, diagnostics=False)`: every "
             "parameter by central differences with the truncation estimate (4 loss values per entry, against "
             "the textbook loop's 2). Accuracy is max|n − g| / max|g| against the analytic gradient; "
             "'scaled from k entries' means the peer ran on k random entries and its time was multiplied by "
             "P/k (per-entry cost is the same for every entry of these loops). Memory: tracemalloc peak of "
             "numpy allocations during the call (loops: on 64 entries), or the growth of the peak resident set "
             "of a child process (torch, jax; VmHWM, reset before the call).", ""]
    tail = targets(results, generic, directional) + targets16
    tail += [f"Directional check (`method=\"directional\"`, 4 random directions per group, Richardson along each): "
             f"{fmt_time(directional)} for {sum(v.size for v in big_net.params.values()):,} parameters, 64 samples, "
             f"{report.n_evaluations} loss calls.", ""]
    document = "\n".join(head + tail + ["## Per network", ""] + text)
    if out_path is None:
        print(document)
    else:
        with open(out_path, "w") as fh:
            fh.write(document)
        print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

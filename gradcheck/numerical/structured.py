"""Full-check numerical derivatives of a DenseNet's loss, from the network's structure.

The generic engine (:class:`gradcheck.numerical.engine.LossEngine`) gets every loss
value f(θ + o·h·e_i) of a difference rule from a full forward pass.  A dense
network needs far less, because one parameter reaches the loss through one
number per sample:

* perturbing W_l[i, j] by δ shifts z_l[n, j] by δ·a_{l−1}[n, i] in every
  sample n, and nothing else in layer l; perturbing b_l[j] shifts it by δ;
* the loss is a sum over samples, L = Σ_n ℓ_n, and ℓ_n sees the perturbation
  only through the shift t of its own z_l[n, j].

With the *unit response* ψ_{l,n,j}(t) = ℓ_n(z_l[n, j] + t) − ℓ_n(z_l[n, j]):

    L(θ + δ·e_{W_l[i,j]}) − L(θ) = Σ_n ψ_{l,n,j}(δ·a_{l−1}[n, i])
    L(θ + δ·e_{b_l[j]})   − L(θ) = Σ_n ψ_{l,n,j}(δ)
    L(z_l + δ·e_{n,j})    − L(z_l) = ψ_{l,n,j}(δ)                (delta checks)

ψ is evaluated from the cached forward pass: one entry of a_l changes, the
change enters z_{l+1}[n] as the rank-1 term u·W_{l+1}[j, :], the layers above
run as one batched forward pass over many (n, j, t) rows, and the loss change
is formed from the changed terms only, c·Σ_k Δa_k·(Δa_k + 2(a_k − y_k)),
never as the difference of two large sums (cross-entropy: from Δz_L, see :mod:`.output_loss`).

The weights of a layer need ψ_{l,n,j} at n_{l−1}·(stencil size) arguments,
all inside [−T_n, T_n] with T_n = (largest offset)·(largest step)·max_i
|a_{l−1}[n, i]|: about 10⁻⁵·|a| for central differences and 10⁻³·|a| for
the ε^(1/5) steps, usually far inside the distance to ψ's nearest complex
singularity (σ has poles at ±iπ).  There ψ is resolved to rounding by its
interpolant at K Chebyshev points (K = 5 or 9, the rule's ``nodes``), whose error decays
geometrically with K for analytic functions (Trefethen, *Approximation Theory
and Approximation Practice*, 2013, Thm. 8.2).  The engine evaluates ψ at the
K points and every needed value through K matrix products; it accepts the
interpolant of (n, j) only if its last two Chebyshev coefficients are at the
rounding level of ψ's own evaluation (a running error bound in the style of
Higham, *Accuracy and Stability of Numerical Algorithms*, 2002, §3).  Where
they are not, it evaluates ψ at the K − 1 points that the 2K − 1 Chebyshev points
add to the K (they contain them) and checks that interpolant the same way;
only a response neither resolves is evaluated at every argument.  Layers whose weights need fewer
values than K are evaluated directly.

The complex step needs one evaluation per (n, j): Im ψ(i·h·x)/h =
x·Im ψ(i·h)/h + O(h²) with h = 1e-20, so every weight follows as a matrix
product, Σ_n a_{l−1}[n, i]·Im ψ_{l,n,j}(i·h)/h.  DenseNet's forward pass is complex-safe by construction, so
``"auto"`` is the complex step, without the probe the generic engine needs.
At h = 1e-20 the pass's real parts are the cached ones and its imaginary
parts are linear, so the workers carry only those, as tangents in real
arithmetic (:mod:`gradcheck.numerical.responses`), the same numbers to rounding.

The differences go through :func:`gradcheck.numerical.rules.apply_rule` with the generic steps and
noise; the round-off term takes the larger of κε·max(|F|, 2σ/κ) and the rounding a difference
inherits from its outputs (:meth:`StructuredEngine.difference_rounding`), ε·|a|·|a − y| per
sample, above ε·|L| near a fit.

Work runs in chunks of rows (and blocks of samples) within ``memory_budget``, in the calling thread or
on a caller's ``concurrent.futures.Executor``, combined in a fixed order: results do not depend on the
executor.  Threads are not the default: on 2 cores two threads were no faster than one (BLAS threads).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import numpy as np

from .._validation import describe
from ..errors import InvalidArgument
from ..model.network import DenseNet, ForwardCache
from .chebyshev import chebyshev_basis, chebyshev_points
from .complex_rounding import complex_entry_rounding, complex_step_rounding
from .delta_rows import delta_rows, unit_differences
from .engine import DEFAULT_MEMORY_BUDGET, LossEngine, NumericalGradient, RunOptions, run_options, run_tasks
from .evaluator import LossEvaluator, estimate_loss_noise, loss_at_rest
from .forming import Extra, RowDifferences, form_values, lazy_values, product_rows, whole_rows
from .progress import Progress, ProgressTracker
from .responses import (
    CHUNK_BYTES,
    Responses,
    decay_differences,
    entries_task,
    forward_from,
    output_rounding,
    pairs_task,
    psi_dtype,
    resolved_coefficients,
    unit_response_rounding,
    units_task,
    unsupported,
)
from .rules import COMPLEX_STEP, LOCAL_METHODS, RULES, apply_rule
from .sample_blocks import engine_note, engine_stats, entries_bytes, interpolation_bytes, slope_bytes, units_bytes
from .steps import rule_steps

__all__ = ["StructuredEngine", "structured_gradient", "unit_response_rounding", "unsupported"]

EXECUTOR_IN_FLIGHT = 4  #: chunks running or waiting on an executor at once
CLUSTER_IN_FLIGHT = 64  #: … on a dask.distributed cluster, where they queue on the scheduler


class StructuredEngine:
    """Numerical derivatives of a DenseNet's loss over its parameters or one layer's z.

    Implements the engine protocol of :func:`gradcheck.verify.core.run_check`
    (``gradient`` and ``remeasure``); build it with :meth:`for_params` or
    :meth:`for_deltas`.  Methods other than the local rules and ``"auto"``
    (SciPy's) and a non-finite loss go to the generic engine.

    Parameters
    ----------
    loss : callable
        The loss as a function of ``params`` (what the generic engine calls).
    params : dict of str to ndarray
        ``{"W1": …, "b1": …}`` or ``{"z": z_l}``.
    responses : Responses
        The network at ``params``: its forward cache, weights and loss residual.
    groups : dict of str to (int, str)
        Group name → (layer, kind) with kind ``"W"``, ``"b"`` or ``"z"``.
    memory_budget : int
        Bytes of extra working memory.
    executor : concurrent.futures.Executor or None
        Where chunks run; None: the calling thread.
    interpolate : bool
        Use Chebyshev interpolation of unit responses (False: evaluate every
        argument directly; slower, for verification).
    fallback : str or None
        Why the network is outside the engine's model (see :func:`unsupported`):
        every request then goes to the generic engine, and the result says so.
    still : dict of str to ndarray of bool, optional
        Entries the loss-noise measurement leaves at rest (near a kink).
    typical_scale : dict of str to float, optional
        Per group, the scale its parameters vary on: steps ε^e·max(scale, |θ|) (default 1).
    by_rows : bool
        Return a delta group (:mod:`~gradcheck.numerical.delta_rows`), and a weight group's complex-step values
        and estimates over a quarter of the budget, as RowChunks formed by rows when read (check_network's).
    """

    def __init__(self, loss: Callable, params: dict[str, np.ndarray], responses: Responses,
                 groups: dict[str, tuple[int, str]], *, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 executor: Executor | None = None, interpolate: bool = True, fallback: str | None = None,
                 still: dict[str, np.ndarray] | None = None,
                 typical_scale: dict[str, float] | None = None, by_rows: bool = False) -> None:
        self.loss, self.params, self.rs, self.groups, self.by_rows = loss, params, responses, groups, by_rows
        self.still, self.fallback = still, fallback
        self.scales = {k: float((typical_scale or {}).get(k, 1.0)) for k in params}
        self.memory_budget, self.executor, self.interpolate = int(memory_budget), executor, interpolate
        # One generic engine for the whole check: it keeps what its first pass measured for remeasure.
        self._generic = LossEngine(loss, params, RunOptions(executor, False, int(memory_budget)), still=still,
                                   typical_scale=self.scales) if fallback is not None else None
        self._stats = engine_stats()
        self._scattered: tuple[Any, Responses, Any] | None = None
        self._last: tuple[tuple[int, int], Responses] | None = None
        # Per-sample rounding bounds, formed once: the output's serves every layer, the complex step's one.
        self._rounding: dict[tuple[int, bool, float], np.ndarray] = {}

    # -- construction ----------------------------------------------------

    @classmethod
    def for_params(cls, net: DenseNet, X: np.ndarray, y: np.ndarray, loss: Callable | None = None,
                   cache: ForwardCache | None = None, **options: Any) -> StructuredEngine:
        """The engine for ∂L/∂θ of ``net`` on validated data ``(X, y)``.

        ``loss`` is ``net.loss_closure(X, y)`` when the caller already has it; ``cache``: the
        caller's forward pass on ``X``, read instead of a second one when float64.
        """
        params = {k: np.asarray(v, dtype=np.float64) for k, v in net.params.items()}
        cache = forward_from(net, params, 1, X=np.asarray(X, dtype=np.float64), held=cache)
        rs = Responses.of(net, params, cache, np.asarray(y, dtype=np.float64))
        groups = {k: (int(k[1:]), k[0]) for k in net.params}
        return cls(loss if loss is not None else net.loss_closure(X, y), dict(net.params), rs, groups,
                   fallback=unsupported(net), **options)

    @classmethod
    def for_deltas(cls, net: DenseNet, layer: int, z: np.ndarray, y: np.ndarray,
                   loss: Callable, cache: ForwardCache | None = None, **options: Any) -> StructuredEngine:
        """The engine for ∂L/∂z_layer, L run forward from z_layer (``loss`` of ``{"z": z}``).

        ``cache``: a forward pass whose z_layer equals ``z``, read as :func:`forward_from` says.
        """
        params = {k: np.asarray(v, dtype=np.float64) for k, v in net.params.items()}
        z = np.asarray(z, dtype=np.float64)
        cache = forward_from(net, params, layer, z=z, held=cache)
        rs = Responses.of(net, params, cache, np.asarray(y, dtype=np.float64))
        return cls(loss, {"z": z}, rs, {"z": (layer, "z")}, fallback=unsupported(net), **options)

    # -- the engine protocol --------------------------------------------------

    def gradient(self, method: str = "auto", *, seed: int | None = 0,
                 progress: Progress | None = None) -> NumericalGradient:
        """Every entry by ``method``; see the module docstring."""
        generic = LossEngine(self.loss, self.params, RunOptions(self.executor, False, self.memory_budget),
                             typical_scale=self.scales)
        if self._generic is not None:
            result = self._generic.gradient(method, seed=seed, progress=progress)
            result.notes.append(f"structured engine not used ({self.fallback}): the generic engine measured "
                                "every entry")
            return result
        if method not in LOCAL_METHODS + ("auto",):
            return generic.gradient(method, seed=seed, progress=progress)
        ev = LossEvaluator(self.loss, self.params)
        f0, precision, eps = loss_at_rest(ev)
        if not math.isfinite(f0):
            return generic.gradient(method, seed=seed, progress=progress)
        loss_noise = estimate_loss_noise(ev, f0, seed, still=self.still, scales=self.scales)
        chosen = "complex" if method == "auto" else method
        total = sum(v.size for v in self.params.values())
        tracker = ProgressTracker(total, progress)
        self._stats = engine_stats()
        diffs: dict[str, tuple[np.ndarray | RowDifferences, np.ndarray]] = {}
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for layer in sorted({l for l, _ in self.groups.values()}):
                names = [k for k, (l, _) in self.groups.items() if l == layer]
                if names != ["z"] or not self.by_rows:  # a delta group by rows is measured when read
                    diffs.update(self._layer(layer, names, chosen, eps, self.executor, tracker))
        values, errors, steps = dict[str, Any](), dict[str, Any](), dict[str, Any]()  # arrays or RowChunks
        if self.by_rows and "z" in self.groups:
            values["z"], errors["z"], steps["z"] = delta_rows(self, chosen, f0, eps, loss_noise)
        tracker.finish()  # a delta group by rows counts as measured here
        for name in list(diffs):
            D, h = diffs.pop(name)  # each layer's differences are let go as soon as its values are formed
            shape = self.params[name].shape
            if self.by_rows and isinstance(D, RowDifferences) and 16 * h.shape[0] > self.memory_budget // 4:
                # Formed by rows when read (a weight's rounding bound depends on its row alone).
                per_row = np.asarray(self.difference_rounding(name, np.arange(shape[0]) * D.row_size, eps, chosen))
                values[name], errors[name] = lazy_values(chosen, D, f0, h, eps, loss_noise, per_row, shape)
                steps[name] = h.reshape(shape)  # a read-only broadcast view
                continue
            rounding = self.difference_rounding(name, np.arange(h.shape[0]), eps, chosen)
            # The rule's temporaries in chunks of rows: a few arrays of a chunk's size, not of the group's.
            v, e = form_values(chosen, D, f0, h, eps, loss_noise, rounding, self._chunk_bytes())
            del D
            values[name], errors[name], steps[name] = v.reshape(shape), e.reshape(shape), h.reshape(shape)
        ordered = list(self.params)
        return NumericalGradient({k: values[k] for k in ordered}, {k: errors[k] for k in ordered},
                                 {k: steps[k] for k in ordered}, {k: chosen for k in ordered}, f0, precision,
                                 ev.n_evaluations, [engine_note(self._stats, self.memory_budget, chosen)], loss_noise)

    @property
    def measured_loss_noise(self) -> float | None:
        """The structured engine measures σ in :meth:`gradient` (see ``NumericalGradient.loss_noise``)."""
        return self._generic.measured_loss_noise if self._generic is not None else None

    def remeasure(self, method: str, name: str, idx: np.ndarray, *, f0: float, eps: float,
                  loss_noise: float, progress: Progress | None = None, step_factor: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Selected entries of one group by a local rule (auto's Richardson confirmation, the step guard).

        They run in the same memory-bounded chunks as :meth:`gradient`; ``step_factor`` scales the
        rule's steps (the step taken is recomputed, as in the generic engine).
        """
        if self._generic is not None:
            return self._generic.remeasure(method, name, idx, f0=f0, eps=eps, loss_noise=loss_noise,
                                           progress=progress, step_factor=step_factor)
        layer, kind = self.groups[name]
        idx = np.asarray(idx, dtype=np.intp)
        x = self.params[name].reshape(-1)[idx].astype(np.float64)
        h = rule_steps(method, x, eps, self.scales[name])
        if step_factor != 1.0:
            h = (x + h * step_factor) - x
        offsets = np.asarray(RULES[method].offsets)
        tracker = ProgressTracker(len(idx), progress)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if kind == "z":
                n, j = np.divmod(idx, self.params[name].shape[1])
                D: np.ndarray = np.empty((len(idx), len(offsets)), dtype=psi_dtype(offsets))
                for rows in self._sample_blocks(units_bytes(self.rs, layer, len(offsets))):
                    sel = np.flatnonzero((n >= rows.start) & (n < rows.stop))
                    if len(sel):
                        D[sel] = self._units(self._part(rows), layer, n[sel] - rows.start, j[sel], h[sel], offsets,
                                             self.executor, tracker, len(sel))
            else:
                n_l = self.rs.cache.z(layer).shape[1]
                ei, ej = np.divmod(idx, n_l) if kind == "W" else (np.full(len(idx), -1), idx)
                blocks = self._sample_blocks(entries_bytes(self.rs, layer, len(offsets), self._row_bytes(layer, False)))
                D = np.zeros((len(idx), len(offsets)), dtype=psi_dtype(offsets))
                for rows in blocks:
                    D += self._entry_differences(self._part(rows), layer, ei, ej, h, offsets, self.executor, tracker,
                                                 len(idx) / len(blocks))
                D = D + decay_differences(self.rs, layer, ei, ej, h, offsets)
            vals, errs = apply_rule(method, D, f0, h, eps, loss_noise,
                                      self.difference_rounding(name, idx, eps, method))
        tracker.finish()
        return vals, errs, h, 0

    def difference_rounding(self, name: str, idx: np.ndarray, eps: float, method: str = "") -> float | np.ndarray:
        """The rounding of one difference of the entries ``idx`` of ``name``: summed over the samples
        (:func:`output_rounding`) for W or b, one sample's for z; the complex step's: :func:`complex_entry_rounding`."""
        layer, kind = self.groups[name]
        key = (layer if method == "complex" else 0, method == "complex", eps)
        if key not in self._rounding:
            parts = (self._part(rows) for rows in self._sample_blocks(slope_bytes(self.rs, layer)))
            self._rounding[key] = np.concatenate([complex_step_rounding(part, layer, eps) if method == "complex"
                                                  else output_rounding(part, eps) for part in parts])
        per_sample = self._rounding[key]
        if method == "complex":
            return COMPLEX_STEP * complex_entry_rounding(per_sample, self.rs.cache.a(layer - 1),
                                                         self.rs.cache.z(layer).shape[1], kind, idx)
        if kind == "z":
            return per_sample[np.asarray(idx) // self.params[name].shape[1]]
        return float(np.sum(per_sample))

    # -- one layer ---------------------------------------------------------

    def _layer(self, layer: int, names: list[str], method: str, eps: float, executor: Executor | None,
               tracker: ProgressTracker) -> dict[str, tuple[np.ndarray | RowDifferences, np.ndarray]]:
        """(differences, steps) per group of one layer, summed over blocks of samples (see :meth:`_sample_blocks`).

        The complex step's weights, when every sample fits one block, are formed by rows on request.
        """
        rs = self.rs
        N, n_l = rs.cache.z(layer).shape
        offsets = np.asarray(RULES[method].offsets)
        k = len(offsets)
        size = sum(self.params[k].size for k in names)
        if names == ["z"]:
            h = rule_steps(method, self.params["z"].reshape(-1), eps, self.scales["z"])
            D = np.empty((N * n_l, k), dtype=psi_dtype(offsets))
            for rows in self._sample_blocks(units_bytes(self.rs, layer, k)):
                e = slice(rows.start * n_l, rows.stop * n_l)  # a delta entry belongs to its sample's block
                D[e] = unit_differences(self, layer, rows, h[e], offsets, tracker, size * (rows.stop - rows.start) / N)
            return {"z": (D, h)}
        W = self.params[f"W{layer}"]
        b = self.params.get(f"b{layer}")
        if method == "complex":
            # One step for every entry: a read-only view, not an array of the layer's size.
            hc = np.broadcast_to(COMPLEX_STEP, (W.size,))
            blocks = self._sample_blocks(units_bytes(self.rs, layer, k))
            DW: np.ndarray = np.zeros((W.shape[0] if len(blocks) > 1 else 0, n_l), dtype=psi_dtype(offsets))
            Db: np.ndarray = np.zeros(n_l, dtype=psi_dtype(offsets))
            for rows in blocks:
                part = self._part(rows)
                un, uj = np.divmod(np.arange(part.n_samples * n_l), n_l)
                psi = self._units(part, layer, un, uj, np.full(len(un), COMPLEX_STEP), offsets, executor, tracker,
                                  size * part.n_samples / N).reshape(part.n_samples, n_l)
                Db += psi.sum(axis=0)
                if len(blocks) > 1:  # summed over the blocks (DW is empty otherwise); with one, formed by rows
                    DW += part.cache.a(layer - 1).T @ psi
            decay: Extra | None = (lambda ei, ej, sl: np.asarray(
                decay_differences(rs, layer, ei, ej, hc[sl], offsets))) if rs.weight_decay else None
            rowsW = product_rows(rs.cache.a(layer - 1), psi, decay) if len(blocks) == 1 \
                else whole_rows(DW.reshape(-1, 1), n_l, decay)
            out: dict[str, tuple[np.ndarray | RowDifferences, np.ndarray]] = {f"W{layer}": (rowsW, hc)}
            if b is not None:
                out[f"b{layer}"] = (Db.reshape(-1, 1), np.broadcast_to(COMPLEX_STEP, (b.size,)))
            return out
        hw = rule_steps(method, W, eps, self.scales[f"W{layer}"])
        hb = rule_steps(method, b, eps, self.scales[f"b{layer}"]) if b is not None else None
        n_prev = W.shape[0]
        direct = not self.interpolate or k * (n_prev + (b is not None)) <= RULES[method].nodes
        per_sample = entries_bytes(rs, layer, k, self._row_bytes(layer, False)) if direct \
            else interpolation_bytes(rs, layer, int(RULES[method].nodes or 1))
        D = np.zeros((W.size + (b.size if b is not None else 0), k))
        for rows in self._sample_blocks(per_sample):
            part, share = self._part(rows), size * (rows.stop - rows.start) / N
            if direct:
                D += self._entries(part, layer, hw, hb, offsets, executor, tracker, share)
            else:
                D += self._interpolated(part, layer, method, hw, hb, offsets, eps, executor, tracker, share)
        ei, ej = np.divmod(np.arange(W.size), W.shape[1])
        out = {f"W{layer}": (D[: W.size] + decay_differences(rs, layer, ei, ej, hw.reshape(-1), offsets),
                             hw.reshape(-1))}
        if b is not None:
            out[f"b{layer}"] = (D[W.size:], hb.reshape(-1))  # type: ignore[union-attr]
        return out

    def _entries(self, rs: Responses, layer: int, hw: np.ndarray, hb: np.ndarray | None, offsets: np.ndarray,
                 executor: Executor | None, tracker: ProgressTracker, size: float) -> np.ndarray:
        """Differences of every weight and bias of a layer, ψ evaluated at every argument."""
        n_prev, n_l = hw.shape
        ei, ej = np.divmod(np.arange(n_prev * n_l), n_l)
        eh = hw.reshape(-1)
        if hb is not None:
            ei, ej, eh = np.r_[ei, np.full(n_l, -1)], np.r_[ej, np.arange(n_l)], np.r_[eh, hb]
        return self._entry_differences(rs, layer, ei, ej, eh, offsets, executor, tracker, size)

    def _entry_differences(self, rs: Responses, layer: int, ei: np.ndarray, ej: np.ndarray, eh: np.ndarray,
                           offsets: np.ndarray, executor: Executor | None, tracker: ProgressTracker,
                           size: float) -> np.ndarray:
        """Differences of the entries (ei, ej) of W_layer (ei = −1: b_layer[ej]) at steps eh, in chunks."""
        per_row = rs.n_samples * len(offsets)  # ψ rows per entry (the block's N)
        blocks = self._blocks(len(ei), per_row, layer, complex_rows=False)
        parts: list[np.ndarray] = []

        def collect(_k: int, part: np.ndarray) -> None:
            parts.append(part)
            tracker.advance(size * len(part) / len(ei))

        self._run(entries_task, [(rs, layer, ei[s], ej[s], eh[s], offsets) for s in blocks], executor, collect,
                  rows=len(ei) * per_row)
        return np.concatenate(parts)

    def _units(self, rs: Responses, layer: int, un: np.ndarray, uj: np.ndarray, scale: np.ndarray, offsets: np.ndarray,
               executor: Executor | None, tracker: ProgressTracker, size: float) -> np.ndarray:
        """ψ at offsets·scale for every unit (un, uj); shape (len(un), len(offsets))."""
        blocks = self._blocks(len(un), len(offsets), layer, complex_rows=np.iscomplexobj(offsets))
        parts: list[np.ndarray] = []

        def collect(_k: int, part: np.ndarray) -> None:
            parts.append(part)
            tracker.advance(size * len(part) / len(un))

        self._run(units_task, [(rs, layer, un[s], uj[s], scale[s], offsets) for s in blocks], executor, collect,
                  rows=len(un) * len(offsets))
        return np.concatenate(parts)

    def _interpolated(self, rs: Responses, layer: int, method: str, hw: np.ndarray, hb: np.ndarray | None,
                      offsets: np.ndarray, eps: float, executor: Executor | None, tracker: ProgressTracker,
                      size: float) -> np.ndarray:
        """Differences of a hidden layer's weights and biases from Chebyshev interpolants of ψ, over rs's samples."""
        x = rs.cache.a(layer - 1)
        N, n_prev = x.shape
        n_l = hw.shape[1]
        K = RULES[method].nodes
        assert K is not None, f"the rule {method!r} is never interpolated"
        hmax = max(float(hw.max()), float(hb.max()) if hb is not None else 0.0)
        reach = np.max(np.abs(x), axis=1)
        if hb is not None:
            reach = np.maximum(reach, 1.0)
        T = float(np.max(np.abs(offsets))) * hmax * reach
        # A sample whose arguments are all 0 has ψ ≡ 0 on a degenerate interval.
        T = np.where(T > 0, T, np.finfo(np.float64).tiny)
        tau = chebyshev_points(K)
        nodes = np.r_[tau[: K // 2], tau[K // 2 + 1:]]  # ψ(0) = 0: the middle point needs no evaluation
        un, uj = np.divmod(np.arange(N * n_l), n_l)
        # The node values are most of the work: they count for 90% of the layer's progress.
        Vn = self._units(rs, layer, un, uj, T[un], nodes, executor, tracker, 0.9 * size)
        V = np.zeros((N, n_l, K))
        V[:, :, : K // 2], V[:, :, K // 2 + 1:] = Vn[:, : K // 2].reshape(N, n_l, -1), \
            Vn[:, K // 2:].reshape(N, n_l, -1)
        rounding = unit_response_rounding(rs, layer, eps)
        C, resolved = resolved_coefficients(V, rounding[:, None], eps)
        pn, pj = np.nonzero(~resolved)
        if len(pn):
            # Refine before evaluating every argument: the 2K − 1 points contain the K points, so K − 1
            # new values per unit give the interpolant of twice the degree, checked the same way.
            K2 = 2 * K - 1
            V2 = np.zeros((len(pn), K2))
            V2[:, 0::2] = V[pn, pj]
            V2[:, 1::2] = self._units(rs, layer, pn, pj, T[pn], chebyshev_points(K2)[1::2], executor, tracker, 0.0)
            C2, resolved2 = resolved_coefficients(V2, rounding[pn], eps)
            C = np.concatenate((C, np.zeros((N, n_l, K - 1))), axis=2)
            C[pn, pj] = C2
            resolved[pn, pj] = resolved2
            self._stats["refined"] += int(resolved2.sum())
            K = K2
        C[~resolved] = 0.0
        Ck = np.ascontiguousarray(C.transpose(2, 0, 1)).reshape(K * N, n_l)
        k = len(offsets)
        D = np.zeros((n_prev * n_l + (n_l if hb is not None else 0), k))
        DW = D[: n_prev * n_l].reshape(n_prev, n_l, k)
        for s in np.unique(hw):
            mask = hw == s
            cols = np.flatnonzero(mask.any(axis=0))
            for q, o in enumerate(offsets):
                B = chebyshev_basis(o * s * x / T[:, None], K).reshape(K * N, n_prev)
                DW[:, cols, q] = np.where(mask[:, cols], B.T @ Ck[:, cols], DW[:, cols, q])
        if hb is not None:
            Db = D[n_prev * n_l:]
            for s in np.unique(hb):
                cols = np.flatnonzero(hb == s)
                for q, o in enumerate(offsets):
                    B = chebyshev_basis(o * s / T, K).reshape(K * N)
                    Db[cols, q] = B @ Ck[:, cols]
        pn, pj = np.nonzero(~resolved)
        self._stats["interpolated"] += int(resolved.sum())
        self._stats["fallback"] += len(pn)
        if len(pn):
            width = (n_prev + (hb is not None)) * k
            blocks = self._blocks(len(pn), width, layer, complex_rows=False)
            flat = D.reshape(-1)

            def add(_k: int, r: tuple[np.ndarray, np.ndarray]) -> None:
                flat[r[0]] += r[1]

            self._run(pairs_task, [(rs, layer, pn[s], pj[s], hw, hb, offsets) for s in blocks], executor, add,
                      rows=len(pn) * width)
        tracker.advance(0.1 * size)
        return D

    # -- blocks of samples -----------------------------------------------------

    def _sample_blocks(self, per_sample: int) -> list[slice]:
        """Blocks of samples whose working arrays, ``per_sample`` bytes each, take at most a quarter of the budget.

        The loss is a sum over samples and ψ_{l,n,j} depends on sample n alone: a weight's or bias's
        difference is the sum of its blocks' (equal to rounding), a delta entry's is its own block's.
        """
        N = self.rs.n_samples
        size = max(1, (self.memory_budget // 4) // max(1, per_sample))
        if size >= N:
            return [slice(0, N)]
        self._stats["sample_blocks"] = max(self._stats["sample_blocks"], -(-N // size))
        return [slice(s, min(N, s + size)) for s in range(0, N, size)]

    def _part(self, rows: slice) -> Responses:
        """The network at rest on samples ``rows``; the last block is kept (the next layer starts with it)."""
        if self._last is None or self._last[0] != (rows.start, rows.stop):
            self._last = ((rows.start, rows.stop), self.rs.samples(rows))
        return self._last[1]

    # -- chunks -------------------------------------------------------------

    def _row_bytes(self, layer: int, complex_rows: bool) -> int:
        """Working bytes of one ψ row: a few arrays as wide as the widest layer above."""
        width = max([w.shape[1] for w in self.rs.weights[layer:]] + [1])
        return (16 if complex_rows else 8) * 8 * (width + 4)

    def _chunk_bytes(self) -> int:
        if self.executor is not None:
            # Another process or machine runs each chunk: fewer, larger chunks keep the per-task cost of
            # the executor (scheduling, transfer) small; EXECUTOR_IN_FLIGHT of them fit in half the budget.
            return max(1, self.memory_budget // (2 * EXECUTOR_IN_FLIGHT))
        return max(1, min(CHUNK_BYTES, self.memory_budget // 4))

    def _blocks(self, n_items: int, rows_per_item: int, layer: int, complex_rows: bool) -> list[slice]:
        """Slices of items such that one chunk's rows fit the chunk size (at least one item each)."""
        per_row = self._row_bytes(layer, complex_rows)
        items = max(1, self._chunk_bytes() // (per_row * max(1, rows_per_item)))
        self._stats["chunk_bytes"] = max(self._stats["chunk_bytes"], min(items, n_items) * rows_per_item * per_row)
        return [slice(s, min(n_items, s + items)) for s in range(0, n_items, items)]

    def _run(self, fn: Callable, tasks: list[tuple], executor: Executor | None,
             on_result: Callable[[int, Any], Any], rows: int) -> None:
        self._stats["rows"] += rows
        self._stats["chunks"] += len(tasks)
        executor = executor if len(tasks) > 1 else None
        if executor is None:
            in_flight = 1
        else:
            in_flight = max(1, min(EXECUTOR_IN_FLIGHT, self.memory_budget // self._chunk_bytes()))
            shipped = self._shipped(executor, tasks[0][0])
            if shipped is not tasks[0][0]:
                # On a cluster a queued chunk holds no memory until a worker thread runs it, and a worker
                # runs one per thread: a deeper queue hides the scheduler's round trips.
                in_flight = CLUSTER_IN_FLIGHT
            tasks = [(shipped,) + task[1:] for task in tasks]  # every task's first argument is the network
        run_tasks(fn, tasks, executor=executor, max_in_flight=in_flight, on_result=on_result)

    def _shipped(self, executor: Executor, rs: Responses) -> Any:
        """The network (``rs``, a block of samples) as the executor's tasks take it: on dask.distributed, one
        copy scattered to every worker.

        A ``concurrent.futures`` executor pickles a task's arguments with each task; the network's weights
        (80 MB at ten million parameters) would then travel with every chunk.  ``Client.get_executor()``
        resolves futures among a task's arguments on the worker, so the scattered copy is sent once.  Other
        executors (threads, processes) get the network itself.
        """
        client = getattr(executor, "_client", None)  # distributed.client.ClientExecutor's client
        if client is None or not callable(getattr(client, "scatter", None)):
            return rs
        if self._scattered is None or self._scattered[0] is not client or self._scattered[1] is not rs:
            self._scattered = (client, rs, client.scatter(rs, broadcast=True, hash=False))
        return self._scattered[2]


def structured_gradient(net: DenseNet, X: Any, y: Any, method: str = "auto", *, seed: int | None = 0,
                        progress: Progress | None = None, executor: Executor | None = None,
                        memory_budget: int = DEFAULT_MEMORY_BUDGET) -> NumericalGradient:
    """Numerical ∂L/∂θ of a DenseNet by the structured engine.

    Parameters
    ----------
    net : DenseNet
    X : array_like of shape (N, n_0)
    y : array_like of shape (N, n_L), or (N,) for one output
    method : {'auto', 'forward', 'backward', 'central', 'central4', 'richardson', 'complex'}
        As for :func:`gradcheck.numerical.gradient.numerical_gradient`; ``'auto'`` is the
        complex step.
    seed : int or None
        Seed of the measurement of the loss noise σ.
    progress : callable, optional
        ``progress(done, total)`` in entries.
    executor : concurrent.futures.Executor, optional
        Runs the chunks; default: the calling thread.
    memory_budget : int
        Bytes of extra working memory (default 256 MB).

    Returns
    -------
    NumericalGradient
        Values, error estimates and steps as the generic engine would give,
        up to its rounding; ``notes`` records the chunking.

    Examples
    --------
    >>> import gradcheck as gc
    >>> net = gc.DenseNet([3, 4, 4, 1], seed=0)
    >>> X, y = gc.xor_data()
    >>> g = structured_gradient(net, X, y, "central")
    >>> bool(np.allclose(g.values["W1"], net.gradients(X, y)["W1"], rtol=1e-6, atol=1e-9))
    True
    """
    if not isinstance(net, DenseNet):
        raise InvalidArgument(f"net: expected a gradcheck.DenseNet, got {describe(net)}")
    opts = run_options(executor, False, memory_budget)
    X, y = net.checked_data(X, y, copy=True)
    engine = StructuredEngine.for_params(net, X, y, executor=opts.executor, memory_budget=opts.memory_budget)
    return engine.gradient(method, seed=seed, progress=progress)

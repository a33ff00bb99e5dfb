"""Derivatives at kinks: one-sided measurements where a difference stencil would cross one.

A ReLU unit has a kink at z = 0, where its derivative jumps from 0 to 1.  A
difference stencil whose points lie on both sides of a kink measures neither
derivative: at z = 0 exactly, central differences give ½ where backprop gives
0 (or 1), and checkers that compare the two fail a correct network.

For every entry θ_i of a check, this module decides whether the stencil of
the method in use would change the side of the kink some kinked pre-activation
z is on (the *sides* of the network: sign(z − kink) of every kinked unit).
Such an entry is measured instead by one-sided rules ('forward' on the right,
'backward' on the left of θ_i), each with the largest step, halved from the
rule's own, whose points all lie on the piece adjacent to θ_i on that side.
Its verdict then follows the subgradient rule:

* the analytic value passes when it equals either one-sided derivative, or
  lies between them (at a kink every value in between is a valid subgradient);
* it fails when it lies outside, by more than the tolerance;
* it is *inconclusive* when no step avoids the kink on a side whose
  derivative would decide it.

The engine wrapper :class:`KinkEngine` does this around any engine: entries
whose stencil crosses no kink keep the engine's numbers; a kink entry's
numerical value becomes the point of [min(D₋, D₊), max(D₋, D₊)] nearest to the
analytic value (so the ordinary tolerance comparison applies the rule), with
the error estimate of the one-sided measurement(s) that bound it.

Which entries need the exact test is screened first by a rigorous bound: a
change s of z_l[n, j] moves the pre-activations of layer m > l by at most
s·P_l^(m)[j, :], with P built from |W| and the activations' Lipschitz
constants, so an entry whose stencil cannot move any kinked unit as far as its
kink is skipped without a forward pass.

The complex step does not move real parts at all; it measures the derivative
of the piece θ lies on.  That is only ambiguous when θ is within rounding of a
kink, so for it the stencil's reach is ``AT_KINK`` times the forward rule's step.

Memory.  Nothing here is held for every sample beyond one byte per kinked unit
and sample (the sides at θ): the sides of a moved point are formed a block of
samples at a time (a δ entry moves its own sample only: its row's pass alone;
a float64 network's parameter moves, from the pass at θ, take one column of 8
bytes a sample and a block of the rows they reach, see
:mod:`~gradcheck.numerical.kink_sides`),
the screen's thresholds are kept only within ``keep_bytes`` and otherwise formed
by blocks of samples, a row-local group is screened by blocks of rows, and its
kink entries are patched into RowChunks values (:func:`project`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from ..model.network import DenseNet
from .chunked import RowChunks, take, whole
from .engine import Engine, NumericalGradient
from .kink_sides import MovedSides
from .progress import ProgressTracker
from .rules import RULES, apply_rule
from .steps import rule_steps

__all__ = ["KinkEntry", "KinkEngine", "KinkScreen", "kink_label", "project", "AT_KINK", "MAX_HALVINGS"]

#: Points closer to θ than this fraction of the forward step count as θ itself: a
#: kink that near (about 100 ε relative) is "at θ" to within rounding.
AT_KINK = 1e-6
#: Halvings of a one-sided step before the side is given up as inconclusive:
#: beyond 2⁻¹⁴ of the rule's step, round-off swamps the derivative.
MAX_HALVINGS = 14

#: The last tenth of a kink engine's progress: its screens and one-sided measurements (the base
#: engine's pass reports within the first nine tenths).
KINK_SHARE = 0.1

#: ``sides(point, rows) -> int8 array (rows, units)``: sign(z − kink) of every kinked unit of samples ``rows``.
Sides = Callable[[dict[str, np.ndarray], slice], np.ndarray]


@dataclass
class KinkEntry:
    """One entry judged at a kink.

    Attributes
    ----------
    index : tuple of int
        The entry in its group.
    left, right : float
        The one-sided derivatives D₋ and D₊ (NaN: no step avoided the kink on that side).
    left_error, right_error : float
        Their error estimates.
    inconclusive : bool
        Whether the entry could not be decided.
    """

    index: tuple[int, ...]
    left: float
    right: float
    left_error: float
    right_error: float
    inconclusive: bool = False

    def bounds(self) -> tuple[float, float]:
        """The interval of valid subgradients, [min(D₋, D₊), max(D₋, D₊)], over the measured sides."""
        vals = [v for v in (self.left, self.right) if np.isfinite(v)]
        return (min(vals), max(vals)) if vals else (np.nan, np.nan)

    def describe(self, group: str) -> str:
        ix = ", ".join(map(str, self.index))
        if self.inconclusive:
            return f"{group}({ix}) undecided"
        return f"{group}({ix}) one-sided {_g(self.left)} … {_g(self.right)}"


def _fractions(tracker: ProgressTracker, amount: float) -> Callable[[float], None]:
    """``tick(f)``: advance ``tracker`` by the fraction f of ``amount``."""
    return lambda f: tracker.advance(f * amount)


def _g(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{v + 0.0:.4g}"  # + 0.0: no "-0"


def kink_label(net: DenseNet) -> str:
    """'ReLU', 'leaky ReLU' or 'ReLU/leaky ReLU': the kinked activations of ``net``, in words."""
    names = {"leaky ReLU" if f.name.startswith("leaky") else "ReLU" for f in net.activations if f.kinks}
    return "/".join(sorted(names)) or "no"


def nearest(entry: KinkEntry, t: float) -> tuple[float, float]:
    """(value, error) of a kink entry: the point of its interval nearest the value under test ``t``.

    An inconclusive entry takes ``t`` itself with error 0 (it is judged by the
    group's inconclusive verdict, not by the comparison).
    """
    if entry.inconclusive:
        return t, 0.0
    lo, hi = entry.bounds()
    v = min(max(t, lo), hi) if np.isfinite(t) else lo
    # The estimate of the side(s) that bound the value.
    near = [err for d, err in ((entry.left, entry.left_error), (entry.right, entry.right_error))
            if np.isfinite(d) and (v == d or lo < v < hi)]
    return v, (max(near) if near else max(entry.left_error, entry.right_error))


def project(values: np.ndarray | RowChunks, errors: np.ndarray | RowChunks, target: np.ndarray | RowChunks,
            entries: list[KinkEntry]) -> tuple[Any, Any]:
    """Kink entries of ``values`` replaced by the point of their interval nearest ``target``.

    Parameters
    ----------
    values, errors : ndarray or RowChunks, the group's shape
        Numerical values and their error estimates (not modified).
    target : ndarray or RowChunks, the group's shape
        The values under test (analytic values, or a formula's prediction).
    entries : list of KinkEntry

    Returns
    -------
    values, errors : ndarray, the group's shape, or RowChunks
        Copies with the entries set by :func:`nearest`; when either input is a
        RowChunks (a group measured by blocks of samples) both are RowChunks
        with the entries patched in, nothing formed whole.
    """
    shape = tuple(np.shape(values) if not isinstance(values, RowChunks) else values.shape)
    if isinstance(values, RowChunks) or isinstance(errors, RowChunks):
        idx = np.asarray([np.ravel_multi_index(e.index, shape) for e in entries], dtype=np.intp)
        t = take(target, idx)
        pairs = np.asarray([nearest(e, float(ti)) for e, ti in zip(entries, t, strict=True)],
                           dtype=np.float64).reshape(-1, 2)
        return _as_rows(values).patched(idx, pairs[:, 0]), _as_rows(errors).patched(idx, pairs[:, 1])
    values, errors = np.array(values, dtype=np.float64), np.array(errors, dtype=np.float64)
    target = np.asarray(whole(target), dtype=np.float64)
    for e in entries:
        values[e.index], errors[e.index] = nearest(e, float(target[e.index]))
    return values, errors


def _as_rows(x: np.ndarray | RowChunks) -> RowChunks:
    if isinstance(x, RowChunks):
        return x
    a = np.asarray(x, dtype=np.float64)
    return RowChunks(a.shape, lambda r: a[r])


#: Floats of one block of the screen's per-sample moves (256 kB): small beside any memory budget.
SCREEN_ELEMENTS = 2**15


@dataclass
class KinkScreen:
    """Rigorous screen: which entries' stencils could reach a kink at all.

    Parameters
    ----------
    net : DenseNet
    cache : ForwardCache
        The forward pass at the checked point (from X, or from some z_l).
    keep_bytes : int, optional
        A layer's thresholds (8 bytes per unit and sample) are kept between screens when they
        take at most this many bytes (None: always); otherwise every screen forms them a block
        of samples at a time (row n depends on sample n alone: the same numbers).
    """

    net: DenseNet
    cache: Any
    keep_bytes: int | None = None
    _thresholds: dict[int, np.ndarray] = field(default_factory=dict)

    def _distance(self, m: int, rows: slice) -> np.ndarray | None:
        """min over kinks of |z_m − kink| of samples ``rows``, shape (rows, n_m); None for a smooth layer."""
        kinks = self.net.activations[m - 1].kinks
        if not kinks:
            return None
        z = np.asarray(self.cache.z(m)[rows], dtype=np.float64)
        return np.min([np.abs(z - k) for k in kinks], axis=0)

    def threshold(self, layer: int, rows: slice | None = None) -> np.ndarray:
        """r[n, j]: the smallest change of z_layer[n, j] that could move a kinked unit to its kink.

        Shape (N, n_l), or (len(rows), n_l) for the samples ``rows``.
        """
        if layer in self._thresholds:
            r = self._thresholds[layer]
            return r if rows is None else r[rows]
        N, n_l = np.shape(self.cache.z(layer))
        keep = self.keep_bytes is None or 8 * N * n_l <= self.keep_bytes
        if rows is not None and not keep:
            return self._formed(layer, rows)
        r = self._formed(layer, slice(0, N))
        if keep:
            self._thresholds[layer] = r
        return r if rows is None else r[rows]

    def kept(self, layer: int) -> np.ndarray | None:
        """The thresholds of every sample of ``layer`` (:meth:`threshold`) if they are kept; else None."""
        N, n_l = np.shape(self.cache.z(layer))
        if layer in self._thresholds or self.keep_bytes is None or 8 * N * n_l <= self.keep_bytes:
            return self.threshold(layer)
        return None

    def blocks(self, layer: int) -> list[slice]:
        """Blocks of samples whose thresholds one screen step forms (:data:`SCREEN_ELEMENTS` floats)."""
        N, n_l = np.shape(self.cache.z(layer))
        step = max(1, SCREEN_ELEMENTS // max(1, n_l))
        return [slice(s, min(N, s + step)) for s in range(0, N, step)]

    def _formed(self, layer: int, rows: slice) -> np.ndarray:
        net = self.net
        n_l = np.shape(self.cache.z(layer))[1]
        d = self._distance(layer, rows)
        r = np.full((len(range(*rows.indices(np.shape(self.cache.z(layer))[0]))), n_l), np.inf)  # (rows, n_l)
        if d is not None:
            r = np.minimum(r, d)
        P = np.eye(n_l)
        for m in range(layer + 1, net.n_layers + 1):
            P = net.activations[m - 2].lipschitz * (P @ np.abs(np.asarray(net.params[f"W{m}"], dtype=np.float64)))
            d = self._distance(m, rows)
            if d is None:
                continue
            reaches = P > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                for n in range(r.shape[0]):
                    ratio = np.where(reaches, d[n][None, :] / P, np.inf)
                    r[n] = np.minimum(r[n], ratio.min(axis=1))
        return r

    def release(self) -> None:
        """Drop the kept thresholds (8 bytes per unit and sample); they are formed again if asked."""
        self._thresholds.clear()

    def candidates(self, group: str, layer: int, reach: np.ndarray, start: int = 0) -> np.ndarray:
        """Flat indices of the entries of ``group`` whose stencil (max move ``reach``) could reach a kink.

        ``group`` is 'W…', 'b…' (parameters of ``layer``) or 'z' (its pre-activations).
        The margin of 2 covers the rounding of the bound itself.  For 'z', ``reach`` may
        cover whole rows (samples) of the group from flat entry ``start`` on (a block of
        samples); the indices are the group's.
        """
        reach = np.asarray(reach, dtype=np.float64)
        n_l = np.shape(self.cache.z(layer))[1]
        if group == "z":
            first = start // n_l
            block = self.threshold(layer, slice(first, first + reach.size // n_l))
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.flatnonzero(2 * reach.reshape(block.shape) * (1.0 / block) >= 1) + start
        # 1/r is formed a block of samples at a time (8 bytes per unit and sample whole); 1/min r = max 1/r.
        if group.startswith("b"):
            low = np.full(n_l, np.inf)
            for part in self.blocks(layer):
                np.minimum(low, self.threshold(layer, part).min(axis=0, initial=np.inf), out=low)
            with np.errstate(divide="ignore"):
                near = 2 * reach.reshape(-1) * (1.0 / low) >= 1
        else:
            a_all = self.cache.a(layer - 1)
            M = np.zeros((a_all.shape[1], n_l))  # (n_{l−1}, n_l): every move is >= 0
            # The moves of every sample, input and unit would be N·n_{l−1}·n_l floats: their max over
            # the samples is taken a block of samples at a time (a max is exact: the same M).
            rows = max(1, SCREEN_ELEMENTS // max(1, M.size))
            for s in range(0, a_all.shape[0], rows):
                a = np.abs(np.asarray(a_all[s:s + rows], dtype=np.float64))
                with np.errstate(divide="ignore"):
                    inv = 1.0 / self.threshold(layer, slice(s, s + rows))
                # An input of 0 does not move z at all, whatever the threshold (0·∞ is no move).
                with np.errstate(invalid="ignore"):
                    moved = np.where(a[:, :, None] > 0, a[:, :, None] * inv[:, None, :], 0.0)
                np.maximum(M, np.max(moved, axis=0), out=M)
            near = 2 * reach.reshape(M.shape) * M >= 1
        return np.flatnonzero(near)


class KinkEngine:
    """An engine whose kink entries are measured one-sided (see the module docstring).

    Parameters
    ----------
    base : Engine
        The engine for every other entry.
    loss : callable
        The loss of ``params`` (the one ``base`` differentiates).
    params : dict of str to ndarray
        The checked point.
    analytic : dict of str to ndarray
        The values under test, same keys and shapes (they choose the nearest valid subgradient).
    sides : callable
        ``sides(point, rows) -> int8 array (len(rows), units)``: sign(z − kink) of every kinked
        unit of samples ``rows`` at a point like ``params``.
    screen : callable
        ``screen(name, reach, start) -> flat indices``: the entries of group ``name`` whose stencil
        of largest move ``reach`` (per entry, from flat entry ``start`` on) could reach a kink.
    samples : int
        N, the samples the sides cover.
    block : int
        Samples per forward pass of the sides (their memory is one block's).
    row_local : bool
        The groups' rows are the samples (a delta group z_l): an entry of row n moves
        sample n's sides only, its values are projected by rows (RowChunks stay RowChunks)
        and the screen runs by blocks of rows.
    moved : MovedSides, optional
        The sides at θ and at θ with one entry moved, formed from the pass at θ for the
        samples the move reaches (:mod:`~gradcheck.numerical.kink_sides`); replaces
        ``sides`` for the parameter groups of a float64 network, and, when it
        :attr:`~MovedSides.forms_loss`, the loss calls of the one-sided measurements
        (``loss`` must then be that network's loss on its data).
    """

    def __init__(self, base: Engine, loss: Callable, params: dict[str, np.ndarray], analytic: dict[str, np.ndarray],
                 sides: Sides, screen: Callable[[str, np.ndarray, int], np.ndarray], *, samples: int,
                 block: int, row_local: bool = False, moved: MovedSides | None = None) -> None:
        self.base, self.loss, self.analytic, self.sides, self.screen = base, loss, analytic, sides, screen
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        self.kinks: dict[str, list[KinkEntry]] = {}
        self.n_evaluations = 0
        self.row_local = row_local
        self.moved = None if row_local else moved
        self._blocks = [slice(s, min(samples, s + max(1, block))) for s in range(0, samples, max(1, block))]
        self._base_sides = self.moved.base() if self.moved is not None else self._all_sides(self.params)

    # -- the engine protocol -------------------------------------------------

    @property
    def measured_loss_noise(self) -> float | None:
        return self.base.measured_loss_noise

    def gradient(self, method: str, *, seed: int | None = 0, progress: Any = None) -> NumericalGradient:
        total = sum(p.size for p in self.params.values())
        head = None if progress is None else (lambda done, of: progress(int(done * (1 - KINK_SHARE)), of))
        ng = self.base.gradient(method, seed=seed, progress=head)
        # The kinks' share of the bar, by the groups' sizes: half for a group's screen, half for its
        # one-sided entries.
        tracker = ProgressTracker(total, progress)
        tracker.advance(total * (1 - KINK_SHARE))
        eps = float(np.finfo(ng.precision).eps)
        values, errors = dict(ng.values), dict(ng.errors)
        before = self.n_evaluations
        for name in self.params:
            used, share = ng.methods[name], KINK_SHARE * self.params[name].size
            if used not in RULES:
                tracker.advance(share)
                continue  # methods that choose their own steps (SciPy's) are not screened
            idx = self._crossing(name, used, ng.steps[name], eps, tick=_fractions(tracker, share / 2))
            if not idx.size:
                tracker.advance(share / 2)
            else:
                each = share / 2 / idx.size
                self._measure(name, idx, ng.loss_value, eps, ng.loss_noise,
                              tick=partial(tracker.advance, each))
                if self.row_local:
                    values[name], errors[name] = project(values[name], errors[name], self.analytic[name],
                                                         self.kinks[name])
                else:
                    values[name], errors[name] = project(whole(values[name]), whole(errors[name]),
                                                         self.analytic[name], self.kinks[name])
        tracker.finish()
        return replace(ng, values=values, errors=errors,
                       n_evaluations=ng.n_evaluations + self.n_evaluations - before)

    def remeasure(self, method: str, name: str, idx: np.ndarray, *, f0: float, eps: float,
                  loss_noise: float, progress: Any = None,
                  step_factor: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The base engine's remeasure, except for entries at a kink or whose new stencil crosses one."""
        idx = np.asarray(idx, dtype=np.intp)
        shape = self.params[name].shape
        theta = self.params[name]
        scale = getattr(self.base, "scales", {}).get(name, 1.0)

        def stepped(r: slice) -> np.ndarray:
            # The steps of rows r (a group's steps are formed by rows: 8 bytes per entry whole).
            part = theta[r] if theta.ndim else theta
            sc = scale if np.ndim(scale) == 0 else np.reshape(scale, shape)[r]
            h = rule_steps(method, part, eps, sc)
            return (part + h * step_factor) - part if step_factor != 1.0 else h

        steps = RowChunks(shape, stepped) if theta.ndim else stepped(slice(None)).reshape(1)
        h = take(steps, idx)
        before = self.n_evaluations
        known = {int(np.ravel_multi_index(e.index, shape)) for e in self.kinks.get(name, [])}
        crossing = self._crossing(name, method, steps, eps, among=np.setdiff1d(idx, list(known)))
        if crossing.size:
            self._measure(name, crossing, f0, eps, loss_noise)
        judged = np.isin(idx, list(known) + list(crossing))
        vals, errs = np.empty(len(idx)), np.empty(len(idx))
        n = 0
        if (~judged).any():
            v, e, _, n = self.base.remeasure(method, name, idx[~judged], f0=f0, eps=eps, loss_noise=loss_noise,
                                             progress=progress, step_factor=step_factor)
            vals[~judged], errs[~judged] = v, e
        if judged.any():
            # Only the judged entries: their values and errors from their intervals.
            found = {int(np.ravel_multi_index(e.index, shape)): e for e in self.kinks[name]}
            target = np.asarray(self.analytic[name], dtype=np.float64).reshape(-1)
            for k in np.flatnonzero(judged):
                vals[k], errs[k] = nearest(found[int(idx[k])], float(target[idx[k]]))
        return vals, errs, h, n + self.n_evaluations - before

    # -- kinks ------------------------------------------------------------------

    def _crossing(self, name: str, method: str, h: np.ndarray | RowChunks, eps: float,
                  among: np.ndarray | None = None, tick: Callable[[float], None] | None = None) -> np.ndarray:
        """Flat indices of the entries whose stencil changes the sides of the network.

        A row-local group is screened a block of rows at a time (its steps and reaches
        are 8 bytes per entry whole).  ``tick(f)``: a fraction f of the group was screened.
        """
        theta = self.params[name].reshape(-1)
        complex_step = RULES[method].exponent is None
        offsets = [1.0, -1.0] if complex_step else [float(np.real(o)) for o in RULES[method].offsets]
        width = max(1, int(np.prod(self.params[name].shape[1:]))) if self.row_local else max(1, theta.size)
        per = max(1, SCREEN_ELEMENTS // width) * width if self.row_local else max(1, theta.size)
        found = []
        for s in range(0, theta.size, per):
            sl = slice(s, min(theta.size, s + per))
            if complex_step:
                # The complex step: only a kink within rounding of θ is ambiguous.
                moves = AT_KINK * rule_steps("forward", theta[sl], eps)
            else:
                moves = h.flat(sl) if isinstance(h, RowChunks) else np.asarray(h, dtype=np.float64).reshape(-1)[sl]
            cand = self.screen(name, float(np.max(np.abs(offsets))) * moves, s)
            if among is not None:
                cand = np.intersect1d(cand, among)
            for i in cand:
                if any(not self._same_sides(name, int(i), o * moves[int(i) - s]) for o in offsets):
                    found.append(int(i))
                if tick is not None:
                    tick((sl.stop - sl.start) / theta.size / len(cand))
            if tick is not None and not len(cand):
                tick((sl.stop - sl.start) / theta.size)
        return np.asarray(found, dtype=np.intp)

    def _at(self, name: str, i: int, t: float) -> dict[str, np.ndarray]:
        point = dict(self.params)
        p = self.params[name].copy()
        p.flat[i] += t
        point[name] = p
        return point

    def _all_sides(self, point: dict[str, np.ndarray]) -> np.ndarray:
        """The sides of every sample at ``point``, one block of samples per forward pass; (N, units)."""
        return np.concatenate([self.sides(point, rows) for rows in self._blocks])

    def _sides_at(self, name: str, i: int, t: float) -> tuple[np.ndarray, slice | np.ndarray]:
        """(sides, the samples they are of) with entry ``i`` of group ``name`` moved by ``t``.

        A row-local entry moves its own sample only: that row's pass alone.  With
        :attr:`moved`, the samples the move reaches (index array): every other is as at θ.
        """
        if self.moved is not None:
            rows, sides = self.moved.moved(name, i, t)
            return sides, rows
        if not self.row_local:
            return self._all_sides(self._at(name, i, t)), slice(None)
        p = self.params[name]
        width = max(1, int(np.prod(p.shape[1:])))
        n = i // width
        row = np.array(p[n:n + 1], dtype=np.float64)
        row.flat[i - n * width] += t
        return self.sides({name: row}, slice(0, 1)), slice(n, n + 1)

    def _same_sides(self, name: str, i: int, t: float,
                    ref: tuple[np.ndarray, slice | np.ndarray] | None = None) -> bool:
        """Whether moving entry ``i`` by ``t`` gives the sides ``ref`` (a :meth:`_sides_at`; None: θ's)."""
        sides, rows = self._sides_at(name, i, t)
        if ref is None:
            ref = (self._base_sides[rows], rows) if isinstance(rows, slice) else \
                (np.zeros((0, sides.shape[1]), np.int8), np.zeros(0, np.intp))
        ref_sides, ref_rows = ref
        if isinstance(rows, slice) or isinstance(ref_rows, slice):
            return bool(np.array_equal(sides, ref_sides))
        # Sample sets of two moves: outside each, the sides are θ's.
        if np.array_equal(rows, ref_rows):
            return bool(np.array_equal(sides, ref_sides))
        union = np.union1d(rows, ref_rows)
        a, b = self._base_sides[union], self._base_sides[union]
        a[np.searchsorted(union, rows)] = sides
        b[np.searchsorted(union, ref_rows)] = ref_sides
        return bool(np.array_equal(a, b))

    def _one_side(self, name: str, i: int, rule: str, f0: float, eps: float,
                  loss_noise: float) -> tuple[float, float]:
        """(D, error) by ``rule`` with the largest halved step whose points share one piece; NaN: none does."""
        theta = self.params[name].reshape(-1)
        offsets = RULES[rule].offsets
        h = float(rule_steps(rule, theta[i:i + 1], eps)[0])
        # The piece adjacent to θ on this side: its sides just off θ (of every sample; row-local: in place).
        ref = self._sides_at(name, i, float(np.sign(np.real(offsets[0]))) * AT_KINK * h)
        for _ in range(MAX_HALVINGS + 1):
            if all(self._same_sides(name, i, float(np.real(o)) * h, ref) for o in offsets):
                ts = [float(np.real(o)) * h for o in offsets]
                if self.moved is not None and self.moved.forms_loss:
                    D = np.asarray([[self.moved.loss_change(name, i, t) for t in ts]])
                else:
                    D = np.asarray([[float(np.real(self.loss(self._at(name, i, t)))) for t in ts]]) - f0
                self.n_evaluations += len(ts)
                v, e = apply_rule(rule, D, f0, np.asarray([h]), eps, loss_noise)
                return float(v[0]), float(e[0])
            h /= 2
        return np.nan, np.nan

    def _measure(self, name: str, idx: np.ndarray, f0: float, eps: float, loss_noise: float,
                 tick: Callable[[], None] | None = None) -> None:
        """Measure the entries ``idx`` one-sided on both sides and record them in :attr:`kinks`.

        ``tick()``: one more entry measured.
        """
        shape = self.params[name].shape
        entries = self.kinks.setdefault(name, [])
        known = {e.index for e in entries}
        for i in idx:
            index = tuple(int(k) for k in np.unravel_index(int(i), shape))
            if index not in known:
                left, le = self._one_side(name, int(i), "backward", f0, eps, loss_noise)
                right, re = self._one_side(name, int(i), "forward", f0, eps, loss_noise)
                # A side out of reach could have been the one the analytic value matches.
                entries.append(KinkEntry(index, left, right, le, re,
                                         inconclusive=not (np.isfinite(left) and np.isfinite(right))))
            if tick is not None:
                tick()

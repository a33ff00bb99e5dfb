"""One parameter entry moved: the sides of the kinks and the loss's change, formed from the pass at θ.

The kink engine (:mod:`gradcheck.numerical.kinks`) asks, for every entry whose
stencil the screen cannot clear, whether moving that entry by t changes
sign(z − kink) of some kinked unit in some sample, and measures the entries
that do one-sided.  A fresh forward pass per question (and a loss call per
one-sided point) costs the whole network over every sample, and on a large N
nearly every weight's stencil is screened in, since some sample is near a
kink: 85 s of sides and 17 s of loss calls in the 106 s bare central check of
a ReLU 32-64-32-8 net at N = 10⁴.

Moving W_l[j, u] by t changes z_l[n, u] by t·a_{l−1}[n, j] and nothing in the
layers before l; moving b_l[u] adds t to the whole column.  A sample whose
activations a_m come out bit-for-bit as at θ keeps every later layer as at θ.
So the moved point differs from θ only in the samples the move reaches, and
those are formed as the pass at θ plus the change,

    z_{m+1}[rows] = z_{m+1}(θ)[rows] + (a_m(moved) − a_m(θ))[rows] · W_{m+1},

restricted at every layer to the rows whose activations changed (near a ReLU
most units are off, and a unit that stays off changes no later layer).  The
sides need this only up to the last kinked layer.  A row whose input did not
change keeps its pre-activations exactly, so the sides differ from θ's only
where the move, not a summation order, reaches.

The loss is a sum of per-sample terms (times 1/N for a mean) plus the weight
decay, so L(θ + t·e_i) − L(θ) is the change of the reached samples' terms and
of the decay's one term.  Formed that way, it rounds at the scale of those
terms only, below the rounding of the two whole loss values the rules' error
model charges (:func:`~gradcheck.numerical.rules.apply_rule`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..model.network import DenseNet, ForwardCache

__all__ = ["MovedSides"]


class MovedSides:
    """The sides of every kinked unit at θ, and at θ with one parameter entry moved.

    Parameters
    ----------
    net : DenseNet
        A float64 network (its pass at θ is the one the moves are measured from).
    cache : ForwardCache
        The forward pass at the network's parameters over all N samples, from X
        (a_0 = X); held, not copied.
    block : int
        Samples per block of the formed rows (their memory is one block's).
    y : ndarray of shape (N, n_L), optional
        The targets: with them, :meth:`loss_change` forms the network loss's change.
    thresholds : callable, optional
        ``thresholds(l)``: r[n, u], the smallest change of z_l[n, u] that could move a kinked
        unit to its kink (:meth:`~gradcheck.numerical.kinks.KinkScreen.kept`), or None when
        they are not held; with them, only the samples a move could flip are formed.

    Notes
    -----
    The sides' columns are laid out as the kink engine's fresh passes lay them
    out (:class:`gradcheck.verify.kinks.KinkRegistry`): every kinked layer in
    order, every kink of its activation, the layer's units.
    """

    def __init__(self, net: DenseNet, cache: ForwardCache, block: int, y: np.ndarray | None = None,
                 thresholds: Callable[[int], np.ndarray | None] | None = None) -> None:
        self.net, self.cache, self.block, self.y, self.thresholds = net, cache, max(1, block), y, thresholds
        self.kinked = [l for l in range(1, net.n_layers + 1) if net.activations[l - 1].kinks]
        self.last = max(self.kinked, default=0)
        # The first column of every (kinked layer, kink) in the sides.
        self.offset: dict[tuple[int, float], int] = {}
        col = 0
        for l in self.kinked:
            for k in net.activations[l - 1].kinks:
                self.offset[(l, k)] = col
                col += net.sizes[l]
        self.units = col
        self._base: np.ndarray | None = None

    def base(self) -> np.ndarray:
        """sign(z − kink) of every kinked unit at θ; int8 (N, units), formed once and held."""
        if self._base is None:
            n = self.cache.z(1).shape[0]
            out = np.empty((n, self.units), dtype=np.int8)
            for (l, k), c in self.offset.items():
                z = self.cache.z(l)
                for s in range(0, n, self.block):
                    out[s:s + self.block, c:c + z.shape[1]] = np.sign(z[s:s + self.block] - k)
            self._base = out
        return self._base

    def moved(self, name: str, i: int, t: float) -> tuple[np.ndarray, np.ndarray]:
        """The samples whose sides the move changes, and their sides.

        Parameters
        ----------
        name : str
            A parameter group, ``'W<l>'`` or ``'b<l>'``.
        i : int
            The flat index of the entry in the group.
        t : float
            The move.

        Returns
        -------
        rows : ndarray of intp, shape (R,)
            Ascending sample indices; every other sample's sides are as at θ.
        sides : ndarray of int8, shape (R, units)
        """
        l = int(name[1:])
        base = self.base()
        if l > self.last:
            return np.zeros(0, dtype=np.intp), np.zeros((0, self.units), dtype=np.int8)
        u, new_col, reached = self._moved_column(name, i, t)
        threshold = None if self.thresholds is None else self.thresholds(l)
        if threshold is not None:
            # The screen's bound: a sample whose change stays below half its threshold flips nothing
            # (the 2 covers the bound's own rounding), so its sides are θ's without forming them.
            moved = np.abs(new_col[reached] - self.cache.z(l)[reached, u])
            reached = reached[2 * moved >= threshold[reached, u]]
        found = self._changes(l, u, reached, new_col[reached])
        if not found:
            return np.zeros(0, dtype=np.intp), np.zeros((0, self.units), dtype=np.int8)
        rows = np.unique(np.concatenate([r for r, _, _ in found]))
        sides = base[rows]
        for r, c, v in found:
            sides[np.searchsorted(rows, r), c:c + v.shape[1]] = v
        return rows, sides

    def _moved_column(self, name: str, i: int, t: float) -> tuple[int, np.ndarray, np.ndarray]:
        """(u, z_l[:, u] at the moved point, the samples where it differs from θ's)."""
        l, index = int(name[1:]), np.unravel_index(i, self.net.params[name].shape)
        u = int(index[-1])
        z_col = self.cache.z(l)[:, u]
        # W_l[j, u] moves z_l[:, u] by t·a_{l−1}[:, j]; b_l[u] by t.
        new_col = z_col + (t * self.cache.a(l - 1)[:, int(index[0])] if name[0] == "W" else float(t))
        return u, new_col, np.flatnonzero(new_col != z_col)

    def _stepped(self, l: int, u: int, rows: np.ndarray,
                 new_col: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, int | None]]:
        """a_l's change for z_l[rows, u] = ``new_col``, by blocks of the rows where a_l moved.

        Yields
        ------
        (rows, step, unit)
            Samples, a_l's change there ((len(rows), 1) for the one unit ``unit`` of an
            element-wise activation, else (len(rows), n_l) and None).
        """
        act, b = self.net.activations[l - 1], self.block
        if act.elementwise:
            # Only unit u moved: a rank-one change of the next layer, not a product with every unit.
            # One column over the reached samples is 8 bytes each, as the move's own.
            step = act.value(new_col[:, None]) - self.cache.a(l)[rows, u:u + 1]
            live = np.flatnonzero(step[:, 0] != 0)
            rows, step = rows[live], step[live]
            for s in range(0, rows.size, b):
                yield rows[s:s + b], step[s:s + b], u
            return
        for s in range(0, rows.size, b):
            r = rows[s:s + b]
            z = self.cache.z(l)[r]
            z[:, u] = new_col[s:s + b]
            step = act.value(z) - self.cache.a(l)[r]
            live = np.flatnonzero(np.any(step != 0, axis=1))
            yield r[live], step[live], None

    def _passes(self, l: int, u: int, rows: np.ndarray, new_col: np.ndarray,
                until: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """z_m at the moved point for layers l+1 … ``until``, by blocks of the rows whose inputs to it moved.

        Yields
        ------
        (m, rows, z)
            The layer, the samples, and their z_m (len(rows), n_m); every other sample keeps z_m as at θ.
        """
        net, cache = self.net, self.cache
        if until <= l:
            return
        for r, step, unit in self._stepped(l, u, rows, new_col):
            for m in range(l + 1, until + 1):
                if r.size == 0:
                    break
                W = net.params[f"W{m}"]
                z = cache.z(m)[r] + (step * W[unit] if unit is not None else step @ W)
                yield m, r, z
                if m == until:
                    break
                step, unit = net.activations[m - 1].value(z) - cache.a(m)[r], None
                live = np.flatnonzero(np.any(step != 0, axis=1))
                r, step = r[live], step[live]

    def _changes(self, l: int, u: int, rows: np.ndarray,
                 new_col: np.ndarray) -> list[tuple[np.ndarray, int, np.ndarray]]:
        """The sides that change when z_l[rows, u] becomes ``new_col``.

        Returns
        -------
        list of (rows, first column, sides)
            Samples, the first column of a block of the sides, and those samples' new
            values of that block (int8 (len(rows), width)).
        """
        net, base = self.net, self.base()
        found = []
        for k in net.activations[l - 1].kinks:
            c = self.offset[(l, k)] + u
            side = np.sign(new_col - k).astype(np.int8)
            flip = np.flatnonzero(side != base[rows, c])
            if flip.size:
                found.append((rows[flip], c, side[flip, None]))
        for m, r, z in self._passes(l, u, rows, new_col, self.last):
            for k in net.activations[m - 1].kinks:
                c = self.offset[(m, k)]
                side = np.sign(z - k).astype(np.int8)
                flip = np.flatnonzero(np.any(side != base[r, c:c + z.shape[1]], axis=1))
                if flip.size:
                    found.append((r[flip], c, side[flip]))
        return found

    @property
    def forms_loss(self) -> bool:
        """Whether :meth:`loss_change` can form the loss's change (the targets are known)."""
        return self.y is not None and self.net.criterion.reduction in ("sum", "half_sum", "mean")

    def loss_change(self, name: str, i: int, t: float) -> float:
        """L(θ + t·e_i) − L(θ) of the network's loss, from the samples the move reaches.

        The loss is a sum over samples (times 1/N for a mean) plus the weight decay, so
        its change is that of the reached samples' terms, each formed from the pass at θ
        plus the change as for the sides, and of the decay's one term,
        λ·t·(w + t/2).  Its rounding is that of those samples' terms only: at most
        that of two whole loss values, which the rules' error model charges.
        """
        net, cache, L = self.net, self.cache, self.net.n_layers
        l = int(name[1:])
        u, new_col, reached = self._moved_column(name, i, t)
        total = 0.0
        if l == L:
            for s in range(0, reached.size, self.block):
                rows = reached[s:s + self.block]
                z = cache.z(L)[rows]
                z[:, u] = new_col[rows]
                total += self._terms(z, net.activations[L - 1].value(z), rows) - self._old_terms(rows)
        else:
            for m, rows, z in self._passes(l, u, reached, new_col[reached], L):
                if m == L:
                    total += self._terms(z, net.activations[L - 1].value(z), rows) - self._old_terms(rows)
        if name[0] == "W" and net.weight_decay:
            w = float(net.params[name].flat[i])
            total += net.weight_decay * t * (w + t / 2)
        return total

    def _old_terms(self, rows: np.ndarray) -> float:
        """The loss terms of samples ``rows`` at θ."""
        L = self.net.n_layers
        return self._terms(self.cache.z(L)[rows], self.cache.a(L)[rows], rows)

    def _terms(self, z: np.ndarray, a: np.ndarray, rows: np.ndarray) -> float:
        """The loss terms of samples ``rows`` with output pre-activations ``z`` and outputs ``a``."""
        crit, y = self.net.criterion, self.y[rows]  # type: ignore[index]
        value = crit.from_logits(z, y) if crit.from_logits is not None else crit.value(a, y)
        # A mean's factor is 1/N of the whole data, not of these rows.
        return float(value) * (rows.size / self.y.shape[0] if crit.reduction == "mean" else 1.0)  # type: ignore[union-attr]

"""The sides of a network's kinks with one parameter moved, formed from the forward pass at θ.

The kink engine (:mod:`gradcheck.numerical.kinks`) asks, for every entry whose
stencil the screen cannot clear, whether moving that entry by t changes
sign(z − kink) of some kinked unit in some sample.  A fresh forward pass per
question costs the whole network over every sample, and on a large N nearly
every weight's stencil is screened in (some sample is near a kink): 85 of
106 s of a bare central check of a ReLU 32-64-32-8 net at N = 10⁴.

Moving W_l[j, u] by t changes z_l[n, u] by t·a_{l−1}[n, j] and nothing in the
layers before l; moving b_l[u] adds t to the whole column.  A sample whose
activations a_m come out bit-for-bit as at θ keeps every later layer as at θ.
So the sides at the moved point are those at θ except in the samples the move
reaches, and those are formed as the pass at θ plus the change:

    z_{m+1}[rows] = z_{m+1}(θ)[rows] + (a_m(moved) − a_m(θ))[rows] · W_{m+1},

restricted at every layer to the rows whose activations changed, and only up
to the last kinked layer (the sides need nothing beyond it).  Near a ReLU most
of a layer's units are off, and a unit that stays off changes no later layer,
so most moves touch few rows.  The change is formed from the difference, not
recomputed from scratch, so a row whose input did not change keeps its
pre-activations exactly: the sides differ from θ's only where the move, not
the summation order, reaches.
"""

from __future__ import annotations

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

    Notes
    -----
    The sides' columns are laid out as the kink engine's: every kinked layer in
    order, every kink of its activation, the layer's units (see
    :meth:`gradcheck.verify.kinks.KinkRegistry`).
    """

    def __init__(self, net: DenseNet, cache: ForwardCache, block: int) -> None:
        self.net, self.cache, self.block = net, cache, max(1, block)
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
        shape = self.net.params[name].shape
        z_col = self.cache.z(l)[:, int(np.unravel_index(i, shape)[-1])]
        if name[0] == "W":
            j, u = (int(v) for v in np.unravel_index(i, shape))
            new_col = z_col + t * self.cache.a(l - 1)[:, j]
        else:
            u = int(np.unravel_index(i, shape)[-1])
            new_col = z_col + float(t)
        reached = np.flatnonzero(new_col != z_col)
        found: list[tuple[np.ndarray, int, np.ndarray]] = []
        for s in range(0, reached.size, self.block):
            rows = reached[s:s + self.block]
            found += self._changes(l, u, rows, new_col[rows])
        if not found:
            return np.zeros(0, dtype=np.intp), np.zeros((0, self.units), dtype=np.int8)
        rows = np.unique(np.concatenate([r for r, _, _ in found]))
        sides = base[rows]
        for r, c, v in found:
            sides[np.searchsorted(rows, r), c:c + v.shape[1]] = v
        return rows, sides

    def _changes(self, l: int, u: int, rows: np.ndarray,
                 new_col: np.ndarray) -> list[tuple[np.ndarray, int, np.ndarray]]:
        """The sides that change when z_l[rows, u] becomes ``new_col``.

        Returns
        -------
        list of (rows, first column, sides)
            Samples, the first column of a block of the sides, and those samples' new
            values of that block (int8 (len(rows), width)).
        """
        net, cache, base = self.net, self.cache, self.base()
        found = []
        for k in net.activations[l - 1].kinks:
            c = self.offset[(l, k)] + u
            side = np.sign(new_col - k).astype(np.int8)
            flip = np.flatnonzero(side != base[rows, c])
            if flip.size:
                found.append((rows[flip], c, side[flip, None]))
        if l == self.last:
            return found
        act = net.activations[l - 1]
        if act.elementwise:
            # Only unit u moved: a rank-one change of the next layer, not a product with every unit.
            step = act.value(new_col[:, None]) - cache.a(l)[rows, u:u + 1]
            unit: int | None = u
        else:
            z = cache.z(l)[rows]
            z[:, u] = new_col
            step, unit = act.value(z) - cache.a(l)[rows], None
        live = np.flatnonzero(np.any(step != 0, axis=1))
        rows, step = rows[live], step[live]
        for m in range(l + 1, self.last + 1):
            if rows.size == 0:
                break
            W = net.params[f"W{m}"]
            # The rows whose inputs to layer m moved; every other keeps z_m exactly as at θ.
            z = cache.z(m)[rows] + (step * W[unit] if unit is not None else step @ W)
            for k in net.activations[m - 1].kinks:
                c = self.offset[(m, k)]
                side = np.sign(z - k).astype(np.int8)
                flip = np.flatnonzero(np.any(side != base[rows, c:c + z.shape[1]], axis=1))
                if flip.size:
                    found.append((rows[flip], c, side[flip]))
            if m == self.last:
                break
            step, unit = net.activations[m - 1].value(z) - cache.a(m)[rows], None
            live = np.flatnonzero(np.any(step != 0, axis=1))
            rows, step = rows[live], step[live]
        return found

"""A DenseNet's loss along a direction of one parameter group, at many steps per pass.

The Taylor test and the step sweep (:mod:`gradcheck.verify.convergence`)
need L(θ + t·v) for a direction v of one group and some hundred steps t
(real, and imaginary for the complex step).  Called through the loss
closure, each t is a full forward pass.  A direction in W_l or b_l only
moves layer l's pre-activations, by a fixed matrix:

    z_l(θ + t·v) = z_l + t·Δz,   Δz = a_{l−1} v   (v in W_l),   Δz = 1 vᵀ   (v in b_l)

so every t is the pass from layer l on, and the t of a request run as
stacked passes of shape (k·N, n_l) through layers l … L, the a_{l−1} product
made once.  Weight decay adds its exact change λ(t⟨W_l, v⟩ + t²⟨v, v⟩/2).

Memory.  The loss is a sum over samples, so when the passes over every
sample would exceed a quarter of the memory budget the samples run in
blocks (forward pass at rest, Δz and stacked passes of one block at a time)
and the blocks' losses are added; a ``mean`` weights each block by its share
of the samples.  What a request holds is then a few kB per sample of one
block, whatever N.

Rounding.  z_l + t·Δz and a_{l−1}(W_l + t·v) + b_l are the same number up to
the rounding of either form, about ε(|z_l| + |t|·|a_{l−1}||v|) per entry, and
the layers above round as the full pass does; so the values equal the loss
closure's to the forward pass's rounding, which is also the round-off that
the sweep's curves show at small steps.  L(θ) is evaluated in the same
stacked passes (t = 0 in every block), so the differences L(θ + t·v) − L(θ)
of a group do not mix two differently rounded evaluations of L(θ).  Blocks
change only the order in which the per-sample terms are added (and, for a
``mean``, one rounding of each block's weight).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..model.network import DenseNet, ForwardCache
from .responses import LINEAR_IMAG

__all__ = ["NetworkDirections", "SeededDirection", "seeded_directions", "DRAW_CHUNK"]

#: Entries of a direction drawn at a time (512 kB of float64): small beside any memory budget, and
#: numpy's generators give the same numbers drawn in pieces as in one call.
DRAW_CHUNK = 2**16


class SeededDirection:
    """A standard-normal direction of one group, drawn again from a saved generator state when it is read.

    A direction of a large group would take 8 bytes per parameter if kept; this
    one keeps the generator's state at its first draw and draws its entries in
    chunks of whole rows whenever they are needed, the same numbers each time
    (divided by ``divisor``: 1, or the norm for a unit direction).

    Parameters
    ----------
    state : dict
        ``numpy.random.PCG64().state`` just before the direction's first draw.
    shape : tuple of int
    norm : float
        ‖v‖ of the undivided draws.
    divisor : float
    """

    def __init__(self, state: Any, shape: tuple[int, ...], norm: float, divisor: float = 1.0) -> None:
        self.state, self.shape, self.norm, self.divisor = state, tuple(shape), norm, divisor

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def unit(self) -> SeededDirection:
        """The same direction divided by its norm (unchanged when the norm is 0)."""
        return SeededDirection(self.state, self.shape, self.norm, self.norm if self.norm > 0 else 1.0)

    def _generator(self) -> np.random.Generator:
        bits = np.random.PCG64()
        bits.state = copy.deepcopy(self.state)
        return np.random.Generator(bits)

    def chunks(self, entries: int = DRAW_CHUNK) -> Iterator[tuple[slice, np.ndarray]]:
        """(flat slice, flat entries) in order, ``entries`` at a time."""
        gen = self._generator()
        for start in range(0, self.size, max(1, entries)):
            stop = min(self.size, start + max(1, entries))
            v = gen.standard_normal(stop - start)
            yield slice(start, stop), v / self.divisor if self.divisor != 1.0 else v

    def full(self) -> np.ndarray:
        """The whole direction (the loss-call path, which moves the whole group at once)."""
        v = self._generator().standard_normal(self.size)
        return (v / self.divisor if self.divisor != 1.0 else v).reshape(self.shape)

    def dot(self, g: np.ndarray) -> float:
        """⟨g, v⟩, summed chunk by chunk (to rounding, the sum over the whole group)."""
        flat = np.asarray(g, dtype=np.float64).reshape(-1)
        if self.size <= DRAW_CHUNK:
            return float(np.sum(flat * self.full().reshape(-1)))
        return float(sum(np.sum(flat[sl] * v) for sl, v in self.chunks()))


def seeded_directions(shapes: dict[str, tuple[int, ...]], seed: int | None) -> dict[str, SeededDirection]:
    """Standard-normal directions drawn from ``numpy.random.default_rng(seed)`` for every group in order.

    The numbers are those of one ``rng.standard_normal(shape)`` call per group
    in that order; they are drawn once here (for each norm) and discarded.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        state = copy.deepcopy(rng.bit_generator.state)
        size = math.prod(shape)
        squares = 0.0
        for start in range(0, size, DRAW_CHUNK):
            v = rng.standard_normal(min(DRAW_CHUNK, size - start))
            squares += float(np.dot(v, v))
        out[name] = SeededDirection(state, tuple(shape), math.sqrt(squares))
    return out

#: Bytes of one block's arrays (its forward pass at rest, Δz, the stacked rows: the widest layer's z
#: and a of the rows, a few temporaries each).  Within the memory budget's quarter, as the structured
#: engine's chunks are.
PASS_BYTES = 16 * 2**20


class NetworkDirections:
    """L(θ + t·v) of a DenseNet for a direction v in one group and many t, by stacked passes.

    The loss is a sum over samples (divided by N for a ``mean`` reduction), so
    L(θ + t·v) is the sum of its blocks of samples' losses, each weighted by
    its share of the samples under ``mean``.  A request whose passes over all
    samples would exceed the block bytes (a quarter of ``memory_budget``, at
    most ``PASS_BYTES``) runs block by block: the block's forward pass at rest,
    its Δz and its stacked passes, then the next block.  L(θ) comes from the
    same blocked passes (t = 0 in every block's stack).  When all samples fit
    one block, its forward pass at rest is kept between requests.

    Parameters
    ----------
    net : DenseNet
    X : ndarray of shape (N, n_0)
    y : ndarray of shape (N, n_L)
        Validated data.
    memory_budget : int
        Bytes of extra memory the stacked passes may use.

    Attributes
    ----------
    complex_safe : bool
        True when the network carries a complex step faithfully by construction
        (no kinked activation), so that the sweep needs no probe for it.
    after : callable or None
        ``after(name)`` runs when a request for group ``name`` is done (the
        caller's progress report).
    blocks : int
        The most blocks of samples one request has run in (1: all samples at once).
    """

    def __init__(self, net: DenseNet, X: np.ndarray, y: np.ndarray, memory_budget: int) -> None:
        self.net = net
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in net.params.items()}
        self.X = np.asarray(X)  # cast to float64 a block at a time (no copy of every sample's inputs)
        self.y = np.asarray(y, dtype=np.float64)
        self.penalty = float(net.penalty(self.params))
        self.complex_safe = not net.kinked
        self.memory_budget = int(memory_budget)
        self.after: Callable[[str], None] | None = None
        self.blocks = 1
        # The samples' share of a mean's 1/N: a block's loss is its own sum divided by its own count.
        self._mean = net.criterion.reduction == "mean"
        self._kept: tuple[tuple[int, int], ForwardCache] | None = None

    def _row_bytes(self, layer: int, complex_rows: bool) -> int:
        """Bytes per stacked row: z and a of every layer from ``layer`` on, and temporaries of the widest."""
        sizes = self.net.sizes[layer:]
        return (16 if complex_rows else 8) * (2 * sum(sizes) + 4 * max(sizes))

    def _sample_bytes(self, layer: int) -> int:
        """Bytes per sample of a block besides its stacked rows: its forward pass at rest (z and a of every
        layer; a_0 is a view of X), Δz and the product's temporary."""
        return 8 * (2 * sum(self.net.sizes[1:]) + 2 * self.net.sizes[layer])

    def _room(self) -> int:
        """The block bytes: a quarter of the budget, at most PASS_BYTES."""
        return min(PASS_BYTES, self.memory_budget // 4)

    def _plan(self, layer: int, complex_rows: bool, n_steps: int) -> tuple[list[slice], int]:
        """(blocks of samples, steps per stacked pass) whose arrays fit the block bytes.

        Blocks as large as fit with one step per pass, then as many steps per
        pass as fit: every (block, step) pair costs a few numpy calls (its
        loss is evaluated on its own), so fewer, larger blocks are faster than
        more steps per pass; with one block its forward pass at rest is
        formed once for every request.
        """
        N, room = self.X.shape[0], self._room()
        fixed, per_step = self._sample_bytes(layer), self._row_bytes(layer, complex_rows)
        size = max(1, min(N, room // (fixed + per_step)))
        k = max(1, min(n_steps, (room - size * fixed) // (size * per_step)))
        if size == N:
            return [slice(0, N)], k
        self.blocks = max(self.blocks, -(-N // size))
        return [slice(s, min(N, s + size)) for s in range(0, N, size)], k

    def _at_rest(self, rows: slice) -> ForwardCache:
        """The forward pass at θ of samples ``rows``; the last one formed is kept (between requests only
        when it holds every sample)."""
        key = (rows.start, rows.stop)
        if self._kept is None or self._kept[0] != key:
            self._kept = None  # released before the next block's pass is formed
            self._kept = (key, self.net.forward_cache(np.asarray(self.X[rows], dtype=np.float64), self.params))
        return self._kept[1]

    def along(self, name: str, v: np.ndarray | SeededDirection, ts: np.ndarray,
              context: str = "") -> tuple[np.ndarray, Any]:
        """L(θ + t·v) for every t, and L(θ) from the same passes.

        Parameters
        ----------
        name : str
            The group, ``"W<l>"`` or ``"b<l>"``.
        v : ndarray of the group's shape, or SeededDirection
            A SeededDirection in W_l is read a block of rows at a time (Δz = Σ a_{l−1}[:, r] v[r]),
            once per block of samples unless the whole direction fits an eighth of the block bytes.
        ts : ndarray of shape (K,), float or complex
        context : str
            What the values are for (unused: no user code runs here).

        Returns
        -------
        values : ndarray of shape (K,)
            Complex when ``ts`` is.
        rest : float
            L(θ) as the same passes evaluate it.
        """
        layer, kind = int(name[1:]), name[0]
        if isinstance(v, SeededDirection) and (kind == "b" or 8 * v.size <= self._room() // 8):
            v = v.full()
        if not isinstance(v, SeededDirection):
            v = np.asarray(v, dtype=np.float64)
        ts = np.asarray(ts)
        out = np.zeros(ts.size, dtype=np.result_type(ts, np.float64))
        todo = np.ones(ts.size, dtype=bool)
        if np.iscomplexobj(ts) and ts.size > 1 and np.all(ts.real == 0) and np.any(ts != 0):
            todo = self._linear_steps(layer, kind, v, ts, out)
        stack = np.r_[np.zeros(1, ts.dtype), ts[todo]]
        found, _ = self._sums(layer, kind, v, stack)
        out[todo] = found[1:] + self.penalty
        if kind == "W" and self.net.weight_decay:
            W = self.params[name]
            if isinstance(v, SeededDirection):
                wv, vv = v.dot(W), (v.norm / v.divisor) ** 2
            else:
                wv, vv = float(np.sum(W * v)), float(np.sum(v * v))
            out = out + self.net.weight_decay * (ts * wv + 0.5 * ts * ts * vv)
        if self.after is not None:
            self.after(name)
        return out, float(np.real(found[0])) + self.penalty

    def _sums(self, layer: int, kind: str, v: np.ndarray | SeededDirection, ts: np.ndarray) -> tuple[np.ndarray, float]:
        """The output loss (no weight decay) at every t of ``ts``, summed over the blocks of samples, and
        the largest imaginary part per unit step of any block (see :meth:`_losses`)."""
        blocks, k = self._plan(layer, np.iscomplexobj(ts), ts.size)
        N = self.X.shape[0]
        values = np.zeros(ts.size, dtype=np.result_type(ts, np.float64))
        tangent = 0.0
        for rows in blocks:
            cache = self._at_rest(rows)
            dz = self._dz(layer, kind, v, cache)
            weight = (rows.stop - rows.start) / N if self._mean and len(blocks) > 1 else 1.0
            for s in range(0, ts.size, k):
                part, tan = self._losses(layer, cache, dz, ts[s:s + k], rows)
                values[s:s + k] += weight * part
                tangent = max(tangent, tan)
            del cache, dz  # the next block's pass at rest is formed without this one's alive
        if len(blocks) > 1:
            self._kept = None  # the next request starts from the first block: not held between requests
        return values, tangent

    @classmethod
    def _dz(cls, layer: int, kind: str, v: np.ndarray | SeededDirection, cache: ForwardCache) -> np.ndarray:
        """Δz of a block of samples, shape (N_block, n_layer): a_{l−1} v for a direction in W_l, v on every
        row for one in b_l."""
        if isinstance(v, SeededDirection):
            return cls._product(cache.a(layer - 1), v)
        if kind == "W":
            return cache.a(layer - 1) @ v
        return np.broadcast_to(v, (cache.z(layer).shape[0], v.size))

    @staticmethod
    def _product(a: np.ndarray, v: SeededDirection) -> np.ndarray:
        """Δz = a_{l−1} v for a direction in W_l, from blocks of whole rows of v."""
        n_out = v.shape[1]
        dz = np.zeros((a.shape[0], n_out))
        for sl, part in v.chunks(max(1, DRAW_CHUNK // n_out) * n_out):
            dz += a[:, sl.start // n_out: sl.stop // n_out] @ part.reshape(-1, n_out)
        return dz

    def _linear_steps(self, layer: int, kind: str, v: np.ndarray | SeededDirection, ts: np.ndarray,
                      out: np.ndarray) -> np.ndarray:
        """Fill ``out`` at the imaginary steps small enough to be linear; return the mask of the others.

        At t = ih, every activation's input gets an imaginary part h·T (T the
        tangent of the pass).  Where h·max|T| <= LINEAR_IMAG, the second-order
        terms of every activation and loss (relative size y²) are below 10⁻¹⁷,
        far below rounding: the real parts are L(θ)'s and the imaginary part
        is h times the same number, so one pass at the smallest step gives
        L(θ + ihv) for all of them, as evaluating each would, to rounding.
        With blocks of samples, max|T| is the largest over the blocks.
        """
        hs = np.abs(ts.imag)
        k = int(np.argmin(np.where(hs > 0, hs, np.inf)))
        value, tangent = self._sums(layer, kind, v, ts[k:k + 1])
        linear = hs * tangent <= LINEAR_IMAG
        linear[k] = True
        slope = value[0].imag / ts[k].imag
        out[linear] = value[0].real + self.penalty + 1j * ts[linear].imag * slope
        return ~linear

    def _losses(self, layer: int, cache: ForwardCache, dz: np.ndarray, ts: np.ndarray,
                rows: slice) -> tuple[np.ndarray, float]:
        """The output loss of samples ``rows`` at z_layer + t·dz for each t of ``ts`` (one stacked pass
        from layer ``layer``; ``cache`` and ``dz`` are the block's).

        Also returns max|Im z_m| / max|t| over the layers of the pass: the
        largest imaginary part per unit step (0 for real steps).
        """
        net, y = self.net, self.y[rows]
        z = cache.z(layer)
        K, (N, n) = ts.size, z.shape
        Z = (z[None] + ts[:, None, None] * dz[None]).reshape(K * N, n)
        top = net.forward_cache(None, self.params, start=layer, z=Z)  # type: ignore[arg-type]
        L = net.n_layers
        zL, aL = top.z(L), top.output
        values = np.array([net.output_loss(ForwardCache([zL[k * N:(k + 1) * N]], [aL[k * N:(k + 1) * N]], first=L), y)
                           for k in range(K)])
        tangent = 0.0
        if np.iscomplexobj(Z) and np.any(ts != 0):
            tangent = max(float(np.max(np.abs(zm.imag))) for zm in top.zs) / float(np.max(np.abs(ts)))
        return values, tangent

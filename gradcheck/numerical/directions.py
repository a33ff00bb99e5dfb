"""A DenseNet's loss along a direction of one parameter group, at many steps per pass.

The Taylor test and the step sweep (:mod:`gradcheck.verify.convergence`)
need L(θ + t·v) for a direction v of one group and some hundred steps t
(real, and imaginary for the complex step).  Called through the loss
closure, each t is a full forward pass.  A direction in W_l or b_l only
moves layer l's pre-activations, by a fixed matrix:

    z_l(θ + t·v) = z_l + t·Δz,   Δz = a_{l−1} v   (v in W_l),   Δz = 1 vᵀ   (v in b_l)

so every t is the pass from layer l on, and all the t of a request run as
one stacked pass of shape (K·N, n_l) through layers l … L, the cached
a_{l−1} product made once.  Weight decay adds its exact change
λ(t⟨W_l, v⟩ + t²⟨v, v⟩/2).

Rounding.  z_l + t·Δz and a_{l−1}(W_l + t·v) + b_l are the same number up to
the rounding of either form, about ε(|z_l| + |t|·|a_{l−1}||v|) per entry, and
the layers above round as the full pass does; so the values equal the loss
closure's to the forward pass's rounding, which is also the round-off that
the sweep's curves show at small steps.  L(θ) is evaluated in the same
stacked pass (t = 0), so the differences L(θ + t·v) − L(θ) of a group do not
mix two differently rounded evaluations of L(θ).
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

#: Bytes of stacked rows per pass: the widest layer's z and a of the rows, a few
#: temporaries each.  Within the memory budget's quarter, as the structured
#: engine's chunks are.
PASS_BYTES = 16 * 2**20


class NetworkDirections:
    """L(θ + t·v) of a DenseNet for a direction v in one group and many t, by stacked passes.

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
    """

    def __init__(self, net: DenseNet, X: np.ndarray, y: np.ndarray, memory_budget: int) -> None:
        self.net = net
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in net.params.items()}
        self.cache = net.forward_cache(np.asarray(X, dtype=np.float64), self.params)
        self.y = np.asarray(y, dtype=np.float64)
        self.penalty = float(net.penalty(self.params))
        self.complex_safe = not net.kinked
        self.memory_budget = int(memory_budget)
        self.after: Callable[[str], None] | None = None

    def _row_bytes(self, layer: int, complex_rows: bool) -> int:
        """Bytes per stacked row: z and a of every layer from ``layer`` on, and temporaries of the widest."""
        sizes = self.net.sizes[layer:]
        return (16 if complex_rows else 8) * (2 * sum(sizes) + 4 * max(sizes))

    def along(self, name: str, v: np.ndarray | SeededDirection, ts: np.ndarray,
              context: str = "") -> tuple[np.ndarray, Any]:
        """L(θ + t·v) for every t, and L(θ) from the same passes.

        Parameters
        ----------
        name : str
            The group, ``"W<l>"`` or ``"b<l>"``.
        v : ndarray of the group's shape, or SeededDirection
            A SeededDirection in W_l is read a block of rows at a time (Δz = Σ a_{l−1}[:, r] v[r]).
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
        N = self.cache.z(layer).shape[0]
        if kind == "b" or not isinstance(v, SeededDirection):
            v = np.asarray(v.full() if isinstance(v, SeededDirection) else v, dtype=np.float64)
            dz = self.cache.a(layer - 1) @ v if kind == "W" else np.broadcast_to(v, (N, v.size))
        else:
            dz = self._product(layer, v)
        ts = np.asarray(ts)
        out = np.zeros(ts.size, dtype=np.result_type(ts, np.float64))
        todo = np.ones(ts.size, dtype=bool)
        if np.iscomplexobj(ts) and ts.size > 1 and np.all(ts.real == 0) and np.any(ts != 0):
            todo = self._linear_steps(layer, dz, ts, out)
        stack = np.r_[np.zeros(1, ts.dtype), ts[todo]]
        per_t = N * self._row_bytes(layer, np.iscomplexobj(ts))
        k_max = max(1, min(PASS_BYTES, self.memory_budget // 4) // per_t)
        found = np.concatenate([self._losses(layer, dz, stack[s:s + k_max])[0]
                                for s in range(0, stack.size, k_max)])
        out[todo] = found[1:]
        if kind == "W" and self.net.weight_decay:
            W = self.params[name]
            if isinstance(v, SeededDirection):
                wv, vv = v.dot(W), (v.norm / v.divisor) ** 2
            else:
                wv, vv = float(np.sum(W * v)), float(np.sum(v * v))
            out = out + self.net.weight_decay * (ts * wv + 0.5 * ts * ts * vv)
        if self.after is not None:
            self.after(name)
        return out, float(np.real(found[0]))

    def _product(self, layer: int, v: SeededDirection) -> np.ndarray:
        """Δz = a_{l−1} v for a direction in W_l, from blocks of whole rows of v."""
        a = self.cache.a(layer - 1)
        n_out = v.shape[1]
        dz = np.zeros((a.shape[0], n_out))
        for sl, part in v.chunks(max(1, DRAW_CHUNK // n_out) * n_out):
            dz += a[:, sl.start // n_out: sl.stop // n_out] @ part.reshape(-1, n_out)
        return dz

    def _linear_steps(self, layer: int, dz: np.ndarray, ts: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` at the imaginary steps small enough to be linear; return the mask of the others.

        At t = ih, every activation's input gets an imaginary part h·T (T the
        tangent of the pass).  Where h·max|T| <= LINEAR_IMAG, the second-order
        terms of every activation and loss (relative size y²) are below 10⁻¹⁷,
        far below rounding: the real parts are L(θ)'s and the imaginary part
        is h times the same number, so one pass at the smallest step gives
        L(θ + ihv) for all of them, as evaluating each would, to rounding.
        """
        hs = np.abs(ts.imag)
        k = int(np.argmin(np.where(hs > 0, hs, np.inf)))
        value, tangent = self._losses(layer, dz, ts[k:k + 1])
        linear = hs * tangent <= LINEAR_IMAG
        linear[k] = True
        slope = value[0].imag / ts[k].imag
        out[linear] = value[0].real + 1j * ts[linear].imag * slope
        return ~linear

    def _losses(self, layer: int, dz: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, float]:
        """The loss at z_layer + t·dz for each t of ``ts`` (one stacked pass from layer ``layer``).

        Also returns max|Im z_m| / max|t| over the layers of the pass: the
        largest imaginary part per unit step (0 for real steps).
        """
        net, y = self.net, self.y
        z = self.cache.z(layer)
        K, (N, n) = ts.size, z.shape
        Z = (z[None] + ts[:, None, None] * dz[None]).reshape(K * N, n)
        top = net.forward_cache(None, self.params, start=layer, z=Z)  # type: ignore[arg-type]
        L = net.n_layers
        zL, aL = top.z(L), top.output
        values = np.array([net.output_loss(ForwardCache([zL[k * N:(k + 1) * N]], [aL[k * N:(k + 1) * N]], first=L), y)
                           for k in range(K)]) + self.penalty
        tangent = 0.0
        if np.iscomplexobj(Z) and np.any(ts != 0):
            tangent = max(float(np.max(np.abs(zm.imag))) for zm in top.zs) / float(np.max(np.abs(ts)))
        return values, tangent

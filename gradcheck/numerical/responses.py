"""What the structured engine models and what its workers run: a DenseNet at rest and its unit responses.

The structured engine (:mod:`gradcheck.numerical.structured`) evaluates the
loss change of a perturbation from the changed terms only; that needs a loss
that is a sum over samples of a function of the sample's output: an MSE loss
``c·Σ(a_L − y)²`` of element-wise layers, or cross-entropy with a sigmoid or
softmax output (:mod:`gradcheck.numerical.output_loss`) above element-wise hidden
layers.  Weight decay adds its own exact term.  Other networks (MSE of a softmax
output) go to the generic engine.
The unit responses ψ (see the engine's docstring) and the three kinds of
chunk a worker runs (:func:`units_task`, :func:`entries_task`,
:func:`pairs_task`) are here, apart from the engine that plans them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..model.activations import Activation
from ..model.network import DenseNet, ForwardCache
from .chebyshev import chebyshev_transform
from .output_loss import (
    ce_kind,
    ce_logits_change,
    ce_output_rounding,
    ce_rest,
    ce_unit_change,
    ce_unit_response_rounding,
)

__all__ = ["Responses", "unsupported", "decay_differences", "units_task", "entries_task", "pairs_task",
           "CHUNK_BYTES", "LINEAR_IMAG", "resolved_coefficients", "unit_response_rounding",
           "psi_dtype", "forward_from", "output_rounding"]

#: Bytes of working arrays per chunk: small enough to stay in cache, large
#: enough that numpy's per-call overhead is negligible.
CHUNK_BYTES = 4 * 2**20
#: The largest imaginary part at which a complex step is still linear: every activation's and loss's
#: second-order terms, relative size y² = 4·10⁻¹⁸, are then far below rounding.
LINEAR_IMAG = 2e-9


def forward_from(net: DenseNet, params: dict[str, np.ndarray], layer: int, *, X: np.ndarray | None = None,
                 z: np.ndarray | None = None, held: ForwardCache | None = None) -> ForwardCache:
    """The float64 forward pass at rest from X (``layer`` 1) or from ``z`` = z_layer, layers ``layer`` … L.

    ``held`` is a forward pass from X that the caller already keeps (check_network's backprop):
    when it is float64, its layers are read instead of forming a second pass over every sample
    (the same operations on the same inputs, so the same numbers); its z_layer must equal ``z``.
    """
    if held is not None and held.first == 0 and all(a.dtype == np.float64 for a in held.activations):
        if z is None:
            return held
        return ForwardCache(held.zs[layer - 1:], held.activations[layer:], first=layer)
    if z is None:
        return net.forward_cache(X, params)  # type: ignore[arg-type]
    return net.forward_cache(None, params, start=layer, z=z)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Responses:
    """What a worker needs to evaluate unit responses: the network at rest.

    ``cache`` is the float64 forward pass at θ (from X, or from the z_l whose
    derivatives are measured); ``weights[l - 1]`` is W_l and ``activations[l - 1]``
    is f_l.  MSE (``kind`` 'mse'): the loss is ``scale · Σ resid²`` with ``resid = a_L − y``.
    Cross-entropy (``kind`` 'softmax' or 'sigmoid'): ``resid`` is ∂ℓ_n/∂z_L / scale (s·p − y, or
    p − y), ``targets`` y and ``rest_q`` = 1 − a_L formed without cancellation (shape (N, n_L) each;
    empty for MSE), see :mod:`~gradcheck.numerical.output_loss`.  Plus the weight-decay term,
    whose differences :func:`decay_differences` adds.
    """

    cache: ForwardCache
    weights: tuple[np.ndarray, ...]
    resid: np.ndarray
    scale: float
    activations: tuple[Activation, ...]
    weight_decay: float = 0.0
    slopes: tuple[np.ndarray, ...] = ()
    kind: str = "mse"
    targets: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    rest_q: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def output_p(self) -> np.ndarray:
        """a_L at rest, shape (N, n_L): cross-entropy's probabilities p."""
        return self.cache.output

    @classmethod
    def of(cls, net: DenseNet, params: dict[str, np.ndarray], cache: ForwardCache, y: np.ndarray) -> Responses:
        """The network ``net`` with parameters ``params`` at rest, ``cache`` its forward pass, on targets ``y``.

        The slopes f'(z) are not formed here: :meth:`samples` forms them for
        the block of samples a computation works on (N·Σn_l floats for all
        samples would be the largest per-sample array the engine holds).
        """
        kind = ce_kind(net.criterion.name, net.activations[-1].name)
        if kind == "mse":
            return cls(cache, tuple(net.weights(params)), cache.output - y,
                       float(net.criterion.scale(cache.output.size)), tuple(net.activations), net.weight_decay)
        g, q = ce_rest(kind, cache.z(net.n_layers), cache.output, y)
        return cls(cache, tuple(net.weights(params)), g, float(net.criterion.scale(cache.output.shape[0])),
                   tuple(net.activations), net.weight_decay, kind=kind, targets=y, rest_q=q)

    @property
    def n_samples(self) -> int:
        return int(self.resid.shape[0])

    def samples(self, rows: slice) -> Responses:
        """The network at rest on the samples ``rows`` only, with their slopes formed.

        The loss is a sum over samples and ψ_{l,n,j} depends on sample n alone,
        so every unit response of the block equals the whole network's; the
        cache and residual are views (no copy), the slopes take Σn_l floats per sample.
        """
        c = self.cache
        cache = ForwardCache([z[rows] for z in c.zs], [a[rows] for a in c.activations], c.first)
        part = Responses(cache, self.weights, self.resid[rows], self.scale, self.activations, self.weight_decay,
                         kind=self.kind, targets=self.targets[rows], rest_q=self.rest_q[rows])
        first = max(1, c.first)
        return replace(part, slopes=tuple(part._slope(l) for l in range(first, len(self.weights) + 1)))

    def slope(self, layer: int) -> np.ndarray:
        """f_layer'(z_layer), shape (N, n_layer), as the complex step through f_layer gives it."""
        if not self.slopes:  # a Responses not made by samples(): formed on request, not kept
            return self._slope(layer)
        return self.slopes[layer - max(1, self.cache.first)]

    def _slope(self, layer: int) -> np.ndarray:
        # f'(z) as a complex step of f computes it (Im f(z + iη)/η, η a power of 2 so the division is exact):
        # relatively accurate in saturated tails, where a(1 − a) is not.
        eta = 2.0 ** -70
        return np.imag(self.activations[layer - 1].value(self.cache.z(layer) + 1j * eta)) / eta


def unsupported(net: DenseNet) -> str | None:
    """Why the structured engine cannot model ``net`` (MSE of element-wise layers, or cross-entropy), or None.

    Such networks go to the generic engine, which gives the same numbers the
    structured engine would, at the cost of full forward passes.
    """
    if ce_kind(net.criterion.name, net.activations[-1].name) != "mse":
        return None if all(f.elementwise for f in net.activations[:-1]) else "a hidden layer is not element-wise"
    if net.criterion.name != "mse":
        return f"the loss is {net.criterion.name}, not mse"
    if not all(f.elementwise for f in net.activations):
        return "the output activation is " + net.activations[-1].name + ", not element-wise"
    return None


def decay_differences(rs: Responses, layer: int, ei: np.ndarray, ej: np.ndarray, eh: np.ndarray,
                       offsets: np.ndarray) -> np.ndarray | float:
    """The change (λ/2)((w + t)² − w²) = λ(w·t + t²/2), t = o·h, of the weight-decay term; shape (E, K).

    Entries (ei, ej) of W_layer; ``ei`` = −1 marks a bias, which the term leaves alone.
    Exact in the arithmetic of t: no difference of two large sums.
    """
    if not rs.weight_decay:
        return 0.0
    w = np.where(ei >= 0, rs.weights[layer - 1][np.maximum(ei, 0), ej], 0.0)
    t = offsets[None, :] * eh[:, None]
    return np.where((ei >= 0)[:, None], rs.weight_decay * (w[:, None] * t + 0.5 * t * t), 0.0)


#: Rows per matrix product are padded to a multiple of this: BLAS kernels
#: round a row's dot products the same way whatever the number of rows only
#: when that number is a multiple of their unrolling (1 or 3 rows take other
#: code paths), so that on OpenBLAS the chunking changes no digit of the
#: result.  A BLAS that picks kernels by matrix size may still change the last
#: bits, within the rounding bound of :func:`gradcheck.numerical.structured.unit_response_rounding`.
_ROW_ALIGN = 8


def _psi(rs: Responses, layer: int, n: np.ndarray, j: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Unit responses ψ_{layer, n, j}(t) for rows of (n, j, t); shape (R,), complex if t is."""
    width = max([w.shape[1] for w in rs.weights[layer:]] + [1])
    block = max(_ROW_ALIGN, CHUNK_BYTES // (64 * (width + 4)) // _ROW_ALIGN * _ROW_ALIGN)
    if len(t) > block:
        # An executor's chunk is larger than the in-process one (fewer tasks); its rows still go through
        # the layers in cache-sized blocks, which measured twice as fast as one large block.
        return np.concatenate([_psi_rows(rs, layer, n[s:s + block], j[s:s + block], t[s:s + block])
                               for s in range(0, len(t), block)])
    return _psi_rows(rs, layer, n, j, t)


def _psi_rows(rs: Responses, layer: int, n: np.ndarray, j: np.ndarray, t: np.ndarray) -> np.ndarray:
    """:func:`_psi` for one block of rows."""
    if np.iscomplexobj(t) and len(t) and not np.any(t.real) and float(np.max(np.abs(t.imag))) <= TANGENT_STEP:
        tangent = _tangent(rs, layer, n, j, t.imag)
        if tangent is not None:
            return 1j * tangent
    R = len(t)
    pad = -R % _ROW_ALIGN
    if pad and layer + 1 < len(rs.weights):
        n, j = np.concatenate((n, np.repeat(n[-1:], pad))), np.concatenate((j, np.repeat(j[-1:], pad)))
        return _psi_rows(rs, layer, n, j, np.concatenate((t, np.zeros(pad, t.dtype))))[:R]
    f, c = rs.activations, rs.cache
    L = len(rs.weights)
    ce = rs.kind != "mse"
    if ce and layer == L:
        return ce_unit_change(rs, n, j, t)
    u = f[layer - 1].value(c.z(layer)[n, j] + t) - c.a(layer)[n, j]
    if layer == L:
        return rs.scale * (u * (u + 2.0 * rs.resid[n, j]))
    if ce and layer + 1 == L:
        return ce_logits_change(rs, n, u[:, None] * rs.weights[layer][j])
    z = c.z(layer + 1)[n] + u[:, None] * rs.weights[layer][j]
    d = f[layer].value(z)
    d -= c.a(layer + 1)[n]
    for m in range(layer + 2, L + 1):
        if ce and m == L:  # Δz_L from the changed activations alone: never z + Δz − z
            return ce_logits_change(rs, n, d @ rs.weights[m - 1])
        z = d @ rs.weights[m - 1]
        z += c.z(m)[n]
        d = f[m - 1].value(z)
        d -= c.a(m)[n]
    return rs.scale * np.einsum("rk,rk->r", d, d + 2.0 * rs.resid[n])


#: Imaginary steps at most this large (the complex step's 1e-20 is) take :func:`_tangent`.
TANGENT_STEP = 1e-15


def _tangent(rs: Responses, layer: int, n: np.ndarray, j: np.ndarray, h: np.ndarray) -> np.ndarray | None:
    """Im ψ_{layer, n, j}(i·h) in real arithmetic, or None when h is too large for it; shape (R,).

    At a tiny imaginary step the complex pass's real parts are the cached
    forward pass (its differences are exactly 0) and its imaginary parts are
    tangents: y_{m+1} = (y_m ⊙ f_m'(z_m)) W_{m+1}, each activation's imaginary
    part being y·f'(x) to rounding (its next terms are relative y²).  Carrying
    only the imaginary parts gives the same numbers, to rounding, at a quarter
    of the complex matrix products' cost.
    """
    L = len(rs.weights)
    # Cross-entropy's tangent is c·⟨g, ż_L⟩ (g = resid, no output slope); MSE's 2c·⟨a − y, ȧ_L⟩.
    ce = rs.kind != "mse"
    factor = rs.scale if ce else 2.0 * rs.scale
    if ce and layer == L:
        return factor * h * rs.resid[n, j]
    g = h * rs.slope(layer)[n, j]
    if layer == L:
        return factor * g * rs.resid[n, j]
    y = g[:, None] * rs.weights[layer][j]
    for m in range(layer + 1, L + 1):
        if m > layer + 1:
            y = y @ rs.weights[m - 1]
        if y.size and float(np.max(np.abs(y))) > LINEAR_IMAG:
            return None
        if not (ce and m == L):
            y *= rs.slope(m)[n]
    return factor * np.einsum("rk,rk->r", y, rs.resid[n])


def psi_dtype(offsets: np.ndarray) -> type:
    """The dtype of ψ at ``offsets``: complex for the complex step."""
    return complex if np.iscomplexobj(offsets) else float


def units_task(rs: Responses, layer: int, un: np.ndarray, uj: np.ndarray, scale: np.ndarray,
                offsets: np.ndarray) -> np.ndarray:
    """ψ at t = o·scale_u for units u = (un, uj) and every offset o; shape (len(un), len(offsets))."""
    k = len(offsets)
    rows = np.arange(len(un) * k)
    u, q = rows // k, rows % k
    t = offsets[q] * scale[u]
    return _psi(rs, layer, un[u], uj[u], t).reshape(len(un), k)


def entries_task(rs: Responses, layer: int, ei: np.ndarray, ej: np.ndarray, eh: np.ndarray,
                  offsets: np.ndarray) -> np.ndarray:
    """L(θ + o·h_e) − L(θ) for entries e = (ei, ej) of W_layer (ei = −1: b_layer[ej]); shape (E, K)."""
    x = rs.cache.a(layer - 1)
    N, E = x.shape[0], len(ei)
    xe = np.where(ei[:, None] >= 0, x[:, np.maximum(ei, 0)].T, 1.0)  # (E, N)
    t = (offsets[None, :, None] * eh[:, None, None]) * xe[:, None, :]  # (E, K, N)
    nz = t != 0  # ψ(0) = 0 exactly: skip those rows
    out = np.zeros(t.shape, dtype=np.result_type(t, np.float64))
    e_idx = np.broadcast_to(np.arange(E)[:, None, None], t.shape)
    n_idx = np.broadcast_to(np.arange(N)[None, None, :], t.shape)
    out[nz] = _psi(rs, layer, n_idx[nz], ej[e_idx[nz]], t[nz])
    return out.sum(axis=2)


def pairs_task(rs: Responses, layer: int, pn: np.ndarray, pj: np.ndarray, hw: np.ndarray,
                hb: np.ndarray | None, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ over the pairs (pn, pj) of ψ at every weight and bias argument of unit pj in sample pn.

    Returns flat indices into an array of shape (n_prev·n_l + n_l, K) (the
    weights row-major, then the biases) and the sums to add there.
    """
    x = rs.cache.a(layer - 1)
    n_prev, n_l = hw.shape
    k = len(offsets)
    width = n_prev + (hb is not None)
    rows = np.arange(len(pn) * width * k)
    p, rest = rows // (width * k), rows % (width * k)
    i, q = rest // k, rest % k
    n, j = pn[p], pj[p]
    weight = i < n_prev
    ic = np.minimum(i, n_prev - 1)
    t = np.where(weight, offsets[q] * hw[ic, j] * x[n, ic], offsets[q] * (hb[j] if hb is not None else 0.0))
    target = np.where(weight, ic * n_l + j, n_prev * n_l + j) * k + q
    nz = t != 0
    vals = _psi(rs, layer, n[nz], j[nz], t[nz])
    uniq, inverse = np.unique(target[nz], return_inverse=True)
    return uniq, np.bincount(inverse, weights=vals, minlength=len(uniq))


def resolved_coefficients(V: np.ndarray, rounding: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Chebyshev coefficients of unit responses from their values at the K points, and which are resolved.

    An interpolant is accepted when its last two coefficients are at the
    rounding level of ψ's evaluation (``rounding``, broadcast against V's
    leading axes, plus ε·max|V|) and every coefficient is finite.

    Parameters
    ----------
    V : ndarray of shape (..., K)
    rounding : ndarray broadcastable to V.shape[:-1]

    Returns
    -------
    C : ndarray of shape (..., K)
    resolved : ndarray of bool, shape V.shape[:-1]
    """
    C = V @ chebyshev_transform(V.shape[-1])
    scale = rounding + eps * np.abs(V).max(axis=-1)
    resolved = np.abs(C[..., -1]) + np.abs(C[..., -2]) <= 8.0 * scale
    resolved &= np.isfinite(C).all(axis=-1)
    return C, resolved


def output_rounding(rs: Responses, eps: float) -> np.ndarray:
    """Per sample n, the rounding a loss difference inherits from the outputs it is formed at.

    ψ is formed as c·Σ_k Δa_k·(Δa_k + 2(a_k − y_k)) with the perturbed a_k + Δa_k evaluated
    afresh: its rounding ε(|a_k| + |z_k|·|f'|) meets 2c·|a_k − y_k|, whatever the step.  Near a fit
    that exceeds ε·|L| (|a − y| ≫ (a − y)²/2).  The rounding of the layers below reaches the
    output through products that mostly cancel; its worst case (:func:`unit_response_rounding`,
    which the interpolants' acceptance uses) grows with depth far beyond what is observed (50×
    ε·|L| at W1 of a 6-layer 16-unit net whose actual errors stayed 1e4 times below the estimate).

    Cross-entropy: :func:`~gradcheck.numerical.output_loss.ce_output_rounding`.

    Returns
    -------
    ndarray of shape (N,)
    """
    if rs.kind != "mse":
        return ce_output_rounding(rs, eps)
    c = rs.cache
    a, z = c.output, c.z(len(rs.weights))
    fp = np.abs(rs.activations[-1].derivative(a))
    return 2.0 * abs(rs.scale) * np.sum(eps * (np.abs(a) + np.abs(z) * fp) * np.abs(rs.resid), axis=1)


def unit_response_rounding(rs: Responses, layer: int, eps: float) -> np.ndarray:
    """Per sample n, a bound on the rounding error of one evaluation of ψ_{layer, n, j}(t).

    A running error bound: every activation a = f(z) carries ε(|a| + |z|·|f'|)
    and passes the errors from below on through |f'| and |W|.  Only one unit of
    ``layer`` moves, so its error enters the next layer through the largest
    row of |W|.  Cross-entropy: :func:`~gradcheck.numerical.output_loss.ce_unit_response_rounding`.

    Returns
    -------
    ndarray of shape (N,)
    """
    if rs.kind != "mse":
        return ce_unit_response_rounding(rs, layer, eps)
    c = rs.cache
    L = len(rs.weights)

    def fp(m: int) -> np.ndarray:
        return np.abs(rs.activations[m - 1].derivative(c.a(m)))

    def own(m: int) -> np.ndarray:
        return eps * (np.abs(c.a(m)) + np.abs(c.z(m)) * fp(m))

    e = own(layer)
    if layer == L:
        return 2.0 * rs.scale * np.max(e * np.abs(rs.resid), axis=1)
    W = np.abs(rs.weights[layer])
    e = own(layer + 1) + fp(layer + 1) * (e.max(axis=1, keepdims=True) * W.max(axis=0))
    for m in range(layer + 2, L + 1):
        e = own(m) + fp(m) * (e @ np.abs(rs.weights[m - 1]))
    return 2.0 * rs.scale * np.sum(e * np.abs(rs.resid), axis=1)

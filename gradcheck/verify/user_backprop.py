"""Check the caller's own backprop, layer by layer: :func:`check_backprop`.

The caller hands over what their code computed — the deltas δ_l, the weight
and bias gradients, or both — with the weights and data, in their own layout
(:mod:`gradcheck.verify.layout`) and sign convention.  gradcheck rebuilds the
same network as a :class:`~gradcheck.DenseNet`, converts the arrays once to its
own row-per-sample layout, and runs the per-layer verification of
:func:`gradcheck.verify.network.verify_layers`: each δ_l against a numerical
∂L/∂z_l, each gradient against numerical derivatives, and the delta formulas
on numerical values alone.  The report is then turned back into the caller's
orientation: shapes, entry indices and formulas read as in their code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import as_numeric_array, check_finite, describe
from ..errors import InvalidArgument
from ..model.backprop import Backprop
from ..model.network import DenseNet
from ..report.model import NetworkReport
from ..report.records import GroupResult, Mismatch
from .diagnose import Diagnosis
from .layout import LAYOUTS, notation_of
from .network import verify_layers
from .options import CheckOptions

__all__ = ["check_backprop", "SIGNS"]

#: "gradient": the values are ∂L/∂θ; "descent": they are −∂L/∂θ, the step a
#: program adds to its weights (the classic XOR program's ``syn += l.T.dot(delta)``).
SIGNS = ("gradient", "descent")


def check_backprop(weights: Sequence[Any], X: Any, y: Any, *, biases: Sequence[Any] | None = None,
                   deltas: Sequence[Any] | None = None, grads: Sequence[Any] | Mapping[str, Any] | None = None,
                   bias_grads: Sequence[Any] | None = None, activation: str | Sequence[str] = "sigmoid",
                   loss: str = "mse", reduction: str | None = None, weight_decay: float = 0.0, layout: str = "auto",
                   sign: str = "gradient", method: str = "auto", per_sample_deltas: bool = False,
                   **options: Any) -> NetworkReport:
    """Verify a hand-written backward pass of a dense network, layer by layer.

    Parameters
    ----------
    weights : sequence of L array_like
        W_1 … W_L: shape (n_{l−1}, n_l) in layout ``'in_out'``, (n_l, n_{l−1}) in ``'out_in'``.
    X : array_like of shape (N, n_0) (in_out) or (n_0, N) (out_in)
    y : array_like of shape (N, n_L) (in_out) or (n_L, N) (out_in); (N,) when n_L = 1
    biases : sequence of L array_like, optional
        b_l of shape (n_l,) or (1, n_l) (in_out), (n_l, 1) or (n_l,) (out_in); None: no biases.
    deltas : sequence of L array_like, optional
        Your δ_l = ∂L/∂z_l, ``deltas[l - 1]`` of shape (N, n_l) (in_out) or (n_l, N) (out_in).
    grads : sequence of L array_like, or mapping, optional
        Your ∂L/∂W_l, each shaped like W_l; or a mapping ``{"W1": …, "b1": …}``
        holding weight and (optionally) bias gradients.
    bias_grads : sequence of L array_like, optional
        Your ∂L/∂b_l, each shaped like b_l.
    activation : str or sequence of L str
        The activation of every layer, or one per layer: 'sigmoid', 'tanh',
        'identity', 'relu', 'leaky_relu' ('leaky_relu:0.2' for slope 0.2),
        'softmax' (output layer only).
    loss : {'mse', 'cross_entropy'}
        Cross-entropy with a sigmoid output is binary (summed over the
        outputs), with softmax categorical; its output delta is c·(a_L − y).
    reduction : {'half_sum', 'sum', 'mean'} or None
        MSE: L = ½Σ(a_L − y)², Σ(a_L − y)², or the mean of (a_L − y)² over all
        N·n_L entries (None: 'half_sum').  Cross-entropy: 'sum' (None) or
        'mean' over the N samples.
    weight_decay : float, >= 0
        λ: the loss includes (λ/2)·Σ_l ‖W_l‖² (weights only), so your weight
        gradients include λ·W_l and your biases' none.  A program that writes
        the term as (λ'/2N)·Σ‖W‖² (Nielsen, ch. 3) passes λ = λ'/N.
    layout : {'auto', 'in_out', 'out_in'}
        ``'auto'`` reads it from X and the chain of weight shapes (and the
        deltas', if given), and refuses to guess when both readings fit.
    sign : {'gradient', 'descent'}
        ``'descent'``: every value you pass is −∂L/∂θ (δ built from y − a,
        and an update ``W += aᵀδ``, as in the classic numpy XOR program).
    method : str
        As for :func:`gradcheck.check_params`.
    per_sample_deltas : bool
        With ``reduction='mean'`` (L = (1/N)·Σ_n ℓ_n, where ℓ_n is sample
        n's own mean over the n_L outputs), your deltas are per-sample
        derivatives ∂ℓ_n/∂z_l, without the 1/N of the batch mean (most
        programs divide only the gradients by N): they are divided by N
        before the check.  It changes nothing for the sum reductions.
    **options
        rtol, atol, safety, seed, progress, title, diagnostics, engine,
        executor, memory_budget, as for :func:`gradcheck.check_network`.

    Returns
    -------
    NetworkReport
        Rows per layer for what you passed (∂L/∂W_l, ∂L/∂b_l, δ_l), the
        formulas on numerical values, where the chain first breaks and the
        probable cause, in your layout's orientation.

    Raises
    ------
    InvalidArgument
        Shapes that fit no layout (or both, with ``layout='auto'``), deltas or
        gradients of the wrong count or shape, non-finite weights or data, or
        a bad option.  Non-finite values in your deltas or gradients are not
        an input error: their rows fail and the report says where.

    Examples
    --------
    The classic XOR program's deltas, which are −∂L/∂z (built from y − l2):

    >>> import numpy as np
    >>> import gradcheck as gc
    >>> X, y = gc.xor_data()
    >>> syn0 = np.linspace(-1, 1, 12).reshape(3, 4); syn1 = np.linspace(1, -1, 4).reshape(4, 1)
    >>> l1 = 1 / (1 + np.exp(-X @ syn0)); l2 = 1 / (1 + np.exp(-l1 @ syn1))
    >>> l2_delta = (y - l2) * l2 * (1 - l2)
    >>> l1_delta = l2_delta @ syn1.T * l1 * (1 - l1)
    >>> report = gc.check_backprop([syn0, syn1], X, y, deltas=[l1_delta, l2_delta],
    ...                            grads=[X.T @ l1_delta, l1.T @ l2_delta], sign="descent", diagnostics=False)
    >>> report.passed
    True
    """
    if layout not in ("auto", *LAYOUTS):
        raise InvalidArgument(f"layout: expected 'auto', 'in_out' or 'out_in', got {layout!r}")
    if sign not in SIGNS:
        raise InvalidArgument(f"sign: expected 'gradient' or 'descent', got {sign!r}")
    if not isinstance(per_sample_deltas, (bool, np.bool_)):
        raise InvalidArgument(f"per_sample_deltas: expected True or False, got {describe(per_sample_deltas)}")
    for name in ("deltas", "params", "backward"):
        if name in options:
            raise InvalidArgument(f"{name}: not an option of check_backprop; see its parameters")
    Ws = _arrays("weights", weights, None, ndim=2)
    L = len(Ws)
    bs = None if biases is None else _arrays("biases", biases, L)
    ds = None if deltas is None else _arrays("deltas", deltas, L)
    wgrads, bgrads = _split_grads(grads, bias_grads, L, bs is not None)
    if ds is None and wgrads is None and bgrads is None:
        raise InvalidArgument("deltas, grads: nothing to check; pass deltas=[δ1, …], grads=[∂L/∂W1, …] or both")
    Xa = as_numeric_array("X", X)
    ya = as_numeric_array("y", y)
    if Xa.ndim != 2:
        raise InvalidArgument(f"X: expected a 2-D array of samples, got {describe(Xa)}")
    for name, arr in (("X", Xa), ("y", ya)):
        check_finite(name, arr)
    chosen = _layout(layout, Ws, Xa, ya, bs, ds)
    t = chosen == "out_in"
    n = [Ws[0].shape[1] if t else Ws[0].shape[0]] + [W.shape[0] if t else W.shape[1] for W in Ws]
    N = Xa.shape[1] if t else Xa.shape[0]
    params: dict[str, np.ndarray] = {}
    for l, W in enumerate(Ws, start=1):
        params[f"W{l}"] = W.T if t else W
        if bs is not None:
            params[f"b{l}"] = _bias("biases", l, bs[l - 1], n[l], chosen)
    net = DenseNet.from_params(params, activation=activation, loss=loss, reduction=reduction,
                               weight_decay=weight_decay)
    Xin, yin = net.checked_data(Xa.T if t else Xa, ya.T if (t and ya.ndim == 2) else ya, copy=True)

    factor = -1.0 if sign == "descent" else 1.0
    given_deltas = None
    if ds is not None:
        scale = factor / N if (per_sample_deltas and net.criterion.reduction == "mean") else factor
        # Their shapes were checked when the layout was read (_fit).
        given_deltas = [scale * (d.T if t else d) for d in ds]
    reference = Backprop(net, net.forward_cache(Xin), yin).run()
    given_grads = None
    if wgrads is not None or bgrads is not None:
        given_grads = {}
        for l in range(1, L + 1):
            if wgrads is not None:
                g = wgrads[l - 1]
                _expect_shape(f"grads W{l}", g, Ws[l - 1].shape, chosen)
                given_grads[f"W{l}"] = factor * (g.T if t else g)
            if bgrads is not None:
                given_grads[f"b{l}"] = factor * _bias("bias grads", l, bgrads[l - 1], n[l], chosen)
        # A partial set (weights only, or biases only) is completed with the
        # correct values, whose rows are then dropped from the report.
        missing = [k for k in net.params if k not in given_grads]
        given_grads.update({k: reference.gradients[k] for k in missing})
    else:
        missing = list(net.params)

    title = options.pop("title", None)
    opts = CheckOptions.build(method=method, deltas=True,
                              title=f"backprop {'-'.join(map(str, n))} ({chosen})" if title is None else title,
                              **options)
    given = [name for name, v in (("deltas", ds), ("weight grads", wgrads), ("bias grads", bgrads)) if v is not None]
    report = verify_layers(net, Xin, yin, reference, given_deltas, given_grads, opts, notation_of(chosen),
                           caller={"layout": chosen, "sign": sign, "given": given,
                                   "per_sample_deltas": bool(per_sample_deltas)})
    _drop_rows(report, missing)
    if t:
        _to_columns(report)
    _sign_hint(report, sign)
    return report


def _arrays(name: str, values: Any, count: int | None, ndim: int | None = None) -> list[np.ndarray]:
    """A sequence of arrays as private float copies, checked for count (and dimension)."""
    if isinstance(values, (np.ndarray, Mapping, str)) or not isinstance(values, Sequence):
        raise InvalidArgument(f"{name}: expected a list of arrays, one per layer (layer 1 first), "
                              f"got {describe(values)}")
    if count is None and not values:
        raise InvalidArgument(f"{name}: expected at least one weight matrix, got an empty list")
    if count is not None and len(values) != count:
        raise InvalidArgument(f"{name}: expected {count} arrays, one per layer (the number of weight matrices), "
                              f"got {len(values)}")
    out = []
    for i, v in enumerate(values):
        arr = np.array(as_numeric_array(f"{name}[{i}]", v), dtype=np.float64, copy=True)
        if ndim is not None and arr.ndim != ndim:
            raise InvalidArgument(f"{name}[{i}]: expected a {ndim}-D array, got {describe(arr)}")
        if name in ("weights", "biases"):
            check_finite(f"{name}[{i}]", arr)
        out.append(arr)
    return out


def _split_grads(grads: Any, bias_grads: Any, L: int,
                 has_bias: bool) -> tuple[list[np.ndarray] | None, list[np.ndarray] | None]:
    """Weight and bias gradients from ``grads`` (a list or a W/b mapping) and ``bias_grads``."""
    wgrads = bgrads = None
    if isinstance(grads, Mapping):
        expected = {f"W{l}" for l in range(1, L + 1)} | ({f"b{l}" for l in range(1, L + 1)} if has_bias else set())
        unknown = sorted(set(map(str, grads)) - expected)
        if unknown:
            raise InvalidArgument(f"grads: unexpected keys {unknown}; expected {sorted(expected)} "
                                  f"({L} layers, {'with' if has_bias else 'without'} biases)")
        wkeys = [f"W{l}" for l in range(1, L + 1)]
        bkeys = [f"b{l}" for l in range(1, L + 1)]
        for keys in (wkeys, bkeys):
            present = [k for k in keys if k in grads]
            if present and len(present) != L:
                raise InvalidArgument(f"grads: has {present} but not {[k for k in keys if k not in grads]}; "
                                      "give every layer's gradient of a kind or none")
        if all(k in grads for k in wkeys):
            wgrads = _arrays("grads", [grads[k] for k in wkeys], L)
        if has_bias and all(k in grads for k in bkeys):
            if bias_grads is not None:
                raise InvalidArgument("bias_grads: given twice, in grads (b1, …) and as bias_grads; pass one")
            bgrads = _arrays("grads", [grads[k] for k in bkeys], L)
    elif grads is not None:
        wgrads = _arrays("grads", grads, L)
    if bias_grads is not None:
        if not has_bias:
            raise InvalidArgument("bias_grads: the network has no biases (biases=None); pass biases= as well")
        bgrads = _arrays("bias_grads", bias_grads, L)
    return wgrads, bgrads


def _fit(layout: str, Ws: list[np.ndarray], X: np.ndarray, y: np.ndarray, bs: list[np.ndarray] | None,
         ds: list[np.ndarray] | None) -> str | None:
    """Why the arrays do not read as ``layout``, or None when they do."""
    t = layout == "out_in"
    n_in = [W.shape[1] if t else W.shape[0] for W in Ws]
    n_out = [W.shape[0] if t else W.shape[1] for W in Ws]
    n0, N = (X.shape[0], X.shape[1]) if t else (X.shape[1], X.shape[0])
    if n_in[0] != n0:
        return f"X has {n0} inputs per sample but W1 takes {n_in[0]}"
    for l in range(1, len(Ws)):
        if n_in[l] != n_out[l - 1]:
            return f"W{l} gives {n_out[l - 1]} outputs but W{l + 1} takes {n_in[l]}"
    nL = n_out[-1]
    if y.ndim == 1:
        if nL != 1 or y.shape[0] != N:
            return f"y of shape {y.shape} needs one output and {N} samples"
    elif y.shape != ((nL, N) if t else (N, nL)):
        return f"y has shape {y.shape}, expected {(nL, N) if t else (N, nL)}"
    if bs is not None:
        for l, b in enumerate(bs, start=1):
            if b.size != n_out[l - 1] or (b.ndim == 2 and b.shape[1 if t else 0] != 1):
                return f"b{l} has shape {b.shape}, expected {(n_out[l - 1], 1) if t else (n_out[l - 1],)}"
    if ds is not None:
        for l, d in enumerate(ds, start=1):
            if d.shape != ((n_out[l - 1], N) if t else (N, n_out[l - 1])):
                return f"δ{l} has shape {d.shape}, expected {(n_out[l - 1], N) if t else (N, n_out[l - 1])}"
    return None


def _layout(layout: str, Ws: list[np.ndarray], X: np.ndarray, y: np.ndarray, bs: list[np.ndarray] | None,
            ds: list[np.ndarray] | None) -> str:
    """The layout the arrays are in: the one asked for, or the only one that fits."""
    why = {name: _fit(name, Ws, X, y, bs, ds) for name in LAYOUTS}
    if layout != "auto":
        if why[layout] is not None:
            raise InvalidArgument(f"layout: the arrays do not fit layout {layout!r}: {why[layout]}"
                                  + (f" (they fit {other!r})" if (other := _other(layout)) and why[other] is None
                                     else ""))
        return layout
    fits = [name for name in LAYOUTS if why[name] is None]
    if not fits:
        raise InvalidArgument(f"X, weights: the shapes fit no layout — as in_out (W_l (n_(l-1), n_l), X (N, n_0)): "
                              f"{why['in_out']}; as out_in (W_l (n_l, n_(l-1)), X (n_0, N)): {why['out_in']}")
    if len(fits) > 1:
        raise InvalidArgument("layout: both readings fit these shapes (W_l (n_(l-1), n_l) with X (N, n_0), and "
                              "W_l (n_l, n_(l-1)) with X (n_0, N)); pass layout='in_out' or layout='out_in'")
    return fits[0]


def _other(layout: str) -> str:
    return "out_in" if layout == "in_out" else "in_out"


def _bias(name: str, l: int, b: np.ndarray, width: int, layout: str) -> np.ndarray:
    """A bias (or bias gradient) of layer l as gradcheck's shape (n_l,)."""
    allowed = [(width,), (width, 1) if layout == "out_in" else (1, width)]
    if b.shape not in allowed:
        raise InvalidArgument(f"{name}[{l - 1}] (b{l}): expected shape {allowed[1]} or {allowed[0]} in layout "
                              f"{layout!r}, got {b.shape}")
    return b.reshape(width)


def _expect_shape(label: str, arr: np.ndarray, shape: tuple[int, ...], layout: str) -> None:
    if arr.shape != tuple(shape):
        raise InvalidArgument(f"{label}: expected shape {tuple(shape)} in layout {layout!r}, got {arr.shape}")


def _drop_rows(report: NetworkReport, missing: list[str]) -> None:
    """Remove the rows of gradients the caller did not pass (their values were stand-ins)."""
    if not missing:
        return
    report.groups = [g for g in report.groups if g.name not in missing]
    for layer in report.layers:
        if f"W{layer.layer}" in missing:
            layer.weight = None
        if f"b{layer.layer}" in missing:
            layer.bias = None
    report.error_maps = {k: v for k, v in report.error_maps.items() if k not in missing}


def _to_columns(report: NetworkReport) -> None:
    """Turn every array and index of the report into the out_in (column-vector) orientation."""
    seen: set[int] = set()
    for layer in report.layers:
        for kind, row in layer.rows():
            if id(row) not in seen:
                seen.add(id(row))
                _transpose_group(row, column=kind in ("bias", "bias_formula"))
    for g in report.groups:
        if id(g) not in seen:
            seen.add(id(g))
            _transpose_group(g, column=g.name.startswith("b"))
    report.error_maps = {k: (a.T, tol.T) for k, (a, tol) in report.error_maps.items()}


def _transpose_group(g: GroupResult, column: bool) -> None:
    """(i, j) → (j, i) for a matrix row, (i,) → (i, 0) for a bias row, in place."""
    def index(ix: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if ix is None:
            return None
        return (ix[0], 0) if column else tuple(reversed(ix))

    g.shape = (g.shape[0], 1) if column else tuple(reversed(g.shape))
    g.worst_index = index(g.worst_index)
    g.worst = [Mismatch(index(m.index) or m.index, m.analytic, m.numerical, m.abs_error, m.rel_error, m.tolerance)
               for m in g.worst]
    # Notes name entries as index tuples (non-finite values, for one); they are
    # the only index-bearing text a group carries.
    g.notes = [re.sub(r"\((\d+),\)", r"(\1, 0)", n) if column else re.sub(r"\((\d+), (\d+)\)", r"(\2, \1)", n)
               for n in g.notes]
    for attr in ("analytic", "numerical", "tolerance"):
        arr = getattr(g, attr)
        if arr is not None:
            setattr(g, attr, arr.reshape(-1, 1) if column else arr.T)


def _sign_hint(report: NetworkReport, sign: str) -> None:
    """Name the sign convention when every given value is exactly −1 times the numerical one."""
    rows = [r for layer in report.layers for kind, r in layer.rows() if kind in ("weight", "bias", "delta")]
    if not rows or all(r.passed for r in rows):
        return
    for r in rows:
        if r.analytic is None or r.numerical is None or r.tolerance is None:
            return
        if not np.all(np.abs(r.analytic + r.numerical) <= r.tolerance) or not np.any(r.numerical):
            return
    fix = ("pass sign='descent' if your values are −∂L/∂θ (δ built from y − a, updates W += …)" if sign == "gradient"
           else "pass sign='gradient': your values are +∂L/∂θ, not the descent step −∂L/∂θ")
    report.diagnoses = [Diagnosis("sign", f"every value you passed is exactly −1 × the numerical derivative: "
                                          f"a global sign convention, not a broken link; {fix}")]

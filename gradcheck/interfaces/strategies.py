"""Hypothesis strategies for dense networks and their data.

Import this module explicitly (``from gradcheck.strategies import dense_nets``);
``import gradcheck`` does not load hypothesis.  Every strategy takes
keyword-only options, validated when the strategy is built: a bad option
raises :class:`~gradcheck.InvalidArgument` at once, not in the middle of a
test run.

Arrays are generated from a drawn integer seed rather than element by
element, so an example costs a handful of draws and hypothesis shrinks the
architecture, the sample count, the weight scale and the seed instead of
thousands of floats.

Examples
--------
A property test that gradcheck verifies every drawn network:

>>> from hypothesis import given, settings
>>> import gradcheck as gc
>>> @settings(max_examples=5, deadline=None, database=None)
... @given(dense_nets(max_layers=2, max_width=4))
... def test_backprop(case):
...     net, X, y = case
...     assert gc.check_network(net, X, y, diagnostics=False).passed
>>> test_backprop()
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_choices, check_float_dtype, check_sizes, describe
from ..errors import InvalidArgument
from ..model.activations import ACTIVATIONS, get_activation
from ..model.losses import CE_OUTPUTS, CE_REDUCTIONS, LOSSES, REDUCTIONS
from ..model.network import DenseNet
from ..verify.layout import LAYOUTS

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("gradcheck.strategies needs hypothesis: pip install hypothesis "
                      "(or pip install 'gradcheck[test]')") from exc

__all__ = ["layer_sizes", "dense_nets", "batches", "backprop_cases", "BackpropCase"]

_SEEDS = st.integers(0, 2**32 - 1)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidArgument(f"{name}: expected an integer >= {low}, got {describe(value)}")
    return int(value)


def _check_range(what: str, low: Any, high: Any, least: int) -> tuple[int, int]:
    """Validate the pair ``min_<what>``, ``max_<what>``."""
    lo = _check_int(f"min_{what}", low, least)
    hi = _check_int(f"max_{what}", high, least)
    if lo > hi:
        raise InvalidArgument(f"min_{what}={lo} > max_{what}={hi}: min_{what} must not exceed max_{what}")
    return lo, hi


def _targets(rng: np.random.Generator, activation: str, shape: tuple[int, int]) -> np.ndarray:
    """Targets inside the range the output activation can reach (softmax: rows that sum to 1)."""
    if activation == "sigmoid":
        return rng.uniform(0.0, 1.0, shape)
    if activation == "softmax":
        u = rng.uniform(0.0, 1.0, shape) + 1e-3
        return u / u.sum(axis=1, keepdims=True)
    if activation == "tanh":
        return rng.uniform(-1.0, 1.0, shape)
    return rng.standard_normal(shape)


def _inputs_targets(seed: int, n_samples: int, sizes: Sequence[int], activation: str,
                    dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """``X`` of shape (N, n_0) from N(0, 1) and ``y`` of shape (N, n_L) in the output activation's range."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, sizes[0]))
    y = _targets(rng, activation, (n_samples, sizes[-1]))
    return X.astype(dtype), y.astype(dtype)


def _data(seed: int, n_samples: int, net: DenseNet) -> tuple[np.ndarray, np.ndarray]:
    return _inputs_targets(seed, n_samples, net.sizes, net.activations[-1].name, net.dtype)


def _layer_arrays(seed: int, sizes: Sequence[int], scale: float, bias: bool,
                  dtype: Any = np.float64) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Weights W_l of shape (n_{l−1}, n_l) and biases b_l of shape (n_l,) (None without), as scale · N(0, 1)."""
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for l in range(1, len(sizes)):
        weights.append((scale * rng.standard_normal((sizes[l - 1], sizes[l]))).astype(dtype))
        if bias:
            biases.append((scale * rng.standard_normal(sizes[l])).astype(dtype))
    return weights, biases if bias else None


def layer_sizes(*, min_layers: int = 1, max_layers: int = 4, min_width: int = 1,
                max_width: int = 8) -> st.SearchStrategy[list[int]]:
    """Layer widths ``[n_0, n_1, …, n_L]`` of a dense network.

    Parameters
    ----------
    min_layers, max_layers : int, >= 1
        Range of the number of weight layers L; the list has L + 1 entries.
    min_width, max_width : int, >= 1
        Range of every width, inputs and outputs included.

    Returns
    -------
    SearchStrategy of list of int

    Raises
    ------
    InvalidArgument
        An option is not a positive integer, or a minimum exceeds its maximum.

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(layer_sizes(min_layers=2, max_layers=3, max_width=5))
    ... def test_sizes(sizes):
    ...     assert 3 <= len(sizes) <= 4 and all(1 <= n <= 5 for n in sizes)
    >>> test_sizes()
    >>> layer_sizes(min_width=4, max_width=2)
    Traceback (most recent call last):
    ...
    gradcheck.errors.InvalidArgument: min_width=4 > max_width=2: min_width must not exceed max_width
    """
    lo_l, hi_l = _check_range("layers", min_layers, max_layers, 1)
    lo_w, hi_w = _check_range("width", min_width, max_width, 1)
    widths = st.integers(lo_w, hi_w)
    return st.integers(lo_l, hi_l).flatmap(
        lambda n: st.lists(widths, min_size=n + 1, max_size=n + 1))


_SIZE_DEFAULTS = {"min_layers": 1, "max_layers": 4, "min_width": 1, "max_width": 8}


def dense_nets(*, sizes: Sequence[int] | st.SearchStrategy[Sequence[int]] | None = None,
               min_layers: int = 1, max_layers: int = 4, min_width: int = 1, max_width: int = 8,
               min_samples: int = 1, max_samples: int = 16, bias: bool | None = None,
               activations: Sequence[str] = ("sigmoid",), output_activations: Sequence[str] | None = None,
               losses: Sequence[str] = ("mse",), reductions: Sequence[str] | None = None,
               weight_decay: float | tuple[float, float] = 0.0,
               weight_scale: tuple[float, float] = (0.1, 3.0),
               dtype: Any = np.float64) -> st.SearchStrategy[tuple[DenseNet, np.ndarray, np.ndarray]]:
    """A :class:`~gradcheck.DenseNet` with data: ``(net, X, y)``.

    Weights and biases are drawn as ``scale · N(0, 1)``, the inputs ``X`` as
    ``N(0, 1)`` and the targets ``y`` inside the range of the output
    activation (sigmoid: [0, 1); tanh: [−1, 1); softmax: rows of [0, 1)
    summing to 1; others: N(0, 1)).

    Parameters
    ----------
    sizes : sequence of int, or a strategy drawing one, optional
        Fixed layer widths ``[n_0, …, n_L]`` (or a strategy such as
        :func:`layer_sizes`) instead of the four ranges below.
    min_layers, max_layers, min_width, max_width : int, >= 1
        As for :func:`layer_sizes`; only without ``sizes``.
    min_samples, max_samples : int, >= 1
        Range of the number of samples N.
    bias : bool or None
        Biases on every layer (True), on none (False), or drawn (None).
    activations : sequence of str
        Activations to choose from, one per network for its hidden layers
        (and its output, without ``output_activations``): 'sigmoid', 'tanh',
        'identity', 'relu', 'leaky_relu' or 'leaky_relu:<slope>'.
    output_activations : sequence of str, optional
        Activations of the output layer to choose from (these may include 'softmax').
    losses : sequence of {'mse', 'cross_entropy'}
        Losses to choose from; cross-entropy is drawn only with a sigmoid or
        softmax output.
    reductions : sequence of {'half_sum', 'sum', 'mean'}, optional
        Reductions to choose from, among those the drawn loss takes (default: all of them).
    weight_decay : float or (float, float)
        λ of the L2 term, or a range ``(low, high)`` with 0 <= low <= high to draw it from.
    weight_scale : (float, float)
        Range ``(low, high)``, ``0 < low <= high``, of the standard deviation
        of the parameters; large scales saturate sigmoid units.
    dtype : numpy floating dtype
        Dtype of the parameters and the data.

    Returns
    -------
    SearchStrategy of (DenseNet, ndarray of shape (N, n_0), ndarray of shape (N, n_L))

    Raises
    ------
    InvalidArgument
        An option is out of range or of the wrong type, or ``sizes`` is given
        together with a layer or width range.

    Examples
    --------
    >>> net, X, y = dense_nets(sizes=[3, 4, 1], min_samples=4, max_samples=4).example()  # doctest: +SKIP
    >>> net.sizes, X.shape, y.shape  # doctest: +SKIP
    ([3, 4, 1], (4, 3), (4, 1))
    >>> dense_nets(activations=["swish"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gradcheck.errors.InvalidArgument: activations: expected ... (unknown: ['swish'])
    """
    ranges = {"min_layers": min_layers, "max_layers": max_layers, "min_width": min_width, "max_width": max_width}
    if sizes is None:
        sizes_strategy: st.SearchStrategy[Sequence[int]] = layer_sizes(**ranges)
    else:
        changed = [k for k, v in ranges.items() if v != _SIZE_DEFAULTS[k]]
        if changed:
            raise InvalidArgument(f"sizes: given together with {', '.join(changed)}; pass either fixed sizes "
                                  "(or a sizes strategy) or the layer and width ranges, not both")
        sizes_strategy = sizes if isinstance(sizes, st.SearchStrategy) else st.just(check_sizes(sizes))
    samples = _check_range("samples", min_samples, max_samples, 1)
    if bias is not None and not isinstance(bias, (bool, np.bool_)):
        raise InvalidArgument(f"bias: expected True, False or None (drawn), got {describe(bias)}")
    hidden_names = _activation_choices("activations", activations, hidden=True)
    output_names = hidden_names if output_activations is None else \
        _activation_choices("output_activations", output_activations, hidden=False)
    loss_names = check_choices("losses", losses, LOSSES)
    reduction_names = list(REDUCTIONS) if reductions is None else check_choices("reductions", reductions, REDUCTIONS)
    combos = _loss_combinations(output_names, loss_names, reduction_names)
    decays = _check_decay(weight_decay)
    scales = _check_scale(weight_scale)
    dtype = check_float_dtype(dtype)

    @st.composite
    def draw_net(draw: Any) -> tuple[DenseNet, np.ndarray, np.ndarray]:
        widths = check_sizes(draw(sizes_strategy))
        n_samples = draw(st.integers(*samples))
        has_bias = draw(st.booleans()) if bias is None else bool(bias)
        hidden = draw(st.sampled_from(hidden_names))
        output, loss, reduction = draw(st.sampled_from(combos))
        decay = draw(st.floats(*decays)) if decays[1] > decays[0] else decays[0]
        scale = draw(st.floats(*scales))
        seed = draw(_SEEDS)
        weights, biases = _layer_arrays(seed, widths, scale, has_bias, dtype)
        params = {}
        for l, W in enumerate(weights, 1):
            params[f"W{l}"] = W
            if biases is not None:
                params[f"b{l}"] = biases[l - 1]
        activation = [hidden] * (len(widths) - 2) + [output]
        net = DenseNet.from_params(params, activation=activation, loss=loss, reduction=reduction,
                                   weight_decay=decay)
        return (net, *_data(seed + 1, n_samples, net))

    return draw_net()


def _activation_choices(name: str, values: Any, hidden: bool) -> list[str]:
    """Activation names, each valid (``leaky_relu:<slope>`` included), softmax only for an output."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise InvalidArgument(f"{name}: expected a non-empty list of activation names from {sorted(ACTIVATIONS)}, "
                              f"got {describe(values)}")
    unknown = []
    for v in values:
        try:
            f = get_activation(v)
        except InvalidArgument:
            unknown.append(v)
            continue
        if hidden and not f.elementwise:
            raise InvalidArgument(f"{name}: {f.name} is for the output layer only; pass it in output_activations")
    if unknown:
        raise InvalidArgument(f"{name}: expected names from {sorted(ACTIVATIONS)} or 'leaky_relu:<slope>' "
                              f"(unknown: {unknown})")
    return list(values)


def _loss_combinations(outputs: list[str], losses: list[str], reductions: list[str]) -> list[tuple[str, str, str]]:
    """Every (output activation, loss, reduction) that is defined; refuses an option that allows none."""
    combos = [(o, loss, r) for o in outputs for loss in losses for r in reductions
              if loss == "mse" or (o in CE_OUTPUTS and r in CE_REDUCTIONS)]
    if not combos:
        raise InvalidArgument(f"losses: cross_entropy needs a sigmoid or softmax output and reduction 'sum' or "
                              f"'mean'; the options allow none (outputs {outputs}, reductions {reductions})")
    return combos


def _check_decay(weight_decay: Any) -> tuple[float, float]:
    message = (f"weight_decay: expected a number >= 0 or a pair (low, high) with 0 <= low <= high, finite, "
               f"got {describe(weight_decay)}")
    try:
        pair = (weight_decay, weight_decay) if not isinstance(weight_decay, (tuple, list)) else weight_decay
        if any(isinstance(v, bool) for v in pair):
            raise TypeError
        low, high = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise InvalidArgument(message) from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
        raise InvalidArgument(message)
    return low, high


def _check_scale(weight_scale: Any) -> tuple[float, float]:
    message = f"weight_scale: expected a pair (low, high) with 0 < low <= high, finite, got {describe(weight_scale)}"
    try:
        low, high = (float(v) for v in weight_scale)
    except (TypeError, ValueError):
        raise InvalidArgument(message) from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise InvalidArgument(message)
    return low, high


def batches(net: DenseNet, *, min_samples: int = 1,
            max_samples: int = 16) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Data ``(X, y)`` for a given network.

    ``X`` is drawn as ``N(0, 1)`` and ``y`` inside the range of the network's
    output activation, both in the network's dtype.

    Parameters
    ----------
    net : DenseNet
    min_samples, max_samples : int, >= 1
        Range of the number of samples N.

    Returns
    -------
    SearchStrategy of (ndarray of shape (N, n_0), ndarray of shape (N, n_L))

    Raises
    ------
    InvalidArgument
        ``net`` is not a DenseNet, or the sample range is invalid.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> import gradcheck as gc
    >>> net = gc.DenseNet([3, 4, 1], seed=0)
    >>> @settings(max_examples=5, database=None)
    ... @given(batches(net, max_samples=8))
    ... def test_gradient_shapes(data):
    ...     X, y = data
    ...     grads = net.gradients(X, y)
    ...     assert all(grads[k].shape == net.params[k].shape for k in net.params)
    >>> test_gradient_shapes()
    """
    if not isinstance(net, DenseNet):
        raise InvalidArgument(f"net: expected a gradcheck.DenseNet, got {describe(net)}")
    samples = _check_range("samples", min_samples, max_samples, 1)
    return st.builds(_data, _SEEDS, st.integers(*samples), st.just(net))


@dataclass(frozen=True, eq=False)
class BackpropCase:
    """A drawn network with data, as plain arrays in one layout: the input of the user's own backprop.

    Attributes
    ----------
    sizes : tuple of int
        Layer widths ``(n_0, …, n_L)``.
    n_samples : int
        N.
    bias : bool
        Whether every layer has a bias.
    scale : float
        Standard deviation of the weights and biases (large values saturate sigmoid units).
    seed : int
        The seed every array is built from.
    layout : {'in_out', 'out_in'}
        The orientation of the arrays below.
    weights : list of ndarray
        W_l of shape (n_{l−1}, n_l) in ``"in_out"``, (n_l, n_{l−1}) in ``"out_in"``.
    biases : list of ndarray or None
        b_l of shape (n_l,) in ``"in_out"``, (n_l, 1) in ``"out_in"``; None without biases.
    X : ndarray of shape (N, n_0) in ``"in_out"``, (n_0, N) in ``"out_in"``
    y : ndarray of shape (N, n_L) in ``"in_out"``, (n_L, N) in ``"out_in"``
    """

    sizes: tuple[int, ...]
    n_samples: int
    bias: bool
    scale: float
    seed: int
    layout: str
    weights: list[np.ndarray]
    biases: list[np.ndarray] | None
    X: np.ndarray
    y: np.ndarray

    def fresh(self) -> tuple[list[np.ndarray], list[np.ndarray] | None, np.ndarray, np.ndarray]:
        """Copies of ``(weights, biases, X, y)``, so that code under test cannot change the case."""
        biases = None if self.biases is None else [b.copy() for b in self.biases]
        return [W.copy() for W in self.weights], biases, self.X.copy(), self.y.copy()

    def describe(self) -> str:
        """The network in a few words, e.g. ``sizes [2, 3, 1], 2 samples, no bias, weight scale 1, seed 0``."""
        samples = "1 sample" if self.n_samples == 1 else f"{self.n_samples} samples"
        return (f"sizes {list(self.sizes)}, {samples}, {'bias' if self.bias else 'no bias'}, "
                f"weight scale {self.scale:.3g}, seed {self.seed}")


def _backprop_case(sizes: list[int], n_samples: int, bias: bool, scale: float, seed: int, layout: str,
                   activation: str) -> BackpropCase:
    weights, biases = _layer_arrays(seed, sizes, scale, bias)
    X, y = _inputs_targets(seed + 1, n_samples, sizes, activation)
    if layout == "out_in":
        # The same network as in "in_out", written with column vectors.
        weights = [np.ascontiguousarray(W.T) for W in weights]
        biases = None if biases is None else [b.reshape(-1, 1) for b in biases]
        X, y = np.ascontiguousarray(X.T), np.ascontiguousarray(y.T)
    return BackpropCase(tuple(sizes), n_samples, bias, scale, seed, layout, weights, biases, X, y)


def backprop_cases(*, layout: str = "in_out", min_layers: int = 1, max_layers: int = 4, min_width: int = 1,
                   max_width: int = 6, min_samples: int = 1, max_samples: int = 8, bias: bool | None = None,
                   weight_scale: tuple[float, float] = (0.1, 5.0),
                   activation: str = "sigmoid") -> st.SearchStrategy[BackpropCase]:
    """A network and data as plain arrays in the user's layout: a :class:`BackpropCase`.

    The draws are the architecture, N, the bias, the weight scale and a seed
    (in that order, so hypothesis shrinks the depth first); the arrays are
    built from the seed, the same network in either layout.

    Parameters
    ----------
    layout : {'in_out', 'out_in'}
        One row per sample (W_l of shape (n_{l−1}, n_l)), or textbook column
        vectors (W_l of shape (n_l, n_{l−1})).
    min_layers, max_layers, min_width, max_width : int, >= 1
        As for :func:`layer_sizes`.
    min_samples, max_samples : int, >= 1
        Range of the number of samples N.
    bias : bool or None
        Biases on every layer (True), on none (False), or drawn (None).
    weight_scale : (float, float)
        Range of the standard deviation of weights and biases: one of 6 values
        spread geometrically over it (shrinking toward the one nearest 1).
    activation : str
        The output activation, which sets the range of the targets ``y``
        (softmax: rows summing to 1).

    Returns
    -------
    SearchStrategy of BackpropCase

    Raises
    ------
    InvalidArgument
        An option is out of range or of the wrong type.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, database=None)
    ... @given(backprop_cases(layout="out_in", bias=True, max_layers=2))
    ... def test_shapes(case):
    ...     assert case.X.shape == (case.sizes[0], case.n_samples)
    ...     assert [b.shape for b in case.biases] == [(n, 1) for n in case.sizes[1:]]
    >>> test_shapes()
    """
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise InvalidArgument(f"layout: expected one of {list(LAYOUTS)}, got {describe(layout)}")
    sizes = layer_sizes(min_layers=min_layers, max_layers=max_layers, min_width=min_width, max_width=max_width)
    samples = _check_range("samples", min_samples, max_samples, 1)
    if bias is not None and not isinstance(bias, (bool, np.bool_)):
        raise InvalidArgument(f"bias: expected True, False or None (drawn), got {describe(bias)}")
    scales = _check_scale(weight_scale)
    try:
        known = isinstance(activation, str) and get_activation(activation).name is not None
    except InvalidArgument:
        known = False
    if not known:
        raise InvalidArgument(f"activation: expected the name of the output activation, one of "
                              f"{sorted(ACTIVATIONS)}, got {describe(activation)}")
    biases = st.booleans() if bias is None else st.just(bool(bias))
    # A few scales rather than a float: shrinking a float costs hundreds of checks; nearest 1 first,
    # where hypothesis shrinks to.
    grid = sorted({float(f"{v:.2g}") for v in np.geomspace(*scales, 6)}, key=lambda v: abs(math.log(v)))
    return st.builds(_backprop_case, sizes, st.integers(*samples), biases, st.sampled_from(grid), _SEEDS,
                     st.just(layout), st.just(activation))

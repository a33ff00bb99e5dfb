"""Dense feed-forward networks with a cached forward pass.

``DenseNet`` holds its parameters in a plain dict (``"W1"``, ``"b1"``, ``"W2"``,
…, layers numbered from 1), so that the same dict can be handed to
:func:`gradcheck.check_params` or perturbed by a numerical method.  The
backward pass lives in :mod:`gradcheck.model.backprop`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import (
    as_numeric_array,
    check_data,
    check_finite,
    check_float_dtype,
    check_seed,
    check_sizes,
    describe,
)
from ..errors import InvalidArgument
from .activations import Activation, activation_list
from .backprop import Backprop, Backward
from .losses import Loss, get_loss

__all__ = ["DenseNet", "ForwardCache", "xor_data"]

_PARAM_NAME = re.compile(r"^([Wb])([1-9][0-9]*)$")


@dataclass
class ForwardCache:
    """Pre-activations and activations of one forward pass.

    Attributes
    ----------
    zs : list of ndarray
        ``zs[l - 1]`` is z_l = a_{l−1} W_l + b_l, shape (N, n_l), l = 1 … L.
    activations : list of ndarray
        ``activations[l]`` is a_l, shape (N, n_l), l = 0 … L, with a_0 = X.
    first : int
        The first layer held: 0 for a pass from X.  A pass started from z_l
        (``forward_cache(z=…)``) holds layers l … L only, as ``zs[k − l]`` and
        ``activations[k − l]``; :meth:`z` and :meth:`a` index either kind by layer.
    """

    zs: list[np.ndarray]
    activations: list[np.ndarray]
    first: int = 0

    def z(self, l: int) -> np.ndarray:
        """z_l, shape (N, n_l), for l = max(1, first) … L."""
        return self.zs[l - max(1, self.first)]

    def a(self, l: int) -> np.ndarray:
        """a_l, shape (N, n_l), for l = first … L."""
        return self.activations[l - self.first]

    @property
    def output(self) -> np.ndarray:
        """The prediction a_L, shape (N, n_L)."""
        return self.activations[-1]


def xor_data() -> tuple[np.ndarray, np.ndarray]:
    """The classic XOR data set; the third input column is a constant 1.

    Returns
    -------
    X : ndarray of shape (4, 3)
    y : ndarray of shape (4, 1)

    Examples
    --------
    >>> X, y = xor_data()
    >>> X.shape, y.ravel().tolist()
    ((4, 3), [0.0, 1.0, 1.0, 0.0])
    """
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    return X, y


class DenseNet:
    """A dense network: one activation per layer, MSE or cross-entropy, optional L2 weight decay.

    Parameters
    ----------
    sizes : sequence of int, length >= 2
        Layer widths ``[n_0, n_1, …, n_L]``; ``n_0`` inputs, ``n_L`` outputs.
    activation : str or sequence of L str
        One name for every layer, or one per layer, from 'sigmoid', 'tanh',
        'identity', 'relu', 'leaky_relu' (slope 0.01; 'leaky_relu:0.2' sets
        it) and 'softmax' (output layer only); see :mod:`gradcheck.model.activations`.
    loss : {'mse', 'cross_entropy'}
        Cross-entropy needs a sigmoid (binary, summed over the outputs) or a
        softmax (categorical) output; targets in [0, 1], softmax rows summing to 1.
    reduction : {'half_sum', 'sum', 'mean'} or None
        See :mod:`gradcheck.model.losses`; None: ``half_sum`` (½Σ(a − y)²) for
        MSE, ``sum`` for cross-entropy (which takes 'sum' or 'mean' over samples).
    bias : bool
        Whether every layer has a bias vector ``b_l`` of shape (n_l,).
    seed : int or None
        Seed of ``numpy.random.default_rng``; every parameter is drawn as
        ``2·U[0, 1) − 1`` in the order W1, b1, W2, b2, ….
    dtype : numpy floating dtype
        Dtype of the parameters and of the computation.
    weight_decay : float, >= 0
        λ: the loss gets (λ/2)·Σ_l ‖W_l‖² (weights only, never biases), and
        ∂L/∂W_l gets λ·W_l.

    Attributes
    ----------
    params : dict of str to ndarray
        ``"W1"``, ``"b1"``, ``"W2"``, …; W_l of shape (n_{l−1}, n_l), b_l of shape (n_l,).
    sizes : list of int
        ``[n_0, …, n_L]``.
    bias : bool
    activations : list of Activation
        ``activations[l - 1]`` is f_l, the activation of layer l, with its derivative.
    weight_decay : float
    criterion : Loss
        The loss function of the network output and its derivative ∂L/∂a_L
        (:meth:`loss` evaluates it on data, :meth:`loss_closure` as a
        function of the parameters).

    Examples
    --------
    >>> net = DenseNet([3, 4, 1], bias=False, seed=0)
    >>> sorted(net.params), net.params["W1"].shape
    (['W1', 'W2'], (3, 4))
    >>> X, y = xor_data()
    >>> net.forward(X).shape
    (4, 1)
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Sequence[str] = "sigmoid",
        loss: str = "mse",
        reduction: str | None = None,
        bias: bool = True,
        seed: int | None = None,
        dtype: type | np.dtype = np.float64,
        weight_decay: float = 0.0,
    ) -> None:
        sizes = check_sizes(sizes)
        dtype = check_float_dtype(dtype)
        rng = np.random.default_rng(check_seed(seed))
        params = {}
        for l in range(1, len(sizes)):
            params[f"W{l}"] = (2 * rng.random((sizes[l - 1], sizes[l])) - 1).astype(dtype)
            if bias:
                params[f"b{l}"] = (2 * rng.random(sizes[l]) - 1).astype(dtype)
        self._setup(sizes, params, activation, loss, reduction, bool(bias), weight_decay)

    def _setup(self, sizes: list[int], params: dict[str, np.ndarray], activation: str | Sequence[str],
               loss: str, reduction: str | None, bias: bool, weight_decay: float) -> None:
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float, np.integer, np.floating)) \
                or not np.isfinite(weight_decay) or weight_decay < 0:
            raise InvalidArgument(f"weight_decay: expected a finite number >= 0 (λ of the (λ/2)·Σ‖W_l‖² term), "
                                  f"got {describe(weight_decay)}")
        self.sizes = sizes
        self.params = params
        self.bias = bias
        self.activations: list[Activation] = activation_list(activation, len(sizes) - 1)
        self.criterion: Loss = get_loss(loss, reduction, output=self.activations[-1].name)
        self.weight_decay = float(weight_decay)

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, np.ndarray],
        activation: str | Sequence[str] = "sigmoid",
        loss: str = "mse",
        reduction: str | None = None,
        weight_decay: float = 0.0,
    ) -> DenseNet:
        """Build a network around existing weights (copied, never modified).

        Parameters
        ----------
        params : mapping of str to array_like
            ``"W1"``, ``"W2"``, … (W_l of shape (n_{l−1}, n_l)) and optionally
            ``"b1"``, ``"b2"``, … (b_l of shape (n_l,)), either for every layer
            or for none.  Sizes are inferred from the weights.
        activation, loss, reduction, weight_decay
            As in :class:`DenseNet`.

        Returns
        -------
        DenseNet

        Examples
        --------
        >>> import numpy as np
        >>> net = DenseNet.from_params({"W1": np.zeros((3, 4)), "W2": np.zeros((4, 1))})
        >>> net.sizes, net.bias
        ([3, 4, 1], False)
        """
        if not isinstance(params, Mapping) or not params:
            raise InvalidArgument(
                f"params: expected a non-empty mapping such as {{'W1': ..., 'W2': ...}}, got {describe(params)}"
            )
        layers: dict[str, dict[int, np.ndarray]] = {"W": {}, "b": {}}
        for name, value in params.items():
            m = _PARAM_NAME.match(str(name))
            if m is None:
                raise InvalidArgument(
                    f"params: unexpected key {name!r}; expected 'W1', 'W2', … and optionally 'b1', 'b2', … "
                    "(layers numbered from 1)"
                )
            arr = np.array(as_numeric_array(f"params[{name!r}]", value), copy=True)
            check_finite(f"params[{name!r}]", arr)
            layers[m.group(1)][int(m.group(2))] = arr
        n_layers = len(layers["W"])
        if n_layers == 0:
            raise InvalidArgument(
                f"params: no weight matrices found (keys {list(params)}); give 'W1', 'W2', … with W_l of shape "
                "(n_(l-1), n_l), plus optionally 'b1', 'b2', …"
            )
        if sorted(layers["W"]) != list(range(1, n_layers + 1)):
            raise InvalidArgument(
                f"params: weight keys must be W1 … W{n_layers} without gaps, got "
                f"{sorted(f'W{k}' for k in layers['W'])}"
            )
        bias = bool(layers["b"])
        if bias and sorted(layers["b"]) != list(range(1, n_layers + 1)):
            missing = sorted(set(range(1, n_layers + 1)) - set(layers["b"]))
            extra = sorted(set(layers["b"]) - set(range(1, n_layers + 1)))
            raise InvalidArgument(
                f"params: biases must be given for every layer or for none; "
                f"missing {[f'b{k}' for k in missing]}, unexpected {[f'b{k}' for k in extra]}"
            )
        sizes: list[int] = []
        out: dict[str, np.ndarray] = {}
        for l in range(1, n_layers + 1):
            W = layers["W"][l]
            if W.ndim != 2 or 0 in W.shape:
                raise InvalidArgument(
                    f"params['W{l}']: expected a non-empty 2-D array (n_in, n_out), got shape {W.shape}"
                )
            if l == 1:
                sizes.append(W.shape[0])
            elif W.shape[0] != sizes[-1]:
                raise InvalidArgument(
                    f"params['W{l}']: expected {sizes[-1]} rows (the width of layer {l - 1}), got shape {W.shape}; "
                    f"W_l has shape (n_(l-1), n_l)"
                )
            sizes.append(W.shape[1])
            out[f"W{l}"] = W
            if bias:
                b = layers["b"][l]
                if b.shape != (W.shape[1],):
                    raise InvalidArgument(
                        f"params['b{l}']: expected shape ({W.shape[1]},) to match W{l} of shape {W.shape}, "
                        f"got shape {b.shape}"
                    )
                out[f"b{l}"] = b
        dtype = np.result_type(*out.values())
        net = cls.__new__(cls)
        net._setup(sizes, {k: v.astype(dtype, copy=False) for k, v in out.items()},
                   activation, loss, bias=bias, reduction=reduction, weight_decay=weight_decay)
        return net

    def like(self, params: Mapping[str, np.ndarray]) -> DenseNet:
        """The same network (activations, loss, reduction, weight decay) around other parameters.

        Parameters
        ----------
        params : mapping of str to array_like
            As for :meth:`from_params`.

        Returns
        -------
        DenseNet
        """
        return DenseNet.from_params(params, activation=self.activation_spec, loss=self.criterion.name,
                                    reduction=self.criterion.reduction, weight_decay=self.weight_decay)

    # -- structure -------------------------------------------------------

    @property
    def n_layers(self) -> int:
        """Number of weight layers L."""
        return len(self.sizes) - 1

    @property
    def dtype(self) -> np.dtype:
        """Dtype of the parameters and of the computation."""
        return self.params["W1"].dtype

    @property
    def activation(self) -> Activation:
        """The activation every layer shares (a network with several: see :attr:`activations`)."""
        if any(f.name != self.activations[0].name for f in self.activations):
            raise InvalidArgument(f"activation: this network has one activation per layer "
                                  f"{[f.name for f in self.activations]}; use net.activations[l - 1]")
        return self.activations[0]

    @property
    def activation_spec(self) -> str | list[str]:
        """The ``activation`` argument that rebuilds the network: one name, or one per layer."""
        names = [f.name for f in self.activations]
        return names[0] if len(set(names)) == 1 else names

    @property
    def kinked(self) -> bool:
        """Whether some layer's activation has a kink (ReLU, leaky ReLU)."""
        return any(f.kinks for f in self.activations)

    def weights(self, params: Mapping[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """``[W_1, …, W_L]`` from ``params`` (default: the network's own)."""
        p = self.params if params is None else params
        return [p[f"W{l}"] for l in range(1, self.n_layers + 1)]

    def __repr__(self) -> str:
        return (f"DenseNet({self.sizes}, activation={self.activation_spec!r}, loss={self.criterion.name!r}, "
                f"reduction={self.criterion.reduction!r}, bias={self.bias}"
                + (f", weight_decay={self.weight_decay!r})" if self.weight_decay else ")"))

    # -- forward ---------------------------------------------------------

    def forward_cache(self, X: np.ndarray, params: Mapping[str, np.ndarray] | None = None,
                      *, start: int = 1, z: np.ndarray | None = None) -> ForwardCache:
        """Forward pass that keeps every layer's z_l and a_l.

        Parameters
        ----------
        X : ndarray of shape (N, n_0)
            Input (unvalidated: validate with :meth:`checked_data`).
        params : mapping, optional
            Parameters to use instead of the network's own (may be complex).
        start : int, optional
            With ``z`` given: start at layer ``start`` from the pre-activation
            ``z`` = z_start instead of from ``X``; the cache then holds layers
            ``start`` … L only (used to measure ∂L/∂z_l numerically).
        z : ndarray of shape (N, n_start), optional

        Returns
        -------
        ForwardCache
        """
        p = self.params if params is None else params
        f = [act.value for act in self.activations]
        zs: list[np.ndarray] = []
        if z is None:
            acts = [X]
            first = 1
        else:
            zs.append(z)
            acts = [f[start - 1](z)]
            first = start + 1
        for l in range(first, self.n_layers + 1):
            zl = acts[-1] @ p[f"W{l}"]
            if self.bias:
                zl = zl + p[f"b{l}"]
            zs.append(zl)
            acts.append(f[l - 1](zl))
        return ForwardCache(zs, acts, first=0 if z is None else start)

    def forward(self, X: np.ndarray) -> np.ndarray:
        """The network's prediction.

        Parameters
        ----------
        X : array_like of shape (N, n_0)

        Returns
        -------
        ndarray of shape (N, n_L)
        """
        X = as_numeric_array("X", X)
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise InvalidArgument(
                f"X: expected a 2-D array of shape (n_samples, {self.sizes[0]}), got shape {X.shape}"
            )
        if X.shape[0] == 0:
            raise InvalidArgument("X: expected at least one sample (row), got 0")
        check_finite("X", X)
        return self.forward_cache(X.astype(self.dtype, copy=False)).output

    def checked_data(self, X: np.ndarray, y: np.ndarray, *,
                     copy: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``X`` and ``y`` validated against the network's widths and cast to its dtype.

        Parameters
        ----------
        X : array_like of shape (N, n_0)
        y : array_like of shape (N, n_L), or (N,) for one output
        copy : bool
            Return private copies even when no cast is needed (for closures
            that must not see later changes to the caller's arrays).

        Returns
        -------
        X : ndarray of shape (N, n_0)
        y : ndarray of shape (N, n_L)
        """
        X, y = check_data(X, y, self.sizes[0], self.sizes[-1])
        self.criterion.check_targets(y)
        return X.astype(self.dtype, copy=copy), y.astype(self.dtype, copy=copy)

    def penalty(self, params: Mapping[str, np.ndarray] | None = None):
        """The weight-decay term (λ/2)·Σ_l ‖W_l‖² (biases excluded); 0 without weight decay.

        Written as Σ W·W (no abs), so that a complex step passes through it.
        """
        if not self.weight_decay:
            return 0.0
        return 0.5 * self.weight_decay * sum(np.sum(W * W) for W in self.weights(params))

    def output_loss(self, cache: ForwardCache, y: np.ndarray):
        """The criterion at a forward pass, without the weight-decay term.

        Cross-entropy is evaluated from the logits z_L (see
        :mod:`gradcheck.model.losses`), MSE from the output a_L.
        """
        if self.criterion.from_logits is not None:
            return self.criterion.from_logits(cache.z(self.n_layers), y)
        return self.criterion.value(cache.output, y)

    def loss(self, X: np.ndarray, y: np.ndarray) -> float:
        """The loss at the current parameters.

        Parameters
        ----------
        X : array_like of shape (N, n_0)
        y : array_like of shape (N, n_L), or (N,) for one output

        Returns
        -------
        float
        """
        X, y = self.checked_data(X, y)
        return float(np.real(self.output_loss(self.forward_cache(X), y) + self.penalty()))

    def loss_closure(self, X: np.ndarray, y: np.ndarray, *,
                     copy: bool = True) -> Callable[[Mapping[str, np.ndarray]], float]:
        """The loss as a function of the parameters, ``loss(params) -> scalar``, on fixed data.

        The closure evaluates the network at the given parameter dict (real or
        complex, same keys as :attr:`params`) on fixed data, and returns a
        numpy scalar (complex when the parameters are): the ``loss`` that
        :func:`gradcheck.check_params` and the numerical methods take.

        Parameters
        ----------
        X : array_like of shape (N, n_0)
        y : array_like of shape (N, n_L)
        copy : bool
            False: the closure reads ``X`` and ``y`` themselves (when of this network's dtype), for a
            caller whose arrays are already private copies (check_network's).

        Returns
        -------
        callable
        """
        # Private copies: the closure promises fixed data even if the caller's arrays change.
        X, y = self.checked_data(X, y, copy=copy)

        def loss(params: Mapping[str, np.ndarray]):
            return self.output_loss(self.forward_cache(X, params), y) + self.penalty(params)

        return loss

    # -- backward --------------------------------------------------------

    def backward(self, X: np.ndarray, y: np.ndarray, *, steps: type[Backprop] = Backprop) -> Backward:
        """Forward and backward pass: loss, every δ_l and every gradient.

        Parameters
        ----------
        X : array_like of shape (N, n_0)
        y : array_like of shape (N, n_L), or (N,) for one output
        steps : subclass of Backprop
            The formulas to run; a subclass that overrides one step gives a
            deliberately wrong pass (see :mod:`gradcheck.catalogue.bugs`).

        Returns
        -------
        gradcheck.model.backprop.Backward
        """
        X, y = self.checked_data(X, y)
        return steps(self, self.forward_cache(X), y).run()

    def gradients(self, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Analytic gradients ∂L/∂W_l and ∂L/∂b_l by backpropagation.

        Returns
        -------
        dict of str to ndarray
            Same keys and shapes as :attr:`params`.
        """
        return self.backward(X, y).gradients

    def train(self, X: np.ndarray, y: np.ndarray, iterations: int = 60000,
              learning_rate: float = 1.0) -> np.ndarray:
        """Full-batch gradient descent, ``W −= learning_rate · ∂L/∂W`` in place.

        Parameters
        ----------
        X : array_like of shape (N, n_0)
        y : array_like of shape (N, n_L), or (N,) for one output
        iterations : int
            Number of steps (>= 0).
        learning_rate : float
            Step size (> 0).

        Returns
        -------
        ndarray of shape (iterations,)
            The loss before each step.
        """
        if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
            raise InvalidArgument(f"iterations: expected a non-negative integer, got {describe(iterations)}")
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.integer, np.floating)):
            raise InvalidArgument(f"learning_rate: expected a finite positive number, got {describe(learning_rate)}")
        lr = float(learning_rate)
        if not np.isfinite(lr) or lr <= 0:
            raise InvalidArgument(f"learning_rate: expected a finite positive number, got {describe(learning_rate)}")
        X, y = self.checked_data(X, y)
        history = np.empty(int(iterations))
        for i in range(int(iterations)):
            # Validated once above: 60000 steps should not re-check the data each time.
            result = Backprop(self, self.forward_cache(X), y).run()
            history[i] = result.loss
            for name, g in result.gradients.items():
                self.params[name] -= lr * g
        return history

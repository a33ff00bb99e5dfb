"""Loss functions, each value beside its derivative with respect to the prediction.

Mean squared error comes with an explicit reduction, because the factor it
puts in front of the gradient is the most common source of "almost right"
backprop code:

======== ======================= ===========================
name     value                    derivative ∂L/∂a
======== ======================= ===========================
half_sum ½ Σ (a − y)²             a − y
sum      Σ (a − y)²               2 (a − y)
mean     (1/(N·m)) Σ (a − y)²     2 (a − y) / (N·m)
======== ======================= ===========================

with the sums over all ``N`` samples and ``m`` outputs.  ``half_sum`` is the
classic convention of the textbook XOR programs.  The expressions use no
``abs`` or conjugate, so they carry a complex-step perturbation faithfully.

Cross-entropy goes with the output activation that makes its output delta
collapse to δ_L = ∂L/∂z_L = c·(a − y) (the "fused" delta, with c = 1 for
``sum`` and 1/N for ``mean``):

============ ==================================== ===================================
output       value (``sum``)                      ∂L/∂a
============ ==================================== ===================================
sigmoid      −Σ [y log a + (1 − y) log(1 − a)]    (a − y) / (a(1 − a))   (binary, per output)
softmax      −Σ y log a, rows of y summing to 1   −y / a                 (categorical)
============ ==================================== ===================================

The network evaluates it from the logits z_L (softplus(z) − y·z, and
logsumexp(z) − ⟨y, z⟩), which stays finite and accurate where a rounds to 0
or 1 and log a would not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgument

__all__ = ["Loss", "REDUCTIONS", "LOSSES", "CE_REDUCTIONS", "CE_OUTPUTS", "get_loss", "default_reduction"]

REDUCTIONS = ("half_sum", "sum", "mean")
#: The losses by name, and the reductions cross-entropy takes (``mean``: over the N samples).
LOSSES = ("mse", "cross_entropy")
CE_REDUCTIONS = ("sum", "mean")
#: The output activations cross-entropy is defined with: binary with sigmoid, categorical with softmax.
CE_OUTPUTS = ("sigmoid", "softmax")


@dataclass(frozen=True)
class Loss:
    """A loss and its derivative with respect to the network output.

    Attributes
    ----------
    name : {'mse', 'cross_entropy'}
    reduction : {'half_sum', 'sum', 'mean'}
    value : callable
        ``value(a, y) -> scalar`` for ``a`` and ``y`` of shape (N, m).
    derivative : callable
        ``derivative(a, y) -> ndarray of shape (N, m)``, ∂L/∂a.
    scale : callable
        MSE: ``scale(size) -> c`` with L = c·Σ(a − y)² for an output of
        ``size`` entries (½, 1 or 1/size).  Cross-entropy: ``scale(N) -> c``,
        the factor of its fused delta c·(a − y) for N samples.
    output : str or None
        Cross-entropy: the output activation it is defined with ('sigmoid' or 'softmax').
    from_logits : callable or None
        Cross-entropy: ``from_logits(z, y) -> scalar``, the value from z_L.
    fused_delta : callable or None
        Cross-entropy: ``fused_delta(a, y) -> ndarray of shape (N, m)``,
        δ_L = ∂L/∂z_L = c·(a − y).
    """

    name: str
    reduction: str
    value: Callable[[np.ndarray, np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]
    scale: Callable[[int], float]
    output: str | None = None
    from_logits: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    fused_delta: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    def check_targets(self, y: np.ndarray) -> None:
        """Refuse targets the loss is not defined for (cross-entropy: outside [0, 1], softmax rows ≠ 1).

        Parameters
        ----------
        y : ndarray of shape (N, m)

        Raises
        ------
        InvalidArgument
        """
        if self.name != "cross_entropy":
            return
        y = np.asarray(y)
        if np.any(y < 0) or np.any(y > 1):
            bad = tuple(int(i) for i in np.argwhere((y < 0) | (y > 1))[0])
            raise InvalidArgument(f"y: cross-entropy needs targets in [0, 1], got y{bad} = {y[bad]!r}; "
                                  "use probabilities (one-hot or 0/1 labels)")
        if self.output == "softmax":
            sums = y.sum(axis=1)
            # Rows summing to 1 up to the rounding of their own sum.
            eps = np.finfo(y.dtype if y.dtype.kind == "f" else np.float64).eps
            bad_rows = np.flatnonzero(np.abs(sums - 1) > 8 * y.shape[1] * eps)
            if bad_rows.size:
                r = int(bad_rows[0])
                raise InvalidArgument(f"y: with a softmax output every row of y must sum to 1 (a distribution "
                                      f"over the {y.shape[1]} classes), row {r} sums to {sums[r]!r}; "
                                      "normalise it, y / y.sum(axis=1, keepdims=True)")


def _mse(reduction: str) -> Loss:
    if reduction == "half_sum":
        return Loss("mse", reduction,
                    lambda a, y: 0.5 * np.sum((a - y) ** 2),
                    lambda a, y: a - y,
                    lambda size: 0.5)
    if reduction == "sum":
        return Loss("mse", reduction,
                    lambda a, y: np.sum((a - y) ** 2),
                    lambda a, y: 2.0 * (a - y),
                    lambda size: 1.0)
    return Loss("mse", reduction,
                lambda a, y: np.sum((a - y) ** 2) / np.size(a),
                lambda a, y: 2.0 * (a - y) / np.size(a),
                lambda size: 1.0 / size)


def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z), without overflow; complex-safe (the branch follows the real part)."""
    z = np.asarray(z)
    pos = z.real > 0
    out = np.empty_like(z, dtype=np.result_type(z, np.float64))
    out[pos] = z[pos] + np.log1p(np.exp(-z[pos]))
    out[~pos] = np.log1p(np.exp(z[~pos]))
    return out


def _logsumexp(z: np.ndarray) -> np.ndarray:
    """log Σ_k e^(z_k) per row; the shift by the largest real part is exact and complex-safe."""
    m = np.max(z.real, axis=1, keepdims=True)
    return (m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True)))[:, 0]


def _cross_entropy(reduction: str, output: str) -> Loss:
    def scale(n: int) -> float:
        return 1.0 if reduction == "sum" else 1.0 / n

    def c(a: np.ndarray) -> float:
        return scale(np.shape(a)[0])

    if output == "sigmoid":
        def value(a, y):
            return -c(a) * np.sum(y * np.log(a) + (1 - y) * np.log(1 - a))

        def derivative(a, y):
            return c(a) * (a - y) / (a * (1 - a))

        def from_logits(z, y):
            # −[y log σ(z) + (1 − y) log(1 − σ(z))] = softplus(z) − y·z
            return c(z) * np.sum(_softplus(z) - y * z)
    else:
        def value(a, y):
            return -c(a) * np.sum(y * np.log(a))

        def derivative(a, y):
            return -c(a) * y / a

        def from_logits(z, y):
            # −Σ_k y_k log softmax(z)_k = Σ_k y_k (logsumexp(z) − z_k)
            return c(z) * np.sum(y.sum(axis=1) * _logsumexp(z) - np.sum(y * z, axis=1))

    return Loss("cross_entropy", reduction, value, derivative, scale,
                output=output, from_logits=from_logits, fused_delta=lambda a, y: c(a) * (a - y))


def default_reduction(name: str) -> str:
    """The reduction a loss takes when none is given: ``half_sum`` for MSE, ``sum`` for cross-entropy."""
    return "sum" if name == "cross_entropy" else "half_sum"


def get_loss(name: str = "mse", reduction: str | None = None, output: str | None = None) -> Loss:
    """Look up a loss by name and reduction.

    Parameters
    ----------
    name : {'mse', 'cross_entropy'}
    reduction : {'half_sum', 'sum', 'mean'} or None
        None: ``half_sum`` for MSE, ``sum`` for cross-entropy (which takes
        ``sum`` and ``mean``, the latter over the N samples).
    output : str, optional
        The name of the output activation; cross-entropy needs 'sigmoid'
        (binary, summed over the outputs) or 'softmax' (categorical).

    Returns
    -------
    Loss

    Raises
    ------
    InvalidArgument
        If the name or the reduction is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> loss = get_loss("mse", "half_sum")
    >>> float(loss.value(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])))
    2.5
    """
    if name not in LOSSES:
        raise InvalidArgument(f"loss: expected 'mse' or 'cross_entropy', got {name!r}")
    if reduction is None:
        reduction = default_reduction(name)
    if name == "cross_entropy":
        if reduction not in CE_REDUCTIONS:
            raise InvalidArgument(f"reduction: cross-entropy takes 'sum' or 'mean' (over the samples), got "
                                  f"{reduction!r}")
        if output not in CE_OUTPUTS:
            raise InvalidArgument(f"loss: cross_entropy needs a sigmoid (binary) or softmax (categorical) output "
                                  f"layer, got {output!r}; set the last activation to 'sigmoid' or 'softmax'")
        return _cross_entropy(reduction, output)
    if reduction not in REDUCTIONS:
        raise InvalidArgument(
            f"reduction: expected one of {list(REDUCTIONS)}, got {reduction!r}; "
            "'half_sum' is ½Σ(a−y)², the classic convention"
        )
    return _mse(reduction)
